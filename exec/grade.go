package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/swelake/swelake/exec/testlog"
)

// Grading outcomes (the evaluations table's statuses).
const (
	StatusResolved   = "resolved"
	StatusUnresolved = "unresolved"
	StatusEmptyPatch = "empty_patch"
	StatusNoResult   = "no_result"   // the task cannot be graded: no test command, no FAIL_TO_PASS tests, a test patch that does not apply
	StatusInfraError = "infra_error" // the sandbox failed, not the patch
)

// GradeSpec is one patch to grade against one task.
type GradeSpec struct {
	Workspace Workspace
	TestPatch []byte // applied first (the task's new tests), may be empty
	Patch     []byte // the candidate fix
	// NoPatch grades the workspace as it is (Patch ignored): how a task's
	// base commit is checked to fail.
	NoPatch    bool
	TestCmd    string // run with sh -c in the workspace root
	Framework  string // testlog framework ("" or "auto": detected)
	FailToPass []string
	PassToPass []string
	// Reruns: a F2P/P2P test that does not pass is re-run up to this many
	// times; one that passes on a rerun is flaky (reported, and still not
	// counted as passing).
	Reruns int
	Limits Limits
	Env    map[string]string // added to the sandbox environment (seeds)
	// KeepNewTests keeps the test files the candidate creates (verify's
	// execution mode credits them); its other changes to test
	// infrastructure are still reverted.
	KeepNewTests bool
}

// Grading is the outcome of GradePatch.
type Grading struct {
	Status       string            `json:"status"`
	PatchApplied bool              `json:"patch_applied"`
	ApplyMethod  string            `json:"apply_method"`
	Results      testlog.Results   `json:"results"` // per test, the first run
	Grade        testlog.Grade     `json:"grade"`
	Flaky        []string          `json:"flaky"` // F2P/P2P tests whose status changed across runs
	Runs         int               `json:"runs"`  // test-command runs, reruns included
	TimedOut     bool              `json:"timed_out"`
	ExitCode     int               `json:"exit_code"`
	Duration     time.Duration     `json:"duration"`
	Env          map[string]string `json:"env"` // the pinned environment the tests ran with
	Isolated     bool              `json:"isolated"`
	Reason       string            `json:"reason,omitempty"` // why it is not resolved, in a line
	// TestInfra are the candidate's changes to test infrastructure, reverted
	// before the tests ran (a flag for curation's test_tampering rule).
	TestInfra []TestInfraFile `json:"test_infra,omitempty"`
	Log       []byte          `json:"-"` // apply output and the first run's output
}

// GradePatch grades one patch with SWE-bench semantics in a fresh sandbox:
// apply the candidate, revert its changes to test infrastructure, reset the
// test patch's files and apply it, run the test command, parse the log, and resolve iff every FAIL_TO_PASS test passes and every
// PASS_TO_PASS test still passes. Sandbox failures come back as status
// infra_error with the error (errors.Is(err, ErrInfra)); everything the
// patch did wrong is a status, not an error.
func GradePatch(ctx context.Context, b Backend, spec GradeSpec) (Grading, error) {
	g := Grading{Env: pinnedEnv(spec.Env)}
	if len(bytes.TrimSpace(spec.Patch)) == 0 && !spec.NoPatch {
		g.Status, g.Reason = StatusEmptyPatch, "the patch is empty"
		return g, nil
	}
	if spec.TestCmd == "" {
		g.Status, g.Reason = StatusNoResult, "the task has no test command"
		return g, nil
	}
	sb, err := b.Open(ctx, spec.Workspace)
	if err != nil {
		g.Status, g.Reason = StatusInfraError, err.Error()
		return g, err
	}
	defer sb.Close(context.WithoutCancel(ctx))
	g.Isolated = sb.Isolated()
	var log bytes.Buffer
	// SWE-bench's order: the candidate first, then the task's test files
	// reset and its test patch applied last, so that a candidate can neither
	// rewrite the tests nor hook their run (conftest.py, sitecustomize.py,
	// .pth files, pytest configuration): those of its changes are reverted
	// before the tests run, and listed (docs/security.md).
	var reset []string
	if !spec.NoPatch {
		for _, f := range TestInfra(spec.Patch) {
			if spec.KeepNewTests && f.New && f.Why == whyTestFile {
				continue
			}
			g.TestInfra = append(g.TestInfra, f)
			reset = append(reset, f.Path)
		}
	}
	if len(bytes.TrimSpace(spec.TestPatch)) > 0 {
		for _, f := range PatchFiles(spec.TestPatch) {
			reset = append(reset, f.Path)
		}
	}
	saved, err := saveFiles(ctx, sb, reset)
	if err != nil {
		g.Status, g.Reason = StatusInfraError, err.Error()
		return g, err
	}
	var ar ApplyResult
	if !spec.NoPatch {
		ar, err = ApplyPatch(ctx, sb, spec.Patch)
		log.WriteString(ar.Log)
	}
	switch {
	case err != nil && (errors.Is(err, ErrInfra) || ctx.Err() != nil):
		g.Status, g.Reason, g.Log = StatusInfraError, err.Error(), log.Bytes()
		return g, err
	case err != nil:
		g.Status, g.Reason, g.Log = StatusUnresolved, "the patch does not apply", log.Bytes()
		return g, nil
	}
	g.PatchApplied, g.ApplyMethod = true, ar.Method
	if err := restoreFiles(ctx, sb, saved); err != nil {
		g.Status, g.Reason, g.Log = StatusInfraError, err.Error(), log.Bytes()
		return g, err
	}
	if len(saved) > 0 {
		fmt.Fprintf(&log, "$ restored as before the patch: %s\n", strings.Join(reset, " "))
	}
	if len(bytes.TrimSpace(spec.TestPatch)) > 0 {
		tr, err := ApplyPatch(ctx, sb, spec.TestPatch)
		log.WriteString(tr.Log)
		if err != nil {
			// The task's own test patch must apply: not the candidate's fault.
			g.Status, g.Reason, g.Log = StatusNoResult, "the task's test patch does not apply", log.Bytes()
			if errors.Is(err, ErrInfra) || ctx.Err() != nil {
				g.Status, g.Reason = StatusInfraError, err.Error()
				return g, err
			}
			return g, nil
		}
	}

	res, results, err := RunTests(ctx, sb, spec.TestCmd, spec.Framework, spec.Env, spec.Limits)
	g.Runs++
	log.WriteString("$ " + spec.TestCmd + "\n")
	log.Write(res.Output)
	g.Log, g.ExitCode, g.TimedOut, g.Duration = log.Bytes(), res.ExitCode, res.TimedOut, res.Duration
	if err != nil {
		g.Status, g.Reason = StatusInfraError, err.Error()
		return g, err
	}
	g.Results = results
	g.Grade = testlog.GradeResults(results, spec.FailToPass, spec.PassToPass)
	if failing := slices.Concat(g.Grade.F2PFailed, g.Grade.P2PFailed); len(failing) > 0 && spec.Reruns > 0 {
		flaky, runs, err := rerun(ctx, sb, spec, failing)
		g.Runs += runs
		g.Flaky = flaky
		if err != nil {
			g.Status, g.Reason = StatusInfraError, err.Error()
			return g, err
		}
	}
	switch {
	case g.Grade.Resolved:
		g.Status = StatusResolved
	case len(spec.FailToPass) == 0:
		g.Status, g.Reason = StatusNoResult, "the task has no FAIL_TO_PASS tests"
	default:
		g.Status = StatusUnresolved
		g.Reason = fmt.Sprintf("%d of %d FAIL_TO_PASS and %d of %d PASS_TO_PASS tests do not pass",
			len(g.Grade.F2PFailed), len(spec.FailToPass), len(g.Grade.P2PFailed), len(spec.PassToPass))
		if g.TimedOut {
			g.Reason += " (the test command timed out)"
		}
		if len(g.Flaky) > 0 {
			g.Reason += fmt.Sprintf("; %d flaky", len(g.Flaky))
		}
	}
	if len(g.TestInfra) > 0 {
		paths := make([]string, len(g.TestInfra))
		for i, f := range g.TestInfra {
			paths[i] = f.Path
		}
		note := "the patch touched test infrastructure (" + strings.Join(paths, ", ") + "); those changes were reverted before the tests ran"
		g.Reason = strings.TrimPrefix(g.Reason+"; "+note, "; ")
	}
	return g, nil
}

// savedFile is a workspace file as it was before the candidate: its bytes,
// or nil when it did not exist.
type savedFile struct {
	path string
	data []byte
}

// saveFiles reads paths as they are before the candidate is applied.
func saveFiles(ctx context.Context, sb Sandbox, paths []string) ([]savedFile, error) {
	var out []savedFile
	seen := map[string]bool{}
	for _, p := range paths {
		if seen[p] {
			continue
		}
		seen[p] = true
		data, err := sb.ReadFile(ctx, p)
		switch {
		case err == nil:
			out = append(out, savedFile{p, data})
		case errors.Is(err, fs.ErrNotExist):
			out = append(out, savedFile{p, nil})
		case errors.Is(err, ErrInfra):
			return nil, fmt.Errorf("save %s before the patch: %w", p, err)
		default: // a directory, a path the workspace refuses: nothing a patch could have written as a file
			out = append(out, savedFile{p, nil})
		}
	}
	return out, nil
}

// restoreFiles puts the saved files back and removes those that did not
// exist, whatever the candidate did to them.
func restoreFiles(ctx context.Context, sb Sandbox, saved []savedFile) error {
	var absent []string
	for _, f := range saved {
		if f.data == nil {
			absent = append(absent, f.path)
			continue
		}
		if err := sb.WriteFile(ctx, f.path, f.data); err != nil {
			return fmt.Errorf("restore %s: %w", f.path, err)
		}
	}
	if len(absent) == 0 {
		return nil
	}
	res, err := sb.Run(ctx, Spec{Argv: append([]string{"rm", "-rf", "--"}, absent...), Limits: Limits{Timeout: time.Minute}})
	if err == nil && res.ExitCode != 0 {
		err = infra("restore", fmt.Errorf("rm %s: exit %d: %s", strings.Join(absent, " "), res.ExitCode, firstLine(res.Output)))
	}
	return err
}

// rerun runs the test command again up to spec.Reruns times and returns
// the tests among failing whose status changed in some run.
func rerun(ctx context.Context, sb Sandbox, spec GradeSpec, failing []string) ([]string, int, error) {
	first := map[string]bool{}
	for _, t := range failing {
		first[t] = true
	}
	flaky := map[string]bool{}
	runs := 0
	for range spec.Reruns {
		_, results, err := RunTests(ctx, sb, spec.TestCmd, spec.Framework, spec.Env, spec.Limits)
		runs++
		if err != nil {
			return nil, runs, err
		}
		for t := range first {
			if results[t].Pass() {
				flaky[t] = true
			}
		}
		if len(flaky) == len(first) {
			break
		}
	}
	return slices.Sorted(maps.Keys(flaky)), runs, nil
}

// RunTests runs a test command (sh -c) in the workspace root and parses its
// log into per-test statuses.
func RunTests(ctx context.Context, sb Sandbox, testCmd, framework string, env map[string]string, lim Limits) (Result, testlog.Results, error) {
	res, err := sb.Run(ctx, Spec{Argv: []string{"sh", "-c", testCmd}, Env: env, Limits: lim})
	if err != nil {
		return res, nil, err
	}
	results, err := testlog.Parse(framework, res.Output)
	if err != nil {
		return res, nil, err
	}
	return res, results, nil
}

// pinnedEnv is what a grading records of its environment: the variables
// that make test runs repeat, plus the caller's seeds.
func pinnedEnv(extra map[string]string) map[string]string {
	base := SandboxEnv()
	out := map[string]string{}
	for _, k := range []string{"TZ", "PYTHONHASHSEED", "LANG", "LC_ALL"} {
		out[k] = base[k]
	}
	maps.Copy(out, extra)
	return out
}
