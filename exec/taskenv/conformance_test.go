//go:build conformance

package taskenv

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/swelake/swelake/exec/testlog"
	"github.com/swelake/swelake/internal/realsamples"
)

// TestConformanceSWETasksSpecs: for each real instance in
// ../shared/realdata/swe-tasks, the built-in specs (SWE-bench's) derive
// from the row alone the test files its environment ran, and the parser
// they name grades its before/after logs as expected.
func TestConformanceSWETasksSpecs(t *testing.T) {
	rows, err := filepath.Glob(filepath.Join(realsamples.Dir(t), "swe-tasks", "*", "row.json"))
	if err != nil || len(rows) != 9 {
		t.Fatalf("%d instances (want 9): %v", len(rows), err)
	}
	specs, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, rowPath := range rows {
		dir := filepath.Dir(rowPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var row struct {
				Repo, Version, TestPatch string
				F2P, P2P                 json.RawMessage
			}
			var raw map[string]json.RawMessage
			realsamples.ReadJSON(t, rowPath, &raw)
			json.Unmarshal(raw["repo"], &row.Repo)
			json.Unmarshal(raw["version"], &row.Version)
			json.Unmarshal(raw["test_patch"], &row.TestPatch)
			var env struct {
				TestCmd   string `json:"test_cmd"`
				LogFormat string `json:"log_format"`
				Expected  map[string]struct {
					F2PPass  int  `json:"f2p_pass"`
					F2P      int  `json:"f2p"`
					P2PPass  int  `json:"p2p_pass"`
					P2P      int  `json:"p2p"`
					Resolved bool `json:"resolved"`
				} `json:"expected"`
			}
			realsamples.ReadJSON(t, filepath.Join(dir, "environment.json"), &env)
			e := specs.Resolve(Task{Repo: row.Repo, Version: row.Version, TestPatch: row.TestPatch})
			// The harness's own command where the row carries it (SWE-rebench's
			// make_test_spec), else the one the environment ran.
			cmdLine := env.TestCmd
			var mts string
			if json.Unmarshal(raw["make_test_spec"], &mts) == nil {
				var spec struct {
					Eval []string `json:"eval_script_list"`
				}
				json.Unmarshal([]byte(mts), &spec)
				for _, l := range spec.Eval {
					if strings.HasPrefix(l, "pytest ") {
						cmdLine = l
					}
				}
			}
			var want []string
			for _, f := range strings.Fields(cmdLine) {
				if strings.HasSuffix(f, ".py") && !strings.HasPrefix(f, "/") && f != "bin/test" {
					want = append(want, f)
				}
			}
			if !slices.Equal(e.TestFiles, want) {
				t.Errorf("test files %v, the environment ran %v", e.TestFiles, want)
			}
			parser := e.LogParser
			if parser == "auto" {
				parser = "pytest" // SWE-bench rows carry no language: the harness's default
			}
			if parser != env.LogFormat && !(env.LogFormat == "pytest" && strings.HasPrefix(parser, "pytest")) {
				t.Errorf("parser %s, the environment's log is %s", parser, env.LogFormat)
			}
			f2p, p2p := realsamples.TestList(t, raw["FAIL_TO_PASS"]), realsamples.TestList(t, raw["PASS_TO_PASS"])
			for key, log := range map[string]string{"before_gold (before.log)": "before.log", "after_gold (after.log)": "after.log"} {
				data, err := os.ReadFile(filepath.Join(dir, log))
				if err != nil {
					t.Fatal(err)
				}
				res, err := testlog.Parse(parser, data)
				if err != nil {
					t.Fatal(err)
				}
				g := testlog.GradeResults(res, f2p, p2p)
				w := env.Expected[key]
				got := fmt.Sprintf("f2p %d/%d p2p %d/%d resolved %v", len(g.F2PPassed), len(f2p), len(g.P2PPassed), len(p2p), g.Resolved)
				exp := fmt.Sprintf("f2p %d/%d p2p %d/%d resolved %v", w.F2PPass, w.F2P, w.P2PPass, w.P2P, w.Resolved)
				if got != exp {
					t.Errorf("%s with %s: %s, want %s", log, parser, got, exp)
				}
			}
		})
	}
}
