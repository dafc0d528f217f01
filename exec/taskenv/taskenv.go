// Package taskenv says how a task's tests run: the SWE-bench harness's
// per-repository specs (test command, the test files of the test patch as
// its arguments, the log parser), overridable per repository and version
// by a specs file (YAML) and per task by the row's own test command. It
// also carries what an environment image needs (Debian packages, a setup
// step, environment variables).
package taskenv

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/swelake/swelake/exec/testlog"
)

// Spec is how the tasks of one repository (and versions matching Version,
// a path.Match pattern; "" or "*": all) run. Empty fields fall back to the
// next spec that matches: a specs file's, then the built-in ones.
type Spec struct {
	Repo    string `yaml:"repo" json:"repo"`
	Version string `yaml:"version,omitempty" json:"version,omitempty"`
	// TestCmd runs with sh -c in the repository root. "{test_files}"
	// stands for the test files the task's test patch touches (SWE-bench's
	// test directives); without it the command runs as written.
	TestCmd string `yaml:"test_cmd,omitempty" json:"test_cmd,omitempty"`
	// Directives turns test files into arguments: "paths" (default) or
	// "django" (tests/a/test_b.py → a.test_b, Django's runner).
	Directives string `yaml:"directives,omitempty" json:"directives,omitempty"`
	// LogParser names an exec/testlog parser (testlog.Frameworks()).
	LogParser string `yaml:"log_parser,omitempty" json:"log_parser,omitempty"`
	// Env is exported before the setup and the test command, each value
	// expanded by the shell in the repository root ("$PWD/src").
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	// Setup runs before the test command, in the same shell (generated
	// files an install would have written).
	Setup string `yaml:"setup,omitempty" json:"setup,omitempty"`
	// Packages are the Debian packages of the environment image.
	Packages []string `yaml:"packages,omitempty" json:"packages,omitempty"`
}

// Specs are the specs in force: a file's first, then the built-in ones.
type Specs struct {
	list  []Spec
	nUser int // list[:nUser] came from the user (a specs file)
	hash  string
}

// pytestCmd is SWE-bench's pytest invocation (-rA: a summary line per
// test), with Debian's python3 and no cache written into the repository.
const pytestCmd = "python3 -m pytest -rA --tb=short -p no:cacheprovider {test_files}"

// Builtin are the SWE-bench harness's specs for its repositories
// (swebench/harness/constants and log_parsers/python.py's
// MAP_REPO_TO_PARSER_PY), with Debian's python3 for the conda
// environment; any other repository runs pytest.
func Builtin() []Spec {
	return []Spec{
		{Repo: "sympy/sympy", TestCmd: "PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' python3 bin/test -C --verbose {test_files}", LogParser: "sympy"},
		{Repo: "django/django", TestCmd: "python3 tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 {test_files}", Directives: "django", LogParser: "django"},
		{Repo: "pydicom/pydicom", LogParser: "pytest-options"},
		{Repo: "psf/requests", LogParser: "pytest-options"},
		{Repo: "pylint-dev/pylint", LogParser: "pytest-options"},
		{Repo: "astropy/astropy", LogParser: "pytest-v2"},
		{Repo: "scikit-learn/scikit-learn", LogParser: "pytest-v2"},
		{Repo: "sphinx-doc/sphinx", LogParser: "pytest-v2"},
		{Repo: "matplotlib/matplotlib", LogParser: "matplotlib"},
		{Repo: "mwaskom/seaborn", LogParser: "pytest"},
		{Repo: "*", TestCmd: pytestCmd, Directives: "paths"}, // parser: by the task's language
	}
}

// New returns the built-in specs after user (a specs file's).
func New(user []Spec) (Specs, error) {
	for i, s := range user {
		if s.Repo == "" {
			return Specs{}, fmt.Errorf("spec %d: repo is empty (use \"*\" for every repository)", i+1)
		}
		if _, err := path.Match(cmp.Or(s.Version, "*"), ""); err != nil {
			return Specs{}, fmt.Errorf("spec %d (%s): version pattern %q: %v", i+1, s.Repo, s.Version, err)
		}
		if s.LogParser != "" && !slices.Contains(testlog.Frameworks(), s.LogParser) {
			return Specs{}, fmt.Errorf("spec %d (%s): log_parser %q: want one of %s", i+1, s.Repo, s.LogParser, strings.Join(testlog.Frameworks(), ", "))
		}
		if s.Directives != "" && s.Directives != "paths" && s.Directives != "django" {
			return Specs{}, fmt.Errorf("spec %d (%s): directives %q: want paths or django", i+1, s.Repo, s.Directives)
		}
		for k, v := range s.Env {
			if !envName.MatchString(k) || strings.ContainsAny(v, "\"`\\\n") {
				return Specs{}, fmt.Errorf("spec %d (%s): env %s: a name of letters, digits and _ and a value without quotes, backquotes, backslashes or newlines", i+1, s.Repo, k)
			}
		}
	}
	list := append(slices.Clone(user), Builtin()...)
	data, _ := json.Marshal(list)
	sum := sha256.Sum256(data)
	return Specs{list: list, nUser: len(user), hash: hex.EncodeToString(sum[:])}, nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Load reads a specs file: YAML with a list under "specs".
func Load(file string) (Specs, error) {
	if file == "" {
		return New(nil)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return Specs{}, fmt.Errorf("specs: %w", err)
	}
	var doc struct {
		Specs []Spec `yaml:"specs"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return Specs{}, fmt.Errorf("specs %s: %w", file, err)
	}
	s, err := New(doc.Specs)
	if err != nil {
		return Specs{}, fmt.Errorf("specs %s: %w", file, err)
	}
	return s, nil
}

// Hash identifies the specs in force (part of a grading run's identity).
func (s Specs) Hash() string { return s.hash }

// Task is what resolution reads of a task row.
type Task struct {
	Repo, Version, TestCmd, TestPatch, Language string
	// AppendTests: the row's test command is the harness's base command,
	// the test files of the test patch to be appended (SWE-rebench's
	// install_config.test_cmd).
	AppendTests bool
	// LogParser is the row's own parser name: one of testlog.Frameworks()
	// or a harness function name (HarnessParser).
	LogParser string
}

// harnessParsers maps the SWE-bench harness's parser functions (the names
// SWE-rebench-V2 rows give in install_config.log_parser) to testlog's.
var harnessParsers = map[string]string{
	"parse_log_pytest": "pytest", "parse_log_pytest_options": "pytest-options", "parse_log_pytest_v2": "pytest-v2",
	"parse_log_django": "django", "parse_log_sympy": "sympy", "parse_log_matplotlib": "matplotlib", "parse_log_seaborn": "pytest",
	"parse_log_astroid": "pytest", "parse_log_flask": "pytest", "parse_log_marshmallow": "pytest", "parse_log_pvlib": "pytest",
	"parse_log_pyvista": "pytest", "parse_log_sqlfluff": "pytest", "parse_log_xarray": "pytest",
	"parse_log_pydicom": "pytest-options", "parse_log_requests": "pytest-options", "parse_log_pylint": "pytest-options",
	"parse_log_astropy": "pytest-v2", "parse_log_scikit": "pytest-v2", "parse_log_sphinx": "pytest-v2",
	"parse_log_gotest": "go",
}

// HarnessParser is testlog's name for a parser named by a row: a testlog
// name as it is, a harness function name mapped, "" for one it does not
// know (the specs decide).
func HarnessParser(name string) string {
	if slices.Contains(testlog.Frameworks(), name) {
		return name
	}
	return harnessParsers[name]
}

// Env is how one task's tests run.
type Env struct {
	TestCmd   string            `json:"test_cmd"` // with the test files filled in
	LogParser string            `json:"log_parser"`
	Env       map[string]string `json:"env,omitempty"`
	Setup     string            `json:"setup,omitempty"`
	Packages  []string          `json:"packages,omitempty"`
	TestFiles []string          `json:"test_files,omitempty"`
}

func (s Spec) matches(repo, version string) bool {
	if s.Repo != "*" && !strings.EqualFold(s.Repo, repo) {
		return false
	}
	ok, _ := path.Match(cmp.Or(s.Version, "*"), version)
	return ok
}

// Resolve is how t's tests run: each field from the first matching spec
// of the specs file that sets it, else from the row (its test command),
// else from the first matching built-in spec. The file comes first: it is
// the user's knowledge of the environments they built (Debian's Python
// where a row names a conda one), while a row describes the dataset's.
func (s Specs) Resolve(t Task) Env {
	if s.list == nil {
		s, _ = New(nil)
	}
	var e Env
	var cmdTmpl, directives string
	for i, sp := range s.list {
		if i == s.nUser {
			if cmdTmpl == "" && t.TestCmd != "" {
				cmdTmpl = t.TestCmd
				if t.AppendTests && !strings.Contains(cmdTmpl, "{test_files}") {
					cmdTmpl += " {test_files}"
				}
			}
			e.LogParser = cmp.Or(e.LogParser, HarnessParser(t.LogParser))
		}
		if !sp.matches(t.Repo, t.Version) {
			continue
		}
		cmdTmpl = cmp.Or(cmdTmpl, sp.TestCmd)
		directives = cmp.Or(directives, sp.Directives)
		e.LogParser = cmp.Or(e.LogParser, sp.LogParser)
		e.Setup = cmp.Or(e.Setup, sp.Setup)
		if e.Env == nil && len(sp.Env) > 0 {
			e.Env = sp.Env
		}
		if e.Packages == nil && len(sp.Packages) > 0 {
			e.Packages = sp.Packages
		}
	}
	if e.LogParser == "" {
		switch strings.ToLower(t.Language) {
		case "go", "golang":
			e.LogParser = "go"
		case "python", "py":
			e.LogParser = "pytest"
		default:
			e.LogParser = "auto"
		}
	}
	e.TestFiles = TestDirectives(t.TestPatch, directives)
	e.TestCmd = strings.TrimSpace(strings.ReplaceAll(cmdTmpl, "{test_files}", strings.Join(e.TestFiles, " ")))
	return e
}

// Script is the shell script a grading runs: the environment exported,
// the setup, the test command.
func (e Env) Script() string {
	if len(e.Env) == 0 && e.Setup == "" {
		return e.TestCmd
	}
	var b strings.Builder
	keys := make([]string, 0, len(e.Env))
	for k := range e.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=\"%s\"\n", k, e.Env[k])
	}
	if e.Setup != "" {
		b.WriteString(strings.TrimRight(e.Setup, "\n") + "\n")
	}
	b.WriteString(e.TestCmd)
	return b.String()
}

// nonTestExts are the files of a test patch that are not tests
// (SWE-bench's NON_TEST_EXTS).
var nonTestExts = []string{".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml"}

var diffHeader = regexp.MustCompile(`(?m)^diff --git a/.* b/(.*)$`)

// TestDirectives are the test files a test patch touches, as SWE-bench's
// harness derives them (get_test_directives), in "django" form when asked.
func TestDirectives(testPatch, form string) []string {
	var out []string
	for _, m := range diffHeader.FindAllStringSubmatch(testPatch, -1) {
		f := strings.TrimSpace(m[1])
		if slices.ContainsFunc(nonTestExts, func(ext string) bool { return strings.HasSuffix(f, ext) }) {
			continue
		}
		if form == "django" {
			f = strings.TrimSuffix(f, ".py")
			f = strings.TrimPrefix(f, "tests/")
			f = strings.ReplaceAll(f, "/", ".")
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}
