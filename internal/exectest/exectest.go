// Package exectest helps tests that run real sandboxes: it fails (never
// skips) when bubblewrap or pytest is missing, and finds the sample
// repositories under examples/repos.
package exectest

import (
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/swelake/swelake/exec"
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
	return &exec.Local{Root: filepath.Join(t.TempDir(), "sandboxes"),
		GoCache: filepath.Join(os.TempDir(), "swelake-test-gocache-"+runtime.Version())}
}
