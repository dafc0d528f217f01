package verify

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/swelake/swelake/exec/agent"
	"github.com/swelake/swelake/internal/exectest"
	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

func readScores(t *testing.T, l *lake.Lake, verifyID string) map[string]schemas.VerifierScore {
	t.Helper()
	ctx := context.Background()
	vt, _ := l.Table(schemas.VerifierScores.Name)
	snap, err := vt.Snapshot(ctx, lake.Latest)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]schemas.VerifierScore{}
	for s, err := range lake.ReadRows[schemas.VerifierScore](ctx, l, snap) {
		if err != nil {
			t.Fatal(err)
		}
		if s.VerifyID == verifyID {
			out[s.RolloutID] = s
		}
	}
	return out
}

// addTest is a candidate patch that adds a passing test of its own.
const addTest = `diff --git a/tests/test_extra.py b/tests/test_extra.py
new file mode 100644
--- /dev/null
+++ b/tests/test_extra.py
@@ -0,0 +1,5 @@
+from textkit.rle import decode
+
+
+def test_added_by_candidate():
+    assert decode("2a") == "aa"
`

// TestVerifyExecution scores candidates by running the regression tests
// and the tests they add, without the task's hidden tests.
func TestVerifyExecution(t *testing.T) {
	exectest.Need(t)
	ctx := context.Background()
	store, _, bug, fix := exectest.BugRepo(t)
	task := exectest.BugTask(bug, fix)
	l := laketest.New(t)
	laketest.Append(t, l, schemas.Tasks, []schemas.Task{task})
	yes, no := true, false
	laketest.Append(t, l, schemas.Rollouts, []schemas.Rollout{
		{RolloutID: "gold", TaskID: task.TaskID, RunID: "r", Policy: "p", SampleIdx: 0, Patch: string(fix), Resolved: &yes},
		{RolloutID: "adds-test", TaskID: task.TaskID, RunID: "r", Policy: "p", SampleIdx: 1, Patch: addTest, Resolved: &no},
		{RolloutID: "empty", TaskID: task.TaskID, RunID: "r", Policy: "p", SampleIdx: 2, Resolved: &no},
		{RolloutID: "beyond-k", TaskID: task.TaskID, RunID: "r", Policy: "p", SampleIdx: 5, Patch: string(fix), Resolved: &yes},
	})
	cfg := Config{K: 3, Mode: ModeExecution}
	env := &stage.Env{Lake: l, Services: stage.Static{Backend: exectest.Backend(t), ReposDir: store}}
	sum, err := Job.Execute(ctx, env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Candidates != 3 || sum.Scored != 3 || sum.Selected != 1 || sum.Verifier != "execution" {
		t.Fatalf("summary: %+v", sum)
	}
	got := readScores(t, l, sum.VerifyID)
	if _, ok := got["beyond-k"]; ok {
		t.Error("a candidate beyond K was scored")
	}
	g := got["gold"]
	if g.ExecTotal == nil || *g.ExecTotal != 2 || *g.ExecPassed != 2 || g.ExecAdded != 0 || g.Score != 1 || g.PredictedReward != nil {
		t.Errorf("gold: %+v", g)
	}
	a := got["adds-test"]
	if a.ExecTotal == nil || *a.ExecTotal != 3 || *a.ExecPassed != 3 || a.ExecAdded != 1 || a.Score != 1 {
		t.Errorf("a candidate that adds a passing test: %+v (total/passed %v/%v)", a, deref(a.ExecTotal), deref(a.ExecPassed))
	}
	if e := got["empty"]; e.Score != 0 || e.Selected {
		t.Errorf("empty patch: %+v", e)
	}
	// gold and adds-test tie at 1: the seeded draw picks one.
	want := "gold"
	if a.Draw > g.Draw {
		want = "adds-test"
	}
	if !got[want].Selected {
		t.Errorf("tie not broken by the draw: gold draw %v, adds-test draw %v", g.Draw, a.Draw)
	}
	vt, _ := l.Table(schemas.VerifierScores.Name)
	v := sum.Outputs[schemas.VerifierScores.Name]
	log, err := vt.Log(ctx, v, v)
	if err != nil || log[0].Provenance.Sandbox != "local (bubblewrap)" {
		t.Fatalf("provenance: %+v %v", log, err)
	}
	again, err := Job.Execute(ctx, env, cfg)
	if err != nil || !again.Skipped {
		t.Fatalf("rerun: %+v %v", again, err)
	}
	// A store without the task's repository: every candidate fails the same
	// way, and the summary says so by cause with the first example.
	missing := &stage.Env{Lake: l, Services: stage.Static{Backend: exectest.Backend(t), ReposDir: t.TempDir()}}
	bad, err := Job.Execute(ctx, missing, Config{K: 2, Mode: ModeExecution})
	if err != nil || bad.Errors != 2 || len(bad.ErrorCauses) != 1 || bad.ErrorCauses[0].Count != 2 {
		t.Fatalf("missing repository: %+v %v", bad, err)
	}
	var out strings.Builder
	Job.Print(&out, &bad)
	if line := out.String(); !strings.Contains(line, "2 verifier errors: 2 × execution: ") || !strings.Contains(line, "(first: execution: ") {
		t.Errorf("the summary does not give the errors' cause: %s", line)
	}
	t.Log(out.String())
}

func deref(p *int32) any {
	if p == nil {
		return nil
	}
	return *p
}

// verifierLake holds n tasks with four candidates each (sample 0 the gold
// patch, the others wrong) and serves a scripted verifier for them.
func verifierLake(t *testing.T, n int) (*lake.Lake, *httptest.Server) {
	l := laketest.New(t)
	pol := &agent.Scripted{Tasks: map[string]agent.ScriptTask{}}
	var tasks []schemas.Task
	var rollouts []schemas.Rollout
	for i := range n {
		id := fmt.Sprintf("test/task-%02d", i)
		gold := fmt.Sprintf("diff --git a/m.py b/m.py\n--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n-x = %d\n+x = %d\n", i, i+1)
		tasks = append(tasks, schemas.Task{TaskID: id, Source: "test", Repo: "r", GoldPatch: gold, ProblemStatement: "x is off by one",
			FailToPass: []string{"tests/test_m.py::test_x"}, PassToPass: []string{"tests/test_m.py::test_y"}})
		pol.Tasks[id] = agent.ScriptTask{TaskID: id, GoldPatch: gold, FailToPass: []string{"tests/test_m.py::test_x"}}
		for s := range 4 {
			patch, ok := gold, s == 0
			if !ok {
				patch = fmt.Sprintf("diff --git a/m.py b/m.py\n--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n-x = %d\n+x = %d\n", i, i+10+s)
			}
			rollouts = append(rollouts, schemas.Rollout{RolloutID: fmt.Sprintf("%s/%d", id, s), TaskID: id, RunID: "r", Policy: "p",
				SampleIdx: int32(s), Patch: patch, Resolved: &ok})
		}
	}
	laketest.Append(t, l, schemas.Tasks, tasks)
	laketest.Append(t, l, schemas.Rollouts, rollouts)
	srv := httptest.NewServer(pol)
	t.Cleanup(srv.Close)
	return l, srv
}

// modelEnv is an environment whose verifier endpoint is url's.
func modelEnv(t *testing.T, l *lake.Lake, url string) *stage.Env {
	return &stage.Env{Lake: l, Services: stage.Static{Endpoints: map[string]stage.Endpoint{
		"verifier": {Client: client(t, url), Model: "scripted", BaseURL: url}}}}
}

func client(t *testing.T, url string) agent.Chatter {
	c, err := agent.NewClient(agent.ClientConfig{BaseURL: url + "/v1", Model: "scripted"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestVerifyModel scores candidates with a verifier model over HTTP (the
// scripted verifier), and selection by its score beats a random pick.
func TestVerifyModel(t *testing.T) {
	ctx := context.Background()
	l, srv := verifierLake(t, 20)
	sum, err := Job.Execute(ctx, modelEnv(t, l, srv.URL), Config{Mode: ModeModel, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Candidates != 80 || sum.Scored != 80 || sum.Selected != 20 || sum.Verifier != "model:scripted" {
		t.Fatalf("summary: %+v", sum)
	}
	got := readScores(t, l, sum.VerifyID)
	best := map[string]float64{}
	for _, s := range got {
		if s.PredictedReward == nil || *s.PredictedReward != s.Score || !strings.Contains(s.PredictedTests, "test_x") || !strings.Contains(s.Response, "reward") {
			t.Fatalf("a model score without its prediction: %+v", s)
		}
		best[s.TaskID] = max(best[s.TaskID], s.Score)
	}
	for _, s := range got {
		if s.Selected && s.Score != best[s.TaskID] {
			t.Errorf("selected %s scores %v, below the task's best %v", s.RolloutID, s.Score, best[s.TaskID])
		}
	}
	// One in four candidates is right: a random pick resolves ~25%; the
	// verifier (right ~90% of the time) must do much better.
	if r := sum.Outcomes["resolved"]; r < 12 {
		t.Errorf("verifier selection resolved %d of 20 tasks, want ≥ 12 (random: ~5): %+v", r, sum.Outcomes)
	}
}

// TestVerifyShards: shards of a run, each committing its own files, give
// exactly the rows of one worker.
func TestVerifyShards(t *testing.T) {
	ctx := context.Background()
	l, srv := verifierLake(t, 12)
	cfg := Config{Mode: ModeModel}
	whole, err := Job.Execute(ctx, modelEnv(t, l, srv.URL), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := readScores(t, l, whole.VerifyID)

	l2, srv2 := verifierLake(t, 12)
	env2 := modelEnv(t, l2, srv2.URL)
	n := 0
	for i := range 3 {
		cfg.Shard = fmt.Sprintf("%d/3", i)
		sum, err := Job.Execute(ctx, env2, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if sum.VerifyID != whole.VerifyID {
			t.Fatalf("shard %d has run id %s, the whole run %s", i, sum.VerifyID, whole.VerifyID)
		}
		n += sum.Candidates
		if again, err := Job.Execute(ctx, env2, cfg); err != nil || !again.Skipped {
			t.Fatalf("shard %d rerun: %+v %v", i, again, err)
		}
	}
	got := readScores(t, l2, whole.VerifyID)
	if n != 48 || len(got) != len(want) {
		t.Fatalf("shards scored %d candidates (%d rows), one worker %d", n, len(got), len(want))
	}
	for id, w := range want {
		g := got[id]
		if g.Score != w.Score || g.Selected != w.Selected || g.Draw != w.Draw || g.PredictedTests != w.PredictedTests {
			t.Errorf("%s: sharded %+v, whole %+v", id, g, w)
		}
	}
}
