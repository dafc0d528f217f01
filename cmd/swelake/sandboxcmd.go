package main

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/swelake/swelake/jobs/taskexec"
	"time"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/taskenv"
)

func newSandboxCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "sandbox",
		Short: "Run commands in the isolated sandboxes the execution jobs use",
	}
	c.AddCommand(newSandboxRunCmd(a))
	return c
}

// sandboxLimits are the configured default bounds of every command.
func (a *app) sandboxLimits() (exec.Limits, error) {
	sc := a.cfg.Sandbox
	lim := exec.Limits{Procs: sc.Procs}
	if lim.Procs == 0 {
		lim.Procs = -1
	}
	for _, f := range []struct {
		key, val string
		dst      *int64
	}{{"sandbox.memory", sc.Memory, &lim.Memory}, {"sandbox.file_size", sc.FileSize, &lim.Files}, {"sandbox.tmp", sc.Tmp, &lim.Tmp}, {"sandbox.disk", sc.Disk, &lim.Disk}} {
		if f.val == "" || f.val == "off" || f.val == "0" {
			*f.dst = -1 // no bound
			continue
		}
		n, err := parseBytes(f.val)
		if err != nil {
			return lim, fmt.Errorf("config %s: %w", f.key, err)
		}
		*f.dst = n
	}
	return lim, nil
}

// backend is the configured sandbox backend.
func (a *app) backend() (exec.Backend, error) {
	lim, err := a.sandboxLimits()
	if err != nil {
		return nil, err
	}
	switch a.cfg.Sandbox.Backend {
	case "local", "":
		if a.cfg.Sandbox.UID == 0 || a.cfg.Sandbox.GID == 0 {
			return nil, errors.New("config sandbox.uid/sandbox.gid: 0 is root; sandboxes never run as host root (choose an unprivileged uid, default 65534)")
		}
		return &exec.Local{Root: a.cfg.Sandbox.Root, AllowUnisolated: a.cfg.Sandbox.AllowUnisolated, Logger: a.logger,
			UID: a.cfg.Sandbox.UID, GID: a.cfg.Sandbox.GID, Limits: lim}, nil
	case "docker":
		return a.docker(lim), nil
	}
	return nil, fmt.Errorf("config sandbox.backend %q: want local or docker", a.cfg.Sandbox.Backend)
}

// docker is the configured engine.
func (a *app) docker(lim exec.Limits) *exec.Docker {
	d := &exec.Docker{Host: a.cfg.Sandbox.DockerHost, WorkDir: a.cfg.Sandbox.DockerWorkDir, Image: a.cfg.Sandbox.DockerImage, Limits: lim}
	if d.Host == "" {
		d.Host = a.getenv("DOCKER_HOST")
	}
	return d
}

func newSandboxRunCmd(a *app) *cobra.Command {
	var (
		taskID          string
		timeout         time.Duration
		memory          string
		cpu             time.Duration
		dir             string
		allowUnisolated bool
	)
	c := &cobra.Command{
		Use:   "run [--task <id>] [flags] [-- <command...>]",
		Short: "Run one command in a fresh sandbox and exit with its status",
		Long: `Runs one command in a fresh sandbox — the task's environment when --task
is given, an empty workspace otherwise — streams its output and exits with
its status: 124 when it hit --timeout, 128+n when a signal killed it. With
--task and no command it runs the task's tests as grading runs them (its
spec's environment, setup and test command; the test patch is not applied).

On the local backend (bubblewrap) the task's repository comes from
<sandbox.repos_dir>/<repo> at its base commit; on the docker backend the
task's image (its row's image, else sweb.eval.x86_64.<instance_id> from
swelake env build), else the repository copied into sandbox.docker_image.
No network, a read-only system, a private /tmp and a scrubbed environment;
the workspace is the only writable place and is removed afterwards. This is
how to debug a task's environment.`,
		Example: `  swelake sandbox run -- python3 -c 'import sys; print(sys.version)'
  swelake sandbox run --task swelake/textkit-mut-3 -- python3 -m pytest -rA
  swelake sandbox run --task swe-bench/pallets__flask-4992
  swelake --config podman.yaml sandbox run --task swe-bench/sympy__sympy-24152 -- git log -1
  swelake sandbox run --timeout 30s --memory 2GiB -- go test ./...`,
		Args: usage(func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && taskID == "" {
				return errors.New("a command to run (after --), or --task to run its tests")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if allowUnisolated {
				a.cfg.Sandbox.AllowUnisolated = true
			}
			b, err := a.backend()
			if err != nil {
				return err
			}
			var ws exec.Workspace
			var testPatch []byte
			if taskID != "" {
				var te taskenv.Env
				if ws, te, testPatch, err = a.taskWorkspace(cmd, taskID); err != nil {
					return err
				}
				if len(args) == 0 {
					fmt.Fprintf(a.stderr, "swelake: the tests of %s, with its test patch applied:\n%s\n", taskID, te.Script())
					args = []string{"sh", "-c", te.Script()}
				} else {
					testPatch = nil
				}
			}
			lim := exec.Limits{Timeout: timeout, CPU: cpu}
			if memory != "" {
				if lim.Memory, err = parseBytes(memory); err != nil {
					return usageError{fmt.Errorf("--memory: %w", err)}
				}
			}
			s, err := b.Open(ctx, ws)
			if err != nil {
				return err
			}
			defer s.Close(ctx)
			if !s.Isolated() {
				a.logger.Warn("running unisolated: bubblewrap is missing (sandbox.allow_unisolated)")
			}
			if len(bytes.TrimSpace(testPatch)) > 0 {
				if _, err := exec.ApplyPatch(ctx, s, testPatch); err != nil {
					return fmt.Errorf("task %s: apply its test patch: %w", taskID, err)
				}
			}
			res, err := s.Run(ctx, exec.Spec{Argv: args, Dir: dir, Stdin: a.stdin, Stdout: a.stdout, Stderr: a.stderr, Limits: lim})
			if err != nil {
				return err
			}
			if res.TimedOut {
				fmt.Fprintf(a.stderr, "swelake: timed out after %s\n", lim.Timeout)
			}
			if err := s.Close(ctx); err != nil {
				return err
			}
			if res.ExitCode != 0 {
				return exitCode(res.ExitCode)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&taskID, "task", "", "task id: run in its repository at its base commit")
	f.DurationVar(&timeout, "timeout", exec.DefaultTimeout, "wall-time limit; the whole process tree is killed and the exit status is 124")
	f.StringVar(&memory, "memory", "", "address-space limit per process, e.g. 2GiB")
	f.DurationVar(&cpu, "cpu", 0, "CPU-time limit per process, e.g. 5m")
	f.StringVar(&dir, "dir", "", "working directory inside the workspace")
	f.BoolVar(&allowUnisolated, "allow-unisolated", false, "run without isolation if bubblewrap is missing (never silently)")
	return c
}

// taskWorkspace finds the task in the lake and its repository on disk.
func (a *app) taskWorkspace(cmd *cobra.Command, id string) (exec.Workspace, taskenv.Env, []byte, error) {
	task, err := a.findTask(cmd, id)
	if err != nil {
		return exec.Workspace{}, taskenv.Env{}, nil, err
	}
	specs, err := taskenv.Load(a.cfg.Sandbox.Specs)
	if err != nil {
		return exec.Workspace{}, taskenv.Env{}, nil, err
	}
	ws, err := taskexec.TaskWorkspace(a.cfg.Sandbox.ReposDir, task)
	return ws, taskexec.TestEnv(specs, task), []byte(task.TestPatch), err
}
