package verify

import (
	"context"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/swelake/swelake/exec/agent"
	"github.com/swelake/swelake/exec/mutate"
	"github.com/swelake/swelake/internal/exectest"
	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/jobs/synthtasks"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/diff"
)

// unrelated is a candidate that changes nothing the tests see.
const unrelated = "diff --git a/NOTES.md b/NOTES.md\nnew file mode 100644\n--- /dev/null\n+++ b/NOTES.md\n@@ -0,0 +1 @@\n+looked into it\n"

// TestGeneratedTests: the policy (the scripted stand-in over HTTP) writes
// test files for real synthesised tasks in real sandboxes; a file's tests
// are kept only when they fail at the base commit and pass with the gold
// patch; candidates are scored by the share of kept tests they pass — the
// gold patch all, an unrelated change none — and hybrid weighs the model,
// execution and the generated tests, reusing the files written before.
func TestGeneratedTests(t *testing.T) {
	exectest.Need(t)
	ctx := context.Background()
	l := laketest.New(t)
	store := t.TempDir()
	b := exectest.Backend(t)
	if _, err := synthtasks.Job.Execute(ctx, &stage.Env{Lake: l, Services: stage.Static{Backend: b, ReposDir: store}},
		synthtasks.Config{Repos: []synthtasks.Repo{{Path: exectest.Example(t, "pytext")}, {Path: exectest.Example(t, "gointerval")}},
			MaxCandidates: 6, MaxTasks: 2, Timeout: "20s"}); err != nil {
		t.Fatal(err)
	}
	tasks := laketest.Rows[schemas.Task](t, l, schemas.Tasks.Name, lake.Latest)
	pol := &agent.Scripted{Tasks: map[string]agent.ScriptTask{}}
	var rollouts []schemas.Rollout
	yes, no := true, false
	for _, task := range tasks {
		pol.Tasks[task.TaskID] = agent.ScriptTask{TaskID: task.TaskID, Language: task.Language, GoldPatch: task.GoldPatch,
			FailToPass: task.FailToPass, PassToPass: task.PassToPass, TestCmd: task.TestCmd}
		rollouts = append(rollouts,
			schemas.Rollout{RolloutID: task.TaskID + "/gold", TaskID: task.TaskID, RunID: "r", Policy: "p", SampleIdx: 0, Patch: task.GoldPatch, Resolved: &yes},
			schemas.Rollout{RolloutID: task.TaskID + "/unrelated", TaskID: task.TaskID, RunID: "r", Policy: "p", SampleIdx: 1, Patch: unrelated, Resolved: &no})
	}
	laketest.Append(t, l, schemas.Rollouts, rollouts)
	srv := httptest.NewServer(pol)
	defer srv.Close()
	ep := stage.Endpoint{Client: client(t, srv.URL), Model: "scripted", BaseURL: srv.URL + "/v1"}
	env := &stage.Env{Lake: l, Services: stage.Static{Backend: b, ReposDir: store,
		Endpoints: map[string]stage.Endpoint{"policy": ep, "verifier": ep}}}

	sum, err := Job.Execute(ctx, env, Config{Mode: ModeGenerated, GenTests: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", sum)
	if sum.Verifier != "generated-tests:scripted" || sum.GenFiles != 3*len(tasks) || sum.GenReused != 0 || sum.GenKept == 0 {
		t.Fatalf("summary: %+v", sum)
	}
	gens := laketest.Rows[schemas.GeneratedTest](t, l, schemas.GeneratedTests.Name, lake.Latest)
	kept := map[string]int{}
	reasons := []string{GenWroteNothing, GenChangedFiles, GenNotTests, GenDoesNotRun, GenPassesAtBase, GenFailsWithGold}
	for _, g := range gens {
		if g.Model != "scripted" || g.Messages == "" {
			t.Errorf("%s: %+v", g.GenID, g)
		}
		for _, p := range diff.Paths(g.Patch) {
			if !diff.Created(g.Patch)[p] || !mutate.IsTestFile(p) {
				t.Errorf("%s: its patch changes %s, not a new test file", g.GenID, p)
			}
		}
		if !g.Kept {
			if !slices.Contains(reasons, g.Reason) || len(g.Tests) != 0 {
				t.Errorf("%s not kept for %q, tests %v", g.GenID, g.Reason, g.Tests)
			}
			continue
		}
		kept[g.TaskID]++
		for _, id := range g.Tests {
			if !strings.Contains(id, "swelake_gen_") && !strings.HasPrefix(id, "TestSwelakeGen") {
				t.Errorf("%s keeps %s, not a test of its file", g.GenID, id)
			}
		}
		if len(g.Tests) == 0 || g.BaseFailed < int32(len(g.Tests)) || g.Generated < g.BaseFailed {
			t.Errorf("%s: kept with %d tests, %d generated, %d failing at base", g.GenID, len(g.Tests), g.Generated, g.BaseFailed)
		}
	}
	scores := readScores(t, l, sum.VerifyID)
	for _, task := range tasks {
		gold, other := scores[task.TaskID+"/gold"], scores[task.TaskID+"/unrelated"]
		if kept[task.TaskID] == 0 {
			if gold.Error == "" || gold.GenTotal != nil {
				t.Errorf("%s: no generated test kept, yet the gold candidate scores %+v", task.TaskID, gold)
			}
			continue
		}
		if gold.GenTotal == nil || *gold.GenPassed != *gold.GenTotal || gold.Score != 1 || !gold.Selected {
			t.Errorf("%s: the gold patch passes %v of %v generated tests (score %v, selected %v)", task.TaskID, deref(gold.GenPassed), deref(gold.GenTotal), gold.Score, gold.Selected)
		}
		if other.GenTotal == nil || *other.GenPassed != 0 || other.Score != 0 {
			t.Errorf("%s: an unrelated change passes %v of %v generated tests", task.TaskID, deref(other.GenPassed), deref(other.GenTotal))
		}
	}

	// Hybrid: the same files (reused, not written again), with the model's
	// and execution's scores.
	hy, err := Job.Execute(ctx, env, Config{Mode: ModeHybrid, GenTests: 3})
	if err != nil {
		t.Fatal(err)
	}
	if hy.GenReused != hy.GenFiles || hy.GenFiles != sum.GenFiles || hy.Verifier != "model:scripted+execution+generated-tests:scripted" {
		t.Fatalf("hybrid: %+v", hy)
	}
	for id, s := range readScores(t, l, hy.VerifyID) {
		var m, e, g float64
		if s.PredictedReward != nil {
			m = *s.PredictedReward
		}
		if s.ExecTotal != nil && *s.ExecTotal > 0 {
			e = float64(*s.ExecPassed) / float64(*s.ExecTotal)
		}
		if s.GenTotal != nil && *s.GenTotal > 0 {
			g = float64(*s.GenPassed) / float64(*s.GenTotal)
		}
		if want := (m + e + g) / 3; math.Abs(s.Score-want) > 1e-5 {
			t.Errorf("hybrid %s: score %v, want (%v + %v + %v) / 3", id, s.Score, m, e, g)
		}
	}
}
