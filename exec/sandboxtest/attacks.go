// Package sandboxtest is the adversarial suite every sandbox backend runs:
// the attacks of docs/security.md that a command inside a sandbox can try
// on its host — kernel settings, host secrets, host paths, memory, disk,
// files, processes — each with the promise it checks.
package sandboxtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/swelake/swelake/exec"
)

// Options tell the suite what the backend promises beyond the defaults.
type Options struct {
	// HostRoot is true when the test process runs as root on the host, so
	// that "never host root" can be checked from outside.
	HostRoot bool
	// Hidden are host paths no file of the sandbox may reveal (the lake,
	// the repository store, the caller's working directory).
	Hidden []string
}

func open(t *testing.T, b exec.Backend) exec.Sandbox {
	t.Helper()
	ctx := context.Background()
	s, err := b.Open(ctx, exec.Workspace{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(ctx) })
	return s
}

func run(t *testing.T, s exec.Sandbox, script string, lim exec.Limits) exec.Result {
	t.Helper()
	res, err := s.Run(context.Background(), exec.Spec{Argv: []string{"sh", "-c", script}, Limits: lim})
	if err != nil {
		t.Fatalf("run %q: %v", script, err)
	}
	return res
}

// Attacks runs every attack against b.
func Attacks(t *testing.T, b exec.Backend, o Options) {
	// Finding 1: root in the sandbox wrote host kernel settings
	// (core_pattern gives root on the host).
	t.Run("KernelSettingsReadOnly", func(t *testing.T) {
		s := open(t, b)
		// Opening for writing is the attack; nothing is ever written (": >"
		// truncates nothing on procfs), so a broken sandbox cannot change
		// this host's settings through the test.
		var script strings.Builder
		for _, f := range []string{"/proc/sys/kernel/core_pattern", "/proc/sys/vm/swappiness", "/proc/sys/kernel/printk_ratelimit",
			"/proc/sys/vm/drop_caches", "/proc/sysrq-trigger"} {
			fmt.Fprintf(&script, "(: > %s) 2>/dev/null && echo WRITABLE %s; ", f, f)
		}
		script.WriteString("echo done")
		res := run(t, s, script.String(), exec.Limits{})
		if bytes.Contains(res.Output, []byte("WRITABLE")) || !bytes.Contains(res.Output, []byte("done")) {
			t.Fatalf("kernel settings writable from the sandbox: %s", res.Output)
		}
	})

	// Host secrets: the host's /etc/shadow (a container's own is not the
	// host's: the check compares with the host's bytes).
	t.Run("HostSecretsUnreadable", func(t *testing.T) {
		s := open(t, b)
		res := run(t, s, "cat /etc/shadow 2>/dev/null | sha256sum | cut -c1-64", exec.Limits{})
		host, err := os.ReadFile("/etc/shadow")
		if err != nil {
			t.Skipf("cannot read this host's /etc/shadow to compare: %v", err)
		}
		sum := sha256.Sum256(host)
		if strings.TrimSpace(string(res.Output)) == hex.EncodeToString(sum[:]) {
			t.Fatal("the host's /etc/shadow is readable in the sandbox")
		}
	})

	// Never host root: a file the sandbox creates is not owned by uid 0 on
	// the host (seen from outside, where the workspace is a host directory).
	t.Run("NeverHostRoot", func(t *testing.T) {
		s := open(t, b)
		res := run(t, s, "echo x > owned && echo ok", exec.Limits{})
		if !bytes.Contains(res.Output, []byte("ok")) {
			t.Fatalf("cannot write the workspace: %s", res.Output)
		}
		dir, ok := exec.Dir(s)
		if !ok || !o.HostRoot {
			return // a container's files are checked by the engine's user namespace
		}
		uid, err := fileUID(dir + "/owned")
		if err != nil {
			t.Fatal(err)
		}
		if uid == 0 {
			t.Fatal("a file written in the sandbox is owned by host root: commands run as host root")
		}
	})

	// No host path revealed beyond the workspace's own random directory.
	t.Run("NoHostPaths", func(t *testing.T) {
		s := open(t, b)
		res := run(t, s, "cat /proc/self/mountinfo /proc/1/mountinfo /proc/self/environ 2>/dev/null; pwd; echo $HOME", exec.Limits{})
		for _, p := range o.Hidden {
			if p != "" && p != "/" && bytes.Contains(res.Output, []byte(p)) {
				t.Fatalf("host path %s visible in the sandbox:\n%s", p, res.Output)
			}
		}
	})

	// Finding 9: 4 GiB allocated, a 5 GiB file written, 1,500 processes
	// started, 3 GiB put in /tmp — with no limit set by anyone.
	t.Run("DefaultMemoryLimit", func(t *testing.T) {
		s := open(t, b)
		res := run(t, s, `python3 -c "x = bytearray(4 << 30); print('ALLOCATED')"`, exec.Limits{})
		if bytes.Contains(res.Output, []byte("ALLOCATED")) {
			t.Fatalf("4 GiB allocated under the default limits: %s", res.Output)
		}
	})
	t.Run("DefaultFileSizeLimit", func(t *testing.T) {
		s := open(t, b)
		res := run(t, s, "head -c 1100M /dev/zero > big; ls -l big | awk '{print \"SIZE\", $5}'", exec.Limits{})
		if !bytes.Contains(res.Output, []byte("SIZE")) || bytes.Contains(res.Output, []byte("SIZE 1153433600")) {
			t.Fatalf("a 1.1 GB file written under the default limits: %s", res.Output)
		}
	})
	t.Run("DefaultProcessLimit", func(t *testing.T) {
		s := open(t, b)
		run(t, s, "n=0; while [ $n -lt 1500 ]; do sleep 60 & echo $! >> pids; n=$((n+1)); done 2>/dev/null", exec.Limits{Timeout: 60e9})
		res := run(t, s, "wc -l < pids", exec.Limits{})
		var started int
		fmt.Sscanf(strings.TrimSpace(string(res.Output)), "%d", &started)
		if started == 0 || started >= 1500 {
			t.Fatalf("%d of 1,500 processes started under the default limits", started)
		}
	})
	t.Run("DefaultTmpLimit", func(t *testing.T) {
		s := open(t, b)
		res := run(t, s, "head -c 700M /dev/zero > /tmp/fill 2>/dev/null; du -m /tmp/fill | cut -f1", exec.Limits{})
		var mb int
		fmt.Sscanf(strings.TrimSpace(string(res.Output)), "%d", &mb)
		if mb >= 700 {
			t.Fatalf("700 MiB in the RAM-backed /tmp under the default limits (%d MiB)", mb)
		}
	})
	t.Run("DiskLimit", func(t *testing.T) {
		s := open(t, b) // a per-command limit: the default, 8 GiB, is too slow to fill in a test
		res := run(t, s, "for i in 1 2 3 4 5 6 7 8; do head -c 200M /dev/zero > f$i; sleep 0.3; done; echo WROTE ALL", exec.Limits{Disk: 512 << 20, Timeout: 120e9})
		if bytes.Contains(res.Output, []byte("WROTE ALL")) || res.LimitHit != "disk" {
			t.Fatalf("1.6 GB written under a 512 MiB disk limit: %+v %s", res, res.Output)
		}
	})
	// Held before, kept holding: a command's symlinks never let the host
	// side (ReadFile, WriteFile: the agent's editor) reach outside.
	t.Run("SymlinkEscapes", func(t *testing.T) {
		s := open(t, b)
		outside := t.TempDir() + "/outside.txt"
		if err := os.WriteFile(outside, []byte("host"), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, s, "ln -s "+outside+" file-link; ln -s / root-link; ln -s .. up-link; mkdir d; ln -s /etc d/etc-link", exec.Limits{})
		ctx := context.Background()
		for _, p := range []string{"file-link", "root-link/etc/hostname", "up-link/x", "d/etc-link/hostname", "../outside.txt", "/etc/hostname"} {
			if data, err := s.ReadFile(ctx, p); err == nil {
				t.Errorf("ReadFile(%q) read through to the host: %q", p, data)
			}
			s.WriteFile(ctx, p, []byte("written"))
		}
		if data, _ := os.ReadFile(outside); string(data) != "host" {
			t.Fatalf("a host file was overwritten through a symlink: %q", data)
		}
	})
	// Held before, kept holding: a patch's paths stay in the workspace.
	t.Run("PatchConfinement", func(t *testing.T) {
		s := open(t, b)
		run(t, s, "git init -q . && ln -s /tmp tmp-link", exec.Limits{})
		marker := fmt.Sprintf("swelake-patch-escape-%d", os.Getpid())
		for _, target := range []string{"../../../../tmp/" + marker, "/tmp/" + marker, "tmp-link/" + marker, ".git/hooks/pre-commit"} {
			patch := fmt.Sprintf("diff --git a/%[1]s b/%[1]s\nnew file mode 100755\n--- /dev/null\n+++ b/%[1]s\n@@ -0,0 +1 @@\n+touch /tmp/%[2]s-hook\n", target, marker)
			exec.ApplyPatch(context.Background(), s, []byte(patch))
		}
		for _, p := range []string{"/tmp/" + marker, "/tmp/" + marker + "-hook"} {
			if _, err := os.Stat(p); err == nil {
				os.Remove(p)
				t.Fatalf("a patch wrote %s on the host", p)
			}
		}
	})
	t.Run("LimitsConfigurable", func(t *testing.T) {
		s := open(t, b)
		res := run(t, s, `python3 -c "x = bytearray(5 << 29); print('ALLOCATED')"`, exec.Limits{Memory: 4 << 30})
		if !bytes.Contains(res.Output, []byte("ALLOCATED")) {
			t.Fatalf("2.5 GiB refused under a 4 GiB limit: %s", res.Output)
		}
	})
}
