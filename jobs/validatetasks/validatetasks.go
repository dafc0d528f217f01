// Package validatetasks is the job behind `swelake run validate-tasks`:
// every task of a tasks snapshot is checked in fresh sandboxes — without
// the gold patch its FAIL_TO_PASS tests fail and its PASS_TO_PASS tests
// pass; with it, every FAIL_TO_PASS test passes and every PASS_TO_PASS test
// still passes, in each of N runs. Results go to task_validations as valid,
// invalid (with the reason) or flaky (results changed between runs).
package validatetasks

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"github.com/swelake/swelake/jobs/taskexec"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// JobName is recorded in the provenance of every commit of this job.
const JobName = "validate-tasks"

// Config is the job's typed configuration.
type Config struct {
	Input  string `json:"input" mapstructure:"input"`   // tasks snapshot (default tasks@latest)
	Source string `json:"source" mapstructure:"source"` // only tasks of this source ("" : all)
	// TaskIDs, when set, are the only tasks validated (rl iterate's
	// self-play round validates the tasks it wrote).
	TaskIDs []string `json:"task_ids,omitempty" mapstructure:"task_ids"`
	// Runs of the gold patch per task (default 2); every one must resolve.
	Runs int `json:"runs" mapstructure:"runs"`
	// Reruns of failing tests inside one run, to tell flaky tests (default 2).
	Reruns  int    `json:"reruns" mapstructure:"reruns"`
	Timeout string `json:"timeout" mapstructure:"timeout"` // one test-suite run (default 5m)
	// How the run is spread, not what it computes (not part of its
	// identity): tasks at once (default 2), this worker's shard ("i/N").
	Concurrency int    `json:"concurrency,omitempty" mapstructure:"concurrency"`
	Shard       string `json:"shard,omitempty" mapstructure:"shard"`
}

// Summary is what the job did.
type Summary struct {
	stage.Outcome
	ValidationID string         `json:"validation_id"`
	Input        string         `json:"input"`
	Tasks        int            `json:"tasks"`
	Status       map[string]int `json:"status"`  // valid, invalid, flaky → tasks
	Reasons      map[string]int `json:"reasons"` // why invalid or flaky → tasks
	Shard        string         `json:"shard,omitempty"`
}

// Job is the validate-tasks stage.
var Job = &stage.Def[Config, Summary]{
	Info: stage.Info{Name: JobName,
		Short: "Check every task in fresh sandboxes: the base fails, the gold patch resolves, N times",
		Long: `For each task of a tasks snapshot: without the gold patch its FAIL_TO_PASS
tests must fail and its PASS_TO_PASS tests pass; with it, every FAIL_TO_PASS
test must pass and every PASS_TO_PASS test keep passing, in each of --runs
runs (failing tests are re-run to tell flaky ones). Writes task_validations:
valid, invalid (with the reason) or flaky. rollout runs only valid tasks by
default (rollout.only_valid).`,
		Example: `  swelake run validate-tasks
  swelake run validate-tasks --input tasks@3 --runs 3 --set validate_tasks.source=synth
  swelake sql "SELECT status, reason, count(*) FROM task_validations GROUP BY ALL"`,
		Inputs:  []string{schemas.Tasks.Name},
		Outputs: []string{schemas.TaskValidations.Name},
		Needs:   stage.Needs{Sandbox: true},
		Flags: []stage.Flag{
			{Name: "input", Key: "input", Usage: "tasks snapshot (table or table@version)"},
			{Name: "runs", Key: "runs", Usage: "gold-patch runs per task (default validate_tasks.runs)"},
			{Name: "shard", Key: "shard", Usage: stage.ShardUsage},
		},
	},
	Defaults: func() Config {
		return Config{Input: schemas.Tasks.Name, Runs: 2, Reruns: 2, Timeout: "5m", Concurrency: 2}
	},
	Validate: func(c *Config) error {
		c.Input = cmp.Or(c.Input, schemas.Tasks.Name)
		c.Runs, c.Reruns, c.Concurrency, c.Timeout = cmp.Or(c.Runs, 2), cmp.Or(c.Reruns, 2), cmp.Or(c.Concurrency, 2), cmp.Or(c.Timeout, "5m")
		if _, err := time.ParseDuration(c.Timeout); err != nil || c.Runs < 1 || c.Concurrency < 1 {
			return fmt.Errorf("runs %d, concurrency %d, timeout %q: want ≥ 1, ≥ 1 and a duration", c.Runs, c.Concurrency, c.Timeout)
		}
		_, err := stage.ParseShard(c.Shard)
		return err
	},
	Plan: func(ctx context.Context, env *stage.Env, cfg *Config) (stage.Plan, error) {
		st := &state{concurrency: cfg.Concurrency}
		var err error
		if st.sandbox, err = stage.OpenSandbox(ctx, env); err != nil {
			return stage.Plan{}, fmt.Errorf("validate-tasks: %w", err)
		}
		if st.snap, err = tables.Pin(ctx, env.Lake, cfg.Input, schemas.Tasks.Name); err != nil {
			return stage.Plan{}, fmt.Errorf("validate-tasks: %w", err)
		}
		shard, _ := stage.ParseShard(cfg.Shard)
		cfg.Input, cfg.Concurrency, cfg.Shard = "", 0, ""
		return stage.Plan{Inputs: []*lake.Snapshot{st.snap}, Shard: shard, IDPrefix: "val", State: st}, nil
	},
	Run: run,
	Print: func(w io.Writer, sum *Summary) error {
		fmt.Fprintf(w, "validation %s of %s (%s): %d tasks (%s)\n", sum.ValidationID, sum.Input,
			stage.CommitState(sum.Outcome, schemas.TaskValidations.Name), sum.Tasks, stage.Counts(sum.Status))
		for _, reason := range slices.Sorted(maps.Keys(sum.Reasons)) {
			fmt.Fprintf(w, "  %d: %s\n", sum.Reasons[reason], reason)
		}
		return nil
	},
}

// state is what plan hands to run.
type state struct {
	sandbox     stage.Sandbox
	snap        *lake.Snapshot
	concurrency int
}

func run(ctx context.Context, r *stage.Run[Config]) (Summary, error) {
	st, cfg, env := r.Plan.State.(*state), r.Config, r.Env
	sum := Summary{ValidationID: r.ID, Input: st.snap.Ref().String(), Status: map[string]int{}, Reasons: map[string]int{}, Shard: r.Plan.Shard.String()}
	timeout, _ := time.ParseDuration(cfg.Timeout)
	var tasks []*schemas.Task
	for t, err := range lake.ReadRows[schemas.Task](ctx, env.Lake, st.snap) {
		if err != nil {
			return sum, err
		}
		if (cfg.Source == "" || t.Source == cfg.Source) && (len(cfg.TaskIDs) == 0 || slices.Contains(cfg.TaskIDs, t.TaskID)) && r.Plan.Shard.Owns(t.TaskID) {
			tasks = append(tasks, &t)
		}
	}
	slices.SortFunc(tasks, func(a, b *schemas.Task) int { return strings.Compare(a.TaskID, b.TaskID) })
	sum.Tasks = len(tasks)
	st.sandbox.Warm(ctx, tasks, env.Logger)
	rows := make([]schemas.TaskValidation, len(tasks))
	err := st.sandbox.Pool(ctx, st.concurrency, env.Logger, func(pool *exec.Pool) error {
		// Each task grades once without the gold patch, then cfg.Runs
		// times with it (fewer when found invalid: Done closes the rest).
		for i, t := range tasks {
			if ws, err := taskexec.TaskWorkspace(st.sandbox.ReposDir, t); err == nil && len(t.FailToPass) > 0 {
				for range 1 + cfg.Runs {
					pool.Expect(i, ws)
				}
			}
		}
		return env.Each(ctx, JobName, len(tasks), st.concurrency, func(ctx context.Context, i int) error {
			defer pool.Done(i)
			v, err := validate(ctx, st.sandbox.Item(pool, i), cfg, tasks[i], exec.Limits{Timeout: timeout}, env.Logger)
			if err != nil {
				return fmt.Errorf("validate-tasks: task %s: %w", tasks[i].TaskID, err)
			}
			v.ValidationID, v.Time = r.ID, env.Clock().UTC()
			rows[i] = v
			env.Logger.Info("validated", "task", v.TaskID, "status", v.Status, "reason", v.Reason)
			return nil
		})
	})
	if err != nil {
		return sum, err
	}
	for _, v := range rows {
		sum.Status[v.Status]++
		if v.Reason != "" {
			sum.Reasons[v.Reason]++
		}
	}
	r.Prov.Sandbox = exec.Isolation(st.sandbox.Backend)
	stage.Emit(r, schemas.TaskValidations, rows)
	return sum, nil
}

// Reasons a task is invalid or flaky.
const (
	ReasonNoRepo       = "repository not in the store"
	ReasonNoF2P        = "no FAIL_TO_PASS tests"
	ReasonBasePasses   = "FAIL_TO_PASS tests pass without the gold patch"
	ReasonBaseP2P      = "PASS_TO_PASS tests fail without the gold patch"
	ReasonGoldFails    = "the gold patch does not resolve the task"
	ReasonGoldNoApply  = "the gold patch does not apply"
	ReasonFlaky        = "results change between runs"
	ReasonInfra        = "sandbox failure"
	ReasonNoTestCmd    = "no test command"
	ReasonTestPatchBad = "the test patch does not apply"
)

// validate checks one task: once without the gold patch, cfg.Runs times with it.
func validate(ctx context.Context, sb stage.Sandbox, cfg Config, t *schemas.Task, lim exec.Limits, log *slog.Logger) (schemas.TaskValidation, error) {
	v := schemas.TaskValidation{TaskID: t.TaskID, Status: schemas.ValidationInvalid}
	start := time.Now()
	defer func() { v.DurationMS = time.Since(start).Milliseconds() }()
	ws, err := taskexec.TaskWorkspace(sb.ReposDir, t)
	if err != nil {
		v.Reason = ReasonNoRepo
		return v, nil
	}
	te := sb.TestEnv(t)
	switch {
	case te.TestCmd == "":
		v.Reason = ReasonNoTestCmd
		return v, nil
	case len(t.FailToPass) == 0:
		v.Reason = ReasonNoF2P
		return v, nil
	}
	spec := exec.GradeSpec{Workspace: ws, TestPatch: []byte(t.TestPatch), TestCmd: te.Script(), Framework: te.LogParser,
		FailToPass: t.FailToPass, PassToPass: t.PassToPass, Limits: lim}
	base := spec
	base.NoPatch, base.Reruns = true, cfg.Reruns
	g, err := exec.GradePatch(ctx, sb.Backend, base)
	if err := infra(ctx, log, err, &v); err != nil || v.Reason != "" {
		return v, err
	}
	v.BaseFailing = int32(len(g.Grade.F2PFailed))
	v.Isolated = g.Isolated
	env, _ := json.Marshal(g.Env)
	v.Env = string(env)
	switch {
	case g.Status == exec.StatusNoResult:
		v.Reason = ReasonTestPatchBad
		return v, nil
	case len(g.Flaky) > 0 && len(g.Flaky) == len(g.Grade.P2PFailed):
		// PASS_TO_PASS tests that fail once and pass on a rerun
		v.Status, v.Reason, v.Flaky = schemas.ValidationFlaky, ReasonFlaky, g.Flaky
		return v, nil
	case len(g.Grade.F2PPassed) > 0:
		v.Reason = ReasonBasePasses
		return v, nil
	case len(g.Grade.P2PFailed) > 0:
		// The row names them: which PASS_TO_PASS tests fail at the base
		// commit is what the task's author must look at.
		v.Reason, v.P2PFailed = ReasonBaseP2P, slices.Sorted(slices.Values(g.Grade.P2PFailed))
		return v, nil
	}
	spec.Patch, spec.Reruns = []byte(t.GoldPatch), cfg.Reruns
	f2p, p2p, flaky := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for range cfg.Runs {
		g, err := exec.GradePatch(ctx, sb.Backend, spec)
		if err := infra(ctx, log, err, &v); err != nil || v.Reason != "" {
			return v, err
		}
		v.Runs++
		if !g.PatchApplied {
			v.Reason = ReasonGoldNoApply
			return v, nil
		}
		v.ApplyMethod = g.ApplyMethod
		if g.Status == exec.StatusResolved {
			v.Resolved++
		}
		for _, n := range g.Grade.F2PFailed {
			f2p[n] = true
		}
		for _, n := range g.Grade.P2PFailed {
			p2p[n] = true
		}
		for _, n := range g.Flaky {
			flaky[n] = true
		}
	}
	v.F2PFailed, v.P2PFailed, v.Flaky = slices.Sorted(maps.Keys(f2p)), slices.Sorted(maps.Keys(p2p)), slices.Sorted(maps.Keys(flaky))
	switch {
	case len(flaky) > 0 || (v.Resolved > 0 && v.Resolved < v.Runs):
		v.Status, v.Reason = schemas.ValidationFlaky, ReasonFlaky
	case v.Resolved == v.Runs:
		v.Status = schemas.ValidationValid
	default:
		v.Reason = ReasonGoldFails
	}
	return v, nil
}

// infra turns a sandbox failure into the task's reason; a cancelled
// context stops the job.
func infra(ctx context.Context, log *slog.Logger, err error, v *schemas.TaskValidation) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, exec.ErrInfra) {
		v.Reason = ReasonInfra
		log.Warn("validate-tasks: sandbox failure", "task", v.TaskID, "err", err)
		return nil
	}
	return err
}
