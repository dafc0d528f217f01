package tokcache

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swelake/swelake/internal/tokref"
	"github.com/swelake/swelake/trainer/tokenizer"
)

func qwen(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	if err := tokref.Check(); err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(tokref.DefaultTokenizerDir())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func texts() []string {
	out := []string{"", "hello world", "<|im_start|>user\nFix the bug in parse().<|im_end|>\n", strings.Repeat("=", 5000), "naïve café 🦀 — \u2028 done"}
	for i := range 200 {
		out = append(out, fmt.Sprintf("def f%d(x):\n    return x * %d  # line %d\n", i, i, i))
	}
	return out
}

func segments(t *testing.T, dir string, suffix string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "tokens", "*", "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRoundTrip: what one run encodes, the next run reads back — the same
// ids the tokenizer gives — without encoding again.
func TestRoundTrip(t *testing.T) {
	tok, dir := qwen(t), t.TempDir()
	c, err := Open(dir, tok)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range texts() {
		if got := c.Encode(s); !slices.Equal(got, tok.Encode(s)) {
			t.Fatalf("first encode of %.40q differs", s)
		}
	}
	// Within the run, a repeated text is a hit too (read back from the
	// segment being written).
	for _, s := range texts()[:10] {
		if got := c.Encode(s); !slices.Equal(got, tok.Encode(s)) {
			t.Fatalf("re-encode of %.40q differs", s)
		}
	}
	st := c.Stats()
	if st.Misses != int64(len(texts())) || st.Hits != 10 {
		t.Fatalf("first run stats %+v", st)
	}
	if len(segments(t, dir, ".seg")) != 0 {
		t.Fatal("a segment is visible before Close")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(segments(t, dir, ".seg")); n != 1 {
		t.Fatalf("%d sealed segments, want 1", n)
	}

	c2, err := Open(dir, tok)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for _, s := range texts() {
		if got := c2.Encode(s); !slices.Equal(got, tok.Encode(s)) {
			t.Fatalf("cached ids of %.40q differ", s)
		}
	}
	st = c2.Stats()
	if st.Hits != int64(len(texts())) || st.Misses != 0 || st.Entries != int64(len(texts())) {
		t.Fatalf("second run stats %+v", st)
	}
}

type renamed struct {
	*tokenizer.Tokenizer
	id string
}

func (r renamed) Identity() string { return r.id }

// TestIdentityKeys: another tokenizer identity never sees these entries.
func TestIdentityKeys(t *testing.T) {
	tok, dir := qwen(t), t.TempDir()
	c, _ := Open(dir, tok)
	c.Encode("hello world")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	other, _ := Open(dir, renamed{tok, "another tokenizer"})
	defer other.Close()
	other.Encode("hello world")
	if st := other.Stats(); st.Hits != 0 || st.Entries != 0 {
		t.Fatalf("another identity hit the cache: %+v", st)
	}
}

// TestConcurrent: many workers encoding overlapping texts (go test -race).
func TestConcurrent(t *testing.T) {
	tok, dir := qwen(t), t.TempDir()
	c, _ := Open(dir, tok)
	want := map[string][]int32{}
	for _, s := range texts() {
		want[s] = tok.Encode(s)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, s := range texts() {
				if (i+w)%3 == 0 {
					continue
				}
				if !slices.Equal(c.Encode(s), want[s]) {
					errs <- s
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for s := range errs {
		t.Fatalf("wrong ids for %.40q", s)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, _ := Open(dir, tok)
	defer c2.Close()
	if st := c2.Stats(); st.Entries != int64(len(texts())) {
		t.Fatalf("entries %d, want %d (each text stored once per identity key)", st.Entries, len(texts()))
	}
}

// TestDamage: an unsealed segment is ignored, a payload whose checksum fails
// is re-encoded (counted), a segment without its footer costs only its own
// entries.
func TestDamage(t *testing.T) {
	tok, dir := qwen(t), t.TempDir()
	c, _ := Open(dir, tok)
	c.Encode("first text, sealed")
	c.Encode("second text")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	seg := segments(t, dir, ".seg")[0]
	data, _ := os.ReadFile(seg)
	// An unsealed segment from a killed job.
	os.WriteFile(filepath.Join(filepath.Dir(seg), "dead.seg.tmp"), data[:len(data)/2], 0o644)
	// Flip a byte of the first payload (after its key and length).
	bad := slices.Clone(data)
	bad[34] ^= 0xff
	if err := os.WriteFile(seg, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	c2, err := Open(dir, tok)
	if err != nil {
		t.Fatal(err)
	}
	if got := c2.Encode("first text, sealed"); !slices.Equal(got, tok.Encode("first text, sealed")) {
		t.Fatal("corrupt entry returned wrong ids")
	}
	if got := c2.Encode("second text"); !slices.Equal(got, tok.Encode("second text")) {
		t.Fatal("intact entry returned wrong ids")
	}
	if st := c2.Stats(); st.Corrupt != 1 || st.Hits != 1 || st.Misses != 1 {
		t.Fatalf("stats %+v, want 1 corrupt, 1 hit, 1 miss", st)
	}
	c2.Close()

	// Cut the footer off every segment: they are skipped, the job goes on.
	for _, s := range segments(t, dir, ".seg") {
		d, _ := os.ReadFile(s)
		os.WriteFile(s, d[:len(d)-3], 0o644)
	}
	c3, err := Open(dir, tok)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if got := c3.Encode("second text"); !slices.Equal(got, tok.Encode("second text")) || c3.Stats().Misses != 1 {
		t.Fatalf("truncated segment: %+v", c3.Stats())
	}
}

// TestNoDir: without a directory the cache encodes every time and stores
// nothing.
func TestNoDir(t *testing.T) {
	tok := qwen(t)
	c, err := Open("", tok)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if !slices.Equal(c.Encode("x y z"), tok.Encode("x y z")) {
			t.Fatal("ids differ")
		}
	}
	if st := c.Stats(); st.Misses != 2 || st.Hits != 0 {
		t.Fatalf("stats %+v", st)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkCachedVsEncode: reading a cached text's ids against encoding it,
// on Go source text, in the same run.
func BenchmarkCachedVsEncode(b *testing.B) {
	tok := qwen(b)
	src, err := os.ReadFile(filepath.Join(tokref.Root(), "trainer", "tokenizer", "encode.go"))
	if err != nil {
		b.Fatal(err)
	}
	text := string(src)
	c, _ := Open(b.TempDir(), tok)
	defer c.Close()
	c.Encode(text)
	n := len(tok.Encode(text))
	b.ResetTimer()
	var enc, hit float64
	for range b.N {
		t0 := time.Now()
		tok.Encode(text)
		t1 := time.Now()
		c.Encode(text)
		t2 := time.Now()
		enc += t1.Sub(t0).Seconds()
		hit += t2.Sub(t1).Seconds()
	}
	b.ReportMetric(float64(n)*float64(b.N)/enc/1e6, "encode_Mtok/s")
	b.ReportMetric(float64(n)*float64(b.N)/hit/1e6, "cached_Mtok/s")
	b.ReportMetric(enc/hit, "speedup")
}
