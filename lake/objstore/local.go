package objstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"iter"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/swelake/swelake/internal/flock"
)

// TempPrefix is the key prefix under which the local backend stages writes.
// Files left there by killed writers are orphans; gc removes them.
const TempPrefix = ".tmp/"

// LockPrefix holds the lock files of PutIfMatch, inside the staging area.
const LockPrefix = TempPrefix + "locks/"

// Local is a Bucket backed by a directory. Writes go to a temp file under
// <root>/.tmp, are fsynced, and are then renamed (Put) or hard-linked
// (PutIfAbsent: link(2) fails if the name exists) into place, after which the
// destination directory is fsynced.
type Local struct {
	root string
}

// NewLocal returns a bucket rooted at dir, creating dir if needed.
func NewLocal(dir string) (*Local, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, &Error{Op: "open", URL: "file://" + dir, Err: err}
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, &Error{Op: "open", URL: "file://" + abs, Err: err}
	}
	return &Local{root: abs}, nil
}

// Root is the directory the bucket lives in.
func (l *Local) Root() string { return l.root }

// URL implements Reader.
func (l *Local) URL() string { return (&url.URL{Scheme: "file", Path: l.root}).String() }

// LocalPath implements LocalPather.
func (l *Local) LocalPath(key string) (string, bool) {
	if ValidateKey(key) != nil {
		return "", false
	}
	return l.path(key), true
}

func (l *Local) path(key string) string { return filepath.Join(l.root, filepath.FromSlash(key)) }

func (l *Local) err(op, key string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		err = ErrNotExist
	case errors.Is(err, fs.ErrExist):
		err = ErrExist
	}
	return &Error{Op: op, Key: key, URL: l.URL(), Err: err}
}

// Get implements Reader.
func (l *Local) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, l.err("get", key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, l.err("get", key, err)
	}
	f, err := os.Open(l.path(key))
	if err != nil {
		return nil, l.err("get", key, err)
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, l.err("get", key, ErrNotExist)
	}
	return f, nil
}

// Stat implements Reader.
func (l *Local) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return ObjectInfo{}, l.err("stat", key, err)
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, l.err("stat", key, err)
	}
	st, err := os.Stat(l.path(key))
	if err != nil {
		return ObjectInfo{}, l.err("stat", key, err)
	}
	if st.IsDir() {
		return ObjectInfo{}, l.err("stat", key, ErrNotExist)
	}
	return ObjectInfo{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// List implements Reader. Staged temp files are listed only when prefix
// starts with TempPrefix.
func (l *Local) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		dir := prefix
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			dir = prefix[:i]
		} else {
			dir = ""
		}
		var infos []ObjectInfo
		start := filepath.Join(l.root, filepath.FromSlash(dir))
		err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // listing a missing prefix yields nothing
				}
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			rel, err := filepath.Rel(l.root, p)
			if err != nil {
				return err
			}
			key := filepath.ToSlash(rel)
			if d.IsDir() {
				if key != "." && key+"/" == TempPrefix && !strings.HasPrefix(prefix, TempPrefix) {
					return fs.SkipDir
				}
				return nil
			}
			if !strings.HasPrefix(key, prefix) {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // removed while listing
				}
				return err
			}
			infos = append(infos, ObjectInfo{Key: key, Size: info.Size(), ModTime: info.ModTime()})
			return nil
		})
		if err != nil {
			yield(ObjectInfo{}, l.err("list", prefix, err))
			return
		}
		slices.SortFunc(infos, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
		for _, info := range infos {
			if !yield(info, nil) {
				return
			}
		}
	}
}

// Dirs implements Reader.
func (l *Local) Dirs(ctx context.Context, dir string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, l.err("dirs", dir, err)
	}
	entries, err := os.ReadDir(filepath.Join(l.root, filepath.FromSlash(dir)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, l.err("dirs", dir, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && (dir+e.Name()+"/" != TempPrefix) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Put implements Bucket: temp file, fsync, rename, fsync of the directory.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return l.put(ctx, "put", key, r, os.Rename)
}

// PutIfAbsent implements Bucket: temp file, fsync, link(2) (which fails if
// the name exists), fsync of the directory.
func (l *Local) PutIfAbsent(ctx context.Context, key string, r io.Reader, size int64) error {
	return l.put(ctx, "put-if-absent", key, r, os.Link)
}

func (l *Local) put(ctx context.Context, op, key string, r io.Reader, place func(oldname, newname string) error) (err error) {
	if err := ValidateKey(key); err != nil {
		return l.err(op, key, err)
	}
	if strings.HasPrefix(key, TempPrefix) {
		return l.err(op, key, ErrInvalidKey)
	}
	if err := ctx.Err(); err != nil {
		return l.err(op, key, err)
	}
	tmp, err := l.writeTemp(ctx, r)
	if err != nil {
		return l.err(op, key, err)
	}
	defer os.Remove(tmp) // after link or on failure; a no-op after rename
	dst := l.path(key)
	if err := mkdirAllSync(filepath.Dir(dst)); err != nil {
		return l.err(op, key, err)
	}
	if err := place(tmp, dst); err != nil {
		return l.err(op, key, err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return l.err(op, key, err)
	}
	return nil
}

// HashFile is the sha256 (hex) and size of a local file, read until ctx
// ends.
func HashFile(ctx context.Context, path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, ContextReader(ctx, f))
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// ContextReader is r that stops reading once ctx is cancelled: a long copy
// of a local file honours cancellation between reads.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

// ctxReader stops a copy when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (l *Local) writeTemp(ctx context.Context, r io.Reader) (name string, err error) {
	dir := filepath.Join(l.root, filepath.FromSlash(strings.TrimSuffix(TempPrefix, "/")))
	if err := mkdirAllSync(dir); err != nil {
		return "", err
	}
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	name = filepath.Join(dir, hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(name)
		}
	}()
	if _, err := io.Copy(f, ctxReader{ctx, r}); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return name, nil
}

// Delete implements Bucket.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return l.err("delete", key, err)
	}
	if err := ctx.Err(); err != nil {
		return l.err("delete", key, err)
	}
	p := l.path(key)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return l.err("delete", key, err)
	}
	return nil
}

// mkdirAllSync creates dir and its missing parents, fsyncing the parent of
// each directory it creates so that the new entries survive a crash.
func mkdirAllSync(dir string) error {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAllSync(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return err
	}
	return nil
}

// GetTagged implements Bucket.
func (l *Local) GetTagged(ctx context.Context, key string) ([]byte, string, error) {
	data, err := ReadAll(ctx, l, key)
	if err != nil {
		return nil, "", err
	}
	return data, contentTag(data), nil
}

// PutIfMatch implements Bucket: under an exclusive flock(2) on a lock file
// of the key (in the staging area, so readers never list it), it compares
// the current content's tag and renames a fully written temp file into
// place. The lock serialises swaps between processes of one machine (and on
// file systems with working flock, between machines).
func (l *Local) PutIfMatch(ctx context.Context, key string, data []byte, tag string) (string, error) {
	const op = "put-if-match"
	if err := ValidateKey(key); err != nil {
		return "", l.err(op, key, err)
	}
	if strings.HasPrefix(key, TempPrefix) {
		return "", l.err(op, key, ErrInvalidKey)
	}
	lockDir := filepath.Join(l.root, filepath.FromSlash(strings.TrimSuffix(LockPrefix, "/")))
	if err := mkdirAllSync(lockDir); err != nil {
		return "", l.err(op, key, err)
	}
	sum := sha256.Sum256([]byte(key))
	lf, err := os.OpenFile(filepath.Join(lockDir, hex.EncodeToString(sum[:12])), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return "", l.err(op, key, err)
	}
	defer lf.Close()
	if err := flock.Lock(ctx, lf, 5*time.Millisecond); err != nil {
		return "", l.err(op, key, err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	cur, err := os.ReadFile(l.path(key))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if tag != "" {
			return "", l.err(op, key, ErrChanged)
		}
	case err != nil:
		return "", l.err(op, key, err)
	case tag == "" || contentTag(cur) != tag:
		return "", l.err(op, key, ErrChanged)
	}
	if err := l.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		return "", err
	}
	return contentTag(data), nil
}
