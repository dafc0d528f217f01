package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/jobs/predictions"
)

// newExportCmd is `swelake export`: files for tools outside the lake.
func newExportCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "export",
		Short: "Write lake data as other tools' input files (SWE-bench harness predictions)",
	}
	c.AddCommand(newExportPredictionsCmd(a))
	return c
}

func newExportPredictionsCmd(a *app) *cobra.Command {
	var o predictions.Options
	var out string
	c := &cobra.Command{
		Use:   "predictions --out <file.jsonl|file.json>",
		Short: "Write rollouts' patches as SWE-bench harness predictions (instance_id, model_name_or_path, model_patch)",
		Long: `Writes the patches of a rollouts snapshot as the predictions file the
SWE-bench harness evaluates (python -m swebench.harness.run_evaluation
--predictions_path <file>): a .jsonl file with one prediction per line, or a
.json list. The instance id is the task's source instance id.

The harness keys predictions by instance_id and keeps the last of several, so
one instance gets one prediction: with several rollouts per instance, choose
which with --sample K (the rollout with that sample_idx), --verify latest|<id>
(the candidate a verify run selected: test-time scaling's pick), or narrow
with --run / --policy. model_name_or_path is the rollouts' policy (or
--model); the harness writes its logs under
logs/run_evaluation/<run_id>/<model, / written as __>/<instance_id>/, which
swelake ingest reports reads back with the run and the candidate.`,
		Example: `  swelake export predictions --run run-1 --out preds.jsonl
  swelake export predictions --verify latest --model my-agent --out preds.json
  python -m swebench.harness.run_evaluation --predictions_path preds.jsonl --run_id eval1 --dataset_name princeton-nlp/SWE-bench_Verified
  swelake ingest reports logs/run_evaluation/eval1/`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{errors.New("--out <file.jsonl|file.json> is required")}
			}
			ctx := cmd.Context()
			l, _, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			res, err := predictions.Write(ctx, l, o, out)
			if errors.Is(err, predictions.ErrUsage) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(res)
			}
			from := res.Rollouts
			if res.VerifyID != "" {
				from += ", selected by " + res.VerifyID
			}
			fmt.Fprintf(a.stdout, "wrote %d predictions of %s to %s (%s; %d with an empty patch)\n", res.Predictions, res.Model, res.File, from, res.EmptyPatch)
			fmt.Fprintf(a.stdout, "the harness will log them under %s/<instance_id>/\n", res.LogDir)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&out, "out", "", "predictions file to write: .jsonl (one per line) or .json (a list)")
	f.StringVar(&o.Rollouts, "rollouts", "", "rollouts snapshot (default: the latest), e.g. rollouts@4")
	f.StringVar(&o.RunID, "run", "", "only this run's rollouts")
	f.StringVar(&o.Policy, "policy", "", "only this policy's rollouts")
	f.IntVar(&o.Sample, "sample", -1, "per instance, the rollout with this sample_idx")
	f.StringVar(&o.Verify, "verify", "", "per instance, the candidate this verify run selected (latest or a verify_id)")
	f.StringVar(&o.Model, "model", "", "model_name_or_path (default: the rollouts' policy)")
	return c
}
