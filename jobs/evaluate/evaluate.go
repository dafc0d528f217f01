// Package evaluate is the job behind `swelake run evaluate`: the patches of
// a rollouts snapshot, or of imported predictions (an evaluations snapshot
// whose rows carry a patch), graded in fresh sandboxes against their tasks
// with SWE-bench semantics, written to evaluations.
package evaluate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/jobs"
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

	Concurrency  int          `json:"-" mapstructure:"concurrency"` // gradings at once (default 2)
	Shard        jobs.Shard   `json:"-" mapstructure:"-"`           // this worker's share of the tasks
	ReposDir     string       `json:"-" mapstructure:"-"`
	Backend      exec.Backend `json:"-" mapstructure:"-"`
	jobs.Runtime `json:"-" mapstructure:"-"`
}

// Summary is what the job did.
type Summary struct {
	RunID    string         `json:"run_id"` // the evaluations' run_id
	Input    string         `json:"input"`
	Tasks    string         `json:"tasks"`
	Patches  int            `json:"patches"`
	Status   map[string]int `json:"status"`
	Resolved int            `json:"resolved"`
	Version  int64          `json:"version"`
	Skipped  bool           `json:"skipped"`
	Shard    string         `json:"shard,omitempty"`
}

// candidate is one patch to grade.
type candidate struct {
	taskID, rolloutID, name, patch string
}

// Run grades the input's patches.
func Run(ctx context.Context, l *lake.Lake, cfg Config) (Summary, error) {
	sum := Summary{Status: map[string]int{}, Version: -1, Shard: cfg.Shard.String()}
	cfg.Runtime = cfg.Runtime.WithDefaults()
	if cfg.Backend == nil || cfg.ReposDir == "" {
		return sum, errors.New("evaluate: no sandbox backend or repository store")
	}
	cfg.Reruns = cmp.Or(cfg.Reruns, 2)
	cfg.Concurrency = cmp.Or(cfg.Concurrency, 2)
	timeout, err := time.ParseDuration(cmp.Or(cfg.Timeout, "10m"))
	if err != nil {
		return sum, fmt.Errorf("evaluate: timeout %q: %w", cfg.Timeout, err)
	}
	if err := cfg.InitTables(ctx, l); err != nil {
		return sum, err
	}
	pin, err := jobs.PinRun(ctx, l, cfg.Input, cfg.Tasks, cfg, schemas.Rollouts.Name, schemas.Evaluations.Name)
	if err != nil {
		return sum, fmt.Errorf("evaluate: %w", err)
	}
	snap, tsnap, hash := pin.Input, pin.Tasks, pin.ConfigHash
	sum.Input, sum.Tasks = snap.Ref().String(), tsnap.Ref().String()
	sum.RunID = "eval-" + hash[:12]
	runKey := JobName + "/" + sum.RunID
	et, err := l.Table(schemas.Evaluations.Name)
	if err != nil {
		return sum, err
	}
	if v, done, err := cfg.Shard.Done(ctx, et, runKey); err != nil || done {
		sum.Skipped, sum.Version = done, v
		return sum, err
	}
	cands, err := readCandidates(ctx, l, cfg, snap)
	if err != nil {
		return sum, err
	}
	tasks, err := jobs.TasksByID(ctx, l, tsnap, cfg.CacheDir, nil)
	if err != nil {
		return sum, err
	}
	sum.Patches = len(cands)
	rows := make([]schemas.Evaluation, len(cands))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.Concurrency)
	var warm []*schemas.Task
	for _, c := range cands {
		if t, ok := tasks[c.taskID]; ok {
			warm = append(warm, t)
		}
	}
	jobs.WarmGoCaches(ctx, cfg.Backend, cfg.ReposDir, warm, cfg.Logger)
	for i, c := range cands {
		g.Go(func() error {
			t, ok := tasks[c.taskID]
			if !ok {
				rows[i] = jobs.EvaluationOf(exec.Grading{Status: exec.StatusNoResult, Reason: "task " + c.taskID + " not in " + sum.Tasks},
					&schemas.Task{TaskID: c.taskID}, sum.RunID, c.rolloutID, c.name, c.patch, JobName)
				return nil
			}
			ws, err := jobs.TaskWorkspace(cfg.ReposDir, t)
			if err != nil {
				rows[i] = jobs.EvaluationOf(exec.Grading{Status: exec.StatusNoResult, Reason: err.Error()}, t, sum.RunID, c.rolloutID, c.name, c.patch, JobName)
				return nil
			}
			gr, err := exec.GradePatch(gctx, cfg.Backend, exec.GradeSpec{Workspace: ws, TestPatch: []byte(t.TestPatch), Patch: []byte(c.patch),
				TestCmd: t.TestCmd, Framework: jobs.Framework(t.Language), FailToPass: t.FailToPass, PassToPass: t.PassToPass,
				Reruns: cfg.Reruns, Limits: exec.Limits{Timeout: timeout}})
			if gctx.Err() != nil {
				return gctx.Err()
			}
			if err != nil {
				cfg.Logger.Warn("evaluate: sandbox failure", "task", t.TaskID, "candidate", c.name, "err", err)
			}
			rows[i] = jobs.EvaluationOf(gr, t, sum.RunID, c.rolloutID, c.name, c.patch, JobName)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return sum, err
	}
	for _, e := range rows {
		sum.Status[e.Status]++
		if e.Status == exec.StatusResolved {
			sum.Resolved++
		}
	}
	sum.Version, err = jobs.Commit(ctx, et, schemas.Evaluations, rows, cfg.Runtime, lake.Provenance{Job: JobName, RunKey: cfg.Shard.RunKey(runKey), ConfigHash: hash,
		Inputs: []string{sum.Input, sum.Tasks}, Sandbox: exec.Isolation(cfg.Backend)})
	if err != nil {
		return sum, fmt.Errorf("evaluate: %w", err)
	}
	return sum, nil
}

func readCandidates(ctx context.Context, l *lake.Lake, cfg Config, snap *lake.Snapshot) ([]candidate, error) {
	var out []candidate
	if snap.Table == schemas.Rollouts.Name {
		for r, err := range jobs.ReadRows[schemas.Rollout](ctx, l, snap, cfg.CacheDir) {
			if err != nil {
				return nil, err
			}
			if r.TaskID != "" && (cfg.RunID == "" || r.RunID == cfg.RunID) && cfg.Shard.Owns(r.TaskID) {
				out = append(out, candidate{taskID: r.TaskID, rolloutID: r.RolloutID, name: r.Policy, patch: r.Patch})
			}
		}
	} else {
		for e, err := range jobs.ReadRows[schemas.Evaluation](ctx, l, snap, cfg.CacheDir) {
			if err != nil {
				return nil, err
			}
			if e.TaskID != "" && (cfg.RunID == "" || e.RunID == cfg.RunID) && cfg.Shard.Owns(e.TaskID) {
				out = append(out, candidate{taskID: e.TaskID, rolloutID: e.RolloutID, name: cmp.Or(e.Candidate, e.EvaluationID), patch: e.Patch})
			}
		}
	}
	slices.SortFunc(out, func(a, b candidate) int {
		return cmp.Or(strings.Compare(a.taskID, b.taskID), strings.Compare(a.rolloutID, b.rolloutID), strings.Compare(a.name, b.name))
	})
	return out, nil
}
