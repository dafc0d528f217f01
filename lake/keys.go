package lake

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/swelake/swelake/internal/parquetfile"
)

// Keys: a table with key columns (RowSpec.Key) holds each key once. A write
// reads the keys of the snapshot it appends to and refuses (or, asked to,
// skips) rows whose keys the table already holds or that repeat within the
// write; the commit checks the keys of every commit that landed after that
// snapshot, and a concurrent append of the same keys is a ConflictError the
// writer retries from the newer snapshot (see docs/lake.md, "Keys").

// OnDuplicate says what a write does with a row whose key the table (or
// the write) already holds.
type OnDuplicate int

const (
	// RefuseDuplicates fails the write with a *DuplicateKeyError: nothing
	// is committed.
	RefuseDuplicates OnDuplicate = iota
	// SkipDuplicates leaves such rows out; WriteStats counts them.
	SkipDuplicates
)

// ParseOnDuplicate reads "refuse" or "skip".
func ParseOnDuplicate(s string) (OnDuplicate, error) {
	switch s {
	case "", "refuse":
		return RefuseDuplicates, nil
	case "skip":
		return SkipDuplicates, nil
	}
	return 0, fmt.Errorf("on-duplicate %q: want refuse or skip", s)
}

func (m OnDuplicate) String() string {
	if m == SkipDuplicates {
		return "skip"
	}
	return "refuse"
}

// ErrDuplicateKey: rows of a write have keys the table already holds.
var ErrDuplicateKey = errors.New("duplicate key")

// DuplicateKeyError names the first duplicate key of a refused write.
type DuplicateKeyError struct {
	Table   string
	Columns []string
	Key     []string // the first duplicate's values, one per column
	Version int64    // the table version that holds it; -1: repeated within the write
}

func (e *DuplicateKeyError) Error() string {
	pairs := make([]string, len(e.Columns))
	for i, c := range e.Columns {
		pairs[i] = c + " " + strconv.Quote(e.Key[i])
	}
	where := fmt.Sprintf("is already in %s@%d", e.Table, e.Version)
	if e.Version < 0 {
		where = "appears twice in the rows being written"
	}
	return fmt.Sprintf("write %s: %v: %s %s; nothing was committed (--on-duplicate skip appends only the rows with new keys)",
		e.Table, ErrDuplicateKey, strings.Join(pairs, ", "), where)
}

func (e *DuplicateKeyError) Is(target error) bool { return target == ErrDuplicateKey }

// keyHash identifies a key: 128 bits of the sha256 of its values.
type keyHash [16]byte

func hashKey(vals []string) keyHash {
	h := sha256.New()
	for _, v := range vals {
		fmt.Fprintf(h, "%d:%s", len(v), v)
	}
	var k keyHash
	copy(k[:], h.Sum(nil))
	return k
}

// keyIndex is where a table's key columns sit, in rows of type T and in
// its Parquet files.
type keyIndex struct {
	columns []string
	fields  [][]int // struct field index per column
}

func newKeyIndex[T any](columns []string) (*keyIndex, error) {
	if len(columns) == 0 {
		return nil, nil
	}
	typ := reflect.TypeFor[T]()
	ki := &keyIndex{columns: columns}
	for _, col := range columns {
		f, ok := fieldByParquetName(typ, col)
		if !ok {
			return nil, fmt.Errorf("key column %q is not a field of %s", col, typ)
		}
		switch f.Type.Kind() {
		case reflect.String, reflect.Int, reflect.Int32, reflect.Int64, reflect.Bool:
		default:
			return nil, fmt.Errorf("key column %q of %s is a %s: keys are strings, integers or booleans", col, typ, f.Type)
		}
		ki.fields = append(ki.fields, f.Index)
	}
	return ki, nil
}

func fieldByParquetName(typ reflect.Type, name string) (reflect.StructField, bool) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("parquet"), ",")
		if tag == name || (tag == "" && f.Name == name) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// of returns a row's key values, formatted as parquet.Value.String formats
// the same column read back from a file.
func (ki *keyIndex) of(row any) []string {
	v := reflect.ValueOf(row).Elem()
	out := make([]string, len(ki.fields))
	for i, idx := range ki.fields {
		f := v.FieldByIndex(idx)
		switch f.Kind() {
		case reflect.String:
			out[i] = f.String()
		case reflect.Bool:
			out[i] = strconv.FormatBool(f.Bool())
		default:
			out[i] = strconv.FormatInt(f.Int(), 10)
		}
	}
	return out
}

// fileKeys reads the key columns of one data file (only those columns).
func fileKeys(path string, columns []string, fn func(vals []string) error) error {
	pf, fh, err := parquetfile.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	idx := make([]int, len(columns))
	for i, col := range columns {
		leaf, ok := pf.Schema().Lookup(col)
		if !ok {
			return fmt.Errorf("key column %q is missing", col)
		}
		idx[i] = leaf.ColumnIndex
	}
	for _, rg := range pf.RowGroups() {
		n := int(rg.NumRows())
		cols := make([][]string, len(columns))
		for i, ci := range idx {
			vals, err := columnStrings(rg.ColumnChunks()[ci], n)
			if err != nil {
				return fmt.Errorf("key column %q: %w", columns[i], err)
			}
			cols[i] = vals
		}
		row := make([]string, len(columns))
		for r := range n {
			for i := range cols {
				row[i] = cols[i][r]
			}
			if err := fn(row); err != nil {
				return err
			}
		}
	}
	return nil
}

func columnStrings(cc parquet.ColumnChunk, n int) ([]string, error) {
	out := make([]string, 0, n)
	pages := cc.Pages()
	defer pages.Close()
	buf := make([]parquet.Value, 1024)
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		r := p.Values()
		for {
			k, err := r.ReadValues(buf)
			for _, v := range buf[:k] {
				out = append(out, v.String())
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				parquet.Release(p)
				return nil, err
			}
		}
		parquet.Release(p)
	}
	if len(out) != n {
		return nil, fmt.Errorf("%d values for %d rows (a key column is never null or repeated)", len(out), n)
	}
	return out, nil
}

// snapshotKeys reads the keys of every file of a snapshot.
func (t *Table) snapshotKeys(ctx context.Context, s *Snapshot, columns []string) (map[keyHash]struct{}, error) {
	ks := map[keyHash]struct{}{}
	for _, f := range s.Files {
		if err := t.eachKey(ctx, f, columns, func(vals []string) error {
			ks[hashKey(vals)] = struct{}{}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return ks, nil
}

func (t *Table) eachKey(ctx context.Context, f File, columns []string, fn func([]string) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path, err := t.lake.LocalPath(ctx, t.name, f)
	if err != nil {
		return fmt.Errorf("read the keys of %s file %s: %w", t.name, f.Path, err)
	}
	var fnErr error // fn's own error (a conflict) is not a read error
	err = fileKeys(path, columns, func(vals []string) error {
		fnErr = fn(vals)
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("read the keys of %s file %s: %w", t.name, f.Path, err)
	}
	return nil
}

// keyCheck refuses a commit landing after one that added any of its keys:
// the writer decided against an older snapshot and writes again.
func (t *Table) keyCheck(keys *writtenKeys) CheckFunc {
	return func(ctx context.Context, other *Commit) error {
		for _, f := range other.Added {
			err := t.eachKey(ctx, f, keys.columns, func(vals []string) error {
				if _, ok := keys.hashes[hashKey(vals)]; ok {
					return &ConflictError{Table: t.name, Version: other.Version,
						Reason: fmt.Sprintf("it added %s %q, which this append adds too", strings.Join(keys.columns, ","), strings.Join(vals, ",")) +
							" (write again from the newer snapshot)"}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
}

// writtenKeys are the keys of the rows a write produced and the snapshot
// it checked them against.
type writtenKeys struct {
	columns []string
	base    int64
	hashes  map[keyHash]struct{}
}

// Duplicates is what DuplicateKeys found: rows whose key an earlier row of
// the snapshot (in commit order) holds.
type Duplicates struct {
	Columns    []string    `json:"columns"`
	Rows       int64       `json:"rows"` // rows to drop: later copies
	Keys       int64       `json:"keys"` // distinct keys held more than once
	First      []string    `json:"first,omitempty"`
	Partitions []Partition `json:"partitions,omitempty"` // where the later copies are
}

// DuplicateKeys scans a snapshot's key columns (only those) for keys held
// more than once — tables written before keys were enforced, or by another
// tool. Memory: 16 bytes per row.
func (t *Table) DuplicateKeys(ctx context.Context, s *Snapshot, columns []string) (Duplicates, error) {
	d, _, err := t.duplicates(ctx, s, columns)
	return d, err
}

func (t *Table) duplicates(ctx context.Context, s *Snapshot, columns []string) (Duplicates, []File, error) {
	d := Duplicates{Columns: columns}
	ordered, err := t.commitOrder(ctx, s)
	if err != nil {
		return d, nil, err
	}
	seen := map[keyHash]bool{} // → repeated
	parts := map[string]Partition{}
	for _, f := range ordered {
		err := t.eachKey(ctx, f, columns, func(vals []string) error {
			h := hashKey(vals)
			repeated, ok := seen[h]
			if !ok {
				seen[h] = false
				return nil
			}
			d.Rows++
			if !repeated {
				d.Keys++
				seen[h] = true
			}
			if d.First == nil {
				d.First = slices.Clone(vals)
			}
			parts[f.Partition.String()] = f.Partition
			return nil
		})
		if err != nil {
			return d, nil, err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(parts)) {
		d.Partitions = append(d.Partitions, parts[k])
	}
	return d, ordered, nil
}

// commitOrder is a snapshot's files in the order their commits landed
// (then by path): the order "first" means for duplicate keys.
func (t *Table) commitOrder(ctx context.Context, s *Snapshot) ([]File, error) {
	version := map[string]int64{}
	if s.Version >= 1 {
		all, err := t.lake.commits(ctx, t.name, 1, s.Version)
		if err != nil {
			return nil, fmt.Errorf("read the log of %s: %w", t.name, err)
		}
		for _, c := range all {
			for _, f := range c.Added {
				version[f.Path] = c.Version
			}
		}
	}
	out := slices.Clone(s.Files)
	slices.SortStableFunc(out, func(a, b File) int {
		return cmp.Or(cmp.Compare(version[a.Path], version[b.Path]), strings.Compare(a.Path, b.Path))
	})
	return out, nil
}

// DedupeResult is what Dedupe did (or, dry, would do).
type DedupeResult struct {
	Table      string     `json:"table"`
	Before     Duplicates `json:"duplicates"`
	Version    int64      `json:"version"` // the commit that removed them (-1: none)
	RowsBefore int64      `json:"rows_before"`
	RowsAfter  int64      `json:"rows_after"`
}

// Dedupe keeps the first row (in commit order) of every key and drops the
// later copies: it rewrites the partitions holding later copies, their
// rows in commit order, as one overwrite commit (a concurrent overwrite of
// those partitions is a ConflictError; appends landing meanwhile are kept
// and checked against the rewritten keys on their own commit).
func Dedupe[T any](ctx context.Context, t *Table, spec RowSpec[T], opts WriteOptions, prov Provenance, dryRun bool) (DedupeResult, error) {
	s, err := t.Snapshot(ctx, Latest)
	if err != nil {
		return DedupeResult{}, err
	}
	res := DedupeResult{Table: t.name, Version: -1, RowsBefore: s.Rows(), RowsAfter: s.Rows()}
	if len(spec.Key) == 0 {
		return res, fmt.Errorf("dedupe %s: the table has no key columns", t.name)
	}
	d, ordered, err := t.duplicates(ctx, s, spec.Key)
	if err != nil {
		return res, fmt.Errorf("dedupe %s: %w", t.name, err)
	}
	res.Before = d
	res.RowsAfter = s.Rows() - d.Rows
	if d.Rows == 0 || dryRun {
		return res, nil
	}
	inParts := map[string]bool{}
	for _, p := range d.Partitions {
		inParts[p.String()] = true
	}
	rows := func(yield func(T, error) bool) {
		for _, f := range ordered {
			if !inParts[f.Partition.String()] {
				continue
			}
			for row, err := range ReadFileRows[T](ctx, t.lake, s, f) {
				if !yield(row, err) || err != nil {
					return
				}
			}
		}
	}
	opts.OnDuplicate, opts.Overwrite = SkipDuplicates, d.Partitions
	files, err := WriteFiles(ctx, t, spec, rows, opts)
	if err != nil {
		return res, fmt.Errorf("dedupe %s: %w", t.name, err)
	}
	c, err := t.OverwritePartitions(ctx, s, d.Partitions, files, prov)
	if err != nil {
		t.deleteFiles(files.Files)
		return res, fmt.Errorf("dedupe %s: %w", t.name, err)
	}
	res.Version = c.Commit.Version
	res.RowsAfter = c.Commit.Summary.TotalRows
	return res, nil
}
