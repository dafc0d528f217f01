package formats

import (
	"bytes"
	"fmt"
	json "github.com/goccy/go-json"
	"strings"

	"github.com/swelake/swelake/schemas"
)

// contentValue reads message content decoded as a Go value: a string, or a
// list of parts ({"type": "text", "text": ...}); non-text parts are named,
// not dropped.
func contentValue(v any) (string, error) {
	switch c := v.(type) {
	case nil:
		return "", nil
	case string:
		return c, nil
	case []any:
		var b strings.Builder
		for _, p := range c {
			part, ok := p.(map[string]any)
			if !ok {
				return "", fmt.Errorf("content: a part is %T, not an object", p)
			}
			typ, _ := part["type"].(string)
			switch typ {
			case "text", "", "input_text", "output_text": // Responses-API parts are input_text / output_text
				t, _ := part["text"].(string)
				b.WriteString(t)
			default:
				fmt.Fprintf(&b, "[%s]", typ)
			}
		}
		return b.String(), nil
	}
	data, _ := json.Marshal(v)
	return string(data), nil
}

func normRole(r string) string {
	switch strings.ToLower(r) {
	case "ai", "gpt", "model":
		return "assistant"
	case "human":
		return "user"
	case "observation", "function", "ipython", "environment":
		return "tool"
	}
	return strings.ToLower(r)
}

// wireMessage is a chat message as the OpenAI layout and its variants spell
// it, decoded in one pass.
type wireMessage struct {
	Role        string         `json:"role"`
	Content     any            `json:"content"` // a string (decoded in one pass), or a list of parts
	ToolCalls   []wireToolCall `json:"tool_calls"`
	ToolCallID  string         `json:"tool_call_id"`
	ToolCallIDs []string       `json:"tool_call_ids"` // SWE-agent ≥ 1.0
	Name        string         `json:"name"`
}

type wireToolCall struct {
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	Args     json.RawMessage `json:"arguments"`
	Function *struct {
		Name string          `json:"name"`
		Args json.RawMessage `json:"arguments"`
	} `json:"function"`
}

func (w *wireMessage) message(repaired *bool) (schemas.Message, error) {
	content, err := contentValue(w.Content)
	if err != nil {
		return schemas.Message{}, err
	}
	m := schemas.Message{Role: normRole(w.Role), Content: text(content, repaired), ToolCallID: w.ToolCallID, Name: text(w.Name, repaired)}
	if m.ToolCallID == "" && len(w.ToolCallIDs) > 0 {
		m.ToolCallID = w.ToolCallIDs[0]
	}
	m.ToolCallID = text(m.ToolCallID, repaired)
	if len(w.ToolCalls) > 0 {
		m.ToolCalls = make([]schemas.ToolCall, len(w.ToolCalls))
		for i, c := range w.ToolCalls {
			name, args := c.Name, c.Args
			if c.Function != nil {
				name, args = c.Function.Name, c.Function.Args
			}
			a := ""
			if !isNull(args) {
				if t := bytes.TrimSpace(args); t[0] == '"' {
					a = rawString(t)
				} else {
					a = string(t)
				}
			}
			m.ToolCalls[i] = schemas.ToolCall{ID: text(c.ID, repaired), Name: text(name, repaired), Arguments: text(a, repaired)}
		}
	}
	if m.Role == "" {
		return m, fmt.Errorf("message without a role")
	}
	return m, nil
}

func messages(raw json.RawMessage, repaired *bool) ([]schemas.Message, error) {
	if isNull(raw) {
		return nil, nil
	}
	t := bytes.TrimSpace(raw)
	if t[0] == '"' { // SWE-smith: messages as a JSON string
		t = []byte(rawString(raw))
	}
	var wire []wireMessage
	if err := json.Unmarshal(t, &wire); err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	out := make([]schemas.Message, len(wire))
	for i := range wire {
		m, err := wire[i].message(repaired)
		if err != nil {
			return nil, fmt.Errorf("messages[%d]: %w", i, err)
		}
		out[i] = m
	}
	return out, nil
}

func countTurns(msgs []schemas.Message) int32 {
	var n int32
	for _, m := range msgs {
		if m.Role == "assistant" {
			n++
		}
	}
	return n
}

// finishRollout fills the derived columns and the content hash.
func finishRollout(r *schemas.Rollout, o Options, raw []byte) {
	if o.RunID != "" {
		r.RunID = o.RunID
	}
	if o.Policy != "" {
		r.Policy = o.Policy
	}
	if r.NumTurns == 0 {
		r.NumTurns = countTurns(r.Messages)
	}
	if r.RolloutID == "" {
		r.RolloutID = fmt.Sprintf("%s/%s/%d", r.RunID, r.TaskID, r.SampleIdx)
	}
	if r.Resolved == nil && r.Reward != nil {
		r.Resolved = ptr(*r.Reward >= 1)
	}
	if r.Tools == "" {
		r.Tools = schemas.ToolsOf(raw)
	}
	schemas.FinishRollout(r)
	r.ContentHash = rolloutHash(r)
}

// unnamedID names a row its source gave no id: "<run>/<16 hex>" over its
// task and its conversation, in the run the ingest puts it in (--run-id, or
// the row's, or its directory's). The content names it, so re-ingesting is
// a no-op; the same conversation for two tasks, or in two runs, is two
// rollouts, not a conflict.
func unnamedID(r *schemas.Rollout, o Options) string {
	run := r.RunID
	if o.RunID != "" {
		run = o.RunID
	}
	return fmt.Sprintf("%s/%s", run, rolloutHash(&schemas.Rollout{TaskID: r.TaskID, Messages: r.Messages})[:16])
}

// rolloutHash covers a rollout's content, field by field (no encoding
// pass: this runs for every row).
func rolloutHash(r *schemas.Rollout) string {
	h := newFieldHash()
	h.str(r.RolloutID, r.TaskID, r.Patch, r.ExitReasonRaw)
	h.optFloat(r.Reward)
	h.optBool(r.Resolved)
	for _, m := range r.Messages {
		h.str(m.Role, m.Content, m.ToolCallID, m.Name)
		for _, c := range m.ToolCalls {
			h.str(c.ID, c.Name, c.Arguments)
		}
		h.sep()
	}
	return h.sum()
}

func taskIDFor(o Options, instanceID string) string {
	if instanceID == "" {
		return ""
	}
	src := o.TaskSource
	if src == "" {
		src = GuessTaskSource(instanceID)
	}
	return TaskID(src, instanceID)
}
