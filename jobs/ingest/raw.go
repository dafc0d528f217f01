package ingest

import (
	"bytes"
	"cmp"
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
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/schemas"
)

// rawSources stores the raw source of every input of a rollouts ingest
// once, content-addressed (lake.PutRaw), and points each row at its bytes.
// A file's source is its decompressed bytes — sha256sum of a plain JSONL
// file is its source's name — and a Parquet file's its rows as JSON lines
// (the records the decoders read); a directory of completions' is its
// files' bytes, each followed by a newline. One background worker names
// every source first, in input order — a file's rows wait only for its own
// hash, not for the others' — then stores those the lake does not have
// while the rows are decoded. Re-ingesting a file stores nothing.
type rawSources struct {
	l      *lake.Lake
	byFile map[string]*rawSource // built before the worker starts, read-only after
	work   *errgroup.Group
	tmp    []string     // temporary packs, removed by close (written by the worker)
	stored atomic.Int64 // sources stored by this ingest
	cancel context.CancelFunc
}

// rawSource is one input's source; sum and err are set by the worker
// before named is closed.
type rawSource struct {
	path     string
	pack     bool   // records packed as lines (Parquet): offsets are counted, not read
	packFile string // the pack's temporary file (set by the worker)
	named    chan struct{}
	sum      string
	err      error
	next     int64 // pack: the next record's offset (read and written by ref only)
}

// startRaw starts naming and storing the planned inputs' sources.
func startRaw(ctx context.Context, l *lake.Lake, db *sql.DB, plans []plan, limit int64) *rawSources {
	ctx, cancel := context.WithCancel(ctx)
	rs := &rawSources{l: l, byFile: map[string]*rawSource{}, work: &errgroup.Group{}, cancel: cancel}
	var order []*rawSource
	for _, p := range plans {
		if p.format.Unit == formats.UnitDir || p.archive {
			continue // one record per directory or member: its source is made when it is read
		}
		src := &rawSource{path: p.path, pack: p.layout == layoutParquet, named: make(chan struct{})}
		rs.byFile[p.path] = src
		order = append(order, src)
	}
	rs.work.Go(func() error {
		for i, src := range order {
			if src.pack {
				src.packFile, src.sum, src.err = packParquet(ctx, db, src.path, limit)
				if src.err == nil {
					rs.tmp = append(rs.tmp, src.packFile)
				}
			} else {
				src.sum, src.err = hashFile(ctx, src.path)
			}
			if src.err != nil {
				for _, rest := range order[i:] { // no reader waits for ever
					rest.err = cmp.Or(rest.err, src.err)
					close(rest.named)
				}
				return src.err
			}
			close(src.named)
		}
		for _, src := range order {
			if err := rs.store(ctx, src); err != nil {
				return err
			}
		}
		return nil
	})
	return rs
}

// store stores one named source (a pack from its temporary file, a plain
// file decompressed on the way).
func (rs *rawSources) store(ctx context.Context, src *rawSource) error {
	var r io.ReadCloser
	var err error
	if src.pack {
		r, err = os.Open(src.packFile)
	} else {
		r, err = open(src.path)
	}
	if err != nil {
		return fmt.Errorf("store raw source of %s: %w", src.path, err)
	}
	defer r.Close()
	_, stored, err := rs.l.PutRaw(ctx, r, src.sum)
	if err != nil {
		return fmt.Errorf("store raw source of %s: %w", src.path, err)
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
	if src != nil {
		select {
		case <-src.named:
		case <-ctx.Done():
			return schemas.RawRef{}, ctx.Err()
		}
		if src.err != nil {
			return schemas.RawRef{}, fmt.Errorf("raw source of %s: %w", src.path, src.err)
		}
	}
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
func (rs *rawSources) wait() error { return rs.work.Wait() }

// close stops the background stores (an ingest that failed does not wait
// for its sources to be compressed) and removes the temporary packs.
func (rs *rawSources) close() {
	rs.cancel()
	rs.work.Wait()
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
	if _, err := io.Copy(h, objstore.ContextReader(ctx, r)); err != nil {
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
