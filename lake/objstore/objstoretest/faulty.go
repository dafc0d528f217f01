package objstoretest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync"

	"github.com/swelake/swelake/lake/objstore"
)

// ErrInjected is the error a Faulty bucket returns.
var ErrInjected = errors.New("injected fault")

// When says whether an injected fault happens before the call reaches the
// backend, or after the backend did the work (a lost acknowledgement).
type When int

const (
	Before When = iota
	After
	// Midway fails a Put or PutIfAbsent after reading MidwayBytes of its
	// data, and stops reading there: a disk that fills or turns read-only
	// during an upload, a server killed mid-transfer.
	Midway
)

func (w When) String() string {
	switch w {
	case After:
		return "after"
	case Midway:
		return "midway"
	}
	return "before"
}

// Faulty wraps a bucket and fails its Nth call (counting from 1), either
// before or after passing it to the wrapped bucket. Calls are counted in
// every method; Trace records each call's op and key.
type Faulty struct {
	objstore.Bucket
	FailAt int
	When   When
	// MidwayBytes is how much a Midway fault reads first.
	MidwayBytes int64

	mu    sync.Mutex
	calls int
	trace []string
}

// Calls is the number of calls made so far.
func (f *Faulty) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// Trace lists "op key" for each call made so far.
func (f *Faulty) Trace() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.trace...)
}

// hit counts a call and reports whether it is the one to fail.
func (f *Faulty) hit(op, key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.trace = append(f.trace, op+" "+key)
	return f.calls == f.FailAt
}

func (f *Faulty) fault(op, key string) error {
	return &objstore.Error{Op: op, Key: key, URL: f.URL(), Err: fmt.Errorf("%w (%s call %d)", ErrInjected, f.When, f.FailAt)}
}

func (f *Faulty) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if f.hit("get", key) {
		if f.When == After {
			if rc, err := f.Bucket.Get(ctx, key); err == nil {
				rc.Close()
			}
		}
		return nil, f.fault("get", key)
	}
	return f.Bucket.Get(ctx, key)
}

func (f *Faulty) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	if f.hit("stat", key) {
		return objstore.ObjectInfo{}, f.fault("stat", key)
	}
	return f.Bucket.Stat(ctx, key)
}

func (f *Faulty) List(ctx context.Context, prefix string) iter.Seq2[objstore.ObjectInfo, error] {
	return func(yield func(objstore.ObjectInfo, error) bool) {
		if f.hit("list", prefix) {
			yield(objstore.ObjectInfo{}, f.fault("list", prefix))
			return
		}
		for info, err := range f.Bucket.List(ctx, prefix) {
			if !yield(info, err) {
				return
			}
		}
	}
}

func (f *Faulty) Dirs(ctx context.Context, dir string) ([]string, error) {
	if f.hit("dirs", dir) {
		return nil, f.fault("dirs", dir)
	}
	return f.Bucket.Dirs(ctx, dir)
}

func (f *Faulty) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return f.put(ctx, "put", key, r, size, f.Bucket.Put)
}

func (f *Faulty) PutIfAbsent(ctx context.Context, key string, r io.Reader, size int64) error {
	return f.put(ctx, "put-if-absent", key, r, size, f.Bucket.PutIfAbsent)
}

func (f *Faulty) put(ctx context.Context, op, key string, r io.Reader, size int64, put func(context.Context, string, io.Reader, int64) error) error {
	if !f.hit(op, key) {
		return put(ctx, key, r, size)
	}
	switch f.When {
	case Before:
		io.Copy(io.Discard, r) // the writer side of a pipe must not block
		return f.fault(op, key)
	case Midway:
		io.CopyN(io.Discard, r, f.MidwayBytes)
		return f.fault(op, key) // the rest is never read
	}
	if err := put(ctx, key, r, size); err != nil {
		return err
	}
	return f.fault(op, key)
}

func (f *Faulty) Delete(ctx context.Context, key string) error {
	if f.hit("delete", key) {
		if f.When == After {
			if err := f.Bucket.Delete(ctx, key); err != nil {
				return err
			}
		}
		return f.fault("delete", key)
	}
	return f.Bucket.Delete(ctx, key)
}

// LocalPath forwards the optional upgrade.
func (f *Faulty) LocalPath(key string) (string, bool) {
	if lp, ok := f.Bucket.(objstore.LocalPather); ok {
		return lp.LocalPath(key)
	}
	return "", false
}

func (f *Faulty) GetTagged(ctx context.Context, key string) ([]byte, string, error) {
	if f.hit("get", key) {
		return nil, "", f.fault("get", key)
	}
	return f.Bucket.GetTagged(ctx, key)
}

func (f *Faulty) PutIfMatch(ctx context.Context, key string, data []byte, tag string) (string, error) {
	if !f.hit("put-if-match", key) {
		return f.Bucket.PutIfMatch(ctx, key, data, tag)
	}
	if f.When == Before {
		return "", f.fault("put-if-match", key)
	}
	if _, err := f.Bucket.PutIfMatch(ctx, key, data, tag); err != nil {
		return "", err
	}
	return "", f.fault("put-if-match", key)
}
