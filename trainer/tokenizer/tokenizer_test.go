package tokenizer_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/swelake/swelake/trainer/tokenizer"
)

func TestQwenKnownIDs(t *testing.T) {
	tok := loadQwen(t)
	// Ids from the reference (deps/npm/ref.mjs) for this text.
	got := tok.Encode("Hello, my dog is cute   \n\n  x <|im_start|>user\n")
	want := []int32{9707, 11, 847, 5562, 374, 18838, 33933, 220, 856, 220, 151644, 872, 198}
	if !slices.Equal(got, want) {
		t.Fatalf("ids %v, want %v", got, want)
	}
	if d := tok.Decode(got); d != "Hello, my dog is cute   \n\n  x <|im_start|>user\n" {
		t.Fatalf("decode: %q", d)
	}
	if id, ok := tok.TokenID("<|im_end|>"); !ok || id != 151645 || !tok.IsSpecial(id) {
		t.Fatalf("<|im_end|>: %d %v", id, ok)
	}
	cfg := tok.Config()
	if cfg.EOSToken != "<|im_end|>" || cfg.ChatTemplate == "" || tok.VocabSize() != 151665 {
		t.Fatalf("config: eos %q, template %d bytes, vocab %d", cfg.EOSToken, len(cfg.ChatTemplate), tok.VocabSize())
	}
	if len(tok.Identity()) != 64 {
		t.Fatalf("identity %q", tok.Identity())
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	tok := loadQwen(t)
	for _, s := range append(unusualUnicode, randomTexts(500, 9)...) {
		if got := tok.Decode(tok.Encode(s)); got != normNFC(s) {
			t.Fatalf("round trip of %q gave %q", s, got)
		}
	}
}

func TestUnsupportedFiles(t *testing.T) {
	cfg := []byte(`{}`)
	for name, tj := range map[string]string{
		"wordpiece": `{"model": {"type": "WordPiece", "vocab": {}}}`,
		"fallback":  `{"model": {"type": "BPE", "vocab": {}, "merges": [], "byte_fallback": true}}`,
		"pattern":   `{"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated"}, "decoder": {"type": "ByteLevel"}}`,
		"metaspace": `{"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": {"type": "Metaspace"}, "decoder": {"type": "ByteLevel"}}`,
	} {
		if _, err := tokenizer.Parse([]byte(tj), cfg); !errors.Is(err, tokenizer.ErrUnsupported) {
			t.Errorf("%s: got %v, want ErrUnsupported", name, err)
		}
	}
	if _, err := tokenizer.Parse([]byte(`{`), cfg); err == nil {
		t.Error("broken JSON accepted")
	}
}
