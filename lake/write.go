package lake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// SchemaFor describes the Parquet schema of rows of type T (a struct with
// parquet tags) under a table schema name and version.
func SchemaFor[T any](name string, version int) Schema {
	text := parquet.SchemaOf(new(T)).String()
	sum := sha256.Sum256([]byte(text))
	return Schema{Name: name, Version: version, Fingerprint: hex.EncodeToString(sum[:]), Parquet: text}
}

// RowSpec tells the writer how to place and size rows of type T.
type RowSpec[T any] struct {
	Schema Schema
	// Partition returns the row's partition values (one per partition column).
	Partition func(*T) Partition
	// SizeOf estimates a row's uncompressed size in bytes, to bound row
	// groups and files of rows with large text columns. nil: count rows only.
	SizeOf func(*T) int
	// RawOf returns the raw source a row points at ("" : none): each data
	// file lists its rows' sources (File.Raw) for gc and verify.
	RawOf func(*T) string
	// Key are the key columns (top-level string, integer or boolean fields
	// of T): the table holds each key once (see keys.go). nil: no key.
	Key []string
}

// WriteOptions bounds row groups and files. Zero values take the defaults.
type WriteOptions struct {
	RowGroupRows  int   // rows per row group (default 1024)
	RowGroupBytes int64 // estimated bytes per row group (default 64 MiB)
	FileBytes     int64 // estimated bytes per file before a new file is started (default 512 MiB)
	Parallel      int   // files written at once (default GOMAXPROCS)
	CodeVersion   string
	// OnDuplicate: what to do with a row whose key the table already holds
	// (default: refuse the write).
	OnDuplicate OnDuplicate
	// Overwrite: the rows replace these partitions (for OverwritePartitions),
	// so the keys held there do not count as held.
	Overwrite []Partition
}

func (o *WriteOptions) defaults() {
	if o.RowGroupRows <= 0 {
		o.RowGroupRows = 1024
	}
	if o.RowGroupBytes <= 0 {
		o.RowGroupBytes = 64 << 20
	}
	if o.FileBytes <= 0 {
		o.FileBytes = 512 << 20
	}
	if o.Parallel <= 0 {
		o.Parallel = runtime.GOMAXPROCS(0)
	}
}

// parquetOptions are the writer options every swelake data file of rows of
// type T is written with: zstd pages (fast Snappy where a column asks for
// SNAPPY), a row-group cap, and the schema named in the footer.
func parquetOptions[T any](schema Schema, opts WriteOptions) []parquet.WriterOption {
	opts.defaults()
	return []parquet.WriterOption{
		parquetSchema[T](),
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedFastest}),
		parquet.MaxRowsPerRowGroup(int64(opts.RowGroupRows)),
		parquet.PageBufferSize(1 << 20), // large text columns: fewer, larger pages compress faster and better
		parquet.CreatedBy("swelake", opts.CodeVersion, ""),
		parquet.KeyValueMetadata("swelake.schema", fmt.Sprintf("%s/v%d", schema.Name, schema.Version)),
	}
}

type batch[T any] struct {
	part  Partition
	rows  []T
	bytes int64
}

// WriteFiles writes rows into new data files of the table (not yet visible:
// pass the result to Append or OverwritePartitions). Rows are grouped by
// partition into row groups of at most RowGroupRows rows and about
// RowGroupBytes bytes, written by Parallel workers each to its own files.
// On error, the files already written are deleted (best effort; gc removes
// what remains).
func WriteFiles[T any](ctx context.Context, t *Table, spec RowSpec[T], rows iter.Seq2[T, error], opts WriteOptions) (Files, error) {
	return writeFiles(ctx, t, spec, rows, opts, false)
}

// WriteMigrationFiles writes rows of a later schema version of the table
// than its latest (the files of a Table.Migrate).
func WriteMigrationFiles[T any](ctx context.Context, t *Table, spec RowSpec[T], rows iter.Seq2[T, error], opts WriteOptions) (Files, error) {
	return writeFiles(ctx, t, spec, rows, opts, true)
}

func writeFiles[T any](ctx context.Context, t *Table, spec RowSpec[T], rows iter.Seq2[T, error], opts WriteOptions, migrating bool) (Files, error) {
	opts.defaults()
	snap, err := t.Snapshot(ctx, Latest)
	if err != nil {
		return Files{}, err
	}
	if migrating && (spec.Schema.Name != snap.Schema.Name || spec.Schema.Version <= snap.Schema.Version) {
		return Files{}, fmt.Errorf("write %s: %w: a migration writes a later version than %s v%d, not %s v%d",
			t.name, ErrSchemaMismatch, snap.Schema.Name, snap.Schema.Version, spec.Schema.Name, spec.Schema.Version)
	}
	if !migrating && spec.Schema.Fingerprint != snap.Schema.Fingerprint {
		return Files{}, fmt.Errorf("write %s: %w: rows have schema %s v%d, table has %s v%d",
			t.name, ErrSchemaMismatch, spec.Schema.Name, spec.Schema.Version, snap.Schema.Name, snap.Schema.Version)
	}
	var keys *writtenKeys
	var ki *keyIndex
	var held map[keyHash]struct{}
	if !migrating && len(spec.Key) > 0 {
		if ki, err = newKeyIndex[T](spec.Key); err != nil {
			return Files{}, fmt.Errorf("write %s: %w", t.name, err)
		}
		kept := snap
		if len(opts.Overwrite) > 0 {
			replaced := map[string]bool{}
			for _, f := range filesIn(snap, opts.Overwrite) {
				replaced[f.Path] = true
			}
			kept = &Snapshot{Table: snap.Table, Version: snap.Version}
			for _, f := range snap.Files {
				if !replaced[f.Path] {
					kept.Files = append(kept.Files, f)
				}
			}
		}
		if held, err = t.snapshotKeys(ctx, kept, spec.Key); err != nil {
			return Files{}, fmt.Errorf("write %s: %w", t.name, err)
		}
		keys = &writtenKeys{columns: spec.Key, base: snap.Version, hashes: map[keyHash]struct{}{}}
	}
	var skipped int64
	// admit decides a row's fate under the table's key: false, nil skips it.
	admit := func(row *T) (bool, error) {
		if keys == nil {
			return true, nil
		}
		vals := ki.of(row)
		h := hashKey(vals)
		version := int64(-2)
		if _, ok := held[h]; ok {
			version = snap.Version
		} else if _, ok := keys.hashes[h]; ok {
			version = -1
		}
		if version == -2 {
			keys.hashes[h] = struct{}{}
			return true, nil
		}
		if opts.OnDuplicate == SkipDuplicates {
			skipped++
			return false, nil
		}
		return false, &DuplicateKeyError{Table: t.name, Columns: spec.Key, Key: vals, Version: version}
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	work := make(chan batch[T])
	results := make([][]File, opts.Parallel)
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel(err) })
	}
	for i := range opts.Parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &partWriter[T]{t: t, spec: spec, opts: opts, snap: snap, open: map[string]*dataFile[T]{}}
			for b := range work {
				if err := w.write(ctx, b); err != nil {
					fail(err)
					for range work { // drain so the producer does not block
					}
					break
				}
			}
			files, err := w.closeAll(ctx)
			if err != nil {
				fail(err)
			}
			results[i] = files
		}()
	}

	// The producer: group rows by partition into row-group-sized batches.
	pending := map[string]*batch[T]{}
	var buffered int64
	send := func(key string) bool {
		b := pending[key]
		delete(pending, key)
		buffered -= b.bytes
		select {
		case work <- *b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	produce := func() error {
		for row, err := range rows {
			if err != nil {
				return err
			}
			if ok, err := admit(&row); err != nil {
				return err
			} else if !ok {
				continue
			}
			part := spec.Partition(&row)
			key := part.String()
			b := pending[key]
			if b == nil {
				b = &batch[T]{part: part}
				pending[key] = b
			}
			size := int64(0)
			if spec.SizeOf != nil {
				size = int64(spec.SizeOf(&row))
			}
			b.rows = append(b.rows, row)
			b.bytes += size
			buffered += size
			if len(b.rows) >= opts.RowGroupRows || b.bytes >= opts.RowGroupBytes {
				if !send(key) {
					return context.Cause(ctx)
				}
			}
			// Many partitions each holding a part-filled batch: flush the largest.
			for buffered > 2*opts.RowGroupBytes*int64(opts.Parallel) {
				largest := ""
				for k, b := range pending {
					if largest == "" || b.bytes > pending[largest].bytes {
						largest = k
					}
				}
				if !send(largest) {
					return context.Cause(ctx)
				}
			}
		}
		for key := range pending {
			if !send(key) {
				return context.Cause(ctx)
			}
		}
		return nil
	}
	if err := produce(); err != nil {
		fail(err)
	}
	close(work)
	wg.Wait()

	out := Files{SchemaFingerprint: spec.Schema.Fingerprint, Skipped: skipped, keys: keys}
	for _, fs := range results {
		out.Files = append(out.Files, fs...)
	}
	if firstErr != nil {
		t.deleteFiles(out.Files)
		if errors.Is(firstErr, ErrDuplicateKey) {
			return Files{}, firstErr // says "write <table>" already
		}
		return Files{}, fmt.Errorf("write %s: %w", t.name, firstErr)
	}
	return out, nil
}

// deleteFiles removes uncommitted files after a failed write, best effort.
func (t *Table) deleteFiles(files []File) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, f := range files {
		if err := t.lake.bucket.Delete(ctx, FileKey(t.name, f.Path)); err != nil {
			t.lake.opts.Logger.Warn("orphan left for gc", "file", f.Path, "err", err)
		}
	}
}

// partWriter is one worker's open files, one per partition.
type partWriter[T any] struct {
	t    *Table
	spec RowSpec[T]
	opts WriteOptions
	snap *Snapshot
	open map[string]*dataFile[T]
	done []File
}

func (w *partWriter[T]) write(ctx context.Context, b batch[T]) error {
	key := b.part.String()
	f := w.open[key]
	if f == nil {
		var err error
		if f, err = w.create(ctx, b.part); err != nil {
			return err
		}
		w.open[key] = f
	}
	if err := f.writeRowGroup(b.rows); err != nil {
		delete(w.open, key) // aborted: closeAll must not touch it again
		return err
	}
	f.bytes += b.bytes
	if f.bytes >= w.opts.FileBytes {
		delete(w.open, key)
		file, err := f.close()
		if err != nil {
			return err
		}
		w.done = append(w.done, file)
	}
	return nil
}

func (w *partWriter[T]) closeAll(ctx context.Context) ([]File, error) {
	var errs []error
	for key, f := range w.open {
		delete(w.open, key)
		file, err := f.close()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		w.done = append(w.done, file)
	}
	return w.done, errors.Join(errs...)
}

func (w *partWriter[T]) create(ctx context.Context, part Partition) (*dataFile[T], error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	path := "data/" + part.Path(w.snap.PartitionBy) + "/part-" + id.String() + ".parquet"
	if len(w.snap.PartitionBy) == 0 {
		path = "data/part-" + id.String() + ".parquet"
	}
	pr, pw := io.Pipe()
	f := &dataFile[T]{
		file:   File{Path: path, Partition: part},
		pw:     pw,
		sha:    sha256.New(),
		putErr: make(chan error, 1),
		rawOf:  w.spec.RawOf,
	}
	f.w = parquet.NewGenericWriter[T](f, parquetOptions[T](w.spec.Schema, w.opts)...)
	go func() {
		err := w.t.lake.bucket.Put(ctx, FileKey(w.t.name, path), pr, -1)
		pr.CloseWithError(err) // unblock the writer if Put gave up early
		f.putErr <- err
	}()
	return f, nil
}

// dataFile streams one Parquet file into storage, hashing it on the way.
// The upload runs in its own goroutine; its result is read from putErr
// exactly once (wait), so that every path — a failed row group, a failed
// footer, a failed upload — ends with one error naming the file and never
// blocks on the channel a second time.
type dataFile[T any] struct {
	file   File
	w      *parquet.GenericWriter[T]
	pw     *io.PipeWriter
	sha    hash.Hash
	size   int64
	bytes  int64 // estimated content, for rolling files
	putErr chan error
	rawOf  func(*T) string

	waited bool
	upload error // the upload's result, once waited
}

func (f *dataFile[T]) Write(p []byte) (int, error) {
	n, err := f.pw.Write(p)
	f.sha.Write(p[:n])
	f.size += int64(n)
	return n, err
}

func (f *dataFile[T]) writeRowGroup(rows []T) error {
	if _, err := f.w.Write(rows); err != nil {
		return f.abort("write rows to", err)
	}
	if f.rawOf != nil {
		for i := range rows {
			if r := f.rawOf(&rows[i]); r != "" && !slices.Contains(f.file.Raw, r) {
				f.file.Raw = append(f.file.Raw, r)
			}
		}
	}
	if err := f.w.Flush(); err != nil { // ends the row group
		return f.abort("flush row group of", err)
	}
	f.file.Rows += int64(len(rows))
	return nil
}

// wait returns the upload's result, reading it from the channel once.
func (f *dataFile[T]) wait() error {
	if !f.waited {
		f.upload, f.waited = <-f.putErr, true
	}
	return f.upload
}

// abort stops the upload and returns the error: the storage's own error
// when the upload failed first (the writer then only saw a closed pipe).
func (f *dataFile[T]) abort(op string, err error) error {
	f.pw.CloseWithError(err)
	if uerr := f.wait(); uerr != nil {
		return fmt.Errorf("upload %s: %w", f.file.Path, uerr)
	}
	return fmt.Errorf("%s %s: %w", op, f.file.Path, err)
}

// close writes the footer and waits for the upload.
func (f *dataFile[T]) close() (File, error) {
	if err := f.w.Close(); err != nil {
		return File{}, f.abort("close", err)
	}
	f.pw.Close()
	if err := f.wait(); err != nil {
		return File{}, fmt.Errorf("upload %s: %w", f.file.Path, err)
	}
	f.file.Bytes = f.size
	f.file.SHA256 = hex.EncodeToString(f.sha.Sum(nil))
	return f.file, nil
}

// Slice yields the rows of a slice, for WriteFiles.
func Slice[T any](rows []T) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for _, r := range rows {
			if !yield(r, nil) {
				return
			}
		}
	}
}
