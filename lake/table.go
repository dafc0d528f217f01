package lake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/swelake/swelake/internal/suggest"
	"github.com/swelake/swelake/lake/objstore"
)

// Table is a handle on one table of a lake.
type Table struct {
	lake *Lake
	name string
}

// Name is the table's name.
func (t *Table) Name() string { return t.name }

// Snapshot is a table's state at one version: an immutable list of files.
type Snapshot struct {
	Table       string
	Version     int64
	Schema      Schema
	PartitionBy []string
	Files       []File  // sorted by Path
	Commit      *Commit // the commit that made this version
	runKeys     map[string]int64
	files       map[string]File
}

// Ref is the snapshot's pinned name, "table@version".
func (s *Snapshot) Ref() Ref { return Ref{Table: s.Table, Version: s.Version} }

// Rows is the number of rows in the snapshot.
func (s *Snapshot) Rows() int64 {
	var n int64
	for _, f := range s.Files {
		n += f.Rows
	}
	return n
}

// Bytes is the size of the snapshot's files.
func (s *Snapshot) Bytes() int64 {
	var n int64
	for _, f := range s.Files {
		n += f.Bytes
	}
	return n
}

// RunKeyVersion reports the version that committed runKey, if any.
func (s *Snapshot) RunKeyVersion(runKey string) (int64, bool) {
	v, ok := s.runKeys[runKey]
	return v, ok
}

// InPartition is the part of the snapshot in one partition (e.g.
// {"run_id": "r1"}): same version, only that partition's files.
func (s *Snapshot) InPartition(p Partition) *Snapshot {
	c := s.clone()
	c.Files = filesIn(s, []Partition{p})
	c.files = map[string]File{}
	for _, f := range c.Files {
		c.files[f.Path] = f
	}
	return c
}

func (s *Snapshot) clone() *Snapshot {
	c := *s
	c.runKeys = maps.Clone(s.runKeys)
	c.files = maps.Clone(s.files)
	c.Files = nil
	return &c
}

// apply advances the state by one commit.
func (s *Snapshot) apply(c *Commit) error {
	if c.Version != s.Version+1 || c.Parent != s.Version {
		return fmt.Errorf("apply %s@%d (parent %d) to version %d: %w", c.Table, c.Version, c.Parent, s.Version, ErrCorrupt)
	}
	switch c.Operation {
	case OpCreate:
		if c.Schema == nil {
			return fmt.Errorf("apply %s@%d: %w: create without schema", c.Table, c.Version, ErrCorrupt)
		}
		s.Schema = *c.Schema
		s.PartitionBy = slices.Clone(c.PartitionBy)
	case OpMigrate:
		if c.Schema == nil {
			return fmt.Errorf("apply %s@%d: %w: migrate without schema", c.Table, c.Version, ErrCorrupt)
		}
		s.Schema = *c.Schema
	case OpAppend, OpOverwrite, OpDelete:
	default:
		return fmt.Errorf("apply %s@%d: %w: unknown operation %q", c.Table, c.Version, ErrCorrupt, c.Operation)
	}
	for _, f := range c.Removed {
		delete(s.files, f.Path)
	}
	for _, f := range c.Added {
		s.files[f.Path] = f
	}
	if c.Provenance.RunKey != "" {
		s.runKeys[c.Provenance.RunKey] = c.Version
	}
	s.Version = c.Version
	s.Commit = c
	return nil
}

func (s *Snapshot) finish() {
	s.Files = slices.SortedFunc(maps.Values(s.files), func(a, b File) int { return strings.Compare(a.Path, b.Path) })
}

func emptySnapshot(table string) *Snapshot {
	return &Snapshot{Table: table, Version: -1, runKeys: map[string]int64{}, files: map[string]File{}}
}

// Latest returns the latest version, or ErrNoTable.
func (t *Table) Latest(ctx context.Context) (int64, error) {
	v, err := t.lake.latestVersion(ctx, t.name)
	if err != nil {
		return 0, err
	}
	if v < 0 {
		hint := ""
		if names, err := t.lake.Tables(ctx); err == nil {
			if s := suggest.Closest(t.name, names); s != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", s)
			} else if len(names) > 0 {
				hint = fmt.Sprintf(" (tables: %s)", strings.Join(names, ", "))
			}
		}
		return 0, fmt.Errorf("table %s in %s: %w%s", t.name, t.lake.URL(), ErrNoTable, hint)
	}
	return v, nil
}

// Snapshot resolves the table at version (Latest for the newest).
func (t *Table) Snapshot(ctx context.Context, version int64) (*Snapshot, error) {
	if version == Latest {
		return t.latest(ctx)
	}
	if version < 0 {
		return nil, fmt.Errorf("snapshot %s@%d: %w", t.name, version, ErrNoVersion)
	}
	if cached := t.cachedSnapshot(); cached != nil && version <= cached.Version {
		return t.snapshotAt(ctx, version)
	}
	latest, err := t.latest(ctx)
	if err != nil {
		return nil, err
	}
	if version > latest.Version {
		return nil, fmt.Errorf("snapshot %s@%d: %w (latest is %d)", t.name, version, ErrNoVersion, latest.Version)
	}
	return t.snapshotAt(ctx, version)
}

func (t *Table) cachedSnapshot() *Snapshot {
	c := t.lake.cache(t.name)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snap
}

// latest resolves the newest snapshot. A cold handle lists the log; a warm
// one reads the entries after the newest it knows until one is missing (S3
// and local disk are read-after-write consistent), which costs one GET when
// nothing changed and is what a writer that lost a race needs.
func (t *Table) latest(ctx context.Context) (*Snapshot, error) {
	base := t.cachedSnapshot()
	if base == nil {
		v, err := t.Latest(ctx)
		if err != nil {
			return nil, err
		}
		return t.snapshotAt(ctx, v)
	}
	var s *Snapshot
	for {
		cm, err := t.lake.readCommit(ctx, t.name, base.Version+1)
		if errors.Is(err, objstore.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, err
		}
		t.lake.remember(cm)
		if s == nil {
			s = base.clone()
		}
		if err := s.apply(cm); err != nil {
			return nil, err
		}
		base = s
	}
	if s == nil {
		return base, nil
	}
	s.finish()
	t.lake.cacheSnapshot(s)
	return s, nil
}

func (t *Table) snapshotAt(ctx context.Context, version int64) (*Snapshot, error) {
	c := t.lake.cache(t.name)
	c.mu.Lock()
	base := c.snap
	c.mu.Unlock()
	if base == nil || base.Version > version {
		base = emptySnapshot(t.name)
		if cp := t.readCheckpoint(ctx); cp != nil && cp.Version <= version {
			base = cp
		}
	}
	if base.Version == version {
		return base, nil
	}
	commits, err := t.lake.commits(ctx, t.name, base.Version+1, version)
	if err != nil {
		return nil, err
	}
	s := base.clone()
	for _, cm := range commits {
		if err := s.apply(cm); err != nil {
			return nil, err
		}
	}
	s.finish()
	t.lake.cacheSnapshot(s)
	return s, nil
}

// Log returns the commits from..upto (inclusive; upto Latest for the newest).
func (t *Table) Log(ctx context.Context, from, upto int64) ([]*Commit, error) {
	latest, err := t.Latest(ctx)
	if err != nil {
		return nil, err
	}
	if upto == Latest || upto > latest {
		upto = latest
	}
	if from < 0 {
		from = 0
	}
	if from > upto {
		return nil, nil
	}
	return t.lake.commits(ctx, t.name, from, upto)
}

// checkpoint is the content of _log/_checkpoint.json: the full state at one
// version. It is a hint: readers that cannot use it replay the log instead.
type checkpoint struct {
	Format      int              `json:"format"`
	Table       string           `json:"table"`
	Version     int64            `json:"version"`
	Schema      Schema           `json:"schema"`
	PartitionBy []string         `json:"partition_by"`
	Files       []File           `json:"files"`
	RunKeys     map[string]int64 `json:"run_keys"`
}

func (t *Table) readCheckpoint(ctx context.Context) *Snapshot {
	data, err := objstore.ReadAll(ctx, t.lake.bucket, checkpointKey(t.name))
	if err != nil {
		if !errors.Is(err, objstore.ErrNotExist) {
			t.lake.opts.Logger.Warn("checkpoint unreadable; replaying the log", "table", t.name, "err", err)
		}
		return nil
	}
	var cp checkpoint
	if err := json.Unmarshal(data, &cp); err != nil || cp.Format > FormatVersion || cp.Table != t.name || cp.Version < 0 {
		t.lake.opts.Logger.Warn("checkpoint invalid; replaying the log", "table", t.name, "err", err)
		return nil
	}
	s := emptySnapshot(t.name)
	s.Version, s.Schema, s.PartitionBy = cp.Version, cp.Schema, cp.PartitionBy
	for _, f := range cp.Files {
		s.files[f.Path] = f
	}
	if cp.RunKeys != nil {
		s.runKeys = cp.RunKeys
	}
	// The commit itself is needed for Snapshot.Commit.
	cm, err := t.lake.commits(ctx, t.name, cp.Version, cp.Version)
	if err != nil {
		t.lake.opts.Logger.Warn("checkpoint names a missing commit; replaying the log", "table", t.name, "version", cp.Version, "err", err)
		return nil
	}
	s.Commit = cm[0]
	s.finish()
	return s
}

func (t *Table) writeCheckpoint(ctx context.Context, s *Snapshot) error {
	cp := checkpoint{Format: baseFormat, Table: t.name, Version: s.Version, Schema: s.Schema,
		PartitionBy: s.PartitionBy, Files: s.Files, RunKeys: s.runKeys}
	data, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	return t.lake.bucket.Put(ctx, checkpointKey(t.name), bytes.NewReader(data), int64(len(data)))
}

// Committed reports the commit that holds runKey in the latest snapshot, so
// that a job can skip its work before writing anything.
func (t *Table) Committed(ctx context.Context, runKey string) (*Commit, bool, error) {
	s, err := t.Snapshot(ctx, Latest)
	if err != nil {
		return nil, false, err
	}
	v, ok := s.RunKeyVersion(runKey)
	if !ok {
		return nil, false, nil
	}
	cm, err := t.lake.commits(ctx, t.name, v, v)
	if err != nil {
		return nil, false, err
	}
	return cm[0], true, nil
}
