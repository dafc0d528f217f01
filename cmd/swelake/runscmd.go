package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/jobs/registry"
	"github.com/swelake/swelake/lake"
)

// newRunsCmd is `swelake lake runs [<job>]`: the complete runs of the jobs,
// from their run records.
func newRunsCmd(a *app) *cobra.Command {
	var limit int
	c := &cobra.Command{
		Use:   "runs [<job>]",
		Short: "List complete job runs from their run records: id, outputs, inputs, time",
		Long: `Lists the complete runs of a job (or of every job), newest first, from the
run records the driver writes after a run has committed every output table
(runs/<job>/ in the lake; docs/lake-format.md). A run with several output
tables (curate) is read through its record: each table at the version the
record names. --json prints the records as they are stored (config, inputs,
outputs, summary included).`,
		Example: `  swelake lake runs
  swelake lake runs curate -n 3
  swelake lake runs rollout --json`,
		Args: usage(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var names []string
			for _, j := range registry.Jobs() {
				names = append(names, j.Describe().Name)
			}
			if len(args) == 1 {
				if !slices.Contains(names, args[0]) {
					return usageError{fmt.Errorf("runs %q: not a job (jobs: %s)", args[0], strings.Join(names, ", "))}
				}
				names = args[:1]
			}
			l, _, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			var recs []*lake.RunRecord
			for _, job := range names {
				rs, err := l.Runs(ctx, job)
				if err != nil {
					return err
				}
				slices.Reverse(rs) // newest first
				if limit > 0 && len(rs) > limit {
					rs = rs[:limit]
				}
				recs = append(recs, rs...)
			}
			if a.json {
				return a.printJSON(recs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tID\tTIME\tSECONDS\tOUTPUTS\tINPUTS")
			for _, r := range recs {
				var outs []string
				for _, t := range slices.Sorted(maps.Keys(r.Outputs)) {
					outs = append(outs, fmt.Sprintf("%s@%d", t, r.Outputs[t]))
				}
				id := r.ID
				if r.Shard != "" {
					id += " (shard " + r.Shard + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%s\t%s\n", r.Job, id, r.Time.Local().Format(time.DateTime), r.Seconds,
					orDefault(strings.Join(outs, ", "), "-"), orDefault(strings.Join(r.Inputs, ", "), "-"))
			}
			return tw.Flush()
		},
	}
	c.Flags().IntVarP(&limit, "limit", "n", 0, "show only the newest n runs of each job")
	return c
}
