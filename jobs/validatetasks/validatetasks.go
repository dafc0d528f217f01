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
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/jobs"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// JobName is recorded in the provenance of every commit of this job.
const JobName = "validate-tasks"

// Config is the job's typed configuration.
type Config struct {
	Input  string `json:"input" mapstructure:"input"`   // tasks snapshot (default tasks@latest)
	Source string `json:"source" mapstructure:"source"` // only tasks of this source ("" : all)
	// Runs of the gold patch per task (default 2); every one must resolve.
	Runs int `json:"runs" mapstructure:"runs"`
	// Reruns of failing tests inside one run, to tell flaky tests (default 2).
	Reruns      int    `json:"reruns" mapstructure:"reruns"`
	Timeout     string `json:"timeout" mapstructure:"timeout"`         // one test-suite run (default 5m)
	Concurrency int    `json:"concurrency" mapstructure:"concurrency"` // tasks at once (default 2)

	ReposDir     string       `json:"-" mapstructure:"-"`
	Backend      exec.Backend `json:"-" mapstructure:"-"`
	Shard        jobs.Shard   `json:"-" mapstructure:"-"` // this worker's share of the tasks
	jobs.Runtime `json:"-" mapstructure:"-"`
}

// Summary is what the job did.
type Summary struct {
	ValidationID string         `json:"validation_id"`
	Input        string         `json:"input"`
	Tasks        int            `json:"tasks"`
	Status       map[string]int `json:"status"`  // valid, invalid, flaky → tasks
	Reasons      map[string]int `json:"reasons"` // why invalid or flaky → tasks
	Version      int64          `json:"version"`
	Skipped      bool           `json:"skipped"`
	Shard        string         `json:"shard,omitempty"`
}

// Run validates the tasks.
func Run(ctx context.Context, l *lake.Lake, cfg Config) (Summary, error) {
	sum := Summary{Status: map[string]int{}, Reasons: map[string]int{}, Version: -1, Shard: cfg.Shard.String()}
	cfg.Runtime = cfg.Runtime.WithDefaults()
	if cfg.Backend == nil || cfg.ReposDir == "" {
		return sum, errors.New("validate-tasks: no sandbox backend or repository store")
	}
	cfg.Runs = cmp.Or(cfg.Runs, 2)
	cfg.Reruns = cmp.Or(cfg.Reruns, 2)
	cfg.Concurrency = cmp.Or(cfg.Concurrency, 2)
	cfg.Timeout = cmp.Or(cfg.Timeout, "5m")
	timeout, err := time.ParseDuration(cfg.Timeout)
	if err != nil || cfg.Runs < 1 || cfg.Concurrency < 1 {
		return sum, fmt.Errorf("validate-tasks: runs %d, concurrency %d, timeout %q: want ≥ 1, ≥ 1 and a duration", cfg.Runs, cfg.Concurrency, cfg.Timeout)
	}
	if err := cfg.InitTables(ctx, l); err != nil {
		return sum, err
	}
	snap, err := jobs.Pin(ctx, l, cmp.Or(cfg.Input, schemas.Tasks.Name), schemas.Tasks.Name)
	if err != nil {
		return sum, fmt.Errorf("validate-tasks: %w", err)
	}
	sum.Input = snap.Ref().String()
	hash, err := jobs.ConfigHash(struct {
		Cfg   Config
		Input string
	}{cfg, sum.Input})
	if err != nil {
		return sum, err
	}
	sum.ValidationID = "val-" + hash[:12]
	runKey := JobName + "/" + sum.ValidationID
	vt, err := l.Table(schemas.TaskValidations.Name)
	if err != nil {
		return sum, err
	}
	if v, done, err := cfg.Shard.Done(ctx, vt, runKey); err != nil || done {
		sum.Skipped, sum.Version = done, v
		return sum, err
	}
	var tasks []schemas.Task
	for t, err := range jobs.ReadRows[schemas.Task](ctx, l, snap, cfg.CacheDir) {
		if err != nil {
			return sum, err
		}
		if (cfg.Source == "" || t.Source == cfg.Source) && cfg.Shard.Owns(t.TaskID) {
			tasks = append(tasks, t)
		}
	}
	slices.SortFunc(tasks, func(a, b schemas.Task) int { return strings.Compare(a.TaskID, b.TaskID) })
	sum.Tasks = len(tasks)
	ptrs := make([]*schemas.Task, len(tasks))
	for i := range tasks {
		ptrs[i] = &tasks[i]
	}
	jobs.WarmGoCaches(ctx, cfg.Backend, cfg.ReposDir, ptrs, cfg.Logger)
	rows := make([]schemas.TaskValidation, len(tasks))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.Concurrency)
	var mu sync.Mutex
	done := 0
	for i := range tasks {
		g.Go(func() error {
			v, err := validate(gctx, cfg, &tasks[i], exec.Limits{Timeout: timeout})
			if err != nil {
				return fmt.Errorf("validate-tasks: task %s: %w", tasks[i].TaskID, err)
			}
			v.ValidationID, v.Time = sum.ValidationID, cfg.Clock().UTC()
			rows[i] = v
			mu.Lock()
			done++
			cfg.Logger.Info("validated", "task", v.TaskID, "status", v.Status, "reason", v.Reason, "done", done, "of", len(tasks))
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return sum, err
	}
	for _, v := range rows {
		sum.Status[v.Status]++
		if v.Reason != "" {
			sum.Reasons[v.Reason]++
		}
	}
	sum.Version, err = jobs.Commit(ctx, vt, schemas.TaskValidations, rows, cfg.Runtime, lake.Provenance{Job: JobName, RunKey: cfg.Shard.RunKey(runKey), ConfigHash: hash,
		Inputs: []string{sum.Input}, Sandbox: exec.Isolation(cfg.Backend)})
	if err != nil {
		return sum, fmt.Errorf("validate-tasks: %w", err)
	}
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
func validate(ctx context.Context, cfg Config, t *schemas.Task, lim exec.Limits) (schemas.TaskValidation, error) {
	v := schemas.TaskValidation{TaskID: t.TaskID, Status: schemas.ValidationInvalid}
	start := time.Now()
	defer func() { v.DurationMS = time.Since(start).Milliseconds() }()
	ws, err := jobs.TaskWorkspace(cfg.ReposDir, t)
	if err != nil {
		v.Reason = ReasonNoRepo
		return v, nil
	}
	switch {
	case t.TestCmd == "":
		v.Reason = ReasonNoTestCmd
		return v, nil
	case len(t.FailToPass) == 0:
		v.Reason = ReasonNoF2P
		return v, nil
	}
	spec := exec.GradeSpec{Workspace: ws, TestPatch: []byte(t.TestPatch), TestCmd: t.TestCmd, Framework: jobs.Framework(t.Language),
		FailToPass: t.FailToPass, PassToPass: t.PassToPass, Limits: lim}
	base := spec
	base.NoPatch, base.Reruns = true, cfg.Reruns
	g, err := exec.GradePatch(ctx, cfg.Backend, base)
	if err := infra(ctx, cfg.Logger, err, &v); err != nil || v.Reason != "" {
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
		v.Reason = ReasonBaseP2P
		return v, nil
	}
	spec.Patch, spec.Reruns = []byte(t.GoldPatch), cfg.Reruns
	f2p, p2p, flaky := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for range cfg.Runs {
		g, err := exec.GradePatch(ctx, cfg.Backend, spec)
		if err := infra(ctx, cfg.Logger, err, &v); err != nil || v.Reason != "" {
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
