//go:build realtasks

package exec_test

import (
	"context"
	"encoding/json"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	swexec "github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/envimage"
	"github.com/swelake/swelake/internal/exectest"
	"github.com/swelake/swelake/internal/realsamples"
)

// BenchmarkRealGrading (make realtasks): grading a real instance (its gold
// patch) in a container of its instance image, and in bubblewrap, against
// running its test command directly on the host in a checkout with both
// patches applied. Two figures per backend: one grading alone (cold), and
// gradings in a row as the jobs run them (job: the sandbox pool, per
// grading, against as many host runs in a row); b.N rounds. Target:
// container ≤ 1.3× the host. Two instances: flask's tests take half a
// second, xarray's more.
func BenchmarkRealGrading(b *testing.B) {
	for _, id := range []string{"pallets__flask-4992", "pydata__xarray-5131"} {
		b.Run(id, func(b *testing.B) { realGrading(b, id) })
	}
}

func realGrading(b *testing.B, id string) {
	repos := os.Getenv("SWELAKE_REALTASKS_REPOS")
	if repos == "" {
		b.Fatal("SWELAKE_REALTASKS_REPOS is not set (make realtasks)")
	}
	inst := filepath.Join(realsamples.Dir(b), "swe-tasks", id)
	var row struct {
		Repo       string          `json:"repo"`
		InstanceID string          `json:"instance_id"`
		BaseCommit string          `json:"base_commit"`
		Patch      string          `json:"patch"`
		TestPatch  string          `json:"test_patch"`
		F2P        json.RawMessage `json:"FAIL_TO_PASS"`
		P2P        json.RawMessage `json:"PASS_TO_PASS"`
	}
	var env struct {
		TestCmd  string            `json:"test_cmd"`
		Env      map[string]string `json:"env"`
		Packages []string          `json:"debian_packages"`
	}
	realsamples.ReadJSON(b, filepath.Join(inst, "row.json"), &row)
	realsamples.ReadJSON(b, filepath.Join(inst, "environment.json"), &env)
	f2p, p2p := realsamples.TestList(b, row.F2P), realsamples.TestList(b, row.P2P)
	src := filepath.Join(repos, row.Repo)
	ctx := context.Background()
	exectest.Need(b)
	d, _ := exectest.Docker(b)
	bld := &envimage.Builder{Docker: d, CacheDir: exectest.ImageCache(b)}
	base, err := bld.Base(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	ei, err := bld.Env(ctx, base, envimage.EnvSpec{Key: row.Repo, Packages: env.Packages})
	if err != nil {
		b.Fatal(err)
	}
	ii, err := bld.Instance(ctx, ei, envimage.InstanceSpec{InstanceID: row.InstanceID, RepoDir: src, Commit: row.BaseCommit})
	if err != nil {
		b.Fatal(err)
	}
	script := env.TestCmd
	for k, v := range env.Env {
		script = "export " + k + "=\"$PWD/" + v + "\"\n" + script
	}

	// The host: a checkout at the base commit with both patches applied.
	host := filepath.Join(b.TempDir(), "repo")
	for _, args := range [][]string{{"clone", "-q", "--no-checkout", src, host}, {"-C", host, "checkout", "-q", row.BaseCommit}} {
		if out, err := osexec.Command("git", args...).CombinedOutput(); err != nil {
			b.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	for _, p := range []string{row.TestPatch, row.Patch} {
		cmd := osexec.Command("git", "-C", host, "apply", "-")
		cmd.Stdin = strings.NewReader(p)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git apply: %v %s", err, out)
		}
	}
	grade := func(be swexec.Backend, ws swexec.Workspace) {
		g, err := swexec.GradePatch(ctx, be, swexec.GradeSpec{Workspace: ws, TestPatch: []byte(row.TestPatch), Patch: []byte(row.Patch),
			TestCmd: script, Framework: "pytest", FailToPass: f2p, PassToPass: p2p})
		if err != nil || g.Status != swexec.StatusResolved {
			b.Fatalf("%s: %s %s %v", be.Name(), g.Status, g.Reason, err)
		}
	}
	// cold: one grading alone, its open and close on its path. job:
	// gradings one after another as the jobs run them (a Pool opening the
	// next workspace ahead and closing in the background; its Close, which
	// waits for every removal, counted), per grading. Rounds alternate the
	// host and each backend (this machine's speed drifts by ±20% over a
	// minute); the ratios are the rounds' medians.
	cold := func(be swexec.Backend, ws swexec.Workspace) time.Duration {
		t0 := time.Now()
		grade(be, ws)
		return time.Since(t0)
	}
	const inRow = 8
	job := func(be swexec.Backend, ws swexec.Workspace) time.Duration {
		t0 := time.Now()
		pool := swexec.NewPool(ctx, be, 1, nil)
		for i := range inRow {
			pool.Expect(i, ws)
		}
		for i := range inRow {
			grade(pool.Item(i), ws)
			pool.Done(i)
		}
		if err := pool.Close(ctx); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0) / inRow
	}
	onHost := func() time.Duration {
		t0 := time.Now()
		cmd := osexec.Command("sh", "-c", script)
		cmd.Dir = host
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("on the host: %v\n%s", err, out)
		}
		return time.Since(t0)
	}
	hostRow := func() time.Duration {
		var sum time.Duration
		for range inRow {
			sum += onHost()
		}
		return sum / inRow
	}
	ctrWS := swexec.Workspace{Image: ii.Ref, Commit: row.BaseCommit}
	localWS := swexec.Workspace{Source: src, Commit: row.BaseCommit}
	local := &swexec.Local{Root: exectest.SandboxRoot(b)}
	var hostT, ctrT, bwrapT, ctrJob, bwrapJob, ctrCold, bwrapCold, ctrRow, bwrapRow []float64
	for range b.N {
		h := onHost().Seconds()
		hostT = append(hostT, h)
		c, l := cold(d, ctrWS).Seconds(), cold(local, localWS).Seconds()
		ctrT, bwrapT = append(ctrT, c), append(bwrapT, l)
		ctrCold, bwrapCold = append(ctrCold, c/h), append(bwrapCold, l/h)
		h = hostRow().Seconds()
		c, l = job(d, ctrWS).Seconds(), job(local, localWS).Seconds()
		ctrJob, bwrapJob = append(ctrJob, c), append(bwrapJob, l)
		ctrRow, bwrapRow = append(ctrRow, c/h), append(bwrapRow, l/h)
	}
	med := func(xs []float64) float64 {
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	b.ReportMetric(med(hostT), "host_s")
	b.ReportMetric(med(ctrT), "container_cold_s")
	b.ReportMetric(med(bwrapT), "bwrap_cold_s")
	b.ReportMetric(med(ctrJob), "container_job_s")
	b.ReportMetric(med(bwrapJob), "bwrap_job_s")
	b.ReportMetric(med(ctrCold), "container_cold/host")
	b.ReportMetric(med(bwrapCold), "bwrap_cold/host")
	b.ReportMetric(med(ctrRow), "container_job/host")
	b.ReportMetric(med(bwrapRow), "bwrap_job/host")
}
