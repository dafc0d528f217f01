package chattemplate

import (
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

// ToolsOf returns the tool schemas a rollout's source offered the model
// (its tools column), or nil.
func ToolsOf(r schemas.Rollout) Value {
	if r.Tools == "" {
		return nil
	}
	v, err := ParseJSON([]byte(r.Tools))
	if err != nil {
		return nil
	}
	if l, ok := v.([]Value); !ok || len(l) == 0 {
		return nil
	}
	return v
}
