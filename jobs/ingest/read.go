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
	"unicode"

	"github.com/swelake/swelake/jobs/ingest/formats"
)

// inputExts are the file names ingest reads when it walks a directory.
var inputExts = []string{".json", ".jsonl", ".ndjson", ".parquet", ".traj", ".log", ".txt", ".gz", ".tgz", ".zst"}

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
	r, err := Decompress(path, f)
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

// ErrRecordTooLarge: a record is larger than Config.MaxRecordBytes. It is
// quarantined with its file, line and offset and the first bytes only; the
// rest is read past, never held.
var ErrRecordTooLarge = errors.New("record exceeds the maximum record size")

// DefaultMaxRecordBytes bounds one record (a line, an array element, a
// file of a file-unit format) when Config.MaxRecordBytes is 0.
const DefaultMaxRecordBytes = 64 << 20

// keepPrefix is how much of an oversize record is kept for the quarantine.
const keepPrefix = 64 << 10

// prefix copies the first keepPrefix bytes (the copy lets the rest go).
func prefix(b []byte) []byte {
	return append([]byte(nil), b[:min(len(b), keepPrefix)]...)
}

func tooLarge(size, limit int64, complete bool) error {
	at := "at least "
	if complete {
		at = ""
	}
	return fmt.Errorf("%w: %s%d bytes, the maximum is %d (--max-record-size); the first %d bytes are kept", ErrRecordTooLarge, at, size, limit, min(size, keepPrefix))
}

// rowRecords calls fn with each record of a file split by rows. A line that
// is not JSON is passed with ok=false so that it can be quarantined; a JSON
// document that cannot be parsed at all is an error for the whole file.
func rowRecords(ctx context.Context, db *sql.DB, path string, lay layout, limit int64, fn func(rec formats.Record, parseErr error) error) error {
	switch lay {
	case layoutParquet:
		return parquetRecords(ctx, db, path, limit, fn)
	case layoutText:
		data, err := readFile(path, limit)
		if errors.Is(err, ErrRecordTooLarge) {
			return fn(formats.Record{File: path, Offset: 0, Data: data}, err)
		}
		if err != nil {
			return err
		}
		return fn(formats.Record{File: path, Offset: 0, Data: data}, nil)
	case layoutJSONL:
		return jsonlRecords(ctx, path, limit, fn)
	}
	return jsonRecords(ctx, path, limit, fn)
}

// readFile reads a whole (decompressed) file of at most limit bytes. A
// larger one returns its first bytes and ErrRecordTooLarge, having read no
// further than limit+1 bytes: a small archive that expands without end
// costs nothing.
func readFile(path string, limit int64) ([]byte, error) {
	r, err := open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return prefix(data), tooLarge(int64(len(data)), limit, false)
	}
	return data, nil
}

func jsonlRecords(ctx context.Context, path string, limit int64, fn func(formats.Record, error) error) error {
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
		// One line, read in buffer-sized chunks: at most limit bytes are
		// kept; past that only a prefix, and the rest is skipped.
		var data []byte
		var size int64
		var rerr error
		for {
			chunk, err := br.ReadSlice('\n')
			over := size > limit
			size += int64(len(chunk))
			switch {
			case size <= limit:
				data = append(data, chunk...)
			case !over: // this chunk crosses the limit: keep a prefix only
				data = prefix(append(data, chunk[:min(len(chunk), keepPrefix)]...))
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			rerr = err
			break
		}
		if size > 0 {
			line++
			start := offset
			offset += size
			if size > limit {
				if ferr := fn(formats.Record{File: path, Line: line, Offset: start, Data: data}, tooLarge(size, limit, true)); ferr != nil {
					return ferr
				}
			} else if t := bytes.TrimSpace(data); len(t) > 0 {
				// Lines are not validated here: the decoder parses them
				// anyway, and one that does not parse is quarantined with its
				// error. The offset is the record's first byte (a raw
				// source's rows point at exactly their bytes).
				lead := int64(len(data) - len(bytes.TrimLeftFunc(data, unicode.IsSpace)))
				if ferr := fn(formats.Record{File: path, Line: line, Offset: start + lead, Data: t}, nil); ferr != nil {
					return ferr
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("read %s: %w", path, rerr)
		}
	}
}

// jsonRecords streams the elements of a top-level array, or successive
// top-level values (one object, or concatenated objects), each bounded by
// limit: a larger one is passed with ErrRecordTooLarge and its first bytes,
// and scanned past without being held.
func jsonRecords(ctx context.Context, path string, limit int64, fn func(formats.Record, error) error) error {
	r, err := open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	sc := &jsonScanner{br: bufio.NewReaderSize(r, 4<<20), limit: limit}
	array := false
	if c, err := sc.skipSpace(); err == nil && c == '[' {
		array = true
		sc.br.ReadByte()
		sc.off++
	}
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := sc.skipSpace()
		if err == io.EOF && !array {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: invalid JSON near byte %d: unexpected end of input", path, sc.off)
		}
		if array {
			if c == ']' {
				return nil
			}
			if n > 0 {
				if c != ',' {
					return fmt.Errorf("%s: invalid JSON near byte %d: want , or ] between elements, got %q", path, sc.off, c)
				}
				sc.br.ReadByte()
				sc.off++
				if _, err := sc.skipSpace(); err != nil {
					return fmt.Errorf("%s: invalid JSON near byte %d: unexpected end of input", path, sc.off)
				}
			}
		}
		start := sc.off
		data, size, err := sc.value()
		if err != nil {
			return fmt.Errorf("%s: invalid JSON near byte %d: %w", path, sc.off, err)
		}
		var rerr error
		if size > limit {
			rerr = tooLarge(size, limit, true)
		}
		if err := fn(formats.Record{File: path, Offset: start, Data: data}, rerr); err != nil {
			return err
		}
	}
}

// jsonScanner finds the extent of JSON values in a stream without holding
// more than limit bytes of one: it tracks strings, escapes and nesting, and
// leaves checking the value itself to the decoder.
type jsonScanner struct {
	br    *bufio.Reader
	off   int64
	limit int64
}

// skipSpace skips white space (and a byte-order mark) and peeks at the next byte.
func (s *jsonScanner) skipSpace() (byte, error) {
	for {
		b, err := s.br.Peek(1)
		if err != nil {
			return 0, err
		}
		switch c := b[0]; c {
		case ' ', '\t', '\r', '\n':
			s.br.ReadByte()
			s.off++
		case 0xef, 0xbb, 0xbf:
			if s.off < 3 {
				s.br.ReadByte()
				s.off++
				continue
			}
			return c, nil
		default:
			return c, nil
		}
	}
}

// value reads one value: its bytes (all of them up to limit, else the
// first keepPrefix) and its size.
func (s *jsonScanner) value() ([]byte, int64, error) {
	var data []byte
	var size int64
	keep := func(c byte) {
		size++
		switch {
		case size <= s.limit:
			data = append(data, c)
		case size == s.limit+1: // over the limit: only a prefix stays
			data = prefix(data)
		}
	}
	depth, inString, escaped := 0, false, false
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			if err == io.EOF && depth == 0 && !inString && size > 0 {
				return data, size, nil // a scalar at the end of the input
			}
			if err == io.EOF {
				return nil, 0, errors.New("unexpected end of input")
			}
			return nil, 0, err
		}
		if depth == 0 && !inString && size > 0 {
			// A scalar ends at the first delimiter, which is not its own.
			if strings.IndexByte(" \t\r\n,]}[{", c) >= 0 {
				s.br.UnreadByte()
				return data, size, nil
			}
		}
		s.off++
		keep(c)
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
				if depth == 0 {
					return data, size, nil
				}
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth < 0 {
				return nil, 0, fmt.Errorf("unexpected %q", c)
			}
			if depth == 0 {
				return data, size, nil
			}
		}
	}
}

// parquetRecords reads a Parquet file's rows as JSON objects through DuckDB,
// which reads every Parquet type, NULL-typed columns included.
func parquetRecords(ctx context.Context, db *sql.DB, path string, limit int64, fn func(formats.Record, error) error) error {
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
		if int64(len(s)) > limit {
			if err := fn(formats.Record{File: path, Line: n, Offset: -1, Data: prefix([]byte(s))}, tooLarge(int64(len(s)), limit, true)); err != nil {
				return err
			}
			continue
		}
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
func firstRecord(ctx context.Context, db *sql.DB, path string, lay layout, limit int64) ([]byte, error) {
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
	err := rowRecords(ctx, db, path, lay, limit, func(rec formats.Record, perr error) error {
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
