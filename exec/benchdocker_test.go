package exec_test

import (
	"context"
	"testing"
	"time"

	swexec "github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/internal/exectest"
)

// BenchmarkSandboxBackends: a container sandbox (the docker backend on
// Podman) against bubblewrap, in the same run — open + close of a sandbox
// holding a copy of a sample repository, and a trivial command (true) in
// an open one. Target: at most 50 ms per command.
func BenchmarkSandboxBackends(b *testing.B) {
	exectest.Need(b)
	d, _ := exectest.Docker(b)
	repo := exectest.Example(b, "pytext")
	ctx := context.Background()
	for _, be := range []struct {
		name string
		b    swexec.Backend
	}{{"bwrap", &swexec.Local{Root: exectest.SandboxRoot(b)}}, {"container", d}} {
		var open, cmd time.Duration
		for range b.N {
			t0 := time.Now()
			s, err := be.b.Open(ctx, swexec.Workspace{Source: repo})
			if err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			const n = 20
			for range n {
				if res, err := s.Run(ctx, swexec.Spec{Argv: []string{"true"}}); err != nil || res.ExitCode != 0 {
					b.Fatalf("%s: %+v %v", be.name, res, err)
				}
			}
			t2 := time.Now()
			if err := s.Close(ctx); err != nil {
				b.Fatal(err)
			}
			open += t1.Sub(t0) + time.Since(t2)
			cmd += t2.Sub(t1) / n
		}
		b.ReportMetric(open.Seconds()*1e3/float64(b.N), be.name+"_open_close_ms")
		b.ReportMetric(cmd.Seconds()*1e3/float64(b.N), be.name+"_cmd_ms")
	}
}
