package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/swelake/swelake/internal/exectest"
	"github.com/swelake/swelake/internal/slurmtest"
)

// startSlurm starts a real single-node Slurm cluster for the test (Debian's
// slurm-wlm and munge; a machine without them fails the test saying so).
func startSlurm(t testing.TB) *slurmtest.Cluster {
	t.Helper()
	c, err := slurmtest.Start(context.Background())
	if err != nil {
		t.Fatalf("a Slurm cluster is required: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// slurmJob is the batch script of the tests' array jobs: this test binary
// as swelake, with the task's arguments; the index SWELAKE_FAIL_INDEX names
// is given a key swelake refuses (a shard that fails).
const slurmJob = `#!/bin/sh
if [ -n "${SWELAKE_FAIL_INDEX:-}" ] && [ "$SLURM_ARRAY_TASK_ID" = "$SWELAKE_FAIL_INDEX" ]; then
  exec "$SWELAKE_BIN" "$@" --set no_such_section.key=1
fi
exec "$SWELAKE_BIN" "$@"
`

// slurmArray submits `swelake <args> --shard auto/<n>` as an array job of
// the given indexes; sbatchFlags are added (--wait: sbatch returns when
// every task has ended, its exit status the highest of the tasks').
func slurmArray(t testing.TB, cl *slurmtest.Cluster, dir string, env []string, indexes string, n int, sbatchFlags []string, args ...string) (job string, code int, out string) {
	t.Helper()
	script := filepath.Join(dir, "swelake-job.sh")
	if err := os.WriteFile(script, []byte(slurmJob), 0o755); err != nil {
		t.Fatal(err)
	}
	sb := append([]string{"--parsable", "--array=" + indexes, "--chdir=" + dir, "--cpus-per-task=1", "--mem=2G",
		"-o", filepath.Join(dir, "slurm-%A_%a.out")}, sbatchFlags...)
	sb = append(append(sb, script), args...)
	sb = append(sb, "--shard", fmt.Sprintf("auto/%d", n))
	env = append([]string{"SWELAKE_BIN=" + os.Args[0], "SWELAKE_TEST_AS_CLI=1"}, env...)
	cmd := cl.Command(context.Background(), env, "sbatch", sb...)
	data, err := cmd.CombinedOutput()
	out = string(data)
	job = strings.TrimSpace(strings.Split(out, "\n")[0])
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("sbatch: %v: %s", err, out)
	}
	return job, cmd.ProcessState.ExitCode(), out
}

// slurmDone polls the array's tasks (every 100 ms: sbatch --wait polls
// with a backoff of seconds, which would be timed instead of the work)
// until none is pending or running, and returns their states.
func slurmDone(t testing.TB, cl *slurmtest.Cluster, job string, tasks int) map[int]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		states, err := cl.Tasks(context.Background(), job)
		if err != nil {
			t.Fatal(err)
		}
		done := len(states) == tasks
		for _, s := range states {
			done = done && s != "RUNNING" && s != "PENDING" && s != "COMPLETING" && s != "CONFIGURING"
		}
		if done {
			return states
		}
		if time.Now().After(deadline) {
			t.Fatalf("array %s not done in 10 minutes: %v", job, states)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// slurmRun runs an array to its end; every task must complete.
func slurmRun(t testing.TB, cl *slurmtest.Cluster, dir string, env []string, indexes string, tasks, n int, args ...string) {
	t.Helper()
	job, code, out := slurmArray(t, cl, dir, env, indexes, n, nil, args...)
	if code != 0 {
		t.Fatalf("sbatch: exit %d: %s", code, out)
	}
	for i, s := range slurmDone(t, cl, job, tasks) {
		if s != "COMPLETED" {
			t.Fatalf("array %s task %d: %s\n%s", job, i, s, slurmLogs(dir, job))
		}
	}
}

// slurmLogs is the array's task output, for a failure message.
func slurmLogs(dir, job string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "slurm-"+job+"_*.out"))
	var b strings.Builder
	for _, f := range files {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "== %s\n%s\n", filepath.Base(f), data)
	}
	return b.String()
}

// twoLakes makes two MinIO lakes, one for one worker and one for a Slurm
// array, with the same tasks in the same task repositories (and, with
// validate, validated by one worker each).
func twoLakes(t testing.TB, c *cli, dir, bucket string, validate bool) map[string]string {
	t.Helper()
	repos, _ := json.Marshal([]map[string]string{{"path": exectest.Example(t, "pytext")}, {"path": exectest.Example(t, "pyledger")}})
	lakes := map[string]string{"one": "--lake=s3://" + bucket + "/one", "array": "--lake=s3://" + bucket + "/array"}
	for _, lk := range []string{lakes["one"], lakes["array"]} {
		c.ok("lake", "init", lk)
		c.ok("run", "synth-tasks", lk, "--set", "sandbox.repos_dir="+filepath.Join(dir, "repos"), "--set", "synth_tasks.repos="+string(repos),
			"--max-tasks", "3", "--set", "synth_tasks.max_candidates=8", "--set", "synth_tasks.timeout=10s")
		if validate {
			c.ok("run", "validate-tasks", lk, "--set", "sandbox.repos_dir="+filepath.Join(dir, "repos"), "--set", "validate_tasks.runs=1")
		}
	}
	return lakes
}

// TestSlurmShardedStages runs validate-tasks, rollout (the scripted policy
// over HTTP), evaluate and verify as 4-task Slurm array jobs — `sbatch
// --array=0-3` of `swelake run <stage> --shard auto/4`, the index from
// SLURM_ARRAY_TASK_ID — on a real single-node cluster, all committing to
// one MinIO lake, and compares each stage's table with what one worker
// writes to another lake from the same tasks (the same task repositories):
// row for row. One rollout
// shard is cancelled mid-run (scancel <job>_1) and resubmitted alone: the
// stage completes with nothing duplicated or lost. An array with a failing
// shard exits non-zero.
func TestSlurmShardedStages(t *testing.T) {
	exectest.Need(t)
	cl := startSlurm(t)
	dir := t.TempDir()
	c := minioCLI(t, dir)
	env := minioEnv(dir)
	lakes := twoLakes(t, c, dir, "slurm", false)
	served := scriptedPolicyOn(t, dir, lakes["one"], minioEnv(dir))
	runID := map[string]string{} // each lake's rollout run
	stages := []struct {
		name  string
		args  func(mode string) []string
		check string
	}{
		{"validate-tasks", func(mode string) []string {
			return []string{"run", "validate-tasks", "--set", "sandbox.repos_dir=" + filepath.Join(dir, "repos"), "--set", "validate_tasks.runs=1"}
		}, "SELECT validation_id, task_id, status, reason FROM task_validations ORDER BY task_id"},
		{"rollout", func(mode string) []string {
			return []string{"run", "rollout", "--samples", "2", "--concurrency", "1", "--set", "sandbox.repos_dir=" + filepath.Join(dir, "repos"),
				"--set", "policy.base_url=" + served.BaseURL, "--set", "policy.model=scripted", "--set", "rollout.batch_size=1", "--set", "rollout.max_steps=20"}
		}, "SELECT task_id, sample_idx, exit_reason, resolved, md5(patch), num_turns FROM rollouts ORDER BY ALL"},
		{"evaluate", func(mode string) []string {
			return []string{"run", "evaluate", "--run-id", runID[mode], "--set", "sandbox.repos_dir=" + filepath.Join(dir, "repos")}
		}, "SELECT task_id, candidate, status, resolved, md5(patch) FROM evaluations ORDER BY ALL"},
		{"verify", func(mode string) []string {
			return []string{"run", "verify", "--mode", "both", "--k", "2", "--run-id", runID[mode], "--set", "sandbox.repos_dir=" + filepath.Join(dir, "repos"),
				"--set", "verifier.base_url=" + served.BaseURL, "--set", "verifier.model=scripted"}
		}, // (Which of two equal scores is selected is a seeded draw over the
			// rollout id, and each lake's rollout run has its own id: the
			// selected score is compared, not the sample.)
			`SELECT task_id, sample_idx, round(score, 6), resolved, exec_passed, exec_total,
			round(max(score) FILTER (WHERE selected) OVER (PARTITION BY task_id), 6) AS selected_score FROM verifier_scores ORDER BY ALL`},
	}
	for _, st := range stages {
		start := time.Now()
		c.ok(append(st.args("one"), lakes["one"])...)
		oneTime := time.Since(start)
		args := append(st.args("array"), lakes["array"])
		start = time.Now()
		if st.name == "rollout" {
			slurmCancelAndResubmit(t, cl, c, dir, env, lakes["array"], args)
		} else {
			slurmRun(t, cl, dir, env, "0-3", 4, 4, args...)
		}
		arrayTime := time.Since(start)
		if st.name == "rollout" {
			for mode, lk := range lakes {
				runID[mode] = strings.TrimSpace(strings.TrimPrefix(c.ok("sql", lk, "--csv", "SELECT DISTINCT run_id FROM rollouts"), "run_id"))
				if runID[mode] == "" || strings.Contains(runID[mode], "\n") {
					t.Fatalf("rollout run of %s: %q", mode, runID[mode])
				}
			}
		}
		one, array := c.ok("sql", lakes["one"], "--csv", st.check), c.ok("sql", lakes["array"], "--csv", st.check)
		if one != array || strings.Count(one, "\n") < 4 {
			t.Fatalf("%s: one worker:\n%s\nfour Slurm array tasks:\n%s", st.name, one, array)
		}
		t.Logf("%s: %d rows, one worker %.1fs, 4-task Slurm array %.1fs (ratio %.2f)", st.name, strings.Count(strings.TrimSpace(one), "\n"), oneTime.Seconds(), arrayTime.Seconds(), oneTime.Seconds()/arrayTime.Seconds())
	}
	// A shard that fails (a key swelake refuses: exit 2) makes the array's
	// exit status say so; the others complete (a no-op: the stage is done).
	env2 := append(env, "SWELAKE_FAIL_INDEX=2")
	job, code, out := slurmArray(t, cl, dir, env2, "0-3", 4, []string{"--wait"}, append(stages[2].args("array"), lakes["array"])...)
	if code != 2 {
		t.Fatalf("an array with a failing shard: exit %d, want 2: %s\n%s", code, out, slurmLogs(dir, job))
	}
	states, err := cl.Tasks(context.Background(), job)
	if err != nil || states[2] != "FAILED" || states[0] != "COMPLETED" || states[3] != "COMPLETED" {
		t.Fatalf("task states of the failing array %s: %v %v", job, states, err)
	}
}

// slurmCancelAndResubmit runs the rollout stage as an array, cancels task
// 1 while it runs, lets the others finish, resubmits task 1 alone and
// checks that the stage is whole: every (task, sample) once.
func slurmCancelAndResubmit(t *testing.T, cl *slurmtest.Cluster, c *cli, dir string, env []string, lk string, args []string) {
	t.Helper()
	ctx := context.Background()
	job, code, out := slurmArray(t, cl, dir, env, "0-3", 4, nil, args...)
	if code != 0 {
		t.Fatalf("sbatch: exit %d: %s", code, out)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		states, err := cl.Tasks(ctx, job)
		if err != nil {
			t.Fatal(err)
		}
		if states[1] == "RUNNING" {
			break
		}
		if states[1] != "" && states[1] != "PENDING" || time.Now().After(deadline) {
			t.Fatalf("task 1 of %s is %q, never seen running: %v\n%s", job, states[1], states, slurmLogs(dir, job))
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // mid-run: past its start, before its end
	if out, err := cl.Command(ctx, nil, "scancel", job+"_1").CombinedOutput(); err != nil {
		t.Fatalf("scancel %s_1: %v: %s", job, err, out)
	}
	states := slurmDone(t, cl, job, 4)
	if states[1] != "CANCELLED" || states[0] != "COMPLETED" || states[2] != "COMPLETED" || states[3] != "COMPLETED" {
		t.Fatalf("array %s after scancel %s_1: %v (task 1 must be cancelled mid-run, the others complete)\n%s", job, job, states, slurmLogs(dir, job))
	}
	partial := strings.TrimSpace(c.ok("sql", lk, "--csv", "SELECT count(*) AS n FROM rollouts"))
	slurmRun(t, cl, dir, env, "1", 1, 4, args...)
	counts := c.ok("sql", lk, "--csv", "SELECT count(*) || ',' || count(DISTINCT rollout_id) || ',' || count(DISTINCT task_id || '/' || sample_idx) AS n FROM rollouts")
	counts = strings.Trim(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(counts), "n")), `"`)
	n, _, _ := strings.Cut(counts, ",")
	if counts != n+","+n+","+n {
		t.Fatalf("rows, distinct rollout ids, distinct (task, sample) after the resubmission: %s", counts)
	}
	t.Logf("rollout: task 1 cancelled mid-run (%s rows committed then), resubmitted: %s rows, each (task, sample) once", strings.TrimPrefix(partial, "n\n"), n)
}

// BenchmarkSlurmArray measures the rollout stage (6 tasks × 8 samples, the
// scripted policy over HTTP, bubblewrap sandboxes running the repositories'
// tests) by one worker and as a 4-task Slurm array on the same machine,
// each into its own MinIO lake from the same tasks: both wall times and
// their ratio (docs/slurm.md has the figures and what bounds them).
func BenchmarkSlurmArray(b *testing.B) {
	t := testing.TB(b)
	exectest.Need(t)
	cl := startSlurm(t)
	dir := t.TempDir()
	c := minioCLI(t, dir)
	env := minioEnv(dir)
	lakes := twoLakes(t, c, dir, "slurmtime", true)
	served := scriptedPolicyOn(t, dir, lakes["one"], minioEnv(dir))
	args := []string{"run", "rollout", "--samples", "8", "--concurrency", "1", "--set", "sandbox.repos_dir=" + filepath.Join(dir, "repos"),
		"--set", "policy.base_url=" + served.BaseURL, "--set", "policy.model=scripted", "--set", "rollout.batch_size=4", "--set", "rollout.max_steps=20"}
	start := time.Now()
	c.ok(append(args, lakes["one"])...)
	one := time.Since(start)
	start = time.Now()
	slurmRun(t, cl, dir, env, "0-3", 4, 4, append(args, lakes["array"])...)
	array := time.Since(start)
	check := "SELECT task_id, sample_idx, exit_reason, resolved, md5(patch) FROM rollouts ORDER BY ALL"
	if a, b := c.ok("sql", lakes["one"], "--csv", check), c.ok("sql", lakes["array"], "--csv", check); a != b {
		t.Fatalf("the array's rollouts differ from one worker's")
	}
	rows := strings.TrimSpace(c.ok("sql", lakes["one"], "--csv", "SELECT count(*) AS n FROM rollouts"))
	b.ReportMetric(one.Seconds(), "one_worker_s")
	b.ReportMetric(array.Seconds(), "slurm_array_s")
	b.ReportMetric(one.Seconds()/array.Seconds(), "speedup")
	b.Logf("rollout of %s rollouts on %d cores: one worker %.1fs, 4-task Slurm array %.1fs: speed-up %.2f×",
		strings.TrimPrefix(rows, "n\n"), runtime.NumCPU(), one.Seconds(), array.Seconds(), one.Seconds()/array.Seconds())
}
