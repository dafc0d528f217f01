package rliterate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/swelake/swelake/lake/objstore"
)

// templateVars are the names a trainer command's arguments may use.
var templateVars = []string{"batch", "samples", "iteration", "checkpoint", "loop_id", "out_dir"}

var placeholder = regexp.MustCompile(`\{([^{}]*)\}`)

// checkTemplate refuses an argument naming an unknown {variable}.
func checkTemplate(arg string) error {
	for _, m := range placeholder.FindAllStringSubmatch(arg, -1) {
		known := false
		for _, v := range templateVars {
			known = known || m[1] == v
		}
		if !known {
			return fmt.Errorf("argument %q: unknown {%s}; the template knows {%s}", arg, m[1], strings.Join(templateVars, "}, {"))
		}
	}
	return nil
}

func fill(arg string, vars map[string]string) string {
	return placeholder.ReplaceAllStringFunc(arg, func(m string) string { return vars[m[1:len(m)-1]] })
}

// tailSize bounds what is kept of the trainer's output in memory: its
// last lines (the checkpoint, or why it failed); all of it goes to the log.
const tailSize = 8 << 10

// tail keeps the last tailSize bytes written to it.
type tail struct{ buf []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

// lastLine is the last non-empty line of b.
func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n\r\t "), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// train runs the trainer command (its process group is killed when ctx
// ends or its timeout passes) with its output appended to logPath; the
// last non-empty line of its standard output is the new checkpoint.
func (lp *loop) train(ctx context.Context, vars map[string]string, logPath string, attempt int32) (trainerStep, error) {
	cfg, env := lp.r.Config, lp.r.Env
	step := trainerStep{Attempts: attempt, Log: logPath, Exit: -1}
	for _, arg := range cfg.Trainer.Command {
		step.Command = append(step.Command, fill(arg, vars))
	}
	sha, _, err := objstore.HashFile(ctx, vars["batch"])
	if err != nil {
		return step, fmt.Errorf("trainer: the batch file: %w", err)
	}
	step.BatchSHA = sha
	timeout, _ := time.ParseDuration(cfg.Trainer.Timeout)
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return step, fmt.Errorf("trainer log: %w", err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "# swelake rl iterate: attempt %d at %s: %q\n", attempt, env.Clock().UTC().Format(time.RFC3339), step.Command)
	cmd := exec.CommandContext(tctx, step.Command[0], step.Command[1:]...)
	cmd.Dir = lp.st.dir
	// Its own process group, killed whole when the loop stops; and killed
	// with this process if this process dies (SIGKILL, OOM) instead of
	// training on beside the loop's next run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var out, errOut tail
	cmd.Stdout, cmd.Stderr = io.MultiWriter(logf, &out), io.MultiWriter(logf, &errOut)
	t0 := env.Clock()
	env.Logger.Info("rl loop: trainer", "command", strings.Join(step.Command, " "), "attempt", attempt, "log", logPath)
	err = cmd.Run()
	step.Seconds, step.Finished = env.Clock().Sub(t0).Seconds(), env.Clock().UTC()
	var exit *exec.ExitError
	switch {
	case tctx.Err() != nil && ctx.Err() == nil:
		return step, fmt.Errorf("trainer: timed out after %s (trainer.timeout; log %s)", cfg.Trainer.Timeout, logPath)
	case ctx.Err() != nil:
		return step, fmt.Errorf("trainer: stopped: %w", ctx.Err())
	case errors.As(err, &exit):
		step.Exit = int32(exit.ExitCode())
		return step, fmt.Errorf("trainer: %q exited %d after %.1fs (log %s): %s", step.Command[0], step.Exit, step.Seconds, logPath,
			lastLine(bytes.Join([][]byte{out.buf, errOut.buf}, []byte("\n"))))
	case err != nil:
		return step, fmt.Errorf("trainer: %w", err)
	}
	step.Exit = 0
	step.Checkpoint = lastLine(out.buf)
	if step.Checkpoint == "" || strings.IndexFunc(step.Checkpoint, unicode.IsSpace) >= 0 {
		return step, fmt.Errorf("trainer: %q exited 0 but its last line of output %q is not a checkpoint name (print the new checkpoint's model name last; log %s)",
			step.Command[0], step.Checkpoint, logPath)
	}
	return step, nil
}
