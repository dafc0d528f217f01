package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/swelake/swelake/internal/exectest"
)

// subprocess starts this test binary as swelake in dir.
func subprocess(t testing.TB, dir string, args ...string) *osexec.Cmd {
	t.Helper()
	cmd := osexec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SWELAKE_TEST_AS_CLI=1")
	return cmd
}

// TestExecutionPipeline runs the chain from the CLI on the sample
// repositories: synth-tasks → validate-tasks → rollout (N = 4, scripted
// policy over HTTP) → evaluate, and kills the rollout job mid-run to show
// the rerun resumes without duplicates.
func TestExecutionPipeline(t *testing.T) {
	exectest.Need(t)
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, env: map[string]string{}}
	repos, _ := json.Marshal([]map[string]string{{"path": exectest.Example(t, "pytext")}, {"path": exectest.Example(t, "gointerval")}})
	c.ok("lake", "init")
	var synth struct {
		Tasks int `json:"tasks"`
		Repos []struct {
			Kept int `json:"kept"`
		} `json:"repos"`
	}
	out := c.ok("run", "synth-tasks", "--json", "--set", "synth_tasks.repos="+string(repos), "--max-tasks", "2",
		"--set", "synth_tasks.max_candidates=8", "--set", "synth_tasks.timeout=10s")
	if err := json.Unmarshal([]byte(out), &synth); err != nil || synth.Tasks < 3 {
		t.Fatalf("synth-tasks: %v %s", err, out)
	}
	// The issue-18 sequence: synth-tasks again under another config (a new
	// run key) makes the same tasks. They are in the table with the same
	// content: not added again, no version committed; verify finds no
	// duplicate key. (The lake refusing a duplicate key with other content
	// is TestSynthTasks's and jobs/tables' TestKeysEnforced's.)
	again := []string{"run", "synth-tasks", "--set", "synth_tasks.repos=" + string(repos), "--max-tasks", "2",
		"--set", "synth_tasks.max_candidates=9", "--set", "synth_tasks.timeout=10s"}
	if out := c.ok(again...); !strings.Contains(out, "the tasks table holds already, same content: not added again") {
		t.Fatalf("synth-tasks again: %s", out)
	}
	tasksCount := strings.TrimSpace(c.ok("sql", "--csv", "SELECT count(*) || ',' || count(DISTINCT task_id) AS n FROM tasks"))
	if want := fmt.Sprintf("n\n\"%d,%d\"", synth.Tasks, synth.Tasks); tasksCount != want {
		t.Fatalf("tasks after synth-tasks ran again: rows,distinct = %q, want %q", tasksCount, want)
	}
	var entries []map[string]any
	if log := c.ok("lake", "log", "tasks", "--json"); json.Unmarshal([]byte(log), &entries) != nil || len(entries) != 2 {
		t.Fatalf("tasks has a version beyond its creation and first append: %s", log)
	}
	c.ok("lake", "verify", "tasks")

	var val struct {
		Status map[string]int `json:"status"`
	}
	// Without a terminal, a long stage logs progress lines on a ticker.
	c.env["SWELAKE_PROGRESS_INTERVAL"] = "300ms"
	valOut, valErr, code := c.run("run", "validate-tasks", "--json", "--set", "validate_tasks.runs=1")
	delete(c.env, "SWELAKE_PROGRESS_INTERVAL")
	if code != 0 || !strings.Contains(valErr, "msg=progress job=validate-tasks") ||
		!strings.Contains(valErr, fmt.Sprintf(`msg="progress done" job=validate-tasks done=%d total=%d`, synth.Tasks, synth.Tasks)) {
		t.Fatalf("validate-tasks: exit %d, no progress lines on stderr:\n%s", code, valErr)
	}
	json.Unmarshal([]byte(valOut), &val)
	if val.Status["valid"] != synth.Tasks {
		t.Fatalf("validate-tasks: %v of %d tasks", val.Status, synth.Tasks)
	}

	// The scripted policy, a real HTTP server in its own process.
	served := scriptedPolicy(t, dir)
	if served.Tasks != synth.Tasks {
		t.Fatalf("policy serve: %+v", served)
	}
	rolloutArgs := []string{"run", "rollout", "--json", "--samples", "4", "--concurrency", "1",
		"--set", "policy.base_url=" + served.BaseURL, "--set", "policy.model=scripted",
		"--set", "rollout.batch_size=1", "--set", "rollout.max_steps=20"}

	// Kill the rollout job after its second commit.
	run := subprocess(t, dir, rolloutArgs...)
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(dir, "lake", "tables", "rollouts", "_log")
	deadline := time.Now().Add(3 * time.Minute)
	for commits(logDir) < 3 { // version 0 is the table's creation
		if time.Now().After(deadline) {
			run.Process.Kill()
			t.Fatal("the rollout job committed nothing in 3 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	run.Process.Kill()
	run.Wait()
	killedAt := commits(logDir) - 1
	pairs := synth.Tasks * 4
	if killedAt >= pairs {
		t.Fatalf("the job finished (%d commits) before it was killed", killedAt)
	}

	var sum struct {
		RunID    string `json:"run_id"`
		Pairs    int    `json:"pairs"`
		Resumed  int    `json:"resumed"`
		Rollouts int    `json:"rollouts"`
		Resolved int    `json:"resolved"`
	}
	if err := json.Unmarshal([]byte(c.ok(rolloutArgs...)), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Pairs != pairs || sum.Resumed != killedAt || sum.Resumed+sum.Rollouts != pairs {
		t.Fatalf("rerun after the kill at %d commits: %+v", killedAt, sum)
	}
	counts := strings.TrimSpace(c.ok("sql", "--csv", "SELECT count(*) || ',' || count(DISTINCT rollout_id) || ',' || count(DISTINCT task_id || '/' || sample_idx) AS n FROM rollouts"))
	counts = strings.Trim(strings.TrimSpace(strings.TrimPrefix(counts, "n")), `"`)
	if want := fmt.Sprintf("%d,%d,%d", pairs, pairs, pairs); counts != want {
		t.Fatalf("rows, distinct ids, distinct (task, sample): %s, want %s", counts, want)
	}

	var ev struct {
		Patches  int            `json:"patches"`
		Resolved int            `json:"resolved"`
		Status   map[string]int `json:"status"`
	}
	json.Unmarshal([]byte(c.ok("run", "evaluate", "--json", "--run-id", sum.RunID)), &ev)
	if ev.Patches != pairs {
		t.Fatalf("evaluate: %+v", ev)
	}
	// Mixed pass rates: some task is resolved by some samples and not others.
	mixed := strings.TrimSpace(c.ok("sql", "--csv", `SELECT count(*) FROM (SELECT task_id, avg(CASE WHEN status = 'resolved' THEN 1 ELSE 0 END) AS p
		FROM evaluations GROUP BY task_id) WHERE p > 0 AND p < 1`))
	if mixed = strings.TrimSpace(strings.TrimPrefix(mixed, "count_star()")); mixed == "0" || mixed == "" {
		t.Fatalf("no task with mixed results: %+v", ev)
	}
	t.Logf("%d tasks; killed after %d rollouts, resumed %d more; evaluate %v", synth.Tasks, killedAt, sum.Rollouts, ev.Status)
}

// served is what `policy serve --json` prints.
type served struct {
	BaseURL string `json:"base_url"`
	Tasks   int    `json:"tasks"`
}

// scriptedPolicy starts `swelake policy serve --scripted` in its own
// process (stopped when the test ends) and returns what it serves.
func scriptedPolicy(t *testing.T, dir string) served {
	t.Helper()
	return scriptedPolicyOn(t, dir, "", nil)
}

// scriptedPolicyOn serves the scripted policy, in its own process, for the
// tasks of lake lk ("": the default), its environment added.
func scriptedPolicyOn(t testing.TB, dir, lk string, env []string) served {
	t.Helper()
	args := []string{"policy", "serve", "--scripted", "--addr", "127.0.0.1:0", "--json"}
	if lk != "" {
		args = append(args, lk)
	}
	pol := subprocess(t, dir, args...)
	pol.Env = append(pol.Env, env...)
	stdout, _ := pol.StdoutPipe()
	if err := pol.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pol.Process.Signal(syscall.SIGTERM); pol.Wait() })
	var s served
	if err := json.NewDecoder(bufio.NewReader(stdout)).Decode(&s); err != nil {
		t.Fatalf("policy serve: %v", err)
	}
	return s
}

// commits counts the commit files of a table's log.
func commits(logDir string) int {
	m, _ := filepath.Glob(filepath.Join(logDir, "0*.json"))
	return len(m)
}
