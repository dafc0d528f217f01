package formats

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	json "github.com/goccy/go-json"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/swelake/swelake/schemas"
)

func rolloutFormats() []*Format {
	return []*Format{
		{
			Name: "swe-agent", Kind: Rollouts, Unit: UnitFile,
			Doc:     "SWE-agent .traj files: legacy (< 1.0, history only), 1.0.x (per-step messages, tool calls), ≥ 1.1 (per-step query)",
			Example: "swelake ingest rollouts --format swe-agent --run-id my-run trajectories/",
			sig:     []string{"trajectory", "info"},
			not:     []string{"trajectory_format"},
			decode:  decodeSWEAgent,
		},
		{
			Name: "mini-swe-agent", Kind: Rollouts, Unit: UnitFile,
			Doc:     "mini-swe-agent trajectories: legacy bare message list, and mini-swe-agent-1.1 ({info, messages, trajectory_format}) of 1.x and 2.x, chat and Responses-API models alike (role-less `object: response` items, function_call / function_call_output, input_text parts)",
			Example: "swelake ingest rollouts --format mini-swe-agent runs/*.traj.json",
			detect: func(p *Probe) bool {
				if p.obj != nil && p.obj.has("trajectory_format") {
					return strings.HasPrefix(p.obj.str("trajectory_format"), "mini-swe-agent")
				}
				// Legacy: a bare list of messages; the probe holds its first
				// (a file's first record), or the list.
				first := p.obj
				if first == nil && len(p.arr) > 0 {
					first, _ = parseObject(p.arr[0])
				}
				return first != nil && first.has("role") && first.has("content") && len(first) <= 4
			},
			decode: decodeMini,
		},
		{
			Name: "openhands", Kind: Rollouts, Unit: UnitRows,
			Doc:     "OpenHands (V0) evaluation output.jsonl rows (instance_id, history of V0 events — action / observation, tool_call_metadata — and test_result.git_patch)",
			Example: "swelake ingest rollouts --format openhands output.jsonl",
			sig:     []string{"instance_id", "history", "test_result"},
			detect:  func(p *Probe) bool { return !isV1Output(p.obj) },
			decode:  decodeOpenHands,
		},
		{
			Name: "openhands-v1", Kind: Rollouts, Unit: UnitRows,
			Doc:     "OpenHands V1 (software-agent-sdk) evaluation output.jsonl rows: instance_id, attempt, history of typed events (SystemPromptEvent, MessageEvent, ActionEvent, ObservationEvent, AgentErrorEvent, …), test_result.git_patch, metadata.llm.model",
			Example: "swelake ingest rollouts --format openhands-v1 eval_outputs/output.jsonl",
			sig:     []string{"instance_id", "history", "test_result"},
			detect:  func(p *Probe) bool { return isV1Output(p.obj) },
			decode:  decodeOpenHandsV1Output,
		},
		{
			Name: "openhands-v1-events", Kind: Rollouts, Unit: UnitDir,
			Doc:      "OpenHands V1 saved conversations: a conversation directory (base_state.json + events/event-NNNNN-<id>.json), an event stream as JSONL, or the benchmarks' conversations/<instance_id>.tar.gz archives (streamed); one rollout per conversation, the policy and final status from base_state.json",
			Example:  "swelake ingest rollouts --format openhands-v1-events eval_outputs/conversations/",
			detect:   func(p *Probe) bool { return p.obj != nil && (isV1Event(p.obj) || isV1State(p.obj)) },
			decode:   decodeOpenHandsV1Events,
			groupDir: V1ConversationDir,
		},
		{
			Name: "openhands-feedback", Kind: Rollouts, Unit: UnitRows,
			Doc:     "OpenHands/openhands-feedback rows (version, feedback, permissions, timestamp, trajectory of V0 events with extras; no instance id: the task is openhands-feedback/<id>)",
			Example: "swelake ingest rollouts --format openhands-feedback openhands-feedback/data/",
			sig:     []string{"feedback", "trajectory", "version"},
			decode:  decodeOpenHandsFeedback,
		},
		{
			Name: "openhands-completions", Kind: Rollouts, Unit: UnitDir,
			Doc:     "OpenHands llm_completions/<instance>/*.json: one rollout per directory, files ordered by the float timestamp in their names",
			Example: "swelake ingest rollouts --format openhands-completions llm_completions/",
			sig:     []string{"messages", "response", "timestamp"},
			decode:  decodeCompletions,
		},
		{
			Name: "r2e-gym", Kind: Rollouts, Unit: UnitRows,
			Doc:     "R2E-Gym Trajectory JSONL (trajectory_steps with thought/action/observation, reward, output_patch)",
			Example: "swelake ingest rollouts --format r2e-gym traj.jsonl",
			sig:     []string{"trajectory_steps"},
			decode:  decodeR2E,
		},
		{
			Name: "nebius-swe-agent", Kind: Rollouts, Unit: UnitRows,
			Doc:     "nebius/SWE-agent-trajectories rows (instance_id, model_name, target, trajectory of {role: system/user/ai, text, system_prompt, mask}, exit_status, generated_patch, eval_logs): target is resolved",
			Example: "swelake ingest rollouts --format nebius-swe-agent SWE-agent-trajectories/data/",
			sig:     []string{"instance_id", "trajectory", "target", "generated_patch"},
			decode:  decodeNebiusSWEAgent,
		},
		{
			Name: "trajectory-chat", Kind: Rollouts, Unit: UnitRows,
			Doc:     "chat trajectory sets with a trajectory column of OpenAI messages: nebius/SWE-rebench-openhands-trajectories (trajectory_id, tools, model_patch, exit_status, resolved, gen_tests_correct) and NVIDIA's SWE-Zero / SWE-Hero / Open-SWE traces (trajectory_id, model_patch, dataset, license); ids <source>/<trajectory_id>",
			Example: "swelake ingest rollouts --format trajectory-chat SWE-rebench-openhands-trajectories/data/",
			sig:     []string{"trajectory_id", "instance_id", "trajectory"},
			decode:  decodeTrajectoryChat,
		},
		{
			Name: "swe-lego", Kind: Rollouts, Unit: UnitRows,
			Doc:     "SWE-Lego trajectory rows (instance_id, messages, and the task's own columns: patch — the gold patch, never stored as the agent's —, FAIL_TO_PASS, PASS_TO_PASS); resolved where the row says",
			Example: "swelake ingest rollouts --format swe-lego swe-lego/data/",
			sig:     []string{"instance_id", "messages", "FAIL_TO_PASS"},
			decode:  decodeSWELego,
		},
		{
			Name: "swe-gym-openhands", Kind: Rollouts, Unit: UnitRows,
			Doc:     "SWE-Gym/OpenHands-Sampled-Trajectories rows (instance_id, messages, test_result.git_patch, resolved): tasks are swe-gym/<instance_id>",
			Example: "swelake ingest rollouts --format swe-gym-openhands OpenHands-Sampled-Trajectories/data/",
			sig:     []string{"instance_id", "messages", "test_result"},
			decode:  decodeSWEGymOpenHands,
		},
		{
			Name: "swe-smith", Kind: Rollouts, Unit: UnitRows,
			Doc:     "SWE-smith trajectory rows (messages as a list or a JSON string, instance_id)",
			Example: "swelake ingest rollouts --format swe-smith ft_xml.jsonl",
			sig:     []string{"messages", "instance_id"},
			not:     []string{"history", "trajectory_format", "FAIL_TO_PASS", "test_result", "patch"},
			decode:  decodeChat("swe-smith"),
		},
		{
			Name: "openrlhf", Kind: Rollouts, Unit: UnitRows,
			Doc:     "OpenRLHF multi-turn SFT rows (input messages, step_count, reward)",
			Example: "swelake ingest rollouts --format openrlhf sft_data.jsonl",
			sig:     []string{"input"},
			not:     []string{"messages"},
			decode:  decodeOpenRLHF,
		},
		{
			Name: "openai-chat", Kind: Rollouts, Unit: UnitRows,
			Doc:     "OpenAI chat JSONL (messages, optional tools, task_id, reward, resolved, exit_reason, patch)",
			Example: "swelake ingest rollouts --format openai-chat chats.jsonl",
			sig:     []string{"messages"},
			not:     []string{"instance_id", "response", "trajectory_format"},
			decode:  decodeChat("openai-chat"),
		},
	}
}

func decodeSWEAgent(r *Record, o Options) (Rows, error) {
	obj, err := parseObject(r.Data)
	if err != nil {
		return Rows{}, err
	}
	var ro schemas.Rollout
	var repaired bool
	ro.Source = "swe-agent"
	info, err := obj.obj("info")
	if err != nil {
		return Rows{}, err
	}
	// The conversation: the top-level history, else the last step's
	// messages (1.0.x) or query (≥ 1.1) followed by its response.
	if obj.has("history") {
		if ro.Messages, err = messages(obj["history"], &repaired); err != nil {
			return Rows{}, fmt.Errorf("history: %w", err)
		}
	} else {
		var steps []object
		if err := json.Unmarshal(obj["trajectory"], &steps); err != nil {
			return Rows{}, fmt.Errorf("trajectory: %w", err)
		}
		if len(steps) > 0 {
			last := steps[len(steps)-1]
			key := "messages"
			if last.has("query") {
				key = "query"
			}
			if ro.Messages, err = messages(last[key], &repaired); err != nil {
				return Rows{}, fmt.Errorf("trajectory[%d].%s: %w", len(steps)-1, key, err)
			}
			if resp := last.str("response"); resp != "" {
				ro.Messages = append(ro.Messages, schemas.Message{Role: "assistant", Content: text(resp, &repaired)})
			}
		}
	}
	// The instance: its own field, else the environment (SWE-agent ≥ 1.0
	// names it after the instance; legacy files say "swe_main"), else the
	// file name (<instance>.traj).
	iid := obj.str("instance_id")
	if env := obj.str("environment"); iid == "" && env != "" && env != "swe_main" {
		iid = env
	}
	if iid == "" {
		iid = baseName(r.File)
	}
	ro.TaskID = taskIDFor(o, iid)
	ro.RunID = runIDFromPath(r.File)
	if info != nil {
		ro.ExitReasonRaw = info.str("exit_status")
		ro.Patch = text(info.str("submission"), &repaired)
		ro.Submitted = strings.HasPrefix(ro.ExitReasonRaw, "submitted")
		// "submitted (exit_cost)", "submitted (exit_context)": the run hit a
		// limit and its patch was submitted for it (forced: the limit
		// inside, normalised by schemas.FinishRollout).
		if ms, _ := info.obj("model_stats"); ms != nil {
			api, err := ms.count("api_calls", math.MaxInt32)
			if err != nil {
				return Rows{}, fmt.Errorf("info.model_stats.%w", err)
			}
			if api != nil {
				ro.NumTurns = int32(*api)
			}
		}
	}
	if cfg := obj.str("replay_config"); cfg != "" {
		if rc, err := parseObject([]byte(cfg)); err == nil {
			if agent, _ := rc.obj("agent"); agent != nil {
				if model, _ := agent.obj("model"); model != nil {
					ro.Policy = model.str("name")
				}
			}
		}
	}
	finishRollout(&ro, o, r.Data)
	return Rows{Rollouts: []schemas.Rollout{ro}, Repaired: repaired}, nil
}

func decodeMini(r *Record, o Options) (Rows, error) {
	var ro schemas.Rollout
	var repaired bool
	ro.Source = "mini-swe-agent"
	t := bytes.TrimSpace(r.Data)
	var err error
	if len(t) > 0 && t[0] == '[' { // legacy: a bare message list
		if ro.Messages, err = messages(t, &repaired); err != nil {
			return Rows{}, err
		}
	} else {
		obj, err := parseObject(t)
		if err != nil {
			return Rows{}, err
		}
		if ro.Messages, err = miniMessages(obj["messages"], &repaired); err != nil {
			return Rows{}, err
		}
		if info, _ := obj.obj("info"); info != nil {
			ro.ExitReasonRaw = info.str("exit_status")
			ro.Patch = text(info.str("submission"), &repaired)
			ro.Submitted = ro.ExitReasonRaw == "Submitted" || strings.HasPrefix(strings.ToLower(ro.ExitReasonRaw), "submitted")
			if cfg, _ := info.obj("config"); cfg != nil {
				if model, _ := cfg.obj("model"); model != nil {
					ro.Policy = model.str("model_name")
				}
			}
		}
		if iid := obj.str("instance_id"); iid != "" {
			ro.TaskID = taskIDFor(o, iid)
		}
	}
	if ro.TaskID == "" {
		ro.TaskID = taskIDFor(o, strings.TrimSuffix(baseName(r.File), ".traj"))
	}
	ro.RunID = runIDFromPath(r.File)
	if ro.ExitReasonRaw == "" && len(ro.Messages) > 0 {
		// Legacy files record no exit status: the agent submitted when its
		// last command echoes the submit marker (real files: the message
		// after it is the submission's output, the diff), or when the last
		// message carries the marker.
		marked := func(s string) bool {
			return strings.Contains(s, "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT") || strings.Contains(s, "MINI_SWE_AGENT_FINAL_OUTPUT")
		}
		if marked(ro.Messages[len(ro.Messages)-1].Content) {
			// (This importer's own spelling since v2: content hashes cover it.)
			ro.ExitReasonRaw, ro.Submitted = "Submitted", true
		}
		for i := len(ro.Messages) - 1; i >= 0 && !ro.Submitted; i-- {
			if m := ro.Messages[i]; m.Role == "assistant" {
				ro.Submitted = marked(m.Content)
				break
			}
		}
	}
	finishRollout(&ro, o, r.Data)
	return Rows{Rollouts: []schemas.Rollout{ro}, Repaired: repaired}, nil
}

// miniMessages reads mini-swe-agent 1.1-format messages: chat messages,
// and — from Responses-API models (2.x) — the role-less response objects
// ({object: response, output: [message, function_call, reasoning]}) and
// function_call_output items. The exit message (role exit) carries what
// info already has and is left out.
func miniMessages(raw json.RawMessage, repaired *bool) ([]schemas.Message, error) {
	var items []object
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	var out []schemas.Message
	for i, it := range items {
		m, ok, err := miniItem(it, repaired)
		if err != nil {
			return nil, fmt.Errorf("messages[%d]: %w", i, err)
		}
		if ok {
			out = append(out, m)
		}
	}
	return out, nil
}

func miniItem(it object, repaired *bool) (schemas.Message, bool, error) {
	switch {
	case it.str("object") == "response":
		var output []object
		if err := json.Unmarshal(it["output"], &output); err != nil {
			return schemas.Message{}, false, fmt.Errorf("response output: %w", err)
		}
		m := schemas.Message{Role: "assistant"}
		for j, o := range output {
			switch o.str("type") {
			case "message":
				var parts any
				if err := json.Unmarshal(o["content"], &parts); err != nil {
					return m, false, fmt.Errorf("output[%d].content: %w", j, err)
				}
				t, err := contentValue(parts)
				if err != nil {
					return m, false, fmt.Errorf("output[%d]: %w", j, err)
				}
				m.Content += text(t, repaired)
			case "function_call":
				m.ToolCalls = append(m.ToolCalls, schemas.ToolCall{ID: text(cmp.Or(o.str("call_id"), o.str("id")), repaired),
					Name: text(o.str("name"), repaired), Arguments: text(o.str("arguments"), repaired)})
			case "reasoning":
				// The model's reasoning summary is not part of the turn.
			default:
				return m, false, fmt.Errorf("output[%d]: unknown Responses-API item type %q", j, o.str("type"))
			}
		}
		return m, true, nil
	case it.str("type") == "function_call_output":
		return schemas.Message{Role: "tool", Content: text(it.str("output"), repaired), ToolCallID: text(it.str("call_id"), repaired)}, true, nil
	case it.str("role") == "exit":
		return schemas.Message{}, false, nil
	case it.has("role"):
		var w wireMessage
		data, _ := json.Marshal(it)
		if err := json.Unmarshal(data, &w); err != nil {
			return schemas.Message{}, false, err
		}
		m, err := w.message(repaired)
		return m, err == nil, err
	}
	keys := make([]string, 0, len(it))
	for k := range it {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return schemas.Message{}, false, fmt.Errorf("an item with no role of no known kind (keys %s)", strings.Join(keys, ", "))
}

func decodeR2E(r *Record, o Options) (Rows, error) {
	obj, err := parseObject(r.Data)
	if err != nil {
		return Rows{}, err
	}
	var ro schemas.Rollout
	var repaired bool
	ro.Source = "r2e-gym"
	agent, _ := obj.obj("agent_args")
	ds, _ := obj.obj("ds")
	if agent != nil {
		if sp := agent.str("system_prompt"); sp != "" {
			ro.Messages = append(ro.Messages, schemas.Message{Role: "system", Content: text(sp, &repaired)})
		}
		ro.Policy = agent.firstStr("llm_name", "model_name")
	}
	user := obj.str("problem_statement")
	if agent != nil {
		if ip := agent.str("instance_prompt"); ip != "" {
			user = strings.ReplaceAll(ip, "{problem_statement}", user)
		}
	}
	ro.Messages = append(ro.Messages, schemas.Message{Role: "user", Content: text(user, &repaired)})
	var steps []object
	if err := json.Unmarshal(obj["trajectory_steps"], &steps); err != nil {
		return Rows{}, fmt.Errorf("trajectory_steps: %w", err)
	}
	var lastTokens *int64
	for i, s := range steps {
		// R2E-Gym sends the model's thought and its text-encoded action
		// (<function=...>) as one response, and the observation back as a
		// user message: kept as the scaffold had them.
		resp := s.str("thought")
		if act := s.str("action"); act != "" {
			if resp != "" {
				resp += "\n\n"
			}
			resp += act
		}
		ro.Messages = append(ro.Messages, schemas.Message{Role: "assistant", Content: text(resp, &repaired)})
		if obs := s.str("observation"); obs != "" || i < len(steps)-1 {
			ro.Messages = append(ro.Messages, schemas.Message{Role: "user", Content: text(obs, &repaired)})
		}
		p, err := s.count("token_usage_prompt", math.MaxInt32)
		if err != nil {
			return Rows{}, fmt.Errorf("step %d: %w", i, err)
		}
		c, err := s.count("token_usage_completion", math.MaxInt32)
		if err != nil {
			return Rows{}, fmt.Errorf("step %d: %w", i, err)
		}
		total, err := s.count("token_usage_total", math.MaxInt32)
		if err != nil {
			return Rows{}, fmt.Errorf("step %d: %w", i, err)
		}
		// The step's token_usage_total is the run's figure (what SWE-Master's
		// filter reads); prompt + completion only where it is missing.
		switch {
		case total != nil:
			lastTokens = total
		case p != nil && c != nil:
			lastTokens = ptr(*p + *c)
		}
	}
	ro.Tokens = lastTokens
	ro.NumTurns = int32(len(steps))
	iid := ""
	if ds != nil {
		iid = ds.str("instance_id")
	}
	taskOpts := o
	if taskOpts.TaskSource == "" && strings.Contains(strings.ToLower(obj.str("docker_image")), "swerebench") {
		taskOpts.TaskSource = "swe-rebench"
	}
	ro.TaskID = taskIDFor(taskOpts, iid)
	ro.RunID = obj.str("exp_name")
	if ro.RunID == "" {
		ro.RunID = runIDFromPath(r.File)
	}
	ro.ExitReasonRaw = obj.str("exit_reason")
	ro.Submitted = ro.ExitReasonRaw == "agent"
	ro.Patch = text(obj.str("output_patch"), &repaired)
	if ro.Reward, err = obj.float("reward"); err != nil {
		return Rows{}, err
	}
	ro.TestReport = text(obj.str("test_output"), &repaired)
	finishRollout(&ro, o, r.Data)
	return Rows{Rollouts: []schemas.Rollout{ro}, Repaired: repaired}, nil
}

// chatRow is a row whose conversation is an OpenAI messages list, with the
// optional fields the public exports use, decoded in one typed pass.
type chatRow struct {
	Messages []wireMessage `json:"messages"`
	chatFields
}

// chatRowText is a chatRow whose messages list is held in a JSON string
// (SWE-smith). It is tried only when a row's messages are not a list, so
// the common case decodes the messages once, without a custom unmarshaler
// (which would make the decoder scan them twice).
type chatRowText struct {
	Messages string `json:"messages"`
	chatFields
}

type chatFields struct {
	TaskID     string  `json:"task_id"`
	InstanceID string  `json:"instance_id"`
	RolloutID  string  `json:"rollout_id"`
	TrajID     string  `json:"traj_id"`
	ID         any     `json:"id"`
	RunID      string  `json:"run_id"`
	Policy     string  `json:"policy"`
	Model      string  `json:"model"`
	ModelName  string  `json:"model_name"`
	Reward     any     `json:"reward"`
	Resolved   any     `json:"resolved"`
	ExitReason string  `json:"exit_reason"`
	ExitStatus string  `json:"exit_status"`
	Patch      *string `json:"patch"`
	ModelPatch string  `json:"model_patch"`
}

// decodeChatRow decodes a chat row, its messages a list or a JSON string
// holding one.
func decodeChatRow(data []byte) (chatRow, error) {
	var row chatRow
	err := json.Unmarshal(data, &row)
	var typeErr *json.UnmarshalTypeError
	if err == nil || !errors.As(err, &typeErr) || typeErr.Field != "messages" || typeErr.Value != "string" {
		return row, err
	}
	var text chatRowText
	if err := json.Unmarshal(data, &text); err != nil {
		return row, err
	}
	row = chatRow{chatFields: text.chatFields}
	if err := json.Unmarshal([]byte(text.Messages), &row.Messages); err != nil {
		return row, fmt.Errorf("messages (a JSON string): %w", err)
	}
	return row, nil
}

// decodeChat reads rows whose conversation is an OpenAI messages list.
func decodeChat(source string) func(r *Record, o Options) (Rows, error) {
	return func(r *Record, o Options) (Rows, error) {
		row, err := decodeChatRow(r.Data)
		if err != nil {
			return Rows{}, err
		}
		var ro schemas.Rollout
		var repaired bool
		ro.Source = source
		if ro.Messages, err = chatMessages(row.Messages, &repaired); err != nil {
			return Rows{}, err
		}
		ro.TaskID = text(row.TaskID, &repaired)
		if ro.TaskID == "" {
			ro.TaskID = taskIDFor(o, text(row.InstanceID, &repaired))
		}
		ro.RolloutID = orStr(row.RolloutID, row.TrajID)
		if ro.RolloutID == "" && row.ID != nil {
			ro.RolloutID = fmt.Sprint(row.ID)
		}
		ro.RolloutID = text(ro.RolloutID, &repaired)
		ro.RunID = text(row.RunID, &repaired)
		if ro.RunID == "" {
			ro.RunID = runIDFromPath(r.File)
		}
		ro.Policy = text(orStr(row.Policy, orStr(row.Model, row.ModelName)), &repaired)
		if ro.Reward, err = anyFloat("reward", row.Reward); err != nil {
			return Rows{}, err
		}
		if ro.Resolved, err = anyBool("resolved", row.Resolved); err != nil {
			return Rows{}, err
		}
		ro.ExitReasonRaw = text(orStr(row.ExitReason, row.ExitStatus), &repaired)
		patch := row.ModelPatch
		if row.Patch != nil {
			patch = *row.Patch
		}
		ro.Patch = text(patch, &repaired)
		ro.Submitted = row.Patch != nil && ro.Patch != "" || strings.HasPrefix(strings.ToLower(ro.ExitReasonRaw), "submit")
		if ro.RolloutID == "" {
			ro.RolloutID = unnamedID(&ro, o)
		}
		finishRollout(&ro, o, r.Data)
		return Rows{Rollouts: []schemas.Rollout{ro}, Repaired: repaired}, nil
	}
}

func decodeOpenRLHF(r *Record, o Options) (Rows, error) {
	obj, err := parseObject(r.Data)
	if err != nil {
		return Rows{}, err
	}
	var ro schemas.Rollout
	var repaired bool
	ro.Source = "openrlhf"
	if ro.Messages, err = messages(obj["input"], &repaired); err != nil {
		return Rows{}, fmt.Errorf("input: %w", err)
	}
	if ro.Tokens, err = obj.count("token_usage_total", math.MaxInt64); err != nil {
		return Rows{}, err
	}
	n, err := obj.count("step_count", math.MaxInt32)
	if err != nil {
		return Rows{}, err
	}
	if n != nil {
		ro.NumTurns = int32(*n)
	}
	if ro.Reward, err = obj.float("reward"); err != nil {
		return Rows{}, err
	}
	ro.TaskID = obj.str("task_id")
	if ro.TaskID == "" {
		ro.TaskID = taskIDFor(o, obj.str("instance_id"))
	}
	ro.RunID = runIDFromPath(r.File)
	ro.RolloutID = unnamedID(&ro, o)
	finishRollout(&ro, o, r.Data)
	return Rows{Rollouts: []schemas.Rollout{ro}, Repaired: repaired}, nil
}

func decodeOpenHands(r *Record, o Options) (Rows, error) {
	obj, err := parseObject(r.Data)
	if err != nil {
		return Rows{}, err
	}
	var ro schemas.Rollout
	var repaired bool
	ro.Source = "openhands"
	var events []object
	if err := json.Unmarshal(obj["history"], &events); err != nil {
		return Rows{}, fmt.Errorf("history: %w", err)
	}
	conv := v0Conversation{repaired: &repaired}
	if instr := obj.str("instruction"); instr != "" && !slices.ContainsFunc(events, func(ev object) bool { return ev.str("source") == "user" }) {
		conv.msgs = append(conv.msgs, schemas.Message{Role: "user", Content: text(instr, &repaired)})
	}
	for i, ev := range events {
		if err := conv.add(ev); err != nil {
			return Rows{}, fmt.Errorf("history[%d]: %w", i, err)
		}
	}
	ro.Messages = conv.msgs
	ro.Submitted = conv.finished
	ro.TaskID = taskIDFor(o, obj.str("instance_id"))
	if meta, _ := obj.obj("metadata"); meta != nil {
		if llm, _ := meta.obj("llm_config"); llm != nil {
			ro.Policy = llm.str("model")
		}
		ro.RunID = meta.str("eval_output_dir")
		if ro.RunID != "" {
			ro.RunID = filepath.Base(ro.RunID)
		}
	}
	if ro.RunID == "" {
		ro.RunID = runIDFromPath(r.File)
	}
	if tr, _ := obj.obj("test_result"); tr != nil {
		ro.Patch = text(tr.str("git_patch"), &repaired)
		if rep, _ := tr.obj("report"); rep != nil {
			ro.Resolved, _ = rep.boolean("resolved")
		}
	}
	openHandsExit(&ro, obj.str("error"), &repaired)
	finishRollout(&ro, o, r.Data)
	return Rows{Rollouts: []schemas.Rollout{ro}, Repaired: repaired}, nil
}

// openHandsExit: an evaluation row's error is its exit (an infrastructure
// error when it names the runtime or sandbox); else the run finished when
// the agent did, and ran out of iterations when it did not.
func openHandsExit(ro *schemas.Rollout, errText string, repaired *bool) {
	switch {
	case errText != "":
		ro.ExitReasonRaw = text(errText, repaired)
		low := strings.ToLower(errText)
		ro.InfraError = strings.Contains(low, "runtime") || strings.Contains(low, "sandbox")
	case ro.Submitted:
		ro.ExitReasonRaw = "finished"
	default:
		ro.ExitReasonRaw = "max_iterations"
	}
}

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// completionTime is the float timestamp at the end of an OpenHands
// llm_completions file name: "<model>-1733339377.211651.json".
func completionTime(name string) (float64, error) {
	b := strings.TrimSuffix(filepath.Base(name), ".json")
	i := strings.LastIndexByte(b, '-')
	if i < 0 {
		return 0, fmt.Errorf("%s: no -<timestamp> in the name", name)
	}
	f, err := strconv.ParseFloat(b[i+1:], 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a timestamp", name, b[i+1:])
	}
	return f, nil
}

// SortCompletions orders llm_completions files by the float timestamp in
// their names (lexical order is wrong when the number of digits differs).
func SortCompletions(files []Record) error {
	times := make(map[string]float64, len(files))
	for _, f := range files {
		t, err := completionTime(f.File)
		if err != nil {
			return err
		}
		times[f.File] = t
	}
	slices.SortStableFunc(files, func(a, b Record) int {
		switch ta, tb := times[a.File], times[b.File]; {
		case ta < tb:
			return -1
		case ta > tb:
			return 1
		}
		return 0
	})
	return nil
}

// decodeCompletions: the last call of a directory holds the whole prompt;
// its response is the final assistant turn. Tokens: the last call's prompt
// plus completion (the final context).
func decodeCompletions(r *Record, o Options) (Rows, error) {
	if len(r.Group) == 0 {
		return Rows{}, fmt.Errorf("no completion files")
	}
	files := slices.Clone(r.Group)
	if err := SortCompletions(files); err != nil {
		return Rows{}, err
	}
	last := files[len(files)-1]
	obj, err := parseObject(last.Data)
	if err != nil {
		return Rows{}, fmt.Errorf("%s: %w", last.File, err)
	}
	var ro schemas.Rollout
	var repaired bool
	ro.Source = "openhands"
	if ro.Messages, err = messages(obj["messages"], &repaired); err != nil {
		return Rows{}, fmt.Errorf("%s: %w", last.File, err)
	}
	var resp struct {
		Model   string `json:"model"`
		Choices []struct {
			Message *wireMessage `json:"message"`
		} `json:"choices"`
		Usage *struct {
			Prompt     int64 `json:"prompt_tokens"`
			Completion int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	if raw, ok := obj["response"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &resp); err != nil {
			return Rows{}, fmt.Errorf("%s: response: %w", last.File, err)
		}
	}
	// finish_reason is the last call's, not the run's: no exit reason.
	if len(resp.Choices) > 0 && resp.Choices[0].Message != nil {
		m, err := resp.Choices[0].Message.message(&repaired)
		if err != nil {
			return Rows{}, fmt.Errorf("%s: response: %w", last.File, err)
		}
		ro.Messages = append(ro.Messages, m)
	}
	if resp.Usage != nil {
		ro.Tokens = ptr(resp.Usage.Prompt + resp.Usage.Completion)
	}
	ro.Policy = resp.Model
	iid := filepath.Base(r.File) // the directory: llm_completions/<instance id>
	ro.TaskID = taskIDFor(o, iid)
	ro.RunID = runIDFromPath(filepath.Dir(r.File))
	// The raw record: the files' bytes, as a JSON object keyed by file name.
	raw := map[string]json.RawMessage{}
	for _, f := range files {
		raw[filepath.Base(f.File)] = f.Data
	}
	rawBytes, _ := json.Marshal(raw)
	finishRollout(&ro, o, rawBytes)
	return Rows{Rollouts: []schemas.Rollout{ro}, Repaired: repaired}, nil
}
