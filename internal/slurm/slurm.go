// Package slurm drives a Slurm cluster through its client commands —
// sbatch to submit, scontrol to watch, scancel to cancel — the way a user
// at a login node does (no REST daemon, no accounting database needed).
// The pipeline's Slurm executor and the real-cluster tests use it.
package slurm

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Client runs the Slurm commands with Env added to each one's
// environment (e.g. SLURM_CONF; sbatch hands its environment to the job).
type Client struct {
	Env []string
	// Poll bounds the wait between two looks at a job (default 5s; the
	// first looks come sooner, so short jobs are not timed by the poll).
	Poll time.Duration
}

// ErrGone: the controller no longer knows the job (it ended more than
// MinJobAge ago, 300 s by default, or never existed).
var ErrGone = errors.New("job unknown to the Slurm controller")

func (c *Client) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	if len(c.Env) > 0 {
		cmd.Env = append(cmd.Environ(), c.Env...)
	}
	return cmd
}

// Submit runs sbatch --parsable with args (flags, the script, its
// arguments) and returns the job id.
func (c *Client) Submit(ctx context.Context, env []string, args ...string) (string, error) {
	cmd := c.command(ctx, "sbatch", append([]string{"--parsable"}, args...)...)
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("sbatch: %v: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("sbatch: %w (is slurm-wlm's client installed?)", err)
	}
	// --parsable prints "<id>" or "<id>;<cluster>".
	id, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";")
	if _, err := strconv.Atoi(id); err != nil {
		return "", fmt.Errorf("sbatch: unexpected output %q", out)
	}
	return id, nil
}

// Task is one task of a job: an array's index, or index 0 of a plain job.
type Task struct {
	JobID    string // the task's own job id
	State    string // PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, …
	ExitCode int    // the script's exit status (ExitCode=N:signal)
	Signal   int
	Reason   string
}

// Done: the task has ended, well or not.
func (t Task) Done() bool {
	switch t.State {
	case "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED":
		return false
	}
	return t.State != ""
}

// OK: the task completed with exit status 0.
func (t Task) OK() bool { return t.State == "COMPLETED" && t.ExitCode == 0 }

// Tasks reads a job's tasks from `scontrol -o show job` (an array's
// pending tasks that Slurm still lists as a range are left out: they are
// neither done nor started).
func (c *Client) Tasks(ctx context.Context, job string) (map[int]Task, error) {
	out, err := c.command(ctx, "scontrol", "-o", "show", "job", job).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "Invalid job id") {
			return nil, fmt.Errorf("scontrol show job %s: %w", job, ErrGone)
		}
		return nil, fmt.Errorf("scontrol show job %s: %v: %s", job, err, strings.TrimSpace(string(out)))
	}
	return ParseJobs(string(out)), nil
}

// ParseJobs reads `scontrol -o show job` output: one job per line,
// Key=Value fields.
func ParseJobs(out string) map[int]Task {
	tasks := map[int]Task{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		idx := 0
		var t Task
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "JobId":
				t.JobID = v
			case "ArrayTaskId":
				n, err := strconv.Atoi(v)
				if err != nil {
					n = -1 // pending tasks listed as a range
				}
				idx = n
			case "JobState":
				t.State = v
			case "Reason":
				t.Reason = v
			case "ExitCode":
				code, sig, _ := strings.Cut(v, ":")
				t.ExitCode, _ = strconv.Atoi(code)
				t.Signal, _ = strconv.Atoi(sig)
			}
		}
		if idx >= 0 && t.State != "" {
			tasks[idx] = t
		}
	}
	return tasks
}

// Cancel cancels a job (all its tasks) or one task ("4711_2").
func (c *Client) Cancel(ctx context.Context, job string) error {
	if out, err := c.command(ctx, "scancel", job).CombinedOutput(); err != nil {
		return fmt.Errorf("scancel %s: %v: %s", job, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Wait polls the job until the given indexes have all ended and returns
// their tasks. If ctx ends first, it cancels the job (a driver that stops
// does not leave work running) and returns ctx's error. A job the
// controller forgot while it was watched is ErrGone; a look that fails
// (the controller restarting) is retried, up to 20 in a row.
func (c *Client) Wait(ctx context.Context, job string, indexes []int) (map[int]Task, error) {
	poll := c.Poll
	if poll <= 0 {
		poll = 5 * time.Second
	}
	wait := 100 * time.Millisecond
	failures := 0 // consecutive: a controller restarting is not the job failing
	for {
		tasks, err := c.Tasks(ctx, job)
		switch {
		case err == nil:
			failures = 0
		case ctx.Err() != nil: // cancelled below
		case errors.Is(err, ErrGone):
			return nil, err
		default:
			if failures++; failures > 20 {
				return nil, fmt.Errorf("job %s: %d looks in a row failed (it may still run): %w", job, failures, err)
			}
		}
		done := err == nil && !slices.ContainsFunc(indexes, func(i int) bool { return !tasks[i].Done() })
		if done {
			return tasks, nil
		}
		select {
		case <-ctx.Done():
			cerr := c.Cancel(context.WithoutCancel(ctx), job)
			return tasks, errors.Join(fmt.Errorf("job %s: %w (cancelled it)", job, ctx.Err()), cerr)
		case <-time.After(wait):
		}
		wait = min(wait*3/2, poll)
	}
}

// Array is the --array value for the indexes: "0-3", "1,3", "0-2,5".
func Array(indexes []int) string {
	s := slices.Clone(indexes)
	slices.Sort(s)
	var parts []string
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", s[i], s[j]))
		} else {
			parts = append(parts, strconv.Itoa(s[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
