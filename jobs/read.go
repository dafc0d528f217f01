package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"

	"github.com/parquet-go/parquet-go"

	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/queries"
)

// ReadRows streams the rows of a snapshot into T, file by file, one batch
// in memory at a time. Remote files are read through the verified cache in
// cacheDir.
func ReadRows[T any](ctx context.Context, l *lake.Lake, s *lake.Snapshot, cacheDir string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		cache := &queries.Cache{Dir: cacheDir}
		for _, f := range s.Files {
			path, err := cache.Path(ctx, l.Bucket(), s.Table, f)
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

func readFile[T any](ctx context.Context, path string, s *lake.Snapshot, f lake.File, yield func(T, error) bool) bool {
	var zero T
	fh, err := os.Open(path)
	if err != nil {
		return yield(zero, fmt.Errorf("read %s file %s: %w", s.Ref(), f.Path, err))
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return yield(zero, fmt.Errorf("read %s file %s: %w", s.Ref(), f.Path, err))
	}
	pf, err := parquet.OpenFile(fh, st.Size())
	if err != nil {
		return yield(zero, fmt.Errorf("read %s file %s: %w", s.Ref(), f.Path, err))
	}
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
