package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/internal/progress"
	"github.com/swelake/swelake/jobs"
	"github.com/swelake/swelake/jobs/verify"
)

// shard resolves --shard: "i/N"; "auto/N" takes i from the scheduler —
// JOB_COMPLETION_INDEX (Kubernetes indexed Jobs), else SLURM_ARRAY_TASK_ID
// (less SLURM_ARRAY_TASK_MIN when the array does not start at 0).
func (a *app) shard(flag string) (jobs.Shard, error) {
	idx, n, ok := strings.Cut(flag, "/")
	if ok && idx == "auto" {
		switch {
		case a.getenv("JOB_COMPLETION_INDEX") != "":
			idx = a.getenv("JOB_COMPLETION_INDEX")
		case a.getenv("SLURM_ARRAY_TASK_ID") != "":
			id, err1 := strconv.Atoi(a.getenv("SLURM_ARRAY_TASK_ID"))
			lo, err2 := strconv.Atoi(orDefault(a.getenv("SLURM_ARRAY_TASK_MIN"), "0"))
			if err1 != nil || err2 != nil {
				return jobs.Shard{}, usageError{fmt.Errorf("--shard %s: SLURM_ARRAY_TASK_ID %q / SLURM_ARRAY_TASK_MIN %q are not integers",
					flag, a.getenv("SLURM_ARRAY_TASK_ID"), a.getenv("SLURM_ARRAY_TASK_MIN"))}
			}
			idx = strconv.Itoa(id - lo)
		default:
			return jobs.Shard{}, usageError{fmt.Errorf("--shard %s: neither JOB_COMPLETION_INDEX (Kubernetes indexed Job) nor SLURM_ARRAY_TASK_ID (Slurm array) is set; pass --shard i/%s", flag, n)}
		}
		flag = idx + "/" + n
	}
	s, err := jobs.ParseShard(flag)
	if err != nil {
		return s, usageError{fmt.Errorf("--shard: %w", err)}
	}
	return s, nil
}

const shardUsage = "run only this worker's share of the tasks: i/N, or auto/N to take i from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID"

func newRunVerifyCmd(a *app) *cobra.Command {
	var input, runID, mode, shard string
	var k int
	c := &cobra.Command{
		Use:   "verify",
		Short: "Score K candidate rollouts per task with a verifier model and/or execution; select the best (test-time scaling)",
		Long: `Scores up to K candidate rollouts per task (lowest sample index first) and
selects the best per task, for test-time scaling (TTS@k, compared with
pass@k by swelake sql --query tts_at_k).

  model      a verifier model behind an OpenAI-compatible endpoint
             (verifier.base_url, verifier.model) is shown the issue, the
             tests, the test patch and the candidate patch, and answers with
             a predicted test report and a reward in [0, 1]
  execution  the candidate is applied (without the task's hidden tests) in
             a fresh sandbox and the task's PASS_TO_PASS tests and any tests
             the candidate added are run: the score is the share passing
  both       execution_weight × execution + (1 − execution_weight) × model

The default mode is both when a verifier endpoint is configured, else
execution. Ties are broken by a draw seeded with verify.seed. Rows go to
verifier_scores (predicted reward and tests, the model's answer, executed
tests, score, draw, selected, and the candidate's graded outcome).

swelake policy serve --scripted also answers verifier prompts (a stand-in
right about nine times in ten), for dry runs.`,
		Example: `  swelake run verify --mode execution --k 4
  swelake policy serve --scripted --addr 127.0.0.1:8642 &
  swelake run verify --set verifier.base_url=http://127.0.0.1:8642/v1 --set verifier.model=scripted
  swelake run verify --shard auto/8      # one of 8 workers of a Kubernetes indexed Job or Slurm array
  swelake sql --query tts_at_k`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg := a.cfg.Verify
			fl := cmd.Flags()
			if fl.Changed("input") {
				cfg.Input = input
			}
			if fl.Changed("run-id") {
				cfg.RunID = runID
			}
			if fl.Changed("mode") {
				cfg.Mode = mode
			}
			if fl.Changed("k") {
				cfg.K = k
			}
			var err error
			if cfg.Shard, err = a.shard(shard); err != nil {
				return err
			}
			if v := a.cfg.Verifier; v.BaseURL != "" && cfg.Mode != verify.ModeExecution {
				client, err := a.endpointClient("verifier", v)
				if err != nil {
					return err
				}
				cfg.Client, cfg.Model = client, v.Model
			}
			l, backend, repos, rt, err := a.execEnv(cmd)
			if err != nil {
				return err
			}
			cfg.Backend, cfg.ReposDir, cfg.Runtime = backend, repos, rt
			bar := progress.New(a.stderr, a.stderrIsTTY, "verify", 0, a.now)
			cfg.Progress = func(done, total int) {
				bar.SetTotal(int64(total))
				bar.Set(int64(done))
			}
			sum, err := verify.Run(ctx, l, cfg)
			bar.Finish()
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(sum)
			}
			shardNote := ""
			if sum.Shard != "" {
				shardNote = " shard " + sum.Shard
			}
			fmt.Fprintf(a.stdout, "verify %s%s (%s) of %s (%s): %d candidates, %d scored, %d verifier errors; %d tasks selected (%s)\n",
				sum.VerifyID, shardNote, sum.Verifier, sum.Input, commitState("verifier_scores", sum.Version, sum.Skipped),
				sum.Candidates, sum.Scored, sum.Errors, sum.Selected, counts(sum.Outcomes))
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&input, "input", "rollouts", "rollouts snapshot of the candidates")
	f.StringVar(&runID, "run-id", "", "only the candidates of this rollout run")
	f.StringVar(&mode, "mode", "", "model, execution or both (default: both with verifier.base_url set, else execution)")
	f.IntVar(&k, "k", 0, "candidates per task (default verify.k; 0: all)")
	f.StringVar(&shard, "shard", "", shardUsage)
	return c
}
