package main

import (
	"encoding/json"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSandboxRun: swelake sandbox run exits with the command's status (124
// on timeout) and, with --task, runs in the task's repository at its base
// commit.
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

	// A task whose repository lives in repos/acme/calc, at its first commit.
	repo := filepath.Join(dir, "repos", "acme", "calc")
	os.MkdirAll(repo, 0o755)
	git := func(args ...string) string {
		cmd := osexec.Command("git", append([]string{"-C", repo}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@x", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@x")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	writeFile(t, repo, "calc.py", "def add(a, b):\n    return a - b\n")
	git("add", ".")
	git("commit", "-qm", "buggy")
	base := git("rev-parse", "HEAD")
	writeFile(t, repo, "calc.py", "def add(a, b):\n    return a + b\n")
	git("commit", "-qam", "fixed")
	row, _ := json.Marshal(map[string]any{"instance_id": "acme__calc-1", "repo": "acme/calc", "base_commit": base,
		"problem_statement": "add() subtracts", "FAIL_TO_PASS": []string{"test_add"}, "PASS_TO_PASS": []string{}, "patch": "", "test_patch": "", "version": "1.0",
		"created_at": "2024-01-01T00:00:00Z", "environment_setup_commit": base})
	tasks := writeFile(t, dir, "tasks.jsonl", string(row)+"\n")
	c.ok("lake", "init")
	c.ok("ingest", "tasks", "--format", "auto", tasks)
	id := strings.TrimSpace(c.ok("sql", "--csv", "SELECT task_id FROM tasks"))
	id = strings.TrimSpace(strings.TrimPrefix(id, "task_id"))
	out := c.ok("sandbox", "run", "--task", id, "--", "python3", "-c", "import calc; print(calc.add(2, 2))")
	if out != "0\n" {
		t.Fatalf("task workspace at the base commit: %q", out)
	}
	c.fails("not in tasks@", 2, "sandbox", "run", "--task", "nope", "--", "true")
}
