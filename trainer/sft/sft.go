// Package sft turns conversations into supervised fine-tuning examples: the
// model's chat template rendered and tokenised exactly, a loss mask per
// token, a length policy, a deterministic split and sequence packing. Pure
// functions; no I/O.
package sft

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/chattemplate"
)

// Mask conventions.
const (
	// MaskAssistant (default; OpenRLHF multi-turn, as SWE-Master trained):
	// loss on every assistant turn from its first content token through its
	// end-of-turn token and the newline after it; role headers and every
	// system, user and tool token masked.
	MaskAssistant = "assistant"
	// MaskLastTurn trains on the last assistant turn only.
	MaskLastTurn = "last_turn"
)

// DefaultErrorMarkers are environment messages that say the previous
// assistant turn was malformed (SWE-Master's format hint and its kin).
func DefaultErrorMarkers() []string {
	return []string{
		"You forgot to use a function call",
		"Your last output did not use any tool calls",
		"did not include a valid function call",
		"Your output was not formatted correctly",
	}
}

// Failed actions: assistant turns kept in the trajectory but out of the
// loss (SWE-Lego, SWE-Mirror, NEBIUS' RFT cold start: masking such turns
// beats dropping or keeping the whole trajectory). A turn's kind is the
// first that applies.
const (
	// FailedMalformedCall: a tool call whose arguments are not JSON.
	FailedMalformedCall = "malformed_tool_call"
	// FailedFormatHint: the environment answered with a format hint
	// (DefaultErrorMarkers; SWE-Master's mask_error_turns).
	FailedFormatHint = "format_hint"
	// FailedEditNotApplied: the editor refused the edit (its old text was
	// not found, or found more than once).
	FailedEditNotApplied = "edit_not_applied"
	// FailedCommandNotFound: the shell did not know the command.
	FailedCommandNotFound = "command_not_found"
)

// FailedKinds are the kinds of failed actions, in the order they are tried.
func FailedKinds() []string {
	return []string{FailedMalformedCall, FailedFormatHint, FailedEditNotApplied, FailedCommandNotFound}
}

// DefaultFailedMarkers are what the environment says after a failed action
// of each marker-detected kind (SWE-agent's and OpenHands' editors, bash).
func DefaultFailedMarkers() map[string][]string {
	return map[string][]string{
		FailedFormatHint:      DefaultErrorMarkers(),
		FailedEditNotApplied:  {"No replacement was performed", "did not appear verbatim in", "Multiple occurrences of old_str"},
		FailedCommandNotFound: {": command not found", "bash: command not found"},
	}
}

// Options configure Build.
type Options struct {
	Mask string // MaskAssistant (default) or MaskLastTurn
	// MaskErrorTurns masks assistant turns whose answer from the
	// environment (the next user or tool message) contains an error marker
	// (the same as MaskFailed [format_hint] with ErrorMarkers).
	MaskErrorTurns bool
	ErrorMarkers   []string // default DefaultErrorMarkers()
	// MaskFailed lists the kinds of failed actions (FailedKinds) whose
	// assistant turns stay in the text with no loss.
	MaskFailed []string
	// FailedMarkers overrides DefaultFailedMarkers per kind.
	FailedMarkers map[string][]string
}

// failedKind is why an assistant turn is a failed action ("" : it is not).
func (o Options) failedKind(msgs []schemas.Message, i int) string {
	kinds := o.MaskFailed
	if o.MaskErrorTurns && !slices.Contains(kinds, FailedFormatHint) {
		kinds = append(slices.Clone(kinds), FailedFormatHint)
	}
	for _, kind := range FailedKinds() {
		if !slices.Contains(kinds, kind) {
			continue
		}
		if kind == FailedMalformedCall {
			for _, c := range msgs[i].ToolCalls {
				if !json.Valid([]byte(c.Arguments)) {
					return kind
				}
			}
			continue
		}
		markers := o.FailedMarkers[kind]
		if markers == nil && kind == FailedFormatHint && o.ErrorMarkers != nil {
			markers = o.ErrorMarkers
		}
		if markers == nil {
			markers = DefaultFailedMarkers()[kind]
		}
		if answeredWithError(msgs, i, markers) {
			return kind
		}
	}
	return ""
}

// Example is one tokenised conversation.
type Example struct {
	Text          string
	InputIDs      []int32
	LossMask      []int32
	Weights       []int32 // per message: 1 if the message's tokens carry loss
	NumLossTokens int
	// Failed counts the assistant turns kept out of the loss as failed
	// actions, by kind (Options.MaskFailed).
	Failed map[string]int
	// Straddling counts tokens that cross the start of an assistant turn
	// (the header's newline merged with a turn that begins with a newline):
	// they stay masked, since the model did not produce them whole.
	Straddling int
}

// ErrNoAssistant: the conversation has no assistant turn to learn from.
var ErrNoAssistant = errors.New("no assistant turn")

// Encoder turns text into ids and ids back into bytes: a
// *tokenizer.Tokenizer, or a *tokcache.Cache in front of one.
type Encoder interface {
	Encode(text string) []int32
	AppendBytes(dst []byte, ids []int32) []byte
}

// Build renders the conversation with the template, tokenises the whole text
// (the ids are those the reference tokenizer gives the rendered text) and
// masks every token outside the trained assistant turns.
func Build(tok Encoder, tmpl *chattemplate.Template, chat chattemplate.Chat, opts Options) (Example, error) {
	text, spans, err := tmpl.RenderWithSpans(chat)
	if err != nil {
		return Example{}, err
	}
	if len(spans) == 0 {
		return Example{}, ErrNoAssistant
	}
	trained := make([]bool, len(spans))
	var failed map[string]int
	for i, s := range spans {
		trained[i] = opts.Mask != MaskLastTurn || i == len(spans)-1
		if !trained[i] {
			continue
		}
		if kind := opts.failedKind(chat.Messages, s.Message); kind != "" {
			trained[i] = false
			if failed == nil {
				failed = map[string]int{}
			}
			failed[kind]++
		}
	}
	ids := tok.Encode(text)
	ex := Example{Text: text, InputIDs: ids, LossMask: make([]int32, len(ids)), Weights: make([]int32, len(chat.Messages)), Failed: failed}
	var buf []byte
	off, si := 0, 0
	for i := range ids {
		buf = tok.AppendBytes(buf[:0], ids[i:i+1])
		start, end := off, off+len(buf)
		off = end
		for si < len(spans) && spans[si].End <= start {
			si++
		}
		if si == len(spans) || !trained[si] {
			continue
		}
		s := spans[si]
		switch {
		case start >= s.Start && end <= s.End:
			ex.LossMask[i] = 1
			ex.NumLossTokens++
		case start < s.Start && end > s.Start:
			ex.Straddling++
		}
	}
	if off != len(text) {
		return Example{}, fmt.Errorf("token bytes (%d) do not add up to the text (%d)", off, len(text))
	}
	for i, s := range spans {
		if trained[i] {
			ex.Weights[s.Message] = 1
		}
	}
	return ex, nil
}

func answeredWithError(msgs []schemas.Message, i int, markers []string) bool {
	for j := i + 1; j < len(msgs) && msgs[j].Role != "assistant"; j++ {
		for _, m := range markers {
			if m != "" && strings.Contains(msgs[j].Content, m) {
				return true
			}
		}
	}
	return false
}

// Truncate cuts an example to maxTokens (keeping the start: the task and the
// first turns).
func Truncate(ex Example, maxTokens int) Example {
	if len(ex.InputIDs) <= maxTokens {
		return ex
	}
	ex.InputIDs = ex.InputIDs[:maxTokens]
	ex.LossMask = ex.LossMask[:maxTokens]
	ex.NumLossTokens = 0
	for _, m := range ex.LossMask {
		ex.NumLossTokens += int(m)
	}
	return ex
}

// SplitOf assigns an example to "train" or "validation" deterministically:
// the examples sorted by sha256(seed, id) and the first round(frac·n) go to
// validation, so the split does not depend on input order.
func SplitOf(ids []string, seed uint64, validationFrac float64) map[string]string {
	type keyed struct {
		id  string
		key [32]byte
	}
	ks := make([]keyed, len(ids))
	for i, id := range ids {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], seed)
		h := sha256.New()
		h.Write(b[:])
		h.Write([]byte(id))
		copy(ks[i].key[:], h.Sum(nil))
		ks[i].id = id
	}
	sort.Slice(ks, func(i, j int) bool { return string(ks[i].key[:]) < string(ks[j].key[:]) })
	nVal := int(validationFrac*float64(len(ids)) + 0.5)
	out := make(map[string]string, len(ids))
	for i, k := range ks {
		if i < nVal {
			out[k.id] = "validation"
		} else {
			out[k.id] = "train"
		}
	}
	return out
}

// Shuffle orders ids by sha256(seed, id): a deterministic shuffle.
func Shuffle(ids []string, seed uint64) []string {
	out := slices.Clone(ids)
	key := func(id string) string {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], seed^0x5eed)
		h := sha256.Sum256(append(b[:], id...))
		return string(h[:])
	}
	sort.SliceStable(out, func(i, j int) bool { return key(out[i]) < key(out[j]) })
	return out
}

// Packed is one fixed-capacity sequence holding whole examples.
type Packed struct {
	InputIDs    []int32
	LossMask    []int32
	PositionIDs []int32 // restart at 0 for every example
	ExampleIDs  []string
	SeqLens     []int32 // length of each example, in order (cu_seqlens are their prefix sums)
}

// Pack places examples into sequences of at most capacity tokens, first fit
// decreasing (longest first; ties by id, so the result is deterministic).
// Examples longer than capacity are an error: apply the length policy first.
func Pack(ids []string, examples map[string]Example, capacity int) ([]Packed, error) {
	order := slices.Clone(ids)
	sort.SliceStable(order, func(i, j int) bool {
		li, lj := len(examples[order[i]].InputIDs), len(examples[order[j]].InputIDs)
		if li != lj {
			return li > lj
		}
		return order[i] < order[j]
	})
	var bins []Packed
	for _, id := range order {
		ex := examples[id]
		n := len(ex.InputIDs)
		if n > capacity {
			return nil, fmt.Errorf("pack: example %s has %d tokens, more than the capacity %d", id, n, capacity)
		}
		placed := false
		for b := range bins {
			if len(bins[b].InputIDs)+n <= capacity {
				bins[b].add(id, ex)
				placed = true
				break
			}
		}
		if !placed {
			bins = append(bins, Packed{})
			bins[len(bins)-1].add(id, ex)
		}
	}
	return bins, nil
}

func (p *Packed) add(id string, ex Example) {
	p.InputIDs = append(p.InputIDs, ex.InputIDs...)
	p.LossMask = append(p.LossMask, ex.LossMask...)
	for i := range ex.InputIDs {
		p.PositionIDs = append(p.PositionIDs, int32(i))
	}
	p.ExampleIDs = append(p.ExampleIDs, id)
	p.SeqLens = append(p.SeqLens, int32(len(ex.InputIDs)))
}
