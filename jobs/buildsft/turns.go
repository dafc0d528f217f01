package buildsft

import (
	"errors"
	"fmt"
	"sort"

	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/chattemplate"
	"github.com/swelake/swelake/trainer/sft"
	"github.com/swelake/swelake/trainer/tokenizer"
)

// turnTokens is one assistant turn of an example located in its token ids:
// tokens [Start, End) are the turn's content through its end-of-turn marker
// and the newline after it (what the loss mask trains when the turn is
// trained).
type turnTokens struct {
	Message    int // index in the example's messages
	Start, End int // token indices
	ByteStart  int // offsets in the rendered text
	ByteEnd    int
	Trained    bool
}

// located is an example's assistant turns in its ids, and what follows the
// last of them.
type located struct {
	Turns []turnTokens
	// Trailing counts the messages after the last assistant turn (tool
	// results or a user message the model never answered).
	Trailing int
}

// Last is the last assistant turn.
func (l located) Last() turnTokens { return l.Turns[len(l.Turns)-1] }

// locator finds assistant turns in an example's ids with the template and
// tokenizer the set was built with.
type locator struct {
	enc  sft.Encoder
	tmpl *chattemplate.Template
	cfg  tokenizer.Config
}

// chat is the conversation an example renders as: the one build-sft
// rendered from its rollout (chattemplate.ChatOf).
func (lc locator) chat(r schemas.SFTExample) chattemplate.Chat {
	return chattemplate.ChatOf(schemas.Rollout{Messages: r.Messages, Tools: r.Tools}, lc.cfg)
}

// tokenEnds is the byte offset just after each token of ids.
func tokenEnds(enc sft.Encoder, ids []int32) []int {
	ends := make([]int, len(ids))
	var buf []byte
	off := 0
	for i := range ids {
		buf = enc.AppendBytes(buf[:0], ids[i:i+1])
		off += len(buf)
		ends[i] = off
	}
	return ends
}

// locate renders the example again, checks the text is the one its ids were
// made from, and maps each assistant turn's bytes to token indices. A token
// that straddles a turn's start (the header's newline merged with content
// that begins with whitespace) is not the turn's, as in the loss mask.
func (lc locator) locate(r schemas.SFTExample) (located, error) {
	text, spans, err := lc.tmpl.RenderWithSpans(lc.chat(r))
	if err != nil {
		return located{}, fmt.Errorf("render: %w", err)
	}
	if text != r.Text {
		return located{}, errors.New("the tokenizer's chat template renders another text than the set holds (was the set built with another tokenizer?)")
	}
	if len(spans) == 0 {
		return located{}, sft.ErrNoAssistant
	}
	ends := tokenEnds(lc.enc, r.InputIDs)
	// A turn's tokens are those wholly inside its bytes, as in the mask:
	// from the first token that starts at or after its start (token i
	// starts where token i-1 ends) to the last that ends at or before its
	// end.
	firstFrom := func(b int) int {
		return sort.Search(len(ends), func(i int) bool { return i > 0 && ends[i-1] >= b || i == 0 && b <= 0 })
	}
	endsBy := func(b int) int {
		return sort.Search(len(ends), func(i int) bool { return ends[i] > b })
	}
	var out located
	for _, s := range spans {
		t := turnTokens{Message: s.Message, ByteStart: s.Start, ByteEnd: s.End,
			Start: firstFrom(s.Start), End: endsBy(s.End),
			Trained: s.Message < len(r.Weights) && r.Weights[s.Message] == 1}
		if t.Start >= len(ends) { // cut by truncation
			break
		}
		out.Turns = append(out.Turns, t)
	}
	if len(out.Turns) == 0 {
		return located{}, errors.New("truncation left no assistant turn")
	}
	out.Trailing = len(r.Messages) - 1 - out.Last().Message
	// The ids and the loss mask the set holds must be these turns'.
	want := make([]int32, len(r.InputIDs))
	for _, t := range out.Turns {
		if t.Trained {
			for i := t.Start; i < min(t.End, len(want)); i++ {
				want[i] = 1
			}
		}
	}
	for i := range want {
		if i >= len(r.LossMask) || want[i] != r.LossMask[i] {
			return located{}, fmt.Errorf("token %d: the loss mask is not the trained turns' (a mask this export cannot express)", i)
		}
	}
	return out, nil
}
