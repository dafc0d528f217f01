package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/schemas"
)

// Exit reasons of a rollout.
const (
	ExitSubmitted  = "submitted"
	ExitStepCap    = "step_cap"   // forced submission
	ExitTokenCap   = "token_cap"  // forced submission
	ExitWallTime   = "time_limit" // forced submission (the wall-time cap)
	ExitNoAction   = "no_action"  // the model answered without a tool call, twice
	ExitModelError = "model_error"
	ExitInfraError = "infra_error"
)

// Limits of one rollout.
type Limits struct {
	MaxSteps int // model calls (default 100)
	// MaxContextTokens: the run stops when the context (the last call's
	// prompt + completion tokens, as the API reports them, or as
	// CountTokens counts them) exceeds it (default 81,920; 0 keeps it).
	MaxContextTokens int64
	WallTime         time.Duration // whole rollout (default 30m)
	CommandTimeout   time.Duration // one bash command (default 3m)
	MaxOutput        int           // bytes of one tool output shown to the model (default 16 KiB)
	Banned           []string      // git-hacking ban (nil: DefaultBanned)
}

func (l Limits) withDefaults() Limits {
	if l.MaxSteps <= 0 {
		l.MaxSteps = 100
	}
	if l.MaxContextTokens == 0 {
		l.MaxContextTokens = schemas.MaxContextTokens
	}
	if l.WallTime <= 0 {
		l.WallTime = 30 * time.Minute
	}
	if l.CommandTimeout <= 0 {
		l.CommandTimeout = 3 * time.Minute
	}
	if l.MaxOutput <= 0 {
		l.MaxOutput = 16 << 10
	}
	if l.Banned == nil {
		l.Banned = DefaultBanned()
	}
	return l
}

// Chatter is what the loop needs of a policy endpoint (*Client).
type Chatter interface {
	Chat(ctx context.Context, req ChatRequest) (ChatResponse, error)
}

// Episode is one agent run on one task.
type Episode struct {
	System, User string // the prompt
	Seed         *int64 // sent with every request (sampling seed)
	Limits       Limits
	// CountTokens counts the context with the model's tokenizer, where the
	// API reports no usage (nil: the API's usage only).
	CountTokens func(msgs []Message) int64
}

// Call is one model call's record.
type Call struct {
	Step       int    `json:"step"`
	Usage      Usage  `json:"usage"`
	LatencyMS  int64  `json:"latency_ms"`
	Finish     string `json:"finish_reason"`
	ResponseID string `json:"response_id"`
}

// Trajectory is what a rollout produced.
type Trajectory struct {
	Messages   []Message     `json:"messages"`
	Calls      []Call        `json:"calls"`
	ExitReason string        `json:"exit_reason"`
	Patch      string        `json:"patch"`
	Submitted  bool          `json:"submitted"`
	Forced     bool          `json:"forced"` // truncated by a cap: the diff was submitted for it
	Steps      int           `json:"steps"`
	Usage      Usage         `json:"usage"`          // summed over calls
	Context    int64         `json:"context_tokens"` // the last call's prompt + completion
	Banned     []string      `json:"banned"`         // refused commands, in order
	Error      string        `json:"error,omitempty"`
	Duration   time.Duration `json:"duration"`
	ToolTime   time.Duration `json:"tool_time"`
	ModelTime  time.Duration `json:"model_time"`
}

// Run drives the model on one task in sb until it submits or a cap stops
// it; at a cap the current diff is recorded as a forced submission. The
// error is non-nil only for a cancelled ctx or an endpoint that could not
// answer (ErrUnavailable); the model refusing a request and sandbox
// failures are exit reasons.
func Run(ctx context.Context, model Chatter, sb exec.Sandbox, ep Episode) (Trajectory, error) {
	lim := ep.Limits.withDefaults()
	start := time.Now()
	tr := Trajectory{Messages: []Message{{Role: "system", Content: Str(ep.System)}, {Role: "user", Content: Str(ep.User)}}}
	tb := &toolbox{sb: sb, banned: lim.Banned, cmdTimeout: lim.CommandTimeout, maxOutput: lim.MaxOutput, history: map[string][][]byte{}}
	deadline := start.Add(lim.WallTime)
	runCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	noAction := 0
	finish := func(reason string) {
		tr.ExitReason = reason
		tr.Forced = reason == ExitStepCap || reason == ExitTokenCap || reason == ExitWallTime
	}
	// fail ends the run on a step's error: the wall-time deadline is a cap,
	// anything else ends with reason (the caller's cancellation is checked
	// first, by the caller).
	fail := func(err error, reason string) {
		if runCtx.Err() != nil {
			finish(ExitWallTime)
			return
		}
		tr.Error = err.Error()
		finish(reason)
	}
loop:
	for {
		switch {
		case tr.Steps >= lim.MaxSteps:
			finish(ExitStepCap)
			break loop
		case lim.MaxContextTokens > 0 && tr.Context > lim.MaxContextTokens:
			finish(ExitTokenCap)
			break loop
		case time.Now().After(deadline):
			finish(ExitWallTime)
			break loop
		}
		t0 := time.Now()
		resp, err := model.Chat(runCtx, ChatRequest{Messages: tr.Messages, Tools: Tools(), Seed: ep.Seed})
		tr.ModelTime += time.Since(t0)
		if err != nil {
			if ctx.Err() != nil {
				return tr, ctx.Err()
			}
			if errors.Is(err, ErrUnavailable) && runCtx.Err() == nil {
				tr.Error = err.Error()
				return tr, err // not the episode's outcome: the caller runs it again later
			}
			fail(err, ExitModelError)
			break loop
		}
		tr.Steps++
		msg := resp.Choices[0].Message
		msg.Role = "assistant"
		tr.Messages = append(tr.Messages, msg)
		tr.Usage.PromptTokens += resp.Usage.PromptTokens
		tr.Usage.CompletionTokens += resp.Usage.CompletionTokens
		tr.Usage.TotalTokens += resp.Usage.TotalTokens
		tr.Context = resp.Usage.PromptTokens + resp.Usage.CompletionTokens
		if tr.Context == 0 && ep.CountTokens != nil {
			tr.Context = ep.CountTokens(tr.Messages)
		}
		tr.Calls = append(tr.Calls, Call{Step: tr.Steps, Usage: resp.Usage, LatencyMS: time.Since(t0).Milliseconds(), Finish: resp.Choices[0].FinishReason, ResponseID: resp.ID})
		if len(msg.ToolCalls) == 0 {
			noAction++
			if noAction >= 2 {
				finish(ExitNoAction)
				break loop
			}
			tr.Messages = append(tr.Messages, Message{Role: "user", Content: Str("You forgot to use a function call. Use one of the tools (bash, str_replace_editor) to work on the task, or submit when you are done.")})
			continue
		}
		noAction = 0
		for _, call := range msg.ToolCalls {
			t1 := time.Now()
			res, err := tb.call(runCtx, call.Function.Name, call.Function.Arguments)
			tr.ToolTime += time.Since(t1)
			if err != nil {
				if ctx.Err() != nil {
					return tr, ctx.Err()
				}
				fail(err, ExitInfraError)
				break loop
			}
			if res.banned != "" {
				tr.Banned = append(tr.Banned, res.banned)
			}
			tr.Messages = append(tr.Messages, Message{Role: "tool", ToolCallID: call.ID, Name: call.Function.Name, Content: Str(res.output)})
			if res.submitted {
				tr.Submitted = true
				finish(ExitSubmitted)
				break loop
			}
		}
	}
	if tr.ExitReason != ExitInfraError {
		patch, err := Diff(context.WithoutCancel(ctx), sb)
		if err != nil {
			tr.Error = err.Error()
			tr.ExitReason = ExitInfraError
			tr.Forced = false
		}
		tr.Patch = patch
	}
	if tr.Forced && tr.Patch != "" {
		tr.Submitted = true
	}
	tr.Duration = time.Since(start)
	return tr, nil
}

// Diff is the workspace's change against its base commit, new files
// included, binary-safe.
func Diff(ctx context.Context, sb exec.Sandbox) (string, error) {
	var out bytes.Buffer
	res, err := sb.Run(ctx, exec.Spec{Argv: []string{"sh", "-c", "git add -A >/dev/null 2>&1 && git diff --cached --binary HEAD"}, Stdout: &out,
		Limits: exec.Limits{Timeout: 2 * time.Minute, Output: 1}})
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", fmt.Errorf("git diff: exit %d", res.ExitCode)
	}
	return out.String(), nil
}
