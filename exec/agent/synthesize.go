package agent

import (
	"cmp"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/swelake/swelake/exec/mutate"
)

// Modes of policy-written tasks.
const (
	// SynthInject: inject a bug deliberately, about SizeLines lines large
	// (Self-Play SWE-RL: larger removals teach more than one-line edits).
	SynthInject = "inject"
	// SynthFeature: implement a described feature; what the change breaks
	// unintentionally is the bug (BugPilot's FeatAdd).
	SynthFeature = "feature"
	// SynthRewrite: rewrite one function from its name and docstring
	// (SWE-smith's LM rewrite).
	SynthRewrite = "rewrite"
)

// SynthModes are the modes, in order.
func SynthModes() []string { return []string{SynthInject, SynthFeature, SynthRewrite} }

// SynthSpec is what the policy is asked to do to a repository.
type SynthSpec struct {
	Mode      string
	Repo      string
	Language  string // go or python
	SizeLines int    // inject: lines to change (default 5)
}

// synthLine is how a synthesis prompt names its request (the scripted
// policy reads it; real models read the prose).
var synthLine = regexp.MustCompile(`\(synthesize mode=(\w+) language=(\w+) lines=(\d+)\)`)

// SynthSystemPrompt is the injector's instructions.
const SynthSystemPrompt = `You are helping build a training set of software-engineering tasks. You work in a
repository through tools (bash, str_replace_editor, submit). Change the library code as asked, never the
tests, then submit. The change is kept only if running the repository's tests shows at least one test
going from passing to failing while every other test still runs: it must not break the build or test
collection. Do not leave comments that reveal the change.`

// SynthesisPrompt is the system and user prompt of one synthesis episode.
func SynthesisPrompt(s SynthSpec) (system, user string) {
	lines := cmp.Or(s.SizeLines, 5)
	var ask string
	switch s.Mode {
	case SynthInject:
		ask = fmt.Sprintf(`Inject a bug into the library code: a change of about %d lines (removing or rewriting
logic is better than a one-character edit) that makes some existing tests fail.`, lines)
	case SynthFeature:
		ask = `Implement a small feature in the library: a helper that exposes an existing behaviour in a new
form, wired into the module where it belongs. Refactor what you touch as you see fit. (Changes that
break existing behaviour along the way are what this task collects.)`
	case SynthRewrite:
		ask = `Pick one function of the library that has a clear name and docstring, and rewrite its body from
scratch from that description alone, without looking at how it is written now.`
	}
	user = fmt.Sprintf("%s\n\nRepository: %s (%s). Its root is the working directory.\n\n%s\n\nWhen you are done, submit.",
		"(synthesize mode="+s.Mode+" language="+s.Language+" lines="+strconv.Itoa(lines)+")", s.Repo, s.Language, ask)
	return SynthSystemPrompt, user
}

// synthesize is the scripted policy's injector: list the files, read one
// (chosen by the seed), write it back changed as the mode asks, submit.
// Its edits come from the procedural mutation finder, picked per mode:
// inject removes a block or statement of about the size asked, feature
// appends a helper and slips a subtle change into existing code, rewrite
// changes the logic of one function. About one sample in eight edits a
// test file too (the job must refuse it) and one in ten changes nothing.
func (s *Scripted) synthesize(req ChatRequest, mode, language string, lines int) Message {
	var seed int64
	if req.Seed != nil {
		seed = *req.Seed
	}
	// The draws depend on the model too: another checkpoint writes other
	// bugs (a self-play round per RL iteration makes new tasks).
	sd := fmt.Sprint(seed) + "\x00" + req.Model
	var tools []string // the tool outputs so far
	for _, m := range req.Messages {
		if m.Role == "tool" {
			tools = append(tools, m.Text())
		}
	}
	bash := func(i int, thought, cmd string) Message {
		return toolMessage(i, thought, ToolBash, map[string]any{"command": cmd})
	}
	submit := func(i int, thought string) Message {
		return toolMessage(i, thought, ToolSubmit, map[string]any{})
	}
	step := len(tools)
	if step == 0 {
		return bash(0, "Let me see the repository's files.", "git ls-files")
	}
	var files []string
	for _, f := range strings.Split(tools[0], "\n") {
		if f = strings.TrimSpace(f); mutate.IsSource(f) && mutate.Language(f) == language {
			files = append(files, f)
		}
	}
	if len(files) == 0 || draw("synth-idle", mode, sd) < 0.1 {
		return submit(step, "I could not find a change worth making; submitting nothing.")
	}
	file := files[int(draw("synth-file", mode, sd)*float64(len(files)))]
	if step == 1 {
		return bash(1, "Let me read "+file+".", "cat -- '"+file+"'")
	}
	if step > 2 {
		return submit(step, "The change is in place; submitting.")
	}
	src := tools[1]
	if strings.Contains(src, "\n[output truncated]") || strings.Contains(src, "\n[exit code ") {
		return submit(2, "I could not read the whole file; submitting nothing.")
	}
	ms, err := mutate.Find(file, []byte(src))
	if err != nil || len(ms) == 0 {
		return submit(2, "Nothing in this file lends itself to the change; submitting nothing.")
	}
	m, ok := pickMutation(src, ms, mode, lines, draw("synth-pick", mode, sd))
	if !ok {
		return submit(2, "Nothing in this file lends itself to the change; submitting nothing.")
	}
	out, err := m.Apply([]byte(src))
	if err != nil {
		return submit(2, "The edit did not apply; submitting nothing.")
	}
	text := string(out)
	if mode == SynthFeature {
		text = strings.TrimRight(text, "\n") + "\n" + featureHelper(language, m.Func)
	}
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	cmd := "cat > '" + file + "' <<'SWELAKE_SYNTH_EOF'\n" + text + "SWELAKE_SYNTH_EOF"
	if draw("synth-test-edit", mode, sd) < 0.125 {
		// The policy also "adjusts" a test: a task whose tests were edited
		// tests nothing; the job must refuse it.
		cmd += "\nfor f in $(git ls-files | grep -E '(^|/)(test_[^/]*\\.py|[^/]*_test\\.(go|py))$' | head -1); do echo >> \"$f\"; done"
	}
	thought := map[string]string{
		SynthInject:  fmt.Sprintf("I will change %s in %s (%s).", cmp.Or(m.Func, "the code"), file, m.Desc),
		SynthFeature: fmt.Sprintf("I will add the helper to %s and tidy %s on the way.", file, cmp.Or(m.Func, "the code")),
		SynthRewrite: fmt.Sprintf("I will rewrite %s in %s from its description.", cmp.Or(m.Func, "a function"), file),
	}[mode]
	return bash(2, thought, cmd)
}

// pickMutation picks the edit a mode makes among a file's mutations: u in
// [0,1) chooses among the candidates (inject: the three whose size is
// nearest the target).
func pickMutation(src string, ms []mutate.Mutation, mode string, lines int, u float64) (mutate.Mutation, bool) {
	var cands []mutate.Mutation
	for _, m := range ms {
		switch mode {
		case SynthInject:
			if m.Kind == mutate.RemoveBlock || m.Kind == mutate.RemoveStmt {
				cands = append(cands, m)
			}
		case SynthFeature:
			if m.Kind == mutate.OffByOne || m.Kind == mutate.SwapOp || m.Kind == mutate.ChangeReturn {
				cands = append(cands, m)
			}
		case SynthRewrite:
			if m.Func != "" && (m.Kind == mutate.InvertCond || m.Kind == mutate.ChangeReturn || m.Kind == mutate.SwapOp) {
				cands = append(cands, m)
			}
		}
	}
	if len(cands) == 0 {
		return mutate.Mutation{}, false
	}
	if mode == SynthInject {
		size := func(m mutate.Mutation) int { return strings.Count(src[m.Start:m.End], "\n") + 1 }
		slices.SortStableFunc(cands, func(a, b mutate.Mutation) int {
			return cmp.Compare(abs(size(a)-lines), abs(size(b)-lines))
		})
		cands = cands[:min(3, len(cands))]
	}
	return cands[int(u*float64(len(cands)))], true
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// featureHelper is the scripted "feature": a helper exposing an existing
// function's result in a new form.
func featureHelper(language, fn string) string {
	name := strings.ToLower(strings.Trim(path.Ext("."+fn), "."))
	name = regexp.MustCompile(`[^a-z0-9_]`).ReplaceAllString(name, "_")
	if name == "" {
		name = "value"
	}
	if language == "go" {
		n := strings.ToUpper(name[:1]) + name[1:]
		return fmt.Sprintf("\n// describe%s counts the values a %s call reports (a display helper).\nfunc describe%s(values ...any) int { return len(values) }\n\nvar _ = describe%s\n", n, name, n, n)
	}
	return fmt.Sprintf("\n\ndef describe_%s(value):\n    \"\"\"Format a %s result for display.\"\"\"\n    return repr(value)\n", name, name)
}

func toolMessage(i int, thought, tool string, args map[string]any) Message {
	var call ToolCall
	call.ID = fmt.Sprintf("call_%d", i)
	call.Type = "function"
	call.Function.Name = tool
	b, _ := json.Marshal(args) // strings and numbers: cannot fail
	call.Function.Arguments = string(b)
	return Message{Role: "assistant", Content: Str(thought), ToolCalls: []ToolCall{call}}
}
