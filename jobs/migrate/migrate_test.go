package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/internal/tokref"
	"github.com/swelake/swelake/jobs/buildrl"
	"github.com/swelake/swelake/jobs/buildsft"
	"github.com/swelake/swelake/jobs/curate"
	"github.com/swelake/swelake/jobs/ingest"
	"github.com/swelake/swelake/jobs/ingest/formats"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/jobs/tables"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/queries"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/schemas/checkpointsv1"
	"github.com/swelake/swelake/schemas/rlsamplesv1"
	"github.com/swelake/swelake/schemas/rolloutsv2"
	"github.com/swelake/swelake/schemas/sftexamplesv1"
	"github.com/swelake/swelake/schemas/tasksv2"
)

// fixture is trajectories as the importers read them: native tool calls,
// <function=…> blocks and fenced commands, tools offered, format hints,
// exit strings of several scaffolds (OpenHands' max_iterations, SWE-agent's
// "submitted (exit_context)", R2E-Gym's agent), rewards, two samples of
// each task.
func fixture(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	exits := []string{"submitted", "max_iterations", "submitted (exit_context)", "agent", "", "exit_cost"}
	tools := `,"tools":[{"type":"function","function":{"name":"bash","description":"run a command","parameters":{"type":"object","properties":{"command":{"type":"string"}}}}}]`
	for i := range 12 {
		task := fmt.Sprintf("swe-bench/o__r-%d", i/2)
		var msgs string
		switch i % 3 {
		case 0:
			msgs = `{"role":"user","content":"fix it"},{"role":"assistant","content":"","tool_calls":[{"id":"c1","type":"function","function":{"name":"bash","arguments":"{\"command\":\"pytest -x\"}"}}]},{"role":"tool","tool_call_id":"c1","content":"1 failed"},{"role":"assistant","content":"","tool_calls":[{"id":"c2","type":"function","function":{"name":"submit","arguments":"{}"}}]}`
		case 1:
			msgs = `{"role":"user","content":"fix it"},{"role":"assistant","content":"<function=execute_bash>\n<parameter=command>git log -3</parameter>\n</function>"},{"role":"user","content":"You forgot to use a function call"},{"role":"assistant","content":"<function=submit>\n</function>"}`
		default:
			msgs = `{"role":"user","content":"fix it"},{"role":"assistant","content":"Looking.\n` + "```bash\\nls\\n```" + `"},{"role":"user","content":"a.py"},{"role":"assistant","content":"` + "```\\nsubmit\\n```" + `"}`
		}
		extra := ""
		if i%2 == 0 {
			extra = tools
		}
		fmt.Fprintf(&b, `{"rollout_id":"run-1/%s/%d","task_id":%q,"run_id":"run-1","policy":"qwen","messages":[%s],"reward":%d,"exit_reason":%q,"patch":"diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x\n+y%d\n","tokens":%d%s}`+"\n",
			task, i%2, task, msgs, i%2, exits[i%len(exits)], i, 500+i, extra)
	}
	path := filepath.Join(t.TempDir(), "chats.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// v2Lake is a lake whose rollouts table was created at schema v2 (every
// other table current).
func v2Lake(t *testing.T) *lake.Lake {
	t.Helper()
	ctx := context.Background()
	l := lake.Open(objstore.NewMem(nil), lake.Options{CacheDir: t.TempDir()})
	if err := l.Init(ctx); err != nil {
		t.Fatal(err)
	}
	rt, _ := l.Table(schemas.Rollouts.Name)
	if _, err := rt.Create(ctx, tables.Schema(rolloutsv2.Def), []string{"run_id"}, lake.Provenance{Job: "test"}); err != nil {
		t.Fatal(err)
	}
	_, err := tables.CreateTables(ctx, l, lake.Provenance{Job: "test"})
	if !errors.Is(err, lake.ErrSchemaMismatch) || !strings.Contains(err.Error(), "run swelake lake migrate rollouts") {
		t.Fatalf("creating the current tables beside rollouts v2: %v", err)
	}
	return l
}

// toV2 is a v3 row as schema v2 stored it: the source's exit string in
// exit_reason, forced as the importers guessed it, the raw bytes inline.
func toV2(t *testing.T, l *lake.Lake, r schemas.Rollout) rolloutsv2.Rollout {
	raw, err := l.ReadRaw(context.Background(), r.RawRef.SHA256, r.RawRef.Offset, r.RawRef.Length)
	if err != nil {
		t.Fatal(err)
	}
	return rolloutsv2.Rollout{RolloutID: r.RolloutID, TaskID: r.TaskID, RunID: r.RunID, Policy: r.Policy, SampleIdx: r.SampleIdx,
		Messages: r.Messages, NumTurns: r.NumTurns, Tokens: r.Tokens, ExitReason: r.ExitReasonRaw, Patch: r.Patch, Submitted: r.Submitted,
		Forced: strings.HasPrefix(r.ExitReasonRaw, "submitted ("), InfraError: r.InfraError, Reward: r.Reward, Resolved: r.Resolved,
		TestReport: r.TestReport, Source: r.Source, ContentHash: r.ContentHash, Raw: raw}
}

// TestMigrateRollouts: a v2 rollouts table (two appends) migrates to v3
// with nothing lost — every row, every column the same as ingesting its
// source into v3 gives, every raw byte — the v2 versions stay readable,
// every version verifies, a second migrate is a no-op, a re-ingest of the
// source finds every row a duplicate, and curate, build-sft and build-rl
// give the same outputs on the migrated table as on the ingested one.
func TestMigrateRollouts(t *testing.T) {
	if err := tokref.Check(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src := fixture(t)
	direct := laketest.New(t)
	if s, err := ingest.Run(ctx, direct, ingest.Config{Kind: formats.Rollouts, Format: "openai-chat", Paths: []string{src}}); err != nil || s.Ingested != 12 {
		t.Fatalf("ingest: %+v %v", s, err)
	}
	want := laketest.Rows[schemas.Rollout](t, direct, schemas.Rollouts.Name, lake.Latest)

	old := v2Lake(t)
	rt, _ := old.Table(schemas.Rollouts.Name)
	var v2 []rolloutsv2.Rollout
	for _, r := range want {
		v2 = append(v2, toV2(t, direct, r))
	}
	for _, part := range [][]rolloutsv2.Rollout{v2[:5], v2[5:]} {
		files, err := lake.WriteFiles(ctx, rt, tables.Spec(rolloutsv2.Def), lake.Slice(part), lake.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rt.Append(ctx, files, lake.Provenance{Job: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	// A v3 writer is refused until the table is migrated.
	if _, err := lake.WriteFiles(ctx, rt, tables.Spec(schemas.Rollouts), lake.Slice(want[:1]), lake.WriteOptions{}); !errors.Is(err, lake.ErrSchemaMismatch) {
		t.Fatalf("v3 rows into a v2 table: %v", err)
	}
	sum, err := Run(ctx, old, schemas.Rollouts.Name, lake.Provenance{}, nil)
	if err != nil || sum.Rows != 12 || sum.From != 2 || sum.To != 3 || sum.Version != 3 || sum.Base != 2 || sum.RawStored != 2 {
		t.Fatalf("migrate: %+v %v", sum, err)
	}
	if again, err := Run(ctx, old, schemas.Rollouts.Name, lake.Provenance{}, nil); err != nil || !again.Current || again.Version != -1 {
		t.Fatalf("second migrate: %+v %v", again, err)
	}
	if _, err := tables.CreateTables(ctx, old, lake.Provenance{Job: "test"}); err != nil {
		t.Fatalf("lake init after the migration: %v", err)
	}

	// Every row as ingesting its source into v3 gives it, raw bytes
	// included (only where they are stored differs).
	got := laketest.Rows[schemas.Rollout](t, old, schemas.Rollouts.Name, lake.Latest)
	byID := func(rs []schemas.Rollout) map[string]schemas.Rollout {
		m := map[string]schemas.Rollout{}
		for _, r := range rs {
			m[r.RolloutID] = r
		}
		return m
	}
	g, w := byID(got), byID(want)
	if len(g) != len(w) {
		t.Fatalf("%d rows after the migration, want %d", len(g), len(w))
	}
	forced := 0
	for id, wr := range w {
		gr := g[id]
		gotRaw, err := old.ReadRaw(ctx, gr.RawRef.SHA256, gr.RawRef.Offset, gr.RawRef.Length)
		if err != nil {
			t.Fatal(err)
		}
		wantRaw, _ := direct.ReadRaw(ctx, wr.RawRef.SHA256, wr.RawRef.Offset, wr.RawRef.Length)
		if string(gotRaw) != string(wantRaw) {
			t.Errorf("%s: raw %q, want %q", id, gotRaw, wantRaw)
		}
		gr.RawRef, wr.RawRef = schemas.RawRef{}, schemas.RawRef{}
		if !reflect.DeepEqual(gr, wr) {
			t.Errorf("%s:\n got  %+v\n want %+v", id, gr, wr)
		}
		if gr.Forced {
			forced++
		}
	}
	if forced != 6 { // max_iterations, exit_context and exit_cost, twice each: forced now
		t.Errorf("%d forced rows, want 6", forced)
	}

	// The v2 versions stay readable, in Go and in SQL, with their raw bytes.
	before := laketest.Rows[rolloutsv2.Rollout](t, old, schemas.Rollouts.Name, 2)
	if len(before) != 12 || !slices.ContainsFunc(before, func(r rolloutsv2.Rollout) bool { return len(r.Raw) > 0 }) {
		t.Fatalf("rollouts@2 after the migration: %d rows", len(before))
	}
	eng, err := queries.Open(ctx, queries.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if err := eng.Attach(ctx, old, map[string]int64{schemas.Rollouts.Name: 2}, tables.ParquetSchema); err != nil {
		t.Fatal(err)
	}
	res, err := eng.Query(ctx, "SELECT count(*), count(*) FILTER (WHERE octet_length(raw) > 0) FROM rollouts")
	if err != nil || fmt.Sprint(res.Rows) != "[[12 12]]" {
		t.Fatalf("SQL on rollouts@2: %v %v", res, err)
	}
	// Every version verifies: files and raw sources.
	for v := int64(0); v <= 3; v++ {
		s, _ := rt.Snapshot(ctx, v)
		if probs, err := rt.Verify(ctx, s, nil); err != nil || len(probs) != 0 {
			t.Fatalf("verify rollouts@%d: %v %v", v, probs, err)
		}
	}
	// Re-ingesting the source: every row is already there.
	if s, err := ingest.Run(ctx, old, ingest.Config{Kind: formats.Rollouts, Format: "openai-chat", Paths: []string{src}}); err != nil || s.Ingested != 0 || s.Duplicates != 12 || s.Conflicts != 0 {
		t.Fatalf("re-ingest after the migration: %+v %v", s, err)
	}

	// The training stages give the same outputs on both lakes.
	if a, b := trainingOutputs(t, direct), trainingOutputs(t, old); a != b {
		t.Fatalf("outputs differ:\n--- ingested into v3\n%s\n--- migrated from v2\n%s", a, b)
	} else {
		t.Logf("same curation, SFT and RL outputs:\n%s", a)
	}
}

// trainingOutputs runs curate, build-sft and build-rl and renders what
// they wrote, ids of runs aside.
func trainingOutputs(t *testing.T, l *lake.Lake) string {
	t.Helper()
	ctx := context.Background()
	env := &stage.Env{Lake: l}
	cc := curate.Job.Defaults()
	mixed := false
	cc.Difficulty.Mixed, cc.TokenizerDir = &mixed, tokref.DefaultTokenizerDir()
	if _, err := curate.Job.Execute(ctx, env, cc); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, c := range laketest.Rows[schemas.Curation](t, l, schemas.Curations.Name, lake.Latest) {
		fmt.Fprintf(&b, "curation %s kept=%v %v %q\n", c.RolloutID, c.Kept, c.DroppedBy, c.Reasons)
	}
	sc := buildsft.Job.Defaults()
	sc.TokenizerDir, sc.ValidationFrac, sc.Input = tokref.DefaultTokenizerDir(), -1, "rollouts"
	if _, err := buildsft.Job.Execute(ctx, env, sc); err != nil {
		t.Fatal(err)
	}
	for _, e := range laketest.Rows[schemas.SFTExample](t, l, schemas.SFTExamples.Name, lake.Latest) {
		fmt.Fprintf(&b, "sft %v %d tokens %d loss tokens tools %d bytes\n", e.RolloutIDs, e.NumTokens, e.NumLossTokens, len(e.Tools))
	}
	rc := buildrl.Job.Defaults()
	rc.TokenizerDir = tokref.DefaultTokenizerDir()
	if _, err := buildrl.Job.Execute(ctx, env, rc); err != nil {
		t.Fatal(err)
	}
	for _, s := range laketest.Rows[schemas.RLSample](t, l, schemas.RLSamples.Name, lake.Latest) {
		fmt.Fprintf(&b, "rl %s %s raw=%v shaped=%v %s adv=%.4f %d tokens\n", s.RolloutID, s.ExitReason, s.RewardRaw, s.RewardShaped, s.Shaping, s.Advantage, s.NumTokens)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TestMigrateLakeWrittenByV2: a lake the previous release wrote (swelake
// 4434e1b: `lake init`, then `ingest rollouts --format openai-chat
// testdata/v2lake-source.jsonl`; kept in testdata/v2lake) migrates: its
// recorded schema is recognised as v2, every row keeps its content hash
// (re-ingesting the source finds four duplicates and no conflict), the raw
// bytes are the source's lines, exit reasons are normalised, the v2
// version stays readable, and curation runs on it.
func TestMigrateLakeWrittenByV2(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "lake")
	if err := os.CopyFS(dir, os.DirFS("testdata/v2lake")); err != nil {
		t.Fatal(err)
	}
	b, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	l := lake.Open(b, lake.Options{CacheDir: t.TempDir()})
	if _, err := tables.CreateTables(ctx, l, lake.Provenance{Job: "test"}); !errors.Is(err, lake.ErrSchemaMismatch) {
		t.Fatalf("a v2 lake before migrating: %v", err)
	}
	sum, err := Run(ctx, l, schemas.Rollouts.Name, lake.Provenance{}, nil)
	if err != nil || sum.Rows != 4 || sum.From != 2 || sum.Version != 2 {
		t.Fatalf("migrate: %+v %v", sum, err)
	}
	// (That lake's rl_samples is at v1: migrated too, empty.)
	if s, err := Run(ctx, l, schemas.RLSamples.Name, lake.Provenance{}, nil); err != nil || s.From != 1 || s.To != 2 {
		t.Fatalf("migrate rl_samples: %+v %v", s, err)
	}
	// (And its checkpoints at v1.)
	if s, err := Run(ctx, l, schemas.Checkpoints.Name, lake.Provenance{}, nil); err != nil || s.From != 1 || s.To != 2 {
		t.Fatalf("migrate checkpoints: %+v %v", s, err)
	}
	// (And its verifier_scores at v1.)
	if s, err := Run(ctx, l, schemas.VerifierScores.Name, lake.Provenance{}, nil); err != nil || s.From != 1 || s.To != 2 {
		t.Fatalf("migrate verifier_scores: %+v %v", s, err)
	}
	// (And its sft_examples at v1.)
	if s, err := Run(ctx, l, schemas.SFTExamples.Name, lake.Provenance{}, nil); err != nil || s.From != 1 || s.To != 2 {
		t.Fatalf("migrate sft_examples: %+v %v", s, err)
	}
	// (And its tasks at v2.)
	if s, err := Run(ctx, l, schemas.Tasks.Name, lake.Provenance{}, nil); err != nil || s.From != 2 || s.To != 3 {
		t.Fatalf("migrate tasks: %+v %v", s, err)
	}
	src, err := os.ReadFile("testdata/v2lake-source.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(src)), "\n")
	var got []string
	for _, r := range laketest.Rows[schemas.Rollout](t, l, schemas.Rollouts.Name, lake.Latest) {
		raw, err := l.ReadRaw(ctx, r.RawRef.SHA256, r.RawRef.Offset, r.RawRef.Length)
		if err != nil || !slices.Contains(lines, string(raw)) {
			t.Fatalf("%s: raw %q is not a line of the source: %v", r.RolloutID, raw, err)
		}
		got = append(got, fmt.Sprintf("%s %s/%s forced=%v actions=%d format_errors=%d tools=%v", r.RolloutID, r.ExitReasonRaw, r.ExitReason, r.Forced, len(r.Actions), len(r.FormatErrors), r.Tools != ""))
	}
	slices.Sort(got)
	want := []string{
		"run-1/t-1/0 submitted/submitted forced=false actions=2 format_errors=0 tools=true",
		"run-1/t-1/1 max_iterations/step_cap forced=true actions=2 format_errors=1 tools=false",
		"run-1/t-2/0 submitted (exit_context)/context_overflow forced=true actions=2 format_errors=0 tools=false",
		"run-2/t-2/1 exit_cost/cost_cap forced=true actions=1 format_errors=0 tools=false",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("migrated rows:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if v1 := laketest.Rows[rolloutsv2.Rollout](t, l, schemas.Rollouts.Name, 1); len(v1) != 4 || len(v1[0].Raw) == 0 {
		t.Fatalf("rollouts@1 (v2) after the migration: %d rows", len(v1))
	}
	if s, err := ingest.Run(ctx, l, ingest.Config{Kind: formats.Rollouts, Format: "openai-chat", Paths: []string{"testdata/v2lake-source.jsonl"}}); err != nil || s.Duplicates != 4 || s.Conflicts != 0 {
		t.Fatalf("re-ingest after the migration: %+v %v", s, err)
	}
	cc := curate.Job.Defaults()
	mixed := false
	cc.Difficulty.Mixed, cc.Rules = &mixed, []string{"reward", "step_cap", "git_hacking", "format_hint"}
	cs, err := curate.Job.Execute(ctx, &stage.Env{Lake: l}, cc)
	if err != nil || cs.Input != 4 || cs.Kept != 1 {
		t.Fatalf("curate on the migrated lake: %+v %v", cs, err)
	}
}

// TestMigrateRLSamples: an rl_samples table written at schema v1 (no
// reward source) is refused to v2 writers until migrated; the migration
// keeps every row and column and records the reward as execution's.
func TestMigrateRLSamples(t *testing.T) {
	ctx := context.Background()
	l := lake.Open(objstore.NewMem(nil), lake.Options{CacheDir: t.TempDir()})
	if err := l.Init(ctx); err != nil {
		t.Fatal(err)
	}
	rt, _ := l.Table(schemas.RLSamples.Name)
	if _, err := rt.Create(ctx, tables.Schema(rlsamplesv1.Def), []string{"batch_id"}, lake.Provenance{Job: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tables.CreateTables(ctx, l, lake.Provenance{Job: "test"}); !errors.Is(err, lake.ErrSchemaMismatch) ||
		!strings.Contains(err.Error(), "run swelake lake migrate rl_samples") {
		t.Fatalf("creating the current tables beside rl_samples v1: %v", err)
	}
	pr := 0.5
	v1 := []rlsamplesv1.RLSample{
		{BatchID: "rl-1-a", GroupID: "t1", RolloutID: "r1", TaskID: "t1", RewardRaw: 1, RewardShaped: 0.5, Shaping: "forced_submission", Advantage: 0.25,
			Estimator: "rloo", MaskRule: "assistant", InBaseline: true, NumTokens: 3, PassRate: &pr, InputIDs: []int32{1, 2, 3}, LossMask: []int32{0, 1, 1}},
		{BatchID: "rl-1-a", GroupID: "t1", RolloutID: "r2", TaskID: "t1", RewardRaw: 0, Advantage: -0.25, Estimator: "rloo", MaskRule: "zero:infra_error"},
	}
	files, err := lake.WriteFiles(ctx, rt, tables.Spec(rlsamplesv1.Def), lake.Slice(v1), lake.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Append(ctx, files, lake.Provenance{Job: "test"}); err != nil {
		t.Fatal(err)
	}
	sum, err := Run(ctx, l, schemas.RLSamples.Name, lake.Provenance{}, nil)
	if err != nil || sum.Rows != 2 || sum.From != 1 || sum.To != 2 || sum.Version != 2 {
		t.Fatalf("migrate: %+v %v", sum, err)
	}
	if again, err := Run(ctx, l, schemas.RLSamples.Name, lake.Provenance{}, nil); err != nil || !again.Current {
		t.Fatalf("second migrate: %+v %v", again, err)
	}
	got := laketest.Rows[schemas.RLSample](t, l, schemas.RLSamples.Name, lake.Latest)
	slices.SortFunc(got, func(a, b schemas.RLSample) int { return strings.Compare(a.RolloutID, b.RolloutID) })
	for i, r := range got {
		want := ConvertRLSample(v1[i])
		for _, s := range []*schemas.RLSample{&r, &want} { // (empty and missing lists read back alike)
			if len(s.InputIDs) == 0 {
				s.InputIDs, s.LossMask = nil, nil
			}
		}
		if !reflect.DeepEqual(r, want) || r.RewardSource != "execution" || *r.RewardExecution != v1[i].RewardRaw {
			t.Errorf("row %d after the migration:\n%+v\nwant\n%+v", i, r, want)
		}
	}
	if _, err := tables.CreateTables(ctx, l, lake.Provenance{Job: "test"}); err != nil {
		t.Fatalf("lake init after the migration: %v", err)
	}
}

// TestMigrateCheckpoints: checkpoints v1 (SFT checkpoints) → v2 (the RL
// loop's columns, zero for them): every row kept, the lake usable after.
func TestMigrateCheckpoints(t *testing.T) {
	ctx := context.Background()
	l := lake.Open(objstore.NewMem(nil), lake.Options{CacheDir: t.TempDir()})
	if err := l.Init(ctx); err != nil {
		t.Fatal(err)
	}
	ct, _ := l.Table(schemas.Checkpoints.Name)
	if _, err := ct.Create(ctx, tables.Schema(checkpointsv1.Def), nil, lake.Provenance{Job: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tables.CreateTables(ctx, l, lake.Provenance{Job: "test"}); !errors.Is(err, lake.ErrSchemaMismatch) ||
		!strings.Contains(err.Error(), "run swelake lake migrate checkpoints") {
		t.Fatalf("creating the current tables beside checkpoints v1: %v", err)
	}
	v1 := []checkpointsv1.Checkpoint{{Model: "m-12k", SFTSetID: "sft-a", BaseModel: "Qwen", Notes: "12k"}, {Model: "m-48k", SFTSetID: "sft-b"}}
	files, err := lake.WriteFiles(ctx, ct, tables.Spec(checkpointsv1.Def), lake.Slice(v1), lake.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ct.Append(ctx, files, lake.Provenance{Job: "test"}); err != nil {
		t.Fatal(err)
	}
	sum, err := Run(ctx, l, schemas.Checkpoints.Name, lake.Provenance{}, nil)
	if err != nil || sum.Rows != 2 || sum.From != 1 || sum.To != 2 {
		t.Fatalf("migrate: %+v %v", sum, err)
	}
	got := laketest.Rows[schemas.Checkpoint](t, l, schemas.Checkpoints.Name, lake.Latest)
	slices.SortFunc(got, func(a, b schemas.Checkpoint) int { return strings.Compare(a.Model, b.Model) })
	want := []schemas.Checkpoint{{Model: "m-12k", SFTSetID: "sft-a", BaseModel: "Qwen", Notes: "12k"}, {Model: "m-48k", SFTSetID: "sft-b"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after the migration: %+v, want %+v", got, want)
	}
	if _, err := tables.CreateTables(ctx, l, lake.Provenance{Job: "test"}); err != nil {
		t.Fatalf("lake init after the migration: %v", err)
	}
}

// TestMigrateSFTExamples: sft_examples v1 → v2 (the kind column): every
// row kept, each a trajectory example, the lake usable after.
func TestMigrateSFTExamples(t *testing.T) {
	ctx := context.Background()
	l := lake.Open(objstore.NewMem(nil), lake.Options{CacheDir: t.TempDir()})
	if err := l.Init(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := l.Table(schemas.SFTExamples.Name)
	if _, err := st.Create(ctx, tables.Schema(sftexamplesv1.Def), []string{"set_id"}, lake.Provenance{Job: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tables.CreateTables(ctx, l, lake.Provenance{Job: "test"}); !errors.Is(err, lake.ErrSchemaMismatch) ||
		!strings.Contains(err.Error(), "run swelake lake migrate sft_examples") {
		t.Fatalf("creating the current tables beside sft_examples v1: %v", err)
	}
	v1 := []sftexamplesv1.SFTExample{
		{SetID: "sft-a", ExampleID: "ex-1", Split: "train", RolloutIDs: []string{"r1"}, TaskID: "t1", InputIDs: []int32{1, 2, 3}, LossMask: []int32{0, 1, 1}, NumTokens: 3, NumLossTokens: 2,
			Messages: []schemas.Message{{Role: "user", Content: "fix it"}, {Role: "assistant", Content: "done"}}, Weights: []int32{0, 1}},
		{SetID: "sft-a", ExampleID: "ex-2", Split: "validation", RolloutIDs: []string{"r2"}, Truncated: true},
	}
	files, err := lake.WriteFiles(ctx, st, tables.Spec(sftexamplesv1.Def), lake.Slice(v1), lake.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, files, lake.Provenance{Job: "test"}); err != nil {
		t.Fatal(err)
	}
	sum, err := Run(ctx, l, schemas.SFTExamples.Name, lake.Provenance{}, nil)
	if err != nil || sum.Rows != 2 || sum.From != 1 || sum.To != 2 {
		t.Fatalf("migrate: %+v %v", sum, err)
	}
	got := laketest.Rows[schemas.SFTExample](t, l, schemas.SFTExamples.Name, lake.Latest)
	slices.SortFunc(got, func(a, b schemas.SFTExample) int { return strings.Compare(a.ExampleID, b.ExampleID) })
	if len(got) != 2 || got[0].Kind != "trajectory" || got[1].Kind != "trajectory" || !reflect.DeepEqual(got[0].InputIDs, []int32{1, 2, 3}) ||
		got[0].Messages[1].Content != "done" || !got[1].Truncated || got[1].Split != "validation" {
		t.Fatalf("after the migration: %+v", got)
	}
	if _, err := tables.CreateTables(ctx, l, lake.Provenance{Job: "test"}); err != nil {
		t.Fatalf("lake init after the migration: %v", err)
	}
}

// TestMigrateTasks: tasks v2 → v3 (the test-runner spec and the extra test
// classes): every row and column kept, the content hash unchanged — and
// the same hash TaskHash gives the v3 row, so re-ingesting the source
// after the migration is still a no-op.
func TestMigrateTasks(t *testing.T) {
	ctx := context.Background()
	l := lake.Open(objstore.NewMem(nil), lake.Options{CacheDir: t.TempDir()})
	if err := l.Init(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := l.Table(schemas.Tasks.Name)
	if _, err := st.Create(ctx, tables.Schema(tasksv2.Def), []string{"source"}, lake.Provenance{Job: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tables.CreateTables(ctx, l, lake.Provenance{Job: "test"}); !errors.Is(err, lake.ErrSchemaMismatch) ||
		!strings.Contains(err.Error(), "run swelake lake migrate tasks") {
		t.Fatalf("creating the current tables beside tasks v2: %v", err)
	}
	v2 := []tasksv2.Task{
		{TaskID: "swe-bench/a__b-1", Source: "swe-bench", InstanceID: "a__b-1", Repo: "a/b", BaseCommit: "abc", ProblemStatement: "it breaks",
			GoldPatch: "diff --git a/x b/x\n", FailToPass: []string{"t::one"}, PassToPass: []string{"t::two"}, Language: "python", Raw: []byte(`{"instance_id":"a__b-1"}`)},
		{TaskID: "r2e-gym/img", Source: "r2e-gym", InstanceID: "img", ExpectedPass: []string{"t::x"}},
	}
	for i := range v2 {
		v3 := ConvertTask(v2[i])
		v2[i].ContentHash = schemas.TaskHash(&v3)
	}
	files, err := lake.WriteFiles(ctx, st, tables.Spec(tasksv2.Def), lake.Slice(v2), lake.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, files, lake.Provenance{Job: "test"}); err != nil {
		t.Fatal(err)
	}
	sum, err := Run(ctx, l, schemas.Tasks.Name, lake.Provenance{}, nil)
	if err != nil || sum.Rows != 2 || sum.From != 2 || sum.To != 3 {
		t.Fatalf("migrate: %+v %v", sum, err)
	}
	got := laketest.Rows[schemas.Task](t, l, schemas.Tasks.Name, lake.Latest)
	slices.SortFunc(got, func(a, b schemas.Task) int { return strings.Compare(b.TaskID, a.TaskID) })
	if len(got) != 2 || got[0].Repo != "a/b" || !reflect.DeepEqual(got[0].PassToPass, []string{"t::two"}) || string(got[0].Raw) != `{"instance_id":"a__b-1"}` ||
		got[0].EvalScript != "" || len(got[0].SkipToPass) != 0 || !reflect.DeepEqual(got[1].ExpectedPass, []string{"t::x"}) {
		t.Fatalf("after the migration: %+v", got)
	}
	for _, task := range got {
		if want := schemas.TaskHash(&task); task.ContentHash != want {
			t.Fatalf("%s: content hash %s after the migration, TaskHash says %s", task.TaskID, task.ContentHash, want)
		}
	}
	if _, err := tables.CreateTables(ctx, l, lake.Provenance{Job: "test"}); err != nil {
		t.Fatalf("lake init after the migration: %v", err)
	}
}
