// Package rliterate is the RL loop (`swelake rl iterate`, the pipeline job
// rl-iterate): from a policy checkpoint, rollouts of the tasks its
// curriculum selects → their evaluation → an RL batch → an external trainer
// command → the checkpoint it reports → the next iteration. Each completed
// iteration is a row of rl_iterations and its checkpoint a row of
// checkpoints. Every step is recorded in the lake as it completes, so a
// loop killed at any step resumes at that step; a lease keeps two runs of
// one loop apart.
package rliterate

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/swelake/swelake/jobs/buildrl"
	"github.com/swelake/swelake/jobs/evaluate"
	"github.com/swelake/swelake/jobs/lease"
	"github.com/swelake/swelake/jobs/rollout"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/jobs/synthtasks"
	"github.com/swelake/swelake/jobs/tables"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/schemas"
)

// JobName is the job's name.
const JobName = "rl-iterate"

// Config is the loop's configuration. The sub-jobs' sections hold their
// own keys (docs/jobs.md); the keys the loop sets per iteration (which
// tasks, which rollouts, the batch file) are refused there.
type Config struct {
	// Input is the tasks snapshot every iteration draws from (default
	// tasks@latest, pinned when the loop starts).
	Input      string `json:"input" mapstructure:"input"`
	Iterations int    `json:"iterations" mapstructure:"iterations"` // default 3
	// Checkpoint is the policy checkpoint of the first iteration: the
	// model name sent to the policy endpoint (default policy.model).
	Checkpoint string          `json:"checkpoint" mapstructure:"checkpoint"`
	Curriculum Curriculum      `json:"curriculum" mapstructure:"curriculum"`
	Rollout    rollout.Config  `json:"rollout" mapstructure:"rollout"`
	Evaluate   evaluate.Config `json:"evaluate" mapstructure:"evaluate"`
	// SkipEvaluate leaves the evaluate step out: the rollouts' own
	// grading gives the resolve rate.
	SkipEvaluate bool           `json:"skip_evaluate" mapstructure:"skip_evaluate"`
	BuildRL      buildrl.Config `json:"build_rl" mapstructure:"build_rl"`
	Trainer      Trainer        `json:"trainer" mapstructure:"trainer"`
	// SelfPlay, when set, has each iteration's checkpoint write tasks first
	// (synth-tasks --method policy with the checkpoint as the policy: a
	// self-play round, Self-Play SWE-RL) and roll them out with the
	// curriculum's: the injections table says which checkpoint wrote
	// which task (the self_play query).
	SelfPlay *synthtasks.Config `json:"self_play,omitempty" mapstructure:"self_play"`
	// OutDir is where each iteration's batch file and trainer log go
	// (<out_dir>/<loop_id>/iter-<n>.parquet, .trainer.log); not part of
	// the loop's identity.
	OutDir string `json:"out_dir,omitempty" mapstructure:"out_dir"`
	// LeaseTTL: how long the loop's lease outlives its last renewal (a
	// killed loop blocks a rerun this long; default 2m).
	LeaseTTL string `json:"lease_ttl,omitempty" mapstructure:"lease_ttl"`
}

// Curriculum selects each iteration's tasks: a query whose rows name
// task_id and band (an embedded curriculum_* query — swelake sql --list —
// or a .sql file), keeping the rows whose band is listed.
type Curriculum struct {
	Query  string         `json:"query" mapstructure:"query"`   // "" : every task (valid ones, as rollout.only_valid says)
	Bands  []string       `json:"bands" mapstructure:"bands"`   // bands to keep (empty: every row the query returns)
	Params map[string]any `json:"params" mapstructure:"params"` // the query's parameters (loop_id and iteration, when it declares them, default to the loop's)
}

// Trainer is the external training command, run once per iteration on
// the host (it is the user's own command, as trusted as this CLI). Each
// argument is a template: {batch} the batch file (verl RL Parquet),
// {samples} the rl_samples partition's files, {iteration}, {checkpoint}
// (the checkpoint the rollouts came from), {loop_id}, {out_dir}. Its
// standard output's last non-empty line is the new checkpoint's name.
type Trainer struct {
	Command []string `json:"command" mapstructure:"command"`
	Timeout string   `json:"timeout" mapstructure:"timeout"` // default 24h
	// Dir is the command's working directory ("" : this process's).
	Dir string `json:"dir,omitempty" mapstructure:"dir"`
}

// Iteration is one iteration in the summary.
type Iteration struct {
	Iteration     int64   `json:"iteration"`
	CheckpointIn  string  `json:"checkpoint_in"`
	CheckpointOut string  `json:"checkpoint_out"`
	Tasks         int64   `json:"tasks"`
	Graded        int64   `json:"graded"`
	Resolved      int64   `json:"resolved"`
	ResolveRate   float64 `json:"resolve_rate"`
	Samples       int64   `json:"samples"`
	RewardMean    float64 `json:"reward_mean"`
	AdvantageAbs  float64 `json:"advantage_abs_mean"`
	Trainer       float64 `json:"trainer_seconds"`
	Resumed       bool    `json:"resumed"` // committed by an earlier run of the loop
}

// Summary is what the loop did.
type Summary struct {
	stage.Outcome
	LoopID     string      `json:"loop_id"`
	Input      string      `json:"input"`
	First      string      `json:"first_checkpoint"`
	Last       string      `json:"last_checkpoint"`
	Iterations []Iteration `json:"iterations"`
	// StepsResumed counts steps found complete already: an interrupted
	// run's, or the same run made by another stage (a rollout stage with
	// the same model, tasks and config).
	StepsResumed int    `json:"steps_resumed"`
	TookOver     string `json:"took_over_lease_from,omitempty"`
}

// Job is the RL loop.
var Job = &stage.Def[Config, Summary]{
	Info: stage.Info{Name: JobName, Section: "rl_iterate",
		Short: "Iterate RL: rollouts of a checkpoint → evaluate → RL batch → your trainer → the next checkpoint",
		Long: `Runs rl_iterate.iterations iterations of the RL loop. Iteration n starts
from a policy checkpoint (the model name sent to policy.base_url; the first
is rl_iterate.checkpoint, default policy.model):

  1. curriculum: the tasks to roll out (curriculum.query, an embedded
     curriculum_* query or a .sql file, keeping curriculum.bands; default
     every valid task of the tasks snapshot pinned when the loop started)
     (self_play: the checkpoint first writes tasks — synth-tasks --method
     policy with its own model — and they join the curriculum's)
  2. rollout: rollout.samples rollouts per task by the checkpoint
  3. evaluate: grade them (skip_evaluate: the rollouts' own grading)
  4. build-rl: the iteration's RL batch (rewards, advantages, curriculum
     options of build_rl), written as <out_dir>/<loop_id>/iter-<n>.parquet
  5. trainer: trainer.command, a template ({batch}, {samples}, {iteration},
     {checkpoint}, {loop_id}, {out_dir}), e.g. a verl or OpenRLHF command
     line; its standard output's last non-empty line names the new
     checkpoint, which the next iteration serves at policy.base_url

Each completed iteration is a row of rl_iterations (checkpoint in and out,
input snapshots, batch, trainer command and exit status, resolve rate,
reward and advantage statistics) and its checkpoint a row of checkpoints
(the loop, the iteration, the RL samples trained on), which the report's
per-iteration and data-scaling charts read. Each step is recorded in the
lake when it completes (rl/<loop_id>/iter-<n>/): a loop killed at any step
resumes at that step when run again, and a trainer killed mid-run is run
again (rl_iterations.trainer_attempts counts it). A lease
(rl/<loop_id>/lease.json) keeps two runs of one loop apart; a killed run's
lease expires after rl_iterate.lease_ttl (default 2m).`,
		Example: `  swelake rl iterate --iterations 3 --out-dir /data/rl \
      --set 'rl_iterate.trainer.command=["examples/rl/trainer-standin.sh","--batch","{batch}","--samples","{samples}","--checkpoint","{checkpoint}","--iteration","{iteration}","--loop","{loop_id}"]'
  swelake rl iterate --set rl_iterate.curriculum.query=curriculum_pass_rate \
      --set 'rl_iterate.curriculum.bands=["learnable"]' --set policy.base_url=http://vllm:8000/v1`,
		// What it pins. (Its curriculum query reads the lake as each
		// iteration finds it; rl_iterations.inputs records what it read.)
		Inputs: []string{schemas.Tasks.Name, schemas.TaskValidations.Name},
		// (With self_play it also writes tasks and injections; they are not
		// listed: a stage that validates tasks must be able to run before
		// the loop.)
		Outputs: []string{schemas.RLIterations.Name, schemas.Checkpoints.Name, schemas.Rollouts.Name, schemas.Evaluations.Name, schemas.RLSamples.Name},
		Needs:   stage.Needs{Sandbox: true, Policy: true},
		Flags: []stage.Flag{
			{Name: "iterations", Key: "iterations", Usage: "iterations to run (default 3)"},
			{Name: "checkpoint", Key: "checkpoint", Usage: "the first iteration's policy checkpoint (default policy.model)"},
			{Name: "out-dir", Key: "out_dir", Usage: "where batch files and trainer logs go"},
			{Name: "input", Key: "input", Usage: "tasks snapshot (table or table@version)"},
			{Name: "lease-ttl", Key: "lease_ttl", Usage: "how long a killed loop's lease blocks a rerun (default 2m)"},
		},
	},
	Defaults: func() Config {
		ev := evaluate.Job.Defaults()
		return Config{Input: schemas.Tasks.Name, Iterations: 3, Rollout: rollout.Job.Defaults(), Evaluate: ev, BuildRL: buildrl.Job.Defaults(),
			Trainer: Trainer{Timeout: "24h"}, LeaseTTL: "2m"}
	},
	Validate: validate,
	Plan:     plan,
	Run:      run,
	Print:    print,
}

// loopSet names the sub-jobs' keys the loop sets itself.
func loopSet(c *Config) []string {
	var set []string
	check := func(ok bool, key string) {
		if ok {
			set = append(set, key)
		}
	}
	check(c.Rollout.Input != "" && c.Rollout.Input != schemas.Tasks.Name, "rollout.input (the loop's input)")
	check(len(c.Rollout.TaskIDs) > 0, "rollout.task_ids (the curriculum's)")
	check(c.Rollout.Shard != "", "rollout.shard")
	check(c.Evaluate.Input != "" && c.Evaluate.Input != schemas.Rollouts.Name, "evaluate.input")
	check(c.Evaluate.RunID != "", "evaluate.run_id")
	check(c.Evaluate.Tasks != "" && c.Evaluate.Tasks != schemas.Tasks.Name, "evaluate.tasks")
	check(c.Evaluate.Shard != "", "evaluate.shard")
	check(c.BuildRL.Input != "" && c.BuildRL.Input != schemas.Rollouts.Name, "build_rl.input")
	check(c.BuildRL.RunID != "", "build_rl.run_id")
	check(c.BuildRL.Iteration != 0, "build_rl.iteration")
	check(c.BuildRL.VerlOut != "", "build_rl.verl_out (the batch file: out_dir)")
	return set
}

func validate(c *Config) error {
	c.Input = cmp.Or(c.Input, schemas.Tasks.Name)
	c.Iterations = cmp.Or(c.Iterations, 3)
	c.Trainer.Timeout, c.LeaseTTL = cmp.Or(c.Trainer.Timeout, "24h"), cmp.Or(c.LeaseTTL, "2m")
	if c.Iterations < 1 {
		return fmt.Errorf("iterations %d: must be ≥ 1", c.Iterations)
	}
	if len(c.Trainer.Command) == 0 {
		return errors.New("trainer.command is empty: set the command that trains on a batch and prints the new checkpoint (e.g. [examples/rl/trainer-standin.sh, --batch, {batch}, --samples, {samples}, --checkpoint, {checkpoint}, --iteration, {iteration}, --loop, {loop_id}])")
	}
	if c.OutDir == "" {
		return errors.New("out_dir is empty: set the directory for the batch files and trainer logs (--out-dir)")
	}
	for _, arg := range c.Trainer.Command {
		if err := checkTemplate(arg); err != nil {
			return fmt.Errorf("trainer.command: %w", err)
		}
	}
	for _, d := range []string{c.Trainer.Timeout, c.LeaseTTL} {
		if _, err := time.ParseDuration(d); err != nil {
			return fmt.Errorf("duration %q: %w", d, err)
		}
	}
	if set := loopSet(c); len(set) > 0 {
		return fmt.Errorf("the loop sets these keys itself each iteration: %s", strings.Join(set, ", "))
	}
	if c.Curriculum.Query == "" && (len(c.Curriculum.Bands) > 0 || len(c.Curriculum.Params) > 0) {
		return errors.New("curriculum.bands and curriculum.params need curriculum.query (e.g. curriculum_pass_rate)")
	}
	if c.Curriculum.Query != "" {
		if _, err := loadCurriculum(c.Curriculum.Query); err != nil {
			return err
		}
	}
	if c.SelfPlay != nil {
		sp := *c.SelfPlay
		sp.Method = cmp.Or(sp.Method, synthtasks.MethodPolicy)
		if sp.Method == synthtasks.MethodProcedural {
			return errors.New("self_play.method: policy or mixed (the checkpoint writes the tasks)")
		}
		if len(sp.Repos) == 0 && len(sp.RepoPaths) == 0 {
			sp.Repos = synthtasks.DefaultRepos()
		}
		sp.MaxCandidates, sp.MaxTasks = cmp.Or(sp.MaxCandidates, 3), cmp.Or(sp.MaxTasks, 3)
		if err := synthtasks.Job.Validate(&sp); err != nil {
			return fmt.Errorf("self_play: %w", err)
		}
		c.SelfPlay = &sp
	}
	ro, ev, rl := c.Rollout, c.Evaluate, c.BuildRL // validated as the sub-jobs will be, on copies
	for _, check := range []struct {
		name string
		err  error
	}{{"rollout", rollout.Job.Validate(&ro)}, {"evaluate", evaluate.Job.Validate(&ev)}, {"build_rl", buildrl.Job.Validate(&rl)}} {
		if check.err != nil {
			return fmt.Errorf("%s: %w", check.name, check.err)
		}
	}
	return nil
}

// state is what plan hands to run.
type state struct {
	tasks    *lake.Snapshot
	outDir   string
	leaseTTL time.Duration
	dir      string // the trainer's working directory
}

func plan(ctx context.Context, env *stage.Env, cfg *Config) (stage.Plan, error) {
	st := &state{outDir: cfg.OutDir, dir: cfg.Trainer.Dir}
	st.leaseTTL, _ = time.ParseDuration(cfg.LeaseTTL)
	var err error
	if st.tasks, err = pinTasks(ctx, env, cfg); err != nil {
		return stage.Plan{}, fmt.Errorf("%s: %w", JobName, err)
	}
	if cfg.Checkpoint == "" {
		ep, err := env.Endpoint("policy")
		if err != nil {
			return stage.Plan{}, fmt.Errorf("%s: the first checkpoint: %w", JobName, err)
		}
		cfg.Checkpoint = ep.Model
	}
	// The loop's identity: its config (with the first checkpoint) and the
	// tasks it draws from; where its files go and how long its lease
	// lasts are not part of it.
	cfg.Input, cfg.OutDir, cfg.LeaseTTL, cfg.Trainer.Dir = "", "", "", ""
	return stage.Plan{Inputs: []*lake.Snapshot{st.tasks}, IDPrefix: "rl-loop", State: st}, nil
}

// pinTasks pins the tasks snapshot the loop draws from. With self_play
// the loop adds tasks itself, so "tasks" (latest) would name another
// snapshot — and another loop — on every run: the first run of a config
// records the version it pinned (rl/pins/<hash of the config>.json) and
// later runs of the same config pin it again, so a killed loop resumes and
// a finished one does nothing new (an explicit tasks@v starts another).
func pinTasks(ctx context.Context, env *stage.Env, cfg *Config) (*lake.Snapshot, error) {
	ref, err := lake.ParseRef(cfg.Input)
	if err != nil || cfg.SelfPlay == nil || ref.Version != lake.Latest {
		return tables.Pin(ctx, env.Lake, cfg.Input, schemas.Tasks.Name)
	}
	id := *cfg // what makes the loop, not where its files go
	id.OutDir, id.LeaseTTL, id.Trainer.Dir = "", "", ""
	body, err := json.Marshal(id)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(body)
	key := "rl/pins/" + hex.EncodeToString(h[:])[:20] + ".json"
	if data, err := objstore.ReadAll(ctx, env.Lake.Bucket(), key); err == nil {
		var pinned struct {
			Tasks string `json:"tasks"`
		}
		if err := json.Unmarshal(data, &pinned); err != nil {
			return nil, fmt.Errorf("pin %s: %w", key, err)
		}
		return tables.Pin(ctx, env.Lake, pinned.Tasks, schemas.Tasks.Name)
	} else if !errors.Is(err, objstore.ErrNotExist) {
		return nil, fmt.Errorf("pin %s: %w", key, err)
	}
	s, err := tables.Pin(ctx, env.Lake, cfg.Input, schemas.Tasks.Name)
	if err != nil {
		return nil, err
	}
	rec := fmt.Appendf(nil, "{\"tasks\": %q}\n", s.Ref().String())
	if err := env.Lake.Bucket().PutIfAbsent(ctx, key, bytes.NewReader(rec), int64(len(rec))); err != nil && !errors.Is(err, objstore.ErrExist) {
		return nil, fmt.Errorf("pin %s: %w", key, err)
	}
	return s, nil
}

func run(ctx context.Context, r *stage.Run[Config]) (Summary, error) {
	st, cfg, env := r.Plan.State.(*state), r.Config, r.Env
	sum := Summary{LoopID: r.ID, Input: st.tasks.Ref().String(), First: cfg.Checkpoint, Last: cfg.Checkpoint}
	host, _ := os.Hostname()
	held, err := lease.Acquire(ctx, env.Lake.Bucket(), prefix(r.ID)+"lease.json", fmt.Sprintf("%s/%d", host, os.Getpid()), st.leaseTTL, env.Clock, env.Logger)
	if err != nil {
		return sum, fmt.Errorf("%s %s: %w", JobName, r.ID, err)
	}
	sum.TookOver = held.TookOver()
	ctx, cancel := held.Guard(ctx)
	defer cancel()
	defer func() {
		if err := held.Release(context.WithoutCancel(ctx)); err != nil {
			env.Logger.Warn("rl loop lease", "loop", r.ID, "err", err)
		}
	}()
	done, err := committedIterations(ctx, env, r.ID)
	if err != nil {
		return sum, err
	}
	lp := &loop{r: r, st: st, sum: &sum}
	ckpt, cum := cfg.Checkpoint, int64(0)
	for i := int64(1); i <= int64(cfg.Iterations); i++ {
		row, ok := done[i]
		if ok {
			sum.Iterations = append(sum.Iterations, summarise(row, true))
		} else {
			if row, err = lp.iteration(ctx, i, ckpt, cum); err != nil {
				select {
				case <-held.Lost():
					err = fmt.Errorf("%w (the loop was stopped): %v", lease.ErrLost, err)
				default:
				}
				return sum, fmt.Errorf("%s %s: iteration %d: %w", JobName, r.ID, i, err)
			}
			sum.Iterations = append(sum.Iterations, summarise(row, false))
		}
		ckpt, cum = row.CheckpointOut, row.CumSamples
		sum.Last = ckpt
	}
	for _, table := range []string{schemas.RLIterations.Name, schemas.Checkpoints.Name} {
		t, err := env.Lake.Table(table)
		if err != nil {
			return sum, err
		}
		v, err := t.Latest(ctx)
		if err != nil {
			return sum, fmt.Errorf("%s: %s: %w", JobName, table, err)
		}
		r.Committed(table, v)
	}
	return sum, nil
}

func summarise(row schemas.RLIteration, resumed bool) Iteration {
	return Iteration{Iteration: row.Iteration, CheckpointIn: row.CheckpointIn, CheckpointOut: row.CheckpointOut, Tasks: row.Tasks,
		Graded: row.Graded, Resolved: row.Resolved, ResolveRate: row.ResolveRate, Samples: row.Samples, RewardMean: row.RewardMean,
		AdvantageAbs: row.AdvantageAbs, Trainer: row.TrainerSeconds, Resumed: resumed}
}

func print(w io.Writer, sum *Summary) error {
	state := "ran"
	if sum.Skipped {
		state = "complete already"
	}
	fmt.Fprintf(w, "rl loop %s over %s (%s): %s → %s in %d iterations\n", sum.LoopID, sum.Input, state, sum.First, sum.Last, len(sum.Iterations))
	fmt.Fprintf(w, "  %-4s %-28s %-28s %5s %9s %5s %7s %7s %7s %8s\n", "iter", "checkpoint in", "checkpoint out", "tasks", "resolved", "rate", "samples", "reward", "|adv|", "trainer")
	for _, it := range sum.Iterations {
		note := ""
		if it.Resumed && !sum.Skipped {
			note = "  (committed by an earlier run)"
		}
		fmt.Fprintf(w, "  %-4d %-28s %-28s %5d %9s %4.0f%% %7d %7.3f %7.3f %7.1fs%s\n", it.Iteration, it.CheckpointIn, it.CheckpointOut,
			it.Tasks, fmt.Sprintf("%d/%d", it.Resolved, it.Graded), 100*it.ResolveRate, it.Samples, it.RewardMean, it.AdvantageAbs, it.Trainer, note)
	}
	if sum.StepsResumed > 0 && !sum.Skipped {
		fmt.Fprintf(w, "  %d step(s) found complete already (an interrupted run's, or the same run by another stage) were not run again\n", sum.StepsResumed)
	}
	_, err := fmt.Fprintf(w, "  swelake sql --query rl_iterations   # the iterations; swelake report shows them\n")
	return err
}
