package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrPatch: no method could apply a patch. The patch's fault, not the
// sandbox's: grading records the task as unresolved with patch_applied false.
var ErrPatch = errors.New("patch does not apply")

// How a patch was applied, in the order they are tried (SWE-bench's
// harness: git apply, then a looser git apply, then GNU patch with fuzz).
const (
	ApplyGit       = "git_apply"       // git apply, exact
	ApplyGitLoose  = "git_apply_loose" // git apply --recount --ignore-whitespace
	ApplyPatchFuzz = "patch_fuzz"      // patch --fuzz=5 (after a clean dry run)
)

// applyAttempts are the commands tried in turn; the patch arrives on stdin,
// so its size is never bound by the command line, and its bytes are passed
// through untouched (binary git patches included).
var applyAttempts = []struct {
	method string
	argvs  [][]string // all must succeed; the first may be a dry run
}{
	{ApplyGit, [][]string{{"git", "apply", "--verbose", "--whitespace=nowarn", "-"}}},
	{ApplyGitLoose, [][]string{{"git", "apply", "--verbose", "--recount", "--ignore-whitespace", "--whitespace=nowarn", "-"}}},
	{ApplyPatchFuzz, [][]string{
		{"patch", "--batch", "--forward", "--fuzz=5", "-p1", "--dry-run", "--reject-file=-"},
		{"patch", "--batch", "--forward", "--fuzz=5", "-p1", "--no-backup-if-mismatch", "--reject-file=-"},
	}},
}

// ApplyResult is how ApplyPatch went.
type ApplyResult struct {
	Method string // one of the Apply* constants; "" when nothing applied
	Log    string // the output of every attempt, for the evaluation's log
}

// ApplyPatch applies a unified diff to the sandbox's workspace, trying git
// apply, a looser git apply, then patch with fuzz, and reports which worked.
// A patch no method applies returns ErrPatch (the workspace is unchanged:
// git apply is atomic and patch runs only after a clean dry run).
func ApplyPatch(ctx context.Context, sb Sandbox, patch []byte) (ApplyResult, error) {
	var res ApplyResult
	if len(bytes.TrimSpace(patch)) == 0 {
		return res, fmt.Errorf("apply patch: %w: the patch is empty", ErrPatch)
	}
	var log strings.Builder
	for _, a := range applyAttempts {
		ok := true
		for _, argv := range a.argvs {
			r, err := sb.Run(ctx, Spec{Argv: argv, Stdin: bytes.NewReader(patch), Limits: Limits{Timeout: 2 * time.Minute}})
			if err != nil {
				res.Log = log.String()
				return res, fmt.Errorf("apply patch (%s): %w", a.method, err)
			}
			fmt.Fprintf(&log, "$ %s\n%s", strings.Join(argv, " "), r.Output)
			if r.ExitCode != 0 {
				fmt.Fprintf(&log, "(exit %d)\n", r.ExitCode)
				ok = false
				break
			}
		}
		if ok {
			res.Method, res.Log = a.method, log.String()
			return res, nil
		}
	}
	res.Log = log.String()
	return res, fmt.Errorf("apply patch: %w (tried %s, %s, %s)", ErrPatch, ApplyGit, ApplyGitLoose, ApplyPatchFuzz)
}

// PatchFile is one file a unified diff changes.
type PatchFile struct {
	Path    string // the path after the change (before it, for a deletion)
	New     bool   // created by the patch
	Deleted bool   // deleted by the patch
	Changed []string
}

// PatchFiles lists the files a patch changes, with the lines it adds or
// removes (without their +/- marks). A file starts at its "diff --git"
// header, or, in a plain unified diff, at its "---" line; its path is the
// "+++" side (the "---" side for a deletion).
func PatchFiles(patch []byte) []PatchFile {
	var out []PatchFile
	cur := -1                // index of the file being read
	sawMinus := false        // cur has had its "---" line
	fromGit := false         // cur started at a "diff --git" header
	oldLeft, newLeft := 0, 0 // lines of the current hunk still to come (from its @@ header)
	for _, line := range strings.Split(string(patch), "\n") {
		if oldLeft > 0 || newLeft > 0 {
			switch {
			case strings.HasPrefix(line, "+"):
				newLeft--
				out[cur].Changed = append(out[cur].Changed, line[1:])
			case strings.HasPrefix(line, "-"):
				oldLeft--
				out[cur].Changed = append(out[cur].Changed, line[1:])
			case strings.HasPrefix(line, `\`): // "\ No newline at end of file"
			default: // context (a blank line is an empty context line)
				oldLeft--
				newLeft--
			}
			continue
		}
		switch {
		case strings.HasPrefix(line, "diff --git "):
			out = append(out, PatchFile{Path: gitHeaderPath(line)})
			cur, sawMinus, fromGit = len(out)-1, false, true
		case strings.HasPrefix(line, "--- "):
			if cur < 0 || sawMinus || !fromGit {
				out = append(out, PatchFile{})
				cur, fromGit = len(out)-1, false
			}
			sawMinus = true
			if p := patchPath(strings.TrimPrefix(line, "--- ")); p != "" && out[cur].Path == "" {
				out[cur].Path = p
			}
		case strings.HasPrefix(line, "+++ ") && cur >= 0:
			if p := patchPath(strings.TrimPrefix(line, "+++ ")); p != "" {
				out[cur].Path = p
			} else {
				out[cur].Deleted = true
			}
		case strings.HasPrefix(line, "new file mode") && cur >= 0:
			out[cur].New = true
		case strings.HasPrefix(line, "deleted file mode") && cur >= 0:
			out[cur].Deleted = true
		case strings.HasPrefix(line, "@@ ") && cur >= 0:
			oldLeft, newLeft = hunkCounts(line)
		}
	}
	return slices.DeleteFunc(out, func(f PatchFile) bool { return f.Path == "" })
}

// hunkCounts reads the line counts of "@@ -a,b +c,d @@" (a missing count is 1).
func hunkCounts(header string) (old, new int) {
	count := func(r string) int {
		if _, n, ok := strings.Cut(r, ","); ok {
			v, _ := strconv.Atoi(n)
			return v
		}
		return 1
	}
	f := strings.Fields(header)
	if len(f) < 3 {
		return 0, 0
	}
	return count(f[1]), count(f[2])
}

// gitHeaderPath takes "b/<path>" from a "diff --git a/<path> b/<path>" line.
func gitHeaderPath(line string) string {
	rest := strings.TrimPrefix(line, "diff --git ")
	if i := strings.LastIndex(rest, " b/"); i >= 0 {
		return rest[i+3:]
	}
	return ""
}

// patchPath strips a/ or b/ and a trailing timestamp; /dev/null is "".
func patchPath(s string) string {
	s, _, _ = strings.Cut(s, "\t")
	s = strings.TrimSpace(s)
	if s == "/dev/null" {
		return ""
	}
	if len(s) > 2 && (s[:2] == "a/" || s[:2] == "b/") {
		return s[2:]
	}
	return s
}

// TestInfraFile is a file of a candidate patch that can change how the
// tests run or what they check, and why.
type TestInfraFile struct {
	Path string `json:"path"`
	Why  string `json:"why"`
	New  bool   `json:"new,omitempty"` // created by the patch
}

// whyTestFile is TestInfraFile.Why for a test file.
const whyTestFile = "test file"

// pytestConfig matches the lines of setup.cfg, tox.ini and pyproject.toml
// that configure test collection or outcomes.
var pytestConfig = regexp.MustCompile(`(?i)pytest|addopts|testpaths|python_files|python_classes|python_functions|norecursedirs|filterwarnings|xfail_strict|usefixtures`)

// TestInfra lists the files of a patch that touch test infrastructure:
// pytest hooks (conftest.py), interpreter start-up hooks (sitecustomize.py,
// usercustomize.py, .pth files), the test sections of pytest.ini, setup.cfg,
// tox.ini and pyproject.toml, and test files (tests/**, test_*.py,
// *_test.py, *_test.go). Grading reverts them before the task's tests run
// (GradePatch); curation's test_tampering rule flags rollouts whose patch
// changes existing ones.
func TestInfra(patch []byte) []TestInfraFile {
	var out []TestInfraFile
	for _, f := range PatchFiles(patch) {
		if why := testInfraWhy(f); why != "" {
			out = append(out, TestInfraFile{Path: f.Path, Why: why, New: f.New})
		}
	}
	return out
}

func testInfraWhy(f PatchFile) string {
	base := path.Base(f.Path)
	switch {
	case base == "conftest.py":
		return "pytest hooks (conftest.py)"
	case base == "sitecustomize.py" || base == "usercustomize.py":
		return "interpreter start-up hook (" + base + ")"
	case strings.HasSuffix(base, ".pth"):
		return "interpreter start-up hook (.pth file)"
	case base == "pytest.ini":
		return "pytest configuration (pytest.ini)"
	case base == "setup.cfg" || base == "tox.ini" || base == "pyproject.toml":
		for _, l := range f.Changed {
			if pytestConfig.MatchString(l) {
				return "pytest configuration (" + base + ")"
			}
		}
		return ""
	}
	for _, dir := range strings.Split(path.Dir(f.Path), "/") {
		if dir == "tests" || dir == "test" || dir == "testing" {
			return whyTestFile
		}
	}
	if (strings.HasPrefix(base, "test_") && strings.HasSuffix(base, ".py")) || strings.HasSuffix(base, "_test.py") || strings.HasSuffix(base, "_test.go") {
		return whyTestFile
	}
	return ""
}
