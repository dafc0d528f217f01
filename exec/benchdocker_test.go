package exec_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
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

// BenchmarkEngineExecCeiling is the floor under the container backend's
// per-command time: one exec of `true` straight through the engine's API
// (create + start + inspect, no wrapper script), in a container of the
// base image. What the backend adds on top is its wrapper (reaping, /tmp,
// limits, the trailer).
func BenchmarkEngineExecCeiling(b *testing.B) {
	d, e := exectest.Docker(b)
	sock := strings.TrimPrefix(e.Host, "unix://")
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", sock)
	}}}
	call := func(method, path, body string) []byte {
		req, _ := http.NewRequest(method, "http://engine/v1.41"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
		}
		return out
	}
	var c struct{ Id string }
	json.Unmarshal(call("POST", "/containers/create", `{"Image":"`+d.Image+`","Cmd":["sleep","infinity"],"HostConfig":{"NetworkMode":"none","Init":true}}`), &c)
	defer call("DELETE", "/containers/"+c.Id+"?force=true", "")
	call("POST", "/containers/"+c.Id+"/start", "")
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		var ex struct{ Id string }
		json.Unmarshal(call("POST", "/containers/"+c.Id+"/exec", `{"Cmd":["true"],"AttachStdout":true,"AttachStderr":true}`), &ex)
		call("POST", "/exec/"+ex.Id+"/start", `{"Detach":false,"Tty":false}`)
		total += time.Since(t0)
	}
	b.ReportMetric(total.Seconds()*1e3/float64(b.N), "raw_exec_ms")
}
