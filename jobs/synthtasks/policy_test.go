package synthtasks

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/agent"
	"github.com/swelake/swelake/exec/mutate"
	"github.com/swelake/swelake/internal/exectest"
	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/jobs/taskexec"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/diff"
)

// TestPolicySynthesis: the policy (the scripted stand-in, over HTTP)
// writes bugs through the agent loop in real sandboxes, in every mode;
// execution keeps those that break a test without breaking the suite, the
// injections table records every attempt with its trajectory and the task
// it became, and each kept task's gold patch resolves it.
func TestPolicySynthesis(t *testing.T) {
	exectest.Need(t)
	ctx := context.Background()
	l := laketest.New(t)
	b := exectest.Backend(t)
	store := t.TempDir()
	pol := &agent.Scripted{}
	srv := httptest.NewServer(pol)
	defer srv.Close()
	client, err := agent.NewClient(agent.ClientConfig{BaseURL: srv.URL + "/v1", Model: "scripted-ckpt-1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &stage.Env{Lake: l, Services: stage.Static{Backend: b, ReposDir: store,
		Endpoints: map[string]stage.Endpoint{"policy": {Client: client, Model: "scripted-ckpt-1", BaseURL: srv.URL + "/v1"}}}}
	cfg := Config{Repos: []Repo{{Path: exectest.Example(t, "pytext")}, {Path: exectest.Example(t, "gointerval")}},
		Method: MethodPolicy, MaxCandidates: 9, MaxTasks: 9, Timeout: "20s"}
	sum, err := Job.Execute(ctx, env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", sum.Repos)
	injections := laketest.Rows[schemas.Injection](t, l, schemas.Injections.Name, lake.Latest)
	tasks := map[string]schemas.Task{}
	for _, task := range laketest.Rows[schemas.Task](t, l, schemas.Tasks.Name, lake.Latest) {
		tasks[task.TaskID] = task
	}
	if len(injections) != 18 {
		t.Fatalf("%d injections, want one per candidate (18)", len(injections))
	}
	kept, modes := 0, map[string]int{}
	reasons := []string{DropNoFailure, DropTimeout, DropBroken, DropNoChange, DropEditTests, DropSameBug}
	for _, in := range injections {
		if in.Model != "scripted-ckpt-1" || in.Messages == "" || in.Steps == 0 || !slices.Contains(agent.SynthModes(), in.Mode) {
			t.Errorf("injection %s: %+v", in.InjectionID, in)
		}
		var msgs []agent.Message
		if err := json.Unmarshal([]byte(in.Messages), &msgs); err != nil || len(msgs) < 3 || !strings.Contains(msgs[1].Text(), "mode="+in.Mode) {
			t.Errorf("injection %s: its trajectory: %v (%d messages)", in.InjectionID, err, len(msgs))
		}
		if !in.Kept {
			if !slices.Contains(reasons, in.DropReason) || in.TaskID != "" {
				t.Errorf("injection %s dropped for %q, task %q", in.InjectionID, in.DropReason, in.TaskID)
			}
			if in.DropReason == DropEditTests && !slices.ContainsFunc(diff.Paths(in.Patch), mutate.IsTestFile) {
				t.Errorf("injection %s: dropped for editing tests, but its patch changes %v", in.InjectionID, diff.Paths(in.Patch))
			}
			continue
		}
		kept++
		modes[in.Mode]++
		task, ok := tasks[in.TaskID]
		if !ok {
			t.Fatalf("injection %s kept as task %s, which the tasks table does not hold", in.InjectionID, in.TaskID)
		}
		var raw struct {
			Policy struct {
				InjectionID string `json:"injection_id"`
			} `json:"policy"`
		}
		json.Unmarshal(task.Raw, &raw)
		if !strings.Contains(string(task.Raw), `"mode":"`+in.Mode+`"`) || !strings.Contains(string(task.Raw), `"model":"scripted-ckpt-1"`) ||
			raw.Policy.InjectionID != in.InjectionID {
			t.Errorf("task %s: provenance %s", task.TaskID, task.Raw)
		}
		if task.BugPatch != in.Patch || int(in.FailToPass) != len(task.FailToPass) || len(task.FailToPass) == 0 || len(task.PassToPass) == 0 ||
			!strings.HasPrefix(task.ProblemStatement, "After updating") || slices.ContainsFunc(diff.Paths(task.BugPatch), mutate.IsTestFile) {
			t.Errorf("task %s: %+v", task.TaskID, task)
		}
		ws, err := taskexec.TaskWorkspace(store, &task)
		if err != nil {
			t.Fatal(err)
		}
		g, err := exec.GradePatch(ctx, b, exec.GradeSpec{Workspace: ws, Patch: []byte(task.GoldPatch), TestCmd: task.TestCmd,
			Framework: taskexec.Framework(task.Language), FailToPass: task.FailToPass, PassToPass: task.PassToPass})
		if err != nil || g.Status != exec.StatusResolved {
			t.Errorf("task %s: the gold patch grades %s (%s), err %v", task.TaskID, g.Status, g.Reason, err)
		}
	}
	if kept == 0 || kept != sum.Tasks || len(modes) < 2 {
		t.Fatalf("%d injections kept (%v), summary %d tasks", kept, modes, sum.Tasks)
	}
	// Mixed: procedural and policy candidates take turns.
	cfg.Method, cfg.Repos, cfg.MaxCandidates, cfg.Seed = MethodMixed, cfg.Repos[:1], 6, 7
	mixed, err := Job.Execute(ctx, env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	policy := 0
	for k, n := range mixed.Repos[0].ByKind {
		if strings.HasPrefix(k, "policy:") {
			policy += n
		}
	}
	all := laketest.Rows[schemas.Injection](t, l, schemas.Injections.Name, lake.Latest)
	if mixed.Repos[0].Candidates != 6 || len(all) != 18+3 || policy == mixed.Repos[0].Kept {
		t.Fatalf("mixed: %+v; %d injections", mixed.Repos[0], len(all))
	}
}
