package schemas

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/parquet-go/parquet-go"

	"github.com/swelake/swelake/internal/parquetfile"
)

// RowError locates a row that could not be read.
type RowError struct {
	File string
	Line int64 // JSONL: 1-based line; Parquet: 1-based row number
	Kind string
	Err  error
}

func (e *RowError) Error() string {
	return fmt.Sprintf("%s:%s %d: %v", e.File, e.Kind, e.Line, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// DecodeJSONL reads one row of the table per line of r and calls fn with it.
// Blank lines are skipped. A line with a column the table does not have, a
// value of the wrong type, or a missing required column stops the read with
// a *RowError naming file and line. Lines may be of any length.
func DecodeJSONL[T any](r io.Reader, file string, def Def[T], fn func(line int64, row T) error) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var line int64
	for {
		data, err := br.ReadBytes('\n')
		if len(data) > 0 {
			line++
			if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 {
				row, derr := decodeRow(trimmed, def)
				if derr != nil {
					return &RowError{File: file, Line: line, Kind: "line", Err: derr}
				}
				if err := fn(line, row); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", file, err)
		}
	}
}

func decodeRow[T any](data []byte, def Def[T]) (T, error) {
	var row T
	if data[0] != '{' {
		return row, errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&row); err != nil {
		return row, err
	}
	if dec.More() {
		return row, errors.New("more than one JSON value on the line")
	}
	if err := def.Validate(&row); err != nil {
		return row, err
	}
	return row, nil
}

// ReadParquet reads a Parquet file whose columns are a subset of the table's
// (a missing column takes its zero value; a required one must be present) and
// calls fn with each row.
func ReadParquet[T any](path string, def Def[T], fn func(row int64, r T) error) error {
	pf, f, err := parquetfile.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cols := def.Columns()
	var have []string
	for _, field := range pf.Schema().Fields() {
		if !slices.Contains(cols, field.Name()) {
			return fmt.Errorf("%s: column %q is not in table %s (columns: %v)", path, field.Name(), def.Name, cols)
		}
		have = append(have, field.Name())
	}
	for _, req := range def.Required {
		if !slices.Contains(have, req) {
			return fmt.Errorf("%s: required column %q of table %s is missing", path, req, def.Name)
		}
	}
	r := parquet.NewGenericReader[T](pf)
	defer r.Close()
	buf := make([]T, 64)
	var n int64
	for {
		k, err := r.Read(buf)
		for i := range k {
			n++
			if verr := def.Validate(&buf[i]); verr != nil {
				return &RowError{File: path, Line: n, Kind: "row", Err: verr}
			}
			if ferr := fn(n, buf[i]); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &RowError{File: path, Line: n + 1, Kind: "row", Err: err}
		}
	}
}
