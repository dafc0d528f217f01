package buildsft

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/internal/tokref"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

func fixture(t *testing.T) *lake.Lake {
	t.Helper()
	l := laketest.New(t)
	call := []schemas.ToolCall{{ID: "c1", Name: "bash", Arguments: `{"command": "ls -la", "timeout": 5}`}, {ID: "c2", Name: "bash", Arguments: `{"command": "pwd"}`}}
	long := make([]byte, 3000)
	for i := range long {
		long[i] = 'a' + byte(i%26)
	}
	var rows []schemas.Rollout
	for i, content := range []string{"short answer", string(long)} {
		rows = append(rows, schemas.Rollout{RolloutID: []string{"r-short", "r-long"}[i], TaskID: "t/1", RunID: "run", Policy: "p", Reward: laketest.Ptr(1.0),
			Tools: `[{"type":"function","function":{"name":"bash","parameters":{"type":"object"}}}]`,
			Messages: []schemas.Message{{Role: "system", Content: "sys"}, {Role: "user", Content: "task"},
				{Role: "assistant", Content: "", ToolCalls: call}, {Role: "tool", Content: "a", ToolCallID: "c1"}, {Role: "tool", Content: "b", ToolCallID: "c2"},
				{Role: "assistant", Content: content}}})
	}
	rows = append(rows, schemas.Rollout{RolloutID: "r-none", TaskID: "t/2", RunID: "run", Messages: []schemas.Message{{Role: "user", Content: "only a user"}}})
	laketest.Append(t, l, schemas.Rollouts, rows)
	return l
}

func config(t *testing.T) Config {
	if err := tokref.Check(); err != nil {
		t.Fatal(err)
	}
	return Config{Input: "rollouts", TokenizerDir: tokref.DefaultTokenizerDir(), Export: Outputs{OutDir: t.TempDir(), Exports: Formats()}, ValidationFrac: -1}
}

func TestLengthPolicyAndIdempotence(t *testing.T) {
	l := fixture(t)
	cfg := config(t)
	cfg.MaxTokens = 200
	sum, err := Job.Execute(context.Background(), &stage.Env{Lake: l}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Examples != 1 || sum.Dropped["longer than 200 tokens"] != 1 || sum.Dropped["no assistant turn"] != 1 || sum.Train != 1 {
		t.Fatalf("drop: %+v", sum)
	}
	again, err := Job.Execute(context.Background(), &stage.Env{Lake: l}, cfg)
	if err != nil || !again.Skipped || again.SetID != sum.SetID || again.Examples != 1 {
		t.Fatalf("rerun: %+v %v", again, err)
	}
	cfg.LengthPolicy = LengthTruncate
	_, err = Job.Execute(context.Background(), &stage.Env{Lake: l}, cfg)
	if err == nil || !strings.Contains(err.Error(), "export openrlhf-pretokenized train: example ex-") || !strings.Contains(err.Error(), ": truncated, and this format holds whole conversations") {
		t.Fatalf("a truncated example in a whole-conversation format: %v", err)
	}
	cfg.Export.Exports = slices.DeleteFunc(slices.Clone(Formats()), func(f string) bool { return f == "openrlhf-pretokenized" })
	tr, err := Job.Execute(context.Background(), &stage.Env{Lake: l}, cfg)
	if err != nil || tr.SetID == sum.SetID || tr.Examples != 2 || tr.Truncated != 1 {
		t.Fatalf("truncate: %+v %v", tr, err)
	}
}

func readJSONL(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<26)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, m)
	}
	return out
}

// TestExportsFollowTheirFormats checks each export against its consumer's
// documented layout.
func TestExportsFollowTheirFormats(t *testing.T) {
	l := fixture(t)
	cfg := config(t)
	sum, err := Job.Execute(context.Background(), &stage.Env{Lake: l}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cfg.Export.OutDir, sum.SetID)
	// OpenAI fine-tuning: messages with weight (0/1) on assistant messages
	// only; tool messages answer a tool_call_id; tools alongside.
	for _, rec := range readJSONL(t, filepath.Join(dir, "openai", "train.jsonl")) {
		if _, ok := rec["tools"].([]any); !ok {
			t.Fatalf("openai: no tools: %v", rec)
		}
		for _, m := range rec["messages"].([]any) {
			msg := m.(map[string]any)
			_, hasWeight := msg["weight"]
			if (msg["role"] == "assistant") != hasWeight {
				t.Fatalf("openai: weight on %v", msg)
			}
			if msg["role"] == "tool" && msg["tool_call_id"] == "" {
				t.Fatalf("openai: tool message without tool_call_id: %v", msg)
			}
			if calls, ok := msg["tool_calls"].([]any); ok {
				fn := calls[0].(map[string]any)["function"].(map[string]any)
				if _, isString := fn["arguments"].(string); !isString {
					t.Fatalf("openai: arguments must be a JSON string: %v", fn)
				}
			}
		}
	}
	// LLaMA-Factory sharegpt: system and tools apart; every function_call is
	// followed by an observation; consecutive tool results merge.
	for _, rec := range readJSONL(t, filepath.Join(dir, "llamafactory", "train.jsonl")) {
		if rec["system"] != "sys" || rec["tools"] == "" {
			t.Fatalf("llamafactory: %v", rec)
		}
		turns := rec["conversations"].([]any)
		for i, tu := range turns {
			if tu.(map[string]any)["from"] == "function_call" && (i+1 >= len(turns) || turns[i+1].(map[string]any)["from"] != "observation") {
				t.Fatalf("llamafactory: function_call not followed by an observation: %v", turns)
			}
		}
		if len(turns) != 4 {
			t.Fatalf("llamafactory turns: %v", turns)
		}
	}
	// axolotl: a training flag on every message.
	for _, rec := range readJSONL(t, filepath.Join(dir, "axolotl", "train.jsonl")) {
		for _, m := range rec["messages"].([]any) {
			msg := m.(map[string]any)
			tr, ok := msg["training"].(bool)
			if !ok || tr != (msg["role"] == "assistant") {
				t.Fatalf("axolotl: %v", msg)
			}
		}
	}
	// OpenRLHF multi-turn: the conversation under "input" as rendered
	// messages: tools in the system turn, the two tool results one message.
	for _, rec := range readJSONL(t, filepath.Join(dir, "openrlhf", "train.jsonl")) {
		msgs, ok := rec["input"].([]any)
		if !ok || len(msgs) != 5 || !strings.Contains(msgs[0].(map[string]any)["content"].(string), "# Tools") ||
			msgs[3].(map[string]any)["content"] != "a\n</tool_response>\n<tool_response>\nb" {
			t.Fatalf("openrlhf: %v", rec)
		}
	}
	info, err := os.ReadFile(filepath.Join(dir, "llamafactory", "dataset_info.json"))
	if err != nil || !json.Valid(info) {
		t.Fatalf("dataset_info.json: %v", err)
	}
}

// TestPretokenizedExport: labels are the ids where the loss mask trains and
// -100 elsewhere; attention_mask is all ones; packed rows restart
// position_ids at each example and list seq_lengths; assistant_masks is
// the loss mask (TRL's collator masks labels with it).
func TestPretokenizedExport(t *testing.T) {
	l := fixture(t)
	cfg := config(t)
	cfg.Export.Exports = []string{"pretokenized", "parquet"}
	cfg.Export.PackLength = 4096
	sum, err := Job.Execute(context.Background(), &stage.Env{Lake: l}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(cfg.Export.OutDir, sum.SetID, "pretokenized", "train.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := parquet.Read[PretokenizedRow](bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || len(rows[0].SeqLengths) != 2 {
		t.Fatalf("want the two examples packed into one row: %d rows", len(rows))
	}
	r := rows[0]
	ex := map[string]schemas.SFTExample{}
	for _, e := range exampleRows(t, l, sum) {
		ex[e.ExampleID] = e
	}
	off := 0
	for k, id := range r.ExampleIDs {
		e := ex[id]
		n := int(r.SeqLengths[k])
		if n != len(e.InputIDs) || !slices.Equal(r.InputIDs[off:off+n], e.InputIDs) {
			t.Fatalf("%s: ids differ", id)
		}
		for i := range n {
			want := int32(IgnoreIndex)
			if e.LossMask[i] == 1 {
				want = e.InputIDs[i]
			}
			if r.Labels[off+i] != want || r.PositionIDs[off+i] != int32(i) || r.AttentionMask[off+i] != 1 || r.AssistantMasks[off+i] != e.LossMask[i] {
				t.Fatalf("%s token %d: label %d (want %d), position %d, attention %d", id, i, r.Labels[off+i], want, r.PositionIDs[off+i], r.AttentionMask[off+i])
			}
		}
		off += n
	}
	if off != len(r.InputIDs) {
		t.Fatalf("seq_lengths cover %d of %d tokens", off, len(r.InputIDs))
	}
	// TRL's collator (ported in deps/npm/consumers.mjs, reading the file
	// with hyparquet) trains exactly the masked-in tokens.
	lines, err := tokref.Script(context.Background(), "consumers.mjs", []string{"trl", tokref.DefaultTokenizerDir(), filepath.Join(cfg.Export.OutDir, sum.SetID, "pretokenized", "train.parquet")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var trl struct {
		IDs       []int32
		Trained   []int
		Positions []int32
		Attention bool
		Error     string
	}
	if err := json.Unmarshal(lines[0], &trl); err != nil || trl.Error != "" {
		t.Fatalf("trl: %v %s", err, trl.Error)
	}
	if !slices.Equal(trl.IDs, r.InputIDs) || !slices.Equal(trl.Trained, trainedOf(r.AssistantMasks)) || !slices.Equal(trl.Positions, r.PositionIDs) || !trl.Attention {
		t.Fatalf("TRL's collator: %d ids, %d trained (want %d)", len(trl.IDs), len(trl.Trained), len(trainedOf(r.AssistantMasks)))
	}
}

// TestMaskNotExpressible: a set trained on the last turn only is refused by
// the exports whose consumers train every assistant turn, and written by
// those that carry a per-turn or per-token switch.
func TestMaskNotExpressible(t *testing.T) {
	l := fixture(t)
	cfg := config(t)
	cfg.Mask = "last_turn"
	for _, f := range []string{"openrlhf", "verl", "llamafactory"} {
		cfg.Export.Exports = []string{f}
		_, err := Job.Execute(context.Background(), &stage.Env{Lake: l}, cfg)
		if err == nil || !strings.Contains(err.Error(), "export "+f+": example ex-") || !strings.Contains(err.Error(), "is masked") {
			t.Fatalf("%s: %v", f, err)
		}
	}
	cfg.Export.Exports = []string{"openai", "axolotl", "openrlhf-pretokenized", "pretokenized", "parquet"}
	sum, err := Job.Execute(context.Background(), &stage.Env{Lake: l}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	recs := readJSONL(t, filepath.Join(cfg.Export.OutDir, sum.SetID, "openrlhf-pretokenized", "train.jsonl"))
	if len(recs) != 2 {
		t.Fatalf("rows: %d", len(recs))
	}
	for _, rec := range recs {
		ranges := rec["response_ranges"].([]any)
		if len(ranges) != 1 || ranges[0].([]any)[0] != rec["prompt_ids_len"] {
			t.Fatalf("last_turn: want one range starting at the prompt's end: %v of %v", ranges, rec["prompt_ids_len"])
		}
	}
}

func exampleRows(t *testing.T, l *lake.Lake, sum Summary) []schemas.SFTExample {
	t.Helper()
	tb, err := l.Table(schemas.SFTExamples.Name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tb.Snapshot(context.Background(), sum.Version)
	if err != nil {
		t.Fatal(err)
	}
	var out []schemas.SFTExample
	for r, err := range lake.ReadRows[schemas.SFTExample](context.Background(), l, s) {
		if err != nil {
			t.Fatal(err)
		}
		if r.SetID == sum.SetID {
			out = append(out, r)
		}
	}
	return out
}

// TestMaskFailedActionsJob: build-sft keeps a trajectory whose command was
// not found, takes that assistant turn out of the loss (its weight 0, the
// others 1), counts it by kind, and the exports that train every turn
// refuse the set, naming themselves.
func TestMaskFailedActionsJob(t *testing.T) {
	ctx := context.Background()
	l := laketest.New(t)
	bash := func(cmd string) []schemas.ToolCall {
		return []schemas.ToolCall{{ID: "c-" + cmd, Name: "bash", Arguments: `{"command": "` + cmd + `"}`}}
	}
	msgs := []schemas.Message{{Role: "system", Content: "You fix bugs."}, {Role: "user", Content: "fix it"},
		{Role: "assistant", Content: "run the tests", ToolCalls: bash("pytset")}, {Role: "tool", Content: "bash: pytset: command not found", ToolCallID: "c-pytset", Name: "bash"},
		{Role: "assistant", Content: "again", ToolCalls: bash("pytest")}, {Role: "tool", Content: "1 passed", ToolCallID: "c-pytest", Name: "bash"},
		{Role: "assistant", Content: "done"}}
	laketest.Append(t, l, schemas.Rollouts, []schemas.Rollout{{RolloutID: "r1", TaskID: "t/1", RunID: "run", Policy: "p", Messages: msgs,
		Resolved: laketest.Ptr(true), Reward: laketest.Ptr(1.0), ExitReason: "submitted"}})
	cfg := config(t)
	cfg.MaskFailed = []string{"command_not_found"}
	cfg.Export.Exports = []string{"verl"}
	if _, err := Job.Execute(ctx, &stage.Env{Lake: l}, cfg); err == nil || !strings.Contains(err.Error(), "export verl: example") || !strings.Contains(err.Error(), "is masked") {
		t.Fatalf("verl with failed turns masked: %v", err)
	}
	cfg.Export.Exports = []string{"openai", "parquet"}
	sum, err := Job.Execute(ctx, &stage.Env{Lake: l}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sum.FailedTurns) != "map[command_not_found:1]" || sum.Examples != 1 {
		t.Fatalf("summary: %+v", sum)
	}
	rows := exampleRows(t, l, sum)
	if w := fmt.Sprint(rows[0].Weights); w != "[0 0 0 0 1 0 1]" {
		t.Fatalf("weights %s: want the failed turn (message 2) out of the loss, the others in", w)
	}
	cfg.MaskFailed = []string{"typo"}
	if _, err := Job.Execute(ctx, &stage.Env{Lake: l}, cfg); err == nil || !strings.Contains(err.Error(), `mask_failed "typo": want some of malformed_tool_call, format_hint, edit_not_applied, command_not_found`) {
		t.Fatalf("unknown kind: %v", err)
	}
}
