package exec

import (
	"context"
	"os"
	osexec "os/exec"
	"testing"
)

// needBwrap fails (never skips) when bubblewrap is missing.
func needBwrap(t *testing.T) {
	t.Helper()
	if _, err := osexec.LookPath("bwrap"); err != nil {
		t.Fatal("bwrap not found: install the Debian package bubblewrap (apt-get install bubblewrap)")
	}
	if _, err := osexec.LookPath("python3"); err != nil {
		t.Fatal("python3 not found: install the Debian package python3")
	}
}

func run(t *testing.T, s Sandbox, spec Spec) Result {
	t.Helper()
	res, err := s.Run(context.Background(), spec)
	if err != nil {
		t.Fatalf("run %v: %v", spec.Argv, err)
	}
	return res
}

func sh(script string) []string { return []string{"sh", "-c", script} }

// sandboxRoot is a directory for workspaces that the unprivileged sandbox
// user can reach (t.TempDir is 0700).
func sandboxRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "swelake-sandboxes-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o711)
	t.Cleanup(func() { removeAll(dir) })
	return dir
}
