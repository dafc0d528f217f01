package schemas

import (
	"bytes"
	"encoding/json"

	gojson "github.com/goccy/go-json"
	"regexp"
	"slices"
	"strings"
)

// Action is one action an agent took, as the rollouts table stores it
// (computed once, when the rollout is written; curation reads these, never
// the messages).
type Action struct {
	Seq  int32 `parquet:"seq" json:"seq"`   // 1-based order within the rollout
	Turn int32 `parquet:"turn" json:"turn"` // 1-based position of its assistant message in messages (messages[turn] in SQL)
	// Kind is how the scaffold encoded it: native (a tool call), text (a
	// <function=NAME> block) or fenced (a ```bash block).
	Kind string `parquet:"kind" json:"kind"`
	Tool string `parquet:"tool" json:"tool"`
	// Command is the command run, or the editor's sub-command ("view",
	// "str_replace"), or the whole call where it has neither.
	Command string `parquet:"command" json:"command"`
	// Params are all of its parameters (compact JSON for tool calls, the
	// call's text with whitespace folded for text blocks): with Tool, an
	// action's identity — viewing two files is two actions.
	Params string `parquet:"params" json:"params"`
	// Submit: a submit action (a tool in SubmitTools, or a command matching
	// submitCommand). GitHistory: it reads the repository's history
	// (gitHistoryCommand).
	Submit     bool `parquet:"submit" json:"submit"`
	GitHistory bool `parquet:"git_history" json:"git_history"`
}

// FormatError is an environment message telling the agent its output was
// malformed (one of FormatHints).
type FormatError struct {
	Turn int32  `parquet:"turn" json:"turn"` // 1-based position of the user or tool message in messages
	Hint string `parquet:"hint" json:"hint"` // the hint it contains
}

// SubmitTools are the tool names that submit; submitCommand the commands
// that do. gitHistoryCommand matches commands that look up the fix in the
// repository's history (git log/show/reflog/clone, reading .git
// internals). FormatHints are what the scaffolds say to malformed output.
// These are the one definition; rollouts written before a change keep what
// they were computed with until lake migrate recomputes them.
func SubmitTools() []string {
	return []string{"submit", "finish", "finish_task", "task_done", "attempt_completion"}
}

// FormatHints: see SubmitTools.
func FormatHints() []string {
	return []string{"You forgot to use a function call", "Your last output did not use any tool calls",
		"did not include a valid function call", "Your output was not formatted correctly"}
}

// The patterns, compiled once (never changed after).
var (
	submitCommand     = regexp.MustCompile(`(?i)^\s*(submit|echo\s+\W?COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT)\b`)
	gitHistoryCommand = regexp.MustCompile(`(?i)\bgit\s+(-C\s+\S+\s+)?(--no-pager\s+)?(log|show|reflog|clone)\b|\.git/(objects|refs|logs|packed-refs|ORIG_HEAD|FETCH_HEAD)`)
)

// fencedInfo are the info strings of a fenced command, in the order the
// v2 SQL's regular expression tried them ((?s)```(?:bash|sh)?\n(.*?)\n?```),
// plus mini-swe-agent's mswea_bash_command (which that SQL missed: real
// mini-swe-agent runs had no actions); "" is a bare fence.
var fencedInfo = []string{"bash", "sh", "mswea_bash_command", ""}

// fencedCommands returns the bodies of the fenced commands in s, as that
// regular expression's leftmost, non-overlapping matches would (a fence,
// an info string and a newline; the body up to the next fence, less one
// trailing newline) — without its backtracking, which cost most of the
// time of extracting actions.
func fencedCommands(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], "```")
		if j < 0 {
			break
		}
		p := i + j + 3
		start := -1
		for _, info := range fencedInfo {
			if strings.HasPrefix(s[p:], info+"\n") {
				start = p + len(info) + 1
				break
			}
		}
		k := -1
		if start >= 0 {
			k = strings.Index(s[start:], "```")
		}
		if k < 0 {
			i = i + j + 1 // no match from this fence: try from the next byte
			continue
		}
		out = append(out, strings.TrimSuffix(s[start:start+k], "\n"))
		i = start + k + 3
	}
	return out
}

// hasFold reports whether s contains sub, ASCII case folded (sub lower case).
func hasFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		ok := true
		for k := 0; k < len(sub); k++ {
			c := s[i+k]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[k] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// isSubmitCommand and isGitHistory apply the patterns behind a cheap test
// that every match passes.
func isSubmitCommand(cmd string) bool {
	t := strings.TrimLeft(cmd, " \t\r\n\f\v")
	return (hasFold(t[:min(len(t), 6)], "submit") || hasFold(t[:min(len(t), 4)], "echo")) && submitCommand.MatchString(cmd)
}

func isGitHistory(cmd string) bool { return hasFold(cmd, "git") && gitHistoryCommand.MatchString(cmd) }

const trimSet = " \t\r\n"

// ActionsOf extracts the actions of a conversation, whatever the scaffold
// wrote: native tool calls (command from the arguments' command or cmd,
// else the arguments), text-encoded calls (<function=NAME> …
// <parameter=command|cmd>…</parameter> … </function>, as R2E-Gym and
// OpenHands write them) in assistant messages without tool calls, and
// fenced commands (SWE-agent, mini-swe-agent) in assistant messages with
// neither. It is the Go form of the SQL curation ran on messages up to
// rollouts v2 (jobs/curate/testdata/actions_v2.sql; TestActionsParity).
func ActionsOf(msgs []Message) []Action {
	var out []Action
	submitTools := SubmitTools()
	add := func(turn int, kind, tool, command, params string) {
		command, params = strings.Trim(command, trimSet), strings.Trim(params, trimSet)
		out = append(out, Action{Seq: int32(len(out) + 1), Turn: int32(turn + 1), Kind: kind, Tool: tool, Command: command, Params: params,
			Submit:     slices.Contains(submitTools, strings.ToLower(tool)) || isSubmitCommand(command),
			GitHistory: isGitHistory(command)})
	}
	for i, m := range msgs {
		if m.Role != "assistant" {
			continue
		}
		switch {
		case len(m.ToolCalls) > 0:
			for _, c := range m.ToolCalls {
				command, params := nativeCommand(c.Arguments)
				add(i, "native", c.Name, command, params)
			}
		case strings.Contains(m.Content, "<function="):
			for _, x := range strings.Split(m.Content, "<function=")[1:] {
				if !strings.Contains(x, "</function>") || strings.IndexByte(x, '>') < 1 {
					continue
				}
				b, _, _ := strings.Cut(x, "</function>")
				tool, _, _ := strings.Cut(b, ">")
				command := ""
				for _, p := range []string{"<parameter=command>", "<parameter=cmd>"} {
					if strings.Contains(b, p) {
						command = splitPart(splitPart(b, p, 2), "</parameter>", 1)
						break
					}
				}
				if strings.Trim(command, trimSet) == "" {
					command = "<function=" + b + "</function>"
				}
				add(i, "text", tool, command, foldSpace(strings.Trim(b, trimSet)))
			}
		case strings.Contains(m.Content, "```"):
			for _, c := range fencedCommands(m.Content) {
				add(i, "fenced", "bash", c, c)
			}
		}
	}
	return out
}

// nativeCommand is a tool call's command (its arguments' command or cmd,
// else the arguments) and its parameters (compact JSON, else as given).
func nativeCommand(args string) (command, params string) {
	var buf bytes.Buffer
	if gojson.Compact(&buf, []byte(args)) != nil { // not JSON
		return args, args
	}
	params = buf.String()
	if !strings.Contains(params, `"command"`) && !strings.Contains(params, `"cmd"`) {
		return args, params
	}
	var obj map[string]gojson.RawMessage
	if gojson.Unmarshal(buf.Bytes(), &obj) == nil {
		for _, k := range []string{"command", "cmd"} {
			v, ok := obj[k]
			if !ok || string(v) == "null" {
				continue
			}
			var s string
			if gojson.Unmarshal(v, &s) == nil {
				return s, params
			}
			return string(v), params // compact already
		}
	}
	return args, params
}

// splitPart is SQL's split_part: the n-th (1-based) field of s split by
// sep, "" past the last.
func splitPart(s, sep string, n int) string {
	parts := strings.SplitN(s, sep, n+1)
	if len(parts) < n {
		return ""
	}
	return parts[n-1]
}

var spaces = regexp.MustCompile(`\s+`)

func foldSpace(s string) string { return spaces.ReplaceAllString(s, " ") }

// FormatErrorsOf finds the environment's messages (user or tool) that
// contain a FormatHints hint.
func FormatErrorsOf(msgs []Message) []FormatError {
	var out []FormatError
	hints := FormatHints()
	for i, m := range msgs {
		if m.Role != "user" && m.Role != "tool" {
			continue
		}
		for _, h := range hints {
			if strings.Contains(m.Content, h) {
				out = append(out, FormatError{Turn: int32(i + 1), Hint: h})
				break
			}
		}
	}
	return out
}

// ToolsOf returns the "tools" array of a JSON object record, compact, or ""
// when the record has none (or an empty one).
func ToolsOf(record []byte) string {
	t := bytes.TrimSpace(record)
	if len(t) == 0 || t[0] != '{' || !bytes.Contains(t, []byte(`"tools"`)) {
		return ""
	}
	var probe struct {
		Tools json.RawMessage `json:"tools"`
	}
	if json.Unmarshal(t, &probe) != nil {
		return ""
	}
	var list []json.RawMessage
	if json.Unmarshal(probe.Tools, &list) != nil || len(list) == 0 {
		return ""
	}
	var buf bytes.Buffer
	json.Compact(&buf, probe.Tools)
	return buf.String()
}

// FinishRollout fills a rollout's derived columns from what its writer set:
// exit_reason normalised from exit_reason_raw, forced, infra_error for an
// environment failure, actions and format errors. Every writer calls it.
func FinishRollout(r *Rollout) {
	r.ExitReason = NormalizeExit(r.ExitReasonRaw, r.Submitted)
	r.Forced = ForcedExit(r.ExitReason)
	r.InfraError = r.InfraError || r.ExitReason == ExitEnvError
	r.Actions = ActionsOf(r.Messages)
	r.FormatErrors = FormatErrorsOf(r.Messages)
}
