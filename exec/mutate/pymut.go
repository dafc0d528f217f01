package mutate

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// pyLine is one logical line of Python: one or more physical lines joined
// by open brackets or a trailing backslash.
type pyLine struct {
	start, end int    // byte range, end excludes the newline
	indent     int    // columns of leading whitespace
	text       string // the first physical line without indentation and comment
	code       []bool // per byte of text: outside string literals
	multi      bool   // spans more than one physical line
	fn         string // enclosing def
}

func (l pyLine) keyword() string {
	i := strings.IndexFunc(l.text, func(r rune) bool { return !(r == '_' || r >= 'a' && r <= 'z') })
	if i < 0 {
		return l.text
	}
	return l.text[:i]
}

// header reports whether the line opens a block (ends with ':').
func (l pyLine) header() bool { return strings.HasSuffix(strings.TrimSpace(l.text), ":") }

// pyLines splits src into logical lines, skipping blank lines, comments and
// the inside of multi-line strings.
func pyLines(src []byte) []pyLine {
	s := string(src)
	var out []pyLine
	var defs []pyLine // enclosing defs, innermost last
	pos := 0
	for pos < len(s) {
		lineEnd := strings.IndexByte(s[pos:], '\n')
		if lineEnd < 0 {
			lineEnd = len(s)
		} else {
			lineEnd += pos
		}
		raw := s[pos:lineEnd]
		trimmed := strings.TrimLeft(raw, " \t")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			pos = lineEnd + 1
			continue
		}
		l := pyLine{start: pos, indent: len(raw) - len(trimmed)}
		// Scan the logical line: brackets, strings (triple-quoted ones may
		// span lines), comments, continuations.
		depth, i := 0, pos+l.indent
		var quote string
		for i < len(s) {
			c := s[i]
			switch {
			case quote != "":
				if c == '\\' {
					i += 2
					continue
				}
				if strings.HasPrefix(s[i:], quote) {
					i += len(quote)
					quote = ""
					continue
				}
				if c == '\n' && len(quote) == 1 {
					quote = "" // unterminated: stop at the line end
					continue
				}
				i++
				continue
			case c == '#':
				for i < len(s) && s[i] != '\n' {
					i++
				}
				continue
			case c == '"' || c == '\'':
				q := string(c)
				if strings.HasPrefix(s[i:], q+q+q) {
					q = q + q + q
				}
				quote = q
				i += len(q)
				continue
			case c == '(' || c == '[' || c == '{':
				depth++
			case c == ')' || c == ']' || c == '}':
				depth--
			case c == '\\' && i+1 < len(s) && s[i+1] == '\n':
				i += 2
				l.multi = true
				continue
			case c == '\n':
				if depth <= 0 {
					goto done
				}
				l.multi = true
			}
			i++
		}
	done:
		l.end = i
		first := s[pos+l.indent : min(i, lineEnd)]
		l.text, l.code = codeOf(first)
		for len(defs) > 0 && defs[len(defs)-1].indent >= l.indent {
			defs = defs[:len(defs)-1]
		}
		if len(defs) > 0 {
			l.fn = defs[len(defs)-1].fn
		}
		if k := l.keyword(); k == "def" || k == "async" {
			name := strings.TrimPrefix(strings.TrimPrefix(l.text, "async "), "def ")
			if j := strings.IndexAny(name, "( :"); j > 0 {
				name = name[:j]
			}
			d := l
			d.fn = name
			defs = append(defs, d)
		}
		out = append(out, l)
		pos = i + 1
	}
	return out
}

// codeOf strips a trailing comment and marks which bytes are code (not
// inside a string literal).
func codeOf(line string) (string, []bool) {
	code := make([]bool, len(line))
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
			continue
		case c == '"' || c == '\'':
			quote = c
			continue
		case c == '#':
			return strings.TrimRight(line[:i], " \t"), code[:len(strings.TrimRight(line[:i], " \t"))]
		}
		code[i] = true
	}
	return strings.TrimRight(line, " \t"), code[:len(strings.TrimRight(line, " \t"))]
}

var (
	pyOps = regexp.MustCompile(` (<=|>=|==|!=|<|>|and|or|\+|-) `)
	pyInt = regexp.MustCompile(`\b[0-9]+\b`)
)

// clauses that continue a compound statement and must go with it.
var continuation = map[string][]string{
	"if": {"elif", "else"}, "for": {"else"}, "while": {"else"}, "try": {"except", "else", "finally"}, "with": nil,
}

func findPython(_ string, src []byte) []Mutation {
	lines := pyLines(src)
	var out []Mutation
	s := string(src)
	for i, l := range lines {
		if l.fn == "" || l.indent == 0 {
			continue // module and class level: definitions, not behaviour
		}
		kw := l.keyword()
		textStart := l.start + l.indent
		// the body ends where the indentation returns to this line's
		bodyEnd := func(from int) int {
			j := from + 1
			for j < len(lines) && lines[j].indent > l.indent {
				j++
			}
			return j
		}
		onlyStmt := func(first, last int) bool { // lines[first:last] is its block's only statement
			prevOpens := first > 0 && lines[first-1].indent < l.indent
			nextCloses := last >= len(lines) || lines[last].indent < l.indent
			return prevOpens && nextCloses
		}
		remove := func(kind string, first, last int, what string) {
			start := lines[first].start
			end := lines[last-1].end
			repl := ""
			if onlyStmt(first, last) {
				repl = strings.Repeat(" ", l.indent) + "pass"
			} else if end < len(s) {
				end++ // the newline
			}
			out = append(out, Mutation{Kind: kind, Start: start, End: end, Replacement: repl, Func: l.fn,
				Desc: fmt.Sprintf("remove %s", what)})
		}
		switch {
		case kw == "if" || kw == "for" || kw == "while" || kw == "with" || kw == "try":
			if !l.header() {
				break
			}
			last := bodyEnd(i)
			for last < len(lines) && lines[last].indent == l.indent && slices.Contains(continuation[kw], lines[last].keyword()) {
				last = bodyEnd(last)
			}
			remove(RemoveBlock, i, last, fmt.Sprintf("the %s block at `%s`", kw, oneLine(l.text)))
		case l.header() || kw == "def" || kw == "class" || kw == "return" || kw == "pass" || kw == "import" ||
			kw == "from" || kw == "global" || kw == "nonlocal" || kw == "yield" || kw == "break" || kw == "continue" ||
			strings.HasPrefix(l.text, `"`) || strings.HasPrefix(l.text, `'`):
		default:
			remove(RemoveStmt, i, i+1, fmt.Sprintf("`%s`", oneLine(l.text)))
		}
		if l.multi {
			continue // operators and literals only on one-line statements
		}
		if (kw == "if" || kw == "elif" || kw == "while") && l.header() {
			cond := strings.TrimSuffix(strings.TrimSpace(l.text[len(kw):]), ":")
			cs := textStart + len(kw) + 1
			if strings.HasPrefix(s[cs:], cond) {
				out = append(out, Mutation{Kind: InvertCond, Start: cs, End: cs + len(cond), Replacement: "not (" + cond + ")", Func: l.fn,
					Desc: fmt.Sprintf("%s %s → %s not (%s)", kw, oneLine(cond), kw, oneLine(cond))})
			}
		}
		if kw == "def" || kw == "class" || kw == "import" || kw == "from" {
			continue
		}
		for _, m := range pyOps.FindAllStringSubmatchIndex(l.text, -1) {
			op := l.text[m[2]:m[3]]
			if !l.code[m[2]] {
				continue
			}
			to := swaps[op]
			out = append(out, Mutation{Kind: SwapOp, Start: textStart + m[2], End: textStart + m[3], Replacement: to, Func: l.fn,
				Desc: fmt.Sprintf("%s → %s in `%s`", op, to, oneLine(l.text))})
		}
		for _, m := range pyInt.FindAllStringIndex(l.text, -1) {
			if !l.code[m[0]] || (m[0] > 0 && (l.text[m[0]-1] == '.' || isIdent(l.text[m[0]-1]))) ||
				(m[1] < len(l.text) && (l.text[m[1]] == '.' || l.text[m[1]] == 'e' || l.text[m[1]] == 'j')) {
				continue
			}
			v, err := strconv.Atoi(l.text[m[0]:m[1]])
			if err != nil || v > 1<<20 {
				continue
			}
			out = append(out, Mutation{Kind: OffByOne, Start: textStart + m[0], End: textStart + m[1], Replacement: strconv.Itoa(v + 1), Func: l.fn,
				Desc: fmt.Sprintf("%d → %d in `%s`", v, v+1, oneLine(l.text))})
		}
		if kw == "return" {
			val := strings.TrimSpace(strings.TrimPrefix(l.text, "return"))
			repl := "None"
			switch val {
			case "", "None":
				continue
			case "True":
				repl = "False"
			case "False":
				repl = "True"
			}
			vs := textStart + len("return ")
			out = append(out, Mutation{Kind: ChangeReturn, Start: vs, End: vs + len(val), Replacement: repl, Func: l.fn,
				Desc: fmt.Sprintf("return %s → return %s", oneLine(val), repl)})
		}
	}
	return out
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
