package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/jobs/registry"
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
	jobFlags(c, "curate.params.token_cap.max_tokens=65536")
	for _, job := range registry.Jobs() {
		c.AddCommand(newJobCmd(a, job))
	}
	return c
}

// jobFlags are the flags of a command whose subcommands run jobs: --set
// (with an example key), --on-duplicate, --tokenizer.
func jobFlags(c *cobra.Command, example string) {
	c.PersistentFlags().StringArray("set", nil, "override a config key, e.g. --set "+example+" (JSON values)")
	c.PersistentFlags().Var(&onDuplicateFlag{}, "on-duplicate", onDuplicateUsage)
	c.PersistentFlags().String("tokenizer", "", "directory with the model's tokenizer.json and tokenizer_config.json (default: Qwen2.5's from make deps; env SWELAKE_TOKENIZER)")
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

// runtime is what every job gets besides its configuration.
