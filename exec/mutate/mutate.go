// Package mutate finds procedural bug injections in source files (the
// Self-Play SWE-RL / SWE-smith recipe): delete a statement or a whole block,
// invert a condition, swap an operator, shift a constant by one, change a
// return value. Go files are read with go/ast; Python files with a
// line-and-indentation reader that understands blocks, brackets and
// strings. A mutation is a byte-range replacement: applying it leaves the
// rest of the file untouched, so the bug patch is as small as the bug.
//
// Whether a mutation makes a task is for the tests to say (jobs/synthtasks
// keeps those that break ≥ 1 test and nothing else of the build).
package mutate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strings"
)

// Kinds of mutation.
const (
	RemoveStmt   = "remove_stmt"
	RemoveBlock  = "remove_block"
	InvertCond   = "invert_cond"
	SwapOp       = "swap_op"
	OffByOne     = "off_by_one"
	ChangeReturn = "change_return"
)

// Kinds lists every kind, in a fixed order.
func Kinds() []string {
	return []string{RemoveStmt, RemoveBlock, InvertCond, SwapOp, OffByOne, ChangeReturn}
}

// Mutation replaces File[Start:End] with Replacement.
type Mutation struct {
	File        string `json:"file"` // slash-separated, relative to the repository root
	Kind        string `json:"kind"`
	Line        int    `json:"line"` // 1-based line of Start
	Start, End  int    `json:"-"`
	Replacement string `json:"-"`
	Desc        string `json:"desc"` // e.g. "if lo <= hi → if !(lo <= hi)"
	Func        string `json:"func"` // the enclosing function, if known
}

// ID names the mutation stably: the same edit of the same file has the
// same id in every run.
func (m Mutation) ID() string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d\x00%d\x00%s", m.File, m.Kind, m.Start, m.End, m.Replacement))
	return hex.EncodeToString(h[:])[:10]
}

// Apply returns src with the mutation applied.
func (m Mutation) Apply(src []byte) ([]byte, error) {
	if m.Start < 0 || m.End < m.Start || m.End > len(src) {
		return nil, fmt.Errorf("mutation %s of %s: range %d:%d outside a %d-byte file", m.ID(), m.File, m.Start, m.End, len(src))
	}
	out := make([]byte, 0, len(src)-(m.End-m.Start)+len(m.Replacement))
	out = append(out, src[:m.Start]...)
	out = append(out, m.Replacement...)
	return append(out, src[m.End:]...), nil
}

// Language of a file by its name: "go", "python" or "".
func Language(file string) string {
	switch path.Ext(file) {
	case ".go":
		return "go"
	case ".py":
		return "python"
	}
	return ""
}

// IsSource reports whether a file is library code to mutate: Go or Python,
// not a test, not vendored or generated.
func IsSource(file string) bool {
	base := path.Base(file)
	switch {
	case Language(file) == "":
		return false
	case strings.HasSuffix(base, "_test.go"), strings.HasPrefix(base, "test_"), strings.HasSuffix(base, "_test.py"),
		base == "conftest.py", base == "setup.py", base == "__init__.py":
		return false
	}
	for _, dir := range strings.Split(path.Dir(file), "/") {
		switch dir {
		case "tests", "test", "testdata", "vendor", "node_modules", "examples", "docs":
			return false
		}
		if strings.HasPrefix(dir, ".") && dir != "." {
			return false
		}
	}
	return true
}

// IsTestFile reports whether a repository path holds tests or their
// fixtures: test_*.py, *_test.py, *_test.go, conftest.py, or anything
// under a tests/, test/ or testdata/ directory. A synthesised bug must not
// touch one; a generated test adds only such files.
func IsTestFile(file string) bool {
	base := path.Base(file)
	if strings.HasSuffix(base, "_test.go") || strings.HasSuffix(base, "_test.py") || (strings.HasPrefix(base, "test_") && strings.HasSuffix(base, ".py")) || base == "conftest.py" {
		return true
	}
	for _, dir := range strings.Split(path.Dir(file), "/") {
		if dir == "tests" || dir == "test" || dir == "testdata" {
			return true
		}
	}
	return false
}

// Find lists the mutations of one source file, in file order.
func Find(file string, src []byte) ([]Mutation, error) {
	var ms []Mutation
	var err error
	switch Language(file) {
	case "go":
		ms, err = findGo(file, src)
	case "python":
		ms = findPython(file, src)
	default:
		return nil, fmt.Errorf("mutate %s: not a Go or Python file", file)
	}
	if err != nil {
		return nil, fmt.Errorf("mutate %s: %w", file, err)
	}
	for i := range ms {
		if ms[i].Replacement == "" {
			ms[i].Start, ms[i].End = wholeLines(src, ms[i].Start, ms[i].End)
		}
		ms[i].File = file
		ms[i].Line = 1 + strings.Count(string(src[:ms[i].Start]), "\n")
	}
	return ms, nil
}

// swaps are the operator swaps of both languages.
var swaps = map[string]string{
	"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "==",
	"&&": "||", "||": "&&", "and": "or", "or": "and", "+": "-", "-": "+",
}

// wholeLines widens a deletion to the lines it covers when nothing else
// is on them, so that the diff removes lines rather than leaving blanks.
func wholeLines(src []byte, start, end int) (int, int) {
	s := start
	for s > 0 && (src[s-1] == ' ' || src[s-1] == '\t') {
		s--
	}
	if s > 0 && src[s-1] != '\n' {
		return start, end
	}
	e := end
	for e < len(src) && (src[e] == ' ' || src[e] == '\t') {
		e++
	}
	if e < len(src) && src[e] != '\n' {
		return start, end
	}
	if e < len(src) {
		e++
	}
	return s, e
}
