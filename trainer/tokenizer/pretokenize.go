package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// The pre-tokenizer regular expressions of the supported model families,
// exactly as tokenizer.json spells them, and the hand-written matchers that
// reproduce them (Go's regexp has no lookahead, which `\s+(?!\S)` needs).
const (
	// Qwen2, Qwen2.5, Qwen3: one digit per piece.
	patternQwen2 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// Llama 3 and cl100k-style: up to three digits per piece.
	patternLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

var knownPatterns = map[string]splitter{
	patternQwen2:  {maxDigits: 1},
	patternLlama3: {maxDigits: 3},
}

// gpt2Splitter is ByteLevel's own regex (use_regex: true):
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
var gpt2Splitter = splitter{gpt2: true}

// splitter finds the pieces of a text. Every character is matched by some
// alternative of these patterns, so pieces tile the text.
type splitter struct {
	maxDigits int  // the \p{N}{1,n} of the Qwen/Llama-3 pattern
	gpt2      bool // the GPT-2 pattern instead
}

// class bits of a rune.
const (
	cL  = 1 << iota // \p{L}
	cN              // \p{N}
	cS              // \s (ECMAScript's definition: the parity reference)
	cNL             // \r or \n
)

var asciiClass = func() (t [128]uint8) {
	for c := range 128 {
		r := rune(c)
		switch {
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
			t[c] = cL
		case r >= '0' && r <= '9':
			t[c] = cN
		case r == ' ' || r == '\t' || r == '\v' || r == '\f':
			t[c] = cS
		case r == '\r' || r == '\n':
			t[c] = cS | cNL
		}
	}
	return t
}()

// classOf classifies r. \s follows ECMAScript (the reference tokenizer is
// JavaScript): it includes U+FEFF and excludes U+0085, which Unicode's
// White_Space property (Go's unicode.IsSpace) does the other way round.
func classOf(r rune) uint8 {
	if r < utf8.RuneSelf {
		return asciiClass[r]
	}
	switch {
	case unicode.IsLetter(r):
		return cL
	case unicode.IsNumber(r):
		return cN
	case r == 0x00A0 || r == 0x1680 || (r >= 0x2000 && r <= 0x200A) || r == 0x2028 || r == 0x2029 ||
		r == 0x202F || r == 0x205F || r == 0x3000 || r == 0xFEFF:
		return cS
	}
	return 0
}

// other: [^\s\p{L}\p{N}]
func other(c uint8) bool { return c&(cL|cN|cS) == 0 }

func decode(s string, i int) (rune, int, uint8) {
	if i >= len(s) {
		return -1, 0, 0xFF
	}
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1, asciiClass[c]
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	return r, n, classOf(r)
}

// scan advances from i over runes whose class satisfies ok, at most limit
// runes (limit < 0: no limit).
func scan(s string, i int, ok func(uint8) bool, limit int) int {
	for limit != 0 && i < len(s) {
		_, n, c := decode(s, i)
		if !ok(c) {
			break
		}
		i += n
		limit--
	}
	return i
}

func isL(c uint8) bool     { return c != 0xFF && c&cL != 0 }
func isN(c uint8) bool     { return c != 0xFF && c&cN != 0 }
func isS(c uint8) bool     { return c != 0xFF && c&cS != 0 }
func isNL(c uint8) bool    { return c != 0xFF && c&cNL != 0 }
func isOther(c uint8) bool { return c != 0xFF && other(c) }

// contraction returns the end of 's 't 're 've 'm 'll 'd at i (s[i] == '\”),
// or -1; fold makes it ASCII case-insensitive.
func contraction(s string, i int, fold bool) int {
	low := func(j int) byte {
		if j >= len(s) {
			return 0
		}
		c := s[j]
		if fold && c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		return c
	}
	switch a := low(i + 1); a {
	case 's', 't', 'm', 'd':
		return i + 2
	case 'r', 'v':
		if low(i+2) == 'e' {
			return i + 3
		}
	case 'l':
		if low(i+2) == 'l' {
			return i + 3
		}
	}
	return -1
}

// next returns the end of the piece that starts at i (< len(s)).
func (p splitter) next(s string, i int) int {
	r0, n0, c0 := decode(s, i)
	if p.gpt2 {
		return p.nextGPT2(s, i, r0, n0, c0)
	}
	if r0 == '\'' {
		if e := contraction(s, i, true); e > 0 {
			return e
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if isL(c0) {
		return scan(s, i, isL, -1)
	}
	if c0&(cNL|cL|cN) == 0 {
		if _, _, c1 := decode(s, i+n0); isL(c1) {
			return scan(s, i+n0, isL, -1)
		}
	}
	// \p{N}{1,maxDigits}
	if isN(c0) {
		return scan(s, i, isN, p.maxDigits)
	}
	// ' '?[^\s\p{L}\p{N}]+[\r\n]*
	start := -1
	if isOther(c0) {
		start = i
	} else if r0 == ' ' {
		if _, _, c1 := decode(s, i+n0); isOther(c1) {
			start = i + n0
		}
	}
	if start >= 0 {
		return scan(s, scan(s, start, isOther, -1), isNL, -1)
	}
	// c0 is \s: \s*[\r\n]+ | \s+(?!\S) | \s+
	return spaceRun(s, i, true)
}

func (p splitter) nextGPT2(s string, i int, r0 rune, n0 int, c0 uint8) int {
	if r0 == '\'' {
		if e := contraction(s, i, false); e > 0 {
			return e
		}
	}
	from := i
	c := c0
	if r0 == ' ' {
		if _, _, c1 := decode(s, i+n0); !isS(c1) && c1 != 0xFF {
			from, c = i+n0, c1
		}
	}
	switch {
	case isL(c):
		return scan(s, from, isL, -1)
	case isN(c):
		return scan(s, from, isN, -1)
	case isOther(c):
		return scan(s, from, isOther, -1)
	}
	return spaceRun(s, i, false)
}

// spaceRun matches at a whitespace character: with newlines,
// \s*[\r\n]+ first (up to and including the run's last \r or \n); then
// \s+(?!\S) (the run minus its last character when a non-space follows);
// then \s+.
func spaceRun(s string, i int, newlines bool) int {
	k, lastNL, lastStart := i, -1, i
	for k < len(s) {
		_, n, c := decode(s, k)
		if !isS(c) {
			break
		}
		if isNL(c) {
			lastNL = k + n
		}
		lastStart = k
		k += n
	}
	if newlines && lastNL > 0 {
		return lastNL
	}
	if k == len(s) || lastStart == i {
		return k
	}
	return lastStart
}
