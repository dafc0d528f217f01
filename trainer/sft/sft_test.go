package sft

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/swelake/swelake/internal/modeltest"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/chattemplate"
)

func conversations() [][]schemas.Message {
	call := []schemas.ToolCall{{ID: "c1", Name: "bash", Arguments: `{"command": "ls"}`}}
	return [][]schemas.Message{
		{{Role: "system", Content: "sys"}, {Role: "user", Content: "fix it"}, {Role: "assistant", Content: "looking", ToolCalls: call},
			{Role: "tool", Content: "a.py\nb.py"}, {Role: "assistant", Content: "You forgot nothing"},
			{Role: "user", Content: "You forgot to use a function call. Try again."}, {Role: "assistant", Content: "", ToolCalls: call},
			{Role: "tool", Content: "ok"}, {Role: "assistant", Content: "done 日本 😀"}},
		{{Role: "user", Content: "q"}, {Role: "assistant", Content: "\n\nstarts with newlines"}, {Role: "user", Content: "q2"}, {Role: "assistant", Content: "  spaces"}},
	}
}

// TestMaskedTokensReproduceAssistantTurns is the property: decoding exactly
// the tokens with loss gives back each trained assistant turn (content,
// end-of-turn token and the newline after it), and nothing else.
func TestMaskedTokensReproduceAssistantTurns(t *testing.T) {
	tok, tm := modeltest.Qwen(t)
	for ci, msgs := range conversations() {
		for _, opts := range []Options{{}, {Mask: MaskLastTurn}, {MaskErrorTurns: true}} {
			chat := chattemplate.Chat{Messages: msgs}
			ex, err := Build(tok, tm, chat, opts)
			if err != nil {
				t.Fatal(err)
			}
			_, spans, _ := tm.RenderWithSpans(chat)
			var want []string
			for i, s := range spans {
				last := i == len(spans)-1
				if opts.Mask == MaskLastTurn && !last {
					continue
				}
				if opts.MaskErrorTurns && ci == 0 && s.Message == 4 {
					continue // answered by the format hint
				}
				want = append(want, ex.Text[s.Start:s.End])
			}
			var got []string
			for i := 0; i < len(ex.InputIDs); {
				if ex.LossMask[i] == 0 {
					i++
					continue
				}
				j := i
				for j < len(ex.InputIDs) && ex.LossMask[j] == 1 {
					j++
				}
				got = append(got, tok.Decode(ex.InputIDs[i:j]))
				i = j
			}
			// A turn that starts with a newline shares its first token with
			// the header: that token stays masked (counted in Straddling).
			for i := range want {
				if ex.Straddling > 0 && strings.HasPrefix(want[i], "\n") && i < len(got) {
					want[i] = strings.TrimLeft(want[i], "\n")
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("conv %d %+v:\n got %q\nwant %q", ci, opts, got, want)
			}
			for _, w := range want {
				if !strings.HasSuffix(w, "<|im_end|>\n") {
					t.Fatalf("a trained turn does not end with the end-of-turn token and newline: %q", w)
				}
			}
		}
	}
}

func TestPackFirstFitDecreasing(t *testing.T) {
	exs := map[string]Example{}
	var ids []string
	for i, n := range []int{7, 5, 4, 3, 3, 2, 1, 6} {
		id := fmt.Sprint("e", i)
		ids = append(ids, id)
		exs[id] = Example{InputIDs: make([]int32, n), LossMask: make([]int32, n)}
	}
	bins, err := Pack(ids, exs, 10)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	total := 0
	for _, b := range bins {
		if len(b.InputIDs) > 10 || len(b.PositionIDs) != len(b.InputIDs) {
			t.Fatalf("bin %+v", b)
		}
		off := 0
		for k, id := range b.ExampleIDs {
			seen[id] = true
			for p := range int(b.SeqLens[k]) {
				if b.PositionIDs[off+p] != int32(p) {
					t.Fatalf("position ids do not restart: %v", b.PositionIDs)
				}
			}
			off += int(b.SeqLens[k])
		}
		total += len(b.InputIDs)
	}
	if len(seen) != len(ids) || total != 31 || len(bins) != 4 {
		t.Fatalf("%d bins, %d examples, %d tokens", len(bins), len(seen), total)
	}
	if _, err := Pack([]string{"e0"}, exs, 5); err == nil {
		t.Fatal("an example longer than the capacity was packed")
	}
}

func TestSplitIsDeterministicAndOrderFree(t *testing.T) {
	var ids []string
	for i := range 1000 {
		ids = append(ids, fmt.Sprint("rollout-", i))
	}
	a := SplitOf(ids, 7, 0.1)
	rev := slices.Clone(ids)
	slices.Reverse(rev)
	b := SplitOf(rev, 7, 0.1)
	nVal := 0
	for _, id := range ids {
		if a[id] != b[id] {
			t.Fatalf("%s: %s vs %s", id, a[id], b[id])
		}
		if a[id] == "validation" {
			nVal++
		}
	}
	if nVal != 100 {
		t.Fatalf("%d validation", nVal)
	}
	if c := SplitOf(ids, 8, 0.1); fmt.Sprint(c) == fmt.Sprint(a) {
		t.Fatal("the seed does not change the split")
	}
	if !slices.Equal(Shuffle(ids, 1), Shuffle(rev, 1)) || slices.Equal(Shuffle(ids, 1), Shuffle(ids, 2)) {
		t.Fatal("shuffle is not a function of (ids, seed)")
	}
}

func TestTruncate(t *testing.T) {
	ex := Example{InputIDs: []int32{1, 2, 3, 4}, LossMask: []int32{0, 1, 1, 1}, NumLossTokens: 3}
	tr := Truncate(ex, 2)
	if len(tr.InputIDs) != 2 || tr.NumLossTokens != 1 {
		t.Fatalf("%+v", tr)
	}
}

// TestMaskFailedActions: a trajectory with a malformed tool call, an edit
// the editor refused, an unknown command and a format hint keeps every
// turn in the text and takes exactly those assistant turns out of the
// loss, counted by kind; the other turns' tokens are as without the mask.
func TestMaskFailedActions(t *testing.T) {
	tok, tm := modeltest.Qwen(t)
	call := func(args string) []schemas.ToolCall {
		return []schemas.ToolCall{{ID: "c", Name: "str_replace_editor", Arguments: args}}
	}
	msgs := []schemas.Message{
		{Role: "system", Content: "sys"}, {Role: "user", Content: "fix it"},
		{Role: "assistant", Content: "look", ToolCalls: call(`{"command": "view", "path": "a.py"`)}, // 2: malformed (unterminated JSON)
		{Role: "tool", Content: "error parsing the call"},
		{Role: "assistant", Content: "edit", ToolCalls: call(`{"command": "str_replace", "path": "a.py", "old_str": "x", "new_str": "y"}`)}, // 4: refused
		{Role: "tool", Content: "No replacement was performed, old_str `x` did not appear verbatim in /repo/a.py."},
		{Role: "assistant", Content: "run", ToolCalls: []schemas.ToolCall{{ID: "d", Name: "bash", Arguments: `{"command": "pytset"}`}}}, // 6: unknown command
		{Role: "tool", Content: "bash: pytset: command not found"},
		{Role: "assistant", Content: "I will just answer"}, // 8: format hint
		{Role: "user", Content: "Your last output did not use any tool calls. Please try again."},
		{Role: "assistant", Content: "fixed", ToolCalls: call(`{"command": "str_replace", "path": "a.py", "old_str": "x = 1", "new_str": "x = 2"}`)}, // 10: good
		{Role: "tool", Content: "The file a.py has been edited."},
		{Role: "assistant", Content: "done"}, // 12: good
	}
	chat := chattemplate.Chat{Messages: msgs}
	all, err := Build(tok, tm, chat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := Build(tok, tm, chat, Options{MaskFailed: FailedKinds()})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{FailedMalformedCall: 1, FailedEditNotApplied: 1, FailedCommandNotFound: 1, FailedFormatHint: 1}
	if fmt.Sprint(ex.Failed) != fmt.Sprint(want) || ex.Text != all.Text || !slices.Equal(ex.InputIDs, all.InputIDs) {
		t.Fatalf("failed %v, want %v (same text and ids: %v)", ex.Failed, want, ex.Text == all.Text)
	}
	_, spans, _ := tm.RenderWithSpans(chat)
	for i := range ex.InputIDs {
		// Which assistant message (if any) the token belongs to: the loss is
		// the unmasked build's on the good turns and zero on the failed ones.
		failedTurn := false
		for _, s := range spans {
			if ex.Weights[s.Message] == 0 && all.Weights[s.Message] == 1 && tokenIn(tok, ex.InputIDs, i, s.Start, s.End) {
				failedTurn = true
			}
		}
		switch {
		case failedTurn && ex.LossMask[i] != 0:
			t.Fatalf("token %d of a failed turn carries loss", i)
		case !failedTurn && ex.LossMask[i] != all.LossMask[i]:
			t.Fatalf("token %d outside the failed turns: mask %d, unmasked build %d", i, ex.LossMask[i], all.LossMask[i])
		}
	}
	for m, w := range ex.Weights {
		if wantW := map[int]int32{10: 1, 12: 1}[m]; w != wantW {
			t.Errorf("message %d: weight %d, want %d", m, w, wantW)
		}
	}
	// Only the kinds asked for.
	some, _ := Build(tok, tm, chat, Options{MaskFailed: []string{FailedCommandNotFound}})
	if fmt.Sprint(some.Failed) != "map[command_not_found:1]" || some.NumLossTokens >= all.NumLossTokens || some.NumLossTokens <= ex.NumLossTokens {
		t.Fatalf("only command_not_found: %v, %d loss tokens (all %d, every kind %d)", some.Failed, some.NumLossTokens, all.NumLossTokens, ex.NumLossTokens)
	}
}

// tokenIn: token i's bytes lie within [start, end) of the text.
func tokenIn(tok interface {
	AppendBytes([]byte, []int32) []byte
}, ids []int32, i, start, end int) bool {
	off := len(tok.AppendBytes(nil, ids[:i]))
	n := len(tok.AppendBytes(nil, ids[i:i+1]))
	return off >= start && off+n <= end
}
