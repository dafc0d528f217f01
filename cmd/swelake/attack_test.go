package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/swelake/swelake/internal/exectest"
	"github.com/swelake/swelake/internal/tokref"
)

// TestAttackInterruptedPipeline (docs/security.md, finding 13): Ctrl-C on
// `pipeline run` SIGKILLed the running stage, which could neither commit
// what it had finished nor remove its workspaces (a killed rollout left 6
// of ~60 MB). The stage now gets the signal: it commits what finished,
// removes every workspace and exits; the rerun runs only the rest.
func TestAttackInterruptedPipeline(t *testing.T) {
	exectest.Need(t)
	dir := t.TempDir()
	store, lakeDir, c := bugTaskLake(t, dir, 3)
	sandboxes := exectest.SandboxRoot(t)
	spec := writeFile(t, dir, "p.yaml", fmt.Sprintf(`name: interrupted
policy: scripted
set: {sandbox.repos_dir: %q, sandbox.root: %q}
stages:
  - {job: rollout, config: {samples: 4, max_steps: 20, only_valid: false, concurrency: 2, batch_size: 1}}
`, store, sandboxes))
	start := func() (*osexec.Cmd, *bytes.Buffer) {
		cmd := osexec.Command(os.Args[0], "pipeline", "run", spec, "--lake", lakeDir, "--json")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SWELAKE_TEST_AS_CLI=1", "SWELAKE_TOKENIZER="+tokref.DefaultTokenizerDir(), "SWELAKE_LOG_LEVEL=info")
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &errb
	}
	committed := func() int {
		entries, _ := filepath.Glob(filepath.Join(lakeDir, "tables", "rollouts", "_log", "0*.json"))
		return len(entries) - 1 // version 0 is the table's creation
	}
	cmd, errb := start()
	deadline := time.Now().Add(3 * time.Minute)
	for committed() < 1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if committed() < 1 {
		cmd.Process.Kill()
		t.Fatalf("no rollout committed in 3 minutes:\n%s", errb)
	}
	// Workspaces in flight when the signal comes.
	for time.Now().Before(deadline) {
		if ws, _ := filepath.Glob(filepath.Join(sandboxes, "sandbox-*")); len(ws) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err == nil {
		t.Fatalf("the pipeline finished before the signal landed: nothing was interrupted\n%s", errb)
	}
	if !strings.Contains(errb.String(), "interrupted") {
		t.Fatalf("the pipeline did not report the interruption:\n%s", errb)
	}
	if strings.Contains(errb.String(), "signal: killed") {
		t.Fatalf("the stage was killed instead of stopping:\n%s", errb)
	}
	if ws, _ := filepath.Glob(filepath.Join(sandboxes, "*")); len(ws) > 0 {
		t.Fatalf("%d workspaces left behind by the interrupted stage: %v", len(ws), ws)
	}
	first := committed()
	t.Logf("interrupted after %d of 12 rollouts committed", first)
	// The rerun takes the lease (released on the signal) and runs the rest.
	cmd, errb = start()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("rerun: %v\n%s", err, errb)
	}
	out := c.ok("sql", "--lake", lakeDir, "--json", "SELECT count(*) AS n, count(DISTINCT rollout_id) AS d FROM rollouts")
	if compact := strings.Join(strings.Fields(out), ""); !strings.Contains(compact, `"n":12,"d":12`) {
		t.Fatalf("after the rerun: %s", out)
	}
}

// bugTaskLake is a lake under dir holding n copies of the bug task of
// exectest.BugRepo (its repository store returned with it).
func bugTaskLake(t *testing.T, dir string, n int) (store, lakeDir string, c *cli) {
	store, _, bug, fix := exectest.BugRepo(t)
	var tasks bytes.Buffer
	for i := range n {
		task := exectest.BugTask(bug, fix)
		task.TaskID, task.InstanceID = fmt.Sprintf("test/pytext-rle-%d", i), fmt.Sprintf("pytext-rle-%d", i)
		line, _ := json.Marshal(task)
		tasks.Write(append(line, '\n'))
	}
	lakeDir = filepath.Join(dir, "lake")
	c = &cli{t: t, dir: dir, env: map[string]string{}}
	c.ok("lake", "init", "--lake", lakeDir)
	c.ok("lake", "append", "--lake", lakeDir, "tasks", writeFile(t, dir, "tasks.jsonl", tasks.String()))
	return store, lakeDir, c
}

// TestAttackSQL (docs/security.md, finding 14): `swelake sql` could read any
// host file, COPY into a lake's _log (which broke that table), ATTACH and
// try INSTALL. The session is now confined to its snapshot's files and
// locked; --allow-host-files lifts it for trusted queries. And no path of
// swelake puts text from ingested rows into SQL: rows whose every string
// is an injection go through ingest, curate, build-sft, build-rl, the
// analysis queries, publish and diff, and no statement of theirs runs.
func TestAttackSQL(t *testing.T) {
	if err := tokref.Check(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, env: map[string]string{"SWELAKE_TOKENIZER": tokref.DefaultTokenizerDir()}}
	lakeDir := filepath.Join(dir, "lake")
	lk := "--lake=" + lakeDir
	c.ok("lake", "init", lk)
	c.ok("lake", "append", lk, "tasks", writeFile(t, dir, "tasks.jsonl", tasksJSONL))
	c.ok("lake", "append", lk, "rollouts", writeFile(t, dir, "rollouts.jsonl", rolloutsJSONL))

	secret := writeFile(t, dir, "host-secret.txt", "the host's secret\n")
	for _, q := range []string{
		"SELECT * FROM read_csv('" + secret + "')",
		"SELECT * FROM read_text('/etc/passwd')",
		"COPY (SELECT 1) TO '" + filepath.Join(lakeDir, "tables", "tasks", "_log", "00000000000000000009.json") + "'",
		"COPY (SELECT 1) TO '" + filepath.Join(dir, "out.csv") + "'",
		"ATTACH '" + filepath.Join(dir, "x.duckdb") + "' AS x",
		"INSTALL httpfs",
		"LOAD httpfs",
		"SET enable_external_access = true",
		"RESET lock_configuration",
	} {
		out, errs, code := c.run("sql", lk, q)
		if code == 0 || strings.Contains(out, "secret") || !strings.Contains(errs, "swelake: sql: ") {
			t.Errorf("%s: exit %d, output %q, stderr %q", q, code, out, errs)
		}
	}
	for _, f := range []string{filepath.Join(lakeDir, "tables", "tasks", "_log", "00000000000000000009.json"), filepath.Join(dir, "out.csv"), filepath.Join(dir, "x.duckdb")} {
		if _, err := os.Stat(f); err == nil {
			t.Fatalf("%s was written by a confined query", f)
		}
	}
	c.ok("lake", "verify", lk)
	// What users run still works, and the escape hatch opens.
	c.ok("sql", lk, "SELECT t.repo, count(*) FROM rollouts r JOIN tasks t USING (task_id) GROUP BY ALL")
	c.ok("sql", lk, "--query", "pass_at_k")
	c.ok("sql", lk, "SELECT count(*) FROM lake_commits")
	if out := c.ok("sql", lk, "--allow-host-files", "--csv", "SELECT * FROM read_csv('"+secret+"', header = false)"); !strings.Contains(out, "secret") {
		t.Fatalf("--allow-host-files: %q", out)
	}

	// Hostile rows through every stage that runs SQL.
	marker := filepath.Join(dir, "pwned")
	payloads := []string{
		"x'); COPY (SELECT 'pwned') TO '" + marker + "-1'; --",
		`x"); COPY (SELECT 'pwned') TO '` + marker + `-2'; --`,
		"x'||(SELECT * FROM read_text('/etc/passwd'))||'",
		"$$; COPY (SELECT 1) TO '" + marker + "-3'; $$",
	}
	var b bytes.Buffer
	for i := range 8 {
		p := payloads[i%len(payloads)]
		row := map[string]any{
			"rollout_id": fmt.Sprintf("%s-%d", p, i), "task_id": "swe-gym/" + p, "run_id": "run-" + p, "policy": p,
			"reward": i % 2, "resolved": i%2 == 1, "exit_reason": p, "patch": "diff --git a/" + p + " b/" + p + "\n",
			"messages": []map[string]any{{"role": "system", "content": p}, {"role": "user", "content": p},
				{"role": "assistant", "content": p, "tool_calls": []any{map[string]any{"id": p, "type": "function", "function": map[string]any{"name": "bash", "arguments": fmt.Sprintf(`{"command": %q}`, p)}}}},
				{"role": "tool", "tool_call_id": p, "content": p},
				{"role": "assistant", "content": "", "tool_calls": []any{map[string]any{"id": "s", "type": "function", "function": map[string]any{"name": "submit", "arguments": "{}"}}}}},
		}
		line, _ := json.Marshal(row)
		b.Write(append(line, '\n'))
	}
	c.ok("ingest", "rollouts", lk, "--format", "openai-chat", writeFile(t, dir, "hostile.jsonl", b.String()))
	c.ok("run", "curate", lk, "--set", "curate.difficulty.mixed=false")
	c.ok("run", "build-sft", lk, "--out", filepath.Join(dir, "sft"), "--export", "parquet,openai")
	c.ok("run", "build-rl", lk, "--iteration", "1", "--k", "2")
	for _, q := range []string{"pass_at_k", "drop_counts", "turns_by_exit", "rollout_summary", "lineage"} {
		c.ok("sql", lk, "--query", q)
	}
	c.ok("lake", "publish", lk, "rollouts", "--name", "hostile")
	c.ok("lake", "diff", lk, "rollouts@2", "rollouts")
	if out := c.ok("sql", lk, "--csv", "SELECT count(*) AS n FROM rollouts WHERE policy LIKE '%COPY%' OR policy LIKE '%read_text%'"); out != "n\n8\n" {
		t.Fatalf("the hostile rows are not stored verbatim: %q", out)
	}
	if m, _ := filepath.Glob(marker + "*"); len(m) > 0 {
		t.Fatalf("a statement from an ingested row ran: %v", m)
	}
}

// TestRLIterateKilled: `swelake rl iterate` as a pipeline stage, SIGKILLed
// while iteration 2's trainer runs; meanwhile a second run exits 3. The
// trainer dies with the loop (it does not train on beside the next run);
// the rerun, once the leases expire, takes them over and resumes: iteration 1 is not run again, iteration 2's rollouts are not
// made again, its trainer runs a second time, and the loop completes three
// iterations with a rising resolve rate.
func TestRLIterateKilled(t *testing.T) {
	exectest.Need(t)
	dir := t.TempDir()
	store, lakeDir, c := bugTaskLake(t, dir, 3)
	standin, _ := filepath.Abs("../../examples/rl/trainer-standin.sh")
	marker := filepath.Join(dir, "trainer.pid")
	spec := writeFile(t, dir, "p.yaml", fmt.Sprintf(`name: rl
policy: scripted
set: {sandbox.repos_dir: %q, sandbox.root: %q}
stages:
  - job: rl-iterate
    config:
      iterations: 3
      out_dir: rl-out
      lease_ttl: 5s
      skip_evaluate: true
      rollout: {samples: 4, max_steps: 12, only_valid: false}
      trainer:
        command: [%s, --batch, "{batch}", --samples, "{samples}", --checkpoint, "{checkpoint}", --iteration, "{iteration}", --loop, "{loop_id}", --pause-once, %s, --pause-at, "2"]
`, store, exectest.SandboxRoot(t), standin, marker))
	start := func() (*osexec.Cmd, *bytes.Buffer) {
		cmd := osexec.Command(os.Args[0], "pipeline", "run", spec, "--lake", lakeDir, "--lease-ttl", "5s")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SWELAKE_TEST_AS_CLI=1", "SWELAKE_TOKENIZER="+tokref.DefaultTokenizerDir(), "SWELAKE_LOG_LEVEL=info")
		var errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &errb, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &errb
	}
	cmd, out := start()
	deadline := time.Now().Add(4 * time.Minute)
	var pid int
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(marker); err == nil && len(bytes.TrimSpace(b)) > 0 {
			pid, _ = strconv.Atoi(string(bytes.TrimSpace(b)))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pid == 0 {
		cmd.Process.Kill()
		t.Fatalf("iteration 2's trainer did not start in 4 minutes:\n%s", out)
	}
	// While it runs, a second run is told it runs elsewhere (exit 3).
	other, otherOut := start()
	if err := other.Wait(); other.ProcessState.ExitCode() != 3 || !strings.Contains(otherOut.String(), "already running elsewhere") {
		t.Errorf("a second run while the first holds the lease: %v\n%s", err, otherOut)
	}
	cmd.Process.Kill()
	cmd.Wait()
	gone := false
	for range 100 { // the trainer dies with the loop
		if syscall.Kill(pid, 0) != nil {
			gone = true
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !gone {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("the trainer (pid %d) outlived the killed loop", pid)
	}
	rows := func(q string) string {
		return strings.Join(strings.Fields(c.ok("sql", "--lake", lakeDir, "--csv", q)), " ")
	}
	if got := rows("SELECT count(*) AS n FROM rl_iterations"); got != "n 1" {
		t.Fatalf("after the kill: %s", got)
	}
	// Once the killed run's leases expire, the rerun takes them over.
	time.Sleep(5500 * time.Millisecond)
	cmd, out = start()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "took over") {
		t.Errorf("the rerun did not report taking over the killed run's lease:\n%s", out)
	}
	got := rows("SELECT iteration, trainer_attempts, rollouts, checkpoint_in FROM rl_iterations ORDER BY iteration")
	if !strings.Contains(got, "1,1,12,scripted 2,2,12,scripted-") || !strings.Contains(got, "3,1,12,scripted-") {
		t.Fatalf("rl_iterations after the rerun: %s", got)
	}
	if got := rows("SELECT count(*) AS n, count(DISTINCT rollout_id) AS d FROM rollouts"); got != "n,d 36,36" {
		t.Fatalf("rollouts after the rerun: %s (want each iteration's 12 once)", got)
	}
	if got := rows("SELECT bool_and(resolve_rate >= prev) AS rising FROM (SELECT resolve_rate, lag(resolve_rate, 1, 0) OVER (ORDER BY iteration) AS prev FROM rl_iterations)"); got != "rising true" {
		t.Errorf("resolve rate per iteration: %s", rows("SELECT iteration, resolve_rate FROM rl_iterations ORDER BY iteration"))
	}
}
