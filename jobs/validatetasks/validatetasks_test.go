package validatetasks

import (
	"context"
	"fmt"
	"testing"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/internal/exectest"
	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

func TestValidateTasks(t *testing.T) {
	exectest.Need(t)
	ctx := context.Background()
	dir, clean, bug, fix := exectest.BugRepo(t)
	flakyTest := []byte("diff --git a/tests/test_flaky.py b/tests/test_flaky.py\nnew file mode 100644\n--- /dev/null\n+++ b/tests/test_flaky.py\n@@ -0,0 +1,8 @@\n+import os\n+\n+\n+def test_flaky():\n+    marker = os.path.join(os.path.dirname(__file__), \".ran\")\n+    first = not os.path.exists(marker)\n+    open(marker, \"w\").close()\n+    assert not first\n")
	task := func(id, base string, gold []byte, p2p ...string) schemas.Task {
		return schemas.Task{TaskID: "t/" + id, Source: "test", Repo: "pytext", BaseCommit: base, GoldPatch: string(gold), Language: "python",
			TestCmd: "python3 -m pytest -rA -p no:cacheprovider", FailToPass: []string{"tests/test_rle.py::test_encode", "tests/test_rle.py::test_round_trip"},
			PassToPass: append([]string{"tests/test_rle.py::test_decode", "tests/test_roman.py::test_from_roman"}, p2p...)}
	}
	readme := []byte("diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-# textkit\n+# textkit!\n")
	flaky := task("flaky", bug, fix, "tests/test_flaky.py::test_flaky")
	flaky.TestPatch = string(flakyTest)
	missing := task("missing", bug, fix)
	missing.Repo = "nowhere"
	tasks := []schemas.Task{
		task("valid", bug, fix),
		task("wrong-gold", bug, readme),
		task("base-passes", clean, readme),
		task("base-p2p", bug, fix, "tests/test_rle.py::test_not_in_the_log"),
		flaky,
		missing,
	}
	l := laketest.New(t)
	laketest.Append(t, l, schemas.Tasks, tasks)
	cfg := Config{Runs: 2}
	env := &stage.Env{Lake: l, Services: stage.Static{Backend: exectest.Backend(t), ReposDir: dir}}
	sum, err := Job.Execute(ctx, env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Tasks != 6 || sum.Status["valid"] != 1 || sum.Status["invalid"] != 4 || sum.Status["flaky"] != 1 {
		t.Fatalf("summary: %+v", sum)
	}
	vt, _ := l.Table(schemas.TaskValidations.Name)
	snap, _ := vt.Snapshot(ctx, lake.Latest)
	got := map[string]schemas.TaskValidation{}
	for v, err := range lake.ReadRows[schemas.TaskValidation](ctx, l, snap) {
		if err != nil {
			t.Fatal(err)
		}
		got[v.TaskID] = v
	}
	want := map[string][2]string{
		"t/valid":       {"valid", ""},
		"t/wrong-gold":  {"invalid", ReasonGoldFails},
		"t/base-passes": {"invalid", ReasonBasePasses},
		"t/base-p2p":    {"invalid", ReasonBaseP2P},
		"t/flaky":       {"flaky", ReasonFlaky},
		"t/missing":     {"invalid", ReasonNoRepo},
	}
	for id, w := range want {
		if v := got[id]; v.Status != w[0] || v.Reason != w[1] {
			t.Errorf("%s: %s (%s), want %s (%s)", id, v.Status, v.Reason, w[0], w[1])
		}
	}
	if v := got["t/valid"]; v.Runs != 2 || v.Resolved != 2 || v.BaseFailing != 2 || v.ApplyMethod != exec.ApplyGit || !v.Isolated || v.Env == "" {
		t.Errorf("valid task's record: %+v", v)
	}
	// Issue 16: the row names the PASS_TO_PASS tests that fail at the base.
	if v := got["t/base-p2p"]; fmt.Sprint(v.P2PFailed) != "[tests/test_rle.py::test_not_in_the_log]" {
		t.Errorf("base-p2p task's record names %v", v.P2PFailed)
	}
	if v := got["t/flaky"]; len(v.Flaky) != 1 || v.Flaky[0] != "tests/test_flaky.py::test_flaky" {
		t.Errorf("flaky task's record: %+v", v)
	}
	again, err := Job.Execute(ctx, env, cfg)
	if err != nil || !again.Skipped || again.ValidationID != sum.ValidationID {
		t.Fatalf("rerun: %+v, %v", again, err)
	}
}
