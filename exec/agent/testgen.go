package agent

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// TestGenSpec is what a test-writing episode is asked: tests that
// reproduce a task's issue, in a new file whose name the job chooses (so
// that the files of several samples apply together).
type TestGenSpec struct {
	TaskID           string
	Repo             string
	Language         string // go or python
	ProblemStatement string
	Stem             string // the new file's stem: test_<stem>.py, <stem>_test.go
}

// testGenLine is how a test-writing prompt names its task and file.
var testGenLine = regexp.MustCompile(`\(write tests task (\S+) file (\w+)\)`)

// TestGenSystemPrompt is the test writer's instructions.
const TestGenSystemPrompt = `You write tests that reproduce reported issues. You work in the repository at the
commit where the issue was reported, through tools (bash, str_replace_editor, submit). Add one new
test file; do not change any existing file. Its tests must fail on the current code because of the
issue, and pass once the issue is fixed. They must run cleanly (no import or syntax errors). Submit
when the file is written.`

// TestGenPrompt is the system and user prompt of one test-writing episode.
func TestGenPrompt(s TestGenSpec) (system, user string) {
	file := "test_" + s.Stem + ".py, next to the existing tests"
	if s.Language == "go" {
		file = s.Stem + "_test.go, in the package whose behaviour the issue is about (same package clause as its tests)"
	}
	user = fmt.Sprintf("(write tests task %s file %s)\n\nRepository: %s (%s). Its root is the working directory.\n\n<issue>\n%s\n</issue>\n\nWrite the new test file %s.",
		s.TaskID, s.Stem, s.Repo, s.Language, strings.TrimSpace(s.ProblemStatement), file)
	return TestGenSystemPrompt, user
}

// writeTests is the scripted policy's test writer. It knows the task's
// FAIL_TO_PASS tests (as it knows the gold patch when solving): about six
// samples in ten reproduce one of them (Python: a copy of its test file
// under the new name; Go: a test calling it), two in ten call a test that
// already passes (the job keeps none of those: they pass at the base
// commit), two in ten write a file that does not compile.
func (s *Scripted) writeTests(req ChatRequest, t ScriptTask, stem string) Message {
	var seed int64
	if req.Seed != nil {
		seed = *req.Seed
	}
	sd := fmt.Sprint(seed)
	var tools []string
	for _, m := range req.Messages {
		if m.Role == "tool" {
			tools = append(tools, m.Text())
		}
	}
	bash := func(thought, cmd string) Message {
		return toolMessage(len(tools), thought, ToolBash, map[string]any{"command": cmd})
	}
	done := toolMessage(len(tools), "The test file is written; submitting.", ToolSubmit, map[string]any{})
	u := draw("testgen", t.TaskID, sd)
	source := t.FailToPass
	if u >= 0.6 && u < 0.8 && len(t.PassToPass) > 0 {
		source = t.PassToPass
	}
	if len(source) == 0 {
		source = t.FailToPass
	}
	if len(source) == 0 || len(tools) >= 2 {
		return done
	}
	id := source[int(draw("testgen-pick", t.TaskID, sd)*float64(len(source)))]
	broken := u >= 0.8
	if t.Language == "go" {
		fn := testFunc(id)
		if len(tools) == 0 {
			return bash("Let me find the test that covers this behaviour.",
				fmt.Sprintf("f=$(grep -rl 'func %s(' --include='*_test.go' . | head -1); echo \"$f\"; head -1 \"$f\"", fn))
		}
		lines := strings.SplitN(strings.TrimSpace(tools[0]), "\n", 3)
		if len(lines) < 2 || !strings.HasPrefix(lines[1], "package ") {
			return done
		}
		dir := path.Dir(strings.TrimPrefix(lines[0], "./"))
		name := "TestSwelakeGen" + strings.ToUpper(stem[:1]) + stem[1:]
		body := fmt.Sprintf("%s\n\nimport \"testing\"\n\n// %s reproduces the issue.\nfunc %s(t *testing.T) { %s(t) }\n", lines[1], name, name, fn)
		if broken {
			body = fmt.Sprintf("%s\n\nfunc %s(t *testing.T) { %s(t }\n", lines[1], name, fn)
		}
		return bash("I will write a test that reproduces the issue.", "cat > '"+path.Join(dir, stem+"_test.go")+"' <<'SWELAKE_TEST_EOF'\n"+body+"SWELAKE_TEST_EOF")
	}
	if len(tools) > 0 {
		return done
	}
	file, _, _ := strings.Cut(id, "::")
	target := path.Join(path.Dir(file), "test_"+stem+".py")
	if broken {
		return bash("I will write a test that reproduces the issue.", "printf 'def test_reproduce(:\\n    pass\\n' > '"+target+"'")
	}
	return bash("The issue is about what "+file+" tests; I will reproduce it in a new file.", "cp -- '"+file+"' '"+target+"'")
}
