package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swelake/swelake/internal/exectest"
	"github.com/swelake/swelake/internal/tokref"
	"github.com/swelake/swelake/jobs/lease"
	"github.com/swelake/swelake/jobs/pipeline"
	"github.com/swelake/swelake/lake/objstore"
)

// pipelineYAML is a small whole pipeline on one sample repository.
func pipelineYAML(t *testing.T, dir string) string {
	repos, _ := json.Marshal([]map[string]string{{"path": exectest.Example(t, "pytext")}})
	return writeFile(t, dir, "p.yaml", fmt.Sprintf(`name: small
policy: scripted
set: {sandbox.repos_dir: %q}
stages:
  - {job: synth-tasks, config: {repos: %s, max_tasks: 3, max_candidates: 8, timeout: 10s}}
  - {job: validate-tasks, config: {runs: 1}}
  - {job: rollout, config: {samples: 2, max_steps: 20}}
  - {job: evaluate}
  - {job: curate}
  - {job: verify, config: {mode: both}}
  - {job: analysis, config: {out: %q}}
  - {job: report, config: {out: %q}}
  - {job: publish, config: {table: rollouts, name: small-trajectories}}
`, filepath.Join(dir, "repos"), repos, filepath.Join(dir, "analysis"), filepath.Join(dir, "report")))
}

type pipelineOut struct {
	Ran, Skipped int
	Failed       string
	Stages       []struct {
		Stage, Action, Reason string
		Outputs               []string
		Summary               json.RawMessage
	}
}

// TestPipelineOnMinIO runs a whole pipeline from the CLI against a MinIO
// lake: every stage once, then a rerun that does nothing, a dry run, the
// lease refusing a second runner (exit 3), and the metrics file.
func TestPipelineOnMinIO(t *testing.T) {
	exectest.Need(t)
	dir := t.TempDir()
	c := minioCLI(t, dir)
	c.env["SWELAKE_TEST_AS_CLI"] = "1" // stages run as child processes of this binary
	c.env["SWELAKE_TOKENIZER"] = tokref.DefaultTokenizerDir()
	lk := "--lake=s3://pipeline/lake"
	c.ok("lake", "init", lk)
	spec := pipelineYAML(t, dir)
	metrics := filepath.Join(dir, "swelake.prom")
	var first pipelineOut
	out := c.ok("pipeline", "run", spec, lk, "--json", "--metrics-file", metrics)
	if err := json.Unmarshal([]byte(out), &first); err != nil || first.Ran != 9 || first.Failed != "" {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	prom, _ := os.ReadFile(metrics)
	if !strings.Contains(string(prom), `swelake_pipeline_success{pipeline="small"} 1`) || !strings.Contains(string(prom), `swelake_stage_rows_written{pipeline="small",stage="rollout",swelake_job="rollout"}`) {
		t.Errorf("metrics file:\n%s", prom)
	}
	var pub struct {
		URL string `json:"url"`
	}
	json.Unmarshal(first.Stages[8].Summary, &pub)
	if !strings.HasPrefix(pub.URL, "s3://pipeline/lake/published/small-trajectories/v") {
		t.Errorf("publish stage: %s", first.Stages[8].Summary)
	}
	if _, err := os.Stat(filepath.Join(dir, "report", "index.html")); err != nil {
		t.Errorf("report: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "analysis", "pass_at_k.csv")); err != nil {
		t.Errorf("analysis: %v", err)
	}
	text := c.ok("pipeline", "run", spec, lk, "--metrics-file", metrics)
	if !strings.Contains(text, "0 to run, 9 skipped") || !strings.Contains(text, "nothing new") {
		t.Fatalf("second run:\n%s", text)
	}
	if again, _ := os.ReadFile(metrics); string(again) != string(prom) {
		t.Errorf("a run where nothing ran rewrote the metrics file:\n%s", again)
	}
	// More rollouts arrive: the dry run names the stages that would rerun.
	c.ok("lake", "append", lk, "rollouts", writeFile(t, dir, "more.jsonl", rolloutsJSONL))
	plan := c.ok("pipeline", "run", spec, lk, "--dry-run")
	if !strings.Contains(plan, "skip  rollout") || !strings.Contains(plan, "run   evaluate") || !strings.Contains(plan, "inputs changed: rollouts@") {
		t.Fatalf("dry run:\n%s", plan)
	}
	// A live lease held by another run: exit 3, nothing run.
	c.ok("sql", lk, "SELECT 1") // (the lake is reachable)
	leaseFile := writeFile(t, dir, "lease.json", fmt.Sprintf(`{"owner":"other-host/42","acquired":%q,"expires":%q}`,
		time.Now().UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339)))
	putObject(t, "pipeline", "lake/pipelines/small/lease.json", leaseFile)
	_, errs, code := c.run("pipeline", "run", spec, lk)
	if code != 3 || !strings.Contains(errs, "other-host/42 holds") {
		t.Fatalf("run under a held lease: exit %d, %s", code, errs)
	}
}

// TestShardedValidateOnMinIO: three processes, each one shard of
// validate-tasks, against one MinIO lake, give the rows one worker gives.
func TestShardedValidateOnMinIO(t *testing.T) {
	exectest.Need(t)
	dir := t.TempDir()
	c := minioCLI(t, dir)
	repos, _ := json.Marshal([]map[string]string{{"path": exectest.Example(t, "pytext")}, {"path": exectest.Example(t, "pyledger")}})
	results := map[string]string{}
	for _, mode := range []string{"one", "sharded"} {
		lk := "--lake=s3://shards/" + mode
		c.ok("lake", "init", lk)
		c.ok("run", "synth-tasks", lk, "--set", "sandbox.repos_dir="+filepath.Join(dir, "repos-"+mode), "--set", "synth_tasks.repos="+string(repos),
			"--max-tasks", "3", "--set", "synth_tasks.max_candidates=8", "--set", "synth_tasks.timeout=10s")
		args := []string{"run", "validate-tasks", lk, "--json", "--set", "sandbox.repos_dir=" + filepath.Join(dir, "repos-"+mode), "--set", "validate_tasks.runs=1"}
		if mode == "one" {
			c.ok(args...)
		} else {
			var wg sync.WaitGroup
			errs := make([]error, 3)
			for i := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p := subprocess(t, dir, append(args, "--shard", "auto/3")...)
					p.Env = append(p.Env, minioEnv(dir)...)
					p.Env = append(p.Env, fmt.Sprintf("JOB_COMPLETION_INDEX=%d", i))
					if out, err := p.CombinedOutput(); err != nil {
						errs[i] = fmt.Errorf("shard %d: %v\n%s", i, err, out)
					}
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			// Three commits, one per shard.
			n := strings.TrimSpace(c.ok("sql", lk, "--csv", "SELECT count(*) FROM lake_commits WHERE table_name = 'task_validations' AND run_key LIKE '%/shard-%-of-3'"))
			if !strings.HasSuffix(n, "\n3") {
				t.Fatalf("shard commits: %s", n)
			}
		}
		results[mode] = c.ok("sql", lk, "--csv", "SELECT validation_id, task_id, status, reason FROM task_validations ORDER BY task_id")
	}
	if results["one"] != results["sharded"] || strings.Count(results["one"], "\n") < 4 {
		t.Fatalf("one worker:\n%s\nthree shards:\n%s", results["one"], results["sharded"])
	}
}

// TestNoCacheDirOnS3 (issue 15, bug 2): with an s3:// lake and no
// cache_dir, the analysis stage, the scripted policy and sandbox run used
// the raw, empty setting and cached into the working directory (sha256/,
// empty/). The cache directory is now resolved once, from the root.
func TestNoCacheDirOnS3(t *testing.T) {
	dir := t.TempDir()
	c := minioCLI(t, dir)
	delete(c.env, "SWELAKE_CACHE_DIR")
	lk := "--lake=s3://nocache/lake"
	c.ok("lake", "init", lk)
	c.ok("lake", "append", lk, "tasks", writeFile(t, dir, "tasks.jsonl", tasksJSONL))
	c.ok("lake", "append", lk, "rollouts", writeFile(t, dir, "rollouts.jsonl", rolloutsJSONL))
	spec := writeFile(t, dir, "a.yaml", "name: nocache\nstages:\n  - {job: analysis, config: {out: "+filepath.Join(dir, "out")+"}}\n")
	c.ok("pipeline", "run", spec, lk)
	c.ok("sql", lk, "--query", "pass_at_k")
	for _, name := range []string{"sha256", "empty", "verified"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s/ was written into the working directory", name)
		}
	}
}

// TestPipelineStageShards is the Kubernetes way of a sharded stage, run by
// processes: two "pods" of an indexed Job (swelake pipeline stage <file>
// <stage> --shard auto/3, JOB_COMPLETION_INDEX 0 and 1) record their
// shards; a third shard's lease is held by a pod still running it, so
// running that shard again is exit 3; the driver (pipeline run) runs no
// shard twice — it waits for the held one and, when its holder lets go
// without recording it, runs it itself. The stage is then whole, and the
// next run skips it.
func TestPipelineStageShards(t *testing.T) {
	exectest.Need(t)
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, env: map[string]string{"SWELAKE_TOKENIZER": tokref.DefaultTokenizerDir()}}
	repos, _ := json.Marshal([]map[string]string{{"path": exectest.Example(t, "pytext")}, {"path": exectest.Example(t, "pyledger")}})
	file := filepath.Join(dir, "k.yaml")
	spec := fmt.Sprintf(`name: k
set: {sandbox.repos_dir: %s/repos}
stages:
  - {name: synth, job: synth-tasks, config: {max_tasks: 3, max_candidates: 8, timeout: 10s, repos: %s}}
  - {name: validate, job: validate-tasks, shards: 3, config: {runs: 1}}
`, dir, repos)
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	lakeDir := filepath.Join(dir, "lake")
	lk := "--lake=" + lakeDir
	c.ok("lake", "init", lk)
	c.ok("pipeline", "run", file, lk, "--to", "synth")
	for i := range 2 {
		p := subprocess(t, dir, "pipeline", "stage", file, "validate", "--shard", "auto/3", lk)
		p.Env = append(p.Env, fmt.Sprintf("JOB_COMPLETION_INDEX=%d", i), "SWELAKE_TOKENIZER="+tokref.DefaultTokenizerDir())
		if out, err := p.CombinedOutput(); err != nil {
			t.Fatalf("pod %d: %v\n%s", i, err, out)
		}
	}
	recs, _ := filepath.Glob(filepath.Join(lakeDir, "pipelines", "k", "shards", "validate", "*", "3", "*.json"))
	if len(recs) != 2 {
		t.Fatalf("shard records after two pods: %v", recs)
	}
	keyDir := filepath.Dir(filepath.Dir(recs[0]))
	runKey := filepath.Base(keyDir)
	// A pod still runs shard 2: it holds the shard's lease.
	b, err := objstore.NewLocal(lakeDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	held, err := lease.Acquire(ctx, b, pipeline.ShardLeaseKey("k", "validate", runKey, 2, 3), "pod-2/7", time.Minute, time.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c.fails("pod-2/7 holds", 3, "pipeline", "stage", file, "validate", "--shard", "2/3", lk)
	c.fails(`no stage "validat"`, 2, "pipeline", "stage", file, "validat", lk)
	c.fails("synth-tasks, which does not shard", 2, "pipeline", "stage", file, "synth", "--shard", "0/2", lk)
	c.fails("want i/N", 2, "pipeline", "stage", file, "validate", "--shard", "3/3", lk)
	// The driver waits for shard 2; its holder lets go without recording it.
	go func() {
		time.Sleep(3 * time.Second)
		held.Release(ctx)
	}()
	var res pipeline.Result
	if err := json.Unmarshal([]byte(c.ok("pipeline", "run", file, lk, "--json")), &res); err != nil {
		t.Fatal(err)
	}
	var sum pipeline.ShardedSummary
	v := res.Stages[1]
	if err := json.Unmarshal(v.Summary, &sum); err != nil || v.Action != "run" || sum.Shards != 3 || len(sum.Summaries) != 3 || v.RunKey != runKey {
		t.Fatalf("validate stage: %+v (%v)", v, err)
	}
	if recs, _ := filepath.Glob(filepath.Join(keyDir, "3", "*.json")); len(recs) != 3 {
		t.Fatalf("shard records: %v", recs)
	}
	n := c.ok("sql", lk, "--csv", "SELECT count(*) || '/' || count(DISTINCT task_id) AS n FROM task_validations")
	tasks := strings.TrimSpace(strings.TrimPrefix(c.ok("sql", lk, "--csv", "SELECT count(*) AS n FROM tasks"), "n"))
	if strings.TrimSpace(strings.TrimPrefix(n, "n")) != tasks+"/"+tasks {
		t.Fatalf("validations (rows/tasks) %s, tasks %s", n, tasks)
	}
	if err := json.Unmarshal([]byte(c.ok("pipeline", "run", file, lk, "--json")), &res); err != nil || res.Ran != 0 {
		t.Fatalf("third run: %+v %v", res, err)
	}
}
