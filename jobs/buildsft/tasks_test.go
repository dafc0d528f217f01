package buildsft

import (
	"context"
	"fmt"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swelake/swelake/internal/exectest"
	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/jobs/synthtasks"
	"github.com/swelake/swelake/jobs/validatetasks"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/diff"
	"github.com/swelake/swelake/trainer/sft"
)

// TestTaskExamples: localisation, repair and test-generation examples
// from real synthesised tasks, the files read at their base commits in a
// sandbox; test generation only for a task whose validation (run here by
// validate-tasks) showed its test patch fails at the base commit and
// passes with the fix; each example tagged with its kind, and the mix
// ratios applied.
func TestTaskExamples(t *testing.T) {
	exectest.Need(t)
	ctx := context.Background()
	l := fixture(t)
	store := t.TempDir()
	env := &stage.Env{Lake: l, Services: stage.Static{Backend: exectest.Backend(t), ReposDir: store}}
	if _, err := synthtasks.Job.Execute(ctx, env, synthtasks.Config{Repos: []synthtasks.Repo{{Path: exectest.Example(t, "pytext")}},
		MaxCandidates: 8, MaxTasks: 2, Timeout: "20s"}); err != nil {
		t.Fatal(err)
	}
	tasks := laketest.Rows[schemas.Task](t, l, schemas.Tasks.Name, lake.Latest)
	if len(tasks) != 2 {
		t.Fatalf("%d synthesised tasks, want 2", len(tasks))
	}
	git := func(args ...string) string {
		out, err := osexec.Command("git", append([]string{"-C", filepath.Join(store, "pytext")}, args...)...).Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return string(out)
	}
	// A task with a test patch: a copy of the broken tests' file under a
	// new name, its tests added to FAIL_TO_PASS.
	tp := tasks[0]
	file, _, _ := strings.Cut(tp.FailToPass[0], "::")
	body := git("show", tp.BaseCommit+":"+file)
	copyPath := strings.TrimSuffix(file, ".py") + "_swelake_copy.py"
	var add strings.Builder
	for _, line := range strings.SplitAfter(strings.TrimSuffix(body, "\n"), "\n") {
		add.WriteString("+" + line)
	}
	tp.TestPatch = fmt.Sprintf("diff --git a/%s b/%s\nnew file mode 100644\n--- /dev/null\n+++ b/%s\n@@ -0,0 +1,%d @@\n%s\n", copyPath, copyPath, copyPath,
		strings.Count(body, "\n"), strings.TrimSuffix(add.String(), "\n"))
	for _, id := range tasks[0].FailToPass {
		if f, rest, _ := strings.Cut(id, "::"); f == file {
			tp.FailToPass = append(tp.FailToPass, copyPath+"::"+rest)
		}
	}
	tp.TaskID, tp.InstanceID = tp.TaskID+"-tp", tp.InstanceID+"-tp"
	tp.ContentHash = schemas.TaskHash(&tp)
	laketest.Append(t, l, schemas.Tasks, []schemas.Task{tp})
	vs, err := validatetasks.Job.Execute(ctx, env, validatetasks.Config{Runs: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("validation: %+v", vs)

	// A test file a policy wrote for the second task, kept by verify's
	// execution check: that task's testgen target.
	genPatch := "diff --git a/tests/test_swelake_gen_0.py b/tests/test_swelake_gen_0.py\nnew file mode 100644\n--- /dev/null\n+++ b/tests/test_swelake_gen_0.py\n@@ -0,0 +1,2 @@\n+def test_reproduce():\n+    assert False\n"
	laketest.Append(t, l, schemas.GeneratedTests, []schemas.GeneratedTest{
		{GenID: "gen-kept", TaskID: tasks[1].TaskID, Model: "m", Seed: 1, Kept: true, Patch: genPatch, Tests: []string{"tests/test_swelake_gen_0.py::test_reproduce"}},
		{GenID: "gen-dropped", TaskID: tasks[0].TaskID, Model: "m", Reason: "every test passes at the base commit"}})
	cfg := config(t)
	cfg.Tasks = sft.TaskKinds()
	sum, err := Job.Execute(ctx, env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kinds %v dropped %v", sum.Kinds, sum.Dropped)
	want := map[string]int{sft.KindTrajectory: 2, sft.KindLocalize: 3, sft.KindRepair: 3, sft.KindTestGen: 2}
	if fmt.Sprint(sum.Kinds) != fmt.Sprint(want) || sum.Dropped["testgen: task has no test patch and no kept generated test"] != 1 || sum.Examples != 10 ||
		sum.TestGenFromGenerated != 1 {
		t.Fatalf("kinds %v (want %v), dropped %v, %d examples", sum.Kinds, want, sum.Dropped, sum.Examples)
	}
	byTask := map[string]schemas.Task{}
	for _, task := range append(tasks, tp) {
		byTask[task.TaskID] = task
	}
	rows := laketest.Rows[schemas.SFTExample](t, l, schemas.SFTExamples.Name, sum.Version)
	for _, r := range rows {
		if r.SetID != sum.SetID || r.Kind == sft.KindTrajectory {
			continue
		}
		task := byTask[r.TaskID]
		user, answer := r.Messages[1].Content, r.Messages[2].Content
		if r.NumLossTokens == 0 || len(r.RolloutIDs) != 0 || !strings.Contains(user, task.ProblemStatement[:40]) {
			t.Errorf("%s example of %s: %d loss tokens, rollouts %v", r.Kind, r.TaskID, r.NumLossTokens, r.RolloutIDs)
		}
		switch r.Kind {
		case sft.KindLocalize:
			if exact, _, _ := sft.LocalizationScore(answer, diff.Paths(task.GoldPatch)); !exact {
				t.Errorf("localize %s: answer %q, gold files %v", r.TaskID, answer, diff.Paths(task.GoldPatch))
			}
		case sft.KindRepair, sft.KindTestGen:
			// The files are those at the base commit, byte for byte.
			for _, p := range diff.Paths(task.GoldPatch) {
				if at := git("show", task.BaseCommit+":"+p); !strings.Contains(user, fmt.Sprintf("<file path=%q>\n%s", p, at)) {
					t.Errorf("%s %s: %s is not shown as at the base commit", r.Kind, r.TaskID, p)
				}
			}
			target := task.GoldPatch
			if r.Kind == sft.KindTestGen {
				switch r.TaskID {
				case tp.TaskID:
					target = task.TestPatch
				case tasks[1].TaskID:
					target = genPatch
				default:
					t.Errorf("testgen example of %s, which has no validated test patch and no kept generated test", r.TaskID)
				}
			}
			if answer != "```diff\n"+strings.TrimRight(target, "\n")+"\n```" {
				t.Errorf("%s %s: answer %q", r.Kind, r.TaskID, answer)
			}
		}
	}
	// Mix 2:1 of trajectories and localisation: 2 trajectories, 1 of the
	// 3 localisation examples.
	cfg.Tasks, cfg.Mix = []string{sft.KindLocalize}, map[string]float64{sft.KindTrajectory: 2, sft.KindLocalize: 1}
	mixed, err := Job.Execute(ctx, env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(mixed.Kinds) != fmt.Sprint(map[string]int{sft.KindTrajectory: 2, sft.KindLocalize: 1}) || mixed.Dropped["mix: localize beyond its share"] != 2 {
		t.Fatalf("mix 2:1: kinds %v, dropped %v", mixed.Kinds, mixed.Dropped)
	}
	cfg.Mix = map[string]float64{"repair": 1}
	if _, err := Job.Execute(ctx, env, cfg); err == nil || !strings.Contains(err.Error(), `mix: "repair" is not a kind of this set`) {
		t.Fatalf("a mix naming a kind the set does not build: %v", err)
	}
}
