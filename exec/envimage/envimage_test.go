package envimage_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/envimage"
	"github.com/swelake/swelake/internal/exectest"
)

// TestLayers builds the three layers offline on a real engine — the base
// (mmdebstrap), an environment with a Debian package the base lacks (apt
// downloads on the host, dpkg in a build with no network), an instance
// (a repository at its commit at /testbed) — runs a sandbox on the
// instance, reuses every layer on a second build, and round-trips the
// instance through a `docker save` archive.
func TestLayers(t *testing.T) {
	d, e := exectest.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	repo := t.TempDir()
	git := exectest.Git(t, repo)
	git("init", "-q")
	os.WriteFile(filepath.Join(repo, "app.py"), []byte("import iniconfig\nVERSION = 1\n"), 0o644)
	git("add", ".")
	git("commit", "-qm", "one")
	base1 := git("rev-parse", "HEAD")
	os.WriteFile(filepath.Join(repo, "app.py"), []byte("VERSION = 2\n"), 0o644)
	git("commit", "-qam", "two")

	b := &envimage.Builder{Docker: d, CacheDir: exectest.ImageCache(t)}
	build := func() (envimage.Image, envimage.Image, envimage.Image) {
		base, err := b.Base(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		env, err := b.Env(ctx, base, envimage.EnvSpec{Key: "t/app@1.0", Packages: []string{"python3-iniconfig"}})
		if err != nil {
			t.Fatal(err)
		}
		inst, err := b.Instance(ctx, env, envimage.InstanceSpec{InstanceID: "T__App-1", RepoDir: repo, Commit: base1})
		if err != nil {
			t.Fatal(err)
		}
		return base, env, inst
	}
	_, env, inst := build()
	if !env.Built || !inst.Built || inst.Ref != "sweb.eval.x86_64.t__app-1:latest" || !strings.HasPrefix(env.Ref, "sweb.env.py.x86_64.") {
		t.Fatalf("first build: %+v %+v", env, inst)
	}
	sb, err := d.Open(ctx, exec.Workspace{Image: inst.Ref, Commit: base1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := sb.Run(ctx, exec.Spec{Argv: []string{"sh", "-c", "python3 -c 'import app; print(app.VERSION)' && git rev-parse HEAD && pwd"}})
	sb.Close(ctx)
	if err != nil || res.ExitCode != 0 || string(res.Output) != "1\n"+base1+"\n/testbed\n" {
		t.Fatalf("instance: %+v %q %v", res, res.Output, err)
	}
	_, env2, inst2 := build()
	if env2.Built || inst2.Built || env2.Ref != env.Ref {
		t.Fatalf("second build rebuilt: %+v %+v", env2, inst2)
	}
	// Air-gapped clusters: save, remove, load.
	var ar bytes.Buffer
	if err := d.SaveImages(ctx, &ar, inst.Ref); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveImage(ctx, inst.Ref); err != nil {
		t.Fatal(err)
	}
	loaded, err := d.LoadImages(ctx, &ar)
	if err != nil || len(loaded) == 0 {
		t.Fatalf("load: %v %v", loaded, err)
	}
	if info, err := d.InspectImage(ctx, inst.Ref); err != nil || info.Labels[envimage.LabelInputs] != inst.Inputs {
		t.Fatalf("loaded image: %+v %v", info, err)
	}
	exectest.NoLeftovers(t, d, e)
}
