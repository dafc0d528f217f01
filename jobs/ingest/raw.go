package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/swelake/swelake/jobs/ingest/formats"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// rawSources stores the raw source of every input of a rollouts ingest
// once, content-addressed (lake.PutRaw), and points each row at its bytes.
// A file's source is its decompressed bytes — sha256sum of a plain JSONL
// file is its source's name — hashed before its rows are decoded (the rows
// carry the hash) and stored in the background while they are; a Parquet
// file's source is its rows as JSON lines (the records the decoders read),
// and a directory of completions' is its files' bytes, each followed by a
// newline. Re-ingesting a file stores nothing: its source is already there.
type rawSources struct {
	l      *lake.Lake
	byFile map[string]*rawSource
	store  *errgroup.Group
	tmp    []string     // temporary packs, removed by close
	stored atomic.Int64 // sources stored by this ingest
	cancel context.CancelFunc
}

type rawSource struct {
	sum  string
	pack bool  // records packed as lines (Parquet): offsets are counted, not read
	next int64 // pack: the next record's offset
}

// fileHashes hashes input files in the background, in order, from the
// moment the inputs are known: the pass overlaps the engine's start, the
// format detection and the read of the table's keys.
type fileHashes struct {
	files map[string]*fileHash // written before the hashing starts, read-only after
}

type fileHash struct {
	done chan struct{}
	sum  string
	err  error
}

func hashFiles(ctx context.Context, files []input) *fileHashes {
	h := &fileHashes{files: map[string]*fileHash{}}
	var todo []*fileHash
	var paths []string
	for _, f := range files {
		if lay, err := layoutOf(f.path); err == nil && lay == layoutParquet {
			continue // packed as JSON lines when planned, not hashed as bytes
		}
		if _, ok := h.files[f.path]; !ok {
			fh := &fileHash{done: make(chan struct{})}
			h.files[f.path] = fh
			todo, paths = append(todo, fh), append(paths, f.path)
		}
	}
	go func() {
		for i, fh := range todo {
			fh.sum, fh.err = hashFile(ctx, paths[i])
			close(fh.done)
		}
	}()
	return h
}

// sum waits for a file's hash.
func (h *fileHashes) sum(ctx context.Context, path string) (string, error) {
	fh, ok := h.files[path]
	if !ok {
		return hashFile(ctx, path)
	}
	select {
	case <-fh.done:
		return fh.sum, fh.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// prepareRaw takes every planned input's source hash and starts storing
// those the lake does not have.
func prepareRaw(ctx context.Context, l *lake.Lake, db *sql.DB, plans []plan, limit int64, hashes *fileHashes) (*rawSources, error) {
	ctx, cancel := context.WithCancel(ctx)
	rs := &rawSources{l: l, byFile: map[string]*rawSource{}, store: &errgroup.Group{}, cancel: cancel}
	var queue []storeJob
	for _, p := range plans {
		switch {
		case p.format.Unit == formats.UnitDir:
			continue // one record per directory: its source is made when it is read
		case p.layout == layoutParquet && p.format.Unit == formats.UnitRows:
			path, sum, err := packParquet(ctx, db, p.path, limit)
			if err != nil {
				rs.close()
				return nil, err
			}
			rs.tmp = append(rs.tmp, path)
			rs.byFile[p.path] = &rawSource{sum: sum, pack: true}
			queue = append(queue, storeJob{path, sum, false})
		default:
			sum, err := hashes.sum(ctx, p.path)
			if err != nil {
				rs.close()
				return nil, err
			}
			rs.byFile[p.path] = &rawSource{sum: sum}
			queue = append(queue, storeJob{p.path, sum, true})
		}
	}
	// One background worker stores the sources, one after another, while
	// the rows are decoded.
	rs.store.Go(func() error {
		for _, j := range queue {
			if err := rs.storeFile(ctx, j); err != nil {
				return err
			}
		}
		return nil
	})
	return rs, nil
}

// storeJob is a source to store: a plain file (decompressed on the way) or
// a pack.
type storeJob struct {
	path, sum  string
	decompress bool
}

func (rs *rawSources) storeFile(ctx context.Context, j storeJob) error {
	var r io.ReadCloser
	var err error
	if j.decompress {
		r, err = open(j.path)
	} else {
		r, err = os.Open(j.path)
	}
	if err != nil {
		return fmt.Errorf("store raw source of %s: %w", j.path, err)
	}
	defer r.Close()
	_, stored, err := rs.l.PutRaw(ctx, r, j.sum)
	if err != nil {
		return fmt.Errorf("store raw source of %s: %w", j.path, err)
	}
	if stored {
		rs.stored.Add(1)
	}
	return nil
}

// ref points a record's rows at its bytes; it is called for every record,
// in input order (quarantined ones too: a pack's offsets count them).
func (rs *rawSources) ref(ctx context.Context, rec *formats.Record) (schemas.RawRef, error) {
	src := rs.byFile[rec.File]
	switch {
	case src != nil && src.pack:
		ref := schemas.RawRef{SHA256: src.sum, Offset: src.next, Length: int64(len(rec.Data))}
		src.next += int64(len(rec.Data)) + 1
		return ref, nil
	case src != nil && rec.Offset >= 0:
		return schemas.RawRef{SHA256: src.sum, Offset: rec.Offset, Length: int64(len(rec.Data))}, nil
	}
	// A directory of completions: its files, each followed by a newline.
	var b bytes.Buffer
	if len(rec.Group) == 0 {
		b.Write(rec.Data)
		b.WriteByte('\n')
	}
	for _, g := range rec.Group {
		b.Write(g.Data)
		b.WriteByte('\n')
	}
	sum := sha256.Sum256(b.Bytes())
	hexSum, n := hex.EncodeToString(sum[:]), int64(b.Len())
	_, stored, err := rs.l.PutRaw(ctx, &b, hexSum)
	if err != nil {
		return schemas.RawRef{}, fmt.Errorf("store raw source of %s: %w", rec.File, err)
	}
	if stored {
		rs.stored.Add(1)
	}
	return schemas.RawRef{SHA256: hexSum, Offset: 0, Length: n - 1}, nil
}

// wait returns when every source is stored (or one failed).
func (rs *rawSources) wait() error { return rs.store.Wait() }

// close stops the background stores (an ingest that failed does not wait
// for its sources to be compressed) and removes the temporary packs.
func (rs *rawSources) close() {
	rs.cancel()
	rs.store.Wait()
	for _, p := range rs.tmp {
		os.Remove(p)
	}
}

// hashFile is the sha256 of a file's decompressed bytes.
func hashFile(ctx context.Context, path string) (string, error) {
	r, err := open(path)
	if err != nil {
		return "", err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, r}); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// packParquet writes a Parquet file's records as JSON lines to a
// temporary file and returns it with its sha256.
func packParquet(ctx context.Context, db *sql.DB, path string, limit int64) (string, string, error) {
	f, err := os.CreateTemp("", ".swelake-pack-*")
	if err != nil {
		return "", "", err
	}
	h := sha256.New()
	w := io.MultiWriter(f, h)
	err = parquetRecords(ctx, db, path, limit, func(rec formats.Record, _ error) error {
		if _, err := w.Write(rec.Data); err != nil {
			return err
		}
		_, err := w.Write([]byte{'\n'})
		return err
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", "", fmt.Errorf("pack %s: %w", path, err)
	}
	return f.Name(), hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader stops a long read when ctx is done.
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
