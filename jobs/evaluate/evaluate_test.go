package evaluate

import (
	"context"
	"testing"

	"github.com/swelake/swelake/internal/exectest"
	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

func TestEvaluate(t *testing.T) {
	exectest.Need(t)
	ctx := context.Background()
	store, _, bug, fix := exectest.BugRepo(t)
	task := exectest.BugTask(bug, fix)
	l := laketest.New(t)
	laketest.Append(t, l, schemas.Tasks, []schemas.Task{task})
	ro := func(id, taskID, patch string) schemas.Rollout {
		return schemas.Rollout{RolloutID: id, TaskID: taskID, RunID: "r", Policy: "p", Patch: patch}
	}
	laketest.Append(t, l, schemas.Rollouts, []schemas.Rollout{
		ro("gold", task.TaskID, string(fix)),
		ro("empty", task.TaskID, ""),
		ro("wrong", task.TaskID, "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-# textkit\n+# textkit!\n"),
		ro("stale", task.TaskID, "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-# nothing like this\n+# x\n"),
		ro("orphan", "test/unknown", string(fix)),
	})
	cfg := Config{}
	env := &stage.Env{Lake: l, Services: stage.Static{Backend: exectest.Backend(t), ReposDir: store}}
	sum, err := Job.Execute(ctx, env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Patches != 5 || sum.Resolved != 1 || sum.Status["unresolved"] != 2 || sum.Status["empty_patch"] != 1 || sum.Status["no_result"] != 1 {
		t.Fatalf("summary: %+v", sum)
	}
	et, _ := l.Table(schemas.Evaluations.Name)
	snap, _ := et.Snapshot(ctx, lake.Latest)
	got := map[string]schemas.Evaluation{}
	for e, err := range lake.ReadRows[schemas.Evaluation](ctx, l, snap) {
		if err != nil {
			t.Fatal(err)
		}
		got[e.RolloutID] = e
	}
	if e := got["gold"]; e.ApplyMethod != "git_apply" || e.Resolved == nil || !*e.Resolved || e.Isolated == nil || !*e.Isolated || len(e.Tests) != 4 || e.Env == "" {
		t.Errorf("gold: %+v", e)
	}
	if e := got["stale"]; e.PatchApplied == nil || *e.PatchApplied || e.Status != "unresolved" {
		t.Errorf("a patch that does not apply: %+v", e)
	}
	if e := got["orphan"]; e.Status != "no_result" || e.Resolved != nil {
		t.Errorf("a patch of an unknown task: %+v", e)
	}
	v := sum.Outputs[schemas.Evaluations.Name]
	log, err := et.Log(ctx, v, v)
	if err != nil || len(log) != 1 || log[0].Provenance.Sandbox != "local (bubblewrap)" || log[0].Provenance.Job != JobName {
		t.Fatalf("the commit's provenance does not name the sandbox: %+v, %v", log, err)
	}
	again, err := Job.Execute(ctx, env, cfg)
	if err != nil || !again.Skipped {
		t.Fatalf("rerun: %+v, %v", again, err)
	}
}
