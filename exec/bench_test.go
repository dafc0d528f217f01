package exec

import (
	"context"
	osexec "os/exec"
	"testing"
	"time"
)

// BenchmarkSandboxOverhead: a trivial command (true) in a local sandbox
// against the same command started directly, in the same run. Target: at
// most 50 ms added per call.
func BenchmarkSandboxOverhead(b *testing.B) {
	if _, err := osexec.LookPath("bwrap"); err != nil {
		b.Fatal("bwrap not found: install the Debian package bubblewrap")
	}
	ctx := context.Background()
	s, err := (&Local{Root: sandboxRoot(b)}).Open(ctx, Workspace{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(ctx)
	var direct, boxed time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := osexec.Command("true").Run(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		res, err := s.Run(ctx, Spec{Argv: []string{"true"}})
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("%+v %v", res, err)
		}
		t2 := time.Now()
		direct += t1.Sub(t0)
		boxed += t2.Sub(t1)
	}
	n := float64(b.N)
	b.ReportMetric(direct.Seconds()*1e3/n, "direct_ms")
	b.ReportMetric(boxed.Seconds()*1e3/n, "sandbox_ms")
	b.ReportMetric((boxed-direct).Seconds()*1e3/n, "added_ms")
}
