package curate

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/internal/tokref"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/queries"
	"github.com/swelake/swelake/schemas"
)

var update = flag.Bool("update", false, "rewrite golden files")

type tb struct{ msgs []schemas.Message }

func (b *tb) user(s string) *tb {
	b.msgs = append(b.msgs, schemas.Message{Role: "user", Content: s})
	return b
}
func (b *tb) tool(s string) *tb {
	b.msgs = append(b.msgs, schemas.Message{Role: "tool", Content: s})
	return b
}
func (b *tb) call(name, cmd string, more ...string) *tb {
	calls := []schemas.ToolCall{{ID: fmt.Sprint("c", len(b.msgs)), Name: name, Arguments: fmt.Sprintf(`{"command": %q}`, cmd)}}
	for _, m := range more {
		calls = append(calls, schemas.ToolCall{ID: "x", Name: "bash", Arguments: fmt.Sprintf(`{"command": %q}`, m)})
	}
	b.msgs = append(b.msgs, schemas.Message{Role: "assistant", Content: "thinking", ToolCalls: calls})
	return b
}
func (b *tb) callArgs(name, args string) *tb {
	b.msgs = append(b.msgs, schemas.Message{Role: "assistant", Content: "looking", ToolCalls: []schemas.ToolCall{{ID: fmt.Sprint("c", len(b.msgs)), Name: name, Arguments: args}}})
	return b
}
func (b *tb) text(s string) *tb {
	b.msgs = append(b.msgs, schemas.Message{Role: "assistant", Content: s})
	return b
}

func conv() *tb { return (&tb{}).user("Fix the issue in the repo.") }

// fixture has one rollout per trap; every rollout is on a task with mixed
// results unless said otherwise.
func fixture() ([]schemas.Rollout, []schemas.Task) {
	good := conv().call("bash", "pytest tests/").tool("1 failed").call("submit", "").msgs
	ro := func(id, task string, msgs []schemas.Message, reward float64, mod func(*schemas.Rollout)) schemas.Rollout {
		r := schemas.Rollout{RolloutID: id, TaskID: task, RunID: "run-1", Policy: "qwen", Messages: msgs,
			NumTurns: int32(len(msgs)), Reward: laketest.Ptr(reward), Resolved: laketest.Ptr(reward == 1), ExitReason: "submitted",
			ContentHash: "h-" + id, Tokens: laketest.Ptr[int64](1000)}
		if mod != nil {
			mod(&r)
		}
		return r
	}
	rollouts := []schemas.Rollout{
		ro("good-1", "t/a", good, 1, func(r *schemas.Rollout) { r.Tokens = nil }),
		ro("good-2", "t/a", conv().call("bash", "cat a.py").tool("x").call("submit", "").msgs, 1, nil),
		ro("fail-1", "t/a", good, 0, func(r *schemas.Rollout) { r.ContentHash = "h-fail" }),
		ro("hint", "t/b", conv().text("I will look").user("You forgot to use a function call in your response.").call("submit", "").msgs, 1, nil),
		ro("b-fail", "t/b", good, 0, func(r *schemas.Rollout) { r.ContentHash = "h-b-fail" }),
		ro("step", "t/b", good, 1, func(r *schemas.Rollout) { r.ExitReason = "step_cap"; r.ContentHash = "h-step2" }),
		// Issue 15, bug 1: SWE-agent's forced submission is a step-cap stop.
		ro("swe-forced", "t/b", conv().call("bash", "make test").tool("ok").call("submit", "").msgs, 1, func(r *schemas.Rollout) {
			r.ExitReason = "submitted (exit_context)"
			r.ContentHash = "h-swe-forced"
		}),
		ro("tok", "t/b", good, 1, func(r *schemas.Rollout) { r.Tokens = laketest.Ptr[int64](100000) }),
		ro("nosubmit", "t/b", conv().call("bash", "ls").tool("a").msgs, 1, nil),
		ro("shared", "t/b", conv().call("bash", "ls").tool("a").call("submit", "", "rm x").msgs, 1, nil),
		ro("git-text", "t/b", conv().text("<function=execute_bash>\n<parameter=cmd>git log --oneline -5</parameter>\n</function>").tool("abc").text("<function=finish>\n<parameter=command>submit</parameter>\n</function>").msgs, 1, nil),
		ro("git-native", "t/b", conv().call("bash", "cat .git/ORIG_HEAD").tool("x").call("submit", "").msgs, 1, nil),
		ro("stray", "t/b", good, 1, func(r *schemas.Rollout) {
			r.Patch = "diff --git a/src/x.py b/src/x.py\n--- a/src/x.py\n+++ b/src/x.py\n@@ -1 +1 @@\n-a\n+b\ndiff --git a/reproduce_issue.py b/reproduce_issue.py\nnew file mode 100644\n--- /dev/null\n+++ b/reproduce_issue.py\n@@ -0,0 +1 @@\n+print(1)\ndiff --git a/ISSUE.md b/ISSUE.md\nnew file mode 100644\n"
			r.ContentHash = "h-stray"
		}),
		ro("tamper-conftest", "t/b", conv().call("bash", "vi tests/conftest.py").tool("x").call("submit", "").msgs, 1, func(r *schemas.Rollout) {
			r.Patch = "diff --git a/src/x.py b/src/x.py\n--- a/src/x.py\n+++ b/src/x.py\n@@ -1 +1 @@\n-a\n+c\ndiff --git a/tests/conftest.py b/tests/conftest.py\nnew file mode 100644\n--- /dev/null\n+++ b/tests/conftest.py\n@@ -0,0 +1 @@\n+def pytest_runtest_makereport(item, call): pass\n"
			r.ContentHash = "h-tamper-1"
		}),
		ro("tamper-cfg", "t/b", conv().call("bash", "vi setup.cfg").tool("x").call("submit", "").msgs, 1, func(r *schemas.Rollout) {
			r.Patch = "diff --git a/setup.cfg b/setup.cfg\n--- a/setup.cfg\n+++ b/setup.cfg\n@@ -3 +3 @@\n-addopts = -ra\n+addopts = -ra -p no:warnings --deselect tests/test_x.py::test_bug\ndiff --git a/tests/test_x.py b/tests/test_x.py\n--- a/tests/test_x.py\n+++ b/tests/test_x.py\n@@ -1 +1 @@\n-    assert f() == 2\n+    assert True\n"
			r.ContentHash = "h-tamper-2"
		}),
		ro("new-test-ok", "t/b", conv().call("bash", "vi tests/test_new.py").tool("x").call("submit", "").msgs, 1, func(r *schemas.Rollout) {
			r.Patch = "diff --git a/src/y.py b/src/y.py\n--- a/src/y.py\n+++ b/src/y.py\n@@ -1 +1 @@\n-a\n+b\ndiff --git a/tests/test_new.py b/tests/test_new.py\nnew file mode 100644\n--- /dev/null\n+++ b/tests/test_new.py\n@@ -0,0 +1 @@\n+def test_new(): pass\ndiff --git a/setup.cfg b/setup.cfg\n--- a/setup.cfg\n+++ b/setup.cfg\n@@ -1 +1 @@\n-version = 1\n+version = 2\n"
			r.ContentHash = "h-new-test"
		}),
		// Issue 15, bug 3: viewing six different files in a row is not a loop.
		ro("views", "t/b", func() []schemas.Message {
			b := conv()
			for i := range 6 {
				b.callArgs("str_replace_editor", fmt.Sprintf(`{"command": "view", "path": "/workspace/src/m%d.py"}`, i)).tool("code")
			}
			return b.call("submit", "").msgs
		}(), 1, nil),
		ro("loop", "t/b", conv().text("```\nls\n```").tool("a").text("```\nls\n```").tool("a").text("```bash\nls\n```").tool("a").text("```\nls\n```").tool("a").text("```\nls\n```").tool("a").text("```\nsubmit\n```").msgs, 1, nil),
		ro("dup", "t/a", good, 1, func(r *schemas.Rollout) { r.ContentHash = "h-good-1" }),
		ro("easy-1", "t/c", good, 1, func(r *schemas.Rollout) { r.ContentHash = "h-e1" }),
		ro("easy-2", "t/c", good, 1, func(r *schemas.Rollout) { r.ContentHash = "h-e2" }),
		ro("eval", "t/verified", good, 1, func(r *schemas.Rollout) { r.ContentHash = "h-ev" }),
		ro("eval-fail", "t/verified", good, 0, func(r *schemas.Rollout) { r.ContentHash = "h-ev2" }),
		ro("copy-1", "t/b-copy", conv().call("bash", "pwd").tool("/").call("submit", "").msgs, 1, nil),
		ro("copy-2", "t/b-copy", conv().call("bash", "id").tool("u").call("submit", "").msgs, 0, nil),
	}
	ps := "When parsing the header the library drops the trailing field and raises a confusing error about a missing separator in the config file"
	tasks := []schemas.Task{
		{TaskID: "t/a", Source: "swe-gym", InstanceID: "a", Repo: "o/a", ProblemStatement: "Unrelated text about something else entirely here."},
		{TaskID: "t/b", Source: "swe-gym", InstanceID: "b", Repo: "o/b", ProblemStatement: "Another unrelated statement about tests."},
		{TaskID: "t/verified", Source: "swe-gym", InstanceID: "verified-copy", Repo: "o/v", ProblemStatement: "Reported: " + ps + " since version 2."},
		{TaskID: "swe-bench/v-1", Source: "swe-bench", InstanceID: "v-1", Repo: "o/v", ProblemStatement: ps},
		{TaskID: "t/b-copy", Source: "swe-rebench", InstanceID: "b", Repo: "o/b", ProblemStatement: "  ANOTHER unrelated\nstatement about tests. "},
	}
	return rollouts, tasks
}

func fixtureLake(t *testing.T) *lake.Lake {
	t.Helper()
	l := laketest.New(t)
	rollouts, tasks := fixture()
	laketest.Append(t, l, schemas.Rollouts, rollouts)
	laketest.Append(t, l, schemas.Tasks, tasks)
	return l
}

// runCurate runs the curate stage on the driver, as the CLI does.
func runCurate(t testing.TB, l *lake.Lake, cfg Config) (Summary, error) {
	t.Helper()
	return Job.Execute(context.Background(), &stage.Env{Lake: l}, cfg)
}

func testConfig(t *testing.T) Config {
	if err := tokref.Check(); err != nil {
		t.Fatal(err)
	}
	cfg := Job.Defaults()
	cfg.TokenizerDir, cfg.Rules = tokref.DefaultTokenizerDir(), append(DefaultRules(), "dedup", "decontam")
	cfg.Params.Decontam.EvalSource, cfg.Params.Decontam.NGram, cfg.Params.Decontam.MinOverlap = "swe-bench", 8, 0.5
	return cfg
}

// TestRuleGoldens runs every rule on the fixture and compares what it
// rejects, and why, with testdata/rules/<rule>.golden.
func TestRuleGoldens(t *testing.T) {
	l := fixtureLake(t)
	sum, err := runCurate(t, l, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := l.Table(schemas.Curations.Name)
	s, _ := ct.Snapshot(context.Background(), lake.Latest)
	byRule := map[string][]string{}
	for c, err := range lake.ReadRows[schemas.Curation](context.Background(), l, s) {
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range c.DroppedBy {
			byRule[r] = append(byRule[r], c.RolloutID+"\t"+c.Reasons[i])
		}
	}
	rules, _ := Rules()
	for _, r := range append(rules, Rule{Name: "difficulty"}) {
		if r.Name != "difficulty" && r.Description == "" {
			t.Errorf("rule %s has no leading comment", r.Name)
		}
		lines := byRule[r.Name]
		slices.Sort(lines)
		got := strings.Join(lines, "\n") + "\n"
		path := filepath.Join("testdata", "rules", r.Name+".golden")
		if *update {
			os.MkdirAll(filepath.Dir(path), 0o755)
			os.WriteFile(path, []byte(got), 0o644)
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test ./jobs/curate -update creates it)", err)
		}
		if got != string(want) {
			t.Errorf("rule %s:\n--- got\n%s--- want\n%s", r.Name, got, want)
		}
	}
	t.Logf("summary: %+v", sum)
}

func TestSummaryAndIdempotence(t *testing.T) {
	l := fixtureLake(t)
	cfg := testConfig(t)
	sum, err := runCurate(t, l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dropped := map[string]int64{}
	for _, r := range sum.Rules {
		dropped[r.Rule] = r.Dropped
	}
	want := map[string]int64{"reward": 4, "format_hint": 1, "step_cap": 2, "token_cap": 1, "bare_submit": 2, "git_hacking": 2,
		"patch_hygiene": 1, "test_tampering": 2, "loop": 1, "dedup": 9, "decontam": 2, "difficulty": 2}
	for k, v := range want {
		if dropped[k] != v {
			t.Errorf("rule %s dropped %d, want %d (all: %v)", k, dropped[k], v, dropped)
		}
	}
	if sum.Input != 25 || sum.Kept != 4 || sum.Skipped { // new-test-ok is kept (a new test file is no tampering), views too (different files are not a loop)
		t.Fatalf("summary %+v", sum)
	}
	again, err := runCurate(t, l, cfg)
	if err != nil || !again.Skipped || again.Kept != sum.Kept || again.Input != sum.Input || again.CurationID != sum.CurationID {
		t.Fatalf("rerun: %+v %v", again, err)
	}
	for i := range sum.Rules {
		if again.Rules[i] != sum.Rules[i] {
			t.Fatalf("rerun rule counts %v, want %v", again.Rules, sum.Rules)
		}
	}
	st, _ := l.Table(schemas.TaskStats.Name)
	ss, _ := st.Snapshot(context.Background(), lake.Latest)
	if ss.Rows() != 5 {
		t.Fatalf("task_stats rows %d", ss.Rows())
	}
	// A different parameter is a different curation, committed alongside.
	cfg.Params.Loop.MaxRepeats = 3
	other, err := runCurate(t, l, cfg)
	if err != nil || other.Skipped || other.CurationID == sum.CurationID {
		t.Fatalf("changed config: %+v %v", other, err)
	}
}

func TestBadConfig(t *testing.T) {
	l := fixtureLake(t)
	for _, cfg := range []Config{
		{Rules: []string{"no_such_rule"}},
		{Rules: []string{"token_cap"}},
		{Rules: []string{"reward"}, Input: "tasks"},
	} {
		if _, err := runCurate(t, l, cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	// A misspelt parameter is an error naming it, as the CLI and pipeline
	// decode it; it never reads as NULL.
	cfg := Job.Defaults()
	err := stage.Decode(map[string]any{"params": map[string]any{"loop": map[string]any{"max_repeat": 3}}}, &cfg)
	if err == nil || !strings.Contains(err.Error(), "unknown key params.loop.max_repeat") {
		t.Errorf("a misspelt parameter: %v", err)
	}
	if err := stage.Decode(map[string]any{"params": map[string]any{"loop": map[string]any{"max_repeats": "many"}}}, &cfg); err == nil {
		t.Error("a parameter of the wrong type was accepted")
	}
}

// TestRuleVariables: every variable each rule's SQL reads is a parameter
// of its struct, and every parameter is read by its rule: a misspelt
// getvariable would read NULL and silently drop nothing.
func TestRuleVariables(t *testing.T) {
	rules, err := Rules()
	if err != nil || len(rules) < 11 {
		t.Fatalf("%d rules, %v", len(rules), err)
	}
	read := map[string]bool{}
	for _, r := range rules {
		if err := checkVariables(r, DefaultParams()); err != nil {
			t.Error(err)
		}
		for _, m := range getvariable.FindAllStringSubmatch(r.SQL, -1) {
			read[m[1]] = true
		}
	}
	for _, v := range DefaultParams().variables() {
		if !read[v.rule+"_"+v.name] {
			t.Errorf("parameter %s.%s is read by no rule", v.rule, v.name)
		}
	}
	bad := Rule{Name: "loop", SQL: "SELECT rollout_id, 'x' FROM actions WHERE n > getvariable('loop_max_repeat')"}
	if err := checkVariables(bad, DefaultParams()); err == nil {
		t.Error("a misspelt variable in a rule's SQL passed")
	}
}

func TestBucket(t *testing.T) {
	for p, want := range map[float64]string{0: "0", 0.05: "(0,0.1)", 0.1: "[0.1,0.2)", 0.55: "[0.5,0.6)", 0.95: "[0.9,1.0)", 1: "1"} {
		if got := Bucket(p); got != want {
			t.Errorf("Bucket(%g) = %q, want %q", p, got, want)
		}
	}
}

func TestPatchHygieneStrip(t *testing.T) {
	l := fixtureLake(t)
	cfg := testConfig(t)
	cfg.Params.PatchHygiene.Strip = true
	sum, err := runCurate(t, l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Stripped != 1 {
		t.Fatalf("stripped %d", sum.Stripped)
	}
	for _, r := range sum.Rules {
		if r.Rule == "patch_hygiene" && r.Dropped != 0 {
			t.Fatalf("patch_hygiene still drops with strip on: %+v", r)
		}
	}
	ct, _ := l.Table(schemas.Curations.Name)
	s, _ := ct.Snapshot(context.Background(), lake.Latest)
	for c, err := range lake.ReadRows[schemas.Curation](context.Background(), l, s) {
		if err != nil {
			t.Fatal(err)
		}
		if c.CurationID != sum.CurationID || c.RolloutID != "stray" {
			continue
		}
		if !slices.Equal(c.StrayFiles, []string{"reproduce_issue.py", "ISSUE.md"}) || strings.Contains(c.Patch, "reproduce_issue") ||
			!strings.HasPrefix(c.Patch, "diff --git a/src/x.py b/src/x.py\n") || slices.Contains(c.DroppedBy, "patch_hygiene") {
			t.Fatalf("stray row: %+v", c)
		}
		return
	}
	t.Fatal("no curation row for the stray rollout")
}

// goldenConversation holds every way a scaffold writes an action — native
// calls (command or cmd argument, other arguments, arguments that are not
// JSON), text-encoded calls (several per message, cmd instead of command,
// no command parameter, an unclosed block) and fenced commands (bash, sh,
// bare) — and a fenced block in a user message, which is not one.
func goldenConversation() []schemas.Message {
	msgs := conv().
		call("bash", "ls -la").tool("x").
		text("thinking").
		text("<function=execute_bash>\n<parameter=command>\n  git status\n</parameter>\n</function>\n<function=str_replace_editor>\n<parameter=command>view</parameter>\n<parameter=path>/a.py</parameter>\n</function>").tool("y").
		text("<function=execute_bash><parameter=cmd>pytest -x</parameter></function> and <function=broken> never closed").tool("z").
		text("<function=finish>\n</function>").tool("w").
		text("Run:\n```bash\nmake test\n```\nthen\n```sh\necho done\n```\nand\n```\ncat README\n```").tool("v").
		msgs
	return append(msgs,
		schemas.Message{Role: "assistant", ToolCalls: []schemas.ToolCall{
			{ID: "1", Name: "execute", Arguments: `{"cmd": "go test ./..."}`},
			{ID: "2", Name: "str_replace_editor", Arguments: `{"path": "/a.py", "old_str": "x"}`},
			{ID: "3", Name: "bash", Arguments: `not json`}}},
		schemas.Message{Role: "user", Content: "```\nnot an action: a user message\n```"})
}

// TestActionsGolden: the golden conversation's actions, as the rollouts
// table's actions column has them (testdata/actions.golden).
func TestActionsGolden(t *testing.T) {
	var b strings.Builder
	for _, a := range schemas.ActionsOf(goldenConversation()) {
		fmt.Fprintf(&b, "%d\tturn %d\t%s\t%s\t%q\tsubmit=%v git=%v\n", a.Seq, a.Turn, a.Kind, a.Tool, a.Command, a.Submit, a.GitHistory)
	}
	golden(t, filepath.Join("testdata", "actions.golden"), b.String())
}

// TestActionsParity: the actions computed in Go when a rollout is written
// (schemas.ActionsOf) equal, row for row, what the SQL curation ran on the
// messages up to rollouts v2 (testdata/actions_v2.sql, kept as the
// reference) gives — on the golden conversation, every data-driven rule
// file's rollouts and the benchmark's synthetic rollouts.
func TestActionsParity(t *testing.T) {
	rollouts := []schemas.Rollout{{RolloutID: "golden", TaskID: "t", Messages: goldenConversation(), ContentHash: "h"}}
	files, _ := filepath.Glob("testdata/rules/*.txt")
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if !strings.HasPrefix(line, `{"rollout_id"`) {
				continue
			}
			var r schemas.Rollout
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			r.RolloutID = filepath.Base(path) + "/" + r.RolloutID
			rollouts = append(rollouts, r)
		}
	}
	for r := range synthRollouts(500) {
		rollouts = append(rollouts, r)
	}
	got, want := actionParity(t, rollouts)
	if got != want {
		t.Fatalf("Go actions differ from the v2 SQL's:\n--- Go\n%s\n--- SQL\n%s", got, want)
	}
	t.Logf("%d rollouts, %d actions agree", len(rollouts), strings.Count(got, "\n"))
}

// actionParity writes the rollouts (their actions computed by ActionsOf)
// and renders both the Go actions and the v2 SQL's, one line each.
func actionParity(t *testing.T, rollouts []schemas.Rollout) (string, string) {
	t.Helper()
	for i := range rollouts {
		rollouts[i].RunID = cmp.Or(rollouts[i].RunID, "run")
		rollouts[i].Actions = nil
	}
	l := laketest.New(t)
	laketest.Append(t, l, schemas.Rollouts, rollouts)
	ctx := context.Background()
	eng, err := queries.Open(ctx, queries.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if err := eng.Attach(ctx, l, nil, tables.ParquetSchema); err != nil {
		t.Fatal(err)
	}
	ref, err := os.ReadFile(filepath.Join("testdata", "actions_v2.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.DB().ExecContext(ctx, "CREATE TEMP TABLE cur_input AS SELECT rollout_id, messages FROM rollouts; "+string(ref)); err != nil {
		t.Fatal(err)
	}
	render := func(q string) string {
		res, err := eng.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, r := range res.Rows {
			fmt.Fprintf(&b, "%v %v %v %v %v %q %q\n", r...)
		}
		return b.String()
	}
	return render(`SELECT rollout_id, a.seq, a.turn, a.kind, a.tool, a.command, a.params FROM (SELECT rollout_id, unnest(actions) AS a FROM rollouts) ORDER BY ALL`),
		render(`SELECT rollout_id, seq, turn, kind, tool, command, params FROM actions ORDER BY ALL`)
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./jobs/curate -update creates it)", err)
	}
	if got != string(want) {
		t.Errorf("%s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}
