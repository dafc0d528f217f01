//go:build conformance

package ingest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/swelake/swelake/internal/realsamples"
	"github.com/swelake/swelake/jobs/ingest/formats"
)

// TestConformance ingests every file of ../shared/realdata that is a task
// set, a trajectory or a grading report, auto-detected, and checks the
// counts, formats and statuses.
func TestConformance(t *testing.T) {
	ctx := context.Background()
	rd := realsamples.Dir(t)
	l := newLake(t)
	for _, tc := range []struct {
		kind     formats.Kind
		paths    []string
		formats  map[string]int
		ingested int64
		skipped  int
		statuses map[string]int
	}{
		{formats.Tasks, []string{"tasks"}, map[string]int{"swe-bench": 2, "swe-rebench": 2, "swe-smith": 1}, 9, 0, nil},
		{formats.Rollouts, []string{"trajectories", "sft", "reports/openhands-llm-completions"},
			map[string]int{"swe-agent": 2, "mini-swe-agent": 1, "r2e-gym": 1, "openrlhf": 1, "swe-smith": 1, "openhands-completions": 1}, 10, 0, nil},
		{formats.Reports, []string{"reports"}, map[string]int{"openhands-eval-log": 5, "swe-smith-report": 2, "swe-smith-validation": 1}, 8, 4,
			map[string]int{"resolved": 6, "unresolved": 2}},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			var paths []string
			for _, p := range tc.paths {
				paths = append(paths, filepath.Join(rd, p))
			}
			s, err := Run(ctx, l, Config{Kind: tc.kind, Format: "auto", Paths: paths, Strict: true})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(s.Formats) != fmt.Sprint(tc.formats) || s.Ingested != tc.ingested || s.Quarantined != 0 || len(s.SkippedFiles) != tc.skipped ||
				tc.statuses != nil && fmt.Sprint(s.Statuses) != fmt.Sprint(tc.statuses) {
				t.Fatalf("got formats %v ingested %d quarantined %d skipped %v statuses %v", s.Formats, s.Ingested, s.Quarantined, s.SkippedFiles, s.Statuses)
			}
			t.Logf("%s: %d files, read %d, ingested %d, formats %v, statuses %v, skipped %d", tc.kind, s.Files, s.Read, s.Ingested, s.Formats, s.Statuses, len(s.SkippedFiles))
			// Ingesting it again is a no-op.
			again, err := Run(ctx, l, Config{Kind: tc.kind, Format: "auto", Paths: paths})
			if err != nil || again.Ingested != 0 || again.Duplicates != tc.ingested || again.Version != -1 {
				t.Fatalf("re-ingest: %+v %v", again, err)
			}
		})
	}

	// Traps, checked on what landed.
	checks := []struct{ name, sql, want string }{
		{"F2P as a JSON string (Verified row)", "SELECT len(fail_to_pass) FROM tasks WHERE task_id = 'swe-bench/astropy__astropy-12907'", "[[2]]"},
		{"F2P as lists (Lite)", "SELECT len(fail_to_pass) FROM tasks WHERE task_id = 'swe-bench/django__django-16255'", "[[1]]"},
		{"rebench V2 created_at int ms", "SELECT strftime(created_at, '%Y-%m-%d') FROM tasks WHERE task_id = 'swe-rebench/unidata__netcdf-c-1925'", "[[2020-12-30]]"},
		{"rebench V2 test_cmd list", "SELECT test_cmd FROM tasks WHERE task_id = 'swe-rebench/unidata__netcdf-c-1925'", "[[make check]]"},
		{"rebench v1 test_cmd string", "SELECT starts_with(test_cmd, 'pytest') FROM tasks WHERE task_id = 'swe-rebench/fair-workflows__nanopub-140'", "[[true]]"},
		{"swe-smith bug patch and its inverse", "SELECT length(bug_patch) > 0 AND length(gold_patch) = length(bug_patch) FROM tasks WHERE source = 'swe-smith'", "[[true]]"},
		{"SWE-agent 1.0.1 tool calls", "SELECT count(*) FILTER (WHERE len(m.tool_calls) > 0) > 0 FROM rollouts, UNNEST(messages) t(m) WHERE task_id = 'swe-smith/pandas-dev__pandas.95280573.pr_53856'", "[[true]]"},
		{"R2E-Gym rewards", "SELECT list(reward ORDER BY rollout_id) FROM rollouts WHERE source = 'r2e-gym'", "[[[1 0]]]"},
		{"SWE-smith resolved although patch_successfully_applied=false", "SELECT status, patch_applied FROM evaluations WHERE task_id = 'swe-smith/getmoto__moto.694ce1f4.pr_7331'", "[[resolved true]]"},
		{"OpenHands Python-repr report", "SELECT status FROM evaluations WHERE task_id = 'swe-bench/astropy__astropy-13033'", "[[unresolved]]"},
		{"rollouts join their tasks", "SELECT list(task_id ORDER BY task_id) FROM tasks JOIN rollouts USING (task_id)",
			"[[[swe-rebench/fair-workflows__nanopub-140 swe-smith/pandas-dev__pandas.95280573.pr_53652]]]"},
		{"rollouts join their evaluations", "SELECT list(e.status ORDER BY task_id) FROM rollouts JOIN evaluations e USING (task_id)", "[[[resolved unresolved]]]"},
	}
	for _, c := range checks {
		res := query(t, l, c.sql)
		if got := fmt.Sprint(res.Rows); got != c.want {
			t.Errorf("%s: %s = %s, want %s", c.name, c.sql, got, c.want)
		}
	}
}

// TestConformanceExitReasons: every rollouts importer's exit strings, on
// the real files of ../shared/realdata, map to the closed set with the
// source's string kept; forced follows; the actions are found in every
// scaffold's encoding (mini-swe-agent's ```mswea_bash_command fences
// included: the v2 SQL found none in that file, so its submitted run was
// dropped as "no actions"; and its legacy format's submission is its last
// command's marker, not the last message, which is the diff); each row's
// raw bytes are its source's, a plain file being its own raw source.
func TestConformanceExitReasons(t *testing.T) {
	ctx := context.Background()
	rd := realsamples.Dir(t)
	l := newLake(t)
	var paths []string
	for _, p := range []string{"trajectories", "sft", "reports/openhands-llm-completions", "datasets/openhands_v0_eval_output"} {
		paths = append(paths, filepath.Join(rd, p))
	}
	if _, err := Run(ctx, l, Config{Kind: formats.Rollouts, Format: "auto", Paths: paths, Strict: true}); err != nil {
		t.Fatal(err)
	}
	res := query(t, l, `SELECT source, exit_reason_raw, exit_reason, forced, submitted, count(*), sum(len(actions)),
		sum(len(list_filter(actions, a -> a.submit))) FROM rollouts GROUP BY ALL ORDER BY ALL`)
	// (The OpenHands V0 row's 23 actions: its recall event, the user's
	// workspace-context lookup, is not an agent action — it was counted as
	// one before issue 21.)
	want := `[[mini-swe-agent  submitted false true 1 10 1] [openhands  unknown false false 1 3 0] [openhands finished submitted false true 1 23 1] ` +
		`[openrlhf  unknown false false 1 76 1] [r2e-gym agent submitted false true 2 52 2] [swe-agent submitted submitted false true 2 29 3] ` +
		`[swe-smith  unknown false false 3 103 6]]`
	if got := fmt.Sprint(res.Rows); got != want {
		t.Fatalf("exit reasons on the real files:\n got %s\nwant %s", got, want)
	}
	// Raw bytes: a .traj file is one record, its own source.
	for _, name := range []string{"swe-agent-legacy.traj", "r2e-gym-2.jsonl"} {
		data, err := os.ReadFile(filepath.Join(rd, "trajectories", name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		res := query(t, l, fmt.Sprintf("SELECT raw_ref.sha256, raw_ref.offset, raw_ref.length FROM rollouts WHERE raw_ref.sha256 = '%x' ORDER BY raw_ref.offset", sum))
		if len(res.Rows) == 0 {
			t.Fatalf("%s: no row points at the file's sha256 %x", name, sum)
		}
		for _, r := range res.Rows {
			off, n := r[1].(int64), r[2].(int64)
			got, err := l.ReadRaw(ctx, r[0].(string), off, n)
			if err != nil || string(got) != string(data[off:off+n]) {
				t.Fatalf("%s: raw bytes at %d+%d differ from the file: %v", name, off, n, err)
			}
		}
	}
}

// realSamples: every file of ../shared/realdata users would import, with
// the one format that must accept it ("" : none of any kind).
var realSamples = []struct{ path, kind, format string }{
	{"tasks/swe-bench-lite-5.json", "tasks", "swe-bench"},
	{"tasks/swe-bench-verified-row-jsonstring-f2p.json", "tasks", "swe-bench"},
	{"tasks/swe-rebench-v1-row.json", "tasks", "swe-rebench"},
	{"tasks/swe-rebench-v2-row.json", "tasks", "swe-rebench"},
	{"tasks/swe-smith-task.json", "tasks", "swe-smith"},
	{"swe-tasks/pallets__flask-4045/row.json", "tasks", "swe-bench"},
	{"swe-tasks/falconry__falcon-2254/row.json", "tasks", "swe-rebench"},
	{"trajectories/mini-swe-agent-legacy.traj.json", "rollouts", "mini-swe-agent"},
	{"trajectories/r2e-gym-2.jsonl", "rollouts", "r2e-gym"},
	{"trajectories/swe-agent-1.0.1.traj", "rollouts", "swe-agent"},
	{"trajectories/swe-agent-legacy.traj", "rollouts", "swe-agent"},
	{"sft/openrlhf-input-1.jsonl", "rollouts", "openrlhf"},
	{"sft/swe-smith-ft-xml-3.jsonl", "rollouts", "swe-smith"},
	{"reports/openhands-llm-completions/litellm_proxy__claude-3-5-sonnet-20241022-1733339377.211651.json", "rollouts", "openhands-completions"},
	{"reports/openhands-eval-logs/instance_astropy__astropy-12907.log", "reports", "openhands-eval-log"},
	{"reports/openhands-eval-logs/instance_django__django-11133.log", "reports", "openhands-eval-log"},
	{"reports/swe-smith-instance/getmoto__moto.694ce1f4.pr_7331.report.json", "reports", "swe-smith-report"},
	{"reports/swe-smith-validation-report.json", "reports", "swe-smith-validation"},
	{"reports/openhands-metadata.json", "", ""},
	{"curation/bon-stats-smith-200.jsonl", "", ""},
	{"datasets/nebius_swe_agent_trajectories/sample_raw.json", "rollouts", "nebius-swe-agent"},
	{"datasets/openhands_feedback_v0/sample_raw.first2.json", "rollouts", "openhands-feedback"},
	{"datasets/openhands_v0_eval_output/output.first1.jsonl", "rollouts", "openhands"},
	{"datasets/openhands_v1_sdk_events/events.jsonl", "rollouts", "openhands-v1-events"},
	{"datasets/openhands_v1_sdk_events/base_state.v1_11_5_cli_default.json", "rollouts", "openhands-v1-events"},
	{"datasets/swe_bench_pro/eval_results.gpt-4o-paper.json", "reports", "swe-bench-pro-results"},
	{"datasets/swe_bench_pro/instance_info.NodeBB-00c70ce7.txt", "tasks", "swe-bench-pro-instance"},
	{"datasets/multi_swe_bench/patch.openhands_example.jsonl", "reports", "multi-swe-bench-predictions"},
	{"datasets/multi_swe_bench/pi_raw_dataset.jsonl", "tasks", "multi-swe-bench"},
}

// sameLayout are the formats that share another's layout by design (named
// with --format only; docs/formats.md says so): they accept its files.
var sameLayout = map[string][]string{
	"tasks/swe-gym":                 {"tasks/swe-bench"},
	"reports/swe-rebench-v2-report": {"reports/swe-bench-report", "reports/swe-smith-report"},
}

// TestConformanceEveryDecoder feeds every sample of ../shared/realdata to
// every decoder of every kind, the way ingest would — auto-detected, and
// forced with --format (the signature check, then the decoder on the
// file's first record) — and checks that exactly the right one accepts it.
// A base_state.json alone is a conversation without events: its format
// takes it (detection), its decoder refuses it (no events).
func TestConformanceEveryDecoder(t *testing.T) {
	ctx := context.Background()
	rd := realsamples.Dir(t)
	db := newEngineDB(t)
	for _, s := range realSamples {
		file := filepath.Join(rd, s.path)
		lay, err := layoutOf(file)
		if err != nil {
			t.Fatal(err)
		}
		first, err := firstRecord(ctx, db, file, lay, DefaultMaxRecordBytes)
		if err != nil || len(first) == 0 {
			t.Fatalf("%s: no first record: %v", s.path, err)
		}
		probe := formats.NewProbe(filepath.Base(file), first)
		want := s.kind + "/" + s.format
		for _, kind := range []formats.Kind{formats.Tasks, formats.Rollouts, formats.Reports} {
			got, err := formats.Detect(kind, probe)
			switch {
			case string(kind) == s.kind && (err != nil || got.Name != s.format):
				t.Errorf("%s: detected as %s %v, want %s", s.path, nameOf(got), err, want)
			case string(kind) != s.kind && err == nil:
				t.Errorf("%s: detected as %s/%s, want no %s format", s.path, kind, got.Name, kind)
			}
		}
		var accepted []string
		for _, f := range formats.All() {
			id := string(f.Kind) + "/" + f.Name
			if _, err := pickFormat(f.Kind, f, probe, true); err != nil {
				continue // --format refused before any row is read
			}
			rec := formats.Record{File: file, Data: first}
			if f.Unit == formats.UnitDir {
				rec = formats.Record{File: filepath.Dir(file), Offset: -1, Group: []formats.Record{{File: file, Data: mustRead(t, file)}}}
			} else if f.Unit == formats.UnitFile {
				rec.Data = mustRead(t, file)
			}
			if _, err := f.Decode(&rec, formats.Options{}); err != nil {
				if id == want && !strings.Contains(s.path, "base_state") {
					t.Errorf("%s: its own format %s refuses it: %v", s.path, id, err)
				}
				continue
			}
			if id != want && !slices.Contains(sameLayout[id], want) {
				accepted = append(accepted, id)
			}
		}
		if len(accepted) > 0 {
			t.Errorf("%s (%s): also accepted by %v", s.path, want, accepted)
		}
	}
}

func nameOf(f *formats.Format) string {
	if f == nil {
		return "nothing"
	}
	return string(f.Kind) + "/" + f.Name
}

func mustRead(t *testing.T, path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func newEngineDB(t *testing.T) *sql.DB {
	conn, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestConformanceDatasets imports the samples of the public datasets in
// ../shared/realdata/datasets, auto-detected, and checks what landed:
// counts, patch, resolved, exit reason, tools and turns, per dataset.
func TestConformanceDatasets(t *testing.T) {
	ctx := context.Background()
	rd := filepath.Join(realsamples.Dir(t), "datasets")
	l := newLake(t)
	for _, tc := range []struct {
		kind    formats.Kind
		paths   []string
		formats map[string]int
		rows    int64
	}{
		{formats.Rollouts, []string{"nebius_swe_agent_trajectories", "openhands_feedback_v0", "openhands_v0_eval_output", "openhands_v1_sdk_events"},
			map[string]int{"nebius-swe-agent": 1, "openhands-feedback": 1, "openhands": 1, "openhands-v1-events": 1}, 9},
		{formats.Tasks, []string{"swe_bench_pro/instance_info.NodeBB-00c70ce7.txt", "multi_swe_bench/pi_raw_dataset.jsonl"},
			map[string]int{"swe-bench-pro-instance": 1, "multi-swe-bench": 1}, 3},
		{formats.Reports, []string{"swe_bench_pro/eval_results.gpt-4o-paper.json", "multi_swe_bench/patch.openhands_example.jsonl"},
			map[string]int{"swe-bench-pro-results": 1, "multi-swe-bench-predictions": 1}, 622},
	} {
		var paths []string
		for _, p := range tc.paths {
			paths = append(paths, filepath.Join(rd, p))
		}
		s, err := Run(ctx, l, Config{Kind: tc.kind, Format: "auto", Paths: paths, Strict: true})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(s.Formats) != fmt.Sprint(tc.formats) || s.Ingested != tc.rows || s.Quarantined != 0 {
			t.Fatalf("%s: formats %v ingested %d quarantined %d skipped %v", tc.kind, s.Formats, s.Ingested, s.Quarantined, s.SkippedFiles)
		}
		t.Logf("%s: %d files, ingested %d, formats %v, statuses %v", tc.kind, s.Files, s.Ingested, s.Formats, s.Statuses)
	}
	checks := []struct{ name, sql, want string }{
		// nebius/SWE-agent-trajectories: roles system/user/ai, the system
		// prompt from system_prompt, target → resolved, generated_patch.
		{"nebius SWE-agent", `SELECT count(*), bool_and(resolved), bool_and(submitted), bool_and(length(patch) > 0), min(exit_reason), sum(num_turns),
			bool_and(messages[1].role = 'system' AND length(messages[1].content) > 1000), bool_and(list_contains(list_transform(messages, m -> m.role), 'assistant'))
			FROM rollouts WHERE source = 'nebius-swe-agent'`, "[[5 true true true submitted 49 true true]]"},
		{"nebius policy and task", `SELECT policy, task_id FROM rollouts WHERE source = 'nebius-swe-agent' AND task_id LIKE '%plumbum%'`,
			"[[swe-agent-llama-70b swe-bench/tomerfiliba__plumbum-366_17]]"},
		// openhands-feedback: V0 events with extras, no instance id; one
		// finished, one not; actions are tool calls paired with their
		// observations.
		{"openhands feedback", `SELECT rollout_id, exit_reason, submitted, num_turns, len(actions),
			len(list_filter(messages, m -> m.role = 'tool' AND m.tool_call_id = '')) FROM rollouts WHERE source = 'openhands-feedback' ORDER BY 1`,
			"[[openhands-feedback/231 unknown false 11 11 0] [openhands-feedback/244 submitted true 17 17 0]]"},
		{"openhands V0 eval output", `SELECT exit_reason, num_turns, length(patch) > 0, policy FROM rollouts WHERE source = 'openhands'`,
			"[[submitted 23 true openai/openrouter-llama-4-maverick]]"},
		// The V1 stream beside a saved state: actions as tool calls,
		// observations answering them
		// by their tool_call_id; the status the saved state holds.
		{"openhands V1 events", `SELECT exit_reason_raw, num_turns, len(messages), len(list_filter(messages, m -> m.role = 'tool' AND m.tool_call_id LIKE 'chatcmpl-tool-%')),
			messages[1].tool_calls[1].name FROM rollouts WHERE source = 'openhands-v1'`, "[[idle 2 5 3 terminal]]"},
		{"SWE-bench Pro instance", `SELECT task_id, repo, len(fail_to_pass), len(test_files), test_files[1] FROM tasks WHERE source = 'swe-bench-pro'`,
			"[[swe-bench-pro/instance_NodeBB__NodeBB-00c70ce7b0541cfc94afe567921d7668cdc8f4ac-vnan NodeBB/NodeBB 681 6 test/mocks/databasemock.js]]"},
		{"Multi-SWE-bench raw PR rows", `SELECT list(task_id ORDER BY task_id), bool_and(length(gold_patch) > 0 AND length(test_patch) > 0 AND length(base_commit) = 40) FROM tasks WHERE source = 'multi-swe-bench'`,
			"[[[multi-swe-bench/go-gitea__gitea-34154 multi-swe-bench/gofiber__fiber-3895] true]]"},
		{"SWE-bench Pro results", `SELECT status, count(*) FROM evaluations WHERE source = 'swe-bench-pro-results' GROUP BY 1 ORDER BY 1`, "[[resolved 36] [unresolved 583]]"},
		{"Multi-SWE-bench predictions", `SELECT list(task_id ORDER BY task_id), bool_and(length(patch) > 0) FROM evaluations WHERE source = 'multi-swe-bench-predictions'`,
			"[[[multi-swe-bench/ponylang__ponyc-4588 multi-swe-bench/ponylang__ponyc-4593 multi-swe-bench/ponylang__ponyc-4595] true]]"},
	}
	for _, c := range checks {
		res := query(t, l, c.sql)
		if got := fmt.Sprint(res.Rows); got != c.want {
			t.Errorf("%s:\n%s\n = %s, want %s", c.name, c.sql, got, c.want)
		}
	}
}
