package ingest

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/swelake/swelake/jobs"
	"github.com/swelake/swelake/jobs/ingest/formats"
)

// inputExts are the file names ingest reads when it walks a directory.
var inputExts = []string{".json", ".jsonl", ".ndjson", ".parquet", ".traj", ".log", ".gz", ".zst"}

// input is a file to read; walked marks files found by walking a directory
// (rather than named, or matched by a glob).
type input struct {
	path   string
	walked bool
}

// expand turns files, directories and globs into a sorted list of files.
func expand(paths []string) ([]input, error) {
	var out []input
	seen := map[string]bool{}
	add := func(p string, walked bool) {
		if !seen[p] {
			seen[p] = true
			out = append(out, input{p, walked})
		}
	}
	for _, p := range paths {
		matches := []string{p}
		if strings.ContainsAny(p, "*?[") {
			var err error
			if matches, err = filepath.Glob(p); err != nil {
				return nil, fmt.Errorf("glob %q: %w", p, err)
			}
			if len(matches) == 0 {
				return nil, fmt.Errorf("glob %q matches no file", p)
			}
		}
		for _, m := range matches {
			st, err := os.Stat(m)
			if err != nil {
				return nil, err
			}
			if !st.IsDir() {
				add(m, false)
				continue
			}
			err = filepath.WalkDir(m, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.IsDir() {
					if path != m && strings.HasPrefix(d.Name(), ".") {
						return fs.SkipDir
					}
					return nil
				}
				if !strings.HasPrefix(d.Name(), ".") && slices.ContainsFunc(inputExts, func(e string) bool { return strings.HasSuffix(d.Name(), e) }) {
					add(path, true)
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("walk %s: %w", m, err)
			}
		}
	}
	slices.SortFunc(out, func(a, b input) int { return strings.Compare(a.path, b.path) })
	return out, nil
}

// open opens a file, decompressing .gz and .zst.
func open(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := jobs.Decompress(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return readCloser{r, f}, nil
}

// readCloser closes the decompressor, then the file.
type readCloser struct {
	io.ReadCloser
	f io.Closer
}

func (r readCloser) Close() error {
	r.ReadCloser.Close()
	return r.f.Close()
}

func plainName(path string) string {
	return strings.TrimSuffix(strings.TrimSuffix(path, ".gz"), ".zst")
}

// layout is how a file's bytes are laid out.
type layout int

const (
	layoutJSONL   layout = iota // one JSON value per line
	layoutJSON                  // one JSON document: an array of rows, or one or more values
	layoutParquet               // rows of a Parquet file
	layoutText                  // not JSON (logs)
)

func layoutOf(path string) (layout, error) {
	name := plainName(path)
	switch {
	case strings.HasSuffix(name, ".parquet"):
		return layoutParquet, nil
	case strings.HasSuffix(name, ".jsonl"), strings.HasSuffix(name, ".ndjson"):
		return layoutJSONL, nil
	case strings.HasSuffix(name, ".log"), strings.HasSuffix(name, ".txt"):
		return layoutText, nil
	}
	// .json, .traj and anything else: look at the first byte.
	r, err := open(path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	br := bufio.NewReader(r)
	for {
		b, err := br.ReadByte()
		if err != nil {
			return layoutText, nil // empty
		}
		if !strings.ContainsRune(" \t\r\n\ufeff", rune(b)) && b != 0xef && b != 0xbb && b != 0xbf {
			if b == '{' || b == '[' {
				return layoutJSON, nil
			}
			return layoutText, nil
		}
	}
}

// errStop ends a record walk early.
var errStop = errors.New("stop")

// rowRecords calls fn with each record of a file split by rows. A line that
// is not JSON is passed with ok=false so that it can be quarantined; a JSON
// document that cannot be parsed at all is an error for the whole file.
func rowRecords(ctx context.Context, db *sql.DB, path string, lay layout, fn func(rec formats.Record, parseErr error) error) error {
	switch lay {
	case layoutParquet:
		return parquetRecords(ctx, db, path, fn)
	case layoutText:
		data, err := readFile(path)
		if err != nil {
			return err
		}
		return fn(formats.Record{File: path, Offset: 0, Data: data}, nil)
	case layoutJSONL:
		return jsonlRecords(ctx, path, fn)
	}
	return jsonRecords(ctx, path, fn)
}

func readFile(path string) ([]byte, error) {
	r, err := open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func jsonlRecords(ctx context.Context, path string, fn func(formats.Record, error) error) error {
	r, err := open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	br := bufio.NewReaderSize(r, 4<<20)
	var line, offset int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := br.ReadBytes('\n')
		if len(data) > 0 {
			line++
			start := offset
			offset += int64(len(data))
			// Lines are not validated here: the decoder parses them anyway,
			// and one that does not parse is quarantined with its error.
			if t := bytes.TrimSpace(data); len(t) > 0 {
				if ferr := fn(formats.Record{File: path, Line: line, Offset: start, Data: t}, nil); ferr != nil {
					return ferr
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
	}
}

// jsonRecords streams the elements of a top-level array, or successive
// top-level values (one object, or concatenated objects).
func jsonRecords(ctx context.Context, path string, fn func(formats.Record, error) error) error {
	r, err := open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	br := bufio.NewReaderSize(r, 4<<20)
	array := false
	for i := 0; ; i++ { // peek past leading space: '[' means an array of rows
		b, err := br.Peek(i + 1)
		if err != nil {
			break
		}
		if c := b[i]; !strings.ContainsRune(" \t\r\n", rune(c)) {
			array = c == '['
			break
		}
	}
	dec := json.NewDecoder(br)
	if array {
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("%s: not JSON: %w", path, err)
		}
	}
	for array && dec.More() || !array {
		if err := ctx.Err(); err != nil {
			return err
		}
		off := dec.InputOffset()
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF && !array {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: invalid JSON near byte %d: %w", path, off, err)
		}
		if err := fn(formats.Record{File: path, Offset: off, Data: raw}, nil); err != nil {
			return err
		}
	}
	return nil
}

// parquetRecords reads a Parquet file's rows as JSON objects through DuckDB,
// which reads every Parquet type, NULL-typed columns included.
func parquetRecords(ctx context.Context, db *sql.DB, path string, fn func(formats.Record, error) error) error {
	if db == nil {
		return fmt.Errorf("%s: reading Parquet needs a DuckDB connection", path)
	}
	rows, err := db.QueryContext(ctx, `SELECT to_json(t)::VARCHAR FROM read_parquet(?) AS t`, path)
	if err != nil {
		return fmt.Errorf("%s: not a readable Parquet file: %w", path, err)
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("%s: row %d: %w", path, n+1, err)
		}
		n++
		if err := fn(formats.Record{File: path, Line: n, Offset: -1, Data: []byte(s)}, nil); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// firstRecord returns a file's first record, for detection.
func firstRecord(ctx context.Context, db *sql.DB, path string, lay layout) ([]byte, error) {
	if lay == layoutText {
		r, err := open(path)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		buf := make([]byte, 64<<10)
		n, _ := io.ReadFull(r, buf)
		return buf[:n], nil
	}
	var first []byte
	err := rowRecords(ctx, db, path, lay, func(rec formats.Record, perr error) error {
		if perr != nil || !json.Valid(rec.Data) {
			return nil // a bad first line: look at the next
		}
		first = rec.Data
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	return first, nil
}
