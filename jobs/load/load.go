// Package load is the job behind `swelake lake append`: rows from JSONL or
// Parquet files in a table's schema, validated in full, then written and
// committed as one append. A bad row refuses the whole append, naming the
// file, line and reason; nothing is written.
package load

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/swelake/swelake/jobs/ingest"
	"github.com/swelake/swelake/jobs/tables"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"

	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// JobName is recorded in the provenance of every commit of this job.
const JobName = "lake-append"

// Config is the job's typed configuration.
type Config struct {
	Table string   `json:"table"`
	Files []string `json:"files"`
	// RunKey makes reruns no-ops. Empty: derived from the table and the
	// files' contents, so appending the same files twice is a no-op.
	RunKey string `json:"run_key"`
	// OnDuplicate: "refuse" (default) fails the append if a row's key is in
	// the table already; "skip" appends only the rows with new keys.
	OnDuplicate string `json:"on_duplicate"`
	Write       lake.WriteOptions
}

// Validate checks the config before any I/O.
func (c Config) Validate() error {
	if err := lake.ValidateTableName(c.Table); err != nil {
		return err
	}
	if len(c.Files) == 0 {
		return errors.New("no input files")
	}
	if _, err := lake.ParseOnDuplicate(c.OnDuplicate); err != nil {
		return err
	}
	for _, f := range c.Files {
		if _, err := formatOf(f); err != nil {
			return err
		}
	}
	return nil
}

// Progress receives the bytes read so far of the current pass.
type Progress func(pass string, done, total int64)

// Summary is what the job did.
type Summary struct {
	Table            string `json:"table"`
	Version          int64  `json:"version"`
	Rows             int64  `json:"rows"`
	Files            int    `json:"files_written"`
	Bytes            int64  `json:"bytes_written"`
	RunKey           string `json:"run_key"`
	AlreadyCommitted bool   `json:"already_committed"`
	// Skipped: rows left out because the table held their keys
	// (on_duplicate skip).
	Skipped int64 `json:"skipped_duplicates,omitempty"`
}

// Run validates every input, then writes and commits them.
func Run(ctx context.Context, l *lake.Lake, cfg Config, progress Progress) (Summary, error) {
	if err := cfg.Validate(); err != nil {
		return Summary{}, fmt.Errorf("append to %s: %w", cfg.Table, err)
	}
	switch cfg.Table {
	case schemas.Tasks.Name:
		return run(ctx, l, schemas.Tasks, cfg, progress)
	case schemas.Rollouts.Name:
		return run(ctx, l, schemas.Rollouts, cfg, progress)
	case schemas.Evaluations.Name:
		return run(ctx, l, schemas.Evaluations, cfg, progress)
	case schemas.Quarantine.Name:
		return run(ctx, l, schemas.Quarantine, cfg, progress)
	case schemas.Checkpoints.Name:
		return run(ctx, l, schemas.Checkpoints, cfg, progress)
	}
	return Summary{}, fmt.Errorf("append to %s: %w (tables with a schema: %s)", cfg.Table, lake.ErrNoTable, strings.Join(schemas.Names(), ", "))
}

func run[T any](ctx context.Context, l *lake.Lake, def schemas.Def[T], cfg Config, progress Progress) (Summary, error) {
	tbl, err := l.Table(def.Name)
	if err != nil {
		return Summary{}, err
	}
	if _, err := tbl.Latest(ctx); err != nil {
		return Summary{}, fmt.Errorf("append to %s: %w (run swelake lake init)", def.Name, err)
	}
	total := int64(0)
	for _, f := range cfg.Files {
		st, err := os.Stat(f)
		if err != nil {
			return Summary{}, fmt.Errorf("append to %s: %w", def.Name, err)
		}
		total += st.Size()
	}
	// Pass 1: validate every row of every file and hash the inputs.
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", def.Name)
	var rows int64
	for row, err := range readAll(ctx, def, cfg.Files, h, progressFunc(progress, "validate", total)) {
		if err != nil {
			return Summary{}, fmt.Errorf("append to %s: %w", def.Name, err)
		}
		_ = row
		rows++
	}
	runKey := cfg.RunKey
	if runKey == "" {
		runKey = JobName + ":" + hex.EncodeToString(h.Sum(nil))[:32]
	}
	sum := Summary{Table: def.Name, RunKey: runKey}
	if runKey != "" {
		if c, ok, err := tbl.Committed(ctx, runKey); err != nil {
			return sum, err
		} else if ok {
			sum.Version, sum.Rows, sum.AlreadyCommitted = c.Version, c.Summary.AddedRows, true
			return sum, nil
		}
	}
	// Pass 2: write.
	cfgHash, err := tables.ConfigHash(cfg)
	if err != nil {
		return sum, err
	}
	wopts := cfg.Write
	wopts.OnDuplicate, _ = lake.ParseOnDuplicate(cfg.OnDuplicate)
	res, files, err := tbl.AppendKeyed(ctx, func(ctx context.Context) (lake.Files, error) {
		return lake.WriteFiles(ctx, tbl, tables.Spec(def), readAll(ctx, def, cfg.Files, nil, progressFunc(progress, "write", total)), wopts)
	}, lake.Provenance{Job: JobName, RunKey: runKey, ConfigHash: cfgHash, Inputs: tables.FileRefs(cfg.Files)})
	if err != nil {
		return sum, err
	}
	sum.Skipped = files.Skipped
	if res.Empty {
		sum.Version = res.Commit.Version
		return sum, nil
	}
	sum.Version, sum.AlreadyCommitted = res.Commit.Version, res.AlreadyCommitted
	sum.Rows = res.Commit.Summary.AddedRows
	if !res.AlreadyCommitted {
		sum.Files, sum.Bytes = res.Commit.Summary.AddedFiles, res.Commit.Summary.AddedBytes
	}
	return sum, nil
}

func progressFunc(p Progress, pass string, total int64) func(int64) {
	if p == nil {
		return nil
	}
	return func(done int64) { p(pass, done, total) }
}

type format int

const (
	formatJSONL format = iota
	formatParquet
)

func formatOf(path string) (format, error) {
	base := strings.ToLower(filepath.Base(path))
	base = strings.TrimSuffix(strings.TrimSuffix(base, ".gz"), ".zst")
	switch {
	case strings.HasSuffix(base, ".jsonl"), strings.HasSuffix(base, ".ndjson"), strings.HasSuffix(base, ".json"):
		return formatJSONL, nil
	case strings.HasSuffix(base, ".parquet") && base == strings.ToLower(filepath.Base(path)):
		return formatParquet, nil
	}
	return 0, fmt.Errorf("%s: unknown input format (want .jsonl, .ndjson, .json, optionally .gz or .zst, or .parquet)", path)
}

// readAll yields the rows of every file in order. If h is not nil, each
// file's bytes are hashed into it.
func readAll[T any](ctx context.Context, def schemas.Def[T], paths []string, h io.Writer, progress func(int64)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		var done int64
		stop := errors.New("stop")
		for _, path := range paths {
			f, err := os.Open(path)
			if err != nil {
				yield(zero, err)
				return
			}
			counted := &countingReader{r: f, ctx: ctx, base: done, progress: progress}
			var src io.Reader = counted
			if h != nil {
				fmt.Fprintf(h, "%s\x00", filepath.Base(path))
				src = io.TeeReader(counted, h)
			}
			emit := func(_ int64, row T) error {
				if !yield(row, nil) {
					return stop
				}
				return nil
			}
			fmtKind, _ := formatOf(path)
			if fmtKind == formatParquet {
				if h != nil { // hash the whole file; the Parquet reader seeks
					if _, err := io.Copy(h, f); err != nil {
						f.Close()
						yield(zero, err)
						return
					}
				}
				err = schemas.ReadParquet(path, def, emit)
				if st, serr := f.Stat(); serr == nil {
					counted.n = st.Size()
				}
			} else {
				var r io.ReadCloser
				if r, err = ingest.Decompress(path, src); err == nil {
					err = schemas.DecodeJSONL(r, path, def, emit)
					r.Close()
				}
			}
			f.Close()
			if errors.Is(err, stop) {
				return
			}
			if err != nil {
				yield(zero, err)
				return
			}
			done += counted.n
		}
	}
}

type countingReader struct {
	r        io.Reader
	ctx      context.Context
	n, base  int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.progress != nil {
		c.progress(c.base + c.n)
	}
	return n, err
}
