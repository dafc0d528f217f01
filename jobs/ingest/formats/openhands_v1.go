package formats

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	json "github.com/goccy/go-json"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/swelake/swelake/schemas"
)

// OpenHands V1 (software-agent-sdk) stores a conversation as typed events,
// each with a kind (openhands/sdk/event/, read at 611629e). The messages
// the model saw are what each event's to_llm_message gives; this reader
// builds the same ones.

// isV1Event: one V1 event ({id, timestamp, source, kind}).
func isV1Event(o object) bool {
	return o.has("kind") && o.has("source") && o.has("timestamp") && o.has("id")
}

// isV1State: a V1 conversation's base_state.json.
func isV1State(o object) bool {
	return o.has("agent") && o.has("execution_status") && o.has("id")
}

// isV1Output: an evaluation output row (OpenHands/benchmarks' EvalOutput)
// whose history holds V1 events — or, saved without its history (the
// events are in the conversation archives), whose metadata names the LLM
// V1's way (metadata.llm) or that counts attempts.
func isV1Output(o object) bool {
	if o == nil {
		return false
	}
	var first []json.RawMessage
	if json.Unmarshal(o["history"], &first) == nil && len(first) > 0 {
		ev, _ := parseObject(first[0])
		return ev != nil && ev.has("kind")
	}
	meta, _ := o.obj("metadata")
	return o.has("attempt") || meta != nil && meta.has("llm") && !meta.has("llm_config")
}

// v1Conversation turns V1 events into messages.
type v1Conversation struct {
	msgs     []schemas.Message
	tools    string
	status   string // the last execution_status the conversation reported
	finished bool   // a FinishAction
	errText  string // a ConversationErrorEvent's detail
	lastResp string // the llm_response_id of the last assistant message built from actions
	repaired *bool
}

// v1Ignored are the kinds that are not part of what the model saw.
var v1Ignored = []string{"Condensation", "CondensationRequest", "LLMCompletionLogEvent", "TokenEvent", "StreamingDeltaEvent",
	"PauseEvent", "InterruptEvent", "HookExecutionEvent", "ACPToolCallEvent"}

// partsText joins a V1 content list (TextContent, ImageContent) as text.
func partsText(raw json.RawMessage) (string, error) {
	if isNull(raw) || len(bytes.TrimSpace(raw)) == 0 {
		return "", nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	if m, ok := v.(map[string]any); ok { // one TextContent
		v = []any{m}
	}
	return contentValue(v)
}

func (c *v1Conversation) add(ev object) error {
	kind := ev.str("kind")
	switch kind {
	case "SystemPromptEvent":
		sp, err := partsText(ev["system_prompt"])
		if err != nil {
			return fmt.Errorf("system_prompt: %w", err)
		}
		if dc, err := partsText(ev["dynamic_context"]); err == nil && dc != "" {
			sp += dc
		}
		if t := bytes.TrimSpace(ev["tools"]); len(t) > 0 && !isNull(t) && string(t) != "[]" {
			c.tools = string(t)
		}
		c.msgs = append(c.msgs, schemas.Message{Role: "system", Content: text(sp, c.repaired)})
	case "MessageEvent":
		msg, err := ev.obj("llm_message")
		if err != nil || msg == nil {
			return fmt.Errorf("MessageEvent without llm_message")
		}
		content, err := partsText(msg["content"])
		if err != nil {
			return fmt.Errorf("llm_message.content: %w", err)
		}
		role := msg.str("role")
		if role != "user" && role != "assistant" && role != "system" {
			return fmt.Errorf("MessageEvent role %q", role)
		}
		c.msgs = append(c.msgs, schemas.Message{Role: role, Content: text(content, c.repaired)})
		c.lastResp = ""
	case "ActionEvent":
		call, err := ev.obj("tool_call")
		if err != nil || call == nil {
			return fmt.Errorf("ActionEvent without tool_call")
		}
		thought, err := partsText(ev["thought"])
		if err != nil {
			return fmt.Errorf("thought: %w", err)
		}
		tc := schemas.ToolCall{ID: text(cmp.Or(call.str("id"), ev.str("tool_call_id")), c.repaired), Name: text(cmp.Or(call.str("name"), ev.str("tool_name")), c.repaired),
			Arguments: text(call.str("arguments"), c.repaired)}
		if act, _ := ev.obj("action"); act != nil && act.str("kind") == "FinishAction" {
			c.finished = true
		}
		// The actions of one response (parallel tool calls) are one
		// assistant message, as events_to_messages builds it.
		resp := ev.str("llm_response_id")
		if n := len(c.msgs); resp != "" && resp == c.lastResp && n > 0 && c.msgs[n-1].Role == "assistant" {
			c.msgs[n-1].ToolCalls = append(c.msgs[n-1].ToolCalls, tc)
			return nil
		}
		c.msgs = append(c.msgs, schemas.Message{Role: "assistant", Content: text(thought, c.repaired), ToolCalls: []schemas.ToolCall{tc}})
		c.lastResp = resp
	case "ObservationEvent", "UserRejectObservation", "AgentErrorEvent":
		var content string
		switch kind {
		case "ObservationEvent":
			obs, err := ev.obj("observation")
			if err != nil || obs == nil {
				return fmt.Errorf("ObservationEvent without observation")
			}
			if content, err = partsText(obs["content"]); err != nil {
				return fmt.Errorf("observation.content: %w", err)
			}
		case "UserRejectObservation":
			content = "Action rejected: " + cmp.Or(ev.str("rejection_reason"), "User rejected the action")
		default:
			content = ev.str("error")
		}
		c.msgs = append(c.msgs, schemas.Message{Role: "tool", Content: text(content, c.repaired), ToolCallID: text(ev.str("tool_call_id"), c.repaired),
			Name: text(ev.str("tool_name"), c.repaired)})
		c.lastResp = ""
	case "ConversationStateUpdateEvent":
		if ev.str("key") == "execution_status" {
			c.status = ev.str("value")
		}
	case "ConversationErrorEvent":
		c.errText = cmp.Or(ev.str("detail"), ev.str("code"), "conversation error")
	case "CondensationSummaryEvent":
		c.msgs = append(c.msgs, schemas.Message{Role: "user", Content: text(ev.str("summary"), c.repaired)})
	default:
		if slices.Contains(v1Ignored, kind) {
			return nil
		}
		if kind == "" {
			return fmt.Errorf("an event without a kind: not an OpenHands V1 event")
		}
		return fmt.Errorf("unknown event kind %q", kind)
	}
	return nil
}

// finish sets the rollout's conversation and exit.
func (c *v1Conversation) finish(ro *schemas.Rollout) {
	ro.Messages = c.msgs
	ro.Tools = c.tools
	ro.Submitted = c.finished
	switch {
	case c.errText != "":
		ro.ExitReasonRaw = text(c.errText, c.repaired)
	case c.status != "":
		ro.ExitReasonRaw = c.status
	case c.finished:
		ro.ExitReasonRaw = "finished"
	}
}

// decodeOpenHandsV1Output reads a V1 evaluation output row.
func decodeOpenHandsV1Output(r *Record, o Options) (Rows, error) {
	obj, err := parseObject(r.Data)
	if err != nil {
		return Rows{}, err
	}
	var events []object
	if err := json.Unmarshal(obj["history"], &events); err != nil {
		return Rows{}, fmt.Errorf("history: %w", err)
	}
	var ro schemas.Rollout
	var repaired bool
	ro.Source = "openhands-v1"
	conv := v1Conversation{repaired: &repaired}
	for i, ev := range events {
		if err := conv.add(ev); err != nil {
			return Rows{}, fmt.Errorf("history[%d]: %w", i, err)
		}
	}
	conv.finish(&ro)
	if len(events) == 0 {
		if instr := obj.str("instruction"); instr != "" {
			ro.Messages = []schemas.Message{{Role: "user", Content: text(instr, &repaired)}}
		}
	}
	iid := obj.str("instance_id")
	if iid == "" {
		return Rows{}, fmt.Errorf("no instance_id")
	}
	ro.TaskID = taskIDFor(o, text(iid, &repaired))
	if meta, _ := obj.obj("metadata"); meta != nil {
		if llm, _ := meta.obj("llm"); llm != nil {
			ro.Policy = llm.str("model")
		}
		if dir := meta.str("eval_output_dir"); dir != "" {
			ro.RunID = path.Base(strings.ReplaceAll(dir, "\\", "/"))
		}
	}
	ro.RunID = cmp.Or(ro.RunID, runIDFromPath(r.File))
	if n, err := obj.count("attempt", 1<<20); err != nil {
		return Rows{}, err
	} else if n != nil && *n > 0 {
		ro.SampleIdx = int32(*n - 1)
	}
	if tr, _ := obj.obj("test_result"); tr != nil {
		ro.Patch = text(tr.str("git_patch"), &repaired)
		if rep, _ := tr.obj("report"); rep != nil {
			ro.Resolved, _ = rep.boolean("resolved")
		}
	}
	if e := obj.str("error"); e != "" {
		openHandsExit(&ro, e, &repaired)
	} else if ro.ExitReasonRaw == "" && len(events) > 0 {
		openHandsExit(&ro, "", &repaired)
	}
	finishRollout(&ro, o, r.Data)
	return Rows{Rollouts: []schemas.Rollout{ro}, Repaired: repaired}, nil
}

// eventName is the SDK's event file name: event-<index, 5+ digits>-<id>.json
// (conversation/persistence_const.py).
var eventName = regexp.MustCompile(`^event-(\d{5,})-[0-9a-fA-F-]{8,}\.json$`)

// V1ConversationDir is the directory a V1 conversation file belongs to:
// events/event-*.json belong to the directory above events/, where
// base_state.json is.
func V1ConversationDir(file string) string {
	dir := path.Dir(strings.ReplaceAll(file, "\\", "/"))
	if path.Base(dir) == "events" {
		return path.Dir(dir)
	}
	return dir
}

// ArchiveInstance is the instance id of a member of the benchmarks'
// conversations/<instance_id>.tar.gz archives ("" for other files):
// ingest names an archive's conversation <archive>/<path in the archive>.
func ArchiveInstance(file string) string {
	for _, suf := range []string{".tar.gz/", ".tgz/"} {
		if i := strings.Index(file, suf); i >= 0 {
			return path.Base(file[:i])
		}
	}
	return ""
}

// decodeOpenHandsV1Events reads one V1 conversation: its files (base_state.json,
// events/event-*.json, or an events JSONL), events in their index order.
func decodeOpenHandsV1Events(r *Record, o Options) (Rows, error) {
	type indexed struct {
		idx int64
		ev  object
	}
	var events []indexed
	var state object
	var repaired bool
	for _, f := range r.Group {
		base := path.Base(f.File)
		if m := eventName.FindStringSubmatch(base); m != nil {
			idx, _ := strconv.ParseInt(m[1], 10, 64)
			ev, err := parseObject(f.Data)
			if err != nil {
				return Rows{}, fmt.Errorf("%s: %w", f.File, err)
			}
			events = append(events, indexed{idx, ev})
			continue
		}
		obj, err := parseObject(bytes.TrimSpace(f.Data))
		if err == nil && isV1State(obj) {
			if state != nil {
				return Rows{}, fmt.Errorf("%s: a second base_state.json in conversation %s", f.File, r.File)
			}
			state = obj
			continue
		}
		// A stream: one event per line.
		sc := bufio.NewScanner(bytes.NewReader(f.Data))
		sc.Buffer(nil, len(f.Data)+1)
		for line := int64(1); sc.Scan(); line++ {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			ev, err := parseObject(sc.Bytes())
			if err != nil {
				return Rows{}, fmt.Errorf("%s line %d: %w", f.File, line, err)
			}
			if !isV1Event(ev) {
				return Rows{}, fmt.Errorf("%s line %d: not an OpenHands V1 event", f.File, line)
			}
			events = append(events, indexed{int64(len(events)), ev})
		}
	}
	if len(events) == 0 {
		return Rows{}, fmt.Errorf("conversation %s: no events", r.File)
	}
	slices.SortStableFunc(events, func(a, b indexed) int { return cmp.Compare(a.idx, b.idx) })
	var ro schemas.Rollout
	ro.Source = "openhands-v1"
	conv := v1Conversation{repaired: &repaired}
	for i, e := range events {
		if err := conv.add(e.ev); err != nil {
			return Rows{}, fmt.Errorf("conversation %s, event %d: %w", r.File, i, err)
		}
	}
	conv.finish(&ro)
	convID := path.Base(r.File)
	if state != nil {
		convID = cmp.Or(state.str("id"), convID)
		if agent, _ := state.obj("agent"); agent != nil {
			if llm, _ := agent.obj("llm"); llm != nil {
				ro.Policy = llm.str("model")
			}
		}
		// The saved state's status is the conversation's last word.
		if st := state.str("execution_status"); st != "" && conv.errText == "" {
			ro.ExitReasonRaw = st
		}
	}
	// The benchmarks name an archive after its instance; a conversation
	// saved elsewhere names none: --task-source and the directory say it.
	iid := cmp.Or(ArchiveInstance(r.File), convID)
	ro.TaskID = taskIDFor(o, iid)
	ro.RunID = cmp.Or(o.RunID, "openhands-v1")
	ro.RolloutID = ro.RunID + "/" + iid + "/" + convID
	raw := map[string]json.RawMessage{}
	for _, f := range r.Group {
		if json.Valid(f.Data) {
			raw[f.File] = f.Data
		} else {
			b, _ := json.Marshal(string(f.Data))
			raw[f.File] = b
		}
	}
	rawBytes, _ := json.Marshal(raw)
	finishRollout(&ro, o, rawBytes)
	return Rows{Rollouts: []schemas.Rollout{ro}, Repaired: repaired}, nil
}
