package stage

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Cause is a class of a stage's errors: how many, and the first one whole.
type Cause struct {
	Cause   string `json:"cause"`
	Count   int    `json:"count"`
	Example string `json:"example"`
}

// Causes counts a stage's per-item errors by cause, so that a summary says
// "40 verifier errors: 40 × execution: repository … not in the store
// (first: …)" rather than a bare count. A cause is the message with what
// varies from item to item — quoted strings, paths and ids, hashes,
// numbers — replaced by "…". Safe for concurrent use.
type Causes struct {
	mu      sync.Mutex
	byCause map[string]*Cause
	order   []string
}

var (
	variableQuoted = regexp.MustCompile(`"[^"]*"|'[^']*'`)
	variableWord   = regexp.MustCompile(`[^\s:;,()]*[/\\][^\s:;,()]*|\b[0-9a-f]{7,64}\b|\b\d+(\.\d+)?(ms|s|m|h|%)?\b`)
)

// causeOf is a message with its item-specific parts replaced.
func causeOf(msg string) string {
	msg = variableQuoted.ReplaceAllString(msg, "…")
	return variableWord.ReplaceAllString(msg, "…")
}

// Add counts one error message ("" : none).
func (c *Causes) Add(msg string) {
	if msg == "" {
		return
	}
	key := causeOf(msg)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byCause == nil {
		c.byCause = map[string]*Cause{}
	}
	if e, ok := c.byCause[key]; ok {
		e.Count++
		return
	}
	c.byCause[key] = &Cause{Cause: key, Count: 1, Example: msg}
	c.order = append(c.order, key)
}

// List is every cause, the most frequent first (then in order of first
// appearance).
func (c *Causes) List() []Cause {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Cause, 0, len(c.order))
	for _, k := range c.order {
		out = append(out, *c.byCause[k])
	}
	slices.SortStableFunc(out, func(a, b Cause) int { return cmp.Compare(b.Count, a.Count) })
	return out
}

// FormatCauses is a summary line's account of errors: "40 × execution:
// repository … not in the store (first: execution: repository synth/pytext
// not in the store)", causes joined by "; ", at most three and "and N more".
func FormatCauses(causes []Cause) string {
	var parts []string
	for i, c := range causes {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more cause(s)", len(causes)-3))
			break
		}
		s := fmt.Sprintf("%d × %s", c.Count, c.Cause)
		if c.Example != c.Cause {
			s += fmt.Sprintf(" (first: %s)", c.Example)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
