package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/internal/promtest"
	"github.com/swelake/swelake/jobs/lease"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

const spec = `
name: nightly
set: {sandbox.repos_dir: .demo/repos}
stages:
  - {name: curate, job: curate, config: {params: {token_cap: {max_tokens: 81920}}}}
  - {name: rollout, job: rollout, config: {samples: 2}}
  - {name: evaluate, job: evaluate}
  - {name: sft, job: build-sft}
`

// tableExec stands in for the jobs: each stage appends one row to each of
// its output tables (a real commit), so that inputs move as they would.
type tableExec struct {
	t     *testing.T
	l     *lake.Lake
	mu    sync.Mutex
	ran   []string
	fail  string
	block chan struct{}
}

func (e *tableExec) Run(ctx context.Context, st Stage, _ Key) (Outcome, error) {
	e.mu.Lock()
	e.ran = append(e.ran, st.Name)
	e.mu.Unlock()
	if e.block != nil {
		select {
		case <-e.block:
		case <-ctx.Done():
			return Outcome{}, ctx.Err()
		}
	}
	if st.Name == e.fail {
		return Outcome{}, errors.New("sandbox exploded")
	}
	for _, out := range st.Outputs {
		switch out {
		case "rollouts":
			laketest.Append(e.t, e.l, schemas.Rollouts, []schemas.Rollout{{RolloutID: fmt.Sprint("r", time.Now().UnixNano()), RunID: "r"}})
		case "evaluations":
			laketest.Append(e.t, e.l, schemas.Evaluations, []schemas.Evaluation{{EvaluationID: fmt.Sprint("e", time.Now().UnixNano()), TaskID: "t", RunID: "e", Status: "resolved"}})
		case "sft_examples":
			laketest.Append(e.t, e.l, schemas.SFTExamples, []schemas.SFTExample{{SetID: "s", ExampleID: fmt.Sprint("x", time.Now().UnixNano()), Split: "train"}})
		case "curation":
			laketest.Append(e.t, e.l, schemas.Curations, []schemas.Curation{{CurationID: "c", RolloutID: fmt.Sprint("r", time.Now().UnixNano())}})
		}
	}
	return Outcome{Summary: json.RawMessage(`{"ok":true}`)}, nil
}

func (e *tableExec) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.ran)
}

func (e *tableExec) reset() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.ran
	e.ran = nil
	return r
}

func actions(r Result) string {
	var out []string
	for _, s := range r.Stages {
		out = append(out, s.Stage+":"+s.Action)
	}
	return strings.Join(out, " ")
}

func TestParse(t *testing.T) {
	s, err := Parse("p.yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	order, _ := s.Order()
	var names []string
	for _, st := range order {
		names = append(names, st.Name)
	}
	// rollout writes what curate and evaluate read: it moves first.
	if got := strings.Join(names, " "); got != "rollout curate evaluate sft" {
		t.Errorf("order %q", got)
	}
	for _, bad := range []string{
		"name: x\nstages: [{job: nope}]",
		"name: x\nstages: [{job: curate}, {job: curate}]",
		"name: x\nstages: [{name: a, job: curate, after: [b]}, {name: b, job: evaluate, after: [a]}]",
		"name: x\nstages: [{job: curate, colour: red}]",
		"name: X Y\nstages: [{job: curate}]",
		"name: x\nstages: []",
	} {
		if _, err := Parse("bad.yaml", []byte(bad)); !errors.Is(err, ErrSpec) {
			t.Errorf("Parse(%q) = %v, want ErrSpec", bad, err)
		}
	}
	// A stage's config is decoded into its job's typed config when the file
	// is read: the error names the file, the stage and the key.
	for bad, want := range map[string]string{
		"name: x\nstages: [{job: curate, config: {rulez: [reward]}}]":                                `bad.yaml: stage "curate" (curate): config: unknown key rulez`,
		"name: x\nstages: [{job: curate, config: {difficulty: {mixd: false}}}]":                      `bad.yaml: stage "curate" (curate): config: unknown key difficulty.mixd`,
		"name: x\nstages: [{job: curate, config: {params: {loop: {max_repeat: 3}}}}]":                `bad.yaml: stage "curate" (curate): config: unknown key params.loop.max_repeat`,
		"name: x\nstages: [{job: build-rl, config: {k: many}}]":                                      `bad.yaml: stage "build-rl" (build-rl): config: k: want an integer`,
		"name: x\nstages: [{job: build-sft, args: [--out, x]}]":                                      `bad.yaml: stage "build-sft": args: stages take config keys`,
		"name: x\nstages: [{name: sft, job: build-sft, config: {exports: [openai], out_dir: o}}]":    "",
		"name: x\nstages: [{job: curate, shards: 4}]":                                                `bad.yaml: stage "curate" (curate): shards: 4: only validate-tasks, rollout, evaluate and verify shard`,
		"name: x\nstages: [{job: rollout, shards: -1}]":                                              `shards: -1: want a count of 1 or more`,
		"name: x\nslurm: {mem: 4G, colour: red}\nstages: [{job: rollout}]":                           `colour`,
		"name: x\nslurm: {mem: 4G}\nstages: [{job: rollout, shards: 8, slurm: {time: \"1:00:00\"}}]": "",
	} {
		_, err := Parse("bad.yaml", []byte(bad))
		if want == "" {
			if err != nil {
				t.Errorf("Parse(%q): %v", bad, err)
			}
			continue
		}
		if !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", bad, err, want)
		}
	}
	if sel, err := s.Select("curate", "evaluate"); err != nil || len(sel) != 2 {
		t.Errorf("select curate..evaluate: %v %v", sel, err)
	}
	if _, err := s.Select("nope", ""); err == nil {
		t.Error("select of an unknown stage succeeded")
	}
}

func TestIncrementalRuns(t *testing.T) {
	ctx := context.Background()
	l := laketest.New(t)
	s, _ := Parse("p.yaml", []byte(spec))
	ex := &tableExec{t: t, l: l}
	opts := Options{CodeVersion: "v1", Owner: "test"}
	first, err := Run(ctx, l, s, ex, opts)
	if err != nil || first.Ran != 4 || first.Skipped != 0 {
		t.Fatalf("first run: %+v %v", first, err)
	}
	if r := first.Stages[0]; r.Reason != "never ran" || r.RowsWritten != 1 || r.Outputs[0] != "rollouts@1" || r.BytesWritten <= 0 {
		t.Errorf("rollout stage: %+v", r)
	}
	ex.reset()
	second, err := Run(ctx, l, s, ex, opts)
	if err != nil || second.Ran != 0 || second.Skipped != 4 || len(ex.reset()) != 0 {
		t.Fatalf("second run did something: %s %v", actions(second), err)
	}
	// New rollouts arrive from elsewhere: the dry run names what reruns and why.
	laketest.Append(t, l, schemas.Rollouts, []schemas.Rollout{{RolloutID: "ingested", RunID: "x"}})
	plan, err := Run(ctx, l, s, ex, Options{CodeVersion: "v1", DryRun: true})
	if err != nil || actions(plan) != "rollout:skip curate:run evaluate:run sft:run" || len(ex.reset()) != 0 {
		t.Fatalf("dry run: %s %v", actions(plan), err)
	}
	if !strings.Contains(plan.Stages[1].Reason, "inputs changed: rollouts@1 → rollouts@2") || !strings.Contains(plan.Stages[3].Inputs[0], "written by stage curate") {
		t.Errorf("dry-run reasons: %+v", plan.Stages)
	}
	// A new code version reruns everything; --from/--to limit it.
	part, err := Run(ctx, l, s, ex, Options{CodeVersion: "v2", From: "curate", To: "evaluate", Owner: "test"})
	if err != nil || actions(part) != "curate:run evaluate:run" || !strings.Contains(part.Stages[0].Reason, "code version v1 → v2") {
		t.Fatalf("from/to: %s %v", actions(part), err)
	}
}

func TestResumeAfterFailure(t *testing.T) {
	ctx := context.Background()
	l := laketest.New(t)
	s, _ := Parse("p.yaml", []byte(spec))
	ex := &tableExec{t: t, l: l, fail: "evaluate"}
	res, err := Run(ctx, l, s, ex, Options{CodeVersion: "v1", Owner: "a"})
	var se *StageError
	if !errors.As(err, &se) || se.Stage != "evaluate" || res.Failed != "evaluate" || !strings.Contains(err.Error(), "stage evaluate (evaluate): sandbox exploded") {
		t.Fatalf("failing stage: %v %+v", err, res)
	}
	ex.fail = ""
	ex.reset()
	res, err = Run(ctx, l, s, ex, Options{CodeVersion: "v1", Owner: "a"})
	if err != nil || actions(res) != "rollout:skip curate:skip evaluate:run sft:run" {
		t.Fatalf("rerun after failure: %s %v", actions(res), err)
	}
}

// TestLease: a live lease keeps a second run out; a killed run's stale
// lease is taken over; a released one is reused. On memory and on MinIO.
func TestLease(t *testing.T) {
	for name, l := range map[string]*lake.Lake{"mem": laketest.New(t), "minio": laketest.MinIO(t, "lease")} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, _ := Parse("p.yaml", []byte(spec))
			ex := &tableExec{t: t, l: l, block: make(chan struct{})}
			done := make(chan error)
			go func() {
				_, err := Run(ctx, l, s, ex, Options{CodeVersion: "v1", Owner: "first"})
				done <- err
			}()
			for ex.count() == 0 { // the first run holds the lease and is in its first stage
				time.Sleep(5 * time.Millisecond)
			}
			_, err := Run(ctx, l, s, &tableExec{t: t, l: l}, Options{CodeVersion: "v1", Owner: "second"})
			if !errors.Is(err, ErrLeaseHeld) || !strings.Contains(err.Error(), "first holds") {
				t.Fatalf("second run while the first holds the lease: %v", err)
			}
			close(ex.block)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			// A killed run left a live-looking lease that has expired.
			b := l.Bucket()
			_, tag, _ := b.GetTagged(ctx, LeaseKey("nightly"))
			stale, _ := json.Marshal(lease.Record{Owner: "killed-host/123", Acquired: time.Now().Add(-time.Hour), Expires: time.Now().Add(-time.Minute)})
			if _, err := b.PutIfMatch(ctx, LeaseKey("nightly"), stale, tag); err != nil {
				t.Fatal(err)
			}
			res, err := Run(ctx, l, s, &tableExec{t: t, l: l}, Options{CodeVersion: "v1", Owner: "third"})
			if err != nil || res.TookOver != "killed-host/123" {
				t.Fatalf("take-over of a stale lease: %+v %v", res, err)
			}
		})
	}
}

// TestLeaseRenewal: a holder renews before expiry; a lease taken over under
// it is noticed and cancels the run.
func TestLeaseRenewal(t *testing.T) {
	ctx := context.Background()
	l := laketest.New(t)
	log := slog.New(slog.DiscardHandler)
	held, err := Acquire(ctx, l.Bucket(), "p", "me", 60*time.Millisecond, time.Now, log)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // past the TTL: renewals kept it live
	if _, err := Acquire(ctx, l.Bucket(), "p", "other", time.Minute, time.Now, log); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("renewed lease was taken: %v", err)
	}
	// Someone overwrites it (an operator forcing a take-over).
	_, tag, _ := l.Bucket().GetTagged(ctx, LeaseKey("p"))
	l.Bucket().PutIfMatch(ctx, LeaseKey("p"), []byte(`{"owner":"operator","expires":"2999-01-01T00:00:00Z"}`), tag)
	select {
	case <-held.Lost():
	case <-time.After(2 * time.Second):
		t.Fatal("a taken-over lease was not noticed")
	}
	if err := held.Release(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("release of a lost lease: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	l := laketest.New(t)
	s, _ := Parse("p.yaml", []byte(spec))
	res, err := Run(ctx, l, s, &tableExec{t: t, l: l}, Options{CodeVersion: "v1", Owner: "m"})
	if err != nil {
		t.Fatal(err)
	}
	text := string(res.Prometheus())
	for _, want := range []string{
		"# TYPE swelake_stage_duration_seconds gauge\n",
		`swelake_stage_rows_written{pipeline="nightly",stage="rollout",swelake_job="rollout"} 1` + "\n",
		`swelake_stage_skipped{pipeline="nightly",stage="sft",swelake_job="build-sft"} 0` + "\n",
		`swelake_pipeline_success{pipeline="nightly"} 1` + "\n",
		`swelake_pipeline_stages_run{pipeline="nightly"} 4` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if !strings.HasPrefix(line, "# ") && len(strings.Fields(line)) != 2 {
			t.Errorf("not a sample line: %q", line)
		}
	}
	path := filepath.Join(t.TempDir(), "textfile", "swelake.prom") // the directory is created
	if err := WriteTextfile(path, res.Prometheus()); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != text {
		t.Error("textfile content differs")
	}
	// The real node_exporter's textfile collector reads it without error.
	scraped := promtest.Textfile(t, filepath.Dir(path))()
	for _, want := range []string{"node_textfile_scrape_error 0\n", `swelake_pipeline_success{pipeline="nightly"} 1` + "\n",
		`swelake_stage_rows_written{pipeline="nightly",stage="rollout",swelake_job="rollout"} 1` + "\n"} {
		if !strings.Contains(scraped, want) {
			t.Errorf("node_exporter's /metrics lacks %q:\n%s", want, scraped)
		}
	}
	// The real Pushgateway takes the push and serves every sample under the
	// grouping key, the stage's own labels kept (a label named job would be
	// overwritten by the grouping key's job="swelake").
	gateway, scrapeGateway := promtest.Pushgateway(t)
	if err := Push(ctx, http.DefaultClient, gateway, "nightly", res.Prometheus()); err != nil {
		t.Fatal(err)
	}
	pushed := scrapeGateway()
	for _, want := range []string{
		`swelake_pipeline_success{instance="",job="swelake",pipeline="nightly"} 1` + "\n",
		`swelake_stage_rows_written{instance="",job="swelake",pipeline="nightly",stage="rollout",swelake_job="rollout"} 1` + "\n",
		`swelake_stage_skipped{instance="",job="swelake",pipeline="nightly",stage="sft",swelake_job="build-sft"} 0` + "\n",
		`push_failure_time_seconds{instance="",job="swelake",pipeline="nightly"} 0` + "\n",
	} {
		if !strings.Contains(pushed, want) {
			t.Errorf("the Pushgateway's /metrics lacks %q:\n%s", want, pushed)
		}
	}
	// A push it refuses (here: not the text format) is an error naming the URL.
	if err := Push(ctx, http.DefaultClient, gateway, "nightly", []byte("not metrics {\n")); err == nil || !strings.Contains(err.Error(), "/metrics/job/swelake/pipeline/nightly") {
		t.Errorf("a refused push: %v", err)
	}
}

// TestIngestStageFiles: an ingest stage's run key includes its files'
// names, sizes and times: a new file reruns it (and what reads its table).
func TestIngestStageFiles(t *testing.T) {
	ctx := context.Background()
	l := laketest.New(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.jsonl"), []byte("{}\n"), 0o644)
	s, err := Parse("p.yaml", []byte(fmt.Sprintf("name: ingest\nstages:\n  - {job: ingest-rollouts, config: {paths: [%q]}}\n  - {job: evaluate}\n", dir)))
	if err != nil {
		t.Fatal(err)
	}
	ex := &tableExec{t: t, l: l}
	if r, err := Run(ctx, l, s, ex, Options{CodeVersion: "v1", Owner: "t"}); err != nil || r.Ran != 2 || !strings.HasPrefix(r.Stages[0].Inputs[0], "files:") {
		t.Fatalf("first run: %+v %v", r, err)
	}
	if r, _ := Run(ctx, l, s, ex, Options{CodeVersion: "v1", Owner: "t"}); r.Ran != 0 {
		t.Fatalf("unchanged files reran: %s", actions(r))
	}
	os.WriteFile(filepath.Join(dir, "b.jsonl"), []byte("{}\n"), 0o644)
	r, err := Run(ctx, l, s, ex, Options{CodeVersion: "v1", DryRun: true})
	if err != nil || actions(r) != "ingest-rollouts:run evaluate:run" || !strings.Contains(r.Stages[0].Reason, "(1 files) → files:") {
		t.Fatalf("a new file: %s %+v %v", actions(r), r.Stages, err)
	}
	if _, err := Parse("p.yaml", []byte("name: x\nstages: [{job: ingest-tasks}]")); !errors.Is(err, ErrSpec) {
		t.Errorf("an ingest stage without paths: %v", err)
	}
}

// TestLeaseLostStopsRun: a run whose lease is taken over stops, and says so.
func TestLeaseLostStopsRun(t *testing.T) {
	ctx := context.Background()
	l := laketest.New(t)
	s, _ := Parse("p.yaml", []byte(spec))
	ex := &tableExec{t: t, l: l, block: make(chan struct{})} // the first stage waits for the context
	done := make(chan error)
	go func() {
		_, err := Run(ctx, l, s, ex, Options{CodeVersion: "v1", Owner: "me", LeaseTTL: 90 * time.Millisecond})
		done <- err
	}()
	for ex.count() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	_, tag, _ := l.Bucket().GetTagged(ctx, LeaseKey("nightly"))
	if _, err := l.Bucket().PutIfMatch(ctx, LeaseKey("nightly"), []byte(`{"owner":"operator","expires":"2999-01-01T00:00:00Z"}`), tag); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var se *StageError
		if !errors.As(err, &se) || !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("run under a taken-over lease: %v, want a StageError wrapping ErrLeaseLost", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the run did not stop after losing its lease")
	}
}

// TestShardRecords: a stage whose shards all recorded themselves under its
// run key (a Kubernetes indexed Job or a Slurm array outside the driver)
// is done: the driver records it with their job ids and skips it; with a
// shard missing it runs the stage. The key the driver computes is the one
// StageKey gives a shard, as long as the inputs did not move.
func TestShardRecords(t *testing.T) {
	ctx := context.Background()
	l := laketest.New(t)
	s, _ := Parse("p.yaml", []byte(spec))
	ex := &tableExec{t: t, l: l}
	if _, err := Run(ctx, l, s, ex, Options{CodeVersion: "v1", Owner: "a"}); err != nil {
		t.Fatal(err)
	}
	laketest.Append(t, l, schemas.Rollouts, []schemas.Rollout{{RolloutID: "new", RunID: "x"}})
	curate := s.Stages[0]
	key, err := StageKey(ctx, l, s, curate, "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // 3 of 4 shards
		if err := RecordShard(ctx, l.Bucket(), ShardRecord{Pipeline: s.Name, Stage: curate.Name, Job: curate.Job, RunKey: key.RunKey,
			Shard: i, Of: 4, JobID: fmt.Sprintf("4711_%d", i), Summary: json.RawMessage(`{"shard":` + fmt.Sprint(i) + `}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := RecordShard(ctx, l.Bucket(), ShardRecord{Pipeline: s.Name, Stage: curate.Name, RunKey: key.RunKey, Shard: 4, Of: 4}); err == nil {
		t.Error("shard 4 of 4 recorded")
	}
	plan, err := Run(ctx, l, s, ex, Options{CodeVersion: "v1", DryRun: true})
	if err != nil || actions(plan) != "rollout:skip curate:run evaluate:run sft:run" {
		t.Fatalf("3 of 4 shards: %s %v", actions(plan), err)
	}
	if err := RecordShard(ctx, l.Bucket(), ShardRecord{Pipeline: s.Name, Stage: curate.Name, Job: curate.Job, RunKey: key.RunKey,
		Shard: 3, Of: 4, JobID: "4712_3", Summary: json.RawMessage(`{"shard":3}`)}); err != nil {
		t.Fatal(err)
	}
	ex.reset()
	res, err := Run(ctx, l, s, ex, Options{CodeVersion: "v1", Owner: "a"})
	if err != nil || actions(res) != "rollout:skip curate:skip evaluate:run sft:run" {
		t.Fatalf("4 of 4 shards: %s %v", actions(res), err)
	}
	c := res.Stages[1]
	if c.Reason != "done by its 4 shards with these inputs, config and code" || strings.Join(c.JobIDs, ",") != "4711_0,4711_1,4711_2,4712_3" ||
		string(c.Summary) != `{"shards":4,"job_ids":["4711_0","4711_1","4711_2","4712_3"],"summaries":[{"shard":0},{"shard":1},{"shard":2},{"shard":3}]}` {
		t.Errorf("curate: %+v %s", c, c.Summary)
	}
	if ran := ex.reset(); strings.Join(ran, ",") != "evaluate,sft" {
		t.Errorf("ran %v", ran)
	}
	// The record the driver wrote stands on the next run (job ids kept).
	res, err = Run(ctx, l, s, ex, Options{CodeVersion: "v1", Owner: "a"})
	if err != nil || res.Ran != 0 || strings.Join(res.Stages[1].JobIDs, ",") != "4711_0,4711_1,4711_2,4712_3" || !strings.HasPrefix(res.Stages[1].Reason, "done 2") {
		t.Fatalf("third run: %s %+v %v", actions(res), res.Stages[1], err)
	}
}

func TestSlurmResources(t *testing.T) {
	s, err := Parse("p.yaml", []byte("name: x\nslurm: {partition: gpu, cpus_per_task: 8, mem: 16G, time: \"04:00:00\", sbatch_args: [--qos=high]}\n"+
		"stages: [{job: rollout, shards: 8, slurm: {mem: 32G, sbatch_args: [--exclusive]}}, {job: curate}]"))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(s.Slurm.Merge(s.Stages[0].Slurm).Args(), " ")
	if got != "--partition=gpu --cpus-per-task=8 --mem=32G --time=04:00:00 --qos=high --exclusive" {
		t.Errorf("rollout's sbatch flags: %s", got)
	}
	if got := strings.Join(s.Slurm.Merge(s.Stages[1].Slurm).Args(), " "); got != "--partition=gpu --cpus-per-task=8 --mem=16G --time=04:00:00 --qos=high" {
		t.Errorf("curate's sbatch flags: %s", got)
	}
}
