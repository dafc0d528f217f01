package taskenv

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const patch = `diff --git a/tests/admin_views/test_forms.py b/tests/admin_views/test_forms.py
--- a/tests/admin_views/test_forms.py
+++ b/tests/admin_views/test_forms.py
@@ -1 +1 @@
-a
+b
diff --git a/tests/admin_views/fixtures/data.json b/tests/admin_views/fixtures/data.json
--- a/tests/admin_views/fixtures/data.json
+++ b/tests/admin_views/fixtures/data.json
@@ -1 +1 @@
-a
+b
diff --git a/tests/utils_tests/test_text.py b/tests/utils_tests/test_text.py
--- a/tests/utils_tests/test_text.py
+++ b/tests/utils_tests/test_text.py
@@ -1 +1 @@
-a
+b
`

func TestResolveBuiltin(t *testing.T) {
	s, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	dj := s.Resolve(Task{Repo: "django/django", Version: "4.0", TestPatch: patch})
	if dj.TestCmd != "python3 tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 admin_views.test_forms utils_tests.test_text" || dj.LogParser != "django" {
		t.Fatalf("django: %+v", dj)
	}
	py := s.Resolve(Task{Repo: "someone/else", TestPatch: patch, Language: "python"})
	if py.TestCmd != "python3 -m pytest -rA --tb=short -p no:cacheprovider tests/admin_views/test_forms.py tests/utils_tests/test_text.py" || py.LogParser != "pytest" {
		t.Fatalf("default: %+v", py)
	}
	if got := s.Resolve(Task{Repo: "pydicom/pydicom", TestPatch: patch}).LogParser; got != "pytest-options" {
		t.Fatalf("pydicom parser %s", got)
	}
	row := s.Resolve(Task{Repo: "sympy/sympy", TestCmd: "make test", TestPatch: patch})
	if row.TestCmd != "make test" || row.LogParser != "sympy" {
		t.Fatalf("the row's own command: %+v", row)
	}
	// SWE-rebench's install_config.test_cmd: the harness appends the test
	// files.
	rb := s.Resolve(Task{Repo: "falconry/falcon", TestCmd: "pytest --no-header -rA", TestPatch: patch, AppendTests: true})
	if rb.TestCmd != "pytest --no-header -rA tests/admin_views/test_forms.py tests/utils_tests/test_text.py" {
		t.Fatalf("swe-rebench: %+v", rb)
	}
	if got := s.Resolve(Task{Repo: "x/go", Language: "go", TestCmd: "go test -json ./..."}); got.LogParser != "go" {
		t.Fatalf("go: %+v", got)
	}
}

func TestSpecsFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "specs.yaml")
	os.WriteFile(file, []byte(`specs:
  - repo: pytest-dev/pytest
    version: "8.*"
    env: {PYTHONPATH: "$PWD/src"}
    setup: |
      echo 'version = "8.0"' > src/_pytest/_version.py
    packages: [python3-iniconfig, python3-pluggy]
  - repo: pytest-dev/pytest
    test_cmd: python3 -m pytest -x {test_files}
`), 0o644)
	s, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	e := s.Resolve(Task{Repo: "pytest-dev/pytest", Version: "8.0", TestPatch: "diff --git a/testing/test_a.py b/testing/test_a.py\n"})
	want := "export PYTHONPATH=\"$PWD/src\"\necho 'version = \"8.0\"' > src/_pytest/_version.py\npython3 -m pytest -x testing/test_a.py"
	if e.Script() != want || !slices.Equal(e.Packages, []string{"python3-iniconfig", "python3-pluggy"}) || e.LogParser != "auto" {
		t.Fatalf("script:\n%s\npackages %v parser %s", e.Script(), e.Packages, e.LogParser)
	}
	// Another version: only the second spec and the built-ins apply.
	if e := s.Resolve(Task{Repo: "pytest-dev/pytest", Version: "7.4"}); e.Setup != "" || e.Env != nil || e.TestCmd != "python3 -m pytest -x" {
		t.Fatalf("7.4: %+v", e)
	}
	// The file wins over the row's own command; the row over the built-ins.
	if e := s.Resolve(Task{Repo: "pytest-dev/pytest", Version: "8.0", TestCmd: "pytest", TestPatch: "diff --git a/testing/test_a.py b/testing/test_a.py\n"}); e.TestCmd != "python3 -m pytest -x testing/test_a.py" {
		t.Fatalf("file over row: %+v", e)
	}
	if e := s.Resolve(Task{Repo: "other/repo", TestCmd: "make check"}); e.TestCmd != "make check" {
		t.Fatalf("row over built-in: %+v", e)
	}
	if s.Hash() == "" {
		t.Fatal("no hash")
	}
	for bad, msg := range map[string]string{
		"specs:\n  - repo: a/b\n    log_parsr: pytest\n":         "log_parsr",
		"specs:\n  - repo: a/b\n    log_parser: nose\n":          `log_parser "nose"`,
		"specs:\n  - version: '1.0'\n":                           "repo is empty",
		"specs:\n  - repo: a/b\n    version: '['\n":              "version pattern",
		"specs:\n  - repo: a/b\n    env: {PYTHONPATH: 'a\"b'}\n": "env PYTHONPATH",
		"specs:\n  - repo: a/b\n    directives: modules\n":       `directives "modules"`,
	} {
		os.WriteFile(file, []byte(bad), 0o644)
		if _, err := Load(file); err == nil || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), "specs.yaml") {
			t.Errorf("%q: %v, want an error naming the file and %s", bad, err, msg)
		}
	}
}
