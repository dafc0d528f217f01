package testlog

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

// runner runs a real test runner in dir and returns its output (the
// runners exit non-zero when a test fails: that is expected here).
func runner(t *testing.T, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not found: install it (Debian: python3-pytest for pytest; Go for go test)", name)
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, _ := cmd.CombinedOutput()
	return out
}

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func check(t *testing.T, got Results, want Results) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

const pyTests = `import pytest, unittest

def test_pass():
    assert 1 + 1 == 2

def test_fail():
    assert 1 + 1 == 3

@pytest.mark.parametrize("x", [1, 2, "a b"])
def test_param(x):
    assert x != 2

@pytest.mark.skip(reason="not today")
def test_skip():
    pass

@pytest.mark.xfail
def test_xfail():
    assert False

@pytest.fixture
def broken():
    raise RuntimeError("fixture")

def test_error(broken):
    pass

class TestClass:
    def test_method(self):
        assert True
`

// TestPytestReal parses what /usr/bin/python3 -m pytest -rA prints, with
// and without -v.
func TestPytestReal(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"tests/test_a.py": pyTests})
	want := Results{
		"tests/test_a.py::test_pass": Passed, "tests/test_a.py::test_fail": Failed,
		"tests/test_a.py::test_param[1]": Passed, "tests/test_a.py::test_param[2]": Failed, "tests/test_a.py::test_param[a b]": Passed,
		"tests/test_a.py::test_param[a": Passed, // SWE-bench's name for it: cut at the first space
		"tests/test_a.py::test_skip":    Skipped, "tests/test_a.py::test_xfail": XFail, "tests/test_a.py::test_error": Error,
		"tests/test_a.py::TestClass::test_method": Passed,
	}
	for _, args := range [][]string{{"-rA"}, {"-rA", "-v"}, {"-v", "-rN"}} {
		log := runner(t, dir, []string{"PYTHONDONTWRITEBYTECODE=1"}, "/usr/bin/python3", append([]string{"-m", "pytest", "-p", "no:cacheprovider"}, args...)...)
		got := ParsePytest(log)
		if Detect(log) != "pytest" {
			t.Fatalf("detected %q", Detect(log))
		}
		w := want
		if len(args) == 1 {
			// -rA alone: a skip's summary line names file:line, not the test.
			w = Results{}
			for k, v := range want {
				if v != Skipped {
					w[k] = v
				}
			}
		}
		check(t, got, w)
	}
	g := GradeResults(want, []string{"tests/test_a.py::test_pass", "tests/test_a.py::test_xfail"}, []string{"tests/test_a.py::TestClass::test_method"})
	if !g.Resolved {
		t.Fatalf("grade %+v", g)
	}
	g = GradeResults(want, []string{"tests/test_a.py::test_pass"}, []string{"tests/test_a.py::test_fail", "tests/test_a.py::test_missing"})
	if g.Resolved || len(g.P2PFailed) != 2 {
		t.Fatalf("grade %+v", g)
	}
}

// TestUnittestReal parses python3 -m unittest -v.
func TestUnittestReal(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"test_u.py": `import unittest

class T(unittest.TestCase):
    def test_ok(self):
        self.assertEqual(1, 1)

    def test_fail(self):
        self.assertEqual(1, 2)

    def test_error(self):
        raise ValueError("boom")

    @unittest.skip("later")
    def test_skip(self):
        pass

    @unittest.expectedFailure
    def test_xf(self):
        self.assertEqual(1, 2)

    def test_doc(self):
        """A docstring makes unittest print a description line."""
        self.assertTrue(True)
`})
	log := runner(t, dir, nil, "/usr/bin/python3", "-m", "unittest", "-v", "test_u")
	if Detect(log) != "unittest" {
		t.Fatalf("detected %q in\n%s", Detect(log), log)
	}
	check(t, ParseUnittest(log), Results{
		"test_ok (test_u.T)": Passed, "test_fail (test_u.T)": Failed, "test_error (test_u.T)": Error,
		"test_skip (test_u.T)": Skipped, "test_xf (test_u.T)": XFail, "test_doc (test_u.T)": Passed,
	})
}

// TestGoReal parses go test -json, subtests included.
func TestGoReal(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"go.mod": "module example.com/m\n\ngo 1.22\n",
		"m_test.go": `package m

import "testing"

func TestPass(t *testing.T) {}
func TestFail(t *testing.T) { t.Fatal("no") }
func TestSkip(t *testing.T) { t.Skip("later") }
func TestSub(t *testing.T) {
	t.Run("a", func(t *testing.T) {})
	t.Run("b c", func(t *testing.T) { t.Error("bad") })
}
`})
	log := runner(t, dir, []string{"GOFLAGS=-mod=mod", "GOTOOLCHAIN=local"}, "go", "test", "-json", "./...")
	if Detect(log) != "go" {
		t.Fatalf("detected %q", Detect(log))
	}
	check(t, ParseGoTest(log), Results{"TestPass": Passed, "TestFail": Failed, "TestSkip": Skipped, "TestSub": Failed, "TestSub/a": Passed, "TestSub/b_c": Failed})
}

func TestParseUnknownFramework(t *testing.T) {
	if _, err := Parse("jest", nil); err == nil {
		t.Fatal("unknown framework accepted")
	}
}

// TestHarnessParserVariants: the SWE-bench harness's parser variants.
func TestHarnessParserVariants(t *testing.T) {
	opts, _ := Parse("pytest-options", []byte("PASSED tests/test_x.py::test_read[/home/ci/data/a.dcm]\nFAILED tests/test_x.py::test_read[//net/b] - boom\n"))
	if opts["tests/test_x.py::test_read[/a.dcm]"] != Passed || opts["tests/test_x.py::test_read[/home/ci/data/a.dcm]"] != Passed || opts["tests/test_x.py::test_read[//net/b]"] != Failed {
		t.Fatalf("pytest-options: %v", opts)
	}
	v2, _ := Parse("pytest-v2", []byte("\x1b[32mPASSED\x1b[0m astropy/t.py::test_a\n\x1b[31mFAILED\x1b[0m astropy/t.py::test_b - x\n"))
	if v2["astropy/t.py::test_a"] != Passed || v2["astropy/t.py::test_b"] != Failed {
		t.Fatalf("pytest-v2: %v", v2)
	}
	mpl, _ := Parse("matplotlib", []byte("PASSED lib/t.py::test_click[MouseButton.LEFT]\n"))
	if mpl["lib/t.py::test_click[1]"] != Passed {
		t.Fatalf("matplotlib: %v", mpl)
	}
	dj, _ := Parse("django", []byte(`test_ok (admin_views.tests.AdminTests) ... ok
test_fail (admin_views.tests.AdminTests.test_fail) ... FAIL
test_docstring (utils_tests.test_text.T)
Says what it does. ... ok
======================================================================
ERROR: test_err (admin_views.tests.AdminTests)
----------------------------------------------------------------------
`))
	want := Results{"test_ok (admin_views.tests.AdminTests)": Passed, "test_fail (admin_views.tests.AdminTests)": Failed,
		"test_docstring (utils_tests.test_text.T)": Passed, "test_err (admin_views.tests.AdminTests)": Error}
	if !reflect.DeepEqual(dj, want) {
		t.Fatalf("django:\n got %v\nwant %v", dj, want)
	}
}
