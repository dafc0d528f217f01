package agent

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode"
)

// ScriptTask is what the scripted policy knows of a task: enough to solve
// it (the gold patch) or to fail it convincingly.
type ScriptTask struct {
	TaskID     string
	Language   string
	GoldPatch  string
	FailToPass []string
	PassToPass []string // the test writer's tests that already pass
	TestCmd    string
}

// Scripted is a stand-in for a policy model: an HTTP server speaking the
// chat-completions API whose "model" follows a script — explore (ls, grep,
// view, run the tests), edit, run the tests again, submit. Per task it
// succeeds with a probability drawn around Success (so Best-of-N pass
// rates come out mixed); failing samples make a wrong edit, loop on one
// command, or never submit (hitting the step cap); some try a banned git
// command first. Every choice is a deterministic function of the task and
// the request's seed. It exists for dry runs and tests of the real client,
// tools and sandboxes; real runs point policy.base_url at a model server.
type Scripted struct {
	Tasks   map[string]ScriptTask // by task id
	Success float64               // mean success probability (default 0.5)
	Spread  float64               // spread of per-task probabilities around it (default 0.8)
	// Gain is what each training step adds to a task's success
	// probability (default 0.15): a request whose model names a
	// checkpoint "…ckpt-<n>" (CheckpointStep) solves a task with
	// probability p + n·Gain, so a policy "trained" by the RL loop solves
	// more at later checkpoints — and every (task, seed) it solved at step
	// n it solves at n+1 (the draws do not depend on n).
	Gain float64
	// Lookup, when set, finds a task the Tasks map does not hold (tasks
	// written while the policy serves); it must be safe for concurrent use.
	Lookup func(taskID string) (ScriptTask, bool)

	requests atomic.Int64
}

// Requests is the number of chat requests served.
func (s *Scripted) Requests() int64 { return s.requests.Load() }

// taskLine is how the rollout prompt names its task.
var taskLine = regexp.MustCompile(`\(task ([^\s()]+)\)`)

// TaskMarker is the text a prompt carries so that the scripted policy
// knows the task (real models ignore it).
func TaskMarker(taskID string) string { return "(task " + taskID + ")" }

// ServeHTTP serves POST /v1/chat/completions and GET /v1/models.
func (s *Scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/models"):
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"object":"list","data":[{"id":"scripted","object":"model","owned_by":"swelake"}]}`)
		return
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/chat/completions"):
	default:
		http.Error(w, `{"error":{"message":"not found: POST /v1/chat/completions or GET /v1/models"}}`, http.StatusNotFound)
		return
	}
	var req ChatRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 256<<20)).Decode(&req); err != nil {
		http.Error(w, fmt.Sprintf(`{"error":{"message":"bad request: %v"}}`, err), http.StatusBadRequest)
		return
	}
	s.requests.Add(1)
	msg, err := s.next(req)
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"message": err.Error()}})
		return
	}
	prompt := int64(0)
	for _, m := range req.Messages {
		prompt += int64(len(m.Text())/4 + 4)
		for _, c := range m.ToolCalls {
			prompt += int64(len(c.Function.Arguments)/4 + 4)
		}
	}
	completion := int64(len(msg.Text())/4 + 8)
	for _, c := range msg.ToolCalls {
		completion += int64(len(c.Function.Arguments) / 4)
	}
	finish := "stop"
	if len(msg.ToolCalls) > 0 {
		finish = "tool_calls"
	}
	resp := map[string]any{
		"id": fmt.Sprintf("scripted-%d", s.requests.Load()), "object": "chat.completion", "model": req.Model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
		"usage":   Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion},
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

// task is what the policy knows of a task: Tasks, then Lookup.
func (s *Scripted) task(id string) (ScriptTask, bool) {
	if t, ok := s.Tasks[id]; ok {
		return t, true
	}
	if s.Lookup != nil && id != "" {
		return s.Lookup(id)
	}
	return ScriptTask{}, false
}

// Behaviours of a scripted sample.
const (
	behaveSolve      = "solve"
	behaveSolveCap   = "solve_then_cap" // fixes, then never submits
	behaveWrongFix   = "wrong_fix"
	behaveLoop       = "loop"
	behaveStepCap    = "step_cap"
	behaveBareSubmit = "bare_submit"
)

// draw is a deterministic uniform [0,1) of its parts.
func draw(parts ...string) float64 {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return float64(binary.BigEndian.Uint64(h[:8])>>11) / (1 << 53)
}

// checkpointStep matches the training step a model name ends with.
var checkpointStep = regexp.MustCompile(`ckpt-(\d+)$`)

// CheckpointStep is the training step a scripted model name carries:
// n for "…ckpt-<n>" ("scripted-ckpt-2" is two steps past "scripted"), 0
// otherwise.
func CheckpointStep(model string) int {
	m := checkpointStep.FindStringSubmatch(model)
	if m == nil {
		return 0
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return 0
	}
	return n
}

// Behaviour is what the scripted policy does on a task with a seed (for
// tests and docs; the server draws the same), as its untrained model.
func (s *Scripted) Behaviour(taskID string, seed int64) string {
	return s.BehaviourAt("scripted", taskID, seed)
}

// BehaviourAt is what the scripted policy does on a task with a seed when
// a request names model (its checkpoint step raises the success
// probability; see Gain).
func (s *Scripted) BehaviourAt(model, taskID string, seed int64) string {
	success, spread, gain := s.Success, s.Spread, s.Gain
	if success == 0 {
		success = 0.5
	}
	if spread == 0 {
		spread = 0.8
	}
	if gain == 0 {
		gain = 0.15
	}
	p := math.Min(1, math.Max(0, success+spread*(draw("p", taskID)-0.5)+gain*float64(CheckpointStep(model))))
	sd := fmt.Sprint(seed)
	if draw("solve", taskID, sd) < p {
		if draw("cap", taskID, sd) < 0.1 {
			return behaveSolveCap
		}
		return behaveSolve
	}
	switch u := draw("mode", taskID, sd); {
	case u < 0.55:
		return behaveWrongFix
	case u < 0.75:
		return behaveLoop
	case u < 0.9:
		return behaveStepCap
	default:
		return behaveBareSubmit
	}
}

type step struct {
	thought string
	tool    string
	args    map[string]any
}

func (s *Scripted) next(req ChatRequest) (Message, error) {
	if len(req.Tools) == 0 {
		for _, m := range req.Messages {
			if mm := verifyLine.FindStringSubmatch(m.Text()); m.Role == "user" && mm != nil {
				return s.verify(mm[1], m.Text())
			}
		}
		return s.issue(req), nil
	}
	for _, m := range req.Messages {
		if mm := synthLine.FindStringSubmatch(m.Text()); m.Role == "user" && mm != nil {
			lines, _ := strconv.Atoi(mm[3])
			return s.synthesize(req, mm[1], mm[2], lines), nil
		}
		if mm := testGenLine.FindStringSubmatch(m.Text()); m.Role == "user" && mm != nil {
			t, ok := s.task(mm[1])
			if !ok {
				return Message{}, fmt.Errorf("scripted policy: asked to write tests for task %q, which it does not know (%d tasks)", mm[1], len(s.Tasks))
			}
			return s.writeTests(req, t, mm[2]), nil
		}
	}
	var taskID string
	for _, m := range req.Messages {
		if m.Role == "user" {
			if mm := taskLine.FindStringSubmatch(m.Text()); mm != nil {
				taskID = mm[1]
				break
			}
		}
	}
	t, ok := s.task(taskID)
	if !ok {
		return Message{}, fmt.Errorf("scripted policy: no known task in the prompt (want %q with one of %d task ids)", TaskMarker("<id>"), len(s.Tasks))
	}
	var seed int64
	if req.Seed != nil {
		seed = *req.Seed
	}
	stepIdx := 0
	for _, m := range req.Messages {
		if m.Role == "assistant" {
			stepIdx++
		}
	}
	plan, repeat := s.plan(t, req.Model, seed)
	var st step
	switch {
	case stepIdx < len(plan):
		st = plan[stepIdx]
	case len(repeat) > 0:
		st = repeat[(stepIdx-len(plan))%len(repeat)]
	default:
		st = step{thought: "I am done.", tool: ToolSubmit, args: map[string]any{}}
	}
	args, _ := json.Marshal(st.args)
	var call ToolCall
	call.ID = fmt.Sprintf("call_%d", stepIdx)
	call.Type = "function"
	call.Function.Name, call.Function.Arguments = st.tool, string(args)
	return Message{Role: "assistant", Content: Str(st.thought), ToolCalls: []ToolCall{call}}, nil
}

// plan is the script of one sample: the steps, then (for samples that do
// not submit) the steps repeated until the client stops.
func (s *Scripted) plan(t ScriptTask, model string, seed int64) (plan, repeat []step) {
	bash := func(thought, cmd string) step {
		return step{thought: thought, tool: ToolBash, args: map[string]any{"command": cmd}}
	}
	file := firstFile(t.GoldPatch)
	test := ""
	if len(t.FailToPass) > 0 {
		test = testFunc(t.FailToPass[0])
	}
	testCmd := t.TestCmd
	if testCmd == "" {
		testCmd = "ls"
	}
	sd := fmt.Sprint(seed)
	if draw("git", t.TaskID, sd) < 0.15 {
		plan = append(plan, bash("Let me see what changed recently.", "git log --oneline | head -20"))
	}
	plan = append(plan,
		bash("Let me look at the repository layout.", "ls"),
		bash("Where is the failing behaviour tested?", fmt.Sprintf("grep -rn %q . | head -20", test)),
		bash("Let me run the tests to see what fails.", testCmd+" 2>&1 | tail -40"),
	)
	if file != "" {
		plan = append(plan, step{thought: "Let me read the code under test.", tool: ToolEditor, args: map[string]any{"command": "view", "path": "/workspace/" + file}})
	}
	fix := bash("I see the bug; let me fix it.", "git apply --whitespace=nowarn <<'SWELAKE_PATCH_EOF'\n"+t.GoldPatch+"SWELAKE_PATCH_EOF")
	check := bash("Let me run the tests again.", testCmd+" 2>&1 | tail -40")
	submit := step{thought: "The fix is in place; submitting.", tool: ToolSubmit, args: map[string]any{}}
	switch s.BehaviourAt(model, t.TaskID, seed) {
	case behaveSolve:
		plan = append(plan, fix, check, submit)
	case behaveSolveCap:
		plan = append(plan, fix)
		repeat = []step{check, bash("Let me double-check the layout.", "ls -la")}
	case behaveWrongFix:
		comment := "# "
		if t.Language == "go" {
			comment = "// "
		}
		if file != "" {
			plan = append(plan, step{thought: "Let me mark the suspicious code.", tool: ToolEditor,
				args: map[string]any{"command": "insert", "path": "/workspace/" + file, "insert_line": 0, "new_str": comment + "NOTE: checked the edge cases here"}})
		}
		plan = append(plan,
			step{thought: "Let me write a reproduction script.", tool: ToolEditor, args: map[string]any{"command": "create", "path": "/workspace/reproduce_issue.py", "file_text": "print('reproducing the issue')\n"}},
			check, submit)
	case behaveLoop:
		for range 6 {
			plan = append(plan, check)
		}
		plan = append(plan, submit)
	case behaveStepCap:
		repeat = []step{bash("Let me look around more.", "ls -R | head -50"), check, bash("Let me search again.", fmt.Sprintf("grep -rn %q . | head", test))}
	case behaveBareSubmit:
		plan = append(plan, submit)
	}
	return plan, repeat
}

// firstFile is the first file a diff changes.
func firstFile(patch string) string {
	for _, line := range strings.Split(patch, "\n") {
		if rest, ok := strings.CutPrefix(line, "+++ b/"); ok {
			return rest
		}
	}
	return ""
}

// testFunc is a test id's function name: tests/x.py::test_y[p] → test_y,
// TestX/sub → TestX.
func testFunc(id string) string {
	if i := strings.LastIndex(id, "::"); i >= 0 {
		id = id[i+2:]
	}
	id, _, _ = strings.Cut(id, "[")
	id, _, _ = strings.Cut(id, "/")
	id, _, _ = strings.Cut(id, " ")
	return strings.TrimFunc(id, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' })
}

// issue answers a request without tools (synth-tasks' problem statements)
// with an issue written from the failing tests it lists.
func (s *Scripted) issue(req ChatRequest) Message {
	var tests []string
	for _, m := range req.Messages {
		if m.Role != "user" {
			continue
		}
		for _, line := range strings.Split(m.Text(), "\n") {
			if t, ok := strings.CutPrefix(line, "- "); ok {
				tests = append(tests, t)
			}
		}
	}
	var b strings.Builder
	b.WriteString("After updating, part of the library stopped working for me. ")
	if len(tests) > 0 {
		fmt.Fprintf(&b, "The test suite shows it: %s fails", tests[0])
		if len(tests) > 1 {
			fmt.Fprintf(&b, " (and %d more)", len(tests)-1)
		}
		b.WriteString(".")
	}
	b.WriteString(" I expected the documented behaviour; instead the results are wrong.")
	return Message{Role: "assistant", Content: Str(b.String())}
}
