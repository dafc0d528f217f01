package schemas

import (
	"regexp"
	"slices"
	"testing"
)

// TestNormalizeExit: every spelling docs/tables.md lists maps to its
// closed-set reason; forced follows the reason.
func TestNormalizeExit(t *testing.T) {
	for raw, want := range map[string]string{
		"submitted": ExitSubmitted, "Submitted": ExitSubmitted, "agent": ExitSubmitted, "finished": ExitSubmitted,
		"submitted (exit_cost)": ExitCostCap, "submitted (exit_context)": ExitContextOverflow, "submitted (exit_format)": ExitFormatError,
		"submitted (exit_api_calls)": ExitStepCap, "submitted (exit_error)": ExitAgentError, "exit_total_execution_time": ExitTimeCap,
		"exit_forfeit": ExitAgentError, "LimitsExceeded": ExitStepCap, "max_steps": ExitStepCap, "max_tokens": ExitTokenCap,
		"traj_time_limit": ExitTimeCap, "max_iterations": ExitStepCap, "step_cap": ExitStepCap, "token_cap": ExitTokenCap,
		"time_limit": ExitTimeCap, "no_action": ExitFormatError, "model_error": ExitAgentError, "infra_error": ExitEnvError,
		"RuntimeError: the sandbox died": ExitEnvError, "AgentStuckInLoopError: stuck": ExitAgentError,
		"ContextWindowExceededError: prompt is too long": ExitContextOverflow, "something else": ExitUnknown, "": ExitUnknown,
	} {
		got := NormalizeExit(raw, false)
		if got != want {
			t.Errorf("NormalizeExit(%q) = %s, want %s", raw, got, want)
		}
		r := Rollout{ExitReasonRaw: raw}
		FinishRollout(&r)
		if r.Forced != ForcedExit(want) || (want == ExitEnvError) != r.InfraError {
			t.Errorf("%q: forced %v infra %v", raw, r.Forced, r.InfraError)
		}
	}
	if NormalizeExit("", true) != ExitSubmitted {
		t.Error("no reason, submitted: not submitted")
	}
}

// TestMiniSWEAgentFence: mini-swe-agent's ```mswea_bash_command blocks are
// actions (the v2 SQL missed them), and its echo marker is a submit.
func TestMiniSWEAgentFence(t *testing.T) {
	acts := ActionsOf([]Message{{Role: "assistant", Content: "THOUGHT: done\n\n```mswea_bash_command\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git add -A && git diff --cached\n```"}})
	if len(acts) != 1 || acts[0].Kind != "fenced" || !acts[0].Submit || acts[0].Turn != 1 {
		t.Fatalf("%+v", acts)
	}
}

// TestFencedCommands: the scanner finds what the v2 SQL's regular
// expression found (RE2 leftmost, non-overlapping), on the edge cases.
func TestFencedCommands(t *testing.T) {
	re := regexp.MustCompile("(?s)```(?:bash|sh|mswea_bash_command)?\n(.*?)\n?```")
	for _, s := range []string{
		"```\nls\n```", "```bash\nls -la\n```", "```sh\necho hi```", "```python\nprint(1)\n```", "````\nls\n```",
		"```bash\na\n``` and ```\nb\n```", "```\n```", "```bashx\nno\n```\n```\nyes\n```", "``` \nno\n```", "```\nunclosed",
		"text ```bash\nx\n\n``` more ```sh\ny\n````", "```mswea_bash_command\ncd /r && ls\n```", "```\n\n```", "a```b```c```\nd\n```",
	} {
		var want []string
		for _, m := range re.FindAllStringSubmatch(s, -1) {
			want = append(want, m[1])
		}
		if got := fencedCommands(s); !slices.Equal(got, want) {
			t.Errorf("%q: got %q, want %q", s, got, want)
		}
	}
}
