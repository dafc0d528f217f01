package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// examples is the sample repositories' directory.
func examples(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "examples", "repos", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("sample repository %s: %v", name, err)
	}
	return dir
}

// needPytest fails when the sandbox's python3 has no pytest.
func needPytest(t *testing.T) {
	t.Helper()
	if err := osexec.Command("/usr/bin/python3", "-c", "import pytest").Run(); err != nil {
		t.Fatal("/usr/bin/python3 has no pytest: install the Debian package python3-pytest")
	}
}

// diff is the unified diff (git diff --binary --no-index) turning a file's
// content old into new, with a/ b/ prefixes relative to the workspace.
func diff(t *testing.T, name string, old, new []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	for _, side := range []struct {
		d    string
		data []byte
	}{{"a", old}, {"b", new}} {
		p := filepath.Join(dir, side.d, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if side.data != nil {
			if err := os.WriteFile(p, side.data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmd := osexec.Command("git", "diff", "--no-index", "--binary", "--no-prefix", "a", "b")
	cmd.Dir = dir
	out, _ := cmd.Output() // exit 1: the files differ
	// --no-prefix gives "a/<name>" and "b/<name>": exactly -p1 paths.
	return out
}

func TestApplyPatch(t *testing.T) {
	needBwrap(t)
	ctx := context.Background()
	src := examples(t, "pytext")
	orig, err := os.ReadFile(filepath.Join(src, "textkit", "rle.py"))
	if err != nil {
		t.Fatal(err)
	}
	fixed := bytes.Replace(orig, []byte(`raise ValueError("run without a length before %r" % ch)`), []byte(`raise ValueError("no length before %r" % ch)`), 1)
	exact := diff(t, "textkit/rle.py", orig, fixed)
	// The same change against a file whose earlier lines moved and whose
	// context differs: only patch's fuzz applies it.
	fuzzy := bytes.Replace(exact, []byte("\n         out.append(ch * int(count))"), []byte("\n         out.append(int(count) * ch)"), 1)
	// Whitespace-only context differences: the loose git apply.
	loose := bytes.Replace(exact, []byte("\n         if not count:"), []byte("\n         if not  count:"), 1)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB: far beyond ARG_MAX
	binary := []byte{0, 1, 2, 255, 254, '\n', 0, 'x'}
	for _, tc := range []struct {
		name, method string
		patch        []byte
		file         string
		want         []byte
	}{
		{"exact", ApplyGit, exact, "textkit/rle.py", fixed},
		{"whitespace", ApplyGitLoose, loose, "textkit/rle.py", fixed},
		{"fuzzy context", ApplyPatchFuzz, fuzzy, "textkit/rle.py", fixed},
		{"4 MiB new file", ApplyGit, diff(t, "data/big.txt", nil, big), "data/big.txt", big},
		{"binary file", ApplyGit, diff(t, "data/blob.bin", nil, binary), "data/blob.bin", binary},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb, err := (&Local{Root: sandboxRoot(t)}).Open(ctx, Workspace{Source: src})
			if err != nil {
				t.Fatal(err)
			}
			defer sb.Close(ctx)
			res, err := ApplyPatch(ctx, sb, tc.patch)
			if err != nil {
				t.Fatalf("apply: %v\n%s", err, res.Log)
			}
			if res.Method != tc.method {
				t.Errorf("applied by %s, want %s\n%s", res.Method, tc.method, res.Log)
			}
			got, err := sb.ReadFile(ctx, tc.file)
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("%s after the patch: %d bytes (want %d), err %v", tc.file, len(got), len(tc.want), err)
			}
		})
	}
	t.Run("does not apply", func(t *testing.T) {
		sb, err := (&Local{Root: sandboxRoot(t)}).Open(ctx, Workspace{Source: src})
		if err != nil {
			t.Fatal(err)
		}
		defer sb.Close(ctx)
		// The line it removes is not in the file: no fuzz applies it.
		wrong := bytes.Replace(exact, []byte("-            raise ValueError(\"run without"), []byte("-            raise TypeError(\"run without"), 1)
		res, err := ApplyPatch(ctx, sb, wrong)
		if !errors.Is(err, ErrPatch) || errors.Is(err, ErrInfra) || res.Method != "" {
			t.Fatalf("apply = %q, %v; want ErrPatch", res.Method, err)
		}
		got, _ := sb.ReadFile(ctx, "textkit/rle.py")
		if !bytes.Equal(got, orig) {
			t.Fatal("a patch that does not apply changed the workspace")
		}
	})
}

// rleTask is a task on pytext: the test patch adds tests of decode's
// error message; the fix changes it.
func rleTask(t *testing.T) (src string, testPatch, fix []byte) {
	src = examples(t, "pytext")
	orig, err := os.ReadFile(filepath.Join(src, "textkit", "rle.py"))
	if err != nil {
		t.Fatal(err)
	}
	fixed := bytes.Replace(orig, []byte(`"run without a length before %r"`), []byte(`"missing run length before %r"`), 1)
	tests := []byte(`import pytest

from textkit.rle import decode


def test_message():
    with pytest.raises(ValueError, match="missing run length"):
        decode("a")


def test_still_decodes():
    assert decode("2a") == "aa"
`)
	return src, diff(t, "tests/test_message.py", nil, tests), diff(t, "textkit/rle.py", orig, fixed)
}

func TestGradePatch(t *testing.T) {
	needBwrap(t)
	needPytest(t)
	ctx := context.Background()
	src, testPatch, fix := rleTask(t)
	base := GradeSpec{
		Workspace: Workspace{Source: src}, TestPatch: testPatch, TestCmd: "/usr/bin/python3 -m pytest -rA", Framework: "pytest",
		FailToPass: []string{"tests/test_message.py::test_message"},
		PassToPass: []string{"tests/test_message.py::test_still_decodes", "tests/test_rle.py::test_decode"},
		Reruns:     2, Limits: Limits{Timeout: time.Minute},
	}
	b := &Local{Root: sandboxRoot(t)}
	grade := func(patch []byte, mod func(*GradeSpec)) Grading {
		t.Helper()
		spec := base
		spec.Patch = patch
		if mod != nil {
			mod(&spec)
		}
		g, err := GradePatch(ctx, b, spec)
		if err != nil {
			t.Fatalf("grade: %v", err)
		}
		return g
	}

	g := grade(fix, nil)
	if g.Status != StatusResolved || !g.PatchApplied || g.ApplyMethod != ApplyGit || g.Runs != 1 || !g.Isolated {
		t.Fatalf("the fix: %+v\n%s", g, g.Log)
	}
	if g.Env["PYTHONHASHSEED"] != "0" || g.Env["TZ"] != "UTC" {
		t.Errorf("pinned environment not recorded: %v", g.Env)
	}
	if n := len(g.Results); n < 40 {
		t.Errorf("parsed %d tests, want the whole suite (≥ 40)", n)
	}

	wrong := bytes.Replace(fix, []byte("missing run length"), []byte("absent run length"), 1)
	if g := grade(wrong, nil); g.Status != StatusUnresolved || len(g.Grade.F2PFailed) != 1 || g.Runs != 3 || len(g.Flaky) != 0 {
		t.Fatalf("a wrong fix: %+v", g)
	}
	if g := grade([]byte("  \n"), nil); g.Status != StatusEmptyPatch {
		t.Fatalf("an empty patch: %s", g.Status)
	}
	if g := grade(bytes.Replace(fix, []byte("-            raise ValueError("), []byte("-            raise TypeError("), 1), nil); g.Status != StatusUnresolved || g.PatchApplied {
		t.Fatalf("a patch that does not apply: %s (%s), applied %v", g.Status, g.Reason, g.PatchApplied)
	}
	if g := grade(fix, func(s *GradeSpec) { s.TestCmd = "" }); g.Status != StatusNoResult {
		t.Fatalf("no test command: %s", g.Status)
	}
	// A test that fails once, then passes: flaky, reported, not counted.
	flakyTest := []byte(`import os


def test_flaky():
    marker = os.path.join(os.path.dirname(__file__), ".ran")
    first = not os.path.exists(marker)
    open(marker, "w").close()
    assert not first
`)
	g = grade(fix, func(s *GradeSpec) {
		s.TestPatch = append(append([]byte{}, testPatch...), diff(t, "tests/test_flaky.py", nil, flakyTest)...)
		s.PassToPass = append(s.PassToPass, "tests/test_flaky.py::test_flaky")
	})
	if g.Status != StatusUnresolved || strings.Join(g.Flaky, ",") != "tests/test_flaky.py::test_flaky" || g.Runs != 2 {
		t.Fatalf("a flaky test: status %s, flaky %v, runs %d (%s)", g.Status, g.Flaky, g.Runs, g.Reason)
	}
	// A test command that never ends: unresolved at its timeout, not an infra error.
	g = grade(fix, func(s *GradeSpec) { s.TestCmd = "sleep 30"; s.Limits.Timeout = 300 * time.Millisecond; s.Reruns = 0 })
	if g.Status != StatusUnresolved || !g.TimedOut {
		t.Fatalf("a test command at its timeout: %+v", g)
	}
	// The sandbox cannot start: infra_error, and the error says so.
	_, err := GradePatch(ctx, b, GradeSpec{Workspace: Workspace{Source: filepath.Join(src, "missing")}, Patch: fix, TestCmd: "true"})
	if !errors.Is(err, ErrInfra) {
		t.Fatalf("missing workspace source: %v, want ErrInfra", err)
	}
}

func TestGoCacheWarm(t *testing.T) {
	needBwrap(t)
	ctx := context.Background()
	seed := filepath.Join(t.TempDir(), "gocache") // need not be reachable by the sandbox user
	b := &Local{Root: sandboxRoot(t), GoCache: seed}
	ws := Workspace{Source: examples(t, "gointerval")}
	if err := b.WarmGoCache(ctx, ws); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(seed)
	if len(entries) < 10 {
		t.Fatalf("warmed cache has %d entries", len(entries))
	}
	sb, err := b.Open(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(ctx)
	res := run(t, sb, Spec{Argv: sh(`go test -count=1 -json . && touch "$GOCACHE/written-by-sandbox"`), Limits: Limits{Timeout: 5 * time.Minute}})
	if res.ExitCode != 0 || !bytes.Contains(res.Output, []byte(`"Action":"pass","Package":"example.com/gointerval","Test":"TestMerge"`)) {
		t.Fatalf("go test with the warmed cache: exit %d\n%s", res.ExitCode, res.Output)
	}
	if _, err := os.Stat(filepath.Join(seed, "written-by-sandbox")); err == nil {
		t.Fatal("a sandbox wrote into the shared Go build cache")
	}
}

// TestAttackGradeTestTampering (docs/security.md, finding 3): a candidate
// that fixes nothing but hooks or rewrites the tests graded resolved. Each
// tampering is reverted before the tests run and listed; a real fix that
// also touches a conftest.py still resolves, flagged.
func TestAttackGradeTestTampering(t *testing.T) {
	needBwrap(t)
	needPytest(t)
	ctx := context.Background()
	src, testPatch, fix := rleTask(t)
	spec := GradeSpec{
		Workspace: Workspace{Source: src}, TestPatch: testPatch, TestCmd: "/usr/bin/python3 -m pytest -rA", Framework: "pytest",
		FailToPass: []string{"tests/test_message.py::test_message"},
		PassToPass: []string{"tests/test_message.py::test_still_decodes", "tests/test_rle.py::test_decode"},
		Limits:     Limits{Timeout: time.Minute},
	}
	b := &Local{Root: sandboxRoot(t)}
	passAll := []byte(`import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        rep.outcome = "passed"
`)
	rleOrig, _ := os.ReadFile(filepath.Join(src, "textkit", "rle.py"))
	ini, _ := os.ReadFile(filepath.Join(src, "pytest.ini"))
	nested, nestedErr := os.ReadFile(filepath.Join(src, "tests", "conftest.py"))
	if nestedErr != nil {
		nested = nil
	}
	sitecustom := []byte("import builtins\nbuiltins.ValueError = type('X', (Exception,), {})\n")
	cases := []struct {
		name  string
		patch []byte
		want  string
		infra []string
	}{
		{"conftest turning failures into passes", diff(t, "conftest.py", nil, passAll), StatusUnresolved, []string{"conftest.py"}},
		{"nested conftest", diff(t, "tests/conftest.py", nested, append(append([]byte{}, nested...), passAll...)), StatusUnresolved, []string{"tests/conftest.py"}},
		{"the test file rewritten", diff(t, "tests/test_message.py", nil, []byte("def test_message():\n    pass\n\n\ndef test_still_decodes():\n    pass\n")),
			StatusUnresolved, []string{"tests/test_message.py"}},
		{"pytest.ini deselecting the test", diff(t, "pytest.ini", ini, bytes.Replace(ini, []byte("addopts = "), []byte("addopts = --deselect tests/test_message.py::test_message "), 1)),
			StatusUnresolved, []string{"pytest.ini"}},
		{"sitecustomize.py", append(diff(t, "sitecustomize.py", nil, sitecustom), diff(t, "textkit/rle.py", rleOrig, rleOrig)...), StatusUnresolved, []string{"sitecustomize.py"}},
		{"a real fix with a conftest", append(append([]byte{}, fix...), diff(t, "conftest.py", nil, passAll)...), StatusResolved, []string{"conftest.py"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := spec
			spec.Patch = c.patch
			g, err := GradePatch(ctx, b, spec)
			if err != nil {
				t.Fatalf("grade: %v\n%s", err, g.Log)
			}
			var infra []string
			for _, f := range g.TestInfra {
				infra = append(infra, f.Path)
			}
			if g.Status != c.want || !slices.Equal(infra, c.infra) || !strings.Contains(g.Reason, "test infrastructure") {
				t.Fatalf("status %s (want %s), test infrastructure %v (want %v), reason %q\n%s", g.Status, c.want, infra, c.infra, g.Reason, g.Log)
			}
		})
	}
}

// TestPatchFiles reads git diffs and plain unified diffs of several files,
// new and deleted files, and hunks whose removed lines look like headers.
func TestPatchFiles(t *testing.T) {
	patch := "diff --git a/src/a.py b/src/a.py\n--- a/src/a.py\n+++ b/src/a.py\n@@ -1,3 +1,3 @@\n x\n--- removed line that looks like a header/\n+added\n y\n" +
		"diff --git a/tests/conftest.py b/tests/conftest.py\nnew file mode 100644\n--- /dev/null\n+++ b/tests/conftest.py\n@@ -0,0 +1 @@\n+hook\n" +
		"diff --git a/old.py b/old.py\ndeleted file mode 100644\n--- a/old.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-gone\n"
	plain := "--- a/x.py\t2024-01-01\n+++ b/x.py\t2024-01-02\n@@ -1 +1 @@\n-a\n+b\n--- a/setup.cfg\n+++ b/setup.cfg\n@@ -1,2 +1,2 @@\n [tool:pytest]\n-addopts = -ra\n+addopts = -p no:x\n"
	var got []string
	for _, f := range append(PatchFiles([]byte(patch)), PatchFiles([]byte(plain))...) {
		got = append(got, fmt.Sprintf("%s new=%v del=%v changed=%d", f.Path, f.New, f.Deleted, len(f.Changed)))
	}
	want := []string{"src/a.py new=false del=false changed=2", "tests/conftest.py new=true del=false changed=1", "old.py new=false del=true changed=1",
		"x.py new=false del=false changed=2", "setup.cfg new=false del=false changed=2"}
	if !slices.Equal(got, want) {
		t.Fatalf("files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var infra []string
	for _, f := range TestInfra([]byte(patch + plain)) {
		infra = append(infra, f.Path)
	}
	if !slices.Equal(infra, []string{"tests/conftest.py", "setup.cfg"}) {
		t.Fatalf("test infrastructure: %v", infra)
	}
}
