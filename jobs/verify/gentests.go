package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/agent"
	"github.com/swelake/swelake/exec/mutate"
	"github.com/swelake/swelake/exec/testlog"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/jobs/taskexec"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/diff"
)

// genPrompt versions the test writer's prompt: a new prompt writes new
// tests (it is part of each generated test's id).
const genPrompt = "testgen-v1"

// Why a generated test file is not kept.
const (
	GenWroteNothing  = "wrote nothing"
	GenChangedFiles  = "changed existing files (only new test files are taken)"
	GenNotTests      = "a new file that is not a test file"
	GenDoesNotRun    = "its tests do not run at the base commit (no test of the file reported)"
	GenPassesAtBase  = "every test passes at the base commit"
	GenFailsWithGold = "its failing tests fail with the gold patch too"
	GenInfra         = "execution failed"
)

// genID names a generated test file: the same task content, writer,
// seed and prompt write the same file (a later verify run reuses it).
func genID(t *schemas.Task, model string, seed int64) string {
	h := sha256.Sum256([]byte(strings.Join([]string{t.TaskID, t.ContentHash, model, fmt.Sprint(seed), genPrompt}, "\x00")))
	return "gen-" + hex.EncodeToString(h[:])[:16]
}

// generateTests has the policy write GenTests test files per task (those
// the generated_tests table holds already are reused) and validates each
// by execution. It returns every task's files and the rows to commit.
func generateTests(ctx context.Context, env *stage.Env, st *state, cfg Config, tasks map[string]*schemas.Task) (map[string][]schemas.GeneratedTest, []schemas.GeneratedTest, error) {
	held, err := heldGenerated(ctx, env.Lake)
	if err != nil {
		return nil, nil, err
	}
	type job struct {
		task *schemas.Task
		seed int64
	}
	var jobs []job
	for _, id := range slices.Sorted(maps.Keys(tasks)) {
		for seed := range int64(cfg.GenTests) {
			jobs = append(jobs, job{tasks[id], seed})
		}
	}
	byTask := map[string][]schemas.GeneratedTest{}
	var fresh []schemas.GeneratedTest
	var mu sync.Mutex
	err = env.Each(ctx, JobName+": write tests", len(jobs), st.concurrency, func(ctx context.Context, i int) error {
		j := jobs[i]
		g, ok := held[genID(j.task, cfg.GenModel, j.seed)]
		if !ok {
			var err error
			if g, err = writeTests(ctx, st, cfg, j.task, j.seed); err != nil {
				return fmt.Errorf("verify: write tests for %s (seed %d): %w", j.task.TaskID, j.seed, err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		byTask[j.task.TaskID] = append(byTask[j.task.TaskID], g)
		if !ok {
			fresh = append(fresh, g)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for _, gs := range byTask {
		slices.SortFunc(gs, func(a, b schemas.GeneratedTest) int { return int(a.Seed - b.Seed) })
	}
	slices.SortFunc(fresh, func(a, b schemas.GeneratedTest) int { return strings.Compare(a.GenID, b.GenID) })
	return byTask, fresh, nil
}

// heldGenerated reads the generated tests the table holds, by id.
func heldGenerated(ctx context.Context, l *lake.Lake) (map[string]schemas.GeneratedTest, error) {
	t, err := l.Table(schemas.GeneratedTests.Name)
	if err != nil {
		return nil, err
	}
	snap, err := t.Snapshot(ctx, lake.Latest)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	held := map[string]schemas.GeneratedTest{}
	for g, err := range lake.ReadRows[schemas.GeneratedTest](ctx, l, snap) {
		if err != nil {
			return nil, fmt.Errorf("verify: %s: %w", snap.Ref(), err)
		}
		held[g.GenID] = g
	}
	return held, nil
}

// writeTests runs one test-writing episode in a sandbox at the task's
// base commit and validates what it wrote: its tests are kept when they
// run and fail there and (with a gold patch) pass with the gold patch.
func writeTests(ctx context.Context, st *state, cfg Config, t *schemas.Task, seed int64) (schemas.GeneratedTest, error) {
	g := schemas.GeneratedTest{GenID: genID(t, cfg.GenModel, seed), TaskID: t.TaskID, Model: cfg.GenModel, Seed: seed}
	ws, err := taskexec.TaskWorkspace(st.sandbox.ReposDir, t)
	if err != nil {
		return g, err
	}
	box, err := st.sandbox.Backend.Open(ctx, ws)
	if err != nil {
		return g, err
	}
	system, user := agent.TestGenPrompt(agent.TestGenSpec{TaskID: t.TaskID, Repo: t.Repo, Language: t.Language,
		ProblemStatement: t.ProblemStatement, Stem: fmt.Sprintf("swelake_gen_%d", seed)})
	tr, err := agent.Run(ctx, st.writer, box, agent.Episode{System: system, User: user, Seed: &seed,
		Limits: agent.Limits{MaxSteps: cfg.GenMaxSteps, WallTime: 10 * time.Minute, CommandTimeout: 2 * time.Minute}})
	box.Close(context.WithoutCancel(ctx))
	if err != nil {
		return g, err
	}
	msgs, err := json.Marshal(tr.Messages)
	if err != nil {
		return g, err
	}
	g.Patch, g.ExitReason, g.Messages = tr.Patch, tr.ExitReason, string(msgs)
	paths, created := diff.Paths(tr.Patch), diff.Created(tr.Patch)
	switch {
	case tr.ExitReason == agent.ExitInfraError:
		return g, fmt.Errorf("the sandbox failed during the episode: %s", tr.Error)
	case len(paths) == 0:
		g.Reason = GenWroteNothing
		return g, nil
	case slices.ContainsFunc(paths, func(p string) bool { return !created[p] }):
		g.Reason = GenChangedFiles
		return g, nil
	case slices.ContainsFunc(paths, func(p string) bool { return !mutate.IsTestFile(p) }):
		g.Reason = GenNotTests
		return g, nil
	}
	te := st.sandbox.TestEnv(t)
	spec := exec.GradeSpec{Workspace: ws, TestPatch: []byte(tr.Patch), NoPatch: true, TestCmd: te.Script(), Framework: te.LogParser,
		Limits: exec.Limits{Timeout: st.timeout}}
	base, err := exec.GradePatch(ctx, st.sandbox.Backend, spec)
	if err != nil || base.Status == exec.StatusInfraError {
		g.Reason = GenInfra
		return g, ctx.Err()
	}
	gen := generatedIDs(base.Results, tr.Patch)
	g.Generated = int32(len(gen))
	var failing []string
	for _, id := range gen {
		if !base.Results[id].Pass() {
			failing = append(failing, id)
		}
	}
	g.BaseFailed = int32(len(failing))
	switch {
	case len(gen) == 0:
		g.Reason = GenDoesNotRun
		return g, nil
	case len(failing) == 0:
		g.Reason = GenPassesAtBase
		return g, nil
	}
	g.Tests = failing
	if strings.TrimSpace(t.GoldPatch) != "" {
		spec.NoPatch, spec.Patch = false, []byte(t.GoldPatch)
		gold, err := exec.GradePatch(ctx, st.sandbox.Backend, spec)
		if err != nil || gold.Status == exec.StatusInfraError || !gold.PatchApplied {
			g.Reason, g.Tests = GenInfra, nil
			return g, ctx.Err()
		}
		g.Tests = slices.DeleteFunc(failing, func(id string) bool { return !gold.Results[id].Pass() })
		if len(g.Tests) == 0 {
			g.Reason = GenFailsWithGold
			return g, nil
		}
	}
	g.Kept = true
	return g, nil
}

// generatedIDs are the tests of a run that a test patch defines: in a
// file it adds (pytest ids name their file) or, for Go, a Test function
// it adds.
func generatedIDs(results testlog.Results, patch string) []string {
	files, defined := diff.Paths(patch), definedTests(patch)
	var out []string
	for id := range results {
		if f, _, ok := strings.Cut(id, "::"); ok {
			if slices.Contains(files, strings.TrimPrefix(f, "./")) {
				out = append(out, id)
			}
		} else if defined[testFunc(id)] {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// executeGenerated runs the task's kept generated tests on the candidate:
// how many of them pass.
func executeGenerated(ctx context.Context, sb stage.Sandbox, t *schemas.Task, patch string, kept []schemas.GeneratedTest, timeout time.Duration) (passed, total int32, err error) {
	var tests []string
	var files strings.Builder
	for _, g := range kept {
		if g.Kept {
			tests = append(tests, g.Tests...)
			files.WriteString(strings.TrimRight(g.Patch, "\n") + "\n")
		}
	}
	if len(tests) == 0 {
		return 0, -1, fmt.Errorf("generated tests: none of the %d files written for %s was kept", len(kept), t.TaskID)
	}
	total = int32(len(tests))
	if strings.TrimSpace(patch) == "" {
		return 0, total, nil
	}
	ws, err := taskexec.TaskWorkspace(sb.ReposDir, t)
	if err != nil {
		return 0, -1, fmt.Errorf("generated tests: %w", err)
	}
	te := sb.TestEnv(t)
	gr, err := exec.GradePatch(ctx, sb.Backend, exec.GradeSpec{Workspace: ws, TestPatch: []byte(files.String()), Patch: []byte(patch),
		TestCmd: te.Script(), Framework: te.LogParser, Limits: exec.Limits{Timeout: timeout}})
	if err != nil || gr.Status == exec.StatusInfraError {
		return 0, -1, fmt.Errorf("generated tests: execution: %v %s", err, gr.Reason)
	}
	if !gr.PatchApplied {
		return 0, total, nil
	}
	for _, id := range tests {
		if gr.Results[id].Pass() {
			passed++
		}
	}
	return passed, total, nil
}
