package lake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/swelake/swelake/lake/objstore"
)

// Result is the outcome of a commit.
type Result struct {
	Commit *Commit
	// AlreadyCommitted: the run key had been committed before (by this or
	// another writer); Commit is that earlier commit and nothing was written.
	AlreadyCommitted bool
	// Empty: there was nothing to commit (AppendKeyed with no rows); Commit
	// is the table's latest.
	Empty bool
}

// Files is what a writer produced: data files already in storage, not yet
// visible, and the schema they were written with.
type Files struct {
	Files             []File
	SchemaFingerprint string
	// Skipped counts the rows left out because the table held their keys
	// (WriteOptions.OnDuplicate = SkipDuplicates).
	Skipped int64
	keys    *writtenKeys // the keys written, for the commit's check
}

// Rows is the number of rows in the files.
func (f Files) Rows() int64 {
	var n int64
	for _, x := range f.Files {
		n += x.Rows
	}
	return n
}

// Create commits version 0 of the table: its schema and partition columns.
// Creating a table that exists with the same schema and partitioning is a
// no-op (AlreadyCommitted); with another, an ErrSchemaMismatch.
func (t *Table) Create(ctx context.Context, schema Schema, partitionBy []string, prov Provenance) (Result, error) {
	c := t.newCommit(OpCreate, prov)
	c.Version, c.Parent = 0, -1
	c.Schema = &schema
	c.PartitionBy = partitionBy
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return Result{}, err
	}
	for attempt := 0; ; attempt++ {
		err := t.lake.bucket.PutIfAbsent(ctx, logKey(t.name, 0), bytes.NewReader(data), int64(len(data)))
		if err == nil {
			return Result{Commit: c}, nil
		}
		existing, rerr := t.lake.readCommit(ctx, t.name, 0)
		switch {
		case rerr == nil && existing.CommitID == c.CommitID: // our write landed; its answer was lost
			return Result{Commit: existing}, nil
		case rerr == nil && existing.Schema == nil:
			return Result{}, fmt.Errorf("create %s: %w: version 0 has no schema", t.name, ErrCorrupt)
		case rerr == nil && (existing.Schema.Fingerprint != schema.Fingerprint || !slices.Equal(existing.PartitionBy, partitionBy)):
			// A migration may have moved the table to this schema since.
			cur := existing.Schema
			if latest, err := t.Snapshot(ctx, Latest); err == nil {
				cur = &latest.Schema
			}
			if cur.Fingerprint == schema.Fingerprint && slices.Equal(existing.PartitionBy, partitionBy) {
				return Result{Commit: existing, AlreadyCommitted: true}, nil
			}
			hint := ""
			if cur.Name == schema.Name && cur.Version < schema.Version {
				hint = " (run swelake lake migrate " + t.name + ")"
			}
			return Result{}, fmt.Errorf("create %s: %w: the table exists with schema %s v%d partitioned by %v, this swelake writes v%d%s",
				t.name, ErrSchemaMismatch, cur.Name, cur.Version, existing.PartitionBy, schema.Version, hint)
		case rerr == nil:
			return Result{Commit: existing, AlreadyCommitted: true}, nil
		case errors.Is(rerr, ErrCorrupt):
			return Result{}, rerr
		}
		if attempt >= t.lake.opts.MaxRetries {
			return Result{}, fmt.Errorf("create %s@0: %w", t.name, err)
		}
		if err := t.sleep(ctx, attempt); err != nil {
			return Result{}, err
		}
	}
}

// Append commits files as one new version. Appends of a table without key
// columns never conflict; files written under a key conflict with a commit
// that landed after the snapshot they were checked against and added any of
// their keys (a *ConflictError: write again from the newer snapshot, see
// AppendKeyed). Files of a refused append are deleted.
func (t *Table) Append(ctx context.Context, files Files, prov Provenance) (Result, error) {
	c := t.newCommit(OpAppend, prov)
	c.Added, c.SchemaFingerprint = files.Files, files.SchemaFingerprint
	if files.keys == nil {
		return t.commit(ctx, c, nil, nil)
	}
	res, err := t.commitAfter(ctx, c, files.keys.base, t.keyCheck(files.keys))
	if errors.Is(err, ErrConflict) {
		t.deleteFiles(files.Files)
	}
	return res, err
}

// AppendKeyed writes rows with write and appends them (nothing when no row
// is left to append: Result.Empty), writing again from the newer snapshot
// when a concurrent append added the same keys — as often as it takes:
// every lost race is another writer's commit landing, so the retries are
// bounded by ctx only, as commit's are.
func (t *Table) AppendKeyed(ctx context.Context, write func(context.Context) (Files, error), prov Provenance) (Result, Files, error) {
	for attempt := 0; ; attempt++ {
		files, err := write(ctx)
		if err != nil {
			return Result{}, Files{}, err
		}
		if len(files.Files) == 0 { // nothing new (every row skipped, or none): no empty version
			latest, err := t.Snapshot(ctx, Latest)
			if err != nil {
				return Result{}, files, err
			}
			return Result{Commit: latest.Commit, Empty: true}, files, nil
		}
		res, err := t.Append(ctx, files, prov)
		if err == nil || !errors.Is(err, ErrConflict) {
			return res, files, err
		}
		if err := ctx.Err(); err != nil { // each lost race means another writer landed: bounded by ctx, as commit's
			return Result{}, files, fmt.Errorf("append %s after %d attempts: %w", t.name, attempt+1, err)
		}
		t.lake.opts.Logger.Info("append: keys appended concurrently; writing again", "table", t.name, "err", err)
	}
}

// CheckFunc decides whether an append may land after another commit:
// it returns a *ConflictError (ErrConflict) to refuse.
type CheckFunc func(ctx context.Context, other *Commit) error

// AppendChecked commits files as one new version, like Append, unless a
// commit that landed after base — while the caller was deciding what to
// append from base — fails check: an ingest that deduplicated its rows
// against base refuses to land after a concurrent commit that added rows
// with the same keys. The refusal is a *ConflictError; the caller
// re-decides from the newer snapshot. The files of a refused append are
// deleted (never visible, never needed), as those of a duplicate run key are.
func (t *Table) AppendChecked(ctx context.Context, base *Snapshot, files Files, prov Provenance, check CheckFunc) (Result, error) {
	c := t.newCommit(OpAppend, prov)
	c.Added, c.SchemaFingerprint = files.Files, files.SchemaFingerprint
	if files.keys != nil {
		keyed, theirs := t.keyCheck(files.keys), check
		check = func(ctx context.Context, other *Commit) error {
			if err := theirs(ctx, other); err != nil {
				return err
			}
			return keyed(ctx, other)
		}
		if base == nil || files.keys.base < base.Version {
			base = &Snapshot{Version: files.keys.base}
		}
	}
	res, err := t.commit(ctx, c, base, check)
	if errors.Is(err, ErrConflict) {
		t.deleteFiles(files.Files)
	}
	return res, err
}

// OverwritePartitions replaces every file of the given partitions, as seen in
// base, with files. A concurrent overwrite or delete of any of these
// partitions after base makes it fail with a *ConflictError (ErrConflict);
// concurrent appends are kept.
func (t *Table) OverwritePartitions(ctx context.Context, base *Snapshot, partitions []Partition, files Files, prov Provenance) (Result, error) {
	c := t.newCommit(OpOverwrite, prov)
	c.Partitions, c.Added, c.SchemaFingerprint = partitions, files.Files, files.SchemaFingerprint
	c.Removed = filesIn(base, partitions)
	for _, f := range files.Files {
		if !slices.ContainsFunc(partitions, func(p Partition) bool { return p.String() == f.Partition.String() }) {
			return Result{}, fmt.Errorf("overwrite %s: file %s is in partition %s, not one being overwritten", t.name, f.Path, f.Partition)
		}
	}
	return t.commit(ctx, c, base, nil)
}

// DeletePartitions removes every file of the given partitions, as seen in
// base. It conflicts like OverwritePartitions.
func (t *Table) DeletePartitions(ctx context.Context, base *Snapshot, partitions []Partition, prov Provenance) (Result, error) {
	c := t.newCommit(OpDelete, prov)
	c.Partitions = partitions
	c.Removed = filesIn(base, partitions)
	return t.commit(ctx, c, base, nil)
}

// Migrate replaces every file of base with files written with a new schema
// (a later version of the table's), as one commit: readers of the latest
// version see the table migrated whole; earlier versions keep their schema
// and files (until gc). Any commit that lands after base makes it fail with
// a *ConflictError: the caller migrates again from the newer snapshot.
// Its log entry has format 2 (FormatVersion): a swelake older than this
// refuses the table with "format 2 is newer" instead of misreading it.
func (t *Table) Migrate(ctx context.Context, base *Snapshot, schema Schema, files Files, prov Provenance) (Result, error) {
	c := t.newCommit(OpMigrate, prov)
	c.Format = FormatVersion
	c.Schema = &schema
	c.Added, c.SchemaFingerprint = files.Files, files.SchemaFingerprint
	c.Removed = slices.Clone(base.Files)
	res, err := t.commit(ctx, c, base, nil)
	if errors.Is(err, ErrConflict) {
		t.deleteFiles(files.Files)
	}
	return res, err
}

func filesIn(s *Snapshot, partitions []Partition) []File {
	want := map[string]bool{}
	for _, p := range partitions {
		want[p.String()] = true
	}
	var out []File
	for _, f := range s.Files {
		if want[f.Partition.String()] {
			out = append(out, f)
		}
	}
	return out
}

func (t *Table) newCommit(op Operation, prov Provenance) *Commit {
	if prov.Time.IsZero() {
		prov.Time = t.lake.opts.Clock().UTC()
	}
	if prov.CodeVersion == "" {
		prov.CodeVersion = t.lake.opts.CodeVersion
	}
	if prov.Author == "" {
		prov.Author = t.lake.opts.Author
	}
	return &Commit{Format: baseFormat, Table: t.name, CommitID: uuid.NewString(), Operation: op, Provenance: prov}
}

func (t *Table) sleep(ctx context.Context, attempt int) error {
	d := t.lake.opts.Backoff << min(attempt, 6)
	d = d/2 + rand.N(d/2+1)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// commit runs the optimistic protocol: resolve the latest version, check for
// our own landed commit, the run key and conflicts, then create the next log
// entry only if absent; on losing the race, do it again.
func (t *Table) commit(ctx context.Context, c *Commit, base *Snapshot, check CheckFunc) (Result, error) {
	checked := int64(-1) // commits up to here were scanned for our id and conflicts
	if base != nil {
		checked = base.Version
	}
	return t.commitAfter(ctx, c, checked, check)
}

func (t *Table) commitAfter(ctx context.Context, c *Commit, checked int64, check CheckFunc) (Result, error) {
	failures := 0
	retry := func(err error) error {
		failures++
		if failures > t.lake.opts.MaxRetries {
			return fmt.Errorf("commit %s@%d: giving up after %d storage errors: %w", t.name, c.Version, failures, err)
		}
		t.lake.opts.Logger.Debug("commit: retrying after storage error", "table", t.name, "version", c.Version, "err", err)
		return t.sleep(ctx, failures)
	}
	for {
		if err := ctx.Err(); err != nil {
			return Result{}, fmt.Errorf("commit %s: %w", t.name, err)
		}
		latest, err := t.Snapshot(ctx, Latest)
		if errors.Is(err, ErrNoTable) {
			return Result{}, err
		}
		if err != nil {
			if err := retry(err); err != nil {
				return Result{}, err
			}
			continue
		}
		// Our entry may have landed with its acknowledgement lost, or another
		// writer may have committed the same run key.
		if rk := c.Provenance.RunKey; rk != "" {
			if v, ok := latest.RunKeyVersion(rk); ok {
				prior, err := t.lake.commits(ctx, t.name, v, v)
				if err != nil {
					if err := retry(err); err != nil {
						return Result{}, err
					}
					continue
				}
				if prior[0].CommitID == c.CommitID {
					return Result{Commit: prior[0]}, nil
				}
				// Another run committed this key: the files this one wrote
				// are not needed (and never visible); remove them now
				// rather than leave them to gc.
				t.deleteFiles(c.Added)
				return Result{Commit: prior[0], AlreadyCommitted: true}, nil
			}
		}
		if checked < latest.Version {
			all, err := t.lake.commits(ctx, t.name, checked+1, latest.Version)
			if err != nil {
				if err := retry(err); err != nil {
					return Result{}, err
				}
				continue
			}
			for _, other := range all {
				if other.CommitID == c.CommitID {
					return Result{Commit: other}, nil
				}
				if err := conflicts(c, other); err != nil {
					return Result{}, err
				}
				if check != nil {
					if err := check(ctx, other); err != nil {
						return Result{}, err
					}
				}
			}
			checked = latest.Version
		}
		if err := t.prepare(c, latest); err != nil {
			return Result{}, err
		}
		data, err := json.MarshalIndent(c, "", "  ")
		if err != nil {
			return Result{}, err
		}
		err = t.lake.bucket.PutIfAbsent(ctx, logKey(t.name, c.Version), bytes.NewReader(data), int64(len(data)))
		switch {
		case err == nil:
			t.afterCommit(ctx, c)
			return Result{Commit: c}, nil
		case errors.Is(err, objstore.ErrExist):
			continue // lost the race (or our own write landed): refresh and check
		default:
			if err := retry(err); err != nil {
				return Result{}, err
			}
		}
	}
}

// prepare fills in the fields that depend on the version being committed.
func (t *Table) prepare(c *Commit, latest *Snapshot) error {
	if c.Operation == OpMigrate {
		if c.Schema == nil || c.SchemaFingerprint != c.Schema.Fingerprint {
			return fmt.Errorf("commit %s: %w: a migration's files must be written with its new schema", t.name, ErrSchemaMismatch)
		}
		if c.Schema.Name != latest.Schema.Name || c.Schema.Version <= latest.Schema.Version {
			return fmt.Errorf("commit %s: migrate %s v%d to %s v%d: a migration goes to a later version of the same table",
				t.name, latest.Schema.Name, latest.Schema.Version, c.Schema.Name, c.Schema.Version)
		}
	}
	if c.Operation == OpAppend || c.Operation == OpOverwrite {
		if c.SchemaFingerprint != latest.Schema.Fingerprint {
			return fmt.Errorf("commit %s: %w: files written with schema %.12s, table has %s v%d (%.12s)",
				t.name, ErrSchemaMismatch, c.SchemaFingerprint, latest.Schema.Name, latest.Schema.Version, latest.Schema.Fingerprint)
		}
		for _, f := range c.Added {
			if len(f.Partition) != len(latest.PartitionBy) || !hasCols(f.Partition, latest.PartitionBy) {
				return fmt.Errorf("commit %s: file %s has partition %s, table is partitioned by %v", t.name, f.Path, f.Partition, latest.PartitionBy)
			}
		}
	}
	c.Version, c.Parent = latest.Version+1, latest.Version
	s := Summary{TotalFiles: len(latest.Files), TotalRows: latest.Rows(), TotalBytes: latest.Bytes()}
	for _, f := range c.Added {
		s.AddedFiles++
		s.AddedRows += f.Rows
		s.AddedBytes += f.Bytes
	}
	for _, f := range c.Removed {
		s.RemovedFiles++
		s.RemovedRows += f.Rows
		s.TotalBytes -= f.Bytes
	}
	s.TotalFiles += s.AddedFiles - s.RemovedFiles
	s.TotalRows += s.AddedRows - s.RemovedRows
	s.TotalBytes += s.AddedBytes
	c.Summary = s
	return nil
}

func hasCols(p Partition, cols []string) bool {
	for _, c := range cols {
		if _, ok := p[c]; !ok {
			return false
		}
	}
	return true
}

// conflicts reports whether ours cannot be committed after other.
func conflicts(ours, other *Commit) error {
	// A migration replaces every file it saw: anything after its base
	// would be lost or rewritten with a stale schema. An overwrite or delete
	// after a migration names files the migration removed. (An append after
	// one is checked by its schema fingerprint instead.)
	if ours.Operation == OpMigrate || (other.Operation == OpMigrate && ours.Operation != OpAppend) {
		return &ConflictError{Table: ours.Table, Version: other.Version,
			Reason: fmt.Sprintf("a %s cannot pass a %s (run key %q)", ours.Operation, other.Operation, other.Provenance.RunKey)}
	}
	if ours.Operation != OpOverwrite && ours.Operation != OpDelete {
		return nil // appends never conflict
	}
	if other.Operation == OpOverwrite || other.Operation == OpDelete {
		for _, p := range ours.Partitions {
			for _, q := range other.Partitions {
				if p.String() == q.String() {
					return &ConflictError{Table: ours.Table, Version: other.Version, Partition: p.String(),
						Reason: fmt.Sprintf("it was %s concurrently (run key %q)", other.Operation, other.Provenance.RunKey)}
				}
			}
		}
	}
	for _, r := range other.Removed {
		for _, f := range ours.Removed {
			if r.Path == f.Path {
				return &ConflictError{Table: ours.Table, Version: other.Version, Partition: f.Partition.String(),
					Reason: "file " + f.Path + " was removed concurrently"}
			}
		}
	}
	return nil
}

// afterCommit writes a checkpoint every CheckpointInterval versions. It is a
// hint: failing to write it is logged, never an error of the commit.
func (t *Table) afterCommit(ctx context.Context, c *Commit) {
	if c.Version == 0 || c.Version%t.lake.opts.CheckpointInterval != 0 {
		return
	}
	s, err := t.Snapshot(ctx, c.Version)
	if err == nil {
		err = t.writeCheckpoint(ctx, s)
	}
	if err != nil {
		t.lake.opts.Logger.Warn("checkpoint not written", "table", t.name, "version", c.Version, "err", err)
	}
}
