// Package podmantest runs a real container engine for tests and for `make
// realtasks`: Debian's Podman serving the Docker Engine API on a unix
// socket, with the settings this kind of host needs (runc, raised default
// ulimits, an exec exit delay of 0, all state under one temporary
// directory). Nothing here is faked: the docker backend talks to Podman
// exactly as it talks to a Docker engine.
package podmantest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ContainersConf is the engine's configuration (containers.conf(5)):
//   - runc: crun fails on hosts with hybrid cgroups;
//   - default ulimits that root in a container here may not raise itself;
//   - exit_command_delay 0: podman keeps a helper (conmon) per exec session
//     for 5 minutes by default, to let clients read the exit code; the
//     docker backend reads it from the command's own output, so the
//     helpers can go at once instead of piling up (one per command run).
const ContainersConf = `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
exit_command_delay = 0
`

// Packages are the Debian packages the engine needs.
var Packages = []string{"podman", "runc"}

// Engine is a running Podman service.
type Engine struct {
	Host string // unix://<dir>/docker.sock, for exec.Docker.Host and DOCKER_HOST
	Dir  string // all of the engine's state
	cmd  *exec.Cmd
	done chan struct{}
}

// Need reports, as an error naming what to install, a missing engine.
func Need() error {
	for _, bin := range []string{"podman", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found: install the Debian packages podman and runc (apt-get install podman runc)", bin)
		}
	}
	return nil
}

// Start starts a Podman service with its state under dir (created; its
// path must be short: a unix socket path has at most 107 bytes).
func Start(ctx context.Context, dir string) (*Engine, error) {
	if err := Need(); err != nil {
		return nil, err
	}
	e := &Engine{Dir: dir, done: make(chan struct{})}
	sock := filepath.Join(dir, "docker.sock")
	if len(sock) > 107 {
		return nil, fmt.Errorf("podman state directory %s: path too long for a unix socket", dir)
	}
	e.Host = "unix://" + sock
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "containers.conf"), []byte(ContainersConf), 0o644); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "service.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	e.cmd = exec.Command("podman", append(e.globalArgs(), "system", "service", "--time=0", e.Host)...)
	e.cmd.Env = e.env()
	e.cmd.Stdout, e.cmd.Stderr = log, log
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start podman system service: %w", err)
	}
	go func() { e.cmd.Wait(); close(e.done) }()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}, Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("http://podman/_ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return e, nil
			}
		}
		select {
		case <-e.done:
			out, _ := os.ReadFile(filepath.Join(dir, "service.log"))
			return nil, fmt.Errorf("podman system service exited: %s", bytes.TrimSpace(out))
		case <-ctx.Done():
			e.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.Stop()
			return nil, fmt.Errorf("podman system service: no answer on %s after 30s", sock)
		}
	}
}

func (e *Engine) globalArgs() []string {
	return []string{"--root", filepath.Join(e.Dir, "root"), "--runroot", filepath.Join(e.Dir, "runroot"), "--tmpdir", filepath.Join(e.Dir, "tmp")}
}

func (e *Engine) env() []string {
	return append(os.Environ(), "CONTAINERS_CONF="+filepath.Join(e.Dir, "containers.conf"))
}

// Podman runs the podman CLI on the engine's state (for what the API does
// not offer, and for checks from outside the API).
func (e *Engine) Podman(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "podman", append(e.globalArgs(), args...)...)
	cmd.Env = e.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("podman %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// Helpers are the pids of the engine's helper processes (conmon, one or
// two per running container and exec session) still alive.
func (e *Engine) Helpers() []int {
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.HasPrefix(b, []byte("/usr/bin/conmon\x00")) && !bytes.HasPrefix(b, []byte("conmon\x00")) {
			continue
		}
		if bytes.Contains(b, []byte(e.Dir+"/")) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			pids = append(pids, pid)
		}
	}
	return pids
}

// Stop stops the service by its pid (SIGTERM, then SIGKILL after 10 s),
// kills any helper it left, and removes the engine's state.
func (e *Engine) Stop() error {
	if e.cmd == nil || e.cmd.Process == nil {
		return nil
	}
	e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(10 * time.Second):
		e.cmd.Process.Kill()
		<-e.done
	}
	for _, pid := range e.Helpers() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	// Storage may hold mounts of containers that were never removed.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e.Podman(ctx, "system", "reset", "--force")
	if err := os.RemoveAll(e.Dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove podman state %s: %w", e.Dir, err)
	}
	return nil
}

// ForTest starts an engine for the test (failing it, never skipping, when
// Podman is missing) and stops it when the test ends.
func ForTest(t testing.TB) *Engine {
	t.Helper()
	if err := Need(); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "swelake-podman-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := Start(ctx, dir)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Error(err)
		}
	})
	return e
}
