package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// VerifyTask is what a verifier model is shown of a task besides the
// candidate patch.
type VerifyTask struct {
	TaskID           string
	ProblemStatement string
	TestPatch        string
	FailToPass       []string
	PassToPass       []string
}

// Verdict is a verifier model's answer: a predicted test report and a
// predicted reward in [0, 1].
type Verdict struct {
	Tests  map[string]string `json:"tests"` // test id → PASSED / FAILED
	Reward float64           `json:"reward"`
}

// verifyLine is how the verifier prompt names its task.
var verifyLine = regexp.MustCompile(`\(verify task ([^\s()]+)\)`)

// VerifierSystemPrompt is the verifier's instructions.
const VerifierSystemPrompt = `You are a verifier of patches for software-engineering tasks. You are given an issue, the tests that decide it (FAIL_TO_PASS must go from failing to passing, PASS_TO_PASS must keep passing), the test patch that adds or changes those tests, and a candidate patch. Predict the test report the candidate would get, then the reward: the probability that every listed test passes with the candidate applied. Answer with one JSON object and nothing else: {"tests": {"<test id>": "PASSED" or "FAILED", ...}, "reward": <number between 0 and 1>}`

// maxListedTests bounds the tests named in a verifier prompt.
const maxListedTests = 64

// VerifierPrompt is the chat a verifier model is asked: the issue, the
// tests, the test patch and the candidate patch.
func VerifierPrompt(t VerifyTask, patch string) []Message {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n<issue>\n%s\n</issue>\n\n", "(verify task "+t.TaskID+")", strings.TrimSpace(t.ProblemStatement))
	list := func(name string, tests []string) {
		fmt.Fprintf(&b, "%s (%d):\n", name, len(tests))
		for i, id := range tests {
			if i == maxListedTests {
				fmt.Fprintf(&b, "- … and %d more\n", len(tests)-i)
				break
			}
			fmt.Fprintf(&b, "- %s\n", id)
		}
		b.WriteString("\n")
	}
	list("FAIL_TO_PASS", t.FailToPass)
	list("PASS_TO_PASS", t.PassToPass)
	if t.TestPatch != "" {
		fmt.Fprintf(&b, "<test_patch>\n%s</test_patch>\n\n", t.TestPatch)
	}
	fmt.Fprintf(&b, "<candidate_patch>\n%s</candidate_patch>\n", patch)
	return []Message{{Role: "system", Content: Str(VerifierSystemPrompt)}, {Role: "user", Content: Str(b.String())}}
}

// ErrVerdict marks a verifier answer with no reward in it.
var ErrVerdict = errors.New("no verdict in the verifier's answer")

var rewardText = regexp.MustCompile(`(?i)"?reward"?\s*[:=]\s*"?([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)`)

// ParseVerdict reads a verifier's answer: the last JSON object in it with a
// "reward" (fenced or bare; models wrap it in prose), else a "reward: x"
// line. The reward is clamped to [0, 1].
func ParseVerdict(text string) (Verdict, error) {
	for end := strings.LastIndex(text, "}"); end >= 0; end = strings.LastIndex(text[:end], "}") {
		for start := strings.LastIndex(text[:end], "{"); start >= 0; start = strings.LastIndex(text[:start], "{") {
			var raw struct {
				Tests  map[string]any   `json:"tests"`
				Reward *json.RawMessage `json:"reward"`
			}
			if json.Unmarshal([]byte(text[start:end+1]), &raw) != nil || raw.Reward == nil {
				continue
			}
			r, err := strconv.ParseFloat(strings.Trim(string(*raw.Reward), `"`), 64)
			if err != nil || math.IsNaN(r) {
				continue
			}
			v := Verdict{Reward: clamp01(r), Tests: map[string]string{}}
			for id, st := range raw.Tests {
				v.Tests[id] = strings.ToUpper(fmt.Sprint(st))
			}
			return v, nil
		}
	}
	if m := rewardText.FindAllStringSubmatch(text, -1); m != nil {
		if r, err := strconv.ParseFloat(m[len(m)-1][1], 64); err == nil {
			return Verdict{Reward: clamp01(r), Tests: map[string]string{}}, nil
		}
	}
	return Verdict{}, fmt.Errorf("%w (%d bytes: %q)", ErrVerdict, len(text), snippet([]byte(text)))
}

func clamp01(x float64) float64 { return math.Min(1, math.Max(0, x)) }

// changedLines is the set of a diff's added and removed lines (without the
// file headers), the part of a patch a scripted verifier compares.
func changedLines(patch string) []string {
	var out []string
	for _, line := range strings.Split(patch, "\n") {
		if strings.HasPrefix(line, "+++") || strings.HasPrefix(line, "---") {
			continue
		}
		if strings.HasPrefix(line, "+") || strings.HasPrefix(line, "-") {
			out = append(out, strings.TrimSpace(line[:1]+strings.TrimSpace(line[1:])))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// verify is the scripted verifier: it compares the candidate's changed lines
// with the gold patch's and answers with a calibrated but imperfect
// prediction — right about nine times in ten, with a confidence drawn per
// candidate — so that selecting by its score beats pass@1 without reaching
// pass@k, as a real verifier does.
func (s *Scripted) verify(taskID, user string) (Message, error) {
	t, ok := s.Tasks[taskID]
	if !ok {
		return Message{}, fmt.Errorf("scripted verifier: unknown task %q (%d known)", taskID, len(s.Tasks))
	}
	_, patch, _ := strings.Cut(user, "<candidate_patch>\n")
	patch, _, _ = strings.Cut(patch, "</candidate_patch>")
	gold, cand := changedLines(t.GoldPatch), changedLines(patch)
	looksRight := len(gold) > 0
	for _, g := range gold {
		if _, found := slices.BinarySearch(cand, g); !found {
			looksRight = false
		}
	}
	u := draw("verify", taskID, patch)
	if draw("verify-flip", taskID, patch) < 0.1 {
		looksRight = !looksRight
	}
	reward := 0.05 + 0.4*u
	if looksRight {
		reward = 0.55 + 0.4*u
	}
	if strings.TrimSpace(patch) == "" {
		reward = 0
	}
	v := Verdict{Tests: map[string]string{}, Reward: math.Round(reward*1000) / 1000}
	for _, id := range t.FailToPass {
		v.Tests[id] = map[bool]string{true: "PASSED", false: "FAILED"}[reward >= 0.5]
	}
	body, _ := json.Marshal(v)
	return Message{Role: "assistant", Content: Str("Predicted report and reward:\n" + string(body))}, nil
}
