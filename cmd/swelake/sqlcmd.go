package main

import (
	"errors"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/queries"
)

func newSQLCmd(a *app) *cobra.Command {
	var (
		pins      []string
		named     string
		list      bool
		csv       bool
		maxWidth  int
		hostFiles bool
		params    []string
	)
	c := &cobra.Command{
		Use:   `sql "<query>"`,
		Short: "Run DuckDB SQL over pinned snapshots of the lake's tables",
		Long: `Every table of the lake is a view named after it, over the files of its
latest snapshot, or of the version given with --at table@version. Remote
(S3) files are fetched into a local cache and verified by sha256 before
DuckDB reads them. Output: an aligned table, --json (an array of objects)
or --csv. --query runs one of the embedded queries (--list shows them).

lake_commits is the commit log as a table (read only when a query names
it): one row per commit and partition it added files to, with the job, run
key, config hash, input snapshots, code version, author and time — what
lineage joins rows to through their partition column.

The session is confined to the snapshot files its views read: a query
cannot read other host files (read_csv('/etc/passwd')), write files (COPY …
TO), ATTACH databases or INSTALL/LOAD extensions, and cannot change that
setting. --allow-host-files lifts the confinement for a trusted query (an
export with COPY, a join with a local CSV); swelake never passes text from
ingested rows into SQL (docs/security.md).`,
		Example: `  swelake sql "SELECT source, count(*) FROM tasks GROUP BY ALL"
  swelake sql --at rollouts@3 "SELECT count(*) FROM rollouts WHERE resolved"
  swelake sql --query rollout_summary --json
  swelake sql --query pass_at_k
  swelake sql --query curriculum_nebius_stage2 --param hi=0.5
  swelake sql "SELECT table_name, version, job, run_key, inputs FROM lake_commits ORDER BY time"`,
		Args: usage(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if list {
				all, err := queries.List()
				if err != nil {
					return err
				}
				if a.json {
					return a.printJSON(all)
				}
				for _, q := range all {
					fmt.Fprintf(a.stdout, "%-20s %s\n", q.Name, q.Description)
					for _, p := range q.Params {
						fmt.Fprintf(a.stdout, "%-20s   --param %s=%v  %s\n", "", p.Name, p.Default, p.Doc)
					}
				}
				return nil
			}
			var text string
			var qargs []any
			if len(params) > 0 && named == "" {
				return usageError{errors.New("--param sets a parameter of an embedded query (--query <name>)")}
			}
			switch {
			case named != "" && len(args) == 1:
				return usageError{errors.New("give a query or --query, not both")}
			case named != "":
				q, err := queries.Load(named)
				if err != nil {
					return usageError{err}
				}
				set := map[string]any{}
				for _, p := range params {
					k, v, ok := strings.Cut(p, "=")
					if !ok {
						return usageError{fmt.Errorf("--param %s: want name=value", p)}
					}
					set[k] = queries.ParseValue(v)
				}
				if qargs, err = q.Args(set); err != nil {
					return usageError{err}
				}
				text = q.SQL
			case len(args) == 1:
				text = args[0]
			default:
				return usageError{errors.New(`no query: swelake sql "<query>" or --query <name>`)}
			}
			if a.json && csv {
				return usageError{errors.New("--json and --csv exclude each other")}
			}
			pinMap, err := a.pins(pins)
			if err != nil {
				return err
			}
			l, _, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			start := a.now()
			e, err := queries.Open(ctx, queries.Options{Logger: a.logger})
			if err != nil {
				return err
			}
			defer e.Close()
			if err := e.Attach(ctx, l, pinMap, tables.ParquetSchema); err != nil {
				return err
			}
			if strings.Contains(text, queries.CommitsView) {
				if err := e.AttachCommits(ctx, l, pinMap); err != nil {
					return err
				}
			}
			if strings.Contains(text, queries.RunsView) {
				if err := e.AttachRuns(ctx, l); err != nil {
					return err
				}
			}
			if !hostFiles {
				if err := e.Seal(ctx); err != nil {
					return err
				}
			}
			var views []string
			for _, ref := range e.Views() {
				views = append(views, ref.String())
			}
			a.logger.Debug("attached", "views", strings.Join(views, " "), "elapsed", a.now().Sub(start))
			res, err := e.Query(ctx, text, qargs...)
			if err != nil {
				return fmt.Errorf("sql: %w", err)
			}
			a.logger.Debug("query done", "rows", len(res.Rows), "elapsed", a.now().Sub(start).Round(time.Millisecond))
			switch {
			case a.json:
				return res.WriteJSON(a.stdout)
			case csv:
				return res.WriteCSV(a.stdout)
			}
			return res.WriteTable(a.stdout, maxWidth)
		},
	}
	c.Flags().StringArrayVar(&pins, "at", nil, "pin a table to a version: table@version (repeatable)")
	c.Flags().StringVar(&named, "query", "", "run an embedded query by name")
	c.Flags().StringArrayVar(&params, "param", nil, "set a parameter of the embedded query: name=value (repeatable; --list shows them)")
	c.Flags().BoolVar(&list, "list", false, "list the embedded queries")
	c.Flags().BoolVar(&csv, "csv", false, "print CSV")
	c.Flags().IntVar(&maxWidth, "max-width", 80, "cut table cells longer than this many characters (0: no limit)")
	c.Flags().BoolVar(&hostFiles, "allow-host-files", false, "let the query read and write host files, ATTACH and INSTALL (trusted queries only)")
	return c
}

// pins reads --at table@version flags into a pin map.
func (a *app) pins(at []string) (map[string]int64, error) {
	pinMap := map[string]int64{}
	for _, p := range at {
		ref, err := a.tableArg(p)
		if err != nil {
			return nil, err
		}
		if ref.Version == lake.Latest {
			return nil, usageError{fmt.Errorf("--at %s: want table@version", p)}
		}
		pinMap[ref.Table] = ref.Version
	}
	return pinMap, nil
}
