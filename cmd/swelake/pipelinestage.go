package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/jobs/pipeline"
	"github.com/swelake/swelake/jobs/registry"
	"github.com/swelake/swelake/jobs/stage"
)

func newPipelineStageCmd(a *app) *cobra.Command {
	var shardFlag, runKey string
	c := &cobra.Command{
		Use:   "stage <pipeline.yaml> <stage>",
		Short: "Run one stage of a pipeline file (or one shard of it): what a Slurm task or a Kubernetes pod runs",
		Long: `Runs one stage of a pipeline file here, with the configuration it has
under swelake pipeline run — swelake.yaml, the environment, the pipeline's
set:, the stage's set: and config:, the scripted policy when the file says
policy: scripted — but without the lease and without a stage record: it is
the unit of work a scheduler starts. swelake pipeline run --executor slurm
submits it as Slurm jobs, and swelake k8s manifests writes it into
Kubernetes indexed Jobs.

With --shard i/N (or auto/N: i from SLURM_ARRAY_TASK_ID or
JOB_COMPLETION_INDEX) it runs that shard of a stage whose job shards
(validate-tasks, rollout, evaluate, verify) and, once done, records the
shard under the stage's run key (pipelines/<name>/shards/<stage>/<key>/N/i.json
in the lake). When all N shards are recorded, the next pipeline run takes
the stage as done; a shard already recorded is not run again. The run key
is the stage's inputs as they are when the shard starts, its config and the
code version, exactly as the pipeline computes it; --run-key pins it to the
driver's (the Slurm executor passes it).

A shard runs under its own lease (…/N/i.lease, renewed while it runs), so
that one shard never runs twice at once — the pipeline's driver running the
missing shards and an indexed Job's pod, two resubmissions of one index.

Exit status: 0 done (or already done), 1 the stage failed, 2 a bad command
line or pipeline file, 3 the shard is running elsewhere (its lease is held).`,
		Example: `  swelake pipeline stage nightly.yaml rollout --shard 2/8
  swelake pipeline stage /etc/swelake/pipeline.yaml evaluate --shard auto/16 --json   # in an array task or indexed Job`,
		Args: usage(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			spec, err := pipeline.Load(args[0])
			if err != nil {
				return usageError{err}
			}
			var st *pipeline.Stage
			for i := range spec.Stages {
				if spec.Stages[i].Name == args[1] {
					st = &spec.Stages[i]
				}
			}
			if st == nil {
				return usageError{fmt.Errorf("pipeline %s: no stage %q (its stages: %s)", args[0], args[1], stageNames(spec))}
			}
			job, _ := registry.Find(st.Job)
			shard := stage.Shard{Count: 1}
			if shardFlag != "" {
				if shard, err = a.shard(shardFlag); err != nil {
					return err
				}
				if !shard.Whole() && !pipeline.Shardable(job.Describe()) {
					return usageError{fmt.Errorf("--shard %s: stage %q runs %s, which does not shard (validate-tasks, rollout, evaluate and verify do)", shardFlag, st.Name, st.Job)}
				}
			}
			one := &pipeline.Spec{Name: spec.Name, Set: spec.Set, Policy: spec.Policy, Stages: []pipeline.Stage{*st}}
			if err := a.checkStageConfigs(cmd, args[0], one); err != nil {
				return err
			}
			l, err := a.openPipelineLake(ctx)
			if err != nil {
				return err
			}
			if runKey == "" {
				key, err := pipeline.StageKey(ctx, l, spec, *st, codeVersion(), nil)
				if err != nil {
					return fmt.Errorf("pipeline %s: stage %s: %w", spec.Name, st.Name, err)
				}
				runKey = key.RunKey
			}
			ex, err := a.newStageExec(cmd, l, spec)
			if err != nil {
				return err
			}
			defer ex.close()
			t0 := a.now()
			var sum json.RawMessage
			if shard.Whole() {
				sum, err = ex.runStage(ctx, *st, shard)
			} else {
				sum, err = ex.runShard(ctx, *st, runKey, shard)
			}
			if errors.Is(err, pipeline.ErrLeaseHeld) {
				fmt.Fprintf(a.stderr, "swelake: %s\n", oneLine(err.Error()))
				return exitCode(3)
			}
			if err != nil {
				return fmt.Errorf("pipeline %s: stage %s (%s): %w", spec.Name, st.Name, st.Job, err)
			}
			if a.json {
				return a.printJSON(sum)
			}
			fmt.Fprintf(a.stdout, "stage %s%s: done in %s\n", st.Name, map[bool]string{true: "", false: " shard " + shard.String()}[shard.Whole()],
				a.now().Sub(t0).Round(time.Millisecond))
			return nil
		},
	}
	c.Flags().StringVar(&shardFlag, "shard", "", "run shard i of N of the stage (i/N), or auto/N with i from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX")
	c.Flags().StringVar(&runKey, "run-key", "", "record the shard under this run key (the driver's; default: the stage's key as its inputs are now)")
	return c
}

// schedulerJobID names the scheduler's job this process runs in: Slurm's
// <array job>_<index> or job id, a Kubernetes pod's name (its hostname)
// with its completion index; "" outside a scheduler.
func (a *app) schedulerJobID() string {
	switch {
	case a.getenv("SLURM_ARRAY_JOB_ID") != "":
		return a.getenv("SLURM_ARRAY_JOB_ID") + "_" + a.getenv("SLURM_ARRAY_TASK_ID")
	case a.getenv("SLURM_JOB_ID") != "":
		return a.getenv("SLURM_JOB_ID")
	case a.getenv("JOB_COMPLETION_INDEX") != "":
		host, _ := os.Hostname()
		return host
	}
	return ""
}

func stageNames(spec *pipeline.Spec) string {
	var out string
	for i, st := range spec.Stages {
		if i > 0 {
			out += ", "
		}
		out += st.Name
	}
	return out
}
