package formats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/swelake/swelake/schemas"
)

// contentText reads message content given as a string, or as a list of
// parts ({"type": "text", "text": ...}); non-text parts are named, not dropped.
func contentText(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	t := bytes.TrimSpace(raw)
	switch t[0] {
	case '"':
		return rawString(raw), nil
	case '[':
		var parts []object
		if err := json.Unmarshal(t, &parts); err != nil {
			return "", fmt.Errorf("content: %w", err)
		}
		var b strings.Builder
		for _, p := range parts {
			switch typ := p.str("type"); typ {
			case "text", "":
				b.WriteString(p.str("text"))
			default:
				fmt.Fprintf(&b, "[%s]", typ)
			}
		}
		return b.String(), nil
	}
	return string(t), nil
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

// toolCalls reads OpenAI tool calls ({id, type, function: {name,
// arguments}}), or flat {id, name, arguments}; arguments as a JSON string or
// an object (kept as JSON text).
func toolCalls(raw json.RawMessage) ([]schemas.ToolCall, error) {
	if isNull(raw) {
		return nil, nil
	}
	var calls []object
	if err := json.Unmarshal(raw, &calls); err != nil {
		return nil, fmt.Errorf("tool_calls: %w", err)
	}
	out := make([]schemas.ToolCall, 0, len(calls))
	for _, c := range calls {
		fn := c
		if f, err := c.obj("function"); err == nil && f != nil {
			fn = f
		}
		args := ""
		if a, ok := fn["arguments"]; ok && !isNull(a) {
			if t := bytes.TrimSpace(a); t[0] == '"' {
				args = rawString(a)
			} else {
				args = string(t)
			}
		}
		out = append(out, schemas.ToolCall{ID: c.str("id"), Name: fn.str("name"), Arguments: args})
	}
	return out, nil
}

// message reads one chat message in the OpenAI layout (and its variants).
func message(o object, repaired *bool) (schemas.Message, error) {
	content, err := contentText(o["content"])
	if err != nil {
		return schemas.Message{}, err
	}
	calls, err := toolCalls(o["tool_calls"])
	if err != nil {
		return schemas.Message{}, err
	}
	m := schemas.Message{Role: normRole(o.str("role")), Content: text(content, repaired), ToolCalls: calls,
		ToolCallID: o.str("tool_call_id"), Name: o.str("name")}
	if m.ToolCallID == "" { // SWE-agent ≥ 1.0: tool_call_ids
		if ids, _ := o.strList("tool_call_ids"); len(ids) > 0 {
			m.ToolCallID = ids[0]
		}
	}
	for i := range m.ToolCalls {
		m.ToolCalls[i].Arguments = text(m.ToolCalls[i].Arguments, repaired)
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
	var objs []object
	if err := json.Unmarshal(t, &objs); err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	out := make([]schemas.Message, 0, len(objs))
	for i, o := range objs {
		m, err := message(o, repaired)
		if err != nil {
			return nil, fmt.Errorf("messages[%d]: %w", i, err)
		}
		out = append(out, m)
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
	r.ContentHash = hashJSON([]any{r.RolloutID, r.TaskID, r.Messages, r.Patch, r.ExitReason, r.Reward, r.Resolved})
	r.Raw = bytes.Clone(raw)
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
