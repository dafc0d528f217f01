package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/jobs/report"
)

func newReportCmd(a *app) *cobra.Command {
	var at []string
	var title string
	c := &cobra.Command{
		Use:   "report <out-dir>",
		Short: "Write the analysis report: index.html with tables and charts (also as PNG and SVG)",
		Long: `Runs the analysis queries (swelake sql --list) over pinned snapshots of the
lake and writes <out-dir>/index.html — self-contained: styles and charts
inlined, no network — with every chart also as charts/<name>.png and .svg:

  pass_at_k             pass@k per policy, unbiased estimator, 95% bootstrap CI
  tts_at_k              TTS@k (the verifier's pick) against pass@k
  difficulty_histogram  Best-of-N pass rate per task (the bimodal shape)
  turns_distribution    turns per rollout by exit reason
  drop_counts           rows each curation rule drops on its own
  data_scaling          resolve rate against SFT samples, fitted a + b·ln n

and tables of rollouts per run, turns and tokens by exit reason, and the
lineage of every table read (job, run key, config hash, inputs). A chart
with no data yet says which command produces it.`,
		Example: `  swelake report report/ && xdg-open report/index.html
  swelake report report-v3/ --at rollouts@12 --at verifier_scores@3 --json`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			pins, err := a.pins(at)
			if err != nil {
				return err
			}
			l, r, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			sum, err := report.Run(ctx, l, report.Config{OutDir: args[0], Pins: pins, Title: title, Runtime: a.runtime(r)})
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(sum)
			}
			fmt.Fprintf(a.stdout, "report %s: %d charts (%s)\n", sum.Index, len(sum.Charts), strings.Join(sum.Charts, ", "))
			if len(sum.Missing) > 0 {
				fmt.Fprintf(a.stdout, "  no data yet for: %s\n", strings.Join(sum.Missing, ", "))
			}
			return nil
		},
	}
	c.Flags().StringArrayVar(&at, "at", nil, "pin a table to a version (table@version), repeatable")
	c.Flags().StringVar(&title, "title", "", "the page title (default \"swelake report\")")
	return c
}
