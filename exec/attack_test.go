package exec_test

import (
	"os"
	"os/exec"
	"testing"

	swexec "github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/sandboxtest"
	"github.com/swelake/swelake/internal/exectest"
)

// TestAttackSandboxLocal runs the adversarial suite (docs/security.md) on
// the bubblewrap backend.
func TestAttackSandboxLocal(t *testing.T) {
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Fatal("bwrap not found: install the Debian package bubblewrap (apt-get install bubblewrap)")
	}
	root := exectest.SandboxRoot(t)
	cwd, _ := os.Getwd()
	home, _ := os.UserHomeDir()
	sandboxtest.Attacks(t, &swexec.Local{Root: root}, sandboxtest.Options{
		HostRoot: os.Geteuid() == 0,
		Hidden:   []string{cwd, home, os.Getenv("GOPATH")},
	})
}

// TestAttackSandboxDocker runs the adversarial suite on the container
// backend against a real engine (Podman's Docker API, started by the test).
func TestAttackSandboxDocker(t *testing.T) {
	d, e := exectest.Docker(t)
	t.Run("suite", func(t *testing.T) { sandboxtest.Attacks(t, d, sandboxtest.Options{}) })
	exectest.NoLeftovers(t, d, e)
}
