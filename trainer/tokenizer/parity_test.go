package tokenizer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/swelake/swelake/internal/realsamples"
	"github.com/swelake/swelake/internal/tokref"
	"github.com/swelake/swelake/trainer/tokenizer"
)

func loadQwen(tb testing.TB) *tokenizer.Tokenizer {
	tb.Helper()
	if err := tokref.Check(); err != nil {
		tb.Fatal(err)
	}
	tok, err := tokenizer.Load(tokref.DefaultTokenizerDir())
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// realdataStrings returns every string value (message contents, patches,
// logs) of the real public files in ../shared/realdata, plus the text files
// whole.
func realdataStrings(tb testing.TB) []string {
	tb.Helper()
	root := realsamples.Dir(tb)
	var out []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !utf8.Valid(b) {
			b = []byte(strings.ToValidUTF8(string(b), "\uFFFD"))
		}
		out = append(out, string(b))
		for _, x := range realsamples.Strings(b) {
			if x != "" {
				out = append(out, x)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("read %s: %v", root, err)
	}
	if len(out) < 100 {
		tb.Fatalf("only %d strings from %s", len(out), root)
	}
	return out
}

// unusualUnicode are texts where tokenizers disagree when done carelessly.
var unusualUnicode = []string{
	"", " ", "  ", "\n", "\r\n", "\t\t", " \n \n ", "a  b", "a \n\n b", "x   \n", "   ",
	"Hello, world! It's   DON'T we'll I'M you'VE she'D THEY'RE 'tis '",
	"café naïve façade résumé", "e\u0301 a\u0308 \u212b \u2126 \uFB01", // NFC-sensitive
	"日本語のテキストと中文混合 한국어", "Ελληνικά кириллица עברית العربية हिन्दी",
	"emoji 😀👩🏽‍💻🇺🇳 ❤️ 🏳️‍🌈", "zero\u200bwidth\u200djoiner\u2060", "bom\ufeffin the middle",
	"nel\u0085line sep\u2028para\u2029", "nbsp\u00a0x\u3000y\u202fz", "¹²³ ½ ⅷ ٣٤٥ ０１２",
	"\x00\x01\x07 control \x1b[31mred\x1b[0m", "\uFFFD replacement", "tab\tseparated\tvalues\n",
	"1234567890 3.14159 1e-10 0xdeadBEEF", "<|im_start|>user\nhi<|im_end|>\n<|endoftext|>",
	"<|im_start|><|im_start|> <|im_end|>x<|im_end", "<tool_call>\n{\"name\": \"bash\"}\n</tool_call>",
	"================================================================ FAILURES",
	strings.Repeat("-", 5000), strings.Repeat(" ", 3000) + "x", strings.Repeat("ab", 2000),
	strings.Repeat("😀", 300), "'s's's'S'LL", "a'S b'Ll c'rE",
}

// randomTexts draws strings from an alphabet mixing ASCII classes, spaces of
// every kind, combining marks, CJK, emoji and special-token fragments.
func randomTexts(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 7))
	atoms := []string{"a", "Z", "é", "e\u0301", "ß", "ſ", "K", "日", "😀", "1", "٣", "½", " ", "  ", "\t", "\n", "\r",
		"\r\n", "\u00a0", "\u0085", "\ufeff", "\u2028", "\u3000", "'", "'s", "'LL", ".", "!!", "->", "{", "}", "\"",
		"\\", "_", "def", " self", "<|im_end|>", "<|", "|>", "\x00", "\u200d", "ﬁ", "Å", "Ω"}
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		for range 1 + r.IntN(40) {
			b.WriteString(atoms[r.IntN(len(atoms))])
		}
		out[i] = b.String()
	}
	return out
}

func codeTexts(tb testing.TB) []string {
	tb.Helper()
	var out []string
	for _, dir := range []string{"trainer/tokenizer", "lake", "jobs/ingest/formats"} {
		files, _ := filepath.Glob(filepath.Join(tokref.Root(), dir, "*.go"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, string(b))
		}
	}
	return out
}

// TestParityWithReference: the Go tokenizer and the JavaScript tokenizer
// shipped with Qwen2.5's files give identical ids on the real trajectories,
// code, logs and unusual Unicode.
func TestParityWithReference(t *testing.T) {
	tok := loadQwen(t)
	corpus := map[string][]string{
		"realdata": realdataStrings(t),
		"code":     codeTexts(t),
		"unicode":  unusualUnicode,
		"random":   randomTexts(3000, 1),
	}
	var cases []tokref.Case
	var names []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range corpus {
			if !yield(k) {
				return
			}
		}
	}) {
		for i, s := range corpus[k] {
			cases = append(cases, tokref.Case{Text: s})
			names = append(names, fmt.Sprintf("%s[%d]", k, i))
		}
	}
	res, err := tokref.Run(context.Background(), tokref.DefaultTokenizerDir(), cases)
	if err != nil {
		t.Fatal(err)
	}
	var tokens, mismatches int
	for i, c := range cases {
		if res[i].Error != "" {
			t.Fatalf("%s: reference failed: %s", names[i], res[i].Error)
		}
		got := tok.Encode(c.Text)
		tokens += len(got)
		if !slices.Equal(got, res[i].IDs) {
			mismatches++
			if mismatches <= 5 {
				t.Errorf("%s %q: ids differ at %d\n go: %v\n js: %v", names[i], clip(c.Text), firstDiff(got, res[i].IDs), clipIDs(got), clipIDs(res[i].IDs))
			}
		}
	}
	t.Logf("parity: %d texts, %d tokens, %d mismatches (%d realdata, %d code, %d unicode, %d random)",
		len(cases), tokens, mismatches, len(corpus["realdata"]), len(corpus["code"]), len(corpus["unicode"]), len(corpus["random"]))
	if mismatches > 0 {
		t.Fatalf("%d of %d texts differ from the reference", mismatches, len(cases))
	}
}

func firstDiff(a, b []int32) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

func clipIDs(ids []int32) []int32 {
	if len(ids) > 40 {
		return ids[:40]
	}
	return ids
}

func normNFC(s string) string { return norm.NFC.String(s) }
