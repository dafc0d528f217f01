package ingest

import (
	"context"
	"database/sql"
	"errors"
	"iter"
	"runtime"

	"github.com/swelake/swelake/jobs/ingest/formats"
)

// item is one record and what it decoded to.
type item struct {
	rec      formats.Record
	format   *formats.Format
	rows     formats.Rows
	err      error // the record could not be read or decoded: quarantine it
	repaired bool
}

// batch is a run of consecutive records, decoded by one worker.
type batch struct {
	items []item
	err   error // a file-level error: the ingest stops
	done  chan struct{}
}

const (
	batchBytes   = 8 << 20 // records per batch: about this many bytes...
	batchRecords = 256     // ...or this many records
)

// decodeParallel reads the planned inputs in order, decodes batches of
// records on workers, and yields the batches in input order, so that what
// follows (dedup, quarantine) decides as a sequential run would. Memory is
// bounded by the batches in flight: 2 × workers × batchBytes.
func decodeParallel(ctx context.Context, db *sql.DB, plans []plan, opts formats.Options, workers int, limit int64) iter.Seq[*batch] {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return func(yield func(*batch) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		work := make(chan *batch, workers)
		ordered := make(chan *batch, 2*workers)
		for range workers {
			go func() {
				for b := range work {
					for i := range b.items {
						decodeItem(&b.items[i], opts)
					}
					close(b.done)
				}
			}()
		}
		go func() {
			defer close(ordered)
			defer close(work)
			send := func(b *batch) bool {
				select {
				case ordered <- b:
				case <-ctx.Done():
					return false
				}
				if b.err != nil {
					close(b.done)
					return true
				}
				select {
				case work <- b:
					return true
				case <-ctx.Done():
					return false
				}
			}
			cur := &batch{done: make(chan struct{})}
			size := 0
			for _, p := range plans {
				err := records(ctx, db, p, limit, func(rec formats.Record, perr error) error {
					cur.items = append(cur.items, item{rec: rec, format: p.format, err: perr})
					size += len(rec.Data)
					if size >= batchBytes || len(cur.items) >= batchRecords {
						if !send(cur) {
							return errStop
						}
						cur, size = &batch{done: make(chan struct{})}, 0
					}
					return nil
				})
				if errors.Is(err, errStop) {
					return
				}
				if err != nil {
					if len(cur.items) > 0 && !send(cur) {
						return
					}
					send(&batch{err: err, done: make(chan struct{})})
					return
				}
			}
			if len(cur.items) > 0 {
				send(cur)
			}
		}()
		for b := range ordered {
			select {
			case <-b.done:
			case <-ctx.Done():
				return
			}
			if !yield(b) {
				return
			}
		}
	}
}

func decodeItem(it *item, opts formats.Options) {
	if it.err != nil {
		return
	}
	it.rows, it.err = it.format.Decode(&it.rec, opts)
	if it.err != nil {
		it.err = errors.New(it.format.Name + ": " + it.err.Error())
		return
	}
	// encoding/json-style decoders already replaced invalid UTF-8 in the
	// strings they decoded: the record's bytes tell whether there was any.
	it.repaired = it.rows.Repaired || !validUTF8(&it.rec)
}
