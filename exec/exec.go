// Package exec runs commands in isolated sandboxes: a fresh copy of a
// repository at the task's base commit, the only writable place; no
// network; CPU, memory and wall-time limits; the whole process tree killed
// when a command ends or times out; a scrubbed environment. Backends share
// one interface and one conformance suite (conformance_test.go): Local
// (bubblewrap, the default) and Docker (the Engine API, for SWE-bench-style
// images).
//
// Errors distinguish the sandbox failing (ErrInfra: it did not start, the
// workspace could not be prepared, the harness timed out) from the command
// failing, which is not an error: Result.ExitCode says how it ended.
package exec

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// ErrInfra marks infrastructure failures: the sandbox, not the command.
var ErrInfra = errors.New("sandbox infrastructure failure")

// ErrUnisolated: bubblewrap is missing and running unisolated was not
// allowed.
var ErrUnisolated = errors.New("bubblewrap (bwrap) not found: install the Debian package bubblewrap, or allow unisolated runs explicitly")

// InfraError is an infrastructure failure during Op.
type InfraError struct {
	Op  string
	Err error
}

func (e *InfraError) Error() string { return fmt.Sprintf("sandbox %s: %v", e.Op, e.Err) }
func (e *InfraError) Unwrap() []error {
	return []error{ErrInfra, e.Err}
}

func infra(op string, err error) error { return &InfraError{Op: op, Err: err} }

// Limits bound one command. Zero values take the defaults (DefaultLimits());
// a negative value means no limit.
type Limits struct {
	Timeout time.Duration // wall time (default 10 minutes); exit code 124 when hit
	CPU     time.Duration // CPU time of each process (RLIMIT_CPU; default: none)
	Memory  int64         // address space of each process in bytes (RLIMIT_AS; default 2 GiB)
	Procs   int           // processes and threads of the sandbox (RLIMIT_NPROC in its own user namespace; default 1024)
	Output  int64         // bytes of combined output kept in Result.Output (default 8 MiB)
	Files   int64         // largest file a process may write, bytes (RLIMIT_FSIZE; default 1 GiB)
	// Tmp is the size of the sandbox's private, RAM-backed /tmp (a tmpfs,
	// so it is memory the address-space limit does not see; default 512 MiB).
	Tmp int64
	// Disk bounds what the workspace may hold, bytes (default 8 GiB): a
	// command that grows it past the bound is killed (Result.LimitHit
	// "disk"). Sampled about once a second.
	Disk int64
}

// DefaultTimeout is a command's wall-time limit when Limits.Timeout is 0.
const DefaultTimeout = 10 * time.Minute

// DefaultLimits are the bounds of every command that sets none: memory,
// file size, processes, /tmp and workspace disk use are bounded unless a
// caller or the configuration says otherwise (docs/security.md).
func DefaultLimits() Limits {
	return Limits{
		Timeout: DefaultTimeout,
		Memory:  2 << 30,
		Procs:   1024,
		Output:  8 << 20,
		Files:   1 << 30,
		Tmp:     512 << 20,
		Disk:    8 << 30,
	}
}

// TimeoutExitCode is the exit code of a command killed at its timeout (as
// coreutils' timeout).
const TimeoutExitCode = 124

// Or fills the zero fields of l from d.
func (l Limits) Or(d Limits) Limits {
	if l.Timeout == 0 {
		l.Timeout = d.Timeout
	}
	if l.CPU == 0 {
		l.CPU = d.CPU
	}
	if l.Memory == 0 {
		l.Memory = d.Memory
	}
	if l.Procs == 0 {
		l.Procs = d.Procs
	}
	if l.Output == 0 {
		l.Output = d.Output
	}
	if l.Files == 0 {
		l.Files = d.Files
	}
	if l.Tmp == 0 {
		l.Tmp = d.Tmp
	}
	if l.Disk == 0 {
		l.Disk = d.Disk
	}
	return l
}

func (l Limits) withDefaults() Limits {
	l = l.Or(DefaultLimits())
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.Output <= 0 {
		l.Output = 8 << 20
	}
	return l
}

// Spec is one command.
type Spec struct {
	Argv   []string          // the command; Argv[0] is looked up in the sandbox's PATH
	Dir    string            // working directory relative to the workspace ("" : its root)
	Env    map[string]string // added to the sandbox's scrubbed environment
	Stdin  io.Reader         // nil: empty
	Stdout io.Writer         // streamed as it runs (nil: not streamed)
	Stderr io.Writer
	Limits Limits
}

// Result is how a command ended.
type Result struct {
	ExitCode  int           `json:"exit_code"` // 124 on timeout, 128+n when killed by signal n
	TimedOut  bool          `json:"timed_out"`
	Duration  time.Duration `json:"duration"`
	Output    []byte        `json:"-"`         // combined stdout and stderr, the first Limits.Output bytes
	Truncated bool          `json:"truncated"` // output beyond Limits.Output was not kept
	// LimitHit names a limit the sandbox enforced by killing the command
	// ("disk"), "" otherwise.
	LimitHit string `json:"limit_hit,omitempty"`
}

// Workspace says what a sandbox starts from.
type Workspace struct {
	// Source is a directory copied into the workspace ("" : empty). When it
	// is a git repository and Commit is set, the workspace is a clone
	// checked out at Commit.
	Source string
	Commit string
	// Image is the container image of the docker backend (the task row's
	// image column); AltImages are tried in order when the engine lacks
	// Image (swelake env build's name for the task, SWE-bench's public
	// one). The local backend ignores them.
	Image     string
	AltImages []string
}

// Sandbox is one isolated workspace. It is not safe for concurrent Run
// calls that write the same files; separate sandboxes are independent.
type Sandbox interface {
	// Run runs one command to completion (or its timeout). The error is
	// non-nil only for infrastructure failures (errors.Is(err, ErrInfra)) or
	// a cancelled ctx.
	Run(ctx context.Context, spec Spec) (Result, error)
	// ReadFile and WriteFile access workspace files by workspace-relative
	// path; paths escaping the workspace are refused.
	ReadFile(ctx context.Context, path string) ([]byte, error)
	WriteFile(ctx context.Context, path string, data []byte) error
	// Close kills anything still running and removes the workspace.
	Close(ctx context.Context) error
	// Isolated reports whether commands run isolated (false only when the
	// local backend was explicitly allowed to run without bubblewrap).
	Isolated() bool
}

// Backend opens sandboxes.
type Backend interface {
	Name() string
	Open(ctx context.Context, ws Workspace) (Sandbox, error)
}

// capped keeps the first n bytes written to it.
type capped struct {
	buf       []byte
	n         int64
	truncated bool
}

func (c *capped) Write(p []byte) (int, error) {
	room := c.n - int64(len(c.buf))
	if room <= 0 {
		if len(p) > 0 {
			c.truncated = true
		}
		return len(p), nil
	}
	if int64(len(p)) > room {
		c.buf = append(c.buf, p[:room]...)
		c.truncated = true
		return len(p), nil
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// Isolation describes how a backend isolates commands, for provenance:
// "local (bubblewrap)", "local (UNISOLATED: bubblewrap missing,
// allow_unisolated set)" or "docker (<host>)".
func Isolation(b Backend) string {
	switch b := b.(type) {
	case *Local:
		if b.bwrapPath() != "" {
			return "local (bubblewrap)"
		}
		if b.AllowUnisolated {
			return "local (UNISOLATED: bubblewrap missing, allow_unisolated set)"
		}
		return "local (bubblewrap missing: refuses to run)"
	case *Docker:
		return "docker (" + cmp.Or(b.Host, "unix:///var/run/docker.sock") + ")"
	}
	return b.Name()
}

// lifecycle is what every backend's sandbox tracks: whether it is closed.
type lifecycle struct {
	mu     sync.Mutex
	closed bool
}

// open checks that the sandbox is not closed.
func (l *lifecycle) open() error {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return infra("run", errors.New("sandbox is closed"))
	}
	return nil
}

// start checks that a command may run.
func (l *lifecycle) start(spec Spec) error {
	if err := l.open(); err != nil {
		return err
	}
	if len(spec.Argv) == 0 {
		return errors.New("sandbox run: no command")
	}
	return nil
}

// close marks the sandbox closed and runs release, once: a second Close
// is a no-op.
func (l *lifecycle) close(release func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return release()
}
