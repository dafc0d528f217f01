package schemas

import (
	"slices"
	"strings"
)

// The closed set of rollouts.exit_reason: why a run ended, whatever the
// scaffold called it (the source's own string is kept in exit_reason_raw).
const (
	ExitSubmitted       = "submitted"        // the agent submitted (or finished) on its own
	ExitStepCap         = "step_cap"         // a step, turn, iteration or API-call limit
	ExitTokenCap        = "token_cap"        // the run's token budget
	ExitContextOverflow = "context_overflow" // the conversation no longer fits the model's context window
	ExitTimeCap         = "time_cap"         // a wall-time limit
	ExitCostCap         = "cost_cap"         // a spending limit
	ExitFormatError     = "format_error"     // ended for malformed output (no parseable action)
	ExitAgentError      = "agent_error"      // the model or the agent failed (API errors, exceptions, stuck)
	ExitEnvError        = "env_error"        // the environment failed: sandbox, container, runtime
	ExitUnknown         = "unknown"          // the source recorded no reason, or one not recognised
)

// ExitReasons lists the closed set, in the order docs/tables.md gives it.
func ExitReasons() []string {
	return []string{ExitSubmitted, ExitStepCap, ExitTokenCap, ExitContextOverflow, ExitTimeCap, ExitCostCap,
		ExitFormatError, ExitAgentError, ExitEnvError, ExitUnknown}
}

// ForcedExits are the exit reasons of a run cut off by a limit (or ended
// for malformed output) whose patch was submitted for it: RL shaping scales
// such a run's reward, curation's step_cap rule drops it. The one
// definition.
func ForcedExits() []string {
	return []string{ExitStepCap, ExitTokenCap, ExitContextOverflow, ExitTimeCap, ExitCostCap, ExitFormatError}
}

// ForcedExit reports whether a normalised exit reason is a forced one.
func ForcedExit(reason string) bool { return slices.Contains(ForcedExits(), reason) }

// exitSpellings maps every exit string the supported scaffolds write
// (lower-cased) to the closed set: SWE-agent's exit_status (and the limit
// inside "submitted (exit_…)"), mini-swe-agent's, R2E-Gym's exit_reason,
// what the OpenHands importer writes, and swelake's own agent loop.
var exitSpellings = map[string]string{
	"submitted": ExitSubmitted, "submit": ExitSubmitted, "agent": ExitSubmitted, "finished": ExitSubmitted,
	"finish": ExitSubmitted, "completed": ExitSubmitted, "done": ExitSubmitted, "success": ExitSubmitted,

	"step_cap": ExitStepCap, "max_steps": ExitStepCap, "max_turns": ExitStepCap, "max_iterations": ExitStepCap,
	"exit_api_calls": ExitStepCap, "step_limit": ExitStepCap, "limitsexceeded": ExitStepCap, "max_step_limit": ExitStepCap,

	"token_cap": ExitTokenCap, "max_tokens": ExitTokenCap, "token_limit": ExitTokenCap, "max_token_limit": ExitTokenCap,

	"exit_context": ExitContextOverflow, "context_length": ExitContextOverflow, "context_overflow": ExitContextOverflow,
	"context_window_exceeded": ExitContextOverflow, "contextwindowexceedederror": ExitContextOverflow, "prompt_too_long": ExitContextOverflow,

	"time_limit": ExitTimeCap, "timeout": ExitTimeCap, "exit_time": ExitTimeCap, "wall_time": ExitTimeCap,
	"traj_time_limit": ExitTimeCap, "exit_total_execution_time": ExitTimeCap, "time_cap": ExitTimeCap,

	"exit_cost": ExitCostCap, "cost_limit": ExitCostCap, "cost_cap": ExitCostCap, "cost_limit_exceeded": ExitCostCap,

	"exit_format": ExitFormatError, "format_error": ExitFormatError, "no_action": ExitFormatError,

	"model_error": ExitAgentError, "exit_error": ExitAgentError, "agent_error": ExitAgentError, "error": ExitAgentError,
	"llm_error": ExitAgentError, "exit_forfeit": ExitAgentError, "agentstuckinlooperror": ExitAgentError, "stuck": ExitAgentError,

	"infra_error": ExitEnvError, "env_error": ExitEnvError, "exit_environment_error": ExitEnvError, "no_container": ExitEnvError,
	"container_error": ExitEnvError, "sandbox_error": ExitEnvError, "runtime_error": ExitEnvError,
	"prompt_truncated": ExitEnvError, "encoding_error": ExitEnvError,
}

// NormalizeExit maps a source's exit string to the closed set. SWE-agent's
// "submitted (exit_cost)" is the limit inside; an error message (OpenHands
// writes the exception) is classified by what it names; an empty reason is
// submitted when the source says the agent submitted, else unknown.
func NormalizeExit(raw string, submitted bool) string {
	r := strings.ToLower(strings.TrimSpace(raw))
	if inner, ok := strings.CutPrefix(r, "submitted ("); ok {
		r = strings.TrimSpace(strings.TrimSuffix(inner, ")"))
	}
	if r == "" {
		if submitted {
			return ExitSubmitted
		}
		return ExitUnknown
	}
	if n, ok := exitSpellings[r]; ok {
		return n
	}
	has := func(words ...string) bool {
		return slices.ContainsFunc(words, func(w string) bool { return strings.Contains(r, w) })
	}
	switch {
	case has("context window", "context length", "contextwindow", "maximum context", "prompt is too long"):
		return ExitContextOverflow
	case has("runtime", "sandbox", "container", "docker", "environment error", "connection refused"):
		return ExitEnvError
	case has("max_iterations", "maximum iterations", "iteration limit", "step limit", "max steps"):
		return ExitStepCap
	case has("timeout", "timed out", "time limit"):
		return ExitTimeCap
	case has("budget", "cost limit"):
		return ExitCostCap
	case has("error", "exception", "stuck", "traceback"):
		return ExitAgentError
	}
	return ExitUnknown
}
