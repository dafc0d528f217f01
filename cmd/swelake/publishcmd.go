package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/jobs/diff"
	"github.com/swelake/swelake/jobs/publish"
	"github.com/swelake/swelake/jobs/stage"
)

// newPublishCmd is `swelake lake publish <table>`: the publish job.
func newPublishCmd(a *app) *cobra.Command {
	c := newJobCmd(a, publish.Job)
	c.Use = "publish <table>[@version] --name <name>"
	return c
}

func newDiffCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "diff <a> <b>",
		Short: "Explain the difference between two snapshots: rows added, removed and changed by key; schema changes",
		Long: `Matches the rows of snapshot a and snapshot b by the table's key columns
(docs/tables.md) and counts rows added, removed, changed (same key, other
values; per column, how many rows differ in it) and unchanged, with up to
10 example keys of each kind, and the columns added, removed or retyped.`,
		Example: `  swelake lake diff rollouts@3 rollouts@5
  swelake lake diff sft_examples@1 sft_examples --json`,
		Args: usage(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			for _, s := range args {
				if _, err := a.tableArg(s); err != nil {
					return err
				}
			}
			l, _, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			res, err := diff.Run(ctx, l, args[0], args[1], a.logger)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.stdout, "%s → %s (key %s): %d → %d rows\n", res.From, res.To, strings.Join(res.Key, ", "), res.RowsA, res.RowsB)
			fmt.Fprintf(a.stdout, "  added %d, removed %d, changed %d, unchanged %d\n", res.Added, res.Removed, res.Changed, res.Unchanged)
			show := func(what string, keys []string, n int64) {
				if len(keys) > 0 {
					more := ""
					if n > int64(len(keys)) {
						more = fmt.Sprintf(" (and %d more)", n-int64(len(keys)))
					}
					fmt.Fprintf(a.stdout, "  %s: %s%s\n", what, strings.Join(keys, ", "), more)
				}
			}
			show("added", res.AddedKeys, res.Added)
			show("removed", res.RemovedKeys, res.Removed)
			show("changed", res.ChangedKeys, res.Changed)
			if len(res.ChangedColumns) > 0 {
				cols := map[string]int{}
				for c, n := range res.ChangedColumns {
					cols[c] = int(n)
				}
				fmt.Fprintf(a.stdout, "  changed columns: %s\n", stage.Counts(cols))
			}
			for _, c := range res.ColumnsAdded {
				fmt.Fprintf(a.stdout, "  column added: %s %s\n", c.Name, c.Type)
			}
			for _, c := range res.ColumnsRemoved {
				fmt.Fprintf(a.stdout, "  column removed: %s %s\n", c.Name, c.Type)
			}
			for _, c := range res.ColumnsRetyped {
				fmt.Fprintf(a.stdout, "  column retyped: %s %s → %s\n", c.Name, c.From, c.To)
			}
			return nil
		},
	}
}
