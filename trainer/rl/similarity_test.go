package rl

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swelake/swelake/internal/realsamples"
)

// pythonReward runs testdata/swerl_reward.py — the reward written
// separately in Python over Debian's own difflib — on each case.
func pythonReward(t *testing.T, cases []map[string]string) []float64 {
	t.Helper()
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Fatal("Debian's /usr/bin/python3 is needed (its difflib is the reference): apt-get install python3")
	}
	var in bytes.Buffer
	for _, c := range cases {
		line, _ := json.Marshal(c)
		in.Write(append(line, '\n'))
	}
	cmd := exec.Command(python, filepath.Join("testdata", "swerl_reward.py"))
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("swerl_reward.py: %v\n%s", err, stderr.String())
	}
	var got []float64
	for _, l := range strings.Fields(string(out)) {
		var v float64
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("swerl_reward.py printed %q", l)
		}
		got = append(got, v)
	}
	if len(got) != len(cases) {
		t.Fatalf("swerl_reward.py: %d answers for %d cases", len(got), len(cases))
	}
	return got
}

// TestSequenceRatioMatchesDifflib: the Go port of SequenceMatcher.ratio
// against Python's own, on strings with repeats, unicode and real patches.
func TestSequenceRatioMatchesDifflib(t *testing.T) {
	pairs := [][2]string{{"", ""}, {"abc", ""}, {"abcd", "bcde"}, {"private Thread currentThread;", "private volatile Thread currentThread;"},
		{"aaaaaaaaaabbbbbbbbbbaaaaaaaaaa", "bbbbbaaaaaaaaaaaaaaabbbbb"}, {"héllo wörld ✓", "hello world ✓✓"},
		{"the quick brown fox jumps over the lazy dog", "the lazy dog jumps over the quick brown fox"}}
	for _, row := range realRows(t) {
		pairs = append(pairs, [2]string{row.Patch, row.TestPatch})
	}
	var cases []map[string]string
	for _, p := range pairs {
		cases = append(cases, map[string]string{"a": p[0], "b": p[1]})
	}
	want := pythonReward(t, cases)
	for i, p := range pairs {
		if got := SequenceRatio(p[0], p[1]); got != want[i] {
			t.Errorf("ratio(%.30q, %.30q) = %v, difflib says %v", p[0], p[1], got, want[i])
		}
	}
}

type realRow struct {
	ID        string `json:"instance_id"`
	Patch     string `json:"patch"`
	TestPatch string `json:"test_patch"`
}

func realRows(t *testing.T) []realRow {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(realsamples.Dir(t), "swe-tasks", "*", "row.json"))
	if len(files) != 9 {
		t.Fatalf("%d SWE-bench rows in realdata/swe-tasks, want 9", len(files))
	}
	var out []realRow
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var r realRow
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, r)
	}
	return out
}

// TestSimilarityRewardMatchesPython: SWE-RL's reward of predictions made
// from the nine real SWE-bench gold patches — the gold itself, an edited
// line, a dropped hunk, an extra file, the test patch (other files), the
// gold without git's hunk headings, with CRLF, garbage and nothing —
// against the reward the Python reference computes with difflib.
func TestSimilarityRewardMatchesPython(t *testing.T) {
	var cases []map[string]string
	for _, row := range realRows(t) {
		gold := row.Patch
		lines := strings.Split(gold, "\n")
		edited := strings.Clone(gold)
		for i, l := range lines {
			if strings.HasPrefix(l, "+") && !strings.HasPrefix(l, "+++") {
				lines[i] = l + "  # changed"
				edited = strings.Join(lines, "\n")
				break
			}
		}
		dropped := gold // without its last hunk, when it has two
		if i := strings.LastIndex(gold, "\n@@ "); i > strings.Index(gold, "@@ ") {
			dropped = gold[:i+1]
		}
		extra := gold + "diff --git a/NOTES.txt b/NOTES.txt\n--- a/NOTES.txt\n+++ b/NOTES.txt\n@@ -1 +1,2 @@\n notes\n+more\n"
		noHeading := strings.Join(stripHeadings(strings.Split(gold, "\n")), "\n")
		for _, pred := range []string{gold, edited, dropped, extra, row.TestPatch, noHeading, strings.ReplaceAll(gold, "\n", "\r\n"),
			"I could not find the bug.", ""} {
			cases = append(cases, map[string]string{"pred": pred, "oracle": gold})
		}
	}
	want := pythonReward(t, cases)
	perfect, negative, between := 0, 0, 0
	for i, c := range cases {
		got, err := SimilarityReward(c["pred"], c["oracle"])
		if math.Abs(got-want[i]) > 1e-12 {
			t.Errorf("case %d: reward %v, the Python reference %v (pred %.60q)", i, got, want[i], c["pred"])
		}
		if (got == -1) != errors.Is(err, ErrNoPatch) {
			t.Errorf("case %d: reward %v with error %v", i, got, err)
		}
		switch {
		case got == 1:
			perfect++
		case got == -1:
			negative++
		case got > 0 && got < 1:
			between++
		}
	}
	if perfect < 9*3 || negative != 9*2 || between < 9*2 {
		t.Errorf("rewards: %d perfect, %d −1, %d between 0 and 1 — the cases do not exercise the range", perfect, negative, between)
	}
	t.Logf("%d cases: %d perfect, %d −1, %d partial", len(cases), perfect, negative, between)
}

func stripHeadings(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if strings.HasPrefix(l, "@@ ") {
			if end := strings.Index(l[3:], " @@"); end >= 0 {
				l = l[:3+end+3]
			}
		}
		out[i] = l
	}
	return out
}
