package main

import (
	"bytes"
	"encoding/json"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swelake/swelake/internal/tokref"
)

const calcFix = "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n"
const calcWrong = "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a * b + 1\n"

// TestGrade: swelake grade prints the reward of one patch against a task,
// graded in a fresh sandbox with SWE-bench semantics; verl's reward
// function (examples/verl/swelake_reward.py), run with Debian's Python,
// extracts the patch from a model's response and returns that reward.
func TestGrade(t *testing.T) {
	if _, err := osexec.LookPath("bwrap"); err != nil {
		t.Fatal("bwrap not found: install the Debian package bubblewrap")
	}
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, env: map[string]string{}}
	id := calcTask(t, c, dir)
	grade := func(patch string) gradeResult {
		t.Helper()
		f := writeFile(t, dir, "p.diff", patch)
		var r gradeResult
		out := c.ok("grade", "--task", id, "--patch", f, "--json")
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return r
	}
	if r := grade(calcFix); r.Reward != 1 || !r.Resolved || r.Status != "resolved" || r.FailToPass != [2]int{1, 1} || !r.PatchApplied {
		t.Fatalf("the fix: %+v", r)
	}
	if r := grade(calcWrong); r.Reward != 0 || r.Resolved || r.Status != "unresolved" || r.FailToPass != [2]int{0, 1} {
		t.Fatalf("a wrong patch: %+v", r)
	}
	if r := grade(""); r.Reward != 0 || r.Status != "empty_patch" {
		t.Fatalf("an empty patch: %+v", r)
	}
	if out := c.ok("grade", "--task", id, "--patch", writeFile(t, dir, "p.diff", calcFix)); !strings.HasPrefix(out, id+": reward 1 (resolved); FAIL_TO_PASS 1/1") {
		t.Fatalf("text output: %q", out)
	}
	c.fails("task nope: not in tasks@", 2, "grade", "--task", "nope", "--patch", writeFile(t, dir, "p.diff", calcFix))
	c.fails("--task <id> is required", 2, "grade")

	// The reward function, as verl calls it, through a built swelake.
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("Debian's python3 (%s) runs the reward function: apt-get install python3", py)
	}
	bin := filepath.Join(t.TempDir(), "swelake")
	if out, err := osexec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	score := func(response string, extra map[string]any) map[string]float64 {
		t.Helper()
		args, _ := json.Marshal([]any{"swe-bench", response, nil, extra})
		cmd := osexec.Command(py, "-c", `import json, sys
from swelake_reward import compute_score
a = json.loads(sys.argv[1])
print(json.dumps(compute_score(*a)))`, string(args))
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SWELAKE="+bin, "PYTHONPATH="+filepath.Join(tokref.Root(), "examples", "verl"))
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("compute_score: %v\n%s", err, errb.String())
		}
		var res map[string]float64
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("%v: %s", err, out.String())
		}
		return res
	}
	extra := map[string]any{"task_id": id, "index": 0, "split": "train"}
	if r := score("I fixed it:\n```diff\n"+calcFix+"```\nDone.", extra); r["score"] != 1 || r["resolved"] != 1 {
		t.Fatalf("a fenced fix: %v", r)
	}
	if r := score("The change:\n"+calcWrong, extra); r["score"] != 0 || r["graded"] != 1 {
		t.Fatalf("a bare wrong diff: %v", r)
	}
	if r := score("I could not find the bug.", extra); r["score"] != 0 || r["graded"] != 0 {
		t.Fatalf("no patch: %v", r)
	}
}
