package exec_test

import (
	"context"
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
// backend against a real engine. It needs DOCKER_HOST and an image
// (SWELAKE_DOCKER_IMAGE) with sh, git, python3 and coreutils; without them
// it is skipped, as TestDockerEngine is (docs/security.md, "The container
// backend").
func TestAttackSandboxDocker(t *testing.T) {
	d := &swexec.Docker{Host: os.Getenv("DOCKER_HOST")}
	if err := d.Ping(context.Background()); err != nil || os.Getenv("SWELAKE_DOCKER_IMAGE") == "" {
		t.Skipf("no engine or no image (DOCKER_HOST, SWELAKE_DOCKER_IMAGE): %v", err)
	}
	sandboxtest.Attacks(t, imageBackend{d, os.Getenv("SWELAKE_DOCKER_IMAGE")}, sandboxtest.Options{})
}

// imageBackend opens every sandbox from one image.
type imageBackend struct {
	*swexec.Docker
	image string
}

func (b imageBackend) Open(ctx context.Context, ws swexec.Workspace) (swexec.Sandbox, error) {
	ws.Image = b.image
	return b.Docker.Open(ctx, ws)
}
