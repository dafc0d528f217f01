package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/taskenv"
	"github.com/swelake/swelake/jobs/tables"
	"github.com/swelake/swelake/jobs/taskexec"
	"github.com/swelake/swelake/schemas"
)

// gradeResult is what `swelake grade` prints: the reward an RL trainer's
// reward function returns, and why.
type gradeResult struct {
	TaskID          string  `json:"task_id"`
	InstanceID      string  `json:"instance_id"`
	Reward          float64 `json:"reward"` // 1 when resolved, else 0
	Resolved        bool    `json:"resolved"`
	Status          string  `json:"status"` // resolved, unresolved, empty_patch, infra_error
	Reason          string  `json:"reason,omitempty"`
	FailToPass      [2]int  `json:"fail_to_pass"` // passed, of
	PassToPass      [2]int  `json:"pass_to_pass"`
	PatchApplied    bool    `json:"patch_applied"`
	Seconds         float64 `json:"seconds"`
	SandboxIsolated bool    `json:"isolated"`
}

func newGradeCmd(a *app) *cobra.Command {
	var taskID, patchFile string
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "grade --task <id> [--patch <file>|-]",
		Short: "Grade one patch against a task in a fresh sandbox and print the reward (for RL reward functions)",
		Long: `Applies a patch (a unified diff, from --patch <file> or stdin) to the task's
repository at its base commit in a fresh sandbox, applies the task's test
patch, runs its tests and grades them with SWE-bench semantics (resolved iff
every FAIL_TO_PASS test passes and every PASS_TO_PASS test still passes), as
evaluate does — and prints the reward: 1 when resolved, else 0, with the
counts behind it. An empty patch is reward 0, status empty_patch, without a
sandbox. The exit status is 0 whatever the verdict; a sandbox failure is an
error (exit 1) with status infra_error in --json.

verl's custom_reward_function calls it through examples/verl/swelake_reward.py.`,
		Example: `  git diff | swelake grade --task swe-bench/pallets__flask-4992 --json
  swelake grade --task swelake/textkit-mut-3 --patch fix.diff`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if taskID == "" {
				return usageError{errors.New("--task <id> is required")}
			}
			var in io.Reader = a.stdin
			if patchFile != "" && patchFile != "-" {
				f, err := os.Open(patchFile)
				if err != nil {
					return usageError{fmt.Errorf("--patch: %w", err)}
				}
				defer f.Close()
				in = f
			}
			patch, err := io.ReadAll(io.LimitReader(in, exec.MaxDockerStdin+1))
			if err != nil {
				return fmt.Errorf("read the patch: %w", err)
			}
			if len(patch) > exec.MaxDockerStdin {
				return fmt.Errorf("the patch is larger than %d bytes", exec.MaxDockerStdin)
			}
			ctx := cmd.Context()
			task, err := a.findTask(cmd, taskID)
			if err != nil {
				return err
			}
			res := gradeResult{TaskID: task.TaskID, InstanceID: task.InstanceID, FailToPass: [2]int{0, len(task.FailToPass)}, PassToPass: [2]int{0, len(task.PassToPass)}}
			if len(patch) == 0 {
				res.Status, res.Reason = schemas.StatusEmptyPatch, "the patch is empty"
				return a.printGrade(res)
			}
			b, err := a.backend()
			if err != nil {
				return err
			}
			specs, err := taskenv.Load(a.cfg.Sandbox.Specs)
			if err != nil {
				return err
			}
			ws, err := taskexec.TaskWorkspace(a.cfg.Sandbox.ReposDir, task)
			if err != nil {
				return err
			}
			te := taskexec.TestEnv(specs, task)
			start := a.now()
			g, err := exec.GradePatch(ctx, b, exec.GradeSpec{Workspace: ws, TestPatch: []byte(task.TestPatch), Patch: patch,
				TestCmd: te.Script(), Framework: te.LogParser, FailToPass: task.FailToPass, PassToPass: task.PassToPass,
				Limits: exec.Limits{Timeout: timeout}})
			res.Seconds = a.now().Sub(start).Seconds()
			res.Status, res.Reason, res.PatchApplied, res.SandboxIsolated = g.Status, g.Reason, g.PatchApplied, g.Isolated
			res.Resolved = g.Status == exec.StatusResolved
			if res.Resolved {
				res.Reward = 1
			}
			res.FailToPass[0], res.PassToPass[0] = len(g.Grade.F2PPassed), len(g.Grade.P2PPassed)
			if perr := a.printGrade(res); perr != nil {
				return perr
			}
			if err != nil {
				return fmt.Errorf("grade %s: %w", task.TaskID, err)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&taskID, "task", "", "task id (as in the tasks table)")
	f.StringVar(&patchFile, "patch", "", "the patch file (default, or -: stdin)")
	f.DurationVar(&timeout, "timeout", exec.DefaultTimeout, "wall-time limit of the test run")
	return c
}

func (a *app) printGrade(res gradeResult) error {
	if a.json {
		return a.printJSON(res)
	}
	fmt.Fprintf(a.stdout, "%s: reward %g (%s", res.TaskID, res.Reward, res.Status)
	if res.Reason != "" {
		fmt.Fprintf(a.stdout, ": %s", res.Reason)
	}
	fmt.Fprintf(a.stdout, "); FAIL_TO_PASS %d/%d, PASS_TO_PASS %d/%d\n", res.FailToPass[0], res.FailToPass[1], res.PassToPass[0], res.PassToPass[1])
	return nil
}

// findTask reads a task from the latest tasks snapshot.
func (a *app) findTask(cmd *cobra.Command, id string) (*schemas.Task, error) {
	ctx := cmd.Context()
	l, _, err := a.openLake(ctx, false)
	if err != nil {
		return nil, err
	}
	snap, err := tables.Pin(ctx, l, schemas.Tasks.Name, schemas.Tasks.Name)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w (swelake ingest tasks first)", id, err)
	}
	tasks, err := taskexec.TasksByID(ctx, l, snap, func(t string) bool { return t == id })
	if err != nil {
		return nil, err
	}
	if t, ok := tasks[id]; ok {
		return t, nil
	}
	return nil, usageError{fmt.Errorf("task %s: not in %s", id, snap.Ref().String())}
}
