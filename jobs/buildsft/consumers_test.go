package buildsft

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/internal/modeltest"
	"github.com/swelake/swelake/internal/realsamples"
	"github.com/swelake/swelake/internal/tokref"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/chattemplate"
)

// replay is what a consumer's loading code makes of one exported row.
type replay struct {
	Text    string  `json:"text"`
	IDs     []int32 `json:"ids"`
	Trained []int   `json:"trained"`
	Error   string  `json:"error"`
}

func runConsumer(t *testing.T, consumer, file string) []replay {
	t.Helper()
	lines, err := tokref.Script(context.Background(), "consumers.mjs", []string{consumer, tokref.DefaultTokenizerDir(), file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]replay, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal(l, &out[i]); err != nil {
			t.Fatal(err)
		}
		if out[i].Error != "" {
			t.Fatalf("%s on %s row %d: %s", consumer, file, i+1, out[i].Error)
		}
	}
	return out
}

func trainedTurns(ex schemas.SFTExample) []int {
	var out []int
	for i, m := range ex.Messages {
		if m.Role == "assistant" && ex.Weights[i] == 1 {
			out = append(out, i)
		}
	}
	return out
}

func trainedOf(mask []int32) []int {
	var out []int
	for i, m := range mask {
		if m == 1 {
			out = append(out, i)
		}
	}
	return out
}

// TestConsumersTrainAsRendered: each trainer's own loading code (ported to
// JavaScript in deps/npm/consumers.mjs, the source file and commit named
// there) replayed on the exported files gives exactly swelake's text, ids
// and trained tokens — on the nine real conversations and on tool-calling
// ones (tool schemas, parallel calls, consecutive tool results, a trailing
// tool turn).
func TestConsumersTrainAsRendered(t *testing.T) {
	ctx := context.Background()
	l := fixture(t)
	rows := realsamples.Conversations(t)
	// A conversation that ends on a tool result, as a step-limited run does.
	tail := rows[0]
	tail.RolloutID, tail.ContentHash = "tail-on-tool", ""
	tail.Messages = append(slices.Clone(tail.Messages), schemas.Message{Role: "tool", Content: "output never answered", ToolCallID: "x"})
	rows = append(rows, tail)
	// Tools whose schemas have other keys than the fixture's (Arrow gives
	// every row's objects every key), a parallel call, an empty object.
	other := schemas.Rollout{RolloutID: "other-tools", TaskID: "t/3", RunID: "run", Policy: "p",
		Tools: `[{"type":"function","function":{"name":"submit","description":"Submit the patch","parameters":{"type":"object","properties":{},"required":[]}}},{"type":"function","function":{"name":"bash","description":"Run","strict":true,"parameters":{"type":"object","properties":{"command":{"type":"string","description":"the command"}},"required":["command"]}}}]`,
		Messages: []schemas.Message{{Role: "system", Content: "You fix bugs."}, {Role: "user", Content: "Fix it."},
			{Role: "assistant", Content: "Two things at once.", ToolCalls: []schemas.ToolCall{{ID: "a", Name: "bash", Arguments: `{"command": "ls -1 | head -n 3", "timeout": 10}`}, {ID: "b", Name: "submit", Arguments: `{}`}}},
			{Role: "tool", Content: "x.py", ToolCallID: "a"}, {Role: "tool", Content: "submitted", ToolCallID: "b"},
			{Role: "assistant", Content: "Done: ü ✓ \"quoted\""}}}
	rows = append(rows, other)
	laketest.Append(t, l, schemas.Rollouts, rows)
	cfg := config(t)
	cfg.Export.Exports = []string{"openrlhf", "verl", "llamafactory", "axolotl"}
	sum, err := Job.Execute(ctx, &stage.Env{Lake: l}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]schemas.SFTExample{}
	for _, e := range exampleRows(t, l, sum) {
		byID[e.ExampleID] = e
	}
	if len(byID) < 13 {
		t.Fatalf("examples: %d (%v)", len(byID), sum.Dropped)
	}
	checkConsumers(t, byID, filepath.Join(cfg.Export.OutDir, sum.SetID))
}

// checkConsumers replays every consumer on the openrlhf, verl, llamafactory
// and axolotl exports of the examples in byID (all in the train split)
// under dir, and renders their conversations with python3-jinja2 and
// transformers.js.
func checkConsumers(t *testing.T, byID map[string]schemas.SFTExample, dir string) {
	t.Helper()
	ctx := context.Background()
	lc := testLocator(t)

	// OpenRLHF: trains on its own render of prompt + response less the final
	// newline; the conversation ends at the last assistant turn.
	recs := readJSONL(t, filepath.Join(dir, "openrlhf", "train.jsonl"))
	got := runConsumer(t, "openrlhf", filepath.Join(dir, "openrlhf", "train.jsonl"))
	tokens, straddled := 0, 0
	for i, rec := range recs {
		ex := byID[rec["example_id"].(string)]
		loc, err := lc.locate(ex)
		if err != nil {
			t.Fatal(err)
		}
		end := loc.Last().End - 1 // OpenRLHF strips the last newline
		if got[i].Text != ex.Text[:loc.Last().ByteEnd-1] || !slices.Equal(got[i].IDs, ex.InputIDs[:end]) {
			t.Fatalf("openrlhf %s: the trainer's text/ids differ from swelake's (%d vs %d tokens)", ex.ExampleID, len(got[i].IDs), end)
		}
		// Where a turn begins with a newline, OpenRLHF's spans are one token
		// late (shiftedByStraddle): those tokens, and only those, differ.
		want := trainedOf(ex.LossMask[:end])
		extra := shiftedByStraddle(lc, ex, loc)
		if !slices.Equal(got[i].Trained, slices.Sorted(slices.Values(append(slices.Clone(want), extra...)))) {
			var diff []string
			for _, k := range got[i].Trained {
				if !slices.Contains(want, k) {
					diff = append(diff, fmt.Sprintf("+%d %q|%q", k, lc.enc.AppendBytes(nil, ex.InputIDs[max(k-3, 0):k]), lc.enc.AppendBytes(nil, ex.InputIDs[k:k+1])))
				}
			}
			for _, k := range want {
				if !slices.Contains(got[i].Trained, k) {
					diff = append(diff, fmt.Sprintf("-%d", k))
				}
			}
			t.Fatalf("openrlhf %s: loss on %d tokens, swelake's mask %d (+%d straddling): %v", ex.ExampleID, len(got[i].Trained), len(want), len(extra), diff)
		}
		tokens += len(got[i].IDs)
		straddled += len(extra)
	}
	if len(recs) != len(byID) {
		t.Fatalf("openrlhf rows: %d of %d", len(recs), len(byID))
	}
	t.Logf("openrlhf: %d rows, %d tokens, equal to swelake's ids and mask but for %d tokens after turns that begin with a newline", len(recs), tokens, straddled)

	// verl: every message rendered on its own and the ids concatenated.
	vrows := runConsumer(t, "verl", filepath.Join(dir, "verl", "train.parquet"))
	ids := exportedIDs(t, filepath.Join(dir, "verl", "train.parquet"))
	tokens = 0
	for i, id := range ids {
		ex := byID[id]
		if vrows[i].Text != ex.Text || !slices.Equal(vrows[i].IDs, ex.InputIDs) || !slices.Equal(vrows[i].Trained, trainedOf(ex.LossMask)) {
			t.Fatalf("verl %s: text equal %v, %d vs %d tokens, %d vs %d trained", id, vrows[i].Text == ex.Text, len(vrows[i].IDs), len(ex.InputIDs), len(vrows[i].Trained), len(trainedOf(ex.LossMask)))
		}
		tokens += len(vrows[i].IDs)
	}
	t.Logf("verl: %d rows, %d tokens, equal to swelake's", len(ids), tokens)

	// LLaMA-Factory: every row passes its converter; rendered with its
	// qwen template, a row is swelake's text up to the last assistant turn
	// unless the conversation has what sharegpt cannot hold.
	lf := filepath.Join(dir, "llamafactory", "train.jsonl")
	lrecs := readJSONL(t, lf)
	lgot := runConsumer(t, "llamafactory", lf)
	sameIDs := 0
	for i, rec := range lrecs {
		ex := byID[rec["example_id"].(string)]
		loc, err := lc.locate(ex)
		if err != nil {
			t.Fatal(err)
		}
		if lgot[i].Text != ex.Text[:loc.Last().ByteEnd] {
			t.Fatalf("llamafactory %s: its template renders %d bytes, not swelake's %d", ex.ExampleID, len(lgot[i].Text), loc.Last().ByteEnd)
		}
		// It tokenises each turn on its own: the same text, and the same
		// trained bytes (each assistant turn's content, end-of-turn token
		// and newline), whatever the token boundaries.
		var want []byte
		for _, tu := range loc.Turns {
			want = append(want, ex.Text[tu.ByteStart:tu.ByteEnd]...)
		}
		var got []byte
		for _, k := range lgot[i].Trained {
			got = lc.enc.AppendBytes(got, lgot[i].IDs[k:k+1])
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("llamafactory %s: trains %d bytes, swelake's assistant turns are %d", ex.ExampleID, len(got), len(want))
		}
		if slices.Equal(lgot[i].IDs, ex.InputIDs[:loc.Last().End]) {
			sameIDs++
		}
	}
	t.Logf("llamafactory: %d rows through its converter and qwen template: swelake's text and trained bytes in all, the same ids in %d (it tokenises turn by turn)", len(lrecs), sameIDs)

	// axolotl: the arguments and tool parameters parsed back, the whole
	// conversation rendered with the tools: swelake's text and ids; the
	// training flags are swelake's weights.
	ax := filepath.Join(dir, "axolotl", "train.jsonl")
	arecs := readJSONL(t, ax)
	agot := runConsumer(t, "axolotl", ax)
	for i, rec := range arecs {
		ex := byID[rec["example_id"].(string)]
		if agot[i].Text != ex.Text || !slices.Equal(agot[i].IDs, ex.InputIDs) {
			t.Fatalf("axolotl %s: text equal %v, %d vs %d tokens", ex.ExampleID, agot[i].Text == ex.Text, len(agot[i].IDs), len(ex.InputIDs))
		}
		trained := 0
		for _, m := range rec["messages"].([]any) {
			if m.(map[string]any)["training"] == true {
				trained++
			}
		}
		if want := len(trainedTurns(ex)); trained != want {
			t.Fatalf("axolotl %s: %d messages with training, swelake trains %d turns", ex.ExampleID, trained, want)
		}
	}
	t.Logf("axolotl: %d rows, swelake's text and ids", len(arecs))

	// Python's Jinja2 (Debian's python3-jinja2), set up as transformers
	// sets it up, renders the examples' own messages and tools, and the
	// rendered messages of the openrlhf and axolotl exports, to swelake's
	// text.
	var cases []tokref.Case
	var want []string
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		ex := byID[id]
		var tools any
		if ex.Tools != "" {
			tools = json.RawMessage(ex.Tools)
		}
		cases = append(cases, tokref.Case{Messages: chattemplate.MessageValuesJSON(ex.Messages), Tools: tools})
		want = append(want, ex.Text)
	}
	for i, rec := range recs {
		ex := byID[rec["example_id"].(string)]
		cases = append(cases, tokref.Case{Messages: rec["input"]})
		want = append(want, ex.Text[:len(got[i].Text)+1])
	}
	for _, rec := range arecs {
		cases = append(cases, tokref.Case{Messages: rec["messages"]})
		want = append(want, byID[rec["example_id"].(string)].Text)
	}
	py, err := tokref.Jinja2(ctx, tokref.DefaultTokenizerDir(), cases)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range py {
		if r.Error != "" || r.Text != want[i] {
			t.Fatalf("python3-jinja2 case %d: %s (%d bytes, want %d)", i, r.Error, len(r.Text), len(want[i]))
		}
	}
	t.Logf("python3-jinja2: %d renders equal to swelake's text", len(py))

	// transformers.js: its AutoTokenizer from the same files, its own
	// apply_chat_template with the tools, its encode.
	tj, err := tokref.Transformers(ctx, tokref.DefaultTokenizerDir(), cases)
	if err != nil {
		t.Fatal(err)
	}
	sorted := slices.Sorted(maps.Keys(byID))
	for i, r := range tj {
		if r.Error != "" || r.Text != want[i] {
			t.Fatalf("transformers.js case %d: %s (%d bytes, want %d)", i, r.Error, len(r.Text), len(want[i]))
		}
		if i < len(sorted) && !slices.Equal(r.IDs, byID[sorted[i]].InputIDs) {
			t.Fatalf("transformers.js %s: its tokenizer gives %d ids, swelake %d", sorted[i], len(r.IDs), len(byID[sorted[i]].InputIDs))
		}
	}
	t.Logf("transformers.js: %d apply_chat_template renders equal to swelake's text, its ids equal swelake's on the %d examples", len(tj), len(sorted))
}

// shiftedByStraddle returns the tokens OpenRLHF's span arithmetic adds
// after a trained turn whose start a token straddles: it counts the prompt's
// tokens on their own (one more than in the whole text, where the header's
// newline merged with the turn's leading newline), so its span starts and
// ends one token late: the straddling token stays untrained, as in
// swelake's mask, and the next turn's first token is trained.
func shiftedByStraddle(lc locator, ex schemas.SFTExample, loc located) []int {
	ends := tokenEnds(lc.enc, ex.InputIDs)
	var out []int
	for _, tu := range loc.Turns {
		if tu.Trained && tu.Start > 0 && ends[tu.Start-1] > tu.ByteStart && tu.End < len(ex.InputIDs)-1 {
			out = append(out, tu.End)
		}
	}
	return out
}

func exportedIDs(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := parquet.Read[verlRow](bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ExampleID
	}
	return ids
}

func testLocator(t *testing.T) locator {
	t.Helper()
	tok, tmpl := modeltest.Qwen(t)
	return locator{enc: tok, tmpl: tmpl, cfg: tok.Config()}
}
