package formats

import (
	"bytes"
	"cmp"
	"fmt"
	json "github.com/goccy/go-json"
	"slices"
	"strings"

	"github.com/swelake/swelake/schemas"
)

// The public trajectory sets on the Hugging Face hub: rows of one table,
// one trajectory each, read from the Parquet shards of a split or their
// JSON exports. Their rollout ids name the set ("nebius-openhands/<id>").

// datasetRollout names a dataset row's rollout: <source>/<the row's id>, or
// <source>/<16 hex of its task and conversation> for sets whose rows carry
// none (re-ingesting stays a no-op); the run is --run-id, else the set.
func datasetRollout(ro *schemas.Rollout, o Options, source, id string) {
	ro.RunID = cmp.Or(o.RunID, source)
	if id != "" {
		ro.RolloutID = source + "/" + id
		return
	}
	ro.RolloutID = fmt.Sprintf("%s/%s", source, rolloutHash(&schemas.Rollout{TaskID: ro.TaskID, Messages: ro.Messages})[:16])
}

// nebiusStep is one entry of nebius/SWE-agent-trajectories' trajectory.
type nebiusStep struct {
	Role         string  `json:"role"`
	Text         *string `json:"text"`
	SystemPrompt *string `json:"system_prompt"`
	Mask         *bool   `json:"mask"`
	CutoffDate   *string `json:"cutoff_date"`
}

// decodeNebiusSWEAgent reads nebius/SWE-agent-trajectories: SWE-agent runs
// whose messages are {role: system|user|ai, text} (the system prompt in
// system_prompt), target the grading, generated_patch the submission.
func decodeNebiusSWEAgent(r *Record, o Options) (Rows, error) {
	var row struct {
		InstanceID     string       `json:"instance_id"`
		ModelName      string       `json:"model_name"`
		Target         any          `json:"target"`
		Trajectory     []nebiusStep `json:"trajectory"`
		ExitStatus     string       `json:"exit_status"`
		GeneratedPatch string       `json:"generated_patch"`
	}
	if err := json.Unmarshal(r.Data, &row); err != nil {
		return Rows{}, err
	}
	var ro schemas.Rollout
	var repaired bool
	ro.Source = "nebius-swe-agent"
	for i, s := range row.Trajectory {
		var m schemas.Message
		switch s.Role {
		case "system":
			m = schemas.Message{Role: "system", Content: text(cmp.Or(deref(s.SystemPrompt), deref(s.Text)), &repaired)}
		case "user":
			m = schemas.Message{Role: "user", Content: text(deref(s.Text), &repaired)}
		case "ai", "assistant":
			m = schemas.Message{Role: "assistant", Content: text(deref(s.Text), &repaired)}
		default:
			return Rows{}, fmt.Errorf("trajectory[%d]: role %q (the set's roles are system, user, ai)", i, s.Role)
		}
		ro.Messages = append(ro.Messages, m)
	}
	if len(ro.Messages) == 0 {
		return Rows{}, fmt.Errorf("trajectory: no messages")
	}
	if row.InstanceID == "" {
		return Rows{}, fmt.Errorf("no instance_id")
	}
	var err error
	if ro.Resolved, err = anyBool("target", row.Target); err != nil {
		return Rows{}, err
	}
	ro.TaskID = taskIDFor(o, text(row.InstanceID, &repaired))
	ro.Policy = text(row.ModelName, &repaired)
	ro.ExitReasonRaw = text(row.ExitStatus, &repaired)
	ro.Submitted = strings.HasPrefix(ro.ExitReasonRaw, "submitted")
	ro.Patch = text(row.GeneratedPatch, &repaired)
	datasetRollout(&ro, o, ro.Source, "")
	finishRollout(&ro, o, r.Data)
	return Rows{Rollouts: []schemas.Rollout{ro}, Repaired: repaired}, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// decodeTrajectoryChat reads the sets whose trajectory column is an OpenAI
// message list: nebius/SWE-rebench-openhands-trajectories (resolved as
// 0/1, exit_status, tools, gen_tests_correct) and NVIDIA's OpenHands traces
// (SWE-Zero, SWE-Hero, Open-SWE: dataset names where the task came from,
// license). Tool-call arguments are JSON strings, as the sets' cards say.
func decodeTrajectoryChat(r *Record, o Options) (Rows, error) {
	var row struct {
		TrajectoryID string          `json:"trajectory_id"`
		InstanceID   string          `json:"instance_id"`
		Trajectory   []wireMessage   `json:"trajectory"`
		Tools        json.RawMessage `json:"tools"`
		ModelPatch   *string         `json:"model_patch"`
		ExitStatus   string          `json:"exit_status"`
		Resolved     any             `json:"resolved"`
		Dataset      string          `json:"dataset"`
		License      *string         `json:"license"`
		Model        string          `json:"model"`
		GenTests     any             `json:"gen_tests_correct"`
	}
	if err := json.Unmarshal(r.Data, &row); err != nil {
		return Rows{}, err
	}
	if row.TrajectoryID == "" || row.InstanceID == "" {
		return Rows{}, fmt.Errorf("no trajectory_id or instance_id")
	}
	var ro schemas.Rollout
	var repaired bool
	obj, _ := parseObject(r.Data)
	taskOpts := o
	switch {
	case obj.has("license") && obj.has("dataset"):
		ro.Source = "nvidia"
		if taskOpts.TaskSource == "" && row.Dataset != "" {
			taskOpts.TaskSource = datasetNamespace(row.Dataset)
		}
	case obj.has("resolved") || obj.has("gen_tests_correct"):
		ro.Source = "nebius-openhands"
		// The set's tasks are nebius/SWE-rebench's.
		taskOpts.TaskSource = cmp.Or(taskOpts.TaskSource, "swe-rebench")
	default:
		ro.Source = "trajectory-chat"
	}
	for i := range row.Trajectory {
		m, err := row.Trajectory[i].message(&repaired)
		if err != nil {
			return Rows{}, fmt.Errorf("trajectory[%d]: %w", i, err)
		}
		ro.Messages = append(ro.Messages, m)
	}
	if len(ro.Messages) == 0 {
		return Rows{}, fmt.Errorf("trajectory: no messages")
	}
	if t := bytes.TrimSpace(row.Tools); len(t) > 0 && !isNull(t) && string(t) != "[]" {
		ro.Tools = text(string(t), &repaired)
	}
	var err error
	if ro.Resolved, err = anyBool("resolved", row.Resolved); err != nil {
		return Rows{}, err
	}
	ro.TaskID = taskIDFor(taskOpts, text(row.InstanceID, &repaired))
	ro.Policy = text(row.Model, &repaired)
	ro.ExitReasonRaw = text(row.ExitStatus, &repaired)
	if row.ModelPatch != nil {
		ro.Patch = text(*row.ModelPatch, &repaired)
	}
	ro.Submitted = ro.ExitReasonRaw == "submit" || ro.ExitReasonRaw == "finish" || ro.ExitReasonRaw == "" && ro.Patch != ""
	datasetRollout(&ro, o, ro.Source, text(row.TrajectoryID, &repaired))
	finishRollout(&ro, o, r.Data)
	return Rows{Rollouts: []schemas.Rollout{ro}, Repaired: repaired}, nil
}

// datasetNamespace is the task namespace of a set NVIDIA's rows name
// ("SWE-Gym" → swe-gym, "nebius/SWE-rebench" → swe-rebench).
func datasetNamespace(name string) string {
	n := strings.ToLower(name)
	if i := strings.LastIndexByte(n, '/'); i >= 0 {
		n = n[i+1:]
	}
	return strings.NewReplacer("_", "-", " ", "-").Replace(n)
}

// decodeSWELego reads a SWE-Lego row as a rollout: its messages are the
// trajectory. Its patch column is the task's gold patch (the row is task
// and trajectory in one), so it is never the rollout's patch; the agent's
// own is taken only from a column that says so.
func decodeSWELego(r *Record, o Options) (Rows, error) {
	obj, err := parseObject(r.Data)
	if err != nil {
		return Rows{}, err
	}
	row, err := decodeChatRow(r.Data)
	if err != nil {
		return Rows{}, err
	}
	var ro schemas.Rollout
	var repaired bool
	ro.Source = "swe-lego"
	if ro.Messages, err = chatMessages(row.Messages, &repaired); err != nil {
		return Rows{}, err
	}
	if row.InstanceID == "" {
		return Rows{}, fmt.Errorf("no instance_id")
	}
	taskOpts := o
	taskOpts.TaskSource = cmp.Or(o.TaskSource, "swe-lego")
	ro.TaskID = taskIDFor(taskOpts, text(row.InstanceID, &repaired))
	ro.Patch = text(obj.firstStr("model_patch", "pred_patch", "agent_patch", "generated_patch"), &repaired)
	if ro.Resolved, err = anyBool("resolved", row.Resolved); err != nil {
		return Rows{}, err
	}
	if ro.Reward, err = anyFloat("reward", row.Reward); err != nil {
		return Rows{}, err
	}
	ro.ExitReasonRaw = text(orStr(row.ExitReason, row.ExitStatus), &repaired)
	ro.Policy = text(orStr(row.Model, row.ModelName), &repaired)
	datasetRollout(&ro, o, ro.Source, text(orStr(row.TrajID, row.RolloutID), &repaired))
	finishRollout(&ro, o, r.Data)
	return Rows{Rollouts: []schemas.Rollout{ro}, Repaired: repaired}, nil
}

// decodeSWEGymOpenHands reads SWE-Gym/OpenHands-Sampled-Trajectories: chat
// messages, the agent's patch in test_result.git_patch, resolved; the
// tasks are SWE-Gym's.
func decodeSWEGymOpenHands(r *Record, o Options) (Rows, error) {
	obj, err := parseObject(r.Data)
	if err != nil {
		return Rows{}, err
	}
	row, err := decodeChatRow(r.Data)
	if err != nil {
		return Rows{}, err
	}
	var ro schemas.Rollout
	var repaired bool
	ro.Source = "swe-gym-openhands"
	if ro.Messages, err = chatMessages(row.Messages, &repaired); err != nil {
		return Rows{}, err
	}
	if row.InstanceID == "" {
		return Rows{}, fmt.Errorf("no instance_id")
	}
	tr, err := obj.obj("test_result")
	if err != nil {
		return Rows{}, err
	}
	if tr != nil {
		ro.Patch = text(tr.str("git_patch"), &repaired)
	}
	if ro.Resolved, err = anyBool("resolved", row.Resolved); err != nil {
		return Rows{}, err
	}
	if ro.Resolved == nil && tr != nil {
		if rep, _ := tr.obj("report"); rep != nil {
			ro.Resolved, _ = rep.boolean("resolved")
		}
	}
	taskOpts := o
	taskOpts.TaskSource = cmp.Or(o.TaskSource, "swe-gym")
	ro.TaskID = taskIDFor(taskOpts, text(row.InstanceID, &repaired))
	ro.Submitted = ro.Patch != ""
	ro.ExitReasonRaw = text(orStr(row.ExitReason, row.ExitStatus), &repaired)
	ro.Policy = text(orStr(row.Model, row.ModelName), &repaired)
	datasetRollout(&ro, o, ro.Source, "")
	if row.RunID != "" {
		ro.RunID = cmp.Or(o.RunID, text(row.RunID, &repaired))
	}
	finishRollout(&ro, o, r.Data)
	return Rows{Rollouts: []schemas.Rollout{ro}, Repaired: repaired}, nil
}

// decodeOpenHandsFeedback reads an openhands-feedback row: a conversation
// a user shared, with no task behind it (openhands-feedback/<id>). Its
// events are V0 events as the OpenDevin server sent them, an action's
// arguments in extras.
func decodeOpenHandsFeedback(r *Record, o Options) (Rows, error) {
	obj, err := parseObject(r.Data)
	if err != nil {
		return Rows{}, err
	}
	var events []object
	if err := json.Unmarshal(obj["trajectory"], &events); err != nil {
		return Rows{}, fmt.Errorf("trajectory: %w", err)
	}
	id := obj.str("id")
	if id == "" {
		if raw, ok := obj["id"]; ok && !isNull(raw) {
			id = string(bytes.TrimSpace(raw))
		}
	}
	if id == "" {
		return Rows{}, fmt.Errorf("no id")
	}
	var ro schemas.Rollout
	var repaired bool
	ro.Source = "openhands-feedback"
	conv := v0Conversation{repaired: &repaired}
	for i, ev := range events {
		if ev.str("action") == "initialize" {
			if ex, _ := ev.obj("extras"); ex != nil {
				ro.Policy = ex.str("LLM_MODEL")
			}
			continue
		}
		if err := conv.add(ev); err != nil {
			return Rows{}, fmt.Errorf("trajectory[%d]: %w", i, err)
		}
	}
	ro.Messages = conv.msgs
	ro.Submitted = conv.finished
	ro.ExitReasonRaw = "unknown"
	if conv.finished {
		ro.ExitReasonRaw = "finish"
	}
	ro.TaskID = TaskID("openhands-feedback", id)
	datasetRollout(&ro, o, ro.Source, id)
	finishRollout(&ro, o, r.Data)
	return Rows{Rollouts: []schemas.Rollout{ro}, Repaired: repaired}, nil
}

// v0Conversation turns OpenHands V0 events into messages: actions are
// assistant turns with a tool call (id and function from
// tool_call_metadata where recorded, else call_<event id>), observations
// the tool messages answering them (by tool_call_metadata, else the
// action their cause names, else the last unanswered call). An event of
// no known shape is an error: a layout this reader does not know is
// refused, not read thinner.
type v0Conversation struct {
	msgs     []schemas.Message
	pending  []string // calls not answered yet, oldest first
	byEvent  map[string]string
	finished bool
	repaired *bool
}

// v0Bookkeeping are V0 events that are not part of the conversation.
var v0Bookkeeping = []string{"agent_state_changed", "change_agent_state", "null", "recall", "initialize", "condensation", "user_rejected", "delegate"}

func (c *v0Conversation) add(ev object) error {
	if ev.has("kind") && !ev.has("action") && !ev.has("observation") {
		return fmt.Errorf("an OpenHands V1 event (kind %s): read the file as openhands-v1", ev.str("kind"))
	}
	action, observation := ev.str("action"), ev.str("observation")
	meta, _ := ev.obj("tool_call_metadata")
	callID, fnName := "", ""
	if meta != nil {
		callID, fnName = meta.str("tool_call_id"), meta.str("function_name")
	}
	switch {
	case observation != "":
		if slices.Contains(v0Bookkeeping, observation) {
			return nil
		}
		if callID == "" {
			if cause := ev.str("cause"); cause != "" {
				callID = c.byEvent[cause]
			} else if raw, ok := ev["cause"]; ok && !isNull(raw) {
				callID = c.byEvent[string(bytes.TrimSpace(raw))]
			}
		}
		if callID == "" && len(c.pending) > 0 {
			callID = c.pending[0]
		}
		if i := slices.Index(c.pending, callID); i >= 0 {
			c.pending = slices.Delete(c.pending, i, i+1)
		}
		c.msgs = append(c.msgs, schemas.Message{Role: "tool", Content: text(ev.str("content"), c.repaired), ToolCallID: text(callID, c.repaired), Name: text(orStr(fnName, observation), c.repaired)})
		return nil
	case action != "":
		if slices.Contains(v0Bookkeeping, action) {
			return nil
		}
		args, err := ev.obj("args")
		if err != nil {
			return err
		}
		argsKey := "args"
		if args == nil {
			if args, err = ev.obj("extras"); err != nil {
				return err
			}
			argsKey = "extras"
		}
		if action == "message" || action == "system" {
			role := "assistant"
			switch {
			case action == "system":
				role = "system"
			case ev.str("source") == "user":
				role = "user"
			}
			msg := cmp.Or(ev.str("message"), ev.str("content"))
			if args != nil && args.str("content") != "" {
				msg = args.str("content")
			}
			c.msgs = append(c.msgs, schemas.Message{Role: role, Content: text(msg, c.repaired)})
			return nil
		}
		if action == "finish" {
			c.finished = true
		}
		argText := "{}"
		if a, ok := ev[argsKey]; ok && !isNull(a) {
			argText = string(bytes.TrimSpace(a))
		}
		id := ev.str("id")
		if id == "" {
			if raw, ok := ev["id"]; ok && !isNull(raw) {
				id = string(bytes.TrimSpace(raw))
			}
		}
		if callID == "" {
			callID = "call_" + id
		}
		if c.byEvent == nil {
			c.byEvent = map[string]string{}
		}
		c.byEvent[id] = callID
		c.pending = append(c.pending, callID)
		thought := ""
		if args != nil {
			thought = args.str("thought")
		}
		c.msgs = append(c.msgs, schemas.Message{Role: "assistant", Content: text(thought, c.repaired),
			ToolCalls: []schemas.ToolCall{{ID: text(callID, c.repaired), Name: text(orStr(fnName, action), c.repaired), Arguments: text(argText, c.repaired)}}})
		return nil
	}
	if ev.str("source") == "environment" {
		return nil // the server's acknowledgements ({"content": "ok"}) carry neither
	}
	keys := make([]string, 0, len(ev))
	for k := range ev {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return fmt.Errorf("an event with neither action nor observation (keys %s)", strings.Join(keys, ", "))
}

// chatMessages converts a row's OpenAI messages; a row without any is an
// error (there is no rollout in it).
func chatMessages(wire []wireMessage, repaired *bool) ([]schemas.Message, error) {
	out := make([]schemas.Message, len(wire))
	for i := range wire {
		m, err := wire[i].message(repaired)
		if err != nil {
			return nil, fmt.Errorf("messages[%d]: %w", i, err)
		}
		out[i] = m
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no messages")
	}
	return out, nil
}
