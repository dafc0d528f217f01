package exec_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	swexec "github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/internal/exectest"
)

// TestDockerEngine drives the docker backend's protocol against a real
// engine: missing images, exit codes, both streams, stdin, large output,
// files in and out, timeouts, closing, and the engine failures that must
// come back as infrastructure errors, never as a command's exit status.
func TestDockerEngine(t *testing.T) {
	d, e := exectest.Docker(t)
	ctx := context.Background()
	if err := d.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(ctx, swexec.Workspace{Image: "swelake-missing:1"}); !errors.Is(err, swexec.ErrInfra) {
		t.Fatalf("missing image: %v", err)
	}
	// The first image the engine has: the row's, then the alternatives
	// (swelake env build's name, SWE-bench's public one).
	_, err := d.Open(ctx, swexec.Workspace{Image: "swelake-missing:1", AltImages: []string{"swelake-missing:2"}})
	if !errors.Is(err, swexec.ErrInfra) || !strings.Contains(err.Error(), "swelake-missing:1 or swelake-missing:2") {
		t.Fatalf("no image of the workspace's: %v", err)
	}
	alt, err := d.Open(ctx, swexec.Workspace{Image: "swelake-missing:1", AltImages: []string{"swelake-missing:2", d.Image}})
	if err != nil {
		t.Fatalf("the alternative image: %v", err)
	}
	alt.Close(ctx)
	sb, err := d.Open(ctx, swexec.Workspace{})
	if err != nil {
		t.Fatal(err)
	}
	var streamed bytes.Buffer
	res, err := sb.Run(ctx, swexec.Spec{Argv: []string{"sh", "-c", "echo out; echo err >&2; head -c 70000 /dev/zero | tr '\\0' x; exit 3"}, Stdout: &streamed})
	if err != nil || res.ExitCode != 3 || !bytes.Contains(res.Output, []byte("out\n")) || !bytes.Contains(res.Output, []byte("err\n")) ||
		bytes.Count(res.Output, []byte("x")) != 70000 {
		t.Fatalf("run: exit %d, %d bytes, %v", res.ExitCode, len(res.Output), err)
	}
	if streamed.String() != "out\n"+strings.Repeat("x", 70000) {
		t.Fatalf("streamed stdout: %d bytes, ends %q", streamed.Len(), streamed.String()[max(0, streamed.Len()-40):])
	}
	// A command that ends without a newline, or prints what looks like the
	// wrapper's trailer, keeps its output and its own exit status.
	res, err = sb.Run(ctx, swexec.Spec{Argv: []string{"sh", "-c", `printf 'no newline'; printf '\000swelake-end AAAAAAAAAAAAAAAAAAAAAAAAAA 000 1 00000000000000000000\n'; exit 7`}})
	if err != nil || res.ExitCode != 7 || !bytes.HasPrefix(res.Output, []byte("no newline\x00swelake-end AAAA")) {
		t.Fatalf("forged trailer: %+v %q %v", res, res.Output, err)
	}
	// A command can read its own script, and so its trailer's nonce: a
	// forged trailer with it does not end the run (the server's end token,
	// which the command cannot see, does).
	res, err = sb.Run(ctx, swexec.Spec{Argv: []string{"sh", "-c", `n=$(grep -o 'swelake-end [A-Z2-7]*' /run/swelake/cmd | head -1 | cut -d' ' -f2); ` +
		`printf '\000swelake-end %s 000 1 %020d\n' "$n" 0; sleep 2; echo late; exit 9`}})
	if err != nil || res.ExitCode != 9 || res.Duration < 2*time.Second || !bytes.HasSuffix(res.Output, []byte("late\n")) {
		t.Fatalf("a trailer forged with the command's own nonce: %+v %q %v", res, res.Output, err)
	}
	res, err = sb.Run(ctx, swexec.Spec{Argv: []string{"cat"}, Stdin: strings.NewReader("piped")})
	if err != nil || string(res.Output) != "piped" {
		t.Fatalf("stdin: %q %v", res.Output, err)
	}
	if err := sb.WriteFile(ctx, "sub/f.bin", []byte{0, 9, 255}); err != nil {
		t.Fatal(err)
	}
	if got, err := sb.ReadFile(ctx, "sub/f.bin"); err != nil || !bytes.Equal(got, []byte{0, 9, 255}) {
		t.Fatalf("read back %v %v", got, err)
	}
	if _, err := sb.ReadFile(ctx, "../../etc/passwd"); err == nil {
		t.Fatal("read outside the workspace")
	}
	start := time.Now()
	res, err = sb.Run(ctx, swexec.Spec{Argv: []string{"sleep", "30"}, Limits: swexec.Limits{Timeout: time.Second}})
	if err != nil || res.ExitCode != swexec.TimeoutExitCode || !res.TimedOut || time.Since(start) > 10*time.Second {
		t.Fatalf("timeout: %+v %v", res, err)
	}
	if err := sb.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Run(ctx, swexec.Spec{Argv: []string{"true"}}); !errors.Is(err, swexec.ErrInfra) {
		t.Fatalf("run after close: %v", err)
	}
	if _, err := d.Open(ctx, swexec.Workspace{Commit: "0000000000000000000000000000000000000000"}); !errors.Is(err, swexec.ErrInfra) {
		t.Fatalf("unknown commit: %v", err)
	}
	exectest.NoLeftovers(t, d, e)
}

// TestDockerEngineFailures: what the engine or the runtime fails to do is
// an infrastructure error, never the command's exit status — leftovers of
// earlier commands filling the process limit, limits the runtime refuses,
// a container whose main process is gone.
func TestDockerEngineFailures(t *testing.T) {
	d, e := exectest.Docker(t)
	ctx := context.Background()
	open := func(t *testing.T) swexec.Sandbox {
		sb, err := d.Open(ctx, swexec.Workspace{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sb.Close(ctx) })
		return sb
	}
	t.Run("LeftoversDoNotFillTheProcessLimit", func(t *testing.T) {
		sb := open(t)
		// 1,500 detached sleepers against the container's 1,024-process
		// limit: the command itself hits the limit, the next ones do not.
		res, err := sb.Run(ctx, swexec.Spec{Argv: []string{"sh", "-c", "i=0; while [ $i -lt 1500 ]; do (setsid sleep 600 &) 2>/dev/null; i=$((i+1)); done; echo spawned"},
			Limits: swexec.Limits{Timeout: 2 * time.Minute}})
		if err != nil {
			t.Fatalf("spawning: %v", err)
		}
		// The leftovers are killed before the next command starts; the
		// container's init then reaps them, which under load (CI's other
		// packages on the same 2 cores) can trail the next command by a
		// moment: a process listed by ls may be gone when ls looks at it
		// (its error hidden), and the count is taken until it settles.
		counted := 0
		for i := range 40 {
			res, err = sb.Run(ctx, swexec.Spec{Argv: []string{"sh", "-c", "n=$(ls -d /proc/[0-9]* 2>/dev/null | wc -l); echo ok $n"}})
			if err != nil || res.ExitCode != 0 || !strings.HasPrefix(string(res.Output), "ok ") {
				t.Fatalf("command %d after the leftovers: %+v %q %v", i, res, res.Output, err)
			}
			var n int
			if _, err := fmt.Sscanf(string(res.Output), "ok %d", &n); err != nil {
				t.Fatalf("command %d: %q", i, res.Output)
			}
			if n <= 15 { // ours: init, server, wrapper shells, timeout, sampler, this pipeline
				if counted++; counted == 3 {
					break
				}
				continue
			}
			if i == 39 {
				t.Fatalf("%d processes in the container 40 commands after the leftovers were killed: %q", n, res.Output)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Run("RefusedLimitIsInfra", func(t *testing.T) {
		sb := open(t)
		// More processes than the container's hard limit: setting it fails
		// inside the sandbox, before the command starts.
		res, err := sb.Run(ctx, swexec.Spec{Argv: []string{"true"}, Limits: swexec.Limits{Procs: 1 << 20}})
		if !errors.Is(err, swexec.ErrInfra) {
			t.Fatalf("a limit the runtime refused: %+v %v, want an infrastructure error", res, err)
		}
	})
	t.Run("ContainerGoneIsInfra", func(t *testing.T) {
		sb := open(t)
		// The command kills the container's main process: the container
		// stops, and the next command cannot run.
		sb.Run(ctx, swexec.Spec{Argv: []string{"sh", "-c", "kill -KILL $(cat /run/swelake/main)"}})
		time.Sleep(500 * time.Millisecond)
		res, err := sb.Run(ctx, swexec.Spec{Argv: []string{"true"}})
		if !errors.Is(err, swexec.ErrInfra) {
			t.Fatalf("run in a stopped container: %+v %v, want an infrastructure error", res, err)
		}
		g, err := swexec.GradePatch(ctx, gone{sb}, swexec.GradeSpec{NoPatch: true, TestCmd: "true", FailToPass: []string{"t"}})
		if g.Status != swexec.StatusInfraError || !errors.Is(err, swexec.ErrInfra) {
			t.Fatalf("grading in a stopped container: %s %v", g.Status, err)
		}
	})
	t.Run("MissingCommandIsTheCommands", func(t *testing.T) {
		sb := open(t)
		res, err := sb.Run(ctx, swexec.Spec{Argv: []string{"/no/such/binary"}})
		if err != nil || res.ExitCode != 127 {
			t.Fatalf("a command that does not exist is the command's exit 127, not infra: %+v %v", res, err)
		}
	})
	t.Run("RuntimeFailureIsInfra", func(t *testing.T) {
		// An image without a shell: the runtime cannot start the
		// container's process (an OCI error from the engine).
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: 3})
		tw.Write([]byte("hi\n"))
		tw.Close()
		if err := d.ImportImage(ctx, "swelake-noshell:1", &buf, nil); err != nil {
			t.Fatal(err)
		}
		defer d.RemoveImage(ctx, "swelake-noshell:1")
		if info, err := d.InspectImage(ctx, "swelake-noshell:1"); err != nil {
			t.Fatalf("the imported image: %+v %v", info, err)
		}
		if sb, err := d.Open(ctx, swexec.Workspace{Image: "swelake-noshell:1"}); !errors.Is(err, swexec.ErrInfra) || strings.Contains(err.Error(), "no such image") {
			if sb != nil {
				sb.Close(ctx)
			}
			t.Fatalf("a container whose process cannot start: %v, want an infrastructure error", err)
		}
	})
	exectest.NoLeftovers(t, d, e)
}

// gone is a backend whose every sandbox is the same (dead) one.
type gone struct{ sb swexec.Sandbox }

func (g gone) Name() string { return "gone" }
func (g gone) Open(context.Context, swexec.Workspace) (swexec.Sandbox, error) {
	return nopClose{g.sb}, nil
}

type nopClose struct{ swexec.Sandbox }

func (nopClose) Close(context.Context) error { return nil }
