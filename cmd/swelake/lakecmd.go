package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/internal/progress"
	"github.com/swelake/swelake/jobs/load"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
)

func jsonEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc
}

func newLakeCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "lake",
		Short: "Create, inspect, verify and maintain a lake",
		Long: `A lake is a root directory or S3 prefix holding tables. Each table is
Parquet data files plus a log of commits (tables/<t>/_log/<version>.json);
a snapshot table@version is the set of files its log names at that version.
See docs/lake-format.md.`,
	}
	c.AddCommand(newInitCmd(a), newTablesCmd(a), newLogCmd(a), newRunsCmd(a), newShowCmd(a), newVerifyCmd(a), newRepairCmd(a), newDedupeCmd(a), newGCCmd(a), newAppendCmd(a), newPublishCmd(a), newDiffCmd(a), newRawCmd(a), newMigrateCmd(a))
	return c
}

func newInitCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create the lake (and its S3 bucket if missing) and its tables",
		Long: `Creates the lake root marker and every table of this swelake version
(tasks, rollouts, quarantine) at version 0. Idempotent: running it again on
an existing lake changes nothing. On an s3:// root the bucket is created if
it does not exist.`,
		Example: `  swelake lake init                         # ./lake
  swelake lake init --lake s3://datasets/swe  # with SWELAKE_S3_ENDPOINT etc. set`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			l, r, err := a.openLake(ctx, true)
			if err != nil {
				return err
			}
			if s3, ok := l.Bucket().(*objstore.S3); ok && r.s3 {
				if err := s3.EnsureBucket(ctx); err != nil {
					return err
				}
			}
			if err := l.Init(ctx); err != nil {
				return err
			}
			created, err := tables.CreateTables(ctx, l, lake.Provenance{Job: "lake-init"})
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]any{"lake": l.URL(), "tables": created})
			}
			fmt.Fprintf(a.stdout, "lake %s\n", l.URL())
			for _, c := range created {
				state := "exists"
				if c.Created {
					state = "created"
				}
				fmt.Fprintf(a.stdout, "  %-16s %s\n", c.Table, state)
			}
			return nil
		},
	}
}

type tableInfo struct {
	Table       string    `json:"table"`
	Version     int64     `json:"version"`
	Rows        int64     `json:"rows"`
	Files       int       `json:"files"`
	Bytes       int64     `json:"bytes"`
	Schema      string    `json:"schema"`
	PartitionBy []string  `json:"partition_by"`
	Updated     time.Time `json:"updated"`
	Error       string    `json:"error,omitempty"` // a damaged table: why it cannot be read
}

func newTablesCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "tables",
		Short: "List the tables with their latest version, rows and size",
		Args:  usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			l, _, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			names, err := l.Tables(ctx)
			if err != nil {
				return err
			}
			// A damaged table is listed with its error; the others as usual.
			infos := []tableInfo{}
			var broken []string
			for _, n := range names {
				t, _ := l.Table(n)
				s, err := t.Snapshot(ctx, lake.Latest)
				if err != nil {
					if errors.Is(err, context.Canceled) {
						return err
					}
					infos = append(infos, tableInfo{Table: n, Version: -1, Error: err.Error()})
					broken = append(broken, n)
					continue
				}
				infos = append(infos, tableInfo{Table: n, Version: s.Version, Rows: s.Rows(), Files: len(s.Files), Bytes: s.Bytes(),
					Schema: fmt.Sprintf("%s/v%d", s.Schema.Name, s.Schema.Version), PartitionBy: s.PartitionBy, Updated: s.Commit.Provenance.Time})
			}
			if a.json {
				if err := a.printJSON(infos); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "TABLE\tVERSION\tROWS\tFILES\tSIZE\tPARTITION BY\tUPDATED")
				for _, i := range infos {
					if i.Error != "" {
						fmt.Fprintf(tw, "%s\tDAMAGED\t\t\t\t\t%s\n", i.Table, i.Error)
						continue
					}
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\n", i.Table, i.Version, i.Rows, i.Files, progress.Bytes(i.Bytes),
						strings.Join(i.PartitionBy, ","), i.Updated.Local().Format(time.DateTime))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			if len(broken) > 0 {
				return fmt.Errorf("%d damaged table(s): %s (swelake lake verify names the entries; swelake lake repair <table> moves aside what no commit wrote): %w",
					len(broken), strings.Join(broken, ", "), lake.ErrCorrupt)
			}
			return nil
		},
	}
}

// openTable parses "table[@version]" and opens the table in the configured lake.
func (a *app) openTable(ctx context.Context, arg string) (*lake.Table, lake.Ref, error) {
	ref, err := a.tableArg(arg)
	if err != nil {
		return nil, ref, err
	}
	l, _, err := a.openLake(ctx, false)
	if err != nil {
		return nil, ref, err
	}
	t, err := l.Table(ref.Table)
	return t, ref, err
}

func (a *app) tableArg(s string) (lake.Ref, error) {
	ref, err := lake.ParseRef(s)
	if err != nil {
		return ref, usageError{err}
	}
	return ref, nil
}

func newLogCmd(a *app) *cobra.Command {
	var limit int
	c := &cobra.Command{
		Use:   "log <table>",
		Short: "Show a table's commits, newest first, with their provenance",
		Args:  usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, ref, err := a.openTable(ctx, args[0])
			if err != nil {
				return err
			}
			latest, err := t.Latest(ctx)
			if err != nil {
				return err
			}
			upto := latest
			if ref.Version != lake.Latest {
				if ref.Version > latest {
					return fmt.Errorf("log %s: %w (latest is %d)", ref, lake.ErrNoVersion, latest)
				}
				upto = ref.Version
			}
			from := int64(0)
			if limit > 0 {
				from = max(0, upto-int64(limit)+1)
			}
			commits, err := t.Log(ctx, from, upto)
			if err != nil {
				return err
			}
			slices.Reverse(commits)
			if a.json {
				return a.printJSON(commits)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tTIME\tOPERATION\tJOB\tRUN KEY\tFILES\tROWS\tTOTAL ROWS\tAUTHOR")
			for _, c := range commits {
				files := fmt.Sprintf("+%d", c.Summary.AddedFiles)
				rows := fmt.Sprintf("+%d", c.Summary.AddedRows)
				if c.Summary.RemovedFiles > 0 {
					files += fmt.Sprintf(" -%d", c.Summary.RemovedFiles)
					rows += fmt.Sprintf(" -%d", c.Summary.RemovedRows)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", c.Version, c.Provenance.Time.Local().Format(time.DateTime),
					c.Operation, c.Provenance.Job, orDefault(c.Provenance.RunKey, "-"), files, rows, c.Summary.TotalRows, c.Provenance.Author)
			}
			return tw.Flush()
		},
	}
	c.Flags().IntVarP(&limit, "limit", "n", 0, "show only the newest n commits")
	return c
}

type partitionInfo struct {
	Partition string `json:"partition"`
	Files     int    `json:"files"`
	Rows      int64  `json:"rows"`
	Bytes     int64  `json:"bytes"`
}

func newShowCmd(a *app) *cobra.Command {
	var showFiles bool
	c := &cobra.Command{
		Use:   "show <table>[@version]",
		Short: "Describe a snapshot: schema, partitions, size and the commit that made it",
		Example: `  swelake lake show rollouts
  swelake lake show rollouts@3 --files --json`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, ref, err := a.openTable(ctx, args[0])
			if err != nil {
				return err
			}
			s, err := t.Snapshot(ctx, ref.Version)
			if err != nil {
				return err
			}
			parts := map[string]*partitionInfo{}
			var order []string
			for _, f := range s.Files {
				k := f.Partition.String()
				p := parts[k]
				if p == nil {
					p = &partitionInfo{Partition: k}
					parts[k] = p
					order = append(order, k)
				}
				p.Files++
				p.Rows += f.Rows
				p.Bytes += f.Bytes
			}
			slices.Sort(order)
			partList := []partitionInfo{}
			for _, k := range order {
				partList = append(partList, *parts[k])
			}
			if a.json {
				out := map[string]any{
					"snapshot": s.Ref().String(), "table": s.Table, "version": s.Version, "rows": s.Rows(), "bytes": s.Bytes(),
					"files": len(s.Files), "schema": s.Schema, "partition_by": s.PartitionBy, "partitions": partList, "commit": s.Commit,
				}
				if showFiles {
					out["file_list"] = s.Files
				}
				return a.printJSON(out)
			}
			p := s.Commit.Provenance
			fmt.Fprintf(a.stdout, "snapshot     %s\nrows         %d\nfiles        %d (%s)\nschema       %s v%d (sha256 %.12s)\npartitioned  %s\ncommitted    %s by %s (%s)\njob          %s  run key %s  config %s\ninputs       %s\n",
				s.Ref(), s.Rows(), len(s.Files), progress.Bytes(s.Bytes()), s.Schema.Name, s.Schema.Version, s.Schema.Fingerprint,
				orDefault(strings.Join(s.PartitionBy, ","), "-"), p.Time.Local().Format(time.RFC3339), p.Author, p.CodeVersion,
				orDefault(p.Job, "-"), orDefault(p.RunKey, "-"), orDefault(shortHash(p.ConfigHash), "-"), orDefault(strings.Join(p.Inputs, " "), "-"))
			if p.Sandbox != "" {
				fmt.Fprintf(a.stdout, "sandbox      %s\n", p.Sandbox)
			}
			if len(partList) > 0 {
				fmt.Fprintln(a.stdout)
				tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "PARTITION\tFILES\tROWS\tSIZE")
				for _, p := range partList {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", p.Partition, p.Files, p.Rows, progress.Bytes(p.Bytes))
				}
				tw.Flush()
			}
			if showFiles {
				fmt.Fprintln(a.stdout)
				tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "FILE\tROWS\tBYTES\tSHA256")
				for _, f := range s.Files {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", f.Path, f.Rows, f.Bytes, f.SHA256)
				}
				tw.Flush()
			}
			fmt.Fprintf(a.stdout, "\nschema:\n%s\n", s.Schema.Parquet)
			return nil
		},
	}
	c.Flags().BoolVar(&showFiles, "files", false, "list every data file with its rows, size and sha256")
	return c
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func newVerifyCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "verify [<table>[@version]]",
		Short: "Re-hash every file of the latest (or given) snapshot and compare with the log",
		Long: `Reads every data file of the snapshot, compares its size and sha256 with
the log, checks that no key (tasks: task_id, rollouts: rollout_id, ...) is
held twice, and exits non-zero naming each file that is missing or differs
and each table with duplicate keys (swelake lake dedupe repairs those).
Without a table, verifies the latest snapshot of every table.`,
		Args: usage(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			l, _, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			var refs []lake.Ref
			if len(args) == 1 {
				ref, err := a.tableArg(args[0])
				if err != nil {
					return err
				}
				refs = append(refs, ref)
			} else {
				names, err := l.Tables(ctx)
				if err != nil {
					return err
				}
				for _, n := range names {
					refs = append(refs, lake.Ref{Table: n, Version: lake.Latest})
				}
			}
			type verified struct {
				Snapshot string         `json:"snapshot"`
				Entries  int64          `json:"log_entries"`
				Files    int            `json:"files"`
				Bytes    int64          `json:"bytes"`
				Problems []lake.Problem `json:"problems"`
			}
			var results []verified
			var all []lake.Problem
			for _, ref := range refs {
				t, _ := l.Table(ref.Table)
				// Every log entry, read from storage: a damaged or missing
				// one is a problem even where a checkpoint covers it.
				problems, err := t.VerifyLog(ctx)
				if err != nil {
					return err
				}
				s, err := t.Snapshot(ctx, ref.Version)
				if err != nil {
					if len(problems) == 0 {
						return err
					}
					results = append(results, verified{Snapshot: ref.String(), Entries: -1, Problems: problems})
					all = append(all, problems...)
					continue
				}
				bar := progress.New(a.stderr, a.stderrIsTTY, "verify "+s.Ref().String(), s.Bytes(), a.now)
				start := a.now()
				fileProblems, err := t.Verify(ctx, s, bar.Set)
				bar.Finish()
				if err != nil {
					return err
				}
				problems = append(problems, fileProblems...)
				if key := tables.Key(ref.Table); key != nil && len(fileProblems) == 0 {
					d, err := t.DuplicateKeys(ctx, s, key)
					if err != nil {
						return err
					}
					if d.Rows > 0 {
						problems = append(problems, lake.Problem{Table: ref.Table, Path: "keys", Reason: fmt.Sprintf(
							"%d row(s) repeat %d key(s) (%s) an earlier row holds, first %q; swelake lake dedupe %s keeps the first of each",
							d.Rows, d.Keys, strings.Join(d.Columns, ", "), strings.Join(d.First, ", "), ref.Table)})
					}
				}
				a.logger.Info("verified", "snapshot", s.Ref().String(), "files", len(s.Files), "bytes", s.Bytes(),
					"problems", len(problems), "elapsed", a.now().Sub(start).Round(time.Millisecond))
				results = append(results, verified{Snapshot: s.Ref().String(), Entries: s.Version + 1, Files: len(s.Files), Bytes: s.Bytes(), Problems: append([]lake.Problem{}, problems...)})
				all = append(all, problems...)
			}
			if a.json {
				if err := a.printJSON(results); err != nil {
					return err
				}
			} else {
				for _, r := range results {
					state := "ok"
					if len(r.Problems) > 0 {
						state = fmt.Sprintf("%d CORRUPT", len(r.Problems))
					}
					fmt.Fprintf(a.stdout, "%-24s %5d log entries %5d files %10s  %s\n", r.Snapshot, max(r.Entries, 0), r.Files, progress.Bytes(r.Bytes), state)
					for _, p := range r.Problems {
						fmt.Fprintf(a.stdout, "  %s\n", p)
					}
				}
			}
			if len(all) > 0 {
				return fmt.Errorf("verify: %d problem(s), first %s: %w", len(all), all[0], lake.ErrCorrupt)
			}
			return nil
		},
	}
}

func newDedupeCmd(a *app) *cobra.Command {
	var dryRun bool
	c := &cobra.Command{
		Use:   "dedupe [<table>...]",
		Short: "Drop the later copies of keys a table holds twice (lakes written before keys were enforced)",
		Long: `Every table holds each of its keys once (docs/lake.md, "Keys"): appends that
repeat a key are refused. A lake written by an older swelake, or by another
tool, may hold a key twice; swelake lake verify reports it. dedupe keeps the
first row of each key, in commit order, and rewrites the partitions that hold
later copies as one commit (earlier versions keep their rows until gc).
Without a table, every table.`,
		Example: `  swelake lake dedupe --dry-run
  swelake lake dedupe tasks rollouts --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			l, _, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			names := args
			if len(names) == 0 {
				if names, err = l.Tables(ctx); err != nil {
					return err
				}
			}
			var results []lake.DedupeResult
			for _, name := range names {
				if err := lake.ValidateTableName(name); err != nil {
					return usageError{err}
				}
				if tables.Key(name) == nil {
					if len(args) > 0 {
						return usageError{fmt.Errorf("dedupe %s: not a table with key columns of this swelake", name)}
					}
					continue
				}
				res, err := tables.Dedupe(ctx, l, name, lake.Provenance{CodeVersion: codeVersion(), Author: a.cfg.Author}, dryRun)
				if err != nil {
					return err
				}
				results = append(results, res)
				if a.json {
					continue
				}
				d := res.Before
				switch {
				case d.Rows == 0:
					fmt.Fprintf(a.stdout, "%-16s no duplicate keys (%d rows)\n", name, res.RowsBefore)
				case dryRun:
					fmt.Fprintf(a.stdout, "%-16s %d row(s) repeat %d key(s), first %q: would keep %d of %d rows\n", name, d.Rows, d.Keys, strings.Join(d.First, ", "), res.RowsAfter, res.RowsBefore)
				default:
					fmt.Fprintf(a.stdout, "%-16s dropped %d later copies of %d key(s): %s@%d holds %d rows (was %d)\n", name, d.Rows, d.Keys, name, res.Version, res.RowsAfter, res.RowsBefore)
				}
			}
			if a.json {
				return a.printJSON(results)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "count the duplicates, change nothing")
	return c
}

func newRepairCmd(a *app) *cobra.Command {
	var dryRun bool
	c := &cobra.Command{
		Use:   "repair <table>",
		Short: "Move aside log entries no commit wrote, so that a damaged table reads again",
		Long: `A table whose log holds an entry after a gap in its versions (a stray
_log/…099.json) or a damaged newest entry cannot be read: every command on
it fails naming the entry. repair moves such entries to
tables/<t>/_log/_quarantine/ (nothing is deleted) and drops a checkpoint that
points past the new latest version. It refuses what it cannot undo safely —
a damaged entry with commits after it, a run of chained commits after a
missing version — and says to restore that entry from a backup. Data files
that only a moved entry named become orphans, which lake gc removes after its
grace period.`,
		Example: `  swelake lake repair rollouts --dry-run
  swelake lake repair rollouts`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			l, _, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			if err := lake.ValidateTableName(args[0]); err != nil {
				return usageError{err}
			}
			res, err := l.Repair(ctx, args[0], dryRun)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(res)
			}
			verb := "moved"
			if dryRun {
				verb = "would move"
			}
			if len(res.Moved) == 0 {
				fmt.Fprintf(a.stdout, "%s: nothing to repair (latest version %d)\n", res.Table, res.Kept)
				return nil
			}
			fmt.Fprintf(a.stdout, "%s: %s %d log entr%s to _log/_quarantine/: %s; latest version is %d\n", res.Table, verb, len(res.Moved),
				map[bool]string{true: "y", false: "ies"}[len(res.Moved) == 1], strings.Join(res.Moved, ", "), res.Kept)
			return nil
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be moved, move nothing")
	return c
}

func newGCCmd(a *app) *cobra.Command {
	var olderThan time.Duration
	var dryRun bool
	c := &cobra.Command{
		Use:   "gc",
		Short: "Delete orphan files (written by failed or killed writers) older than a grace period",
		Long: `Deletes data files that no commit of any version names, and staged temp
files, when they are older than --older-than. A file any snapshot names is
never deleted. The grace period protects writers that have written files
and not yet committed them: keep it longer than your longest job.`,
		Example: `  swelake lake gc --dry-run
  swelake lake gc --older-than 1h`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if olderThan < 0 {
				return usageError{fmt.Errorf("--older-than %v: must not be negative", olderThan)}
			}
			l, _, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			res, err := l.GC(ctx, olderThan, dryRun)
			if err != nil {
				return err
			}
			var bytes int64
			for _, o := range res.Removed {
				bytes += o.Size
			}
			if a.json {
				return a.printJSON(map[string]any{"dry_run": dryRun, "removed": len(res.Removed), "removed_bytes": bytes,
					"kept_recent_orphans": res.Kept, "live_files": res.Live, "files": res.Removed, "aborted_uploads": res.Aborted})
			}
			verb := "removed"
			if dryRun {
				verb = "would remove"
			}
			for _, o := range res.Removed {
				fmt.Fprintf(a.stdout, "%s %s (%s, %s)\n", verb, o.Key, progress.Bytes(o.Size), o.ModTime.Local().Format(time.DateTime))
			}
			for _, u := range res.Aborted {
				fmt.Fprintf(a.stdout, "%s unfinished upload of %s (started %s)\n", map[bool]string{true: "would abort", false: "aborted"}[dryRun], u.Key, u.Initiated.Local().Format(time.DateTime))
			}
			fmt.Fprintf(a.stdout, "%s %d orphan(s), %s; kept %d orphan(s) younger than %v; %d live file(s); %d unfinished upload(s)\n",
				verb, len(res.Removed), progress.Bytes(bytes), res.Kept, olderThan, res.Live, len(res.Aborted))
			return nil
		},
	}
	c.Flags().DurationVar(&olderThan, "older-than", 24*time.Hour, "grace period: only orphans older than this are deleted")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be deleted, delete nothing")
	return c
}

func newAppendCmd(a *app) *cobra.Command {
	var cfg load.Config
	c := &cobra.Command{
		Use:   "append <table> <file...>",
		Short: "Append rows from JSONL or Parquet files in the table's schema, as one commit",
		Long: `Reads rows in the table's schema (column names as in docs/tables.md) from
JSONL (.jsonl, .ndjson, .json; optionally .gz or .zst) or Parquet files,
validates every row, then writes and commits them as one append. A column
absent from a row takes its null or zero value unless the table requires it
(tasks: task_id, source; rollouts: rollout_id, task_id, run_id). A bad row —
unknown column, wrong type, missing required column — refuses the whole
append with its file, line and reason; nothing is written.

Appending the same files again is a no-op (the run key is derived from their
content); --run-key names the run. The table holds each key once: a row whose
key (tasks: task_id; rollouts: rollout_id; see docs/schemas.md) the table
already holds, or that repeats in the input, refuses the append naming the
key; --on-duplicate skip appends only the rows with new keys.`,
		Example: `  swelake lake append tasks tasks.jsonl
  swelake lake append rollouts runs/*.parquet --json`,
		Args: usage(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg.Table, cfg.Files = args[0], args[1:]
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			l, _, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			bar := progress.New(a.stderr, a.stderrIsTTY, "append "+cfg.Table, 0, a.now)
			start := a.now()
			sum, err := load.Run(ctx, l, cfg, func(pass string, done, total int64) {
				bar.Label(pass + " " + cfg.Table)
				bar.SetTotal(total)
				bar.Set(done)
			})
			bar.Finish()
			if err != nil {
				return err
			}
			a.logger.Info("appended", "table", sum.Table, "version", sum.Version, "rows", sum.Rows,
				"already_committed", sum.AlreadyCommitted, "elapsed", a.now().Sub(start).Round(time.Millisecond))
			if a.json {
				return a.printJSON(sum)
			}
			if sum.AlreadyCommitted {
				fmt.Fprintf(a.stdout, "already committed as %s@%d (run key %s): nothing written\n", sum.Table, sum.Version, sum.RunKey)
				return nil
			}
			if sum.Rows == 0 && sum.Skipped == 0 {
				fmt.Fprintf(a.stdout, "nothing to append: the input has no rows (%s@%d unchanged)\n", sum.Table, sum.Version)
				return nil
			}
			if sum.Rows == 0 {
				fmt.Fprintf(a.stdout, "nothing new: every row's key is in %s@%d (%d skipped)\n", sum.Table, sum.Version, sum.Skipped)
				return nil
			}
			if sum.Skipped > 0 {
				fmt.Fprintf(a.stdout, "skipped %d row(s) whose keys %s held\n", sum.Skipped, sum.Table)
			}
			fmt.Fprintf(a.stdout, "committed %s@%d: %d rows in %d file(s), %s\n", sum.Table, sum.Version, sum.Rows, sum.Files, progress.Bytes(sum.Bytes))
			return nil
		},
	}
	c.Flags().StringVar(&cfg.RunKey, "run-key", "", "run key (default: derived from the table and the files' content)")
	c.Flags().StringVar(&cfg.OnDuplicate, "on-duplicate", "refuse", "a row whose key the table holds: refuse (fail the append) or skip (leave it out)")
	return c
}
