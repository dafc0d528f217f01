package sft

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/diff"
)

// Multi-task SFT from tasks (SWE-Swiss, Kimi-Dev: the Agentless skills
// trained from the same tasks before the agent scaffold): localisation
// (the issue → the files to change), repair (the issue and those files →
// the patch) and test generation (the issue and the code → a test that
// fails before the fix and passes after). The builders here are pure: the
// job reads the files at the base commit and validates the tests by
// execution.
const (
	KindTrajectory = "trajectory" // an agent rollout (not built from a task)
	KindLocalize   = "localize"
	KindRepair     = "repair"
	KindTestGen    = "testgen"
)

// TaskKinds are the task kinds, in order.
func TaskKinds() []string { return []string{KindLocalize, KindRepair, KindTestGen} }

// TaskInput is what a task example is built from.
type TaskInput struct {
	TaskID           string
	Repo             string
	ProblemStatement string
	GoldPatch        string
	TestPatch        string
	// Files are the contents at the base commit of the files the example
	// shows, by path (repair: those the gold patch changes; testgen: those
	// and the test files the test patch changes). A file the patch creates
	// is absent.
	Files map[string]string
}

// ErrNoExample: the task cannot make an example of this kind (no patch,
// no test patch, a file's content missing); the job counts it by reason.
var ErrNoExample = errors.New("no example")

const taskSystem = "You are a software engineer fixing an issue in a repository."

func issueText(t TaskInput) string {
	repo := t.Repo
	if repo == "" {
		repo = "the repository"
	}
	return fmt.Sprintf("Repository: %s\n\n<issue>\n%s\n</issue>", repo, strings.TrimSpace(t.ProblemStatement))
}

func filesText(paths []string, files map[string]string) string {
	var b strings.Builder
	for _, p := range paths {
		c, ok := files[p]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "\n\n<file path=%q>\n%s", p, c)
		if !strings.HasSuffix(c, "\n") {
			b.WriteByte('\n')
		}
		b.WriteString("</file>")
	}
	return b.String()
}

// LocalizeExample: the issue → the files the gold patch changes, one per
// line in a fenced block (graded exactly by LocalizationScore).
func LocalizeExample(t TaskInput) ([]schemas.Message, error) {
	paths := diff.Paths(t.GoldPatch)
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: task %s: its gold patch changes no file", ErrNoExample, t.TaskID)
	}
	return []schemas.Message{
		{Role: "system", Content: taskSystem},
		{Role: "user", Content: issueText(t) + "\n\nWhich files must change to resolve the issue? List their paths, one per line, in a ``` block."},
		{Role: "assistant", Content: "```\n" + strings.Join(paths, "\n") + "\n```"},
	}, nil
}

// RepairExample: the issue and the contents of the files the gold patch
// changes → the gold patch, in a ```diff block (Agentless' repair).
func RepairExample(t TaskInput) ([]schemas.Message, error) {
	paths := diff.Paths(t.GoldPatch)
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: task %s: its gold patch changes no file", ErrNoExample, t.TaskID)
	}
	if err := needFiles(t, t.GoldPatch, paths); err != nil {
		return nil, err
	}
	return []schemas.Message{
		{Role: "system", Content: taskSystem},
		{Role: "user", Content: issueText(t) + filesText(paths, t.Files) + "\n\nWrite a patch that resolves the issue, as a unified diff in a ```diff block."},
		{Role: "assistant", Content: "```diff\n" + strings.TrimRight(t.GoldPatch, "\n") + "\n```"},
	}, nil
}

// TestGenExample: the issue and the code the fix changes → the task's
// test patch, in a ```diff block: a test that fails at the base commit
// and passes with the fix (the job keeps it only where execution showed
// both).
func TestGenExample(t TaskInput) ([]schemas.Message, error) {
	if strings.TrimSpace(t.TestPatch) == "" {
		return nil, fmt.Errorf("%w: task %s has no test patch", ErrNoExample, t.TaskID)
	}
	code := diff.Paths(t.GoldPatch)
	tests := diff.Paths(t.TestPatch)
	if err := needFiles(t, t.GoldPatch, code); err != nil {
		return nil, err
	}
	if err := needFiles(t, t.TestPatch, tests); err != nil {
		return nil, err
	}
	shown := append(slices.Clone(code), tests...)
	return []schemas.Message{
		{Role: "system", Content: taskSystem},
		{Role: "user", Content: issueText(t) + filesText(shown, t.Files) +
			"\n\nWrite a test that reproduces the issue: it must fail on this code and pass once the issue is fixed. Answer with a unified diff in a ```diff block."},
		{Role: "assistant", Content: "```diff\n" + strings.TrimRight(t.TestPatch, "\n") + "\n```"},
	}, nil
}

// needFiles checks that every file the patch changes, except those it
// creates, has its content.
func needFiles(t TaskInput, patch string, paths []string) error {
	created := diff.Created(patch)
	for _, p := range paths {
		if _, ok := t.Files[p]; !ok && !created[p] {
			return fmt.Errorf("%w: task %s: no content for %s at the base commit", ErrNoExample, t.TaskID, p)
		}
	}
	return nil
}

// LocalizationScore grades a localisation answer against the gold files:
// exact when it names exactly those files (any order), with precision and
// recall over the paths it names (the last ``` block of the answer, else
// every line that looks like a path).
func LocalizationScore(answer string, gold []string) (exact bool, precision, recall float64) {
	named := ParseLocalization(answer)
	hit := 0
	for _, p := range named {
		if slices.Contains(gold, p) {
			hit++
		}
	}
	if len(named) > 0 {
		precision = float64(hit) / float64(len(named))
	}
	if len(gold) > 0 {
		recall = float64(hit) / float64(len(gold))
	}
	return hit == len(gold) && hit == len(named), precision, recall
}

// listMarker is a list item's marker: "- ", "* ", "1. ", "2) ".
var listMarker = regexp.MustCompile(`^\s*(?:[-*+]|\d+[.)])\s+`)

// ParseLocalization reads the paths a localisation answer names.
func ParseLocalization(answer string) []string {
	body := answer
	if parts := strings.Split(answer, "```"); len(parts) >= 3 {
		body = parts[len(parts)-2] // the last fenced block
		if i := strings.IndexByte(body, '\n'); i >= 0 && !strings.Contains(body[:i], "/") && !strings.Contains(body[:i], ".") {
			body = body[i+1:] // its language tag
		}
	}
	var out []string
	for _, line := range strings.Split(body, "\n") {
		p := strings.TrimSpace(listMarker.ReplaceAllString(line, ""))
		p = strings.TrimPrefix(strings.Trim(p, "`"), "./")
		if p == "" || strings.ContainsAny(p, " \t") || !strings.ContainsAny(p, "./") {
			continue
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
