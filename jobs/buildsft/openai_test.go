package buildsft

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/internal/realsamples"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/schemas"
)

// validOpenAIExample checks one line of an OpenAI chat fine-tuning file.
// The format checks of openai/openai-cookbook@b774cbf15
// examples/Chat_finetuning_data_prep.ipynb (a dict with a messages list;
// each message with a known role, string content and only known keys; an
// assistant message present), extended with the fine-tuning guide's tool
// calling and weights: tool_calls with an id, type "function" and string
// arguments; every tool message answering an earlier call; weight 0 or 1
// on assistant messages only; tools as function schemas; and the example
// ending on an assistant message.
func validOpenAIExample(line []byte) error {
	var ex map[string]json.RawMessage
	if err := json.Unmarshal(line, &ex); err != nil {
		return fmt.Errorf("data_type: %v", err)
	}
	for k := range ex {
		if !slices.Contains([]string{"messages", "tools", "parallel_tool_calls"}, k) {
			return fmt.Errorf("unrecognized example key %q", k)
		}
	}
	var msgs []map[string]json.RawMessage
	if err := json.Unmarshal(ex["messages"], &msgs); err != nil || len(msgs) == 0 {
		return fmt.Errorf("missing_messages_list: %v", err)
	}
	keys := map[string][]string{
		"system": {"role", "content", "name"}, "developer": {"role", "content", "name"}, "user": {"role", "content", "name"},
		"assistant": {"role", "content", "name", "tool_calls", "weight"}, "tool": {"role", "content", "tool_call_id"},
	}
	calls := map[string]bool{}
	assistants := 0
	var last string
	for i, m := range msgs {
		var role string
		if json.Unmarshal(m["role"], &role) != nil {
			return fmt.Errorf("message %d: message_missing_key role", i)
		}
		allowed, ok := keys[role]
		if !ok {
			return fmt.Errorf("message %d: unrecognized_role %q", i, role)
		}
		for k := range m {
			if !slices.Contains(allowed, k) {
				return fmt.Errorf("message %d (%s): message_unrecognized_key %q", i, role, k)
			}
		}
		var content *string
		if err := json.Unmarshal(m["content"], &content); err != nil {
			return fmt.Errorf("message %d: content is not a string: %s", i, m["content"])
		}
		var tcs []struct {
			ID       string `json:"id"`
			Type     string `json:"type"`
			Function struct {
				Name      string `json:"name"`
				Arguments any    `json:"arguments"`
			} `json:"function"`
		}
		if raw, ok := m["tool_calls"]; ok {
			if err := json.Unmarshal(raw, &tcs); err != nil || len(tcs) == 0 {
				return fmt.Errorf("message %d: tool_calls: %v", i, err)
			}
		}
		if content == nil && len(tcs) == 0 {
			return fmt.Errorf("message %d: missing_content", i)
		}
		for _, c := range tcs {
			if _, isString := c.Function.Arguments.(string); c.ID == "" || c.Type != "function" || c.Function.Name == "" || !isString {
				return fmt.Errorf("message %d: tool call %+v: want id, type function, a name and string arguments", i, c)
			}
			calls[c.ID] = true
		}
		if role == "tool" {
			var id string
			if json.Unmarshal(m["tool_call_id"], &id) != nil || !calls[id] {
				return fmt.Errorf("message %d: tool message answers no earlier call (%s)", i, m["tool_call_id"])
			}
		}
		if w, ok := m["weight"]; ok {
			if role != "assistant" || (string(w) != "0" && string(w) != "1") {
				return fmt.Errorf("message %d: weight %s on %s", i, w, role)
			}
		}
		if role == "assistant" {
			assistants++
		}
		last = role
	}
	if assistants == 0 {
		return fmt.Errorf("example_missing_assistant_message")
	}
	if last != "assistant" {
		return fmt.Errorf("the last message is %s, not assistant", last)
	}
	if raw, ok := ex["tools"]; ok {
		var tools []struct {
			Type     string `json:"type"`
			Function struct {
				Name       string          `json:"name"`
				Parameters json.RawMessage `json:"parameters"`
			} `json:"function"`
		}
		if err := json.Unmarshal(raw, &tools); err != nil {
			return fmt.Errorf("tools: %v", err)
		}
		for _, t := range tools {
			if t.Type != "function" || t.Function.Name == "" {
				return fmt.Errorf("tools: %+v is not a function schema", t)
			}
		}
	}
	return nil
}

// TestOpenAIExportValid: every line of the openai export of the nine real
// conversations and the tool-calling fixture (tool calls without ids, a
// trajectory ending on a tool result) passes the fine-tuning format checks.
func TestOpenAIExportValid(t *testing.T) {
	l := fixture(t)
	rows := realsamples.Conversations(t)
	noIDs := rows[0]
	noIDs.RolloutID, noIDs.ContentHash = "calls-without-ids", ""
	noIDs.Messages = []schemas.Message{{Role: "user", Content: "fix it"},
		{Role: "assistant", ToolCalls: []schemas.ToolCall{{Name: "bash", Arguments: `{"command": "ls"}`}, {Name: "bash", Arguments: `{"command": "pwd"}`}}},
		{Role: "tool", Content: "a.py"}, {Role: "tool", Content: "/repo"}, {Role: "assistant", Content: "done"}, {Role: "tool", Content: "trailing"}}
	rows = append(rows, noIDs)
	laketest.Append(t, l, schemas.Rollouts, rows)
	cfg := config(t)
	cfg.Export.Exports = []string{"openai"}
	sum, err := Job.Execute(context.Background(), &stage.Env{Lake: l}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	recs := readJSONL(t, filepath.Join(cfg.Export.OutDir, sum.SetID, "openai", "train.jsonl"))
	if len(recs) != sum.Examples || sum.TrimmedTurns["openai"] < 1 {
		t.Fatalf("%d rows of %d examples, trimmed %v", len(recs), sum.Examples, sum.TrimmedTurns)
	}
	for i, rec := range recs {
		line, _ := json.Marshal(rec)
		if err := validOpenAIExample(line); err != nil {
			t.Fatalf("row %d: %v\n%.600s", i+1, err, line)
		}
	}
}
