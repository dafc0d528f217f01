// Package parquetfile opens local Parquet files, for the lake's readers and
// the schemas' loaders alike.
package parquetfile

import (
	"fmt"
	"os"

	"github.com/parquet-go/parquet-go"
)

// Open opens a local Parquet file (close the *os.File when done).
func Open(path string) (*parquet.File, *os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: not a readable Parquet file: %w", path, err)
	}
	return pf, f, nil
}
