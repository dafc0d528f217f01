// Package queries runs SQL over lake snapshots with DuckDB: each table is a
// view over the files of a pinned snapshot, read from local paths (remote
// files go through a verified, content-addressed cache first). The .sql files
// of curation and analysis live in sql/ and are embedded.
package queries

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/parquet-go/parquet-go"
	"golang.org/x/sync/errgroup"

	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// Engine is an in-process DuckDB database whose views are lake snapshots.
type Engine struct {
	db     *sql.DB
	conn   *duckdb.Connector
	logger *slog.Logger

	mu    sync.Mutex
	views map[string]lake.Ref
	files []string // the local files the views read
}

// Options configures an Engine.
type Options struct {
	Logger  *slog.Logger
	Threads int // DuckDB threads (0: DuckDB's default, one per core)
}

// Open starts an in-memory DuckDB. Extension auto-install and auto-load are
// off: everything DuckDB needs (parquet, json) is linked in, and nothing is
// downloaded at run time.
func Open(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	conn, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1) // one session: views and settings live on it
	settings := []string{
		"SET autoinstall_known_extensions = false",
		"SET autoload_known_extensions = false",
	}
	if opts.Threads > 0 {
		settings = append(settings, fmt.Sprintf("SET threads = %d", opts.Threads))
	}
	for _, s := range settings {
		if _, err := db.ExecContext(ctx, s); err != nil {
			db.Close()
			conn.Close()
			return nil, fmt.Errorf("configure duckdb (%s): %w", s, err)
		}
	}
	return &Engine{db: db, conn: conn, logger: opts.Logger, views: map[string]lake.Ref{}}, nil
}

// Close closes the database.
func (e *Engine) Close() error {
	err := e.db.Close()
	if cerr := e.conn.Close(); err == nil {
		err = cerr
	}
	return err
}

// DB is the underlying database, for callers that run their own statements.
func (e *Engine) DB() *sql.DB { return e.db }

// Views lists the attached snapshots.
func (e *Engine) Views() map[string]lake.Ref {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]lake.Ref, len(e.views))
	for k, v := range e.views {
		out[k] = v
	}
	return out
}

// AddSnapshot makes a view named after the table over the snapshot's files.
// empty is the table's Parquet schema, used when the snapshot has no files
// (nil: such a table gets no view).
func (e *Engine) AddSnapshot(ctx context.Context, l *lake.Lake, s *lake.Snapshot, empty *parquet.Schema) error {
	return e.AddSnapshotAs(ctx, l, s, empty, s.Table)
}

// AddSnapshotAs is AddSnapshot with the view named view (to compare two
// snapshots of one table side by side).
func (e *Engine) AddSnapshotAs(ctx context.Context, l *lake.Lake, s *lake.Snapshot, empty *parquet.Schema, view string) error {
	paths, err := e.Paths(ctx, l, s.Table, s.Files)
	if err != nil {
		return fmt.Errorf("attach %s: %w", s.Ref(), err)
	}
	if len(paths) == 0 {
		if empty == nil {
			e.logger.Debug("no view for an empty table of unknown schema", "table", s.Table)
			return nil
		}
		p, err := l.EmptyFile(s.Schema, empty)
		if err != nil {
			return fmt.Errorf("attach %s: %w", s.Ref(), err)
		}
		paths = []string{p}
	}
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = "'" + strings.ReplaceAll(p, "'", "''") + "'"
	}
	stmt := fmt.Sprintf(`CREATE OR REPLACE VIEW "%s" AS SELECT * FROM read_parquet([%s], union_by_name = true, hive_partitioning = false)`,
		view, strings.Join(quoted, ", "))
	if _, err := e.db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("attach %s: %w", s.Ref(), err)
	}
	e.mu.Lock()
	e.views[view] = s.Ref()
	e.files = append(e.files, paths...)
	e.mu.Unlock()
	if col := schemas.RunOf(s.Table); col != "" && view == s.Table {
		if err := e.addLatestRun(ctx, l, s, col); err != nil {
			return fmt.Errorf("attach %s: latest run: %w", s.Ref(), err)
		}
	}
	return nil
}

// LatestPrefix names the view of a run-stacking table that holds only its
// latest run's rows: latest_curation_drops, latest_task_stats, ...
const LatestPrefix = "latest_"

// addLatestRun creates latest_<table>: the rows of the run (by col) whose
// rows the snapshot's last append added — the run that committed last.
func (e *Engine) addLatestRun(ctx context.Context, l *lake.Lake, s *lake.Snapshot, col string) error {
	t, err := l.Table(s.Table)
	if err != nil {
		return err
	}
	held := map[string]bool{}
	for _, f := range s.Files {
		held[f.Path] = true
	}
	var last []lake.File
	if c := s.Commit; c != nil && c.Version == s.Version { // usually the snapshot's own commit added files: no log read
		for _, f := range c.Added {
			if held[f.Path] {
				last = append(last, f)
			}
		}
	}
	for upto := s.Version; upto >= 1 && last == nil; upto -= 32 {
		log, err := t.Log(ctx, max(1, upto-31), upto)
		if err != nil {
			return err
		}
		for _, c := range slices.Backward(log) {
			for _, f := range c.Added {
				if held[f.Path] {
					last = append(last, f)
				}
			}
			if last != nil {
				break
			}
		}
	}
	cond := "false" // no run yet: an empty view
	if last != nil {
		paths, err := e.Paths(ctx, l, s.Table, last)
		if err != nil {
			return err
		}
		lit, err := Literal(paths)
		if err != nil {
			return err
		}
		cond = fmt.Sprintf(`"%s" IN (SELECT DISTINCT "%s" FROM read_parquet(%s))`, col, col, lit)
	}
	name := LatestPrefix + s.Table
	if _, err := e.db.ExecContext(ctx, fmt.Sprintf(`CREATE OR REPLACE VIEW "%s" AS SELECT * FROM "%s" WHERE %s`, name, s.Table, cond)); err != nil {
		return err
	}
	e.mu.Lock()
	e.views[name] = s.Ref()
	e.mu.Unlock()
	return nil
}

// Paths are local paths DuckDB can read holding the table's files, each
// checked against the log's sha256 (remote ones fetched into the cache).
func (e *Engine) Paths(ctx context.Context, l *lake.Lake, table string, files []lake.File) ([]string, error) {
	paths := make([]string, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, f := range files {
		g.Go(func() error {
			p, err := l.LocalPath(gctx, table, f)
			paths[i] = p
			return err
		})
	}
	return paths, g.Wait()
}

// Seal confines the session to the files its views read, for SQL from a
// user: no other host file can be read (read_csv('/etc/passwd')), no file
// written (COPY … TO), no database attached, no extension installed or
// loaded, and the configuration is locked so that no statement can undo
// it. Views added after Seal cannot be read. dirs are directories the
// session may read and write besides (a job's own work directory). (DuckDB's allowed_paths does
// not tell reads from writes: COPY onto a snapshot's own data file is
// possible, and refused by every later read, which checks the file's
// sha256 against the log.)
func (e *Engine) Seal(ctx context.Context, dirs ...string) error {
	e.mu.Lock()
	files := append([]string(nil), e.files...)
	e.mu.Unlock()
	list, err := Literal(files)
	if err != nil {
		return err
	}
	allowedDirs := "[]::VARCHAR[]"
	if len(dirs) > 0 {
		for i, d := range dirs {
			dirs[i] = strings.TrimSuffix(d, "/") + "/"
		}
		if allowedDirs, err = Literal(dirs); err != nil {
			return err
		}
	}
	for _, stmt := range []string{
		"SET allowed_directories = " + allowedDirs,
		"SET allowed_paths = " + list,
		"SET enable_external_access = false",
		"SET lock_configuration = true",
	} {
		if _, err := e.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("seal the SQL session (%.40s): %w", stmt, err)
		}
	}
	return nil
}

// Attach adds a view for every table of the lake at its pinned version
// (pins: table → version; absent tables at their latest). schemaOf returns a
// table's Parquet schema for empty tables (may return nil).
func (e *Engine) Attach(ctx context.Context, l *lake.Lake, pins map[string]int64, schemaOf func(table string) *parquet.Schema) error {
	tables, err := l.Tables(ctx)
	if err != nil {
		return err
	}
	for name := range pins {
		found := false
		for _, t := range tables {
			found = found || t == name
		}
		if !found {
			return fmt.Errorf("pin %s@%d: %w in %s", name, pins[name], lake.ErrNoTable, l.URL())
		}
	}
	for _, name := range tables {
		t, err := l.Table(name)
		if err != nil {
			return err
		}
		v, ok := pins[name]
		if !ok {
			v = lake.Latest
		}
		s, err := t.Snapshot(ctx, v)
		if (errors.Is(err, lake.ErrCorrupt) || errors.Is(err, lake.ErrStrayLog)) && !ok {
			// A damaged table does not take the others down: its view
			// raises the damage when a query reads it.
			e.logger.Warn("table damaged; queries that read it fail", "table", name, "err", err)
			msg, lerr := Literal(err.Error())
			if lerr != nil {
				return lerr
			}
			if _, err := e.db.ExecContext(ctx, fmt.Sprintf(`CREATE OR REPLACE VIEW "%s" AS SELECT NULL AS damaged FROM range(1) WHERE error(%s) IS NULL`, name, msg)); err != nil {
				return fmt.Errorf("view of damaged table %s: %w", name, err)
			}
			continue
		}
		if err != nil {
			return err
		}
		var schema *parquet.Schema
		if schemaOf != nil {
			schema = schemaOf(name)
		}
		if err := e.AddSnapshot(ctx, l, s, schema); err != nil {
			return err
		}
	}
	return nil
}
