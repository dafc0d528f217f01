// Package evaluate is the job behind `swelake run evaluate`: the patches of
// a rollouts snapshot, or of imported predictions (an evaluations snapshot
// whose rows carry a patch), graded in fresh sandboxes against their tasks
// with SWE-bench semantics, written to evaluations.
package evaluate

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"github.com/swelake/swelake/jobs/taskexec"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// JobName is recorded in the provenance of every commit of this job.
const JobName = "evaluate"

// Config is the job's typed configuration.
type Config struct {
	// Input is a rollouts or an evaluations snapshot (default rollouts).
	Input string `json:"input" mapstructure:"input"`
	// RunID keeps only the input rows of one run ("" : all).
	RunID   string `json:"run_id" mapstructure:"run_id"`
	Tasks   string `json:"tasks" mapstructure:"tasks"`     // tasks snapshot (default tasks@latest)
	Reruns  int    `json:"reruns" mapstructure:"reruns"`   // flaky-test reruns (default 2)
	Timeout string `json:"timeout" mapstructure:"timeout"` // one test-suite run (default 10m)
	// How the run is spread, not what it computes (not part of its
	// identity): gradings at once (default 2), this worker's shard ("i/N").
	Concurrency int    `json:"concurrency,omitempty" mapstructure:"concurrency"`
	Shard       string `json:"shard,omitempty" mapstructure:"shard"`
}

// Summary is what the job did.
type Summary struct {
	stage.Outcome
	RunID    string         `json:"run_id"` // the evaluations' run_id
	Input    string         `json:"input"`
	Tasks    string         `json:"tasks"`
	Patches  int            `json:"patches"`
	Status   map[string]int `json:"status"`
	Resolved int            `json:"resolved"`
	Shard    string         `json:"shard,omitempty"`
	// NotGraded are the no_result and infra_error patches by cause.
	NotGraded []stage.Cause `json:"not_graded,omitempty"`
}

// candidate is one patch to grade.
type candidate struct {
	taskID, rolloutID, name, patch string
}

// Job is the evaluate stage.
var Job = &stage.Def[Config, Summary]{
	Info: stage.Info{Name: JobName,
		Short: "Grade rollouts' or imported predictions' patches in fresh sandboxes into evaluations",
		Long: `Grades every patch of a rollouts snapshot (or of an evaluations snapshot,
e.g. predictions imported with swelake ingest reports --format predictions)
against its task with SWE-bench semantics: apply the task's test patch and
the candidate (git apply, then a looser git apply, then patch --fuzz; which
one worked is recorded), run the test command, parse the log, resolved iff
every FAIL_TO_PASS test passes and every PASS_TO_PASS test still passes.
Failing tests are re-run (evaluate.reruns) and flipping ones reported as
flaky. Statuses: resolved, unresolved, empty_patch, no_result, infra_error.`,
		Example: `  swelake run evaluate --input rollouts --run-id rollout-3f2a9c1b7d0e
  swelake run evaluate --input evaluations@2 --json`,
		Inputs:  []string{schemas.Rollouts.Name, schemas.Tasks.Name},
		Outputs: []string{schemas.Evaluations.Name},
		Needs:   stage.Needs{Sandbox: true},
		Flags: []stage.Flag{
			{Name: "input", Key: "input", Usage: "rollouts or evaluations snapshot"},
			{Name: "run-id", Key: "run_id", Usage: "only the input rows of this run"},
			{Name: "shard", Key: "shard", Usage: stage.ShardUsage},
		},
	},
	Defaults: func() Config {
		return Config{Input: schemas.Rollouts.Name, Tasks: schemas.Tasks.Name, Reruns: 2, Timeout: "10m", Concurrency: 2}
	},
	Validate: func(c *Config) error {
		c.Input, c.Tasks = cmp.Or(c.Input, schemas.Rollouts.Name), cmp.Or(c.Tasks, schemas.Tasks.Name)
		c.Reruns, c.Concurrency, c.Timeout = cmp.Or(c.Reruns, 2), cmp.Or(c.Concurrency, 2), cmp.Or(c.Timeout, "10m")
		if _, err := time.ParseDuration(c.Timeout); err != nil {
			return fmt.Errorf("timeout %q: %w", c.Timeout, err)
		}
		_, err := stage.ParseShard(c.Shard)
		return err
	},
	Plan:  plan,
	Run:   run,
	Print: print,
}

// state is what plan hands to run.
type state struct {
	sandbox     stage.Sandbox
	input, task *lake.Snapshot
	concurrency int
}

func plan(ctx context.Context, env *stage.Env, cfg *Config) (stage.Plan, error) {
	st := &state{concurrency: cfg.Concurrency}
	var err error
	if st.sandbox, err = stage.OpenSandbox(ctx, env); err != nil {
		return stage.Plan{}, fmt.Errorf("evaluate: %w", err)
	}
	pin, err := taskexec.PinRun(ctx, env.Lake, cfg.Input, cfg.Tasks, nil, schemas.Rollouts.Name, schemas.Evaluations.Name)
	if err != nil {
		return stage.Plan{}, fmt.Errorf("evaluate: %w", err)
	}
	st.input, st.task = pin.Input, pin.Tasks
	shard, _ := stage.ParseShard(cfg.Shard)
	cfg.Input, cfg.Tasks, cfg.Concurrency, cfg.Shard = "", "", 0, "" // the pinned snapshots name them
	return stage.Plan{Inputs: []*lake.Snapshot{pin.Input, pin.Tasks}, Shard: shard, IDPrefix: "eval", State: st}, nil
}

func run(ctx context.Context, r *stage.Run[Config]) (Summary, error) {
	st, cfg, env := r.Plan.State.(*state), r.Config, r.Env
	sum := Summary{RunID: r.ID, Input: st.input.Ref().String(), Tasks: st.task.Ref().String(), Status: map[string]int{}, Shard: r.Plan.Shard.String()}
	timeout, _ := time.ParseDuration(cfg.Timeout)
	cands, err := readCandidates(ctx, env, cfg, r.Plan.Shard, st.input)
	if err != nil {
		return sum, err
	}
	tasks, err := taskexec.TasksByID(ctx, env.Lake, st.task, nil)
	if err != nil {
		return sum, err
	}
	sum.Patches = len(cands)
	var warm []*schemas.Task
	for _, c := range cands {
		if t, ok := tasks[c.taskID]; ok {
			warm = append(warm, t)
		}
	}
	st.sandbox.Warm(ctx, warm, env.Logger)
	rows := make([]schemas.Evaluation, len(cands))
	err = st.sandbox.Pool(ctx, st.concurrency, env.Logger, func(pool *exec.Pool) error {
		for i, c := range cands {
			if t, ok := tasks[c.taskID]; ok && len(bytes.TrimSpace([]byte(c.patch))) > 0 {
				if ws, err := taskexec.TaskWorkspace(st.sandbox.ReposDir, t); err == nil {
					pool.Expect(i, ws)
				}
			}
		}
		return env.Each(ctx, JobName, len(cands), st.concurrency, func(ctx context.Context, i int) error {
			defer pool.Done(i)
			c := cands[i]
			t, ok := tasks[c.taskID]
			if !ok {
				t = &schemas.Task{TaskID: c.taskID}
			}
			g, err := grade(ctx, st.sandbox.Item(pool, i), t, ok, c, cfg.Reruns, timeout, sum.Tasks)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				env.Logger.Warn("evaluate: sandbox failure", "task", t.TaskID, "candidate", c.name, "err", err)
			}
			rows[i] = taskexec.EvaluationOf(g, t, r.ID, c.rolloutID, c.name, c.patch, JobName)
			return nil
		})
	})
	if err != nil {
		return sum, err
	}
	var causes stage.Causes
	for _, e := range rows {
		sum.Status[e.Status]++
		if e.Status == exec.StatusResolved {
			sum.Resolved++
		}
		if e.Status == exec.StatusNoResult || e.Status == exec.StatusInfraError {
			causes.Add(e.Status + ": " + e.Reason)
		}
	}
	sum.NotGraded = causes.List()
	r.Prov.Sandbox = exec.Isolation(st.sandbox.Backend)
	stage.Emit(r, schemas.Evaluations, rows)
	return sum, nil
}

// grade grades one candidate against its task (known: the task is in the
// tasks snapshot).
func grade(ctx context.Context, sb stage.Sandbox, t *schemas.Task, known bool, c candidate, reruns int, timeout time.Duration, tasksRef string) (exec.Grading, error) {
	if !known {
		return exec.Grading{Status: exec.StatusNoResult, Reason: "task " + c.taskID + " not in " + tasksRef}, nil
	}
	ws, err := taskexec.TaskWorkspace(sb.ReposDir, t)
	if err != nil {
		return exec.Grading{Status: exec.StatusNoResult, Reason: err.Error()}, nil
	}
	te := sb.TestEnv(t)
	return exec.GradePatch(ctx, sb.Backend, exec.GradeSpec{Workspace: ws, TestPatch: []byte(t.TestPatch), Patch: []byte(c.patch),
		TestCmd: te.Script(), Framework: te.LogParser, FailToPass: t.FailToPass, PassToPass: t.PassToPass,
		Reruns: reruns, Limits: exec.Limits{Timeout: timeout}})
}

func print(w io.Writer, sum *Summary) error {
	_, err := fmt.Fprintf(w, "evaluation %s of %s against %s (%s): %d patches, %d resolved (%s)\n", sum.RunID, sum.Input, sum.Tasks,
		stage.CommitState(sum.Outcome, schemas.Evaluations.Name), sum.Patches, sum.Resolved, stage.Counts(sum.Status))
	if err == nil && len(sum.NotGraded) > 0 {
		_, err = fmt.Fprintf(w, "  not graded: %s\n", stage.FormatCauses(sum.NotGraded))
	}
	return err
}

func readCandidates(ctx context.Context, env *stage.Env, cfg Config, shard stage.Shard, snap *lake.Snapshot) ([]candidate, error) {
	var out []candidate
	if snap.Table == schemas.Rollouts.Name {
		for r, err := range lake.ReadRows[schemas.Rollout](ctx, env.Lake, snap) {
			if err != nil {
				return nil, err
			}
			if r.TaskID != "" && (cfg.RunID == "" || r.RunID == cfg.RunID) && shard.Owns(r.TaskID) {
				out = append(out, candidate{taskID: r.TaskID, rolloutID: r.RolloutID, name: r.Policy, patch: r.Patch})
			}
		}
	} else {
		for e, err := range lake.ReadRows[schemas.Evaluation](ctx, env.Lake, snap) {
			if err != nil {
				return nil, err
			}
			if e.TaskID != "" && (cfg.RunID == "" || e.RunID == cfg.RunID) && shard.Owns(e.TaskID) {
				out = append(out, candidate{taskID: e.TaskID, rolloutID: e.RolloutID, name: cmp.Or(e.Candidate, e.EvaluationID), patch: e.Patch})
			}
		}
	}
	slices.SortFunc(out, func(a, b candidate) int {
		return cmp.Or(strings.Compare(a.taskID, b.taskID), strings.Compare(a.rolloutID, b.rolloutID), strings.Compare(a.name, b.name))
	})
	return out, nil
}
