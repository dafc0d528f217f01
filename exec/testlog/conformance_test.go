//go:build conformance

package testlog

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/swelake/swelake/internal/realsamples"
)

// TestConformanceSWETasks: for each real SWE-bench / SWE-rebench instance
// in ../shared/realdata/swe-tasks, the log of its tests before and after
// the gold patch grades as its environment.json expects — FAIL_TO_PASS and
// PASS_TO_PASS counted by the names the published row uses (pytest ids cut
// at their first space, as SWE-bench's harness cuts them; sympy's bare
// function names from its bin/test runner).
func TestConformanceSWETasks(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(realsamples.Dir(t), "swe-tasks", "*", "row.json"))
	if err != nil || len(dirs) != 9 {
		t.Fatalf("%d instances in swe-tasks (want 9): %v", len(dirs), err)
	}
	for _, rowPath := range dirs {
		dir := filepath.Dir(rowPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var row map[string]json.RawMessage
			realsamples.ReadJSON(t, rowPath, &row)
			f2p, p2p := realsamples.TestList(t, row["FAIL_TO_PASS"]), realsamples.TestList(t, row["PASS_TO_PASS"])
			var env struct {
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
			for key, log := range map[string]string{"before_gold (before.log)": "before.log", "after_gold (after.log)": "after.log"} {
				want, ok := env.Expected[key]
				if !ok {
					t.Fatalf("environment.json has no expected %q", key)
				}
				data, err := os.ReadFile(filepath.Join(dir, log))
				if err != nil {
					t.Fatal(err)
				}
				if got := Detect(data); got != env.LogFormat {
					t.Errorf("%s: detected %s, the environment says %s", log, got, env.LogFormat)
				}
				res, err := Parse(env.LogFormat, data)
				if err != nil {
					t.Fatal(err)
				}
				g := GradeResults(res, f2p, p2p)
				got := fmt.Sprintf("f2p %d/%d p2p %d/%d resolved %v", len(g.F2PPassed), len(f2p), len(g.P2PPassed), len(p2p), g.Resolved)
				exp := fmt.Sprintf("f2p %d/%d p2p %d/%d resolved %v", want.F2PPass, want.F2P, want.P2PPass, want.P2P, want.Resolved)
				if got != exp {
					t.Errorf("%s: %s, want %s (F2P failed %v, P2P failed %v)", log, got, exp, g.F2PFailed, g.P2PFailed)
				}
			}
		})
	}
}
