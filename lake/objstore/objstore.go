// Package objstore is the object-storage layer of a swelake lake: one small,
// ctx-first interface (Bucket) with three backends — a local directory, S3
// (any endpoint, MinIO included) and memory — that all pass the same
// acceptance suite in objstoretest.
//
// Keys are slash-separated, relative, and never contain "." or ".." segments.
// The only write that may race is PutIfAbsent: it is atomic on every backend,
// and a commit protocol is built on it (see docs/lake-format.md).
package objstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"path"
	"strings"
	"time"
)

// Sentinel errors. Backends wrap them in *Error so that errors.Is works and
// the message names the operation and the key.
var (
	// ErrNotExist: the key does not exist.
	ErrNotExist = errors.New("object does not exist")
	// ErrExist: PutIfAbsent lost — the key already exists.
	ErrExist = errors.New("object already exists")
	// ErrChanged: PutIfMatch lost — the object is no longer the version whose
	// tag the caller holds (replaced, deleted, or created meanwhile).
	ErrChanged = errors.New("object changed since it was read")
	// ErrInvalidKey: the key is empty, absolute or has "."/".." segments.
	ErrInvalidKey = errors.New("invalid object key")
)

// Error records the operation, the object and the cause, like fs.PathError.
type Error struct {
	Op  string // "get", "put", "put-if-absent", "delete", "stat", "list"
	Key string // the key relative to the bucket, or the prefix for list
	URL string // where the bucket lives (file:///..., s3://..., mem://)
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s/%s: %v", e.Op, strings.TrimSuffix(e.URL, "/"), e.Key, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ObjectInfo describes one object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Reader is the read half of a Bucket; consumers that only read take a Reader.
type Reader interface {
	// Get opens the object for reading. The caller must Close the reader.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat returns the object's size and modification time.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List yields every object whose key starts with prefix, in lexical key
	// order. A prefix is a plain string prefix, not necessarily a directory.
	List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error]
	// Dirs returns, sorted, the names of the immediate "directories" under
	// dir (a prefix ending in "/", or "" for the root): the distinct next key
	// segments of keys that continue past it. It does not walk their contents.
	Dirs(ctx context.Context, dir string) ([]string, error)
	// URL names where the bucket lives, for messages and provenance.
	URL() string
}

// Bucket is object storage for a lake.
type Bucket interface {
	Reader
	// Put writes the object, replacing any previous one. The write is atomic:
	// readers see the old object or the whole new one, never a part.
	// size is the number of bytes r yields, or -1 if unknown.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// PutIfAbsent creates the object only if no object has the key; the loser
	// of a race gets an error wrapping ErrExist. Exactly one of any number of
	// concurrent PutIfAbsent calls for one key succeeds. Objects written with
	// PutIfAbsent should be small (commit log entries): backends may buffer them.
	PutIfAbsent(ctx context.Context, key string, r io.Reader, size int64) error
	// Delete removes the object. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// GetTagged reads a small object whole, with an opaque tag naming the
	// version read (an ETag on S3).
	GetTagged(ctx context.Context, key string) (data []byte, tag string, err error)
	// PutIfMatch replaces the object only if its current version still has
	// tag — compare-and-swap, for leases. tag "" means "only if absent". The
	// loser of a race gets an error wrapping ErrChanged; exactly one of any
	// number of concurrent swaps from one tag succeeds. It returns the new tag.
	PutIfMatch(ctx context.Context, key string, data []byte, tag string) (string, error)
}

// LocalPather is an optional upgrade: a bucket whose objects are files on the
// local file system can name them, so that readers (DuckDB) open them in place.
type LocalPather interface {
	LocalPath(key string) (string, bool)
}

// Upload is an unfinished multipart upload: parts a killed writer sent,
// invisible to List, billed and kept by the server until aborted.
type Upload struct {
	Key       string
	ID        string
	Initiated time.Time
}

// Uploads is an optional upgrade of buckets with multipart uploads (S3):
// list the unfinished ones under a prefix, and abort one.
type Uploads interface {
	ListUploads(ctx context.Context, prefix string) iter.Seq2[Upload, error]
	AbortUpload(ctx context.Context, u Upload) error
}

// MaxConditionalSize bounds objects written with PutIfAbsent. S3 servers honour
// If-None-Match only on single-part uploads, so such objects are sent whole.
const MaxConditionalSize = 64 << 20

// ValidateKey reports whether key is a clean relative object key.
func ValidateKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") || path.Clean(key) != key || key == "." || strings.HasPrefix(key, "../") || key == ".." {
		return fmt.Errorf("%w %q", ErrInvalidKey, key)
	}
	return nil
}

// contentTag is the tag of backends that have no ETag: the content's
// SHA-256. Two versions with equal bytes share it, which is harmless for
// compare-and-swap: swapping from either leaves the same state.
func contentTag(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// ReadAll reads a whole object.
func ReadAll(ctx context.Context, b Reader, key string) ([]byte, error) {
	rc, err := b.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, &Error{Op: "get", Key: key, URL: b.URL(), Err: err}
	}
	return data, nil
}

// Exists reports whether key exists.
func Exists(ctx context.Context, b Reader, key string) (bool, error) {
	_, err := b.Stat(ctx, key)
	if errors.Is(err, ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}
