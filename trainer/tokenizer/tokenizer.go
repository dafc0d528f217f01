// Package tokenizer is a pure-Go implementation of the Hugging Face
// byte-level BPE tokenizers used by the models SWE agents are trained on
// (Qwen2/Qwen2.5/Qwen3, Llama 3, GPT-2 family): it loads the model's own
// tokenizer.json and tokenizer_config.json and produces exactly the ids the
// reference implementations produce (checked by a parity test against the
// JavaScript tokenizer shipped with the model files).
//
// The pieces, in the order they run on a text:
//
//   - added tokens (special tokens such as <|im_start|>) are split out first,
//     longest match first, and map to their ids directly;
//   - the normalizer (NFC for Qwen) runs on the text between them;
//   - the pre-tokenizer splits that text with the model's regular expression,
//     implemented by hand (Go's regexp has no lookahead; see pretokenize.go);
//   - every piece's UTF-8 bytes are merged by the BPE merge ranks.
//
// A Tokenizer is immutable after Load and safe for concurrent use. It does no
// I/O besides Load.
package tokenizer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// ErrUnsupported is returned by Load for tokenizer files this package cannot
// reproduce exactly (another model type, normalizer or pre-tokenizer).
var ErrUnsupported = errors.New("unsupported tokenizer")

// ErrNoTokenizer is returned when a directory lacks tokenizer.json or
// tokenizer_config.json.
var ErrNoTokenizer = errors.New("no tokenizer")

// AddedToken is one entry of tokenizer.json's added_tokens.
type AddedToken struct {
	ID         int32  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// Config is what tokenizer_config.json says about templates and special
// tokens.
type Config struct {
	ChatTemplate string // the default chat template ("" if none)
	BOSToken     string
	EOSToken     string
	PadToken     string
	UnkToken     string
	AddBOSToken  bool
}

// Tokenizer encodes text to token ids and back.
type Tokenizer struct {
	vocab    map[string]int32
	tokens   []string // id -> token (byte-level form for model tokens)
	merges   map[uint64]merge
	byteID   [256]int32 // id of the token of each single byte
	added    []AddedToken
	addedBy  map[string]int32
	addedIDs map[int32]bool
	firstByt [256][]int // indexes into added, longest first, by first byte
	split    splitter
	nfc      bool
	cfg      Config
	identity string
	pool     sync.Pool
}

type merge struct {
	rank int32
	id   int32
}

// Load reads tokenizer.json and tokenizer_config.json from dir.
func Load(dir string) (*Tokenizer, error) {
	tj, cj, err := readFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer %s: %w", dir, err)
	}
	t, err := Parse(tj, cj)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer %s: %w", dir, err)
	}
	return t, nil
}

type fileJSON struct {
	AddedTokens  []AddedToken    `json:"added_tokens"`
	Normalizer   json.RawMessage `json:"normalizer"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	Decoder      json.RawMessage `json:"decoder"`
	Model        struct {
		Type                    string            `json:"type"`
		Vocab                   map[string]int32  `json:"vocab"`
		Merges                  json.RawMessage   `json:"merges"`
		ByteFallback            bool              `json:"byte_fallback"`
		ContinuingSubwordPrefix *string           `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string           `json:"end_of_word_suffix"`
		IgnoreMerges            bool              `json:"ignore_merges"`
		Dropout                 *float64          `json:"dropout"`
		Extra                   map[string]string `json:"-"`
	} `json:"model"`
}

type component struct {
	Type          string          `json:"type"`
	Normalizers   []component     `json:"normalizers"`
	Pretokenizers []component     `json:"pretokenizers"`
	Pattern       json.RawMessage `json:"pattern"`
	Behavior      string          `json:"behavior"`
	Invert        bool            `json:"invert"`
	UseRegex      *bool           `json:"use_regex"`
	AddPrefix     bool            `json:"add_prefix_space"`
}

// Parse builds a Tokenizer from the contents of tokenizer.json and
// tokenizer_config.json.
func Parse(tokenizerJSON, configJSON []byte) (*Tokenizer, error) {
	var f fileJSON
	if err := json.Unmarshal(tokenizerJSON, &f); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if f.Model.Type != "BPE" {
		return nil, fmt.Errorf("tokenizer.json: model type %q: %w (only byte-level BPE)", f.Model.Type, ErrUnsupported)
	}
	if f.Model.ByteFallback || f.Model.IgnoreMerges || nonEmpty(f.Model.ContinuingSubwordPrefix) || nonEmpty(f.Model.EndOfWordSuffix) || (f.Model.Dropout != nil && *f.Model.Dropout != 0) {
		return nil, fmt.Errorf("tokenizer.json: BPE options (byte_fallback, ignore_merges, subword affixes, dropout): %w", ErrUnsupported)
	}
	t := &Tokenizer{vocab: f.Model.Vocab, addedBy: map[string]int32{}, addedIDs: map[int32]bool{}}
	if err := t.parseNormalizer(f.Normalizer); err != nil {
		return nil, err
	}
	if err := t.parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	var dec *component
	if len(f.Decoder) > 0 && string(f.Decoder) != "null" {
		dec = &component{}
		if err := json.Unmarshal(f.Decoder, dec); err != nil {
			return nil, fmt.Errorf("tokenizer.json: decoder: %w", err)
		}
	}
	if dec == nil || dec.Type != "ByteLevel" {
		return nil, fmt.Errorf("tokenizer.json: decoder must be ByteLevel: %w", ErrUnsupported)
	}
	maxID := int32(-1)
	for _, id := range t.vocab {
		maxID = max(maxID, id)
	}
	for _, a := range f.AddedTokens {
		maxID = max(maxID, a.ID)
	}
	t.tokens = make([]string, maxID+1)
	for tok, id := range t.vocab {
		t.tokens[id] = tok
	}
	for b := range 256 {
		id, ok := t.vocab[string(byteToRune[b])]
		if !ok {
			return nil, fmt.Errorf("tokenizer.json: the vocabulary has no token for byte %#x: %w", b, ErrUnsupported)
		}
		t.byteID[b] = id
	}
	if err := t.parseMerges(f.Model.Merges); err != nil {
		return nil, err
	}
	for _, a := range f.AddedTokens {
		if a.Content == "" {
			continue
		}
		if a.SingleWord {
			return nil, fmt.Errorf("tokenizer.json: added token %q is single_word: %w", a.Content, ErrUnsupported)
		}
		t.added = append(t.added, a)
		t.addedBy[a.Content] = a.ID
		t.addedIDs[a.ID] = true
		t.tokens[a.ID] = a.Content
	}
	for i, a := range t.added {
		b := a.Content[0]
		t.firstByt[b] = append(t.firstByt[b], i)
	}
	for b := range t.firstByt {
		c := t.firstByt[b]
		sort.SliceStable(c, func(i, j int) bool { return len(t.added[c[i]].Content) > len(t.added[c[j]].Content) })
	}
	cfg, err := parseConfig(configJSON)
	if err != nil {
		return nil, err
	}
	t.cfg = cfg
	t.identity = identity(tokenizerJSON, configJSON)
	t.pool.New = func() any { return newScratch() }
	return t, nil
}

func nonEmpty(s *string) bool { return s != nil && *s != "" }

func (t *Tokenizer) parseNormalizer(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("tokenizer.json: normalizer: %w", err)
	}
	list := []component{c}
	if c.Type == "Sequence" {
		list = c.Normalizers
	}
	for _, n := range list {
		switch n.Type {
		case "NFC":
			t.nfc = true
		default:
			return fmt.Errorf("tokenizer.json: normalizer %q: %w", n.Type, ErrUnsupported)
		}
	}
	return nil
}

func (t *Tokenizer) parsePreTokenizer(raw json.RawMessage) error {
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("tokenizer.json: pre_tokenizer: %w", err)
	}
	list := []component{c}
	if c.Type == "Sequence" {
		list = c.Pretokenizers
	}
	var haveSplit, haveByteLevel bool
	for _, p := range list {
		switch p.Type {
		case "Split":
			var pat struct {
				Regex string `json:"Regex"`
			}
			if err := json.Unmarshal(p.Pattern, &pat); err != nil || pat.Regex == "" {
				return fmt.Errorf("tokenizer.json: Split pre-tokenizer without a Regex pattern: %w", ErrUnsupported)
			}
			s, ok := knownPatterns[pat.Regex]
			if !ok || p.Invert || !strings.EqualFold(p.Behavior, "Isolated") || haveSplit {
				return fmt.Errorf("tokenizer.json: Split pattern %q (behavior %s): %w", pat.Regex, p.Behavior, ErrUnsupported)
			}
			t.split, haveSplit = s, true
		case "ByteLevel":
			if p.AddPrefix {
				return fmt.Errorf("tokenizer.json: ByteLevel add_prefix_space: %w", ErrUnsupported)
			}
			if p.UseRegex == nil || *p.UseRegex {
				if haveSplit {
					return fmt.Errorf("tokenizer.json: ByteLevel regex after a Split: %w", ErrUnsupported)
				}
				t.split, haveSplit = gpt2Splitter, true
			}
			haveByteLevel = true
		default:
			return fmt.Errorf("tokenizer.json: pre-tokenizer %q: %w", p.Type, ErrUnsupported)
		}
	}
	if !haveSplit || !haveByteLevel {
		return fmt.Errorf("tokenizer.json: pre-tokenizer is not a byte-level split: %w", ErrUnsupported)
	}
	return nil
}

func (t *Tokenizer) parseMerges(raw json.RawMessage) error {
	var pairs [][2]string
	var asStrings []string
	if err := json.Unmarshal(raw, &asStrings); err == nil {
		pairs = make([][2]string, len(asStrings))
		for i, m := range asStrings {
			a, b, ok := strings.Cut(m, " ")
			if !ok {
				return fmt.Errorf("tokenizer.json: merge %d %q: not two tokens", i, m)
			}
			pairs[i] = [2]string{a, b}
		}
	} else if err := json.Unmarshal(raw, &pairs); err != nil {
		return fmt.Errorf("tokenizer.json: merges: %w", err)
	}
	t.merges = make(map[uint64]merge, len(pairs))
	for i, p := range pairs {
		a, okA := t.vocab[p[0]]
		b, okB := t.vocab[p[1]]
		m, okM := t.vocab[p[0]+p[1]]
		if !okA || !okB || !okM {
			return fmt.Errorf("tokenizer.json: merge %d %q: token not in the vocabulary", i, p[0]+" "+p[1])
		}
		key := pairKey(a, b)
		if _, dup := t.merges[key]; !dup {
			t.merges[key] = merge{rank: int32(i), id: m}
		}
	}
	return nil
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

func parseConfig(raw []byte) (Config, error) {
	var c map[string]json.RawMessage
	if err := json.Unmarshal(raw, &c); err != nil {
		return Config{}, fmt.Errorf("tokenizer_config.json: %w", err)
	}
	var cfg Config
	if ct, ok := c["chat_template"]; ok {
		var s string
		if err := json.Unmarshal(ct, &s); err != nil {
			var named []struct{ Name, Template string }
			if err := json.Unmarshal(ct, &named); err != nil {
				return Config{}, fmt.Errorf("tokenizer_config.json: chat_template is neither a string nor a list of named templates")
			}
			for _, n := range named {
				if n.Name == "default" {
					s = n.Template
				}
			}
		}
		cfg.ChatTemplate = s
	}
	tokenString := func(k string) string {
		v, ok := c[k]
		if !ok {
			return ""
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
		var obj struct {
			Content string `json:"content"`
		}
		if json.Unmarshal(v, &obj) == nil {
			return obj.Content
		}
		return ""
	}
	cfg.BOSToken = tokenString("bos_token")
	cfg.EOSToken = tokenString("eos_token")
	cfg.PadToken = tokenString("pad_token")
	cfg.UnkToken = tokenString("unk_token")
	if v, ok := c["add_bos_token"]; ok {
		_ = json.Unmarshal(v, &cfg.AddBOSToken)
	}
	return cfg, nil
}

// Config returns what tokenizer_config.json says (chat template, special
// tokens).
func (t *Tokenizer) Config() Config { return t.cfg }

// Identity is a content hash of the two files: two tokenizers with the same
// identity produce the same ids, so it keys caches of token ids.
func (t *Tokenizer) Identity() string { return t.identity }

// VocabSize is the number of ids (model vocabulary and added tokens).
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// TokenID returns the id of a token given in its vocabulary form (for
// special tokens, their text).
func (t *Tokenizer) TokenID(tok string) (int32, bool) {
	if id, ok := t.addedBy[tok]; ok {
		return id, true
	}
	id, ok := t.vocab[tok]
	return id, ok
}

// IsSpecial reports whether id is an added (special) token.
func (t *Tokenizer) IsSpecial(id int32) bool { return t.addedIDs[id] }

// Decode turns ids back into text. Byte sequences that are not valid UTF-8
// (a multi-byte character split across a boundary) decode to U+FFFD, as the
// reference decoders do.
func (t *Tokenizer) Decode(ids []int32) string {
	return string(t.AppendBytes(nil, ids))
}

// AppendBytes appends the raw bytes ids stand for (no UTF-8 repair): the
// concatenation over any split of ids equals the bytes of the whole.
func (t *Tokenizer) AppendBytes(dst []byte, ids []int32) []byte {
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.tokens) {
			dst = append(dst, "\ufffd"...)
			continue
		}
		tok := t.tokens[id]
		if t.addedIDs[id] {
			dst = append(dst, tok...)
			continue
		}
		for _, r := range tok {
			if r < utf8.RuneSelf*4 && runeToByte[r] >= 0 {
				dst = append(dst, byte(runeToByte[r]))
			}
		}
	}
	return dst
}

// byteToRune is GPT-2's byte-level alphabet: printable bytes stand for
// themselves, the others are shifted to U+0100 and up.
var byteToRune, runeToByte = byteLevelTables()

func byteLevelTables() (b2r [256]rune, r2b [512]int16) {
	for i := range r2b {
		r2b[i] = -1
	}
	n := 0
	for b := range 256 {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			b2r[b] = rune(b)
		} else {
			b2r[b] = rune(256 + n)
			n++
		}
		r2b[b2r[b]] = int16(b)
	}
	return b2r, r2b
}

// IdentityOf is the Identity of the tokenizer in dir, without parsing it.
func IdentityOf(dir string) (string, error) {
	tj, cj, err := readFiles(dir)
	if err != nil {
		return "", fmt.Errorf("tokenizer %s: %w", dir, err)
	}
	return identity(tj, cj), nil
}

// readFiles reads a tokenizer directory's two files; a missing one is
// ErrNoTokenizer.
func readFiles(dir string) (tokenizerJSON, configJSON []byte, err error) {
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s is missing", ErrNoTokenizer, name)
		}
		return b, err
	}
	if tokenizerJSON, err = read("tokenizer.json"); err != nil {
		return nil, nil, err
	}
	if configJSON, err = read("tokenizer_config.json"); err != nil {
		return nil, nil, err
	}
	return tokenizerJSON, configJSON, nil
}

func identity(tokenizerJSON, configJSON []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d\n", len(tokenizerJSON))
	h.Write(tokenizerJSON)
	h.Write(configJSON)
	return hex.EncodeToString(h.Sum(nil))
}
