package exec_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/internal/exectest"
)

// TestLocalConformance runs the sandbox acceptance suite on the bubblewrap
// backend.
func TestLocalConformance(t *testing.T) {
	exectest.Need(t)
	conformance(t, &Local{Root: exectest.SandboxRoot(t)})
}

// TestDockerConformance runs the same suite on the container backend
// against a real engine (Podman's Docker API), then checks that no
// container or engine helper process of ours is left.
func TestDockerConformance(t *testing.T) {
	d, e := exectest.Docker(t)
	t.Run("suite", func(t *testing.T) { conformance(t, d) })
	exectest.NoLeftovers(t, d, e)
}

// TestPoolConformance runs the suite on a Pool over each backend (the
// sandboxes the jobs grade in: closed in the background), then closes
// the pool: nothing of it is left.
func TestPoolConformance(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		exectest.Need(t)
		p := NewPool(context.Background(), &Local{Root: exectest.SandboxRoot(t)}, 2, nil)
		t.Run("suite", func(t *testing.T) { conformance(t, p) })
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("docker", func(t *testing.T) {
		d, e := exectest.Docker(t)
		p := NewPool(context.Background(), d, 2, nil)
		t.Run("suite", func(t *testing.T) { conformance(t, p) })
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		exectest.NoLeftovers(t, d, e)
	})
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

// alive reports whether a process whose command line contains token runs
// anywhere on this machine.
func alive(token string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(token)) {
			return true
		}
	}
	return false
}

func sourceRepo(t *testing.T) (dir, first string) {
	t.Helper()
	dir = t.TempDir()
	git := exectest.Git(t, dir)
	git("init", "-q")
	os.WriteFile(filepath.Join(dir, "app.py"), []byte("VERSION = 1\n"), 0o644)
	git("add", ".")
	git("commit", "-qm", "one")
	first = git("rev-parse", "HEAD")
	os.WriteFile(filepath.Join(dir, "app.py"), []byte("VERSION = 2\n"), 0o644)
	git("commit", "-qam", "two")
	return dir, first
}

func conformance(t *testing.T, b Backend) {
	ctx := context.Background()
	open := func(t *testing.T, ws Workspace) Sandbox {
		t.Helper()
		s, err := b.Open(ctx, ws)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(ctx); err != nil {
				t.Error(err)
			}
		})
		return s
	}

	t.Run("ExitCodeOutputAndStreaming", func(t *testing.T) {
		s := open(t, Workspace{})
		var stdout, stderr bytes.Buffer
		res := run(t, s, Spec{Argv: sh("echo out; echo err >&2; exit 3"), Stdout: &stdout, Stderr: &stderr})
		if res.ExitCode != 3 || !bytes.Contains(res.Output, []byte("out\n")) || !bytes.Contains(res.Output, []byte("err\n")) {
			t.Fatalf("result %+v output %q", res, res.Output)
		}
		if stdout.String() != "out\n" || stderr.String() != "err\n" {
			t.Fatalf("streams: %q %q", stdout.String(), stderr.String())
		}
		if !s.Isolated() {
			t.Fatal("Isolated() = false")
		}
		res = run(t, s, Spec{Argv: sh("head -c 100000 /dev/zero"), Limits: Limits{Output: 1000}})
		if len(res.Output) != 1000 || !res.Truncated {
			t.Fatalf("output cap: %d bytes, truncated %v", len(res.Output), res.Truncated)
		}
	})

	t.Run("WorkspaceAtCommit", func(t *testing.T) {
		src, first := sourceRepo(t)
		s := open(t, Workspace{Source: src, Commit: first})
		res := run(t, s, Spec{Argv: []string{"python3", "-c", "import app; print(app.VERSION)"}})
		if res.ExitCode != 0 || string(res.Output) != "1\n" {
			t.Fatalf("at %s: %+v %q", first, res, res.Output)
		}
		head := open(t, Workspace{Source: src})
		if data, err := head.ReadFile(ctx, "app.py"); err != nil || string(data) != "VERSION = 2\n" {
			t.Fatalf("copy: %q %v", data, err)
		}
		if _, err := b.Open(ctx, Workspace{Source: src, Commit: "0000000000000000000000000000000000000000"}); !errors.Is(err, ErrInfra) {
			t.Fatalf("unknown commit: %v, want an infrastructure error", err)
		}
		if _, err := b.Open(ctx, Workspace{Source: filepath.Join(src, "missing")}); !errors.Is(err, ErrInfra) {
			t.Fatalf("missing source: %v, want an infrastructure error", err)
		}
	})

	t.Run("FilesAndStdinByteExact", func(t *testing.T) {
		s := open(t, Workspace{})
		// Bytes that look like the docker backend's own protocol (a request
		// line, a server's end marker, a trailer), NULs, no final newline.
		odd := []byte("tok 12 ZWNobyBodW5n\n\x00swelake-done tok\n\x00swelake-end x 000 1 0\n\x00\xff\r\nend")
		big := make([]byte, 5<<20)
		for i := range big {
			big[i] = byte(i * 7 % 251)
		}
		for name, data := range map[string][]byte{"odd.bin": odd, "deep/er/big.bin": big, "empty": {}} {
			if err := s.WriteFile(ctx, name, data); err != nil {
				t.Fatalf("write %s: %v", name, err)
			}
			got, err := s.ReadFile(ctx, name)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: read back %d bytes (want %d): %v", name, len(got), len(data), err)
			}
		}
		var out bytes.Buffer
		res := run(t, s, Spec{Argv: []string{"cat"}, Stdin: bytes.NewReader(odd), Stdout: &out})
		if res.ExitCode != 0 || !bytes.Equal(out.Bytes(), odd) {
			t.Fatalf("stdin through cat: %q, exit %d", out.Bytes(), res.ExitCode)
		}
		// The next command is whole: the payload did not leak into the
		// channel.
		if res := run(t, s, Spec{Argv: sh("echo next")}); string(res.Output) != "next\n" {
			t.Fatalf("after a payload: %q", res.Output)
		}
		if _, err := s.ReadFile(ctx, "missing.txt"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("missing file: %v, want fs.ErrNotExist", err)
		}
		if _, err := s.ReadFile(ctx, "deep"); err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a directory read as a file: %v", err)
		}
	})

	t.Run("WritesOnlyInWorkspace", func(t *testing.T) {
		s := open(t, Workspace{})
		marker := fmt.Sprintf("swelake-marker-%d", rand.Int64())
		script := "for f in /etc/" + marker + " /usr/" + marker + " /" + marker + " /root/" + marker + "; do (echo x > $f) 2>/dev/null && echo WROTE $f; done; " +
			"echo x > /tmp/" + marker + " && echo x > " + marker + " && echo ok"
		res := run(t, s, Spec{Argv: sh(script)})
		if bytes.Contains(res.Output, []byte("WROTE")) || !bytes.HasSuffix(res.Output, []byte("ok\n")) {
			t.Fatalf("writes: %q", res.Output)
		}
		for _, p := range []string{"/etc/" + marker, "/usr/" + marker, "/" + marker, "/root/" + marker, "/tmp/" + marker} {
			if _, err := os.Stat(p); err == nil {
				os.Remove(p)
				t.Fatalf("%s was written on the host", p)
			}
		}
		if data, err := s.ReadFile(ctx, marker); err != nil || string(data) != "x\n" {
			t.Fatalf("workspace file: %q %v", data, err)
		}
		// /tmp is private to each command.
		res = run(t, s, Spec{Argv: sh("test -e /tmp/" + marker + " && echo LEAKED || echo clean")})
		if string(res.Output) != "clean\n" {
			t.Fatalf("/tmp survived a command: %q", res.Output)
		}
		// Paths that try to leave the workspace stay in it.
		if err := s.WriteFile(ctx, "../../"+marker+"-escape", []byte("y")); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(t.TempDir()), marker+"-escape")); err == nil {
			t.Fatal("WriteFile escaped the workspace")
		}
		if data, err := s.ReadFile(ctx, marker+"-escape"); err != nil || string(data) != "y" {
			t.Fatalf("escape path: %q %v", data, err)
		}
	})

	t.Run("NoNetwork", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan struct{}, 1)
		go func() {
			if c, err := ln.Accept(); err == nil {
				accepted <- struct{}{}
				c.Close()
			}
		}()
		port := ln.Addr().(*net.TCPAddr).Port
		s := open(t, Workspace{})
		res := run(t, s, Spec{Argv: []string{"python3", "-c", fmt.Sprintf(`
import socket
for host in ("127.0.0.1", "1.1.1.1"):
    try:
        socket.create_connection((host, %d if host == "127.0.0.1" else 53), 2)
        print("CONNECTED", host)
    except OSError as e:
        print("refused", host)
`, port)}})
		if bytes.Contains(res.Output, []byte("CONNECTED")) {
			t.Fatalf("network reachable: %q", res.Output)
		}
		select {
		case <-accepted:
			t.Fatal("the host listener accepted a connection from the sandbox")
		case <-time.After(100 * time.Millisecond):
		}
	})

	t.Run("ScrubbedEnvironment", func(t *testing.T) {
		t.Setenv("OPENAI_API_KEY", "sk-secret-from-test")
		t.Setenv("SWELAKE_S3_SECRET_KEY", "another-secret")
		s := open(t, Workspace{})
		res := run(t, s, Spec{Argv: []string{"env"}, Env: map[string]string{"EXTRA": "1"}})
		out := string(res.Output)
		if strings.Contains(out, "secret") || strings.Contains(out, "OPENAI") {
			t.Fatalf("caller's environment leaked:\n%s", out)
		}
		for _, want := range []string{"PYTHONHASHSEED=0", "TZ=UTC", "EXTRA=1", "HOME=/tmp"} {
			if !strings.Contains(out, want+"\n") {
				t.Fatalf("missing %s in:\n%s", want, out)
			}
		}
	})

	t.Run("TimeoutKillsTheTree", func(t *testing.T) {
		s := open(t, Workspace{})
		token := fmt.Sprintf("%d.%d", 3000+rand.IntN(1000), rand.IntN(1000000))
		start := time.Now()
		res := run(t, s, Spec{Argv: sh("sleep " + token + " & (setsid sleep " + token + " &); sleep " + token), Limits: Limits{Timeout: 700 * time.Millisecond}})
		if !res.TimedOut || res.ExitCode != TimeoutExitCode || time.Since(start) > 10*time.Second {
			t.Fatalf("timeout: %+v after %v", res, time.Since(start))
		}
		time.Sleep(200 * time.Millisecond)
		if alive(token) {
			t.Fatal("a process of the timed-out command is still running")
		}
	})

	t.Run("NothingOutlivesACommand", func(t *testing.T) {
		s := open(t, Workspace{})
		token := fmt.Sprintf("%d.%d", 4000+rand.IntN(1000), rand.IntN(1000000))
		res := run(t, s, Spec{Argv: sh("(setsid sleep " + token + " > /dev/null 2>&1 &); nohup sleep " + token + " > /dev/null 2>&1 & echo started")})
		if res.ExitCode != 0 {
			t.Fatalf("%+v %q", res, res.Output)
		}
		time.Sleep(200 * time.Millisecond)
		if alive(token) {
			t.Fatal("a background process outlived its command")
		}
	})

	t.Run("MemoryLimit", func(t *testing.T) {
		s := open(t, Workspace{})
		res := run(t, s, Spec{Argv: []string{"python3", "-c", "x = bytearray(1 << 30); print('ALLOCATED')"}, Limits: Limits{Memory: 256 << 20}})
		if res.ExitCode == 0 || bytes.Contains(res.Output, []byte("ALLOCATED")) {
			t.Fatalf("1 GiB allocated under a 256 MiB limit: %+v %q", res, res.Output)
		}
	})

	t.Run("CPULimit", func(t *testing.T) {
		s := open(t, Workspace{})
		start := time.Now()
		res := run(t, s, Spec{Argv: sh("while :; do :; done"), Limits: Limits{CPU: time.Second, Timeout: 30 * time.Second}})
		if res.TimedOut || res.ExitCode == 0 || time.Since(start) > 15*time.Second {
			t.Fatalf("CPU limit: %+v after %v", res, time.Since(start))
		}
	})

	t.Run("ClosedSandbox", func(t *testing.T) {
		s, err := b.Open(ctx, Workspace{})
		if err != nil {
			t.Fatal(err)
		}
		dir, _ := Dir(s)
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Run(ctx, Spec{Argv: []string{"true"}}); !errors.Is(err, ErrInfra) {
			t.Fatalf("run after close: %v", err)
		}
		if dir != "" {
			if _, err := os.Stat(dir); err == nil {
				t.Fatal("workspace left behind after Close")
			}
		}
	})
}

// TestUnisolated: without bubblewrap the local backend refuses, unless
// allowed — and then says so.
func TestUnisolated(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no bwrap to find
	l := &Local{Root: exectest.SandboxRoot(t)}
	if _, err := l.Open(context.Background(), Workspace{}); !errors.Is(err, ErrUnisolated) {
		t.Fatalf("without bwrap: %v", err)
	}
	l.AllowUnisolated = true
	s, err := l.Open(context.Background(), Workspace{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if s.Isolated() {
		t.Fatal("an unisolated sandbox says it is isolated")
	}
	res := run(t, s, Spec{Argv: sh("pwd; echo $PYTHONHASHSEED")})
	if res.ExitCode != 0 || !strings.HasSuffix(string(res.Output), "/workspace\n0\n") {
		t.Fatalf("%+v %q", res, res.Output)
	}
}
