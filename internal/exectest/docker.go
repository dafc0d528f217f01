package exectest

import (
	"cmp"
	"context"
	"os"
	"testing"
	"time"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/envimage"
	"github.com/swelake/swelake/internal/podmantest"
)

// ImageCache is where built root filesystems are kept between test runs
// ($SWELAKE_IMAGE_CACHE, else the user's cache directory): the base image
// is built once per machine (mmdebstrap, about 30 s to 2.5 min) and
// imported into each test's engine (about 10 s).
func ImageCache(t testing.TB) string {
	t.Helper()
	return cmp.Or(os.Getenv("SWELAKE_IMAGE_CACHE"), envimage.DefaultCacheDir())
}

// Docker starts a real engine (Podman's Docker API) for the test, with the
// base image imported, and returns the docker backend on it (its default
// image the base image) and the engine. It fails, never skips, when
// Podman, runc or mmdebstrap is missing.
func Docker(t testing.TB) (*exec.Docker, *podmantest.Engine) {
	t.Helper()
	e := podmantest.ForTest(t)
	d := &exec.Docker{Host: e.Host, Image: envimage.BaseRef}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	b := &envimage.Builder{Docker: d, CacheDir: ImageCache(t)}
	if _, err := b.Base(ctx, nil); err != nil {
		t.Fatalf("base image: %v", err)
	}
	return d, e
}

// NoLeftovers fails the test if the engine still has a container of ours
// or a helper process (conmon) once the test's sandboxes are closed.
func NoLeftovers(t testing.TB, d *exec.Docker, e *podmantest.Engine) {
	t.Helper()
	ids, err := d.Containers(context.Background(), exec.SandboxLabel)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) > 0 {
		t.Errorf("%d containers left: %v", len(ids), ids)
	}
	// An exec session's helper exits right after it (exit_command_delay
	// 0); give the last ones a moment.
	deadline := time.Now().Add(5 * time.Second)
	for len(e.Helpers()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if h := e.Helpers(); len(h) > 0 {
		t.Errorf("%d engine helper processes left: pids %v", len(h), h)
	}
}
