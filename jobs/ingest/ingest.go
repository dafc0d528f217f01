// Package ingest is the job behind `swelake ingest`: it reads task sets,
// trajectories and grading reports in every supported public format
// (package formats), quarantines what it cannot read with the reason and the
// raw bytes, skips rows already in the table, reports rows whose id is taken
// by different content, and commits the rest as one append.
package ingest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"hash"
	"io"
	"iter"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/swelake/swelake/jobs/ingest/formats"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/queries"
	"github.com/swelake/swelake/schemas"
)

// Config is the job's typed configuration.
type Config struct {
	Kind    formats.Kind    `json:"kind"`
	Format  string          `json:"format"` // a format name, or "auto"
	Paths   []string        `json:"paths"`
	Options formats.Options `json:"options"`
	// Strict makes any quarantined row or conflict an error (after the
	// commit: what was read is still ingested and quarantined).
	Strict bool `json:"strict"`
	Write  lake.WriteOptions
	// Workers decode records in parallel (default GOMAXPROCS).
	Workers int `json:"-"`
	// MaxRawQuarantine bounds the raw bytes kept per quarantined row (default 4 MiB).
	MaxRawQuarantine int `json:"-"`
	// MaxRecordBytes bounds one record — a line, an array element, a file
	// of a file-unit format — and so memory (default 64 MiB): a larger one
	// is quarantined with its file, line and offset, read past, never held.
	MaxRecordBytes int64            `json:"-"`
	Logger         *slog.Logger     `json:"-"`
	Clock          func() time.Time `json:"-"`
}

// Validate checks the config before any I/O.
func (c Config) Validate() error {
	switch c.Kind {
	case formats.Tasks, formats.Rollouts, formats.Reports:
	default:
		return fmt.Errorf("ingest: unknown kind %q (tasks, rollouts or reports)", c.Kind)
	}
	if c.Format == "" {
		return errors.New("ingest: no --format (a format name, or auto)")
	}
	if c.Format != "auto" {
		if _, err := formats.Lookup(c.Kind, c.Format); err != nil {
			return err
		}
	}
	if len(c.Paths) == 0 {
		return errors.New("ingest: no input paths")
	}
	return nil
}

// Summary counts what the job did. Nothing is dropped silently: every row
// decoded from the records read is ingested, a duplicate, or quarantined
// (conflicts included), and every record that decodes to no row is
// quarantined. Read counts records; the others count rows.
type Summary struct {
	Table       string         `json:"table"`
	Version     int64          `json:"version"` // the commit, or -1 if nothing new
	Files       int            `json:"files"`
	Read        int64          `json:"read"` // records read
	Ingested    int64          `json:"ingested"`
	Duplicates  int64          `json:"duplicates"`  // identical to a row already in the table (or earlier in the input)
	Conflicts   int64          `json:"conflicts"`   // same id, different content: quarantined, not overwritten
	Quarantined int64          `json:"quarantined"` // rows in quarantine (unreadable records and conflicts)
	Repaired    int64          `json:"repaired"`    // rows whose text had invalid UTF-8 (replaced with U+FFFD)
	Formats     map[string]int `json:"formats"`     // files per detected format
	Statuses    map[string]int `json:"statuses,omitempty"`
	Quarantine  int64          `json:"quarantine_version"` // the quarantine commit, or -1
	// RawStored counts the raw sources this ingest stored (rollouts: one
	// per input file the lake did not have; 0 on a re-ingest).
	RawStored int `json:"raw_sources_stored"`
	// Skipped lists files found by walking a directory that match no format
	// of this kind (named files that match none are an error).
	SkippedFiles []string `json:"skipped_files,omitempty"`
}

// ErrStrict: --strict and something was quarantined.
var ErrStrict = errors.New("rows were quarantined")

// Run ingests cfg.Paths into the lake.
func Run(ctx context.Context, l *lake.Lake, cfg Config) (Summary, error) {
	if err := cfg.Validate(); err != nil {
		return Summary{}, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.MaxRawQuarantine <= 0 {
		cfg.MaxRawQuarantine = 4 << 20
	}
	if cfg.MaxRecordBytes <= 0 {
		cfg.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if cfg.Write.RowGroupBytes == 0 {
		// Rows with long conversations: smaller row groups keep the rows
		// in flight (and peak memory) bounded well below a GiB.
		cfg.Write.RowGroupBytes = 32 << 20
	}
	// An ingest deduplicates against the snapshot it read; one that loses a
	// race to a concurrent commit adding the same keys starts again from the
	// newer snapshot (where those rows are duplicates).
	for attempt := 1; ; attempt++ {
		sum, err := runKind(ctx, l, cfg)
		if !errors.Is(err, lake.ErrConflict) || attempt >= maxConflictRetries {
			return sum, err
		}
		cfg.Logger.Info("ingest: rows with the same keys were committed concurrently; deciding again", "attempt", attempt, "err", err)
	}
}

// maxConflictRetries bounds the fresh starts of an ingest that keeps losing
// races on overlapping keys.
const maxConflictRetries = 8

func runKind(ctx context.Context, l *lake.Lake, cfg Config) (Summary, error) {
	switch cfg.Kind {
	case formats.Tasks:
		return run(ctx, l, cfg, schemas.Tasks, func(r formats.Rows) []schemas.Task { return r.Tasks },
			func(t *schemas.Task) (string, string) { return t.TaskID, t.ContentHash }, "task_id")
	case formats.Rollouts:
		return run(ctx, l, cfg, schemas.Rollouts, func(r formats.Rows) []schemas.Rollout { return r.Rollouts },
			func(t *schemas.Rollout) (string, string) { return t.RolloutID, t.ContentHash }, "rollout_id")
	}
	return run(ctx, l, cfg, schemas.Evaluations, func(r formats.Rows) []schemas.Evaluation { return r.Evaluations },
		func(e *schemas.Evaluation) (string, string) { return e.EvaluationID, e.ContentHash }, "evaluation_id")
}

// plan is one input: a file (or a directory of completions) and its format.
type plan struct {
	path    string
	format  *formats.Format
	layout  layout   // how the file's bytes are laid out (UnitRows)
	group   []string // UnitDir: the files of the directory
	archive bool     // a .tar.gz whose members are the records (archiveRecords)
}

// ingester is one ingest of rows of type T: what it read, decided and
// will commit.
type ingester[T any] struct {
	cfg    Config
	l      *lake.Lake
	def    schemas.Def[T]
	pick   func(formats.Rows) []T
	key    func(*T) (id, hash string)
	keyCol string
	sum    Summary
	job    string
	now    time.Time
	// known: what the table holds (id → content hash); seen: this input's.
	known, seen map[string]string
	// Run keys are hashes of what this ingest decided, so that the same
	// inputs commit once without being read an extra time to hash them: one
	// over the rows it ingests (for the table), one over the records it
	// quarantines (for quarantine; a re-run quarantines the same records
	// again, and that commit must be a no-op on its own).
	rowsKey, quarKey hash.Hash
	quarantine       []schemas.QuarantineRow
	raw              *rawSources // rollouts: where each row's source bytes are
}

func run[T any](ctx context.Context, l *lake.Lake, cfg Config, def schemas.Def[T],
	pick func(formats.Rows) []T, key func(*T) (id, hash string), keyCol string) (Summary, error) {
	in := &ingester[T]{cfg: cfg, l: l, def: def, pick: pick, key: key, keyCol: keyCol, job: "ingest-" + string(cfg.Kind), now: cfg.Clock().UTC(),
		sum:     Summary{Table: def.Name, Version: -1, Quarantine: -1, Formats: map[string]int{}, Statuses: map[string]int{}},
		rowsKey: sha256.New(), quarKey: sha256.New(), seen: map[string]string{}}
	tbl, err := l.Table(def.Name)
	if err != nil {
		return in.sum, err
	}
	if _, err := tbl.Latest(ctx); err != nil {
		return in.sum, fmt.Errorf("ingest into %s: %w (run swelake lake init)", def.Name, err)
	}
	files, err := expand(cfg.Paths)
	if err != nil {
		return in.sum, fmt.Errorf("ingest: %w", err)
	}
	if len(files) == 0 {
		return in.sum, fmt.Errorf("ingest: no input files under %v", cfg.Paths)
	}
	eng, err := queries.Open(ctx, queries.Options{Logger: cfg.Logger})
	if err != nil {
		return in.sum, err
	}
	defer eng.Close()
	plans, skipped, err := planInputs(ctx, eng.DB(), cfg, files)
	if err != nil {
		return in.sum, err
	}
	in.sum.SkippedFiles, in.sum.Files = skipped, len(files)
	var paths []string
	for _, p := range plans {
		in.sum.Formats[p.format.Name]++
		paths = append(paths, p.files()...)
	}
	if def.Name == schemas.Rollouts.Name {
		in.raw = startRaw(ctx, l, eng.DB(), plans, cfg.MaxRecordBytes)
		defer in.raw.close()
	}
	known, baseSnap, err := existing(ctx, l, eng, def.Name, keyCol)
	if err != nil {
		return in.sum, err
	}
	in.known = known
	for _, h := range []io.Writer{in.rowsKey, in.quarKey} {
		fmt.Fprintf(h, "%s\x00%s\x00%+v\x00", def.Name, cfg.Format, cfg.Options)
	}
	prov := lake.Provenance{Job: in.job, Inputs: append([]string{fmt.Sprintf("%s@%d", def.Name, baseSnap.Version)}, tables.FileRefs(paths)...)}
	if prov.ConfigHash, err = tables.ConfigHash(cfg); err != nil {
		return in.sum, err
	}
	written, err := lake.WriteFiles(ctx, tbl, tables.Spec(def), in.rows(ctx, eng.DB(), plans), cfg.Write)
	if err != nil {
		return in.sum, fmt.Errorf("ingest into %s: %w", def.Name, err)
	}
	if in.raw != nil {
		// Every source the rows point at is stored before they commit.
		if err := in.raw.wait(); err != nil {
			return in.sum, fmt.Errorf("ingest into %s: %w", def.Name, err)
		}
		in.sum.RawStored = int(in.raw.stored.Load())
	}
	return in.commit(ctx, tbl, baseSnap, eng, written, prov)
}

// rows decodes the plans in order and yields the rows to ingest, counting
// and quarantining the rest.
func (in *ingester[T]) rows(ctx context.Context, db *sql.DB, plans []plan) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		for b := range decodeParallel(ctx, db, plans, in.cfg.Options, in.cfg.Workers, in.cfg.MaxRecordBytes) {
			if b.err != nil {
				var zero T
				yield(zero, b.err)
				return
			}
			for i := range b.items {
				if !in.item(ctx, &b.items[i], yield) {
					return
				}
			}
		}
	}
}

// item decides one decoded record's rows: ingested (yielded), duplicates,
// conflicts or quarantined. It reports whether to go on.
func (in *ingester[T]) item(ctx context.Context, it *item, yield func(T, error) bool) bool {
	in.sum.Read++
	var ref schemas.RawRef
	if in.raw != nil {
		var err error
		if ref, err = in.raw.ref(ctx, &it.rec); err != nil {
			var zero T
			yield(zero, err)
			return false
		}
	}
	if it.err != nil {
		in.addQuarantine(it.rec, it.err.Error())
		return true
	}
	out := in.pick(it.rows)
	if len(out) == 0 && it.rows.Len() == 0 {
		in.addQuarantine(it.rec, it.format.Name+": no rows in the record")
		return true
	}
	for i := range out {
		if ro, ok := any(&out[i]).(*schemas.Rollout); ok && in.raw != nil {
			ro.RawRef = ref
		}
		id, hash := in.key(&out[i])
		if err := in.def.Validate(&out[i]); err != nil {
			in.addQuarantine(it.rec, fmt.Sprintf("%s: %s %q: %v", it.format.Name, in.keyCol, id, err))
			continue
		}
		prev, inTable := in.known[id]
		if !inTable {
			prev, inTable = in.seen[id]
		}
		switch {
		case inTable && prev == hash:
			in.sum.Duplicates++
			continue
		case inTable:
			in.sum.Conflicts++
			in.addQuarantine(it.rec, fmt.Sprintf("conflict: %s %q is already in %s with other content (content_hash %.12s, this row %.12s); not overwritten",
				in.keyCol, id, in.def.Name, prev, hash))
			continue
		}
		in.seen[id] = hash
		fmt.Fprintf(in.rowsKey, "%s\x00%s\x00", id, hash)
		if it.repaired {
			in.sum.Repaired++
		}
		if ev, ok := any(&out[i]).(*schemas.Evaluation); ok {
			in.sum.Statuses[ev.Status]++
		}
		in.sum.Ingested++
		if !yield(out[i], nil) {
			return false
		}
	}
	return true
}

func (in *ingester[T]) addQuarantine(rec formats.Record, reason string) {
	raw := rec.Data
	if len(raw) > in.cfg.MaxRawQuarantine {
		reason += fmt.Sprintf(" (raw bytes cut to %d of %d)", in.cfg.MaxRawQuarantine, len(raw))
		raw = raw[:in.cfg.MaxRawQuarantine]
	}
	fmt.Fprintf(in.quarKey, "%s\x00%d\x00%d\x00%s\x00%d\x00", rec.File, rec.Line, rec.Offset, reason, len(raw))
	in.quarKey.Write(raw)
	in.quarantine = append(in.quarantine, schemas.QuarantineRow{Job: in.job, SourceFile: rec.File,
		Line: rec.Line, Offset: rec.Offset, Reason: reason, Raw: append([]byte(nil), raw...), Time: in.now})
	in.sum.Quarantined++
}

// commit commits the rows (checked against concurrent commits of the same
// keys) and then the quarantined records, each under its own run key.
func (in *ingester[T]) commit(ctx context.Context, tbl *lake.Table, base *lake.Snapshot, eng *queries.Engine, written lake.Files, prov lake.Provenance) (Summary, error) {
	sum := &in.sum
	prov.RunKey = in.job + ":" + hex.EncodeToString(in.rowsKey.Sum(nil))[:32]
	quarRunKey := in.job + ":quarantine:" + hex.EncodeToString(in.quarKey.Sum(nil))[:32]
	for i := range in.quarantine {
		in.quarantine[i].RunKey = quarRunKey
	}
	if len(written.Files) > 0 {
		res, err := tbl.AppendChecked(ctx, base, written, prov, keyCheck(in.l, eng, in.def.Name, in.keyCol, in.seen))
		if err != nil {
			return *sum, err
		}
		sum.Version = res.Commit.Version
	}
	if len(in.quarantine) > 0 {
		qt, err := in.l.Table(schemas.Quarantine.Name)
		if err != nil {
			return *sum, err
		}
		qopts := in.cfg.Write
		qopts.OnDuplicate = lake.SkipDuplicates // a row quarantined before stays quarantined once
		qfiles, err := lake.WriteFiles(ctx, qt, tables.Spec(schemas.Quarantine), lake.Slice(in.quarantine), qopts)
		if err != nil {
			return *sum, fmt.Errorf("write quarantine: %w", err)
		}
		qprov := prov
		qprov.RunKey = quarRunKey
		res, err := qt.Append(ctx, qfiles, qprov)
		if err != nil {
			return *sum, err
		}
		sum.Quarantine = res.Commit.Version
	}
	if in.cfg.Strict && sum.Quarantined > 0 {
		return *sum, fmt.Errorf("ingest into %s: %d row(s) quarantined (%d conflicts); see swelake sql \"SELECT source_file, line, reason FROM quarantine WHERE run_key = '%s'\": %w",
			in.def.Name, sum.Quarantined, sum.Conflicts, quarRunKey, ErrStrict)
	}
	return *sum, nil
}

func validUTF8(rec *formats.Record) bool {
	if !utf8.Valid(rec.Data) {
		return false
	}
	for i := range rec.Group {
		if !utf8.Valid(rec.Group[i].Data) {
			return false
		}
	}
	return true
}

// existing reads id → content_hash of the table's latest snapshot.
func existing(ctx context.Context, l *lake.Lake, eng *queries.Engine, table, keyCol string) (map[string]string, *lake.Snapshot, error) {
	t, err := l.Table(table)
	if err != nil {
		return nil, nil, err
	}
	s, err := t.Snapshot(ctx, lake.Latest)
	if err != nil {
		return nil, nil, err
	}
	known := map[string]string{}
	if len(s.Files) == 0 {
		return known, s, nil
	}
	if err := eng.AddSnapshot(ctx, l, s, tables.ParquetSchema(table)); err != nil {
		return nil, nil, err
	}
	rows, err := eng.DB().QueryContext(ctx, fmt.Sprintf(`SELECT %s, content_hash FROM "%s"`, keyCol, table))
	if err != nil {
		return nil, nil, fmt.Errorf("read %s ids: %w", s.Ref(), err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, hash string
		if err := rows.Scan(&id, &hash); err != nil {
			return nil, nil, err
		}
		known[id] = hash
	}
	return known, s, rows.Err()
}

// keyCheck refuses to append after a concurrent commit that added a row
// whose key this ingest adds too: the ingest deduplicated against an older
// snapshot and must decide again.
func keyCheck(l *lake.Lake, eng *queries.Engine, table, keyCol string, ours map[string]string) lake.CheckFunc {
	return func(ctx context.Context, other *lake.Commit) error {
		if len(other.Added) == 0 {
			return nil
		}
		local, err := eng.Paths(ctx, l, table, other.Added)
		if err != nil {
			return err
		}
		paths, err := queries.Literal(local)
		if err != nil {
			return err
		}
		rows, err := eng.DB().QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM read_parquet(%s)`, keyCol, paths))
		if err != nil {
			return fmt.Errorf("read the keys %s@%d added: %w", table, other.Version, err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			if _, ok := ours[id]; ok {
				return &lake.ConflictError{Table: table, Version: other.Version,
					Reason: fmt.Sprintf("%s %q was appended concurrently (run key %q)", keyCol, id, other.Provenance.RunKey)}
			}
		}
		return rows.Err()
	}
}

// planInputs picks each file's format: the one given, or detected from its
// first record. Files of a directory-unit format are grouped by directory.
// A walked file that matches no format is skipped (and listed); a named one
// is an error.
func planInputs(ctx context.Context, db *sql.DB, cfg Config, files []input) ([]plan, []string, error) {
	var given *formats.Format
	if cfg.Format != "auto" {
		given, _ = formats.Lookup(cfg.Kind, cfg.Format)
	}
	var plans []plan
	var skipped []string
	groups := map[string]int{} // dir → index in plans
	for _, in := range files {
		f := in.path
		if isArchive(f) {
			p, err := planArchive(ctx, cfg, given, in)
			if err != nil {
				return nil, nil, err
			}
			if p == nil {
				skipped = append(skipped, f)
				continue
			}
			plans = append(plans, *p)
			continue
		}
		lay, err := layoutOf(f)
		if err != nil {
			return nil, nil, err
		}
		first, err := firstRecord(ctx, db, f, lay, cfg.MaxRecordBytes)
		if err != nil {
			if in.walked {
				skipped = append(skipped, f+": "+err.Error())
				continue
			}
			return nil, nil, err
		}
		if len(first) == 0 && !in.walked {
			if st, err := os.Stat(f); err == nil && st.Size() == 0 {
				return nil, nil, fmt.Errorf("%s: the file is empty: nothing to ingest", f)
			}
		}
		probe := formats.NewProbe(filepath.Base(plainName(f)), first)
		format, err := pickFormat(cfg.Kind, given, probe, len(first) > 0)
		if err != nil {
			if in.walked {
				// A near miss says why; a file of no format is only named.
				if errors.Is(err, formats.ErrPartial) || errors.Is(err, formats.ErrAmbiguous) || given != nil {
					f += ": " + err.Error()
				}
				skipped = append(skipped, f)
				continue
			}
			return nil, nil, fmt.Errorf("%s: %w", f, err)
		}
		if format.Unit == formats.UnitDir {
			dir := format.GroupDir(f)
			if i, ok := groups[dir]; ok {
				plans[i].group = append(plans[i].group, f)
				continue
			}
			groups[dir] = len(plans)
			group := []string{f}
			for _, c := range format.Companions() {
				if p := filepath.Join(dir, c); p != f {
					if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
						group = append(group, p)
					}
				}
			}
			plans = append(plans, plan{path: dir, format: format, group: group})
			continue
		}
		plans = append(plans, plan{path: f, format: format, layout: lay})
	}
	if err := checkShards(files); err != nil {
		return nil, nil, err
	}
	if len(plans) == 0 {
		return nil, nil, fmt.Errorf("ingest: no input in a known %s format (skipped: %s)", cfg.Kind, strings.Join(skipped, ", "))
	}
	return plans, skipped, nil
}

// pickFormat is the format of a file: the one given — held to its
// signature, so that a file of another layout is refused rather than
// read thin — or the one detection scores best.
func pickFormat(kind formats.Kind, given *formats.Format, probe *formats.Probe, hasRecord bool) (*formats.Format, error) {
	if given == nil {
		return formats.Detect(kind, probe)
	}
	// (A file with no readable record is not checked: its records are
	// quarantined with their reasons.)
	if !hasRecord || given.Fits(probe) {
		return given, nil
	}
	why := given.Misfit(probe)
	if other, err := formats.Detect(kind, probe); err == nil {
		return nil, fmt.Errorf("not %s (%s); it looks like %s (--format %s)", given.Name, why, other.Name, other.Name)
	}
	return nil, fmt.Errorf("not %s (%s)", given.Name, why)
}

// planArchive plans a .tar.gz: its format from its first JSON member (nil:
// a walked archive of no known format).
func planArchive(ctx context.Context, cfg Config, given *formats.Format, in input) (*plan, error) {
	name, first, err := firstArchiveRecord(ctx, in.path, cfg.MaxRecordBytes)
	if err != nil {
		return nil, err
	}
	if first == nil {
		if in.walked {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: no JSON member in the archive", in.path)
	}
	format, err := pickFormat(cfg.Kind, given, formats.NewProbe(path.Base(name), first), true)
	if err != nil {
		if in.walked {
			return nil, nil
		}
		return nil, fmt.Errorf("%s (member %s): %w", in.path, name, err)
	}
	if format.Unit == formats.UnitRows {
		return nil, fmt.Errorf("%s: an archive of %s files (rows): extract it and ingest the files", in.path, format.Name)
	}
	return &plan{path: in.path, format: format, archive: true}, nil
}

// shardName is a Hugging Face split shard: <split>-00001-of-00004.parquet.
var shardName = regexp.MustCompile(`^(.+)-(\d{5})-of-(\d{5})\.(parquet|jsonl|json)$`)

// checkShards refuses a directory walk that found part of a split's
// shards (a download that stopped): every shard of <split>-NNNNN-of-MMMMM
// must be there. Files named one by one are taken as named.
func checkShards(files []input) error {
	type split struct {
		dir, name string
		of        int
	}
	have := map[split]map[int]bool{}
	for _, in := range files {
		if !in.walked {
			continue
		}
		m := shardName.FindStringSubmatch(filepath.Base(plainName(in.path)))
		if m == nil {
			continue
		}
		i, _ := strconv.Atoi(m[2])
		n, _ := strconv.Atoi(m[3])
		k := split{filepath.Dir(in.path), m[1], n}
		if have[k] == nil {
			have[k] = map[int]bool{}
		}
		have[k][i] = true
	}
	for k, idx := range have {
		var missing []string
		for i := range k.of {
			if !idx[i] {
				missing = append(missing, fmt.Sprintf("%05d", i))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%s: split %s has %d of its %d shards (missing %s): a partial download? name the shards to ingest only those",
				k.dir, k.name, len(idx), k.of, strings.Join(missing, ", "))
		}
	}
	return nil
}

func (p plan) files() []string {
	if p.group != nil {
		return p.group
	}
	return []string{p.path}
}

// records yields the records of one planned input, none larger than
// limit (ErrRecordTooLarge, passed with the record's first bytes).
func records(ctx context.Context, db *sql.DB, p plan, limit int64, fn func(formats.Record, error) error) error {
	if p.archive {
		return archiveRecords(ctx, p, limit, fn)
	}
	switch p.format.Unit {
	case formats.UnitDir:
		rec := formats.Record{File: p.path, Offset: -1}
		var total int64
		for _, f := range p.group {
			data, err := readFile(f, limit-total)
			if errors.Is(err, ErrRecordTooLarge) {
				return fn(formats.Record{File: f, Offset: 0, Data: data}, fmt.Errorf("directory %s: %w", p.path, err))
			}
			if err != nil {
				return err
			}
			total += int64(len(data))
			rec.Group = append(rec.Group, formats.Record{File: f, Offset: 0, Data: data})
		}
		slices.SortFunc(rec.Group, func(a, b formats.Record) int { return strings.Compare(a.File, b.File) })
		return fn(rec, nil)
	case formats.UnitFile:
		data, err := readFile(p.path, limit)
		if errors.Is(err, ErrRecordTooLarge) {
			return fn(formats.Record{File: p.path, Offset: 0, Data: data}, err)
		}
		if err != nil {
			return err
		}
		return fn(formats.Record{File: p.path, Offset: 0, Data: data}, nil)
	}
	return rowRecords(ctx, db, p.path, p.layout, limit, fn)
}
