package validatetasks

import (
	"bytes"
	"context"
	"os"
	osexec "os/exec"
	"path/filepath"
	"testing"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/internal/exectest"
	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/jobs"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// store imports pytext twice into a repository store: clean, and with a
// bug in rle.encode. It returns both commits and the fix (bug → clean).
func store(t *testing.T) (dir, clean, bug string, fix []byte) {
	t.Helper()
	ctx := context.Background()
	dir = t.TempDir()
	src := exectest.Example(t, "pytext")
	repo := filepath.Join(dir, "pytext")
	var err error
	if clean, err = exec.ImportTree(ctx, src, repo, "main"); err != nil {
		t.Fatal(err)
	}
	buggy := filepath.Join(t.TempDir(), "pytext")
	if out, err := osexec.Command("cp", "-a", src, buggy).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	f := filepath.Join(buggy, "textkit", "rle.py")
	code, _ := os.ReadFile(f)
	os.WriteFile(f, bytes.Replace(code, []byte("run_len += 1"), []byte("run_len += 2"), 1), 0o644)
	if bug, err = exec.ImportTree(ctx, buggy, repo, "bug"); err != nil {
		t.Fatal(err)
	}
	out, err := osexec.Command("git", "-C", repo, "diff", "--binary", bug, clean).Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("diff: %v", err)
	}
	return dir, clean, bug, out
}

func TestValidateTasks(t *testing.T) {
	exectest.Need(t)
	ctx := context.Background()
	dir, clean, bug, fix := store(t)
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
		flaky,
		missing,
	}
	l := laketest.New(t)
	laketest.Append(t, l, schemas.Tasks, tasks)
	cfg := Config{ReposDir: dir, Backend: exectest.Backend(t), Runs: 2, Runtime: jobs.Runtime{CacheDir: t.TempDir()}}
	sum, err := Run(ctx, l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Tasks != 5 || sum.Status["valid"] != 1 || sum.Status["invalid"] != 3 || sum.Status["flaky"] != 1 {
		t.Fatalf("summary: %+v", sum)
	}
	vt, _ := l.Table(schemas.TaskValidations.Name)
	snap, _ := vt.Snapshot(ctx, lake.Latest)
	got := map[string]schemas.TaskValidation{}
	for v, err := range jobs.ReadRows[schemas.TaskValidation](ctx, l, snap, t.TempDir()) {
		if err != nil {
			t.Fatal(err)
		}
		got[v.TaskID] = v
	}
	want := map[string][2]string{
		"t/valid":       {"valid", ""},
		"t/wrong-gold":  {"invalid", ReasonGoldFails},
		"t/base-passes": {"invalid", ReasonBasePasses},
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
	if v := got["t/flaky"]; len(v.Flaky) != 1 || v.Flaky[0] != "tests/test_flaky.py::test_flaky" {
		t.Errorf("flaky task's record: %+v", v)
	}
	again, err := Run(ctx, l, cfg)
	if err != nil || !again.Skipped || again.ValidationID != sum.ValidationID {
		t.Fatalf("rerun: %+v, %v", again, err)
	}
}
