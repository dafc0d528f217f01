package chattemplate_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/swelake/swelake/internal/modeltest"
	"github.com/swelake/swelake/internal/realsamples"
	"github.com/swelake/swelake/internal/tokref"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/chattemplate"
)

// realConversations are the messages of every trajectory and SFT row in
// ../shared/realdata, decoded with the ingest decoders.
func realConversations(tb testing.TB) [][]schemas.Message {
	tb.Helper()
	var out [][]schemas.Message
	for _, r := range realsamples.Conversations(tb) {
		out = append(out, r.Messages)
	}
	return out
}

// syntheticConversations cover what the real files do not: tool calls with
// JSON arguments (nested, unicode, escapes), consecutive tool messages,
// assistant turns without content, a missing system prompt, odd content.
func syntheticConversations() ([][]schemas.Message, []chattemplate.Value) {
	call := func(id, name, args string) schemas.ToolCall {
		return schemas.ToolCall{ID: id, Name: name, Arguments: args}
	}
	convs := [][]schemas.Message{
		{{Role: "user", Content: "fix the bug"}, {Role: "assistant", Content: "ok"}},
		{{Role: "system", Content: "You are a helpful agent."}, {Role: "user", Content: "run tests"},
			{Role: "assistant", Content: "", ToolCalls: []schemas.ToolCall{call("c1", "bash", `{"command": "pytest -x tests/ \"quoted\" ü 😀", "timeout": 30, "env": {"A": [1, 2.5, null, true]}}`)}},
			{Role: "tool", Content: "===== 3 passed in 0.1s =====", ToolCallID: "c1", Name: "bash"},
			{Role: "assistant", Content: "Let me also look.", ToolCalls: []schemas.ToolCall{call("c2", "str_replace_editor", `{"command": "view", "path": "/repo/a.py"}`), call("c3", "bash", `not json`)}},
			{Role: "tool", Content: "1\timport os\n2\t", ToolCallID: "c2"}, {Role: "tool", Content: "err: bad args", ToolCallID: "c3"},
			{Role: "assistant", Content: "\n\nDone.\n<|im_end|> is text here"}},
		{{Role: "user", Content: "tabs\tand\r\nCRLF and \u2028 and \x1b[0m"}, {Role: "assistant", Content: "  leading spaces"},
			{Role: "user", Content: ""}, {Role: "assistant", Content: "日本語 e\u0301"}},
		{{Role: "system", Content: "sys"}, {Role: "system", Content: "second system"}, {Role: "user", Content: "u"}, {Role: "assistant", Content: "a"}},
	}
	tools, err := chattemplate.ParseJSON([]byte(`[{"type": "function", "function": {"name": "bash", "description": "Run a command.\nNewlines, \"quotes\", <tags> & ü.", "parameters": {"type": "object", "properties": {"command": {"type": "string"}, "timeout": {"type": "integer", "default": 30}}, "required": ["command"]}}},
		{"type": "function", "function": {"name": "submit", "description": "", "parameters": {"type": "object", "properties": {}}}}]`))
	if err != nil {
		panic(err)
	}
	return convs, []chattemplate.Value{nil, tools}
}

// TestParityWithReference renders every conversation with Qwen2.5's own
// chat template, with and without tools and the generation prompt, and
// compares text and ids with @huggingface/jinja + the JS tokenizer.
func TestParityWithReference(t *testing.T) {
	tok, tmpl := modeltest.Qwen(t)
	real := realConversations(t)
	synth, toolsets := syntheticConversations()
	type tc struct {
		name string
		chat chattemplate.Chat
	}
	var cases []tc
	for ci, conv := range append(real, synth...) {
		for ti, tools := range toolsets {
			for _, gen := range []bool{false, true} {
				cases = append(cases, tc{fmt.Sprintf("conv%d/tools%d/gen=%v", ci, ti, gen), chattemplate.Chat{
					Messages: conv, Tools: tools, AddGenerationPrompt: gen, EOSToken: tok.Config().EOSToken, PadToken: tok.Config().PadToken}})
			}
		}
	}
	refCases := make([]tokref.Case, len(cases))
	for i, c := range cases {
		refCases[i] = tokref.Case{Messages: chattemplate.MessageValuesJSON(c.chat.Messages), Tools: chattemplate.JSONValue(c.chat.Tools), AddGenerationPrompt: c.chat.AddGenerationPrompt}
	}
	res, err := tokref.Run(context.Background(), tokref.DefaultTokenizerDir(), refCases)
	if err != nil {
		t.Fatal(err)
	}
	var chars, tokens, bad int
	for i, c := range cases {
		if res[i].Error != "" {
			t.Fatalf("%s: reference failed: %s", c.name, res[i].Error)
		}
		text, err := tmpl.RenderChat(c.chat)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		ids := tok.Encode(text)
		chars += len(text)
		tokens += len(ids)
		if text != res[i].Text {
			bad++
			p := 0
			for p < len(text) && p < len(res[i].Text) && text[p] == res[i].Text[p] {
				p++
			}
			t.Errorf("%s: rendered text differs at byte %d:\n go: %q\n js: %q", c.name, p, around(text, p), around(res[i].Text, p))
			continue
		}
		if !slices.Equal(ids, res[i].IDs) {
			bad++
			t.Errorf("%s: ids differ", c.name)
		}
	}
	t.Logf("chat parity: %d renders (%d real conversations, %d synthetic), %d bytes, %d tokens, %d differences", len(cases), len(real), len(synth), chars, tokens, bad)
}

func around(s string, p int) string {
	lo, hi := max(0, p-40), min(len(s), p+40)
	return s[lo:hi]
}
