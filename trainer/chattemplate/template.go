package chattemplate

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/swelake/swelake/schemas"
)

// Template is a parsed chat template; safe for concurrent use.
type Template struct {
	body    []node
	globals *scope // raise_exception, range, namespace: stateless, shared by every render
}

// Parse parses a Jinja chat template.
func Parse(src string) (*Template, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	body, err := parse(toks)
	if err != nil {
		return nil, err
	}
	return &Template{body: body, globals: globals()}, nil
}

func globals() *scope {
	return &scope{vars: map[string]Value{
		"raise_exception": callable(func(args []Value, _ map[string]Value) (Value, error) {
			msg := ""
			if len(args) > 0 {
				msg = str(args[0])
			}
			return nil, fmt.Errorf("%w: %s", ErrRaised, msg)
		}),
		"range":     callable(rangeFn),
		"namespace": callable(func([]Value, map[string]Value) (Value, error) { return NewMap(), nil }),
	}}
}

// Render renders the template with vars (plus the globals every chat
// template may use: raise_exception, range, namespace).
func (t *Template) Render(vars map[string]Value) (string, error) {
	s := &scope{vars: make(map[string]Value, len(vars)), parent: t.globals}
	for k, v := range vars {
		s.vars[k] = v
	}
	in := &interp{}
	if err := in.run(t.body, s); err != nil {
		return "", err
	}
	return in.out.String(), nil
}

func rangeFn(args []Value, _ map[string]Value) (Value, error) {
	var lo, hi, step int64 = 0, 0, 1
	nums := make([]int64, len(args))
	for i, a := range args {
		n, _, _, ok := toNumber(a)
		if !ok {
			return nil, fmt.Errorf("template: range() takes integers")
		}
		nums[i] = n
	}
	switch len(nums) {
	case 1:
		hi = nums[0]
	case 2:
		lo, hi = nums[0], nums[1]
	case 3:
		lo, hi, step = nums[0], nums[1], nums[2]
	default:
		return nil, fmt.Errorf("template: range() takes 1 to 3 arguments")
	}
	if step == 0 {
		return nil, fmt.Errorf("template: range() step is zero")
	}
	out := []Value{}
	for i := lo; (step > 0 && i < hi) || (step < 0 && i > hi); i += step {
		out = append(out, i)
	}
	return out, nil
}

// Chat is a conversation to render: messages, the tool schemas offered to
// the model, and the special tokens templates refer to.
type Chat struct {
	Messages            []schemas.Message
	Tools               Value // a list of tool schemas (ParseJSON of the rollout's tools), or nil
	AddGenerationPrompt bool
	BOSToken, EOSToken  string
	PadToken, UnkToken  string
}

// MessageValues converts messages to template values the way Hugging Face
// datasets present OpenAI-style messages: role and content always; tool_calls
// (with type "function" and arguments decoded from their JSON text, keys in
// order, when they are a JSON object) only on messages that have them;
// tool_call_id and name only when set.
func MessageValues(msgs []schemas.Message) []Value {
	out := make([]Value, len(msgs))
	for i, m := range msgs {
		v := NewMap().Set("role", m.Role).Set("content", m.Content)
		if len(m.ToolCalls) > 0 {
			calls := make([]Value, len(m.ToolCalls))
			for j, c := range m.ToolCalls {
				var args Value = c.Arguments
				if a, err := ParseJSON([]byte(c.Arguments)); err == nil {
					if _, isObj := a.(*Map); isObj {
						args = a
					}
				}
				fn := NewMap().Set("name", c.Name).Set("arguments", args)
				call := NewMap()
				if c.ID != "" {
					call.Set("id", c.ID)
				}
				calls[j] = call.Set("type", "function").Set("function", fn)
			}
			v.Set("tool_calls", calls)
		}
		if m.ToolCallID != "" {
			v.Set("tool_call_id", m.ToolCallID)
		}
		if m.Name != "" {
			v.Set("name", m.Name)
		}
		out[i] = v
	}
	return out
}

// RenderChat renders a conversation.
func (t *Template) RenderChat(c Chat) (string, error) {
	return t.renderValues(MessageValues(c.Messages), c)
}

func (t *Template) renderValues(msgs []Value, c Chat) (string, error) {
	return t.Render(map[string]Value{
		"messages":              msgs,
		"tools":                 c.Tools,
		"add_generation_prompt": c.AddGenerationPrompt,
		"bos_token":             c.BOSToken,
		"eos_token":             c.EOSToken,
		"pad_token":             c.PadToken,
		"unk_token":             c.UnkToken,
	})
}

// Span is the byte range [Start, End) of one assistant message in a
// rendered conversation: from its first content byte (after the role header
// the generation prompt writes) through its end-of-turn marker and what the
// template writes after it before the next message.
type Span struct {
	Message    int
	Start, End int
}

// RenderWithSpans renders the conversation and locates every assistant
// message in the text: message i spans from the end of the conversation up
// to i rendered with the generation prompt to the end of the conversation up
// to and including i. The template must be prefix-stable at assistant
// messages (chat templates are, so that generation works); if it is not,
// the error names the message.
func (t *Template) RenderWithSpans(c Chat) (string, []Span, error) {
	msgs := MessageValues(c.Messages)
	full, err := t.renderValues(msgs, c)
	if err != nil {
		return "", nil, err
	}
	var spans []Span
	for i, m := range c.Messages {
		if m.Role != "assistant" {
			continue
		}
		pc := c
		pc.AddGenerationPrompt = true
		prompt, err := t.renderValues(msgs[:i], pc)
		if err != nil {
			return "", nil, fmt.Errorf("render messages[:%d] with the generation prompt: %w", i, err)
		}
		pc.AddGenerationPrompt = false
		upto, err := t.renderValues(msgs[:i+1], pc)
		if err != nil {
			return "", nil, fmt.Errorf("render messages[:%d]: %w", i+1, err)
		}
		if !strings.HasPrefix(full, prompt) || !strings.HasPrefix(full, upto) || len(upto) < len(prompt) || !strings.HasPrefix(upto, prompt) {
			return "", nil, fmt.Errorf("message %d: the chat template is not prefix-stable here, so the assistant turn cannot be located", i)
		}
		spans = append(spans, Span{Message: i, Start: len(prompt), End: len(upto)})
	}
	return full, spans, nil
}

// JSONValue serialises a template value as JSON, keeping key order (for
// handing the same conversation to another renderer).
func JSONValue(v Value) json.RawMessage {
	s, err := toJSON(v, 0, false)
	if err != nil {
		return json.RawMessage("null")
	}
	return json.RawMessage(s)
}

// MessageValuesJSON is JSONValue(MessageValues(msgs)).
func MessageValuesJSON(msgs []schemas.Message) json.RawMessage {
	return JSONValue(MessageValues(msgs))
}
