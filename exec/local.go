package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	osexec "os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Local runs commands under bubblewrap on this machine: the workspace
// bind-mounted read-write at /workspace, the system read-only, a private
// size-capped tmpfs /tmp, no network, fresh user/PID/IPC/UTS namespaces
// (the whole tree dies with the command), /proc/sys read-only, a scrubbed
// environment and rlimits. Commands never run as the host's root: when
// swelake runs as root, bubblewrap is started as an unprivileged host user
// (UID, GID), so root inside the sandbox's user namespace is that user
// outside it (docs/security.md).
type Local struct {
	// Root is where workspaces are created ("" : the OS temp dir).
	Root string
	// AllowUnisolated runs commands without bubblewrap when it is missing
	// (Sandbox.Isolated then reports false).
	AllowUnisolated bool
	// Bwrap is the bubblewrap binary ("" : looked up in PATH).
	Bwrap string
	// GoCache is a warmed Go build cache (see WarmGoCache): every sandbox
	// whose workspace is a Go module (go.mod at its root) gets a private
	// copy at $GOCACHE, so `go test` compiles only the repository, not the
	// standard library, and no sandbox can change what another one reads
	// ("" : each sandbox starts with an empty cache).
	GoCache string
	// UID and GID are the unprivileged host identity commands run as when
	// swelake runs as root (0: 65534, nobody/nogroup). Workspaces are
	// handed to it; the caller's files, /etc/shadow and /root stay out of
	// reach. Without root, commands run as the calling user.
	UID, GID int
	// Limits bound every command that does not set its own (zero fields:
	// DefaultLimits()).
	Limits Limits
	Logger *slog.Logger

	warmMu sync.RWMutex // held by WarmGoCache; read-held by the copies
}

// bwrapPath is the bubblewrap binary, "" when missing.
func (l *Local) bwrapPath() string {
	if l.Bwrap != "" {
		return l.Bwrap
	}
	p, _ := osexec.LookPath("bwrap")
	return p
}

// identity is the host uid/gid commands run as, and whether swelake must
// switch to it (it runs as root).
func (l *Local) identity() (uid, gid int, drop bool) {
	if os.Geteuid() != 0 {
		return os.Geteuid(), os.Getegid(), false
	}
	uid, gid = l.UID, l.GID
	if uid == 0 {
		uid = 65534
	}
	if gid == 0 {
		gid = 65534
	}
	return uid, gid, true
}

// handOver gives a tree to the sandbox's identity (a no-op unless swelake
// runs as root).
func (l *Local) handOver(dir string) error {
	uid, gid, drop := l.identity()
	if !drop {
		return nil
	}
	return chownTree(dir, uid, gid)
}

// reachable checks that every directory from / to dir lets others search
// it: bubblewrap, started as the unprivileged sandbox user, must reach the
// workspace to bind it.
func reachable(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := abs; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s is not searchable by others (mode %v): the unprivileged sandbox user cannot reach workspaces under %s; choose a sandbox root whose parents are all o+x (sandbox.root)", p, st.Mode().Perm(), abs)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// Name is "local".
func (l *Local) Name() string { return "local" }

// SandboxEnv is the environment every command starts from (Spec.Env adds
// to it): nothing of the caller's environment — no API keys — enters.
// Seeds, time zone and locale are pinned so that test runs repeat.
func SandboxEnv() map[string]string {
	return map[string]string{
		"PATH":                    "/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME":                    "/tmp",
		"TMPDIR":                  "/tmp",
		"LANG":                    "C.UTF-8",
		"LC_ALL":                  "C.UTF-8",
		"TZ":                      "UTC",
		"PYTHONHASHSEED":          "0",
		"PYTHONDONTWRITEBYTECODE": "1",
		"PYTHONUNBUFFERED":        "1",
		"GOCACHE":                 "/tmp/.gocache",
		"GOPATH":                  "/tmp/go",
		"GOTOOLCHAIN":             "local",
		"GOPROXY":                 "off",
		"GOFLAGS":                 "-mod=mod",
		"CGO_ENABLED":             "0",
		"TERM":                    "dumb",
	}
}

// Open prepares a workspace from ws.Source (at ws.Commit).
func (l *Local) Open(ctx context.Context, ws Workspace) (Sandbox, error) {
	s, err := l.open(ctx, ws, true)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return s, nil
}

// open prepares a sandbox; copyCache gives it a copy of the warmed Go
// build cache.
func (l *Local) open(ctx context.Context, ws Workspace, copyCache bool) (*localSandbox, error) {
	bwrap := l.bwrapPath()
	if bwrap == "" && !l.AllowUnisolated {
		return nil, ErrUnisolated
	}
	root := l.Root
	if root == "" {
		root = os.TempDir()
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, infra("create workspace root", err)
	}
	uid, gid, drop := l.identity()
	if drop {
		if err := reachable(root); err != nil {
			return nil, infra("sandbox root", err)
		}
	}
	dir, err := os.MkdirTemp(root, "sandbox-")
	if err != nil {
		return nil, infra("create workspace", err)
	}
	// The sandbox's user reaches the workspace through this directory but
	// cannot list it.
	if err := os.Chmod(dir, 0o711); err != nil {
		removeAll(dir)
		return nil, infra("create workspace", err)
	}
	s := &localSandbox{dir: dir, ws: filepath.Join(dir, "workspace"), bwrap: bwrap, logger: l.Logger, limits: l.Limits,
		uid: uid, gid: gid, drop: drop}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if err := prepare(ctx, ws, s.ws); err != nil {
		removeAll(dir)
		return nil, infra(workspaceOp(ws), err)
	}
	if copyCache {
		if err := l.copyGoCache(ctx, s); err != nil {
			removeAll(dir)
			return nil, infra("copy the Go build cache", err)
		}
	}
	if err := l.handOver(dir); err != nil {
		removeAll(dir)
		return nil, infra("hand the workspace to the sandbox user", err)
	}
	return s, nil
}

// copyGoCache gives the sandbox its private copy of the warmed cache.
func (l *Local) copyGoCache(ctx context.Context, s *localSandbox) error {
	if l.GoCache == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(s.ws, "go.mod")); err != nil {
		return nil // not a Go module: no copy (tens of MB) to make
	}
	if _, err := os.Stat(l.GoCache); errors.Is(err, fs.ErrNotExist) {
		return nil // not warmed yet
	}
	l.warmMu.RLock()
	defer l.warmMu.RUnlock()
	s.gocache = filepath.Join(s.dir, "gocache")
	if out, err := osexec.CommandContext(ctx, "cp", "-a", "--reflink=auto", l.GoCache, s.gocache).CombinedOutput(); err != nil {
		return fmt.Errorf("cp %s: %v: %s", l.GoCache, err, bytes.TrimSpace(out))
	}
	return nil
}

// WarmGoCache compiles (and links, but never runs) the test binaries of
// every Go package of the workspace into the shared cache l.GoCache, which
// later sandboxes copy.
func (l *Local) WarmGoCache(ctx context.Context, ws Workspace) error {
	if l.GoCache == "" {
		return nil
	}
	// The sandbox warms its own cache (a copy of what is warm so far, under
	// its own directory), which is copied back when the compiler is done:
	// the shared cache is never writable from inside a sandbox, and need
	// not be reachable by the sandbox's user.
	s, err := l.open(ctx, ws, true)
	if err != nil {
		return err
	}
	defer s.Close(context.WithoutCancel(ctx))
	if s.gocache == "" {
		s.gocache = filepath.Join(s.dir, "gocache")
		if err := os.MkdirAll(s.gocache, 0o755); err != nil {
			return infra("create the Go build cache", err)
		}
		if err := l.handOver(s.gocache); err != nil {
			return infra("hand the Go build cache to the sandbox user", err)
		}
	}
	res, err := s.Run(ctx, Spec{Argv: []string{"go", "test", "-count=1", "-exec", "/bin/true", "./..."}, Limits: Limits{Timeout: 10 * time.Minute}})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		// A repository that does not build still warms the standard library.
		l.logger().Warn("go build cache: warming did not compile everything", "exit", res.ExitCode, "output", firstLine(res.Output))
	}
	l.warmMu.Lock()
	defer l.warmMu.Unlock()
	if err := os.MkdirAll(l.GoCache, 0o755); err != nil {
		return infra("create the Go build cache", err)
	}
	// Entries are content-addressed: only the ones the shared cache lacks
	// are copied (-n), not the copy the sandbox started from.
	if out, err := osexec.CommandContext(ctx, "cp", "-a", "-n", "--reflink=auto", s.gocache+"/.", l.GoCache).CombinedOutput(); err != nil {
		return infra("keep the warmed Go build cache", fmt.Errorf("cp to %s: %v: %s", l.GoCache, err, bytes.TrimSpace(out)))
	}
	return nil
}

func (l *Local) logger() *slog.Logger {
	if l.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Logger
}

// workspaceOp names what preparing ws does, for errors.
func workspaceOp(ws Workspace) string {
	if ws.Source == "" {
		return "prepare workspace"
	}
	return "prepare workspace from " + ws.Source
}

// prepare fills dst: a clone at ws.Commit, a copy of ws.Source, or nothing.
func prepare(ctx context.Context, ws Workspace, dst string) error {
	if ws.Source == "" {
		if ws.Commit != "" {
			if ws.Image != "" {
				return fmt.Errorf("no repository to check out commit %.12s from: put the task's repository in sandbox.repos_dir (its image %s is used only by the docker backend)", ws.Commit, ws.Image)
			}
			return fmt.Errorf("no repository to check out commit %.12s from: put the task's repository in sandbox.repos_dir", ws.Commit)
		}
		return os.Mkdir(dst, 0o755)
	}
	if st, err := os.Stat(ws.Source); err != nil {
		return err
	} else if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", ws.Source)
	}
	if ws.Commit != "" {
		if _, err := os.Stat(filepath.Join(ws.Source, ".git")); err != nil {
			return fmt.Errorf("commit %s requested but %s is not a git repository", ws.Commit, ws.Source)
		}
		if out, err := osexec.CommandContext(ctx, "git", "clone", "--quiet", "--no-hardlinks", "--no-checkout", ws.Source, dst).CombinedOutput(); err != nil {
			return fmt.Errorf("git clone: %v: %s", err, bytes.TrimSpace(out))
		}
		if out, err := osexec.CommandContext(ctx, "git", "-C", dst, "checkout", "--quiet", "--detach", ws.Commit).CombinedOutput(); err != nil {
			return fmt.Errorf("git checkout %s: %v: %s", ws.Commit, err, bytes.TrimSpace(out))
		}
		return nil
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return err
	}
	if out, err := osexec.CommandContext(ctx, "cp", "-a", strings.TrimRight(ws.Source, "/")+"/.", dst).CombinedOutput(); err != nil {
		return fmt.Errorf("copy: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

type localSandbox struct {
	dir, ws  string
	gocache  string // bound at $GOCACHE ("" : the private /tmp's)
	bwrap    string
	logger   *slog.Logger
	limits   Limits // the backend's defaults
	uid, gid int    // the host identity commands run as
	drop     bool   // switch to uid/gid (swelake runs as root)
	lifecycle
}

func (s *localSandbox) Isolated() bool { return s.bwrap != "" }

// bwrapArgs isolates one command.
func (s *localSandbox) bwrapArgs(workdir string, env map[string]string, lim Limits) []string {
	args := []string{"--die-with-parent", "--new-session", "--unshare-all", "--unshare-user", "--cap-drop", "ALL", "--hostname", "sandbox",
		"--ro-bind", "/usr", "/usr"}
	for _, d := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&fs.ModeSymlink != 0:
			if target, err := os.Readlink(d); err == nil {
				args = append(args, "--symlink", target, d)
			}
		case fi.IsDir():
			args = append(args, "--ro-bind", d, d)
		}
	}
	// /proc/sys read-only: no kernel setting is writable even where the
	// sandbox's user could write it. /tmp is a tmpfs of bounded size.
	args = append(args, "--ro-bind", "/etc", "/etc", "--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys", "--dev", "/dev")
	if lim.Tmp > 0 {
		args = append(args, "--size", fmt.Sprint(lim.Tmp))
	}
	args = append(args, "--tmpfs", "/tmp", "--bind", s.ws, "/workspace")
	if s.gocache != "" {
		args = append(args, "--bind", s.gocache, SandboxEnv()["GOCACHE"])
	}
	args = append(args, "--remount-ro", "/", "--chdir", path.Join("/workspace", workdir), "--clearenv")
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		args = append(args, "--setenv", k, env[k])
	}
	return args
}

// limitScript applies the rlimits in the sandboxed shell, then execs the
// command ("$@").
func limitScript(l Limits) string {
	var b strings.Builder
	if l.CPU > 0 {
		fmt.Fprintf(&b, "ulimit -t %d || exit 125; ", max(1, int(l.CPU.Seconds())))
	}
	if l.Memory > 0 {
		fmt.Fprintf(&b, "ulimit -v %d || exit 125; ", max(1, l.Memory/1024))
	}
	if l.Files > 0 {
		fmt.Fprintf(&b, "ulimit -f %d || exit 125; ", max(1, l.Files/512))
	}
	if l.Procs > 0 {
		fmt.Fprintf(&b, "ulimit -p %d || exit 125; ", l.Procs)
	}
	b.WriteString(`exec "$@"`)
	return b.String()
}

func (s *localSandbox) Run(ctx context.Context, spec Spec) (Result, error) {
	if err := s.start(spec); err != nil {
		return Result{}, err
	}
	lim := spec.Limits.Or(s.limits).withDefaults()
	workdir := path.Clean("/" + filepath.ToSlash(spec.Dir))
	env := SandboxEnv()
	for k, v := range spec.Env {
		env[k] = v
	}
	shArgs := append([]string{"-c", limitScript(lim), "sh"}, spec.Argv...)
	var cmd *osexec.Cmd
	if s.bwrap != "" {
		args := append(s.bwrapArgs(workdir, env, lim), "--", "/bin/sh")
		cmd = osexec.Command(s.bwrap, append(args, shArgs...)...)
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		cmd.Dir = "/"
	} else {
		cmd = osexec.Command("/bin/sh", shArgs...)
		cmd.Dir = filepath.Join(s.ws, filepath.FromSlash(workdir))
		for k, v := range env {
			if k == "HOME" || k == "TMPDIR" {
				v = s.dir // no private /tmp without bubblewrap
			}
			if k == "GOCACHE" && s.gocache != "" {
				v = s.gocache
			}
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if s.drop && s.bwrap != "" {
		// bubblewrap starts as the unprivileged user: the user namespace it
		// makes maps the sandbox's root to that user, never to host root.
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(s.uid), Gid: uint32(s.gid), Groups: []uint32{}}
	}
	out := &lockedCapped{c: capped{n: lim.Output}}
	cmd.Stdout = writers(out, spec.Stdout)
	cmd.Stderr = writers(out, spec.Stderr)
	if spec.Stdin != nil {
		cmd.Stdin = spec.Stdin
	}
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, infra("start "+spec.Argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(lim.Timeout)
	defer timer.Stop()
	overDisk := make(chan int64, 1)
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	if lim.Disk > 0 {
		go watchDisk(s.ws, lim.Disk, overDisk, stopWatch)
	}
	var res Result
	var werr error
	select {
	case werr = <-done:
	case <-timer.C:
		res.TimedOut = true
		killGroup(cmd)
		werr = <-done
	case used := <-overDisk:
		res.LimitHit = "disk"
		killGroup(cmd)
		werr = <-done
		out.Write(fmt.Appendf(nil, "\nswelake: killed: the workspace grew to %d bytes, over the sandbox's disk limit of %d\n", used, lim.Disk))
	case <-ctx.Done():
		killGroup(cmd)
		<-done
		return Result{}, ctx.Err()
	}
	// The command is over: nothing it started may outlive it (bubblewrap's
	// PID namespace already took them; without it, the process group).
	killGroup(cmd)
	res.Duration = time.Since(start)
	res.Output, res.Truncated = out.bytes()
	switch {
	case res.TimedOut:
		res.ExitCode = TimeoutExitCode
	case werr == nil:
	default:
		var ee *osexec.ExitError
		if !errors.As(werr, &ee) {
			if errors.Is(werr, osexec.ErrWaitDelay) {
				res.ExitCode = cmd.ProcessState.ExitCode()
				break
			}
			return res, infra("wait for "+spec.Argv[0], werr)
		}
		res.ExitCode = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.ExitCode = 128 + int(ws.Signal())
		}
	}
	if s.bwrap != "" && res.ExitCode == 1 && bytes.HasPrefix(res.Output, []byte("bwrap: ")) {
		return res, infra("bubblewrap", errors.New(strings.TrimSpace(firstLine(res.Output))))
	}
	if res.ExitCode == 125 && bytes.Contains(res.Output, []byte("ulimit")) {
		return res, infra("set limits", errors.New(strings.TrimSpace(firstLine(res.Output))))
	}
	s.logger.Debug("sandbox run", "argv", spec.Argv, "exit", res.ExitCode, "timed_out", res.TimedOut, "elapsed", res.Duration)
	return res, nil
}

// watchDisk samples the workspace's size and reports the first sample over
// limit. A walk costs ~1 ms per thousand files; the interval grows with it
// so that sampling never takes more than ~5% of a core.
func watchDisk(dir string, limit int64, over chan<- int64, stop <-chan struct{}) {
	interval := 500 * time.Millisecond
	for {
		select {
		case <-stop:
			return
		case <-time.After(interval):
		}
		t0 := time.Now()
		used := diskUsage(dir)
		interval = max(500*time.Millisecond, 20*time.Since(t0))
		if used > limit {
			over <- used
			return
		}
	}
}

// diskUsage is the bytes held by a tree (allocated blocks: sparse files
// count what they use).
func diskUsage(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			} else {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return string(line)
}

func killGroup(cmd *osexec.Cmd) {
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

type lockedCapped struct {
	mu sync.Mutex
	c  capped
}

func (l *lockedCapped) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c.Write(p)
}

func (l *lockedCapped) bytes() ([]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c.buf, l.c.truncated
}

func writers(w io.Writer, extra io.Writer) io.Writer {
	if extra == nil {
		return w
	}
	return io.MultiWriter(w, extra)
}

// clean refuses paths that leave the workspace.
func clean(p string) (string, error) {
	c := path.Clean("/" + filepath.ToSlash(p))
	if c == "/" {
		return "", fmt.Errorf("path %q: not a file in the workspace", p)
	}
	return strings.TrimPrefix(c, "/"), nil
}

func (s *localSandbox) ReadFile(_ context.Context, p string) ([]byte, error) {
	rel, err := clean(p)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(s.ws)
	if err != nil {
		return nil, infra("open workspace", err)
	}
	defer root.Close()
	return root.ReadFile(rel)
}

func (s *localSandbox) WriteFile(_ context.Context, p string, data []byte) error {
	rel, err := clean(p)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(s.ws)
	if err != nil {
		return infra("open workspace", err)
	}
	defer root.Close()
	if d := path.Dir(rel); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if s.drop {
			for p := d; p != "."; p = path.Dir(p) {
				if err := root.Lchown(p, s.uid, s.gid); err != nil {
					return err
				}
			}
		}
	}
	if err := root.WriteFile(rel, data, 0o644); err != nil {
		return err
	}
	if s.drop {
		return root.Lchown(rel, s.uid, s.gid)
	}
	return nil
}

func (s *localSandbox) Close(context.Context) error {
	return s.close(func() error {
		if err := removeAll(s.dir); err != nil {
			return infra("remove workspace", err)
		}
		return nil
	})
}

// removeAll removes a tree even where read-only directories (Go's module
// cache, chmod by a command) would stop os.RemoveAll.
func removeAll(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// Dir is the workspace's path on this machine (local backend only): tools
// that edit files use ReadFile/WriteFile, which work on every backend.
func Dir(s Sandbox) (string, bool) {
	ls, ok := s.(*localSandbox)
	if !ok {
		return "", false
	}
	return ls.ws, true
}
