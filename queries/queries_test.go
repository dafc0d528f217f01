package queries_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/internal/miniotest"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/queries"
	"github.com/swelake/swelake/schemas"
)

var update = flag.Bool("update", false, "rewrite golden files")

func ptr[T any](v T) *T { return &v }

func createTable[T any](t testing.TB, l *lake.Lake, def schemas.Def[T]) *lake.Table {
	t.Helper()
	tbl, err := l.Table(def.Name)
	if err != nil {
		t.Fatal(err)
	}
	var by []string
	if def.PartitionBy != "" {
		by = []string{def.PartitionBy}
	}
	if _, err := tbl.Create(context.Background(), tables.Schema(def), by, lake.Provenance{Job: "test"}); err != nil {
		t.Fatal(err)
	}
	return tbl
}

func appendRows[T any](t testing.TB, tbl *lake.Table, def schemas.Def[T], rows []T) *lake.Commit {
	t.Helper()
	ctx := context.Background()
	files, err := lake.WriteFiles(ctx, tbl, tables.Spec(def), lake.Slice(rows), lake.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tbl.Append(ctx, files, lake.Provenance{Job: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Commit
}

func fixtureLake(t testing.TB, b objstore.Bucket) *lake.Lake {
	l := lake.Open(b, lake.Options{CacheDir: t.TempDir()})
	if err := l.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	tasks := createTable(t, l, schemas.Tasks)
	appendRows(t, tasks, schemas.Tasks, []schemas.Task{
		{TaskID: "swe-bench/django-1", Source: "swe-bench", Repo: "django/django", FailToPass: []string{"a", "b"}, PassToPass: []string{"c"}},
		{TaskID: "swe-bench/django-2", Source: "swe-bench", Repo: "django/django", FailToPass: []string{"d"}},
		{TaskID: "swe-gym/pandas-1", Source: "swe-gym", Repo: "pandas-dev/pandas"},
	})
	createTable(t, l, schemas.Quarantine) // stays empty
	rollouts := createTable(t, l, schemas.Rollouts)
	msgs := []schemas.Message{{Role: "system", Content: "you are"}, {Role: "assistant", Content: "ls", ToolCalls: []schemas.ToolCall{{ID: "c1", Name: "bash", Arguments: `{"cmd":"ls"}`}}}, {Role: "tool", Content: "x.py", ToolCallID: "c1", Name: "bash"}}
	appendRows(t, rollouts, schemas.Rollouts, []schemas.Rollout{
		{RolloutID: "r1", TaskID: "swe-bench/django-1", RunID: "run-a", Policy: "qwen", Messages: msgs, NumTurns: 3, Tokens: ptr[int64](1200), Resolved: ptr(true), Reward: ptr(1.0)},
		{RolloutID: "r2", TaskID: "swe-bench/django-1", RunID: "run-a", Policy: "qwen", Messages: msgs, NumTurns: 5, Tokens: ptr[int64](2000), Resolved: ptr(false), Reward: ptr(0.0), Forced: true},
		{RolloutID: "r3", TaskID: "swe-bench/django-2", RunID: "run-a", Policy: "qwen", NumTurns: 7, InfraError: true},
		{RolloutID: "r4", TaskID: "swe-gym/pandas-1", RunID: "run-b", Policy: "gpt", NumTurns: 2, Resolved: ptr(true)},
	})
	stats := createTable(t, l, schemas.TaskStats)
	var rows []schemas.TaskStat
	for i, p := range []float64{0, 0, 0, 0, 0.25, 0.5, 0.75, 1, 1, 1} {
		rows = append(rows, schemas.TaskStat{CurationID: "cur-1", TaskID: fmt.Sprint("t-", i), Policy: "qwen", N: 4, NResolved: int64(p * 4), PassRate: p,
			Bucket: map[float64]string{0: "0", 0.25: "[0.2,0.3)", 0.5: "[0.5,0.6)", 0.75: "[0.7,0.8)", 1: "1"}[p], Mixed: p > 0 && p < 1})
	}
	appendRows(t, stats, schemas.TaskStats, rows)
	analysisFixture(t, l, rollouts)
	return l
}

// analysisFixture adds what the analysis queries read: checkpoints trained
// on SFT sets of three sizes with their outcomes, a verify run, a curation.
func analysisFixture(t testing.TB, l *lake.Lake, rollouts *lake.Table) {
	var more []schemas.Rollout
	outcome := func(policy string, n, resolved int, exit string) {
		for i := range n {
			more = append(more, schemas.Rollout{RolloutID: fmt.Sprintf("%s-%d", policy, i), TaskID: fmt.Sprintf("t-%d", i%4), RunID: "run-" + policy,
				Policy: policy, SampleIdx: int32(i / 4), NumTurns: int32(10 + i), Tokens: ptr(int64(1000 * (i + 1))), Resolved: ptr(i < resolved), ExitReason: exit})
		}
	}
	outcome("ckpt-a", 4, 1, "submitted")
	outcome("ckpt-m", 8, 3, "submitted")
	outcome("ckpt-b", 4, 0, "step_cap") // ckpt-b's evaluations win over its rollouts
	appendRows(t, rollouts, schemas.Rollouts, more)
	var evals []schemas.Evaluation
	for i, st := range []string{"resolved", "resolved", "resolved", "unresolved", "no_result"} {
		evals = append(evals, schemas.Evaluation{EvaluationID: fmt.Sprint("e-", i), TaskID: fmt.Sprint("t-", i), RunID: "eval-b", Candidate: "ckpt-b", Status: st})
	}
	appendRows(t, createTable(t, l, schemas.Evaluations), schemas.Evaluations, evals)
	var ex []schemas.SFTExample
	for set, n := range map[string]int{"sft-small": 2, "sft-mid": 4, "sft-big": 8} {
		for i := range n {
			ex = append(ex, schemas.SFTExample{SetID: set, ExampleID: fmt.Sprintf("%s-%d", set, i), Split: "train", RolloutIDs: []string{[]string{"r1", "r4"}[i%2]}, NumTokens: 100})
		}
		ex = append(ex, schemas.SFTExample{SetID: set, ExampleID: set + "-val", Split: "validation", RolloutIDs: []string{"r2"}})
	}
	appendRows(t, createTable(t, l, schemas.SFTExamples), schemas.SFTExamples, ex)
	// An RL loop of three iterations from rl-base (its checkpoints' outcomes
	// are their rollouts), after an earlier loop over run-a.
	outcome("rl-base", 8, 2, "submitted")
	outcome("rl-ckpt-1", 8, 4, "submitted")
	outcome("rl-ckpt-2", 8, 6, "submitted")
	appendRows(t, rollouts, schemas.Rollouts, more[len(more)-24:])
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	iter := func(loop string, i int64, in, out, run string, samples int64) schemas.RLIteration {
		return schemas.RLIteration{LoopID: loop, Iteration: i, CheckpointIn: in, CheckpointOut: out, RolloutRunID: run, Tasks: 4, Rollouts: 8, Graded: 8,
			Samples: samples, Groups: samples / 4, CumSamples: samples * i, RewardMean: 0.25 * float64(i), TrainerAttempts: 1, TrainerSeconds: 2, BatchID: fmt.Sprintf("rl-%d-x", i),
			Finished: at.Add(time.Duration(i) * time.Hour)}
	}
	loop0 := iter("loop-0", 1, "qwen", "qwen-rl-1", "run-a", 4)
	loop0.Finished = at.Add(-time.Hour)
	iterations := createTable(t, l, schemas.RLIterations)
	appendRows(t, iterations, schemas.RLIterations, []schemas.RLIteration{loop0})
	appendRows(t, iterations, schemas.RLIterations, []schemas.RLIteration{
		iter("loop-a", 1, "rl-base", "rl-ckpt-1", "run-rl-base", 8), iter("loop-a", 2, "rl-ckpt-1", "rl-ckpt-2", "run-rl-ckpt-1", 8),
		iter("loop-a", 3, "rl-ckpt-2", "rl-ckpt-3", "run-rl-ckpt-2", 8),
	})
	appendRows(t, createTable(t, l, schemas.Checkpoints), schemas.Checkpoints, []schemas.Checkpoint{
		{Model: "ckpt-a", SFTSetID: "sft-small"}, {Model: "ckpt-m", SFTSetID: "sft-mid"}, {Model: "ckpt-b", SFTSetID: "sft-big"},
		{Model: "ckpt-x", SFTSetID: "sft-unknown"}, // no such set: not a point
		{Model: "rl-ckpt-1", BaseModel: "rl-base", LoopID: "loop-a", Iteration: 1, RLSamples: 8},
		{Model: "rl-ckpt-2", BaseModel: "rl-ckpt-1", LoopID: "loop-a", Iteration: 2, RLSamples: 16},
		{Model: "rl-ckpt-3", BaseModel: "rl-ckpt-2", LoopID: "loop-a", Iteration: 3, RLSamples: 24}, // no outcomes yet
	})
	vs := func(task string, idx int32, score, draw float64, resolved bool) schemas.VerifierScore {
		return schemas.VerifierScore{VerifyID: "v-1", Verifier: "model:x", TaskID: task, RolloutID: fmt.Sprintf("%s/%d", task, idx), RunID: "run-a", SampleIdx: idx,
			Score: score, Draw: draw, Resolved: ptr(resolved)}
	}
	appendRows(t, createTable(t, l, schemas.VerifierScores), schemas.VerifierScores, []schemas.VerifierScore{
		vs("A", 0, 0.2, 0.5, false), vs("A", 1, 0.9, 0.1, true), vs("A", 2, 0.5, 0.3, false),
		vs("B", 0, 0.7, 0.2, true), vs("B", 1, 0.7, 0.8, false), vs("B", 2, 0.1, 0.9, true),
	})
	// Self-play: rl-ckpt-1 wrote t-1 (kept) and another model t-2; t-3 is
	// a procedural synthetic task; t-0 has no task row.
	appendRows(t, createTable(t, l, schemas.Injections), schemas.Injections, []schemas.Injection{
		{InjectionID: "i-1", Repo: "pytext", Mode: "inject", Model: "rl-ckpt-1", Kept: true, TaskID: "t-1"},
		{InjectionID: "i-2", Repo: "pytext", Mode: "feature", Model: "rl-ckpt-1", DropReason: "no test fails"},
		{InjectionID: "i-3", Repo: "pytext", Mode: "rewrite", Model: "other", Kept: true, TaskID: "t-2"},
	})
	tasks, err := l.Table(schemas.Tasks.Name)
	if err != nil {
		t.Fatal(err)
	}
	appendRows(t, tasks, schemas.Tasks, []schemas.Task{
		{TaskID: "t-1", Source: "synth"}, {TaskID: "t-2", Source: "synth"}, {TaskID: "t-3", Source: "synth"}})
	appendRows(t, createTable(t, l, schemas.Curations), schemas.Curations, []schemas.Curation{
		{CurationID: "cur-1", RolloutID: "r1", TaskID: "swe-bench/django-1", RunID: "run-a", Kept: true},
		{CurationID: "cur-1", RolloutID: "r2", TaskID: "swe-bench/django-1", RunID: "run-a", DroppedBy: []string{"reward"}, Reasons: []string{"reward 0"}},
		{CurationID: "cur-1", RolloutID: "r4", TaskID: "swe-gym/pandas-1", RunID: "run-b", Kept: true},
	})
	appendRows(t, createTable(t, l, schemas.CurationDrops), schemas.CurationDrops, []schemas.CurationDrop{
		{CurationID: "cur-1", Rule: "reward", Params: `{"min":1}`, Dropped: 2, DroppedOnly: 1, Input: 4, TopReasons: []string{"reward 0 (2)"}},
		{CurationID: "cur-1", Rule: "loop", Params: `{"max_repeats":5}`, Dropped: 1, DroppedOnly: 0, Input: 4},
		{CurationID: "cur-1", Rule: "git_hacking", Params: `{}`, Dropped: 0, DroppedOnly: 0, Input: 4},
	})
}

func openEngine(t testing.TB, l *lake.Lake, pins map[string]int64) *queries.Engine {
	t.Helper()
	return openEngineCache(t, l, pins, t.TempDir())
}

// openEngineCache opens an engine and attaches l through a handle whose
// cache is dir.
func openEngineCache(t testing.TB, l *lake.Lake, pins map[string]int64, dir string) *queries.Engine {
	t.Helper()
	e, err := queries.Open(context.Background(), queries.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.Attach(context.Background(), lake.Open(l.Bucket(), lake.Options{CacheDir: dir}), pins, tables.ParquetSchema); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestGoldenQueries runs every embedded query on the fixture lake and
// compares its output with testdata/<name>.golden (-update rewrites them).
func TestGoldenQueries(t *testing.T) {
	l := fixtureLake(t, objstore.NewMem(nil))
	e := openEngine(t, l, nil)
	if err := e.AttachCommits(context.Background(), l, nil); err != nil {
		t.Fatal(err)
	}
	all, err := queries.List()
	if err != nil || len(all) == 0 {
		t.Fatalf("embedded queries: %v %v", all, err)
	}
	for _, q := range all {
		t.Run(q.Name, func(t *testing.T) {
			if q.Description == "" {
				t.Errorf("%s.sql has no leading comment describing it", q.Name)
			}
			res, err := e.Run(context.Background(), q, nil)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := res.WriteTable(&buf, 0); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", q.Name+".golden")
			if *update {
				os.WriteFile(path, buf.Bytes(), 0o644)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./queries -update creates it)", err)
			}
			if buf.String() != string(want) {
				t.Errorf("%s output changed:\n--- got\n%s--- want\n%s", q.Name, buf.String(), want)
			}
		})
	}
}

func TestViewsArePinned(t *testing.T) {
	ctx := context.Background()
	l := fixtureLake(t, objstore.NewMem(nil))
	tasks, _ := l.Table("tasks")
	appendRows(t, tasks, schemas.Tasks, []schemas.Task{{TaskID: "x/1", Source: "x"}})

	count := func(e *queries.Engine) int64 {
		res, err := e.Query(ctx, "SELECT count(*) FROM tasks")
		if err != nil {
			t.Fatal(err)
		}
		return res.Rows[0][0].(int64)
	}
	if n := count(openEngine(t, l, nil)); n != 7 { // 3 + the analysis fixture's 3 + 1
		t.Fatalf("latest: %d tasks", n)
	}
	if n := count(openEngine(t, l, map[string]int64{"tasks": 1})); n != 3 {
		t.Fatalf("tasks@1: %d tasks", n)
	}
	if n := count(openEngine(t, l, map[string]int64{"tasks": 0})); n != 0 {
		t.Fatalf("tasks@0: %d tasks", n)
	}
	// An empty table still has its columns, nested ones included.
	e := openEngine(t, l, nil)
	res, err := e.Query(ctx, "SELECT count(*), max(octet_length(raw)), max(line) FROM quarantine")
	if err != nil || res.Rows[0][0].(int64) != 0 {
		t.Fatalf("empty quarantine view: %v %v", res, err)
	}
	if _, err := e.Query(ctx, "SELECT messages[1].tool_calls[1].arguments FROM rollouts"); err != nil {
		t.Fatalf("nested columns: %v", err)
	}
	// Pins name tables and versions that exist.
	other, _ := queries.Open(ctx, queries.Options{})
	defer other.Close()
	if err := other.Attach(ctx, l, map[string]int64{"nope": 1}, tables.ParquetSchema); !errors.Is(err, lake.ErrNoTable) {
		t.Fatalf("pin of a missing table: %v", err)
	}
	if err := other.Attach(ctx, l, map[string]int64{"tasks": 99}, tables.ParquetSchema); !errors.Is(err, lake.ErrNoVersion) {
		t.Fatalf("pin of a missing version: %v", err)
	}
}

func TestRemoteFilesGoThroughVerifiedCache(t *testing.T) {
	srv := miniotest.StartTB(t)
	ctx := context.Background()
	b, err := objstore.NewS3(objstore.S3Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Bucket: "queries", Prefix: "lake"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	l := fixtureLake(t, b)
	cacheDir := t.TempDir()
	e := openEngineCache(t, l, nil, cacheDir)
	res, err := e.Query(ctx, "SELECT count(*) FROM rollouts WHERE resolved AND run_id IN ('run-a', 'run-b')")
	if err != nil || res.Rows[0][0].(int64) != 2 {
		t.Fatalf("query over MinIO: %v %v", res, err)
	}
	cached, _ := filepath.Glob(filepath.Join(cacheDir, "sha256", "*", "*.parquet"))
	files := 0 // every file of every attached snapshot, each cached once
	counted := map[lake.Ref]bool{}
	for _, ref := range e.Views() { // (latest_<table> views share their table's snapshot)
		if counted[ref] {
			continue
		}
		counted[ref] = true
		tbl, _ := l.Table(ref.Table)
		s, _ := tbl.Snapshot(ctx, ref.Version)
		files += len(s.Files)
	}
	if len(cached) != files || files < 10 {
		t.Fatalf("cache holds %d files, the snapshots %d: %v", len(cached), files, cached)
	}

	// Flip a byte of a remote file: a fresh cache refuses it.
	tbl, _ := l.Table("rollouts")
	s, _ := tbl.Snapshot(ctx, lake.Latest)
	key := lake.FileKey("rollouts", s.Files[0].Path)
	data, _ := objstore.ReadAll(ctx, b, key)
	data[len(data)/3] ^= 0x20
	b.Put(ctx, key, bytes.NewReader(data), int64(len(data)))
	e2, _ := queries.Open(ctx, queries.Options{})
	defer e2.Close()
	err = e2.Attach(ctx, lake.Open(b, lake.Options{CacheDir: t.TempDir()}), nil, tables.ParquetSchema)
	if !errors.Is(err, lake.ErrChecksum) || !strings.Contains(err.Error(), s.Files[0].Path) {
		t.Fatalf("corrupt remote file: %v, want ErrChecksum naming %s", err, s.Files[0].Path)
	}
}

func TestResultFormats(t *testing.T) {
	e := openEngine(t, fixtureLake(t, objstore.NewMem(nil)), nil)
	res, err := e.Query(context.Background(), "SELECT rollout_id, tokens, messages[2].tool_calls AS calls FROM rollouts WHERE rollout_id IN ('r1','r4') ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	var js, cs bytes.Buffer
	res.WriteJSON(&js)
	res.WriteCSV(&cs)
	wantJSON := `[
  {"rollout_id": "r1", "tokens": 1200, "calls": [{"arguments":"{\"cmd\":\"ls\"}","id":"c1","name":"bash"}]},
  {"rollout_id": "r4", "tokens": null, "calls": null}
]
`
	if js.String() != wantJSON {
		t.Errorf("json:\n%s\nwant\n%s", js.String(), wantJSON)
	}
	wantCSV := "rollout_id,tokens,calls\nr1,1200,\"[{\"\"arguments\"\":\"\"{\\\"\"cmd\\\"\":\\\"\"ls\\\"\"}\"\",\"\"id\"\":\"\"c1\"\",\"\"name\"\":\"\"bash\"\"}]\"\nr4,,\n"
	if cs.String() != wantCSV {
		t.Errorf("csv:\n%s\nwant\n%s", cs.String(), wantCSV)
	}
}

// TestPassAtKEstimator checks pass_at_k against the estimator computed
// with exact binomials in Go, on random (n, c) per task.
func TestPassAtKEstimator(t *testing.T) {
	ctx := context.Background()
	l := lake.Open(objstore.NewMem(nil), lake.Options{CacheDir: t.TempDir()})
	if err := l.Init(ctx); err != nil {
		t.Fatal(err)
	}
	rollouts := createTable(t, l, schemas.Rollouts)
	rng := rand.New(rand.NewPCG(1, 2))
	type nc struct{ n, c int }
	var tasks []nc
	var rows []schemas.Rollout
	for i := range 40 {
		n := 1 + rng.IntN(12)
		c := rng.IntN(n + 1)
		tasks = append(tasks, nc{n, c})
		for j := range n {
			rows = append(rows, schemas.Rollout{RolloutID: fmt.Sprintf("r%d-%d", i, j), TaskID: fmt.Sprint("t", i), RunID: "run", Policy: "p", Resolved: ptr(j < c)})
		}
	}
	appendRows(t, rollouts, schemas.Rollouts, rows)
	q, err := queries.Load("pass_at_k")
	if err != nil {
		t.Fatal(err)
	}
	res, err := openEngine(t, l, nil).Query(ctx, q.SQL)
	if err != nil {
		t.Fatal(err)
	}
	binom := func(n, k int) *big.Float {
		if k < 0 || k > n {
			return new(big.Float)
		}
		return new(big.Float).SetInt(new(big.Int).Binomial(int64(n), int64(k)))
	}
	for _, row := range res.Rows {
		k := int(row[1].(int64))
		var sum float64
		var m int
		for _, tc := range tasks {
			if tc.n < k {
				continue
			}
			ratio, _ := new(big.Float).Quo(binom(tc.n-tc.c, k), binom(tc.n, k)).Float64()
			sum += 1 - ratio
			m++
		}
		want := math.Round(sum/float64(m)*1e4) / 1e4
		got, lo, hi := row[3].(float64), row[4].(float64), row[5].(float64)
		if row[2].(int64) != int64(m) || math.Abs(got-want) > 1e-9 {
			t.Errorf("k=%d: pass@k %v over %v tasks, want %v over %d", k, got, row[2], want, m)
		}
		if lo > got || hi < got || (m > 5 && hi-lo <= 0) {
			t.Errorf("k=%d: 95%% CI [%v, %v] around %v", k, lo, hi, got)
		}
	}
	if len(res.Rows) != 12 {
		t.Errorf("%d values of k, want 12 (the largest n)", len(res.Rows))
	}
}

// TestLatestRunViews: a table that stacks runs has latest_<table>, the rows
// of the run that committed last, as of the pinned snapshot; empty before
// any run.
func TestLatestRunViews(t *testing.T) {
	ctx := context.Background()
	l := laketest.New(t)
	e := openEngine(t, l, nil)
	if res, err := e.Query(ctx, "SELECT count(*) FROM latest_curation_drops"); err != nil || res.Rows[0][0].(int64) != 0 {
		t.Fatalf("no run yet: %v %v", res, err)
	}
	for _, run := range []string{"curate-b", "curate-a"} { // committed in this order: a is the latest, though it sorts first
		laketest.Append(t, l, schemas.CurationDrops, []schemas.CurationDrop{{CurationID: run, Rule: "reward", Dropped: 3, Input: 10},
			{CurationID: run, Rule: "loop", Dropped: 1, Input: 10}})
	}
	for pin, want := range map[int64]string{lake.Latest: "curate-a 2 4", 1: "curate-b 2 2"} {
		pins := map[string]int64{}
		if pin != lake.Latest {
			pins["curation_drops"] = pin
		}
		e := openEngine(t, l, pins)
		res, err := e.Query(ctx, "SELECT any_value(curation_id), count(*), (SELECT count(*) FROM curation_drops) FROM latest_curation_drops")
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintln(res.Rows[0]...); strings.TrimSpace(got) != want {
			t.Errorf("pinned at %d: latest run, its rows, all rows = %q, want %q", pin, got, want)
		}
	}
}

// TestCurriculumParams: the curricula's parameters change what they
// select, with values computed by hand from the fixture; an unknown
// parameter is an error naming the ones the query takes.
func TestCurriculumParams(t *testing.T) {
	ctx := context.Background()
	l := fixtureLake(t, objstore.NewMem(nil))
	e := openEngine(t, l, nil)
	bands := func(name string, set map[string]any) string {
		t.Helper()
		q, err := queries.Load(name)
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.Run(ctx, q, set)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		id, band := slices.Index(res.Columns, "task_id"), slices.Index(res.Columns, "band")
		for _, row := range res.Rows {
			out = append(out, fmt.Sprintf("%v=%v", row[id], row[band]))
		}
		return strings.Join(out, " ")
	}
	// loop-a's latest iteration ran rl-ckpt-2 (samples 0..7 on t-(i%4),
	// 0..5 resolved): t-0 and t-1 2/2, t-2 and t-3 1/2.
	if got, want := bands("curriculum_pass_rate", map[string]any{"loop_id": "loop-a"}), "t-0=solved t-1=solved t-2=learnable t-3=learnable"; got != want {
		t.Errorf("pass rate of loop-a: %s, want %s", got, want)
	}
	if got, want := bands("curriculum_pass_rate", map[string]any{"loop_id": "loop-a", "lo": 0.6}), "t-0=solved t-1=solved t-2=too_hard t-3=too_hard"; got != want {
		t.Errorf("pass rate of loop-a, lo 0.6: %s, want %s", got, want)
	}
	// Stage 1 = loop-a over three runs: t-0, t-1 4/6; t-2, t-3 2/6.
	if got, want := bands("curriculum_nebius_stage2", map[string]any{"hi": 0.5}), "t-0=too_easy t-1=too_easy t-2=stage2 t-3=stage2"; got != want {
		t.Errorf("nebius hi 0.5: %s, want %s", got, want)
	}
	// Run from loop-a itself, the latest other loop is loop-0 (run-a: r1 resolved, r2 not, r3 ungraded).
	if got, want := bands("curriculum_nebius_stage2", map[string]any{"loop_id": "loop-a"}), "swe-bench/django-1=stage2"; got != want {
		t.Errorf("nebius from loop-a: %s, want %s", got, want)
	}
	// run-rl-ckpt-2, sample i takes 10+i turns: t-0 resolved at 10 and 14
	// (12), t-1 11, 15 (13), t-2 12, t-3 13.
	if got, want := bands("curriculum_turn_bands", map[string]any{"run_id": "run-rl-ckpt-2", "easy_max": 12, "medium_max": 13}), "t-0=easy t-2=easy t-1=medium t-3=medium"; got != want {
		t.Errorf("turn bands: %s, want %s", got, want)
	}
	// run-rl-base resolved samples 0 and 1 only: t-2 and t-3 unsolved.
	if got, want := bands("curriculum_turn_bands", map[string]any{"run_id": "run-rl-base", "easy_max": 10}), "t-0=easy t-1=medium t-2=unsolved t-3=unsolved"; got != want {
		t.Errorf("turn bands of run-rl-base: %s, want %s", got, want)
	}
	q, _ := queries.Load("curriculum_nebius_stage2")
	if _, err := q.Args(map[string]any{"stage_1_loop": "x"}); err == nil || !strings.Contains(err.Error(), `unknown parameter "stage_1_loop" (did you mean stage1_loop?)`) {
		t.Errorf("unknown parameter: %v", err)
	}
}
