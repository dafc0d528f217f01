package buildsft

import (
	"errors"
	"fmt"
	"strings"

	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/chattemplate"
)

// probe stands for a message's content while the template's header and
// footer around it are measured.
const probe = "\x00swelake-content-probe\x00"

// renderedMessages is the example's conversation as messages of role and
// content only, whose rendering with the same template and no tools is the
// example's text byte for byte: the tool schemas folded into the system
// turn, each tool call written into its assistant turn's content as the
// template writes it, a run of tool results the template merges into one
// turn written as one message. This is the representation for consumers
// that load rows through Arrow (which merges object keys across rows and so
// changes what `tojson` prints) or that do not pass tools to the template.
// It fails, naming the message, where the template does not allow it.
// last[i] is the index of the last original message rendered messages[i]
// stands for.
func (lc locator) renderedMessages(r schemas.SFTExample) (rendered []schemas.Message, last []int, err error) {
	chat := lc.chat(r)
	text := r.Text
	msgs := chat.Messages
	plain := chat
	plain.Tools = nil
	render := func(c chattemplate.Chat, m []schemas.Message) (string, error) {
		if len(m) == 0 {
			return "", nil
		}
		c.Messages = m
		return lc.tmpl.RenderChat(c)
	}
	// A turn ends where the conversation up to a message renders as a
	// prefix of the text; where it does not (Qwen2.5 writes the end of a
	// tool result only once it knows the next message is not one), the
	// message joins the next in one turn.
	var flat []schemas.Message
	start, next := 0, 0
	for j := range msgs {
		s, err := render(chat, msgs[:j+1])
		if err != nil {
			return nil, nil, fmt.Errorf("render messages[:%d]: %w", j+1, err)
		}
		if !strings.HasPrefix(text, s) {
			continue
		}
		end := len(s)
		group := msgs[next : j+1]
		role := group[0].Role
		for _, m := range group[1:] {
			if m.Role != role || role != "tool" {
				return nil, nil, fmt.Errorf("messages %d–%d render as one turn, which role/content messages cannot express", j+1-len(group), j)
			}
		}
		// The messages so far, rendered without tools, must be the text up
		// to here; after them, the template's head and foot around a probe.
		p, err := render(plain, append(flat[:len(flat):len(flat)], schemas.Message{Role: role, Content: probe}))
		if err != nil {
			return nil, nil, fmt.Errorf("message %d: %w", j, err)
		}
		if !strings.HasPrefix(p, text[:start]) {
			return nil, nil, fmt.Errorf("message %d: the template renders the messages before it differently without tools", j)
		}
		head, foot, ok := strings.Cut(p[start:], probe)
		seg := text[start:end]
		if !ok || !strings.HasPrefix(seg, head) || !strings.HasSuffix(seg, foot) || len(seg) < len(head)+len(foot) {
			return nil, nil, fmt.Errorf("message %d (%s): its turn is not the template's %s turn around some content", j, role, role)
		}
		flat = append(flat, schemas.Message{Role: role, Content: seg[len(head) : len(seg)-len(foot)]})
		last = append(last, j)
		start, next = end, j+1
	}
	if start != len(text) {
		return nil, nil, errors.New("the last message does not end the text")
	}
	if s, err := render(plain, flat); err != nil || s != text {
		return nil, nil, errors.New("the rendered messages do not render back to the text")
	}
	return flat, last, nil
}
