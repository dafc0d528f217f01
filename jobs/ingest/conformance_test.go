//go:build conformance

package ingest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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

// realSamples maps every file of ../shared/realdata users would import
// to the one format that must accept it ("" : none of any kind); a file
// the walk finds that no pattern names fails the test, so a sample added
// there is mapped here before it counts.
var realSamples = []struct{ glob, kind, format string }{
	{"tasks/swe-bench-lite-5.json", "tasks", "swe-bench"},
	{"tasks/swe-bench-verified-row-jsonstring-f2p.json", "tasks", "swe-bench"},
	{"tasks/swe-rebench-v*-row.json", "tasks", "swe-rebench"},
	{"tasks/swe-smith-task.json", "tasks", "swe-smith"},
	{"swe-tasks/falconry__falcon-2254/row.json", "tasks", "swe-rebench"},
	{"swe-tasks/*/row.json", "tasks", "swe-bench"},
	{"trajectories/mini-swe-agent-legacy.traj.json", "rollouts", "mini-swe-agent"},
	{"trajectories/r2e-gym-2.jsonl", "rollouts", "r2e-gym"},
	{"trajectories/swe-agent-*.traj", "rollouts", "swe-agent"},
	{"sft/openrlhf-input-1.jsonl", "rollouts", "openrlhf"},
	{"sft/swe-smith-ft-xml-3.jsonl", "rollouts", "swe-smith"},
	{"reports/openhands-llm-completions/*.json", "rollouts", "openhands-completions"},
	{"reports/openhands-eval-logs/*.log", "reports", "openhands-eval-log"},
	{"reports/swe-smith-instance/*.report.json", "reports", "swe-smith-report"},
	{"reports/swe-smith-validation-report.json", "reports", "swe-smith-validation"},
	{"reports/openhands-metadata.json", "", ""},
	{"curation/bon-stats-smith-200.jsonl", "", ""},
	{"datasets/nebius_swe_agent_trajectories/sample_raw.json", "rollouts", "nebius-swe-agent"},
	{"datasets/openhands_feedback_v0/sample_raw.first2.json", "rollouts", "openhands-feedback"},
	{"datasets/openhands_v0_eval_output/output.first1.jsonl", "rollouts", "openhands"},
	{"datasets/openhands_v1_sdk_events/*", "rollouts", "openhands-v1-events"},
	{"datasets/swe_bench_pro/eval_results.*.json", "reports", "swe-bench-pro-results"},
	{"datasets/swe_bench_pro/instance_info.*.txt", "tasks", "swe-bench-pro-instance"},
	{"datasets/multi_swe_bench/patch.*.jsonl", "reports", "multi-swe-bench-predictions"},
	{"datasets/multi_swe_bench/pi_raw_dataset.jsonl", "tasks", "multi-swe-bench"},
}

// sampleFiles walks ../shared/realdata for the files users would import
// (the swe-tasks folders' test logs and environments are not such files).
func sampleFiles(t *testing.T, rd string) []string {
	var out []string
	err := filepath.WalkDir(rd, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(rd, p)
		switch {
		case rel == "README.md" || rel == "SOURCES.tsv" || strings.HasPrefix(rel, "swe-tasks/") && filepath.Base(rel) != "row.json":
			return nil
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
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
	db := newDB(t)
	files := sampleFiles(t, rd)
	if len(files) < 30 {
		t.Fatalf("only %d sample files under %s", len(files), rd)
	}
	t.Logf("%d sample files, each fed to the %d decoders", len(files), len(formats.All()))
	for _, rel := range files {
		i := slices.IndexFunc(realSamples, func(s struct{ glob, kind, format string }) bool {
			ok, _ := filepath.Match(s.glob, rel)
			return ok
		})
		if i < 0 {
			t.Errorf("%s: a sample no pattern of realSamples names: say which format must accept it", rel)
			continue
		}
		s := realSamples[i]
		s.glob = rel
		file := filepath.Join(rd, rel)
		lay, err := layoutOf(file)
		if err != nil {
			t.Fatal(err)
		}
		first, err := firstRecord(ctx, db, file, lay, DefaultMaxRecordBytes)
		if err != nil || len(first) == 0 {
			t.Fatalf("%s: no first record: %v", s.glob, err)
		}
		probe := formats.NewProbe(filepath.Base(file), first)
		want := s.kind + "/" + s.format
		for _, kind := range []formats.Kind{formats.Tasks, formats.Rollouts, formats.Reports} {
			got, err := formats.Detect(kind, probe)
			switch {
			case string(kind) == s.kind && (err != nil || got.Name != s.format):
				t.Errorf("%s: detected as %s %v, want %s", s.glob, nameOf(got), err, want)
			case string(kind) != s.kind && err == nil:
				t.Errorf("%s: detected as %s/%s, want no %s format", s.glob, kind, got.Name, kind)
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
				if id == want && !strings.Contains(s.glob, "base_state") {
					t.Errorf("%s: its own format %s refuses it: %v", s.glob, id, err)
				}
				continue
			}
			if id != want && !slices.Contains(sameLayout[id], want) {
				accepted = append(accepted, id)
			}
		}
		if len(accepted) > 0 {
			t.Errorf("%s (%s): also accepted by %v", s.glob, want, accepted)
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
