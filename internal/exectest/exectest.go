// Package exectest helps tests that run real sandboxes: it fails (never
// skips) when bubblewrap or pytest is missing, and finds the sample
// repositories under examples/repos.
package exectest

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/schemas"
)

// Need fails the test unless bubblewrap, git and /usr/bin/python3 with
// pytest are installed.
func Need(t testing.TB) {
	t.Helper()
	if _, err := osexec.LookPath("bwrap"); err != nil {
		t.Fatal("bwrap not found: install the Debian package bubblewrap (apt-get install bubblewrap)")
	}
	if _, err := osexec.LookPath("git"); err != nil {
		t.Fatal("git not found: install the Debian package git")
	}
	if err := osexec.Command("/usr/bin/python3", "-c", "import pytest").Run(); err != nil {
		t.Fatal("/usr/bin/python3 has no pytest: install the Debian package python3-pytest")
	}
}

// Example is the absolute path of a sample repository (examples/repos/<name>).
func Example(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "examples", "repos", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("sample repository %s not found above the test's directory", name)
		}
		dir = parent
	}
}

// Backend is a local sandbox backend under the test's temp dir. Its warmed
// Go build cache is shared by every test process of this machine and Go
// version (in the OS temp dir): the Go cache is safe for concurrent use,
// and sandboxes only ever read copies of it.
func Backend(t testing.TB) *exec.Local {
	t.Helper()
	return &exec.Local{Root: SandboxRoot(t),
		GoCache: filepath.Join(os.TempDir(), "swelake-test-gocache-"+runtime.Version())}
}

// SandboxRoot is a directory for workspaces that the unprivileged sandbox
// user can reach (t.TempDir is 0700), removed after the test.
func SandboxRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "swelake-sandboxes-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
		os.RemoveAll(dir)
	})
	return dir
}

// BugRepo imports the sample repository pytext into a fresh repository
// store twice — clean, and with a bug in textkit/rle.py's encode (runs
// counted twice) — and returns the store, both commits and the fix (the
// diff from the buggy commit to the clean one). The bug fails
// tests/test_rle.py::test_encode and ::test_round_trip.
func BugRepo(t testing.TB) (store, clean, bug string, fix []byte) {
	t.Helper()
	ctx := context.Background()
	store = t.TempDir()
	src := Example(t, "pytext")
	repo := filepath.Join(store, "pytext")
	var err error
	if clean, err = exec.ImportTree(ctx, src, repo, "main"); err != nil {
		t.Fatal(err)
	}
	buggy := filepath.Join(t.TempDir(), "pytext")
	if out, err := osexec.Command("cp", "-a", src, buggy).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	f := filepath.Join(buggy, "textkit", "rle.py")
	code, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, bytes.Replace(code, []byte("run_len += 1"), []byte("run_len += 2"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if bug, err = exec.ImportTree(ctx, buggy, repo, "bug"); err != nil {
		t.Fatal(err)
	}
	out, err := osexec.Command("git", "-C", repo, "diff", "--binary", bug, clean).Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("diff: %v", err)
	}
	return store, clean, bug, out
}

// BugTask is the task of BugRepo's bug.
func BugTask(bug string, fix []byte) schemas.Task {
	return schemas.Task{TaskID: "test/pytext-rle", Source: "test", InstanceID: "pytext-rle", Repo: "pytext", BaseCommit: bug, GoldPatch: string(fix),
		Language: "python", TestCmd: "python3 -m pytest -rA -p no:cacheprovider",
		ProblemStatement: "encode() of textkit.rle returns wrong run lengths: encode(\"aaab\") should be \"3a1b\".",
		FailToPass:       []string{"tests/test_rle.py::test_encode", "tests/test_rle.py::test_round_trip"},
		PassToPass:       []string{"tests/test_rle.py::test_decode", "tests/test_roman.py::test_from_roman"}}
}

// Git returns a runner of git commands in dir with a fixed identity (test
// repositories), failing the test on any error; it returns the trimmed
// output.
func Git(t testing.TB, dir string) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		cmd := osexec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@x", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@x")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
}
