// Package chattemplate renders a model's Jinja chat template (the
// chat_template of its tokenizer_config.json) in Go, producing the same text
// as the reference renderers (@huggingface/jinja, used by transformers.js;
// Python transformers' sandboxed Jinja2 environment) for the templates of the
// models SWE agents are trained on.
//
// It implements the subset of Jinja chat templates use: text and {{ }}
// output with whitespace control, if/elif/else, for loops (loop variables,
// else, filters, break/continue), set (including namespace attributes and
// block sets), macros, the usual expressions, filters, tests and string and
// mapping methods. The environment is the one Hugging Face uses:
// trim_blocks and lstrip_blocks on, no trailing newline, tojson without HTML
// escaping.
package chattemplate

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

type tokKind int

const (
	tText tokKind = iota
	tOpenExpr
	tCloseExpr
	tOpenStmt
	tCloseStmt
	tName
	tString
	tInt
	tFloat
	tOp
	tEOF
)

type token struct {
	kind tokKind
	val  string
	pos  int
}

// ECMAScript's \s, as the reference's preprocessing uses it.
const jsSpace = `[\t\n\v\f\r \x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}]`

var (
	reComment   = regexp.MustCompile(`(?s)\{#.*?#\}`)
	reLStrip    = regexp.MustCompile(`(?m)^[ \t]*(\{[#%])`)
	reTrim      = regexp.MustCompile(`([#%]\})\n`)
	reStmtRight = regexp.MustCompile(`-%\}` + jsSpace + `*`)
	reStmtLeft  = regexp.MustCompile(jsSpace + `*\{%-`)
	reExprRight = regexp.MustCompile(`-\}\}` + jsSpace + `*`)
	reExprLeft  = regexp.MustCompile(jsSpace + `*\{\{-`)
)

// preprocess applies the environment's whitespace rules: drop one trailing
// newline, lstrip_blocks, trim_blocks, then the explicit - markers.
func preprocess(s string) string {
	s = strings.TrimSuffix(s, "\n")
	s = reComment.ReplaceAllString(s, "{##}")
	s = reLStrip.ReplaceAllString(s, "$1")
	s = reTrim.ReplaceAllString(s, "$1")
	s = strings.ReplaceAll(s, "{##}", "")
	s = reStmtRight.ReplaceAllString(s, "%}")
	s = reStmtLeft.ReplaceAllString(s, "{%")
	s = reExprRight.ReplaceAllString(s, "}}")
	return reExprLeft.ReplaceAllString(s, "{{")
}

var ops = []string{"==", "!=", "<=", ">=", "//", "**", "<", ">", "+", "-", "*", "/", "%", "~", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", "="}

var escapes = map[byte]string{'n': "\n", 't': "\t", 'r': "\r", 'b': "\b", 'f': "\f", 'v': "\v", '0': "\x00", '\\': "\\", '"': "\"", '\'': "'"}

func lex(src string) ([]token, error) {
	s := preprocess(src)
	var toks []token
	i := 0
	for i < len(s) {
		// Text up to the next {{ or {%.
		j := i
		for j < len(s) && !(s[j] == '{' && j+1 < len(s) && (s[j+1] == '{' || s[j+1] == '%')) {
			j++
		}
		if j > i {
			toks = append(toks, token{tText, s[i:j], i})
		}
		if j >= len(s) {
			break
		}
		stmt := s[j+1] == '%'
		closeTag := "}}"
		if stmt {
			toks = append(toks, token{tOpenStmt, "{%", j})
			closeTag = "%}"
		} else {
			toks = append(toks, token{tOpenExpr, "{{", j})
		}
		i = j + 2
		depth := 0
		for {
			for i < len(s) && unicode.IsSpace(rune(s[i])) {
				i++
			}
			if i >= len(s) {
				return nil, fmt.Errorf("template: unclosed tag at offset %d", j)
			}
			if depth == 0 && strings.HasPrefix(s[i:], closeTag) {
				if stmt {
					toks = append(toks, token{tCloseStmt, "%}", i})
				} else {
					toks = append(toks, token{tCloseExpr, "}}", i})
				}
				i += 2
				break
			}
			c := s[i]
			switch {
			case c == '"' || c == '\'':
				var b strings.Builder
				k := i + 1
				for k < len(s) && s[k] != c {
					if s[k] == '\\' && k+1 < len(s) {
						e, ok := escapes[s[k+1]]
						if !ok {
							return nil, fmt.Errorf("template: unknown escape \\%c at offset %d", s[k+1], k)
						}
						b.WriteString(e)
						k += 2
						continue
					}
					b.WriteByte(s[k])
					k++
				}
				if k >= len(s) {
					return nil, fmt.Errorf("template: unterminated string at offset %d", i)
				}
				toks = append(toks, token{tString, b.String(), i})
				i = k + 1
			case c >= '0' && c <= '9':
				k := i
				for k < len(s) && s[k] >= '0' && s[k] <= '9' {
					k++
				}
				kind := tInt
				if k+1 < len(s) && s[k] == '.' && s[k+1] >= '0' && s[k+1] <= '9' {
					k++
					for k < len(s) && s[k] >= '0' && s[k] <= '9' {
						k++
					}
					kind = tFloat
				}
				toks = append(toks, token{kind, s[i:k], i})
				i = k
			case c == '_' || unicode.IsLetter(rune(c)):
				k := i
				for k < len(s) && (s[k] == '_' || unicode.IsLetter(rune(s[k])) || unicode.IsDigit(rune(s[k]))) {
					k++
				}
				toks = append(toks, token{tName, s[i:k], i})
				i = k
			default:
				matched := false
				for _, op := range ops {
					if strings.HasPrefix(s[i:], op) {
						switch op {
						case "(", "[", "{":
							depth++
						case ")", "]", "}":
							depth--
						}
						toks = append(toks, token{tOp, op, i})
						i += len(op)
						matched = true
						break
					}
				}
				if !matched {
					return nil, fmt.Errorf("template: unexpected character %q at offset %d", c, i)
				}
			}
		}
	}
	return append(toks, token{tEOF, "", len(s)}), nil
}
