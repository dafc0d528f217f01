package jobs

import (
	"encoding/json"

	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/chattemplate"
)

// ToolsOf returns the tool schemas a rollout's source offered the model (the
// "tools" field of its raw record), or nil.
func ToolsOf(r schemas.Rollout) chattemplate.Value {
	if len(r.Raw) == 0 || r.Raw[0] != '{' {
		return nil
	}
	var probe struct {
		Tools json.RawMessage `json:"tools"`
	}
	if json.Unmarshal(r.Raw, &probe) != nil || len(probe.Tools) == 0 || string(probe.Tools) == "null" {
		return nil
	}
	v, err := chattemplate.ParseJSON(probe.Tools)
	if err != nil {
		return nil
	}
	if l, ok := v.([]chattemplate.Value); !ok || len(l) == 0 {
		return nil
	}
	return v
}
