// Package lake implements swelake's table format on object storage: Parquet
// data files written first under unique names, then one JSON log entry per
// commit created only if absent, snapshots resolved by replaying the log.
// docs/lake-format.md describes the format byte for byte.
package lake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/swelake/swelake/lake/objstore"
)

// Sentinel errors for control flow.
var (
	// ErrNotInitialized: the root has no _lake.json (run `swelake lake init`).
	ErrNotInitialized = errors.New("lake not initialized")
	// ErrNoTable: the table has no log.
	ErrNoTable = errors.New("no such table")
	// ErrNoVersion: the table has no such version.
	ErrNoVersion = errors.New("no such version")
	// ErrConflict: a concurrent commit changed what this one depends on; the
	// caller must re-read and decide. Appends never conflict.
	ErrConflict = errors.New("commit conflict")
	// ErrCorrupt: a log entry or data file is not what the log says.
	ErrCorrupt = errors.New("corrupt")
	// ErrSchemaMismatch: files written with another schema than the table's.
	ErrSchemaMismatch = errors.New("schema mismatch")
)

// ConflictError says which concurrent commit a commit lost to.
type ConflictError struct {
	Table     string
	Version   int64  // the concurrent commit's version
	Partition string // the partition both touched ("" : not about a partition)
	Reason    string
}

func (e *ConflictError) Error() string {
	if e.Partition == "" {
		return fmt.Sprintf("commit %s: conflicts with %s@%d: %s", e.Table, e.Table, e.Version, e.Reason)
	}
	return fmt.Sprintf("commit %s: conflicts with %s@%d on partition %s: %s", e.Table, e.Table, e.Version, e.Partition, e.Reason)
}

func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Options configures a Lake. Zero values take the defaults.
type Options struct {
	// CacheDir holds verified local copies of remote data files (and the
	// files of empty tables' views); required to read a remote lake.
	CacheDir    string
	Logger      *slog.Logger
	Clock       func() time.Time
	CodeVersion string // recorded in every commit
	Author      string // recorded in every commit
	// CheckpointInterval writes _checkpoint.json every N versions (default 10),
	// so that a cold reader replays at most N-1 entries after it.
	CheckpointInterval int64
	// MaxRetries bounds retries of a commit after storage errors (default 5);
	// retries after losing a race to another commit are bounded by ctx only.
	MaxRetries int
	// Backoff is the base delay between retries (default 20ms).
	Backoff time.Duration
}

// Lake is a handle on a lake root. It is safe for concurrent use; it caches
// log entries, which are immutable.
type Lake struct {
	bucket objstore.Bucket
	opts   Options
	files  *cache // verified local copies of data files

	mu   sync.Mutex
	logs map[string]*logCache
}

type logCache struct {
	mu      sync.Mutex
	commits []*Commit // commits[v] for v < len, nil where not loaded
	snap    *Snapshot // the newest snapshot resolved so far (immutable)
}

// Open returns a handle on the lake in bucket. It does no I/O.
func Open(bucket objstore.Bucket, opts Options) *Lake {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = 10
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 20 * time.Millisecond
	}
	if opts.CodeVersion == "" {
		opts.CodeVersion = "unknown"
	}
	return &Lake{bucket: bucket, opts: opts, files: &cache{Dir: opts.CacheDir}, logs: map[string]*logCache{}}
}

// Bucket is the lake's storage.
func (l *Lake) Bucket() objstore.Bucket { return l.bucket }

// URL names the lake root.
func (l *Lake) URL() string { return l.bucket.URL() }

const markerKey = "_lake.json"

type marker struct {
	Format  int       `json:"format"`
	Created time.Time `json:"created"`
}

// Init writes the root marker if it is absent. It is idempotent.
func (l *Lake) Init(ctx context.Context) error {
	data, _ := json.Marshal(marker{Format: baseFormat, Created: l.opts.Clock().UTC()})
	err := l.bucket.PutIfAbsent(ctx, markerKey, strings.NewReader(string(data)+"\n"), int64(len(data)+1))
	if err != nil && !errors.Is(err, objstore.ErrExist) {
		return fmt.Errorf("init lake %s: %w", l.URL(), err)
	}
	return l.CheckInitialized(ctx)
}

// CheckInitialized returns ErrNotInitialized if the root has no marker, and
// an error if the marker is of a newer format.
func (l *Lake) CheckInitialized(ctx context.Context) error {
	data, err := objstore.ReadAll(ctx, l.bucket, markerKey)
	if errors.Is(err, objstore.ErrNotExist) {
		return fmt.Errorf("%s: %w (run `swelake lake init`)", l.URL(), ErrNotInitialized)
	}
	if err != nil {
		return err
	}
	var m marker
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("read %s/%s: %w: %v", l.URL(), markerKey, ErrCorrupt, err)
	}
	if m.Format > FormatVersion {
		return fmt.Errorf("%s: lake format %d is newer than this swelake (%d)", l.URL(), m.Format, FormatVersion)
	}
	return nil
}

// Tables lists the tables that have a log.
func (l *Lake) Tables(ctx context.Context) ([]string, error) {
	names, err := l.bucket.Dirs(ctx, "tables/")
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var out []string
	for _, n := range names {
		if ValidateTableName(n) != nil {
			continue
		}
		ok, err := objstore.Exists(ctx, l.bucket, logKey(n, 0))
		if err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		if ok {
			out = append(out, n)
		}
	}
	return out, nil
}

func (l *Lake) cache(table string) *logCache {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.logs[table]
	if c == nil {
		c = &logCache{}
		l.logs[table] = c
	}
	return c
}

// readCommit reads and checks one log entry.
func (l *Lake) readCommit(ctx context.Context, table string, v int64) (*Commit, error) {
	key := logKey(table, v)
	data, err := objstore.ReadAll(ctx, l.bucket, key)
	if err != nil {
		return nil, fmt.Errorf("read %s@%d: %w", table, v, err)
	}
	var c Commit
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("read %s: %w: %v (see `swelake lake repair %s`)", key, ErrCorrupt, err, table)
	}
	switch {
	case c.Format > FormatVersion:
		return nil, fmt.Errorf("read %s: format %d is newer than this swelake (%d)", key, c.Format, FormatVersion)
	case c.Version != v || c.Table != table:
		return nil, fmt.Errorf("read %s: %w: entry says %s@%d (see `swelake lake repair %s`)", key, ErrCorrupt, c.Table, c.Version, table)
	}
	return &c, nil
}

// latestVersion returns the highest committed version, or -1 if none; a
// log with entries after a gap in its versions is an error naming them
// (ErrStrayLog), never silently read.
func (l *Lake) latestVersion(ctx context.Context, table string) (int64, error) {
	scan, err := l.scanLog(ctx, table)
	if err != nil {
		return 0, err
	}
	if len(scan.Stray) > 0 {
		return 0, scan.strayError(table)
	}
	return scan.Latest, nil
}

// forget drops what the handle cached of a table's log (after Repair).
func (l *Lake) forget(table string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.logs, table)
}

// commits returns the log entries from..upto (index i is version from+i),
// reading the ones not cached, in parallel. The slice is the caller's.
func (l *Lake) commits(ctx context.Context, table string, from, upto int64) ([]*Commit, error) {
	c := l.cache(table)
	c.mu.Lock()
	defer c.mu.Unlock()
	for int64(len(c.commits)) <= upto {
		c.commits = append(c.commits, nil)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for v := from; v <= upto; v++ {
		if c.commits[v] != nil {
			continue
		}
		g.Go(func() error {
			cm, err := l.readCommit(gctx, table, v)
			if err != nil {
				return err
			}
			c.commits[v] = cm // distinct indices: no race
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return slices.Clone(c.commits[from : upto+1]), nil
}

// remember caches a log entry read outside commits().
func (l *Lake) remember(cm *Commit) {
	c := l.cache(cm.Table)
	c.mu.Lock()
	defer c.mu.Unlock()
	for int64(len(c.commits)) <= cm.Version {
		c.commits = append(c.commits, nil)
	}
	if c.commits[cm.Version] == nil {
		c.commits[cm.Version] = cm
	}
}

// cacheSnapshot keeps s if it is the newest snapshot resolved so far.
func (l *Lake) cacheSnapshot(s *Snapshot) {
	c := l.cache(s.Table)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap == nil || c.snap.Version < s.Version {
		c.snap = s
	}
}

// Table returns a handle on a table. It does no I/O.
func (l *Lake) Table(name string) (*Table, error) {
	if err := ValidateTableName(name); err != nil {
		return nil, err
	}
	return &Table{lake: l, name: name}, nil
}
