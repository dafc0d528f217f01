package buildsft

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/swelake/swelake/internal/parquetfile"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/chattemplate"
	"github.com/swelake/swelake/trainer/sft"
	"github.com/swelake/swelake/trainer/tokenizer"
)

// Formats are the exports build-sft writes (docs/training.md describes each).
func Formats() []string {
	return []string{"parquet", "pretokenized", "openai", "llamafactory", "openrlhf", "openrlhf-pretokenized", "verl", "axolotl"}
}

// allTurnsTrained is the exports whose consumers train every assistant turn
// of a conversation and have no per-turn switch.
var allTurnsTrained = map[string]string{
	"openrlhf":     "OpenRLHF's multi-turn SFT",
	"verl":         "verl's MultiTurnSFTDataset",
	"llamafactory": "LLaMA-Factory's sharegpt converter",
}

// TokenisedRow is a row of the tokenised Parquet export: one example, or a
// packed sequence of several (position ids restart per example; seq_lens
// are the lengths, cu_seqlens their prefix sums).
type TokenisedRow struct {
	InputIDs    []int32  `parquet:"input_ids,list"`
	LossMask    []int32  `parquet:"loss_mask,list"`
	PositionIDs []int32  `parquet:"position_ids,list"`
	SeqLens     []int32  `parquet:"seq_lens,list"`
	ExampleIDs  []string `parquet:"example_ids,list"`
	RolloutIDs  []string `parquet:"rollout_ids,list"`
}

func (e Exporter) locator() locator { return locator{enc: e.Enc, tmpl: e.Tmpl, cfg: e.Config} }

// Exporter writes a set's files for the trainers. The tokenizer and template
// are the set's: token-level exports locate each assistant turn in the ids.
type Exporter struct {
	Enc        sft.Encoder
	Tmpl       *chattemplate.Template
	Config     tokenizer.Config
	PackLength int
}

// ExportResult is what Export wrote.
type ExportResult struct {
	Files  []string
	Packed int // packed sequences (parquet and pretokenized exports)
	// Trimmed counts, per export, the messages dropped after the last
	// assistant turn (formats whose rows must end on an assistant turn).
	Trimmed map[string]int
}

// Export writes the rows in each format under outDir/<setID>/<format>/, one
// file per split.
func (e Exporter) Export(outDir, setID string, rows []schemas.SFTExample, formats []string) (ExportResult, error) {
	res := ExportResult{Trimmed: map[string]int{}}
	splits := map[string][]schemas.SFTExample{}
	for _, r := range rows {
		splits[r.Split] = append(splits[r.Split], r)
	}
	names := slices.Sorted(maps.Keys(splits))
	for _, f := range formats {
		if what, ok := allTurnsTrained[f]; ok {
			if err := everyTurnTrained(rows, what); err != nil {
				return res, fmt.Errorf("export %s: %w", f, err)
			}
		}
		dir := filepath.Join(outDir, setID, f)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return res, fmt.Errorf("export %s: %w", f, err)
		}
		for _, split := range names {
			var path string
			var err error
			switch f {
			case "parquet":
				path = filepath.Join(dir, split+".parquet")
				var n int
				n, err = writeTokenised(path, splits[split], e.PackLength)
				res.Packed += n
			case "pretokenized":
				path = filepath.Join(dir, split+".parquet")
				var n int
				n, err = writePretokenized(path, splits[split], e.PackLength)
				res.Packed += n
			case "verl":
				path = filepath.Join(dir, split+".parquet")
				err = e.writeVerl(path, splits[split])
			default:
				path = filepath.Join(dir, split+".jsonl")
				var rec record
				if rec, err = e.records(f); err == nil {
					var trimmed int
					trimmed, err = writeJSONL(path, splits[split], rec)
					res.Trimmed[f] += trimmed
				}
			}
			if err != nil {
				return res, fmt.Errorf("export %s %s: %w", f, split, err)
			}
			res.Files = append(res.Files, path)
		}
		if f == "llamafactory" {
			path := filepath.Join(dir, "dataset_info.json")
			if err := writeLlamaFactoryInfo(path, setID, names); err != nil {
				return res, err
			}
			res.Files = append(res.Files, path)
		}
	}
	return res, nil
}

// everyTurnTrained refuses a set whose mask leaves an assistant turn
// untrained (build_sft.mask=last_turn, mask_error_turns) for a consumer that
// trains them all: it would silently train the whole trajectory.
func everyTurnTrained(rows []schemas.SFTExample, consumer string) error {
	for _, r := range rows {
		for i, m := range r.Messages {
			if m.Role == "assistant" && (i >= len(r.Weights) || r.Weights[i] != 1) {
				return fmt.Errorf("example %s: assistant message %d is masked, and %s trains every assistant turn: use openai, axolotl, openrlhf-pretokenized, pretokenized or parquet for this mask", r.ExampleID, i, consumer)
			}
		}
	}
	return nil
}

func writeTokenised(path string, rows []schemas.SFTExample, packLength int) (int, error) {
	out, err := sequences(rows, packLength)
	if err != nil {
		return 0, err
	}
	return len(out), parquetfile.Write(path, out)
}

// verlMessage is a message of verl's multi-turn SFT Parquet
// (MultiTurnSFTDataset reads the "messages" column, and "tools" when the
// file has one).
type verlMessage struct {
	Role    string `parquet:"role"`
	Content string `parquet:"content"`
}

type verlRow struct {
	Messages  []verlMessage `parquet:"messages,list"`
	ExampleID string        `parquet:"example_id"`
}

// writeVerl writes rendered messages: pandas reads a Parquet struct with
// every key any row has (arguments objects gain null keys; arguments strings
// are printed twice-encoded by templates that `tojson` them), and verl
// renders each message on its own, so a run of tool results would not be
// merged as the whole conversation renders it. No tools column: the schemas
// are in the system turn.
func (e Exporter) writeVerl(path string, rows []schemas.SFTExample) error {
	out := make([]verlRow, len(rows))
	for i, r := range rows {
		msgs, _, err := e.locator().renderedMessages(r)
		if err != nil {
			return fmt.Errorf("example %s: %w", r.ExampleID, err)
		}
		vm := make([]verlMessage, len(msgs))
		for j, m := range msgs {
			vm[j] = verlMessage{Role: m.Role, Content: m.Content}
		}
		out[i] = verlRow{Messages: vm, ExampleID: r.ExampleID}
	}
	return parquetfile.Write(path, out)
}

// record turns an example into the JSON value of one line, and counts the
// messages it left out after the last assistant turn.
type record func(r schemas.SFTExample) (any, int, error)

func (e Exporter) records(format string) (record, error) {
	switch format {
	case "openai":
		return openAIRecord, nil
	case "axolotl":
		return e.axolotlRecord, nil
	case "llamafactory":
		return llamaFactoryRecord(e.separators()), nil
	case "openrlhf":
		return e.openRLHFRecord, nil
	case "openrlhf-pretokenized":
		return func(r schemas.SFTExample) (any, int, error) { return e.SWEMasterRowOf(r) }, nil
	}
	return nil, fmt.Errorf("unknown export %q", format)
}

func writeJSONL(path string, rows []schemas.SFTExample, rec record) (int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	trimmed := 0
	for _, r := range rows {
		v, n, err := rec(r)
		if err == nil {
			err = enc.Encode(v)
		}
		if err != nil {
			f.Close()
			return 0, fmt.Errorf("example %s: %w", r.ExampleID, err)
		}
		trimmed += n
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	return trimmed, f.Close()
}

// toolsValue is the example's tool schemas as JSON (nil if none).
func toolsValue(r schemas.SFTExample) json.RawMessage {
	if r.Tools == "" {
		return nil
	}
	return json.RawMessage(r.Tools)
}

type oaFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type oaToolCall struct {
	ID       string     `json:"id"`
	Type     string     `json:"type"`
	Function oaFunction `json:"function"`
}

type oaMessage struct {
	Role       string       `json:"role"`
	Content    *string      `json:"content"`
	ToolCalls  []oaToolCall `json:"tool_calls,omitempty"`
	ToolCallID string       `json:"tool_call_id,omitempty"`
	Weight     *int         `json:"weight,omitempty"`
}

// openAIMessages converts messages to OpenAI chat messages. Every tool call
// has an id (call_<message>_<call> where the source had none) and a tool
// message without a known id answers the next unanswered call. For the
// fine-tuning file, assistant messages carry weight 0 or 1 (its per-message
// switch), and a tool message that answers no call at all (scaffolds that
// write actions as text) is a user message, as the format requires.
func openAIMessages(r schemas.SFTExample, fineTuning bool) []oaMessage {
	out := make([]oaMessage, len(r.Messages))
	var pending []string
	known := map[string]bool{}
	for i, m := range r.Messages {
		content := m.Content
		om := oaMessage{Role: m.Role, Content: &content}
		if m.Role == "assistant" && content == "" && len(m.ToolCalls) > 0 {
			om.Content = nil
		}
		if len(m.ToolCalls) > 0 {
			pending = pending[:0]
		}
		for j, c := range m.ToolCalls {
			id := c.ID
			if id == "" {
				id = fmt.Sprintf("call_%d_%d", i, j)
			}
			known[id] = true
			pending = append(pending, id)
			om.ToolCalls = append(om.ToolCalls, oaToolCall{ID: id, Type: "function", Function: oaFunction{Name: c.Name, Arguments: c.Arguments}})
		}
		if m.Role == "tool" {
			id := m.ToolCallID
			if !known[id] && len(pending) > 0 {
				id = pending[0]
			}
			if k := slices.Index(pending, id); k >= 0 {
				pending = slices.Delete(pending, k, k+1)
			}
			if known[id] || !fineTuning {
				om.ToolCallID = id
			} else {
				// The scaffold wrote its actions as text (no tool calls):
				// the result is what the user side said.
				om.Role = "user"
			}
		}
		if fineTuning && m.Role == "assistant" {
			w := 0
			if i < len(r.Weights) {
				w = int(r.Weights[i])
			}
			om.Weight = &w
		}
		out[i] = om
	}
	return out
}

// openAIRecord is a row of OpenAI's chat fine-tuning format; it ends on the
// last assistant message (the format trains assistant messages, and a
// trailing tool result would be an example without a final answer).
func openAIRecord(r schemas.SFTExample) (any, int, error) {
	msgs := openAIMessages(r, true)
	n := len(msgs)
	for n > 0 && msgs[n-1].Role != "assistant" {
		n--
	}
	if n == 0 {
		return nil, 0, fmt.Errorf("no assistant message")
	}
	return struct {
		Messages []oaMessage     `json:"messages"`
		Tools    json.RawMessage `json:"tools,omitempty"`
	}{msgs[:n], toolsValue(r)}, len(msgs) - n, nil
}

// openRLHFRecord is OpenRLHF's multi-turn SFT row: the conversation under
// "input" as rendered messages (OpenRLHF passes no tools to the template,
// and loads the file through Arrow), ending on the last assistant turn.
func (e Exporter) openRLHFRecord(r schemas.SFTExample) (any, int, error) {
	msgs, last, err := e.locator().renderedMessages(r)
	if err != nil {
		return nil, 0, err
	}
	n := len(msgs)
	for n > 0 && msgs[n-1].Role != "assistant" {
		n--
	}
	if n == 0 {
		return nil, 0, fmt.Errorf("no assistant turn")
	}
	type msg struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	input := make([]msg, n)
	for i, m := range msgs[:n] {
		input[i] = msg{m.Role, m.Content}
	}
	return struct {
		Input     []msg  `json:"input"`
		ExampleID string `json:"example_id"`
	}{input, r.ExampleID}, len(r.Messages) - 1 - last[n-1], nil
}

// axolotlRecord is a row of axolotl's chat_template datasets: rendered
// messages (role and content: the tool schemas in the system turn, the
// calls in the assistant's content, a run of tool results one message) with
// a per-message training flag (message_field_training: training). axolotl
// loads JSON through Arrow, which gives every row's objects every key any
// row has: a tool schema without "description" gains "description": null
// and the template prints it; structured tool calls and schemas therefore
// cannot come through as swelake rendered them, rendered messages do.
func (e Exporter) axolotlRecord(r schemas.SFTExample) (any, int, error) {
	type msg struct {
		Role     string `json:"role"`
		Content  string `json:"content"`
		Training bool   `json:"training"`
	}
	flat, last, err := e.locator().renderedMessages(r)
	if err != nil {
		return nil, 0, err
	}
	msgs := make([]msg, len(flat))
	for i, m := range flat {
		j := last[i]
		msgs[i] = msg{Role: m.Role, Content: m.Content, Training: m.Role == "assistant" && j < len(r.Weights) && r.Weights[j] == 1}
	}
	return struct {
		Messages  []msg  `json:"messages"`
		ExampleID string `json:"example_id"`
	}{msgs, r.ExampleID}, 0, nil
}

// llamaFactoryRecord is LLaMA-Factory's sharegpt layout as its
// SharegptDatasetConverter reads it (hiyouga/LLaMA-Factory@ff6d4d12e
// src/llamafactory/data/converter.py): the system prompt and tools apart
// (tools always present, "" when none: the converter reads the column of
// every row), then turns alternating human/observation and
// gpt/function_call, an even number of them. Consecutive human-side turns
// (a second system prompt, a user message after another) are one human
// turn joined by a newline; tool results in a row are one observation;
// the turns after the last assistant turn are left out and counted (the
// converter skips a conversation that ends on them). A tool-calling
// assistant turn is a function_call whose text, when the assistant wrote
// any, comes first, then <tool_call>[calls]</tool_call> — what
// FunctionFormatter splits back into the thought and the calls.
func llamaFactoryRecord(sep separators) record {
	return func(r schemas.SFTExample) (any, int, error) { return llamaFactoryRow(r, sep) }
}

func llamaFactoryRow(r schemas.SFTExample, sep separators) (any, int, error) {
	type turn struct {
		From  string `json:"from"`
		Value string `json:"value"`
		roles string // the message roles it holds, for the separators
	}
	var system string
	var turns []turn
	add := func(from, role, value string) {
		n := len(turns)
		switch {
		case n > 0 && from == "observation" && turns[n-1].From == "observation":
			turns[n-1].Value += sep.tool + value
		case n > 0 && from == "human" && turns[n-1].From == "human" && turns[n-1].roles == "user" && role == "user":
			turns[n-1].Value += sep.user + value
		case n > 0 && from == "human" && (turns[n-1].From == "human" || turns[n-1].From == "observation"):
			// a user message after a tool result: the odd turn stays one
			turns[n-1] = turn{From: "human", Value: turns[n-1].Value + "\n" + value, roles: "mixed"}
		default:
			turns = append(turns, turn{From: from, Value: value, roles: role})
		}
	}
	for i, m := range r.Messages {
		switch m.Role {
		case "system":
			switch {
			case i == 0:
				system = m.Content
			case len(turns) == 0: // system prompts before the conversation: one system turn
				system += sep.system + m.Content
			default:
				add("human", "system", m.Content)
			}
		case "user":
			add("human", "user", m.Content)
		case "tool":
			add("observation", "tool", m.Content)
		case "assistant":
			if len(m.ToolCalls) == 0 {
				add("gpt", "assistant", m.Content)
				continue
			}
			calls := make([]map[string]any, len(m.ToolCalls))
			for j, c := range m.ToolCalls {
				var args any = c.Arguments
				if v, err := chattemplate.ParseJSON([]byte(c.Arguments)); err == nil {
					args = chattemplate.JSONValue(v)
				}
				calls[j] = map[string]any{"name": c.Name, "arguments": args}
			}
			var v []byte
			var err error
			if len(calls) == 1 {
				v, err = json.Marshal(calls[0])
			} else {
				v, err = json.Marshal(calls)
			}
			if err != nil {
				return nil, 0, fmt.Errorf("message %d: %w", i, err)
			}
			value := string(v)
			if m.Content != "" {
				value = m.Content + "\n<tool_call>" + value + "</tool_call>"
			}
			add("function_call", "assistant", value)
		}
	}
	if len(turns) > 0 && turns[0].From != "human" && turns[0].From != "observation" {
		turns = append([]turn{{From: "human"}}, turns...)
	}
	n := len(turns)
	for n > 0 && (turns[n-1].From == "human" || turns[n-1].From == "observation") {
		n--
	}
	if n == 0 {
		return nil, 0, fmt.Errorf("no assistant turn")
	}
	trimmed := 0
	for i := len(r.Messages) - 1; i >= 0 && r.Messages[i].Role != "assistant"; i-- {
		trimmed++
	}
	return struct {
		Conversations []turn `json:"conversations"`
		System        string `json:"system"`
		Tools         string `json:"tools"`
		ExampleID     string `json:"example_id"`
	}{turns[:n], system, r.Tools, r.ExampleID}, trimmed, nil
}

// separators are what the chat template writes between the contents of
// two consecutive messages of one role (Qwen2.5: "\n</tool_response>\n
// <tool_response>\n" between two tool results, "<|im_end|>\n<|im_start|>
// system\n" between two system prompts): joined with it, a turn that holds
// both renders as the two did. "\n" where the template cannot tell.
type separators struct{ tool, user, system string }

// separators measures them once per export.
func (e Exporter) separators() separators {
	between := func(role string) string {
		if e.Tmpl == nil {
			return "\n"
		}
		const pa, pb = "\x00swelake-a\x00", "\x00swelake-b\x00"
		text, err := e.Tmpl.RenderChat(chattemplate.ChatOf(schemas.Rollout{Messages: []schemas.Message{{Role: role, Content: pa}, {Role: role, Content: pb}}}, e.Config))
		_, after, ok := strings.Cut(text, pa)
		sep, _, ok2 := strings.Cut(after, pb)
		if err != nil || !ok || !ok2 {
			return "\n"
		}
		return sep
	}
	return separators{tool: between("tool"), user: between("user"), system: between("system")}
}

func writeLlamaFactoryInfo(path, setID string, splits []string) error {
	info := map[string]any{}
	for _, s := range splits {
		info[setID+"_"+s] = map[string]any{
			"file_name":  s + ".jsonl",
			"formatting": "sharegpt",
			"columns":    map[string]string{"messages": "conversations", "system": "system", "tools": "tools"},
		}
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
