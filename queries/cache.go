package queries

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/parquet-go/parquet-go"

	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
)

// ErrChecksum: a fetched file is not the one the log names.
var ErrChecksum = errors.New("checksum mismatch")

// Cache holds content-addressed local copies of remote data files, so that
// DuckDB (which cannot reach S3 here: no httpfs) reads local files. A file
// enters the cache only after its sha256 matched the log; its name is that
// sha256, so a cached file is never stale.
type Cache struct {
	Dir string
}

// Path returns a local path holding the file's bytes: the file itself when
// the bucket is a local directory, else a verified copy in the cache.
func (c *Cache) Path(ctx context.Context, b objstore.Reader, table string, f lake.File) (string, error) {
	key := lake.FileKey(table, f.Path)
	if lp, ok := b.(objstore.LocalPather); ok {
		if p, ok := lp.LocalPath(key); ok {
			return p, nil
		}
	}
	if len(f.SHA256) != 64 {
		return "", fmt.Errorf("cache %s: %w: log has no sha256", key, ErrChecksum)
	}
	dst := filepath.Join(c.Dir, "sha256", f.SHA256[:2], f.SHA256+".parquet")
	if st, err := os.Stat(dst); err == nil && st.Size() == f.Bytes {
		return dst, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", fmt.Errorf("cache %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".fetch-*")
	if err != nil {
		return "", fmt.Errorf("cache %s: %w", key, err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	defer tmp.Close()
	rc, err := b.Get(ctx, key)
	if err != nil {
		return "", fmt.Errorf("fetch %s: %w", key, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), rc)
	if err != nil {
		return "", fmt.Errorf("fetch %s: %w", key, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != f.SHA256 || n != f.Bytes {
		return "", fmt.Errorf("fetch %s/%s: %w: got %d bytes with sha256 %s, log says %d bytes with %s; refusing to read it (run swelake lake verify)",
			b.URL(), key, ErrChecksum, n, sum, f.Bytes, f.SHA256)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("cache %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", fmt.Errorf("cache %s: %w", key, err)
	}
	return dst, nil
}

// EmptyFile returns a zero-row Parquet file with the given schema, so that a
// table with no files still has a view with its columns.
func (c *Cache) EmptyFile(s lake.Schema, schema *parquet.Schema) (string, error) {
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
