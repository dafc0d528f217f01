package chattemplate

import (
	"encoding/json"

	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/tokenizer"
)

// ChatOf is the conversation a rollout renders as with a tokenizer's chat
// template: its messages, the tools its source offered, and the tokenizer's
// special tokens. Every job renders through it, so that the same rollout is
// the same text — and the same token-cache key — in curate, build-sft and
// build-rl.
func ChatOf(r schemas.Rollout, c tokenizer.Config) Chat {
	return Chat{Messages: r.Messages, Tools: ToolsOf(r),
		BOSToken: c.BOSToken, EOSToken: c.EOSToken, PadToken: c.PadToken, UnkToken: c.UnkToken}
}

// ToolsOf returns the tool schemas a rollout's source offered the model (the
// "tools" field of its raw record), or nil.
func ToolsOf(r schemas.Rollout) Value {
	if len(r.Raw) == 0 || r.Raw[0] != '{' {
		return nil
	}
	var probe struct {
		Tools json.RawMessage `json:"tools"`
	}
	if json.Unmarshal(r.Raw, &probe) != nil || len(probe.Tools) == 0 || string(probe.Tools) == "null" {
		return nil
	}
	v, err := ParseJSON(probe.Tools)
	if err != nil {
		return nil
	}
	if l, ok := v.([]Value); !ok || len(l) == 0 {
		return nil
	}
	return v
}
