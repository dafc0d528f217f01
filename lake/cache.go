package lake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/parquet-go/parquet-go"

	"github.com/swelake/swelake/lake/objstore"
)

// ErrChecksum: a fetched file is not the one the log names.
var ErrChecksum = errors.New("checksum mismatch")

// ErrNoCacheDir: a remote file (or an empty table's stand-in file) was to
// be cached with no cache directory configured; relative to nothing, it
// would land in the working directory.
var ErrNoCacheDir = errors.New("no cache directory configured")

// cache holds content-addressed local copies of remote data files, so that
// readers — DuckDB (which cannot reach S3 here: no httpfs) and the row
// readers — read local files. A file enters the cache only after its sha256
// matched the log; its name is that sha256, so a cached file is never
// stale. The lake owns it (Options.CacheDir): nothing else builds its path.
type cache struct {
	Dir string
}

// LocalPath is a local path holding a data file of the table, checked
// against the log's sha256: the file itself on a local lake, else a
// verified copy in the cache.
func (l *Lake) LocalPath(ctx context.Context, table string, f File) (string, error) {
	return l.files.Path(ctx, l.bucket, table, f)
}

// EmptyFile is a zero-row Parquet file of a schema, in the cache (a
// stand-in for an empty table's files).
func (l *Lake) EmptyFile(s Schema, schema *parquet.Schema) (string, error) {
	return l.files.EmptyFile(s, schema)
}

// CacheDir is the lake's cache directory ("" : none configured).
func (l *Lake) CacheDir() string { return l.files.Dir }

// Path returns a local path holding the file's bytes: the file itself when
// the bucket is a local directory, else a verified copy in the cache. Both
// are checked against the log's sha256 before DuckDB reads them: a local
// file once per (file, size, modification time, inode) — remembered under
// the cache directory, so that a file changed in place is hashed again.
func (c *cache) Path(ctx context.Context, b objstore.Reader, table string, f File) (string, error) {
	key := FileKey(table, f.Path)
	if lp, ok := b.(objstore.LocalPather); ok {
		if p, ok := lp.LocalPath(key); ok {
			if err := c.verifyLocal(ctx, b.URL()+"/"+key, p, f); err != nil {
				return "", err
			}
			return p, nil
		}
	}
	if len(f.SHA256) != 64 {
		return "", fmt.Errorf("cache %s: %w: log has no sha256", key, ErrChecksum)
	}
	if c.Dir == "" {
		return "", fmt.Errorf("cache %s: %w", key, ErrNoCacheDir)
	}
	dst := filepath.Join(c.Dir, "sha256", f.SHA256[:2], f.SHA256+".parquet")
	if st, err := os.Stat(dst); err == nil && st.Size() == f.Bytes {
		return dst, nil
	}
	err := fetchChecked(ctx, b, key, dst, func(_ *os.File, n int64, sum string) error {
		if sum != f.SHA256 || n != f.Bytes {
			return fmt.Errorf("fetch %s/%s: %w: got %d bytes with sha256 %s, log says %d bytes with %s; refusing to read it (run swelake lake verify)",
				b.URL(), key, ErrChecksum, n, sum, f.Bytes, f.SHA256)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return dst, nil
}

// fetchChecked copies the object key of b to dst through a temporary file
// beside it. check sees the copy — the file (rewound), its size and its
// sha256 — before it is renamed into place, and refuses it by returning an
// error: nothing unchecked is ever at dst.
func fetchChecked(ctx context.Context, b objstore.Reader, key, dst string, check func(f *os.File, n int64, sum string) error) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("cache %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".fetch-*")
	if err != nil {
		return fmt.Errorf("cache %s: %w", key, err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	defer tmp.Close()
	rc, err := b.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", key, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), rc)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", key, err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("cache %s: %w", key, err)
	}
	if err := check(tmp, n, hex.EncodeToString(h.Sum(nil))); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cache %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("cache %s: %w", key, err)
	}
	return nil
}

// verifyLocal hashes a local data file unless the cache remembers it
// verified in the same state (size, mtime, inode); a file that differs from
// the log is refused.
func (c *cache) verifyLocal(ctx context.Context, name, p string, f File) error {
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	state := fmt.Sprintf("%s %d %d %d\n", f.SHA256, st.Size(), st.ModTime().UnixNano(), inode(st))
	var marker string
	if c.Dir != "" && len(f.SHA256) == 64 {
		marker = filepath.Join(c.Dir, "verified", f.SHA256[:2], f.SHA256+"-"+shortHash(p))
		if got, err := os.ReadFile(marker); err == nil && string(got) == state {
			return nil
		}
	}
	if len(f.SHA256) != 64 {
		return fmt.Errorf("read %s: %w: log has no sha256", name, ErrChecksum)
	}
	sum, n, err := objstore.HashFile(ctx, p)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if sum != f.SHA256 || n != f.Bytes {
		return fmt.Errorf("read %s: %w: %d bytes with sha256 %s, log says %d bytes with %s; refusing to read it (run swelake lake verify)",
			name, ErrChecksum, n, sum, f.Bytes, f.SHA256)
	}
	if marker != "" {
		if err := os.MkdirAll(filepath.Dir(marker), 0o755); err == nil {
			tmp := marker + ".tmp-" + shortHash(state)
			if os.WriteFile(tmp, []byte(state), 0o644) == nil {
				os.Rename(tmp, marker) // remembering is an optimisation: failing to is not an error
			}
		}
	}
	return nil
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

func inode(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}

// EmptyFile returns a zero-row Parquet file with the given schema, so that a
// table with no files still has a view with its columns.
func (c *cache) EmptyFile(s Schema, schema *parquet.Schema) (string, error) {
	if c.Dir == "" {
		return "", fmt.Errorf("empty file for %s: %w", s.Name, ErrNoCacheDir)
	}
	dst := filepath.Join(c.Dir, "empty", s.Fingerprint+".parquet")
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".empty-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	w := parquet.NewWriter(tmp, schema)
	if err := w.Close(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write empty file for %s: %w", s.Name, err)
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return dst, os.Rename(tmp.Name(), dst)
}
