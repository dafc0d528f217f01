package sft

import (
	"errors"
	"strings"
	"testing"

	"github.com/swelake/swelake/trainer/diff"
)

const newFilePatch = `diff --git a/pkg/new.py b/pkg/new.py
new file mode 100644
--- /dev/null
+++ b/pkg/new.py
@@ -0,0 +1 @@
+X = 1
diff --git a/pkg/old.py b/pkg/old.py
deleted file mode 100644
--- a/pkg/old.py
+++ /dev/null
@@ -1 +0,0 @@
-Y = 2
diff --git a/pkg/core.py b/pkg/core.py
--- a/pkg/core.py
+++ b/pkg/core.py
@@ -1 +1 @@
-def f(): return 1
+def f(): return 2
`

// TestTaskExamples: each kind's prompt shows what it must (the issue; the
// changed files' contents for repair and testgen) and answers exactly the
// gold patch's files, the gold patch, the test patch; a task that cannot
// make a kind says why.
func TestTaskExamples(t *testing.T) {
	in := TaskInput{TaskID: "x/1", Repo: "org/pkg", ProblemStatement: "f returns 1\n", GoldPatch: newFilePatch,
		TestPatch: "--- a/tests/test_core.py\n+++ b/tests/test_core.py\n@@ -1 +1,2 @@\n import pkg\n+assert pkg.f() == 2\n",
		Files:     map[string]string{"pkg/core.py": "def f(): return 1\n", "pkg/old.py": "Y = 2\n", "tests/test_core.py": "import pkg\n"}}
	loc, err := LocalizeExample(in)
	if err != nil || loc[2].Content != "```\npkg/new.py\npkg/old.py\npkg/core.py\n```" || !strings.Contains(loc[1].Content, "<issue>\nf returns 1\n</issue>") {
		t.Fatalf("localize: %+v %v", loc, err)
	}
	if exact, p, r := LocalizationScore(loc[2].Content, diff.Paths(in.GoldPatch)); !exact || p != 1 || r != 1 {
		t.Fatalf("the gold answer graded %v %g %g", exact, p, r)
	}
	rep, err := RepairExample(in)
	if err != nil || !strings.Contains(rep[1].Content, "<file path=\"pkg/core.py\">\ndef f(): return 1\n</file>") ||
		strings.Contains(rep[1].Content, "pkg/new.py\">") || !strings.HasPrefix(rep[2].Content, "```diff\ndiff --git a/pkg/new.py") {
		t.Fatalf("repair: %+v %v", rep, err)
	}
	tg, err := TestGenExample(in)
	if err != nil || !strings.Contains(tg[1].Content, "<file path=\"tests/test_core.py\">") || !strings.Contains(tg[2].Content, "+assert pkg.f() == 2") {
		t.Fatalf("testgen: %+v %v", tg, err)
	}
	missing := in
	missing.Files = map[string]string{}
	if _, err := RepairExample(missing); !errors.Is(err, ErrNoExample) || !strings.Contains(err.Error(), "no content for pkg/old.py") {
		t.Fatalf("repair without the files: %v", err)
	}
	none := in
	none.TestPatch = ""
	if _, err := TestGenExample(none); !errors.Is(err, ErrNoExample) {
		t.Fatalf("testgen without a test patch: %v", err)
	}
	none.GoldPatch = ""
	if _, err := LocalizeExample(none); !errors.Is(err, ErrNoExample) {
		t.Fatalf("localize without a gold patch: %v", err)
	}
}

// TestLocalizationScore grades answers by hand.
func TestLocalizationScore(t *testing.T) {
	gold := []string{"src/a.py", "src/b.py"}
	for answer, want := range map[string][3]float64{
		"```\nsrc/b.py\nsrc/a.py\n```":                        {1, 1, 1},
		"The files:\n```text\nsrc/a.py\n```":                  {0, 1, 0.5},
		"- src/a.py\n- ./src/b.py\n- src/c.py":                {0, 2.0 / 3, 1},
		"I think `src/a.py` and more.\n```\n1. src/a.py\n```": {0, 1, 0.5},
		"no idea":                                {0, 0, 0},
		"```\nsrc/a.py\nsrc/b.py\nsrc/a.py\n```": {1, 1, 1},
	} {
		exact, p, r := LocalizationScore(answer, gold)
		if (want[0] == 1) != exact || p != want[1] || r != want[2] {
			t.Errorf("%q: exact %v precision %g recall %g, want %v", answer, exact, p, r, want)
		}
	}
}
