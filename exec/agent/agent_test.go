package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/swelake/swelake/jobs/taskexec"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/internal/exectest"
)

func TestClientRetries(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sk-test" {
			t.Errorf("no bearer token: %q", r.Header.Get("Authorization"))
		}
		var req ChatRequest
		json.NewDecoder(r.Body).Decode(&req)
		if req.Model != "m" || req.MaxTokens != 64 || req.Temperature == nil || *req.Temperature != 0.7 {
			t.Errorf("request: %+v", req)
		}
		switch calls.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "3")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		case 2:
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		default:
			w.Write([]byte(`{"id":"r1","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}`))
		}
	}))
	defer srv.Close()
	temp := 0.7
	c, err := NewClient(ClientConfig{BaseURL: srv.URL + "/v1", Model: "m", APIKey: "sk-test", Temperature: &temp, MaxTokens: 64, MaxRetries: 5, Backoff: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	c.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	resp, err := c.Chat(context.Background(), ChatRequest{Messages: []Message{{Role: "user", Content: Str("hello")}}})
	if err != nil || resp.Choices[0].Message.Text() != "hi" || resp.Usage.TotalTokens != 6 {
		t.Fatalf("chat: %+v, %v", resp, err)
	}
	// Retry-After (3s) beats the first backoff (1s); then the backoff doubles.
	if len(waits) != 2 || waits[0] != 3*time.Second || waits[1] != 2*time.Second {
		t.Fatalf("waits %v, want [3s 2s]", waits)
	}

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, `{"error":{"message":"model not found"}}`, http.StatusNotFound)
	}))
	defer bad.Close()
	c, _ = NewClient(ClientConfig{BaseURL: bad.URL, Model: "m"}, nil)
	before := calls.Load()
	_, err = c.Chat(context.Background(), ChatRequest{})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "model not found") || calls.Load()-before != 1 {
		t.Fatalf("a 404 is final, an outage (a configuration error, not the rollout's outcome) and named: %v (%d calls)", err, calls.Load()-before)
	}
	// A request the endpoint refuses (400: context too long) is the
	// rollout's outcome: ErrModel.
	long := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"message":"maximum context length is 32768 tokens"}}`, http.StatusBadRequest)
	}))
	defer long.Close()
	c, _ = NewClient(ClientConfig{BaseURL: long.URL, Model: "m", MaxRetries: 3}, nil)
	if _, err := c.Chat(context.Background(), ChatRequest{}); !errors.Is(err, ErrModel) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("a 400 is the model refusing the request: %v", err)
	}
	// A server that never answers: the request timeout, retried, then ErrUnavailable.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server notices the client hanging up
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer hang.Close()
	c, _ = NewClient(ClientConfig{BaseURL: hang.URL, Model: "m", Timeout: 50 * time.Millisecond, MaxRetries: 1, Backoff: time.Millisecond}, nil)
	if _, err := c.Chat(context.Background(), ChatRequest{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("timeouts: %v", err)
	}
	// Credentials in the URL never reach an error text.
	c, _ = NewClient(ClientConfig{BaseURL: strings.Replace(hang.URL, "http://", "http://u:pw-secret@", 1), Model: "m", Timeout: 50 * time.Millisecond}, nil)
	if _, err := c.Chat(context.Background(), ChatRequest{}); err == nil || strings.Contains(err.Error(), "pw-secret") {
		t.Fatalf("credentials in the error: %v", err)
	}
}

func TestBanned(t *testing.T) {
	list := DefaultBanned()
	for cmd, want := range map[string]string{
		"git log --oneline":             "git log",
		"cd src && git  show HEAD~1":    "git show",
		"git -C /workspace reflog":      "git reflog",
		"GIT_PAGER=cat git log":         "git log",
		"ls; git clone https://x/y":     "git clone",
		"echo $(git log -1)":            "git log",
		"git status && git diff":        "",
		"grep -rn 'git log' docs":       "",
		"python3 -m pytest -k test_log": "",
	} {
		if got := banned(cmd, list); got != want {
			t.Errorf("banned(%q) = %q, want %q", cmd, got, want)
		}
	}
}

// seedFor finds a seed with the wanted behaviour on a task.
func seedFor(t *testing.T, s *Scripted, task, behaviour string) int64 {
	for seed := int64(0); seed < 2000; seed++ {
		if s.Behaviour(task, seed) == behaviour {
			return seed
		}
	}
	t.Fatalf("no seed gives %s on %s", behaviour, task)
	return 0
}

// TestEpisodes runs the real client against the scripted policy over
// HTTP, with tools in real sandboxes on a real repository, and grades the
// patches.
func TestEpisodes(t *testing.T) {
	exectest.Need(t)
	ctx := context.Background()
	store, _, bug, fix := exectest.BugRepo(t)
	task := exectest.BugTask(bug, fix)
	pol := &Scripted{Tasks: map[string]ScriptTask{task.TaskID: {TaskID: task.TaskID, Language: task.Language, GoldPatch: task.GoldPatch, FailToPass: task.FailToPass, TestCmd: task.TestCmd}}, Success: 0.5, Spread: 0.01}
	srv := httptest.NewServer(pol)
	defer srv.Close()
	client, err := NewClient(ClientConfig{BaseURL: srv.URL + "/v1", Model: "scripted"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := exectest.Backend(t)
	ws, err := taskexec.TaskWorkspace(store, &task)
	if err != nil {
		t.Fatal(err)
	}
	run := func(behaviour string, lim Limits) (Trajectory, exec.Grading) {
		t.Helper()
		seed := seedFor(t, pol, task.TaskID, behaviour)
		sb, err := b.Open(ctx, ws)
		if err != nil {
			t.Fatal(err)
		}
		defer sb.Close(ctx)
		tr, err := Run(ctx, client, sb, Episode{System: "You are a software engineer.", User: task.ProblemStatement + "\n" + TaskMarker(task.TaskID), Seed: &seed, Limits: lim})
		if err != nil {
			t.Fatal(err)
		}
		g, err := exec.GradePatch(ctx, b, exec.GradeSpec{Workspace: ws, Patch: []byte(tr.Patch), TestCmd: task.TestCmd, Framework: "pytest", FailToPass: task.FailToPass, PassToPass: task.PassToPass})
		if err != nil {
			t.Fatal(err)
		}
		return tr, g
	}
	tr, g := run(behaveSolve, Limits{})
	if tr.ExitReason != ExitSubmitted || !tr.Submitted || tr.Forced || g.Status != exec.StatusResolved || tr.Usage.TotalTokens == 0 || len(tr.Calls) != tr.Steps {
		t.Fatalf("solve: exit %s, grade %s (%s), usage %+v\n%s", tr.ExitReason, g.Status, g.Reason, tr.Usage, transcript(tr))
	}
	// The transcript is a well-formed tool-calling conversation.
	for i, m := range tr.Messages {
		if m.Role == "tool" && (tr.Messages[i-1].Role != "assistant" || tr.Messages[i-1].ToolCalls[0].ID != m.ToolCallID) {
			t.Fatalf("message %d answers no call: %+v", i, m)
		}
	}
	tr, g = run(behaveWrongFix, Limits{})
	if tr.ExitReason != ExitSubmitted || g.Status != exec.StatusUnresolved || !strings.Contains(tr.Patch, "reproduce_issue.py") {
		t.Fatalf("wrong fix: exit %s, grade %s, patch:\n%s", tr.ExitReason, g.Status, tr.Patch)
	}
	tr, g = run(behaveStepCap, Limits{MaxSteps: 9})
	if tr.ExitReason != ExitStepCap || !tr.Forced || tr.Steps != 9 || tr.Patch != "" || g.Status != exec.StatusEmptyPatch {
		t.Fatalf("step cap: exit %s, forced %v, steps %d, grade %s", tr.ExitReason, tr.Forced, tr.Steps, g.Status)
	}
	// Fixed, then cut off by the cap: a forced submission that resolves.
	tr, g = run(behaveSolveCap, Limits{MaxSteps: 10})
	if tr.ExitReason != ExitStepCap || !tr.Forced || !tr.Submitted || g.Status != exec.StatusResolved {
		t.Fatalf("solve then cap: exit %s, forced %v, grade %s", tr.ExitReason, tr.Forced, g.Status)
	}
	tr, _ = run(behaveLoop, Limits{MaxContextTokens: 2000})
	if tr.ExitReason != ExitTokenCap || !tr.Forced {
		t.Fatalf("token cap: exit %s after %d steps, context %d", tr.ExitReason, tr.Steps, tr.Context)
	}
	// The git-hacking ban: some seed tries git log first; it is refused.
	for seed := int64(0); seed < 200; seed++ {
		if draw("git", task.TaskID, "0") >= 0.15 && draw("git", task.TaskID, itoa(seed)) < 0.15 && pol.Behaviour(task.TaskID, seed) == behaveBareSubmit {
			sb, _ := b.Open(ctx, ws)
			tr, err := Run(ctx, client, sb, Episode{System: "s", User: TaskMarker(task.TaskID), Seed: &seed})
			sb.Close(ctx)
			if err != nil || len(tr.Banned) != 1 || tr.Banned[0] != "git log" || !strings.Contains(tr.Messages[3].Text(), "not allowed") {
				t.Fatalf("ban: %v %v\n%s", err, tr.Banned, transcript(tr))
			}
			return
		}
	}
	t.Fatal("no seed tries git log and submits bare")
}

func itoa(i int64) string { b, _ := json.Marshal(i); return string(b) }

func transcript(tr Trajectory) string {
	var b strings.Builder
	for _, m := range tr.Messages {
		b.WriteString(m.Role + ": " + m.Text())
		for _, c := range m.ToolCalls {
			b.WriteString(" [" + c.Function.Name + " " + c.Function.Arguments + "]")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// usageless is a model endpoint that reports no token usage.
type usageless struct{}

func (usageless) Chat(_ context.Context, req ChatRequest) (ChatResponse, error) {
	var resp ChatResponse
	resp.Choices = make([]struct {
		Index        int     `json:"index"`
		Message      Message `json:"message"`
		FinishReason string  `json:"finish_reason"`
	}, 1)
	var call ToolCall
	call.ID, call.Type = "c", "function"
	call.Function.Name, call.Function.Arguments = ToolBash, `{"command":"ls"}`
	resp.Choices[0].Message = Message{Role: "assistant", ToolCalls: []ToolCall{call}}
	return resp, nil
}

// TestTokenCapWithoutUsage: where the endpoint reports no usage, the
// context is counted by Episode.CountTokens and the cap still holds.
func TestTokenCapWithoutUsage(t *testing.T) {
	exectest.Need(t)
	ctx := context.Background()
	store, _, bug, fix := exectest.BugRepo(t)
	task := exectest.BugTask(bug, fix)
	ws, _ := taskexec.TaskWorkspace(store, &task)
	sb, err := exectest.Backend(t).Open(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(ctx)
	tr, err := Run(ctx, usageless{}, sb, Episode{System: "s", User: "u", Limits: Limits{MaxContextTokens: 1000},
		CountTokens: func(msgs []Message) int64 { return int64(100 * len(msgs)) }})
	if err != nil || tr.ExitReason != ExitTokenCap || !tr.Forced || tr.Context <= 1000 || tr.Steps != 5 {
		t.Fatalf("exit %s, context %d, steps %d, err %v", tr.ExitReason, tr.Context, tr.Steps, err)
	}
}

func TestParseVerdict(t *testing.T) {
	for _, c := range []struct {
		text   string
		reward float64
		tests  int
	}{
		{`{"tests": {"a::t": "passed", "b::u": "FAILED"}, "reward": 0.8}`, 0.8, 2},
		{"Looking at the patch…\n```json\n{\"tests\": {}, \"reward\": \"0.25\"}\n```\nDone.", 0.25, 0},
		{`first {"reward": 0.1} then revised {"reward": 0.9, "tests": {"x": "PASSED"}}`, 0.9, 1},
		{`{"reward": 7}`, 1, 0},
		{"I estimate reward: 0.35 overall.", 0.35, 0},
		{`{"note": {"nested": true}, "reward": 0.5}`, 0.5, 0},
	} {
		v, err := ParseVerdict(c.text)
		if err != nil || v.Reward != c.reward || len(v.Tests) != c.tests {
			t.Errorf("ParseVerdict(%q) = %+v, %v; want reward %v with %d tests", c.text, v, err, c.reward, c.tests)
		}
	}
	for _, bad := range []string{"", "looks fine to me", `{"tests": {"a": "PASSED"}}`} {
		if _, err := ParseVerdict(bad); !errors.Is(err, ErrVerdict) {
			t.Errorf("ParseVerdict(%q): %v, want ErrVerdict", bad, err)
		}
	}
	p := VerifierPrompt(VerifyTask{TaskID: "synth/x/1", ProblemStatement: "bug", FailToPass: []string{"t1"}, PassToPass: []string{"t2"}}, "diff --git a/f b/f\n")
	if len(p) != 2 || !strings.Contains(p[1].Text(), "(verify task synth/x/1)") || !strings.Contains(p[1].Text(), "<candidate_patch>\ndiff --git a/f b/f\n</candidate_patch>") {
		t.Errorf("verifier prompt: %+v", p)
	}
}

// TestCheckpointsSolveMore: the scripted policy named by a later
// checkpoint solves a superset of what an earlier one solved, and more
// of it (the RL loop's demo curve rises because of this, not by chance).
func TestCheckpointsSolveMore(t *testing.T) {
	for model, want := range map[string]int{"scripted": 0, "scripted-ckpt-2": 2, "org/Qwen-ckpt-13": 13, "ckpt-x": 0, "scripted-ckpt-2-old": 0} {
		if got := CheckpointStep(model); got != want {
			t.Errorf("CheckpointStep(%q) = %d, want %d", model, got, want)
		}
	}
	s := &Scripted{}
	solved := func(b string) bool { return b == behaveSolve || b == behaveSolveCap }
	prev := -1
	for step := range 4 {
		model := fmt.Sprintf("scripted-ckpt-%d", step)
		n := 0
		for task := range 200 {
			for seed := range int64(4) {
				id := fmt.Sprintf("t%03d", task)
				if solved(s.BehaviourAt(model, id, seed)) {
					n++
				} else if step > 0 && solved(s.BehaviourAt(fmt.Sprintf("scripted-ckpt-%d", step-1), id, seed)) {
					t.Fatalf("%s unsolves %s seed %d that step %d solved", model, id, seed, step-1)
				}
			}
		}
		if n <= prev {
			t.Fatalf("%s solves %d of 800, step %d solved %d: want more", model, n, step-1, prev)
		}
		t.Logf("%s solves %d of 800", model, n)
		prev = n
	}
}
