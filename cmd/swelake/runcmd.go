package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/jobs"
	"github.com/swelake/swelake/jobs/buildrl"
	"github.com/swelake/swelake/jobs/buildsft"
	"github.com/swelake/swelake/jobs/curate"
)

func newRunCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "run <job>",
		Short: "Run one stage of the pipeline: synth-tasks, validate-tasks, rollout, evaluate, curate, build-sft, build-rl, verify",
		Long: `Runs one stage as a batch job over pinned snapshots of the lake. Every job
reads its configuration from the config file under its name (synth_tasks,
validate_tasks, rollout, evaluate, curate, build_sft, build_rl, verify), then --set
key=value overrides, then its flags. A job whose run key (inputs,
configuration, tokenizer) was already committed is a no-op and prints what
it committed then; rollout resumes where an interrupted run stopped.`,
		Example: `  swelake run synth-tasks && swelake run validate-tasks
  swelake run rollout --samples 4 --set policy.base_url=http://127.0.0.1:8642/v1 --set policy.model=scripted
  swelake run evaluate --json
  swelake run curate --json
  swelake run curate --set curate.rules='["reward","loop"]' --set curate.params.loop.max_repeats=3
  swelake run build-sft --out sft-out --export openai,parquet --pack-length 32768
  swelake run build-rl --iteration 3 --k 4 --estimator rloo --verl-out rl/iter-3.parquet
  swelake run verify --k 4 --json`,
	}
	c.PersistentFlags().StringArray("set", nil, "override a config key, e.g. --set curate.params.token_cap.max_tokens=65536 (JSON values)")
	c.PersistentFlags().String("tokenizer", "", "directory with the model's tokenizer.json and tokenizer_config.json (default: Qwen2.5's from make deps; env SWELAKE_TOKENIZER)")
	c.AddCommand(newSynthTasksCmd(a), newValidateTasksCmd(a), newRolloutCmd(a), newEvaluateCmd(a),
		newCurateCmd(a), newBuildSFTCmd(a), newBuildRLCmd(a), newRunVerifyCmd(a))
	return c
}

// tokenizerDir is the tokenizer a job uses: --tokenizer, else the job's own
// tokenizer_dir, else the top-level tokenizer key (Qwen2.5's by default,
// looked for by defaultTokenizerDir).
func (a *app) tokenizerDir(cmd *cobra.Command, jobs string) string {
	if f := cmd.Flags().Lookup("tokenizer"); f != nil && f.Changed {
		return f.Value.String()
	}
	if jobs != "" {
		return jobs
	}
	if a.cfg.Tokenizer == DefaultTokenizerDir {
		return defaultTokenizerDir()
	}
	return a.cfg.Tokenizer
}

// defaultTokenizerDir finds the Qwen2.5 files make deps installs: under
// the working directory (a checkout), else beside the swelake binary
// (./swelake or bin/swelake of a checkout, run from anywhere). Where none
// has them it is the relative default, which then fails to load with
// tokenizer.ErrNoTokenizer and the hint the CLI adds to that error.
func defaultTokenizerDir() string {
	candidates := []string{DefaultTokenizerDir}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			dir := filepath.Dir(exe)
			candidates = append(candidates, filepath.Join(dir, DefaultTokenizerDir), filepath.Join(dir, "..", DefaultTokenizerDir))
		}
	}
	for _, c := range candidates {
		if _, err := os.Stat(filepath.Join(c, "tokenizer.json")); err == nil {
			return c
		}
	}
	return DefaultTokenizerDir
}

func newCurateCmd(a *app) *cobra.Command {
	var input string
	c := &cobra.Command{
		Use:   "curate",
		Short: "Rule filters, Best-of-N difficulty, dedup and decontamination over a rollouts snapshot",
		Long: `Applies the curation rules (SQL files in queries/curate/rules: reward,
format_hint, step_cap, token_cap, bare_submit, git_hacking, patch_hygiene,
loop; optionally dedup and decontam) and the Best-of-N difficulty filter to a
pinned rollouts snapshot. Writes the decisions to curation (one row per
rollout: kept, or the rules that reject it and why), the per-rule counts to
curation_drops and the per-task pass rates to task_stats. Source rows are
never deleted. --json prints {"input", "kept", "rules": [{"rule", "dropped"}]}
where dropped counts the rows each rule rejects on its own.`,
		Example: `  swelake run curate
  swelake run curate --input rollouts@12 --json
  swelake sql "SELECT rule, dropped, dropped_only FROM curation_drops ORDER BY dropped DESC"`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg := a.cfg.Curate
			if cmd.Flags().Changed("input") {
				cfg.Input = input
			}
			cfg.TokenizerDir = a.tokenizerDir(cmd, cfg.TokenizerDir)
			l, r, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			cfg.Runtime = a.runtime(r)
			start := a.now()
			sum, err := curate.Run(ctx, l, cfg)
			if err != nil {
				return err
			}
			a.logger.Info("curate done", "curation_id", sum.CurationID, "elapsed", a.now().Sub(start).Round(time.Millisecond))
			if a.json {
				return a.printJSON(sum)
			}
			state := "committed"
			if sum.Skipped {
				state = "already committed"
			}
			fmt.Fprintf(a.stdout, "curation %s of %s (%s): input %d, kept %d; %d tasks, %d with mixed results\n",
				sum.CurationID, sum.InputRef, state, sum.Input, sum.Kept, sum.Tasks, sum.MixedTasks)
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "rule\tdropped\tdropped only by it")
			for _, rc := range sum.Rules {
				fmt.Fprintf(tw, "%s\t%d\t%d\n", rc.Rule, rc.Dropped, rc.DroppedOnly)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&input, "input", "rollouts", "rollouts snapshot to curate (table or table@version)")
	return c
}

func newBuildSFTCmd(a *app) *cobra.Command {
	var input, out, exports string
	var pack int
	c := &cobra.Command{
		Use:   "build-sft",
		Short: "Tokenise curated rollouts with the model's chat template into sft_examples and trainer exports",
		Long: `Renders each kept rollout of the latest curation (or --input rollouts[@v] for
every row as it is) with the tokenizer's own chat template, tokenises it
exactly as the model's reference tokenizer does, and masks the loss to the
assistant turns (OpenRLHF multi-turn convention: from the first content token
through the end-of-turn token and its newline). Examples above max_tokens
(default 81,920) are dropped or truncated; a seeded split assigns train and
validation. Rows go to sft_examples (num_tokens and num_loss_tokens make a
set's composition one SQL query away); --export writes files for the
trainers under <out>/<set_id>/: ` + strings.Join(buildsft.Formats(), ", ") + `.`,
		Example: `  swelake run build-sft --out sft-out --export openai,parquet
  swelake run build-sft --input rollouts@3 --tokenizer ./qwen3 --set build_sft.mask=last_turn
  swelake sql "SELECT split, count(*), sum(num_tokens), sum(num_loss_tokens) FROM sft_examples GROUP BY split"`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg := a.cfg.BuildSFT
			if cmd.Flags().Changed("input") {
				cfg.Input = input
			}
			if cmd.Flags().Changed("out") {
				cfg.OutDir = out
			}
			if cmd.Flags().Changed("export") {
				cfg.Exports = splitList(exports)
			}
			if cmd.Flags().Changed("pack-length") {
				cfg.PackLength = pack
			}
			cfg.TokenizerDir = a.tokenizerDir(cmd, cfg.TokenizerDir)
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			l, r, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			cfg.Runtime = a.runtime(r)
			sum, err := buildsft.Run(ctx, l, cfg)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(sum)
			}
			state := commitState("sft_examples", sum.Version, sum.Skipped)
			fmt.Fprintf(a.stdout, "sft set %s from %s (%s): %d examples (train %d, validation %d) from %d rollouts, %d tokens, %d with loss, %d truncated\n",
				sum.SetID, sum.Input, state, sum.Examples, sum.Train, sum.Validation, sum.Rollouts, sum.Tokens, sum.LossTokens, sum.Truncated)
			for reason, n := range sum.Dropped {
				fmt.Fprintf(a.stdout, "not an example: %d (%s)\n", n, reason)
			}
			for _, f := range sum.Exports {
				fmt.Fprintf(a.stdout, "wrote %s\n", f)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&input, "input", "", "curation[@v] (default: the latest curation's kept rollouts) or rollouts[@v] (every row)")
	f.StringVar(&out, "out", "", "directory for the exports")
	f.StringVar(&exports, "export", "", "comma-separated exports: "+strings.Join(buildsft.Formats(), ", "))
	f.IntVar(&pack, "pack-length", 0, "pack the parquet export into sequences of this many tokens (first-fit decreasing)")
	return c
}

func newBuildRLCmd(a *app) *cobra.Command {
	var input, estimator, verlOut string
	var iteration int64
	var k int
	c := &cobra.Command{
		Use:   "build-rl",
		Short: "Group graded rollouts per task, shape rewards and compute advantages into rl_samples",
		Long: `Groups a rollouts snapshot by (task, policy), K per group, shapes rewards
(forced submission: a run cut off by a limit whose patch resolves gets
forced_alpha × reward, default 0.5; infrastructure errors get an all-zero
loss mask and stay out of the baseline; optional DAPO overlong penalty),
computes advantages (rloo: A_i = R_i − mean of the others; grpo; grpo_no_std),
drops groups whose advantages are all zero, and writes rl_samples with the
constant length normaliser l_max. --verl-out writes the batch's tasks as a
verl RL Parquet (data_source, prompt, ability, reward_model, extra_info).`,
		Example: `  swelake run build-rl --iteration 1 --k 4
  swelake run build-rl --set build_rl.bands='["rl"]' --verl-out rl/iter-2.parquet --json`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg := a.cfg.BuildRL
			fl := cmd.Flags()
			if fl.Changed("input") {
				cfg.Input = input
			}
			if fl.Changed("estimator") {
				cfg.Estimator = estimator
			}
			if fl.Changed("iteration") {
				cfg.Iteration = iteration
			}
			if fl.Changed("k") {
				cfg.K = k
			}
			if fl.Changed("verl-out") {
				cfg.VerlOut = verlOut
			}
			cfg.TokenizerDir = a.tokenizerDir(cmd, cfg.TokenizerDir)
			l, r, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			cfg.Runtime = a.runtime(r)
			sum, err := buildrl.Run(ctx, l, cfg)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(sum)
			}
			state := commitState("rl_samples", sum.Version, sum.Skipped)
			fmt.Fprintf(a.stdout, "rl batch %s from %s (%s): %d groups, %d samples, %d masked\n", sum.BatchID, sum.Input, state, sum.Groups, sum.Samples, sum.Masked)
			for reason, n := range sum.DroppedGroups {
				fmt.Fprintf(a.stdout, "dropped groups: %d (%s)\n", n, reason)
			}
			for s, n := range sum.Shaped {
				fmt.Fprintf(a.stdout, "shaped: %d (%s)\n", n, s)
			}
			if sum.VerlFile != "" {
				fmt.Fprintf(a.stdout, "wrote %s (%d tasks)\n", sum.VerlFile, sum.VerlTasks)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&input, "input", "rollouts", "rollouts snapshot (table or table@version)")
	f.StringVar(&estimator, "estimator", "rloo", "advantage estimator: rloo, grpo, grpo_no_std")
	f.Int64Var(&iteration, "iteration", 0, "RL iteration number recorded with the batch")
	f.IntVar(&k, "k", 0, "rollouts per group (0: all of a task's)")
	f.StringVar(&verlOut, "verl-out", "", "write the batch's tasks as a verl RL Parquet file here")
	return c
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// runtime is what every job gets besides its configuration.
func (a *app) runtime(r root) jobs.Runtime {
	return jobs.Runtime{CacheDir: cacheDir(a.cfg, r), CodeVersion: codeVersion(), Author: a.cfg.Author, Logger: a.logger, Clock: a.now}
}
