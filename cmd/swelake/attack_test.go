package main

import (
	"bytes"
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
	store, _, bug, fix := exectest.BugRepo(t)
	var tasks bytes.Buffer
	for i := range 3 {
		task := exectest.BugTask(bug, fix)
		task.TaskID, task.InstanceID = fmt.Sprintf("test/pytext-rle-%d", i), fmt.Sprintf("pytext-rle-%d", i)
		line, _ := json.Marshal(task)
		tasks.Write(append(line, '\n'))
	}
	lakeDir := filepath.Join(dir, "lake")
	c := &cli{t: t, dir: dir, env: map[string]string{}}
	c.ok("lake", "init", "--lake", lakeDir)
	c.ok("lake", "append", "--lake", lakeDir, "tasks", writeFile(t, dir, "tasks.jsonl", tasks.String()))
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
	err := cmd.Wait()
	if err == nil {
		t.Logf("the pipeline finished before the signal landed")
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
