package mutate

import (
	"bytes"
	"go/parser"
	"go/token"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func sample(t *testing.T, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "repos", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func kinds(ms []Mutation) map[string]int {
	out := map[string]int{}
	for _, m := range ms {
		out[m.Kind]++
	}
	return out
}

func TestGoMutationsParse(t *testing.T) {
	src := sample(t, "gointerval/interval.go")
	ms, err := Find("interval.go", src)
	if err != nil {
		t.Fatal(err)
	}
	k := kinds(ms)
	for _, want := range Kinds() {
		if k[want] == 0 {
			t.Errorf("no %s mutation in interval.go (found %v)", want, k)
		}
	}
	ids := map[string]bool{}
	for _, m := range ms {
		out, err := m.Apply(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parser.ParseFile(token.NewFileSet(), "x.go", out, 0); err != nil {
			t.Errorf("%s (%s, line %d) does not parse: %v", m.Desc, m.Kind, m.Line, err)
		}
		if ids[m.ID()] {
			t.Errorf("duplicate id %s", m.ID())
		}
		ids[m.ID()] = true
		if m.Func == "" {
			t.Errorf("%s: no enclosing function", m.Desc)
		}
	}
	// A known one: the merge condition inverted, exactly.
	found := false
	for _, m := range ms {
		if m.Kind == InvertCond && m.Replacement == "!(iv.Lo <= last.Hi+1)" && m.Func == "Merge" {
			found = true
			out, _ := m.Apply(src)
			if !bytes.Contains(out, []byte("if !(iv.Lo <= last.Hi+1) {")) {
				t.Error("inverted condition not where it was")
			}
		}
	}
	if !found {
		t.Error("the condition of Merge's adjacency check was not offered for inversion")
	}
}

func TestGoRemovalTakesWholeLines(t *testing.T) {
	src := []byte("package p\n\nfunc f(x *int) {\n\t*x++\n\tg()\n}\n\nfunc g() {}\n")
	ms, err := Find("p.go", src)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Kind == RemoveStmt && m.Line == 5 {
			out, _ := m.Apply(src)
			if string(out) != "package p\n\nfunc f(x *int) {\n\t*x++\n}\n\nfunc g() {}\n" {
				t.Fatalf("removing g() left %q", out)
			}
			return
		}
	}
	t.Fatal("g() was not offered for removal")
}

// TestPythonMutationsParse applies every mutation of every sample Python
// module and has CPython's own parser check the result.
func TestPythonMutationsParse(t *testing.T) {
	if _, err := osexec.LookPath("python3"); err != nil {
		t.Fatal("python3 not found: install the Debian package python3")
	}
	dir := t.TempDir()
	var files []string
	all := map[string]int{}
	for _, rel := range []string{"pytext/textkit/case.py", "pytext/textkit/roman.py", "pytext/textkit/rle.py", "pytext/textkit/wrap.py",
		"pyledger/ledger/money.py", "pyledger/ledger/book.py", "pyledger/ledger/csvio.py"} {
		src := sample(t, rel)
		ms, err := Find(rel, src)
		if err != nil {
			t.Fatal(err)
		}
		for kind, n := range kinds(ms) {
			all[kind] += n
		}
		for i, m := range ms {
			out, err := m.Apply(src)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(out, src) {
				t.Errorf("%s: %s changes nothing", rel, m.Desc)
			}
			f := filepath.Join(dir, strings.ReplaceAll(rel, "/", "_")+"."+m.Kind+"."+string(rune('a'+i%26))+m.ID()+".py")
			if err := os.WriteFile(f, out, 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
	}
	for _, want := range Kinds() {
		if all[want] == 0 {
			t.Errorf("no %s mutation in the sample modules (found %v)", want, all)
		}
	}
	check := "import ast, sys\nbad = 0\nfor f in sys.argv[1:]:\n    try:\n        ast.parse(open(f).read())\n    except SyntaxError as e:\n        bad += 1\n        print(f, e)\nsys.exit(1 if bad else 0)\n"
	out, err := osexec.Command("python3", append([]string{"-c", check}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("mutations that are not Python (%d checked):\n%s", len(files), out)
	}
	t.Logf("%d mutations, all parse: %v", len(files), all)
}

func TestPythonBlocks(t *testing.T) {
	src := []byte(`def f(x):
    """Doc with an if x: inside."""
    total = 0
    if x > 1:
        total += 2
    elif x < 0:
        total = -1
    else:
        total = 3
    return total


def g(items):
    for i in items:
        print(i,
              "a # not a comment",
              i + 1)
`)
	ms := findPython("m.py", src)
	var block, lone *Mutation
	for i, m := range ms {
		if m.Kind == RemoveBlock && m.Func == "f" {
			block = &ms[i]
		}
		if m.Kind == RemoveStmt && m.Func == "g" {
			lone = &ms[i]
		}
	}
	if block == nil || lone == nil {
		t.Fatalf("mutations: %+v", ms)
	}
	out, _ := block.Apply(src)
	if want := "    total = 0\n    return total\n"; !strings.Contains(string(out), want) || strings.Contains(string(out), "elif") || strings.Contains(string(out), "else") {
		t.Errorf("removing the if chain left:\n%s", out)
	}
	out, _ = lone.Apply(src)
	if !strings.Contains(string(out), "    for i in items:\n        pass\n") {
		t.Errorf("removing the only statement of a block must leave pass:\n%s", out)
	}
	for _, m := range ms {
		if m.Start >= strings.Index(string(src), `"""`) && m.End <= strings.Index(string(src), `inside."""`)+10 {
			t.Errorf("mutation inside the docstring: %s", m.Desc)
		}
		if m.Kind == SwapOp && strings.Contains(m.Desc, "i + 1") {
			t.Errorf("operator of a multi-line statement offered: %s", m.Desc)
		}
	}
}

func TestIsTestFile(t *testing.T) {
	for p, want := range map[string]bool{
		"tests/test_rle.py": true, "pkg/interval_test.go": true, "conftest.py": true, "tests/helpers.py": true,
		"lib/testdata/x.json": true, "textkit/rle.py": false, "interval.go": false, "test_notes.md": false, "attest.py": false,
	} {
		if got := IsTestFile(p); got != want {
			t.Errorf("IsTestFile(%q) = %v, want %v", p, got, want)
		}
	}
}
