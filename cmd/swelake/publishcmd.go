package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/internal/progress"
	"github.com/swelake/swelake/jobs/diff"
	"github.com/swelake/swelake/jobs/publish"
)

func newPublishCmd(a *app) *cobra.Command {
	var cfg publish.Config
	c := &cobra.Command{
		Use:   "publish <table>[@version] --name <name>",
		Short: "Publish a snapshot in the Hugging Face datasets layout, immutable and byte-reproducible",
		Long: `Writes <lake>/published/<name>/v<version>/:

  data/<split>-00000-of-0000N.parquet   rows in key order, zstd, row groups ≤ 100 MB
  README.md                             dataset card: YAML configs and dataset_info
                                        (features, splits, sizes), the lineage of the
                                        snapshot (every commit it came from)
  MANIFEST.json                         sha256, size and rows of every file, written last

Every file is created once and never replaced; the manifest, written last,
makes the publication complete. Publishing the same snapshot again writes
nothing and says so; the same name and version with other content is
refused. Upload the directory as it is (huggingface-cli upload), or load it
with datasets' parquet loader.`,
		Example: `  swelake lake publish sft_examples --name swe-sft-v1 --split-by split
  swelake lake publish rollouts@12 --name swe-trajectories --split train --json
  swelake lake diff sft_examples@3 sft_examples@4`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if cfg.Name == "" {
				return usageError{fmt.Errorf("publish %s: --name is required (e.g. --name swe-sft-v1)", args[0])}
			}
			if _, err := a.tableArg(args[0]); err != nil {
				return err
			}
			cfg.Input = args[0]
			l, r, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			cfg.Runtime = a.runtime(r)
			sum, err := publish.Run(ctx, l, cfg)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(sum)
			}
			state := "published"
			if sum.AlreadyPublished {
				state = "already published (identical bytes; nothing written)"
			}
			var splits []string
			for s, n := range sum.Manifest.Splits {
				splits = append(splits, fmt.Sprintf("%s %d", s, n))
			}
			fmt.Fprintf(a.stdout, "%s %s as %s: %d files, %d rows (%s), %s\n", sum.Manifest.Source, state, sum.URL,
				len(sum.Manifest.Files)+1, sum.Rows, strings.Join(splits, ", "), progress.Bytes(sum.Bytes))
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Name, "name", "", "the dataset's name (lower-case letters, digits, . _ -)")
	f.StringVar(&cfg.Split, "split", "train", "the split every row goes to")
	f.StringVar(&cfg.SplitBy, "split-by", "", "a column whose value is each row's split (e.g. split for sft_examples)")
	f.Int64Var(&cfg.ShardBytes, "shard-bytes", 256<<20, "source bytes per shard")
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
			l, r, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			res, err := diff.Run(ctx, l, args[0], args[1], a.runtime(r))
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
				fmt.Fprintf(a.stdout, "  changed columns: %s\n", formatCounts(cols))
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
