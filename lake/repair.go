package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/swelake/swelake/lake/objstore"
)

// ErrStrayLog: a table's log has entries after a gap in its versions —
// not written by a commit (commits create version v+1 only once v exists).
var ErrStrayLog = errors.New("log entries after a gap")

// logScan is what a table's _log/ holds: the contiguous versions 0..Latest
// and the entries after the first gap.
type logScan struct {
	Latest int64   // -1: no version 0
	Stray  []int64 // versions present after the first missing one
}

func (l *Lake) scanLog(ctx context.Context, table string) (logScan, error) {
	prefix := "tables/" + table + "/_log/"
	var versions []int64
	for info, err := range l.bucket.List(ctx, prefix) {
		if err != nil {
			return logScan{}, fmt.Errorf("list %s log: %w", table, err)
		}
		name, ok := strings.CutSuffix(strings.TrimPrefix(info.Key, prefix), ".json")
		if !ok || len(name) != 20 || strings.Contains(name, "/") {
			continue // _checkpoint.json, _quarantine/, foreign files
		}
		if v, err := strconv.ParseInt(name, 10, 64); err == nil && v >= 0 {
			versions = append(versions, v)
		}
	}
	slices.Sort(versions)
	s := logScan{Latest: -1}
	for _, v := range versions {
		if v == s.Latest+1 && len(s.Stray) == 0 {
			s.Latest = v
			continue
		}
		s.Stray = append(s.Stray, v)
	}
	return s, nil
}

func (s logScan) strayError(table string) error {
	keys := make([]string, len(s.Stray))
	for i, v := range s.Stray {
		keys[i] = logKey(table, v)
	}
	if len(keys) > 3 {
		keys = append(keys[:3], fmt.Sprintf("and %d more", len(s.Stray)-3))
	}
	return fmt.Errorf("table %s: %w: version %d is missing but %s exist (run `swelake lake repair %s`)",
		table, ErrStrayLog, s.Latest+1, strings.Join(keys, ", "), table)
}

// VerifyLog reads every log entry of the table from storage (not from a
// cache, not through the checkpoint) and reports each that is missing,
// unreadable, names another version or table, or does not follow its
// parent, each entry after a gap, and a checkpoint that disagrees with the
// log it summarises.
func (t *Table) VerifyLog(ctx context.Context) ([]Problem, error) {
	scan, err := t.lake.scanLog(ctx, t.name)
	if err != nil {
		return nil, err
	}
	var problems []Problem
	add := func(key, reason string) {
		problems = append(problems, Problem{Table: t.name, Path: strings.TrimPrefix(key, "tables/"+t.name+"/"), Reason: reason})
	}
	for _, v := range scan.Stray {
		add(logKey(t.name, v), fmt.Sprintf("after a gap: version %d is missing", scan.Latest+1))
	}
	// The checkpoint is a hint, but one that disagrees with the log would
	// make readers see other files than the log says: the replay below is
	// compared with it when it reaches the checkpoint's version.
	var cp *Snapshot
	if _, err := t.lake.bucket.Stat(ctx, checkpointKey(t.name)); err == nil {
		if cp = t.readCheckpoint(ctx); cp == nil {
			add(checkpointKey(t.name), "unreadable (readers replay the log instead)")
		} else if cp.Version > scan.Latest {
			add(checkpointKey(t.name), fmt.Sprintf("names version %d, the log ends at %d", cp.Version, scan.Latest))
		}
	} else if !errors.Is(err, objstore.ErrNotExist) {
		return nil, err
	}
	replay := emptySnapshot(t.name)
	broken := false // an entry could not be replayed: later states are unknown
	for v := int64(0); v <= scan.Latest; v++ {
		c, err := t.lake.readCommit(ctx, t.name, v)
		if err != nil {
			if errors.Is(err, ErrCorrupt) || errors.Is(err, objstore.ErrNotExist) {
				add(logKey(t.name, v), err.Error())
				broken = true
				continue
			}
			return nil, err
		}
		if c.Parent != v-1 {
			add(logKey(t.name, v), fmt.Sprintf("parent is %d, want %d", c.Parent, v-1))
		}
		if broken {
			continue
		}
		if err := replay.apply(c); err != nil {
			add(logKey(t.name, v), err.Error())
			broken = true
			continue
		}
		if cp != nil && cp.Version == v && !sameFiles(replay, cp) {
			add(checkpointKey(t.name), fmt.Sprintf("its files at version %d differ from the log's", v))
		}
	}
	return problems, nil
}

func sameFiles(a, b *Snapshot) bool {
	if len(a.files) != len(b.files) {
		return false
	}
	for p, f := range a.files {
		g, ok := b.files[p]
		if !ok || g.SHA256 != f.SHA256 || g.Bytes != f.Bytes {
			return false
		}
	}
	return true
}

// RepairResult says what Repair moved aside.
type RepairResult struct {
	Table string   `json:"table"`
	Moved []string `json:"moved"` // log keys moved under _log/_quarantine/
	Kept  int64    `json:"latest"`
}

// Repair moves aside the log entries that no commit wrote and that break
// every reader of the table — entries after a gap in the versions, and
// newest entries that do not parse or name another version — into
// tables/<t>/_log/_quarantine/, and drops a checkpoint past the new latest
// version. It refuses what it cannot undo safely: a damaged entry with
// valid commits after it, or a run of chained commits after a gap (a
// deleted entry in the middle of a log: restore it from a backup). With
// dryRun it only says what it would move.
func (l *Lake) Repair(ctx context.Context, table string, dryRun bool) (RepairResult, error) {
	res := RepairResult{Table: table}
	scan, err := l.scanLog(ctx, table)
	if err != nil {
		return res, err
	}
	var move []int64
	if len(scan.Stray) > 0 {
		present := map[int64]bool{}
		for _, v := range scan.Stray {
			present[v] = true
		}
		for _, v := range scan.Stray {
			if c, err := l.readCommit(ctx, table, v); err == nil && present[c.Parent] {
				return res, fmt.Errorf("repair %s: %s follows %s: a chain of commits after the missing version %d, not a stray entry; restore version %d from a backup",
					table, logKey(table, v), logKey(table, c.Parent), scan.Latest+1, scan.Latest+1)
			}
		}
		move = append(move, scan.Stray...)
	}
	latest := scan.Latest
	for latest >= 0 {
		_, err := l.readCommit(ctx, table, latest)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrCorrupt) {
			return res, err
		}
		move = append(move, latest)
		latest--
	}
	for v := int64(0); v < latest; v++ {
		if _, err := l.readCommit(ctx, table, v); errors.Is(err, ErrCorrupt) {
			return res, fmt.Errorf("repair %s: %s is damaged and versions up to %d follow it; restore it from a backup: %w", table, logKey(table, v), latest, err)
		}
	}
	res.Kept = latest
	for _, v := range move {
		res.Moved = append(res.Moved, logKey(table, v))
	}
	if dryRun {
		return res, nil
	}
	stamp := l.opts.Clock().UTC().Format("20060102T150405Z")
	for _, v := range move {
		key := logKey(table, v)
		data, err := objstore.ReadAll(ctx, l.bucket, key)
		if err != nil {
			return res, fmt.Errorf("repair %s: %w", key, err)
		}
		dst := "tables/" + table + "/_log/_quarantine/" + strings.TrimPrefix(key, "tables/"+table+"/_log/") + "." + stamp
		if err := l.bucket.PutIfAbsent(ctx, dst, bytes.NewReader(data), int64(len(data))); err != nil && !errors.Is(err, objstore.ErrExist) {
			return res, fmt.Errorf("repair %s: keep a copy at %s: %w", key, dst, err)
		}
		if err := l.bucket.Delete(ctx, key); err != nil {
			return res, fmt.Errorf("repair %s: %w", key, err)
		}
	}
	if t, err := l.Table(table); err == nil {
		if cp := t.readCheckpoint(ctx); cp == nil || cp.Version > latest {
			if err := l.bucket.Delete(ctx, checkpointKey(table)); err != nil && !errors.Is(err, objstore.ErrNotExist) {
				return res, fmt.Errorf("repair %s: drop the checkpoint: %w", table, err)
			}
		}
	}
	l.forget(table)
	return res, nil
}
