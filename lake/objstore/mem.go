package objstore

import (
	"bytes"
	"context"
	"io"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"
)

// Mem is an in-memory Bucket, for tests and as a fast extra backend in the
// acceptance suite. It is safe for concurrent use.
type Mem struct {
	now  func() time.Time
	mu   sync.RWMutex
	objs map[string]memObject
}

type memObject struct {
	data    []byte
	modTime time.Time
}

// NewMem returns an empty in-memory bucket. now may be nil (time.Now).
func NewMem(now func() time.Time) *Mem {
	if now == nil {
		now = time.Now
	}
	return &Mem{now: now, objs: map[string]memObject{}}
}

// URL implements Reader.
func (m *Mem) URL() string { return "mem://" }

func (m *Mem) err(op, key string, err error) error {
	return &Error{Op: op, Key: key, URL: m.URL(), Err: err}
}

// Get implements Reader.
func (m *Mem) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, m.err("get", key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, m.err("get", key, err)
	}
	m.mu.RLock()
	o, ok := m.objs[key]
	m.mu.RUnlock()
	if !ok {
		return nil, m.err("get", key, ErrNotExist)
	}
	return io.NopCloser(bytes.NewReader(o.data)), nil
}

// Stat implements Reader.
func (m *Mem) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return ObjectInfo{}, m.err("stat", key, err)
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, m.err("stat", key, err)
	}
	m.mu.RLock()
	o, ok := m.objs[key]
	m.mu.RUnlock()
	if !ok {
		return ObjectInfo{}, m.err("stat", key, ErrNotExist)
	}
	return ObjectInfo{Key: key, Size: int64(len(o.data)), ModTime: o.modTime}, nil
}

// List implements Reader.
func (m *Mem) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(ObjectInfo{}, m.err("list", prefix, err))
			return
		}
		m.mu.RLock()
		var infos []ObjectInfo
		for k, o := range m.objs {
			if strings.HasPrefix(k, prefix) {
				infos = append(infos, ObjectInfo{Key: k, Size: int64(len(o.data)), ModTime: o.modTime})
			}
		}
		m.mu.RUnlock()
		slices.SortFunc(infos, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
		for _, info := range infos {
			if !yield(info, nil) {
				return
			}
		}
	}
}

// Dirs implements Reader.
func (m *Mem) Dirs(ctx context.Context, dir string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, m.err("dirs", dir, err)
	}
	seen := map[string]bool{}
	m.mu.RLock()
	for k := range m.objs {
		if rest, ok := strings.CutPrefix(k, dir); ok {
			if i := strings.IndexByte(rest, '/'); i > 0 {
				seen[rest[:i]] = true
			}
		}
	}
	m.mu.RUnlock()
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// Put implements Bucket.
func (m *Mem) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return m.put(ctx, "put", key, r, false)
}

// PutIfAbsent implements Bucket.
func (m *Mem) PutIfAbsent(ctx context.Context, key string, r io.Reader, size int64) error {
	return m.put(ctx, "put-if-absent", key, r, true)
}

func (m *Mem) put(ctx context.Context, op, key string, r io.Reader, ifAbsent bool) error {
	if err := ValidateKey(key); err != nil {
		return m.err(op, key, err)
	}
	data, err := io.ReadAll(ctxReader{ctx, r})
	if err != nil {
		return m.err(op, key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[key]; ok && ifAbsent {
		return m.err(op, key, ErrExist)
	}
	m.objs[key] = memObject{data: data, modTime: m.now()}
	return nil
}

// Delete implements Bucket.
func (m *Mem) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return m.err("delete", key, err)
	}
	if err := ctx.Err(); err != nil {
		return m.err("delete", key, err)
	}
	m.mu.Lock()
	delete(m.objs, key)
	m.mu.Unlock()
	return nil
}

// GetTagged implements Bucket.
func (m *Mem) GetTagged(ctx context.Context, key string) ([]byte, string, error) {
	rc, err := m.Get(ctx, key)
	if err != nil {
		return nil, "", err
	}
	data, _ := io.ReadAll(rc)
	return data, contentTag(data), nil
}

// PutIfMatch implements Bucket under the bucket's lock.
func (m *Mem) PutIfMatch(ctx context.Context, key string, data []byte, tag string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", m.err("put-if-match", key, err)
	}
	if err := ctx.Err(); err != nil {
		return "", m.err("put-if-match", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[key]
	if ok != (tag != "") || ok && contentTag(o.data) != tag {
		return "", m.err("put-if-match", key, ErrChanged)
	}
	m.objs[key] = memObject{data: bytes.Clone(data), modTime: m.now()}
	return contentTag(data), nil
}
