package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/swelake/swelake/internal/tokref"
)

// TestHeapMergeEqualsScan: the two BPE merge loops (scan for short pieces,
// heap for long ones) agree on every piece, including long repetitive ones
// where equal-rank ties decide the result.
func TestHeapMergeEqualsScan(t *testing.T) {
	if err := tokref.Check(); err != nil {
		t.Fatal(err)
	}
	tok, err := Load(tokref.DefaultTokenizerDir())
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 3))
	atoms := []string{"a", "b", "ab", " ", "=", "-", "_", "é", "日", "😀", "0", "the", "ing", "\n"}
	sc := newScratch().(*scratch)
	for i := range 2000 {
		var b strings.Builder
		for range 1 + r.IntN(60) {
			b.WriteString(atoms[r.IntN(len(atoms))])
		}
		if i%10 == 0 {
			b.WriteString(strings.Repeat(atoms[r.IntN(len(atoms))], 50+r.IntN(200)))
		}
		p := b.String()
		syms := func() []int32 {
			s := make([]int32, len(p))
			for j := range len(p) {
				s[j] = tok.byteID[p[j]]
			}
			return s
		}
		scan := tok.mergeScan(syms())
		hp := tok.mergeHeap(syms(), sc)
		if !slices.Equal(scan, hp) {
			t.Fatalf("piece %q: scan %v, heap %v", p, scan, hp)
		}
		if got := string(tok.AppendBytes(nil, hp)); got != p {
			t.Fatalf("piece %q decodes to %q", p, got)
		}
	}
}

func TestSplitTilesTheText(t *testing.T) {
	for _, sp := range []splitter{{maxDigits: 1}, {maxDigits: 3}, gpt2Splitter} {
		for _, s := range []string{"", "a", " \n \r\n\t x  ", "it's 12345 ab-cd  \n\nefg", "日本 😀\u0085\ufeff"} {
			var got strings.Builder
			for i := 0; i < len(s); {
				e := sp.next(s, i)
				if e <= i {
					t.Fatalf("%+v on %q: empty piece at %d", sp, s, i)
				}
				got.WriteString(s[i:e])
				i = e
			}
			if got.String() != s {
				t.Fatalf("%+v on %q: pieces do not tile the text", sp, s)
			}
		}
	}
}
