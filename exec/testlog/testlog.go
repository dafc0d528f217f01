// Package testlog parses test-runner output into per-test statuses and
// grades them with SWE-bench's semantics: a task is resolved iff every
// FAIL_TO_PASS test passes and every PASS_TO_PASS test still passes; a test
// missing from the log counts as failed.
//
// Runners: pytest (the -rA short summary and -v lines), go test -json,
// unittest / Django's runner (-v lines "name (module.Class) ... ok") and
// sympy's bin/test ("test_name ok|F|E").
//
// Names are also recorded the way SWE-bench's harness names them, so that
// task rows match: its pytest parser takes the first whitespace-separated
// token after the status of a summary line, which cuts parametrised ids at
// their first space (`test_x[assert` for `test_x[assert statement]`).
package testlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strings"
)

// Status of one test in one run.
type Status string

const (
	Passed  Status = "PASSED"
	Failed  Status = "FAILED"
	Error   Status = "ERROR"
	Skipped Status = "SKIPPED"
	XFail   Status = "XFAIL" // expected failure that failed: counts as passing
	XPass   Status = "XPASS" // expected failure that passed (strict: a failure)
)

// Pass reports whether the status counts as passing (SWE-bench: PASSED,
// XFAIL).
func (s Status) Pass() bool { return s == Passed || s == XFail }

// Results maps a test's name, as the task's FAIL_TO_PASS/PASS_TO_PASS lists
// spell it, to its status.
type Results map[string]Status

// set records a status; a failure beats a pass for the same name (a name
// reported twice — parametrised ids, two packages — must all pass).
func (r Results) set(name string, s Status) {
	if old, ok := r[name]; ok && !old.Pass() && s.Pass() {
		return
	}
	r[name] = s
}

// Frameworks Parse knows.
func Frameworks() []string {
	return []string{"pytest", "pytest-options", "pytest-v2", "matplotlib", "go", "unittest", "django", "sympy"}
}

// Parse reads log as the named framework's output ("auto": guessed from
// the log).
func Parse(framework string, log []byte) (Results, error) {
	if framework == "" || framework == "auto" {
		framework = Detect(log)
	}
	switch framework {
	case "pytest":
		return ParsePytest(log), nil
	case "pytest-options":
		return ParsePytestOptions(log), nil
	case "pytest-v2":
		return ParsePytest(ansi.ReplaceAll(log, nil)), nil
	case "matplotlib":
		return ParsePytest([]byte(mouseButtons.Replace(string(log)))), nil
	case "go":
		return ParseGoTest(log), nil
	case "unittest":
		return ParseUnittest(log), nil
	case "django":
		return ParseDjango(log), nil
	case "sympy":
		return ParseSympy(log), nil
	}
	return nil, fmt.Errorf("test log: unknown framework %q (known: %s)", framework, strings.Join(Frameworks(), ", "))
}

// Detect guesses the framework from a log.
func Detect(log []byte) string {
	switch {
	case bytes.Contains(log, []byte(`"Action":"`)):
		return "go"
	case bytes.Contains(log, []byte("test process starts")) && sympyLine.Match(log):
		return "sympy"
	case bytes.Contains(log, []byte("short test summary info")) || pytestVerbose.Match(log) || bytes.Contains(log, []byte("=== test session starts")):
		return "pytest"
	case unittestLine.Match(log):
		return "unittest"
	}
	return "pytest"
}

var (
	// "tests/test_a.py::test_x[1-2] PASSED                     [ 10%]"
	// ("SKIPPED (reason)", "XFAIL (reason)" carry their reason)
	pytestVerbose = regexp.MustCompile(`(?m)^(\S+::\S.*?) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)(?: \(.*\))?(?:\s+\[\s*\d+%\])?\s*$`)
	// "PASSED tests/test_a.py::test_x" / "FAILED tests/test_a.py::test_y - assert 1 == 2"
	// (a skip's summary line names file:line, not the test: only -v
	// lines give skipped tests their ids)
	pytestSummary = regexp.MustCompile(`^(PASSED|FAILED|ERROR|XFAIL|XPASS) (\S+::.+?)(?: - .*)?$`)
	// "test_x (pkg.mod.Class) ... ok" and Python ≥ 3.11's
	// "test_x (pkg.mod.Class.test_x) ... ok"; the description line of a
	// test with a docstring comes between.
	// sympy's bin/test: "test_name ok", "test_name F", "test_name E"
	// (then, where the terminal is wide, a right-aligned "[OK]").
	sympyLine    = regexp.MustCompile(`(?m)^\s*(test_\w+) (ok|F|E|f|s|X|w)(?:\s+\[\w+\])?\s*$`)
	unittestLine = regexp.MustCompile(`(?m)^(\w+) \(([\w.]+)\)(?:\n.*?)? \.\.\. (ok|FAIL|ERROR|skipped.*|expected failure|unexpected success)\s*$`)
)

// ParsePytest reads pytest's verbose lines and its -rA short summary (the
// summary wins: it is printed last, with the final outcome).
func ParsePytest(log []byte) Results {
	r := Results{}
	for _, m := range pytestVerbose.FindAllSubmatch(log, -1) {
		r.set(string(m[1]), Status(m[2]))
		if cut, _, ok := strings.Cut(string(m[1]), " "); ok {
			r.set(cut, Status(m[2]))
		}
	}
	summary := Results{}
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \r")
		if m := pytestSummary.FindStringSubmatch(line); m != nil {
			summary.set(m[2], Status(m[1]))
			// SWE-bench's name for it: the id up to its first space.
			if cut, _, ok := strings.Cut(m[2], " "); ok {
				summary.set(cut, Status(m[1]))
			}
		}
	}
	for k, v := range summary {
		r[k] = v
	}
	return r
}

// The harness's parser variants (swebench/harness/log_parsers/python.py):
// pytest-v2 drops terminal escapes first (astropy, scikit-learn, sphinx);
// matplotlib names mouse buttons by number.
var (
	ansi         = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]|\[\d+m`)
	mouseButtons = strings.NewReplacer("MouseButton.LEFT", "1", "MouseButton.RIGHT", "3")
)

// ParsePytestOptions is ParsePytest that also names a test whose
// parameter is an absolute path by the path's last element, as SWE-bench
// rows do for pydicom, requests and pylint (test_x[/abs/dir/file] →
// test_x[/file]).
func ParsePytestOptions(log []byte) Results {
	r := ParsePytest(log)
	for name, s := range maps.Clone(r) {
		open := strings.Index(name, "[")
		if open < 0 || !strings.HasSuffix(name, "]") {
			continue
		}
		opt := name[open+1 : len(name)-1]
		if strings.HasPrefix(opt, "/") && !strings.HasPrefix(opt, "//") && !strings.Contains(opt, "*") {
			r.set(name[:open]+"[/"+opt[strings.LastIndex(opt, "/")+1:]+"]", s)
		}
	}
	return r
}

// ParseDjango reads Django's runner (verbosity 2): unittest's lines, and
// the "FAIL: test_x (module.Class)" / "ERROR: …" headers of its report.
func ParseDjango(log []byte) Results {
	r := ParseUnittest(log)
	for _, m := range djangoHeader.FindAllSubmatch(log, -1) {
		name, class := string(m[2]), strings.TrimSuffix(string(m[3]), "."+string(m[2]))
		s := Failed
		if string(m[1]) == "ERROR" {
			s = Error
		}
		r[name+" ("+class+")"] = s
	}
	return r
}

var djangoHeader = regexp.MustCompile(`(?m)^(FAIL|ERROR): (\w+) \(([\w.]+)\)`)

// ParseGoTest reads go test -json events: each test's final action. Names
// are the test names (subtests "TestX/sub"), as Go task sets list them.
func ParseGoTest(log []byte) Results {
	r := Results{}
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var ev struct {
			Action, Test string
		}
		if json.Unmarshal(line, &ev) != nil || ev.Test == "" {
			continue
		}
		switch ev.Action {
		case "pass":
			r.set(ev.Test, Passed)
		case "fail":
			r.set(ev.Test, Failed)
		case "skip":
			r.set(ev.Test, Skipped)
		}
	}
	return r
}

// ParseUnittest reads unittest's (and Django's) verbose lines. Names are
// "test_x (module.Class)", SWE-bench's spelling for these runners.
func ParseUnittest(log []byte) Results {
	r := Results{}
	for _, m := range unittestLine.FindAllSubmatch(log, -1) {
		name, class := string(m[1]), string(m[2])
		class = strings.TrimSuffix(class, "."+name) // Python ≥ 3.11 appends the method
		var s Status
		switch out := string(m[3]); {
		case out == "ok":
			s = Passed
		case out == "FAIL":
			s = Failed
		case out == "ERROR":
			s = Error
		case strings.HasPrefix(out, "skipped"):
			s = Skipped
		case out == "expected failure":
			s = XFail
		default:
			s = XPass
		}
		r.set(name+" ("+class+")", s)
	}
	return r
}

// ParseSympy reads sympy's bin/test output: one "test_name status" line
// per test (ok, F failed, E error, f expected failure, s skipped, X
// unexpected pass, w slow and skipped). Names are the bare function names
// SWE-bench's rows use for sympy.
func ParseSympy(log []byte) Results {
	r := Results{}
	for _, m := range sympyLine.FindAllSubmatch(log, -1) {
		var s Status
		switch string(m[2]) {
		case "ok":
			s = Passed
		case "F":
			s = Failed
		case "E":
			s = Error
		case "f":
			s = XFail
		case "X":
			s = XPass
		default:
			s = Skipped
		}
		r.set(string(m[1]), s)
	}
	return r
}

// Grade is a SWE-bench grade of one run.
type Grade struct {
	Resolved  bool     `json:"resolved"`
	F2PPassed []string `json:"fail_to_pass_passed"`
	F2PFailed []string `json:"fail_to_pass_failed"`
	P2PPassed []string `json:"pass_to_pass_passed"`
	P2PFailed []string `json:"pass_to_pass_failed"`
}

// GradeResults grades results against a task's lists. A task with no
// FAIL_TO_PASS test cannot be resolved.
func GradeResults(r Results, failToPass, passToPass []string) Grade {
	var g Grade
	for _, t := range failToPass {
		if r[t].Pass() {
			g.F2PPassed = append(g.F2PPassed, t)
		} else {
			g.F2PFailed = append(g.F2PFailed, t)
		}
	}
	for _, t := range passToPass {
		if r[t].Pass() {
			g.P2PPassed = append(g.P2PPassed, t)
		} else {
			g.P2PFailed = append(g.P2PFailed, t)
		}
	}
	g.Resolved = len(failToPass) > 0 && len(g.F2PFailed) == 0 && len(g.P2PFailed) == 0
	return g
}
