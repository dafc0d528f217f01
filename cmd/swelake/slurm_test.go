package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/swelake/swelake/internal/exectest"
	"github.com/swelake/swelake/internal/slurmtest"
	"github.com/swelake/swelake/internal/tokref"
	"github.com/swelake/swelake/jobs/pipeline"
	"github.com/swelake/swelake/lake/objstore"
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

// slurmPipeline is the pipeline TestSlurmPipeline runs locally and on
// Slurm: synth-tasks and curate as single jobs, the four stages that
// shard as arrays of different sizes, the scripted policy served by each
// task's own process.
const slurmPipeline = `
name: sp
policy: scripted
set: {sandbox.repos_dir: %[1]s/repos}
slurm: {cpus_per_task: 1, mem: 1G, time: "00:20:00"}
stages:
  - name: synth-tasks
    job: synth-tasks
    config: {max_tasks: 3, max_candidates: 8, timeout: 10s, repos: [{path: %[2]s}, {path: %[3]s}]}
  - {name: validate-tasks, job: validate-tasks, shards: 2, config: {runs: 1}}
  - name: rollout
    job: rollout
    shards: 4
    slurm: {mem: 2G, sbatch_args: ["--comment=swelake rollout"]}
    config: {samples: 2, concurrency: 1, batch_size: 1, max_steps: 20}
  - {name: evaluate, job: evaluate, shards: 3}
  - {name: verify, job: verify, shards: 2, config: {mode: both, k: 2}}
  - {name: curate, job: curate}
`

// TestSlurmPipeline runs one pipeline twice into two MinIO lakes: in
// process, and with --executor slurm on a real single-node cluster —
// sharded stages as arrays (their shards record themselves), the others as
// single jobs. The Slurm run's rollout task 1 is cancelled mid-run: the
// run fails (exit 1, the stage and the job named), and the rerun resubmits
// only index 1. Then every table equals the local run's, the stage records
// hold the Slurm job ids, a third run skips everything, and a held lease
// is exit 3.
func TestSlurmPipeline(t *testing.T) {
	exectest.Need(t)
	cl := startSlurm(t)
	t.Setenv("SWELAKE_TEST_AS_CLI", "1") // the tasks run this test binary as swelake
	dir := t.TempDir()
	c := minioCLI(t, dir)
	c.env["SLURM_CONF"] = cl.Conf
	c.env["SWELAKE_TOKENIZER"] = tokref.DefaultTokenizerDir()
	file := filepath.Join(dir, "sp.yaml")
	spec := fmt.Sprintf(slurmPipeline, dir, exectest.Example(t, "pytext"), exectest.Example(t, "pyledger"))
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	local, onSlurm := "--lake=s3://slurmpipe/local", "--lake=s3://slurmpipe/slurm"
	slurmDir := filepath.Join(dir, "slurm")
	c.ok("lake", "init", local)
	c.ok("lake", "init", onSlurm)
	start := time.Now()
	c.ok("pipeline", "run", file, local)
	localTime := time.Since(start)

	// The Slurm run, with rollout's index 1 cancelled while it runs.
	type result struct {
		out, errs string
		code      int
	}
	done := make(chan result, 1)
	start = time.Now()
	go func() {
		out, errs, code := c.run("pipeline", "run", file, onSlurm, "--executor", "slurm", "--slurm-dir", slurmDir, "--json")
		done <- result{out, errs, code}
	}()
	ctx := context.Background()
	cancelled := ""
	deadline := time.Now().Add(5 * time.Minute)
	for cancelled == "" {
		out, _ := cl.Command(ctx, nil, "squeue", "--noheader", "--name=swelake-sp-rollout", "--states=RUNNING", "--format=%i").Output()
		for _, id := range strings.Fields(string(out)) {
			if strings.HasSuffix(id, "_1") {
				// The resources of the file's slurm: with the stage's over them.
				show, err := cl.Command(ctx, nil, "scontrol", "-o", "show", "job", id).Output()
				for _, want := range []string{"JobName=swelake-sp-rollout", "TimeLimit=00:20:00", "MinMemoryNode=2G", "Comment=swelake rollout", "NumCPUs=1"} {
					if err != nil || !strings.Contains(string(show), want) {
						t.Errorf("rollout task %s lacks %s: %v %s", id, want, err, show)
					}
				}
				time.Sleep(2 * time.Second) // mid-run
				if out, err := cl.Command(ctx, nil, "scancel", id).CombinedOutput(); err != nil {
					t.Fatalf("scancel %s: %v: %s", id, err, out)
				}
				cancelled = id
			}
		}
		select {
		case r := <-done:
			t.Fatalf("the Slurm run ended before rollout task 1 was seen running: exit %d\n%s", r.code, r.errs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("rollout task 1 never seen running")
		}
		time.Sleep(100 * time.Millisecond)
	}
	r := <-done
	var failed pipeline.Result
	if err := json.Unmarshal([]byte(r.out), &failed); err != nil || r.code != 1 || failed.Failed != "rollout" {
		t.Fatalf("the run with a cancelled task: exit %d, failed %q (%v)\n%s\n%s", r.code, failed.Failed, err, r.out, r.errs)
	}
	job, _, _ := strings.Cut(cancelled, "_")
	last := failed.Stages[len(failed.Stages)-1]
	if !strings.Contains(last.Error, "Slurm array "+job+": shards 1 of 4 not done: task 1 CANCELLED") || strings.Join(last.JobIDs, ",") != job {
		t.Fatalf("the failed stage: %+v", last)
	}
	out := c.ok("pipeline", "run", file, onSlurm, "--executor", "slurm", "--slurm-dir", slurmDir, "--json")
	slurmTime := time.Since(start)
	var res pipeline.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if got := actionsOf(res); got != "synth-tasks:skip validate-tasks:skip rollout:run evaluate:run verify:run curate:run" {
		t.Fatalf("the rerun: %s", got)
	}
	for _, s := range res.Stages {
		want := 1
		if n := map[string]int{"validate-tasks": 2, "evaluate": 3, "verify": 2}[s.Stage]; n > 0 {
			want = n
		}
		if s.Stage == "rollout" { // only index 1 was resubmitted: 3 ids of the first array, 1 of the second
			if len(s.JobIDs) != 4 || s.JobIDs[1] == job+"_1" || !strings.HasPrefix(s.JobIDs[0], job+"_") {
				t.Errorf("rollout's job ids: %v (index 1 resubmitted alone after %s was cancelled)", s.JobIDs, cancelled)
			}
			continue
		}
		if len(s.JobIDs) != want || s.Action == "run" && s.Scheduler != "slurm" {
			t.Errorf("stage %s: scheduler %q, job ids %v: want %d", s.Stage, s.Scheduler, s.JobIDs, want)
		}
	}
	checks := map[string]string{
		"tasks":            "SELECT task_id, md5(gold_patch) FROM tasks ORDER BY ALL",
		"task_validations": "SELECT task_id, status, reason FROM task_validations ORDER BY ALL",
		"rollouts":         "SELECT task_id, sample_idx, exit_reason, resolved, md5(patch), num_turns FROM rollouts ORDER BY ALL",
		"evaluations":      "SELECT task_id, candidate, status, resolved, md5(patch) FROM evaluations ORDER BY ALL",
		"verifier_scores": `SELECT task_id, sample_idx, round(score, 6), resolved, exec_passed, exec_total,
			round(max(score) FILTER (WHERE selected) OVER (PARTITION BY task_id), 6) AS selected_score FROM verifier_scores ORDER BY ALL`,
		"curation": "SELECT c.task_id, r.sample_idx, c.kept, c.dropped_by, c.num_tokens, c.pass_rate FROM curation c JOIN rollouts r USING (rollout_id) ORDER BY ALL",
	}
	for table, q := range checks {
		a, b := c.ok("sql", local, "--csv", q), c.ok("sql", onSlurm, "--csv", q)
		if a != b || strings.Count(a, "\n") < 3 {
			t.Errorf("%s: in process:\n%s\non Slurm:\n%s", table, a, b)
		}
	}
	counts := c.ok("sql", onSlurm, "--csv", "SELECT count(*) = count(DISTINCT task_id || '/' || sample_idx) AS once FROM rollouts")
	if !strings.Contains(counts, "true") {
		t.Errorf("a rollout twice on Slurm: %s", counts)
	}
	// Nothing new: every stage skipped, no job submitted.
	out = c.ok("pipeline", "run", file, onSlurm, "--executor", "slurm", "--slurm-dir", slurmDir, "--json")
	var again pipeline.Result
	if err := json.Unmarshal([]byte(out), &again); err != nil || again.Ran != 0 || again.Skipped != 6 || strings.Join(again.Stages[2].JobIDs, ",") != strings.Join(res.Stages[2].JobIDs, ",") {
		t.Fatalf("third run: %s %v", out, err)
	}
	// Another run holds the lease: exit 3, nothing submitted.
	b, err := objstore.NewS3(objstore.S3Config{Endpoint: minio.Endpoint, AccessKey: minio.AccessKey, SecretKey: minio.SecretKey, Bucket: "slurmpipe", Prefix: "slurm"})
	if err != nil {
		t.Fatal(err)
	}
	lease, err := pipeline.Acquire(ctx, b, "sp", "someone-else/1", time.Hour, time.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(ctx)
	c.fails("someone-else/1 holds", 3, "pipeline", "run", file, onSlurm, "--executor", "slurm", "--slurm-dir", slurmDir)
	t.Logf("pipeline of 6 stages: in process %.1fs; on Slurm %.1fs (two runs: rollout task %s cancelled, then only index 1 resubmitted)", localTime.Seconds(), slurmTime.Seconds(), cancelled)
}

func actionsOf(r pipeline.Result) string {
	var out []string
	for _, s := range r.Stages {
		out = append(out, s.Stage+":"+s.Action)
	}
	return strings.Join(out, " ")
}

// TestSlurmDriverStopped: a driver stopped while its stage runs on Slurm
// (SIGTERM, as Ctrl-C or a CronJob's deadline would) cancels the Slurm job
// instead of leaving it running, releases the pipeline's lease and exits
// non-zero; the next run takes the lease at once and completes the stage.
func TestSlurmDriverStopped(t *testing.T) {
	exectest.Need(t)
	cl := startSlurm(t)
	t.Setenv("SWELAKE_TEST_AS_CLI", "1") // the tasks run this test binary as swelake
	dir := t.TempDir()
	repos, _ := json.Marshal([]map[string]string{{"path": exectest.Example(t, "pytext")}, {"path": exectest.Example(t, "pyledger")}})
	file := writeFile(t, dir, "stop.yaml", fmt.Sprintf(`name: stop
set: {sandbox.repos_dir: %s/repos}
stages:
  - {name: synth, job: synth-tasks, config: {max_tasks: 3, max_candidates: 12, timeout: 10s, repos: %s}}
`, dir, repos))
	lk := "--lake=" + filepath.Join(dir, "lake")
	c := &cli{t: t, dir: dir, env: map[string]string{"SLURM_CONF": cl.Conf}}
	c.ok("lake", "init", lk)
	driver := subprocess(t, dir, "pipeline", "run", file, lk, "--executor", "slurm", "--slurm-dir", filepath.Join(dir, "slurm"))
	driver.Env = append(driver.Env, cl.Env()...)
	var stderr strings.Builder
	driver.Stderr = &stderr
	if err := driver.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	job := ""
	deadline := time.Now().Add(2 * time.Minute)
	for job == "" {
		out, _ := cl.Command(ctx, nil, "squeue", "--noheader", "--name=swelake-stop-synth", "--states=RUNNING", "--format=%i").Output()
		job = strings.TrimSpace(string(out))
		if time.Now().After(deadline) {
			driver.Process.Kill()
			t.Fatalf("the stage's job never ran:\n%s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := driver.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := driver.Wait()
	if err == nil || driver.ProcessState.ExitCode() != 1 || !strings.Contains(stderr.String(), "cancelled it") {
		t.Fatalf("the stopped driver: %v (exit %d)\n%s", err, driver.ProcessState.ExitCode(), stderr.String())
	}
	states := slurmDone(t, cl, job, 1)
	if states[0] != "CANCELLED" {
		t.Fatalf("job %s after its driver stopped: %v", job, states)
	}
	var res pipeline.Result
	if err := json.Unmarshal([]byte(c.ok("pipeline", "run", file, lk, "--executor", "slurm", "--slurm-dir", filepath.Join(dir, "slurm"), "--json")), &res); err != nil ||
		res.Ran != 1 || res.TookOver != "" || len(res.Stages[0].JobIDs) != 1 || res.Stages[0].JobIDs[0] == job {
		t.Fatalf("the next run: %+v %v", res, err)
	}
}
