//go:build conformance

package ingest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
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
	want := `[[mini-swe-agent  submitted false true 1 10 1] [openhands  unknown false false 1 3 0] [openhands finished submitted false true 1 24 1] ` +
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
