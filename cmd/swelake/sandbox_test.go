package main

import (
	"encoding/json"
	"github.com/swelake/swelake/internal/exectest"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSandboxRun: swelake sandbox run exits with the command's status (124
// on timeout) and, with --task, runs in the task's repository at its base
// commit.
// calcTask makes a task whose repository lives in dir/repos/acme/calc at
// its first commit (add() subtracts; the test patch adds test_calc.py),
// ingests it into dir's default lake and returns its id.
func calcTask(t *testing.T, c *cli, dir string) string {
	t.Helper()
	repo := filepath.Join(dir, "repos", "acme", "calc")
	os.MkdirAll(repo, 0o755)
	git := exectest.Git(t, repo)
	git("init", "-q")
	writeFile(t, repo, "calc.py", "def add(a, b):\n    return a - b\n")
	git("add", ".")
	git("commit", "-qm", "buggy")
	base := git("rev-parse", "HEAD")
	writeFile(t, repo, "calc.py", "def add(a, b):\n    return a + b\n")
	git("commit", "-qam", "fixed")
	testPatch := "diff --git a/test_calc.py b/test_calc.py\nnew file mode 100644\n--- /dev/null\n+++ b/test_calc.py\n@@ -0,0 +1,4 @@\n+from calc import add\n+\n+def test_add():\n+    assert add(2, 2) == 4\n"
	row, _ := json.Marshal(map[string]any{"instance_id": "acme__calc-1", "repo": "acme/calc", "base_commit": base,
		"problem_statement": "add() subtracts", "FAIL_TO_PASS": []string{"test_calc.py::test_add"}, "PASS_TO_PASS": []string{}, "patch": "", "test_patch": testPatch, "version": "1.0",
		"created_at": "2024-01-01T00:00:00Z", "environment_setup_commit": base})
	tasks := writeFile(t, dir, "tasks.jsonl", string(row)+"\n")
	c.ok("lake", "init")
	c.ok("ingest", "tasks", "--format", "auto", tasks)
	id := strings.TrimSpace(c.ok("sql", "--csv", "SELECT task_id FROM tasks"))
	return strings.TrimSpace(strings.TrimPrefix(id, "task_id"))
}

func TestSandboxRun(t *testing.T) {
	if _, err := osexec.LookPath("bwrap"); err != nil {
		t.Fatal("bwrap not found: install the Debian package bubblewrap")
	}
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, env: map[string]string{}}
	if out := c.ok("sandbox", "run", "--", "sh", "-c", "echo in-sandbox; pwd"); out != "in-sandbox\n/workspace\n" {
		t.Fatalf("output %q", out)
	}
	if _, _, code := c.run("sandbox", "run", "--", "sh", "-c", "exit 7"); code != 7 {
		t.Fatalf("exit %d, want 7", code)
	}
	if _, errs, code := c.run("sandbox", "run", "--timeout", "200ms", "--", "sleep", "5"); code != 124 || !strings.Contains(errs, "timed out") {
		t.Fatalf("timeout: exit %d %q", code, errs)
	}

	id := calcTask(t, c, dir)
	out := c.ok("sandbox", "run", "--task", id, "--", "python3", "-c", "import calc; print(calc.add(2, 2))")
	if out != "0\n" {
		t.Fatalf("task workspace at the base commit: %q", out)
	}
	c.fails("not in tasks@", 2, "sandbox", "run", "--task", "nope", "--", "true")
	sandboxTaskTests(t, c, id, nil)

	// The same in a container (Podman's Docker API): no instance image on
	// the engine, so the repository is copied into the base image.
	d, e := exectest.Docker(t)
	writeFile(t, dir, "docker.yaml", "sandbox:\n  backend: docker\n  docker_host: "+d.Host+"\n")
	out = c.ok("--config", "docker.yaml", "sandbox", "run", "--task", id, "--", "sh", "-c", "python3 -c 'import calc; print(calc.add(2, 2))'; pwd; touch /etc/x 2>/dev/null || echo read-only")
	if out != "0\n/testbed\nread-only\n" {
		t.Fatalf("docker task workspace: %q", out)
	}
	sandboxTaskTests(t, c, id, []string{"--config", "docker.yaml"})
	exectest.NoLeftovers(t, d, e)
}

// sandboxTaskTests: with --task and no command, the task's tests run as
// grading runs them — its test patch applied, the spec's command (SWE-
// bench's pytest over the files the test patch touches) — and fail at the
// base commit.
func sandboxTaskTests(t *testing.T, c *cli, id string, global []string) {
	t.Helper()
	out, errs, code := c.run(append(global, "sandbox", "run", "--task", id)...)
	if code != 1 || !strings.Contains(out, "FAILED test_calc.py::test_add") || !strings.Contains(errs, "python3 -m pytest -rA --tb=short -p no:cacheprovider test_calc.py") {
		t.Fatalf("the task's tests: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
}
