package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"runtime"
	"sync"

	"github.com/parquet-go/parquet-go"

	"github.com/swelake/swelake/internal/parquetfile"
	"golang.org/x/sync/errgroup"
)

// ReadRows streams the rows of a snapshot into T, file by file, one batch
// in memory at a time. Every file is checked against the log's sha256
// first; remote files are read through the lake's verified cache.
func ReadRows[T any](ctx context.Context, l *Lake, s *Snapshot) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		for _, f := range s.Files {
			path, err := l.LocalPath(ctx, s.Table, f)
			if err != nil {
				yield(zero, fmt.Errorf("read %s: %w", s.Ref(), err))
				return
			}
			if !readFile(ctx, path, s, f, yield) {
				return
			}
		}
	}
}

// ReadFileRows streams the rows of one data file of a snapshot into T
// (checked against the log's sha256 first, like ReadRows).
func ReadFileRows[T any](ctx context.Context, l *Lake, s *Snapshot, f File) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		path, err := l.LocalPath(ctx, s.Table, f)
		if err != nil {
			var zero T
			yield(zero, fmt.Errorf("read %s: %w", s.Ref(), err))
			return
		}
		readFile(ctx, path, s, f, yield)
	}
}

func readFile[T any](ctx context.Context, path string, s *Snapshot, f File, yield func(T, error) bool) bool {
	var zero T
	pf, fh, err := parquetfile.Open(path)
	if err != nil {
		return yield(zero, fmt.Errorf("read %s file %s: %w", s.Ref(), f.Path, err))
	}
	defer fh.Close()
	r := parquet.NewGenericReader[T](pf)
	defer r.Close()
	buf := make([]T, 64)
	for {
		if err := ctx.Err(); err != nil {
			return yield(zero, err)
		}
		n, err := r.Read(buf)
		for i := range n {
			if !yield(buf[i], nil) {
				return false
			}
		}
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return yield(zero, fmt.Errorf("read %s file %s: %w", s.Ref(), f.Path, err))
		}
		clear(buf)
	}
}

// MapRows reads a snapshot's rows, applies fn to those keep accepts (nil:
// all) on GOMAXPROCS workers, and hands each result to emit, which runs on
// the caller's goroutine (results arrive in no particular order). The first
// error of the reader, fn or the context stops everything.
func MapRows[T, R any](ctx context.Context, l *Lake, s *Snapshot,
	keep func(*T) bool, fn func(T) (R, error), emit func(R)) error {
	work := make(chan T, 64)
	out := make(chan R, 64)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(work)
		for row, err := range ReadRows[T](gctx, l, s) {
			if err != nil {
				return err
			}
			if keep != nil && !keep(&row) {
				continue
			}
			select {
			case work <- row:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	var workers sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		workers.Add(1)
		g.Go(func() error {
			defer workers.Done()
			for row := range work {
				r, err := fn(row)
				if err != nil {
					return err
				}
				select {
				case out <- r:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	go func() {
		workers.Wait()
		close(out)
	}()
	for r := range out {
		emit(r)
	}
	return g.Wait()
}
