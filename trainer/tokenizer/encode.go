package tokenizer

import (
	"container/heap"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// cacheLimit bounds each scratch's piece cache (pieces repeat heavily in
// code and logs: most lookups hit).
const cacheLimit = 1 << 16

// maxCachedPiece is the longest piece (bytes) worth caching.
const maxCachedPiece = 64

type scratch struct {
	cache map[string][]int32
	syms  []int32
	heap  pairHeap
	nodes []node
}

func newScratch() any {
	return &scratch{cache: make(map[string][]int32, 1024)}
}

// Encode returns the ids of text. Added tokens (e.g. <|im_start|>) written in
// the text are recognised, as the reference tokenizers do by default; no
// BOS/EOS is added.
func (t *Tokenizer) Encode(text string) []int32 {
	return t.AppendEncode(make([]int32, 0, len(text)/3+4), text)
}

// AppendEncode appends the ids of text to dst.
func (t *Tokenizer) AppendEncode(dst []int32, text string) []int32 {
	sc := t.pool.Get().(*scratch)
	defer t.pool.Put(sc)
	type section struct {
		text  string
		added int32 // -1: plain text
	}
	var sections []section
	start := 0
	for i := 0; i < len(text); {
		cands := t.firstByt[text[i]]
		matched := -1
		for _, ci := range cands {
			if strings.HasPrefix(text[i:], t.added[ci].Content) {
				matched = ci
				break
			}
		}
		if matched < 0 {
			i++
			continue
		}
		if i > start {
			sections = append(sections, section{text[start:i], -1})
		}
		sections = append(sections, section{t.added[matched].Content, int32(matched)})
		i += len(t.added[matched].Content)
		start = i
	}
	if len(sections) == 0 {
		return t.encodePlain(dst, text, sc)
	}
	if start < len(text) {
		sections = append(sections, section{text[start:], -1})
	}
	for i, s := range sections {
		if s.added < 0 {
			continue
		}
		a := t.added[s.added]
		if a.LStrip && i > 0 && sections[i-1].added < 0 {
			sections[i-1].text = trimSpaceRight(sections[i-1].text)
		}
		if a.RStrip && i+1 < len(sections) && sections[i+1].added < 0 {
			sections[i+1].text = trimSpaceLeft(sections[i+1].text)
		}
	}
	for _, s := range sections {
		if s.added >= 0 {
			dst = append(dst, t.added[s.added].ID)
		} else {
			dst = t.encodePlain(dst, s.text, sc)
		}
	}
	return dst
}

func jsSpace(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiClass[r]&cS != 0
	}
	return classOf(r)&cS != 0
}

func trimSpaceRight(s string) string { return strings.TrimRightFunc(s, jsSpace) }
func trimSpaceLeft(s string) string  { return strings.TrimLeftFunc(s, jsSpace) }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// encodePlain normalises, pre-tokenises and BPE-encodes text without added
// tokens.
func (t *Tokenizer) encodePlain(dst []int32, text string, sc *scratch) []int32 {
	if text == "" {
		return dst
	}
	if t.nfc && !isASCII(text) {
		text = norm.NFC.String(text)
	}
	for i := 0; i < len(text); {
		e := t.split.next(text, i)
		dst = t.encodePiece(dst, text[i:e], sc)
		i = e
	}
	return dst
}

// encodePiece merges the bytes of one pre-tokenised piece.
func (t *Tokenizer) encodePiece(dst []int32, piece string, sc *scratch) []int32 {
	if len(piece) == 1 {
		return append(dst, t.byteID[piece[0]])
	}
	if len(piece) <= maxCachedPiece {
		if ids, ok := sc.cache[piece]; ok {
			return append(dst, ids...)
		}
	}
	syms := sc.syms[:0]
	for i := 0; i < len(piece); i++ {
		syms = append(syms, t.byteID[piece[i]])
	}
	if len(syms) <= 48 {
		syms = t.mergeScan(syms)
	} else {
		syms = t.mergeHeap(syms, sc)
	}
	sc.syms = syms
	if len(piece) <= maxCachedPiece {
		if len(sc.cache) >= cacheLimit {
			clear(sc.cache)
		}
		sc.cache[piece] = append([]int32(nil), syms...)
	}
	return append(dst, syms...)
}

// mergeScan applies merges lowest rank first (leftmost among equal ranks) by
// scanning: quadratic, fastest for the short pieces that dominate text.
func (t *Tokenizer) mergeScan(syms []int32) []int32 {
	for len(syms) > 1 {
		best, at := merge{rank: -1}, -1
		for i := 0; i+1 < len(syms); i++ {
			if m, ok := t.merges[pairKey(syms[i], syms[i+1])]; ok && (at < 0 || m.rank < best.rank) {
				best, at = m, i
			}
		}
		if at < 0 {
			break
		}
		syms[at] = best.id
		syms = append(syms[:at+1], syms[at+2:]...)
	}
	return syms
}

// node is a symbol of a long piece, in a doubly linked list.
type node struct {
	id         int32
	prev, next int32 // indexes, -1 at the ends
	alive      bool
	version    int32 // bumped when id changes: stale heap entries are skipped
}

type pairItem struct {
	rank    int32
	left    int32 // node index (also the tie-breaker: leftmost first)
	version int32
	nextVer int32
}

type pairHeap []pairItem

func (h pairHeap) Len() int { return len(h) }
func (h pairHeap) Less(i, j int) bool {
	return h[i].rank < h[j].rank || h[i].rank == h[j].rank && h[i].left < h[j].left
}
func (h pairHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pairHeap) Push(x any)   { *h = append(*h, x.(pairItem)) }
func (h *pairHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// mergeHeap is mergeScan with a priority queue: O(n log n) for long pieces
// (runs of punctuation or whitespace in logs can be megabytes long).
func (t *Tokenizer) mergeHeap(syms []int32, sc *scratch) []int32 {
	n := len(syms)
	nodes := sc.nodes[:0]
	for i, id := range syms {
		nodes = append(nodes, node{id: id, prev: int32(i - 1), next: int32(i + 1), alive: true})
	}
	nodes[n-1].next = -1
	h := sc.heap[:0]
	push := func(i int32) {
		j := nodes[i].next
		if j < 0 {
			return
		}
		if m, ok := t.merges[pairKey(nodes[i].id, nodes[j].id)]; ok {
			heap.Push(&h, pairItem{rank: m.rank, left: i, version: nodes[i].version, nextVer: nodes[j].version})
		}
	}
	for i := range int32(n - 1) {
		if m, ok := t.merges[pairKey(nodes[i].id, nodes[i+1].id)]; ok {
			h = append(h, pairItem{rank: m.rank, left: i})
		}
	}
	heap.Init(&h)
	for h.Len() > 0 {
		it := heap.Pop(&h).(pairItem)
		l := &nodes[it.left]
		if !l.alive || l.version != it.version || l.next < 0 {
			continue
		}
		r := &nodes[l.next]
		if r.version != it.nextVer {
			continue
		}
		m := t.merges[pairKey(l.id, r.id)]
		l.id = m.id
		l.version++
		r.alive = false
		l.next = r.next
		if r.next >= 0 {
			nodes[r.next].prev = it.left
		}
		if l.prev >= 0 {
			push(l.prev)
		}
		push(it.left)
	}
	syms = syms[:0]
	for i := int32(0); i >= 0; i = nodes[i].next {
		syms = append(syms, nodes[i].id)
	}
	sc.nodes, sc.heap = nodes, h
	return syms
}
