package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/swelake/swelake/exec"
)

// Tool names.
const (
	ToolBash   = "bash"
	ToolEditor = "str_replace_editor"
	ToolSubmit = "submit"
)

func tool(name, desc, params string) Tool {
	var t Tool
	t.Type = "function"
	t.Function.Name, t.Function.Description, t.Function.Parameters = name, desc, json.RawMessage(params)
	return t
}

// Tools are the functions offered to the model (SWE-agent / OpenHands
// conventions, so that models trained on either know them).
func Tools() []Tool {
	return []Tool{
		tool(ToolBash, "Run a bash command in the repository (the working directory is its root). Output is truncated; no network.",
			`{"type":"object","properties":{"command":{"type":"string","description":"the command"}},"required":["command"]}`),
		tool(ToolEditor, "View, create and edit files. view: a file with line numbers or a directory listing (view_range [start, end] optional); create: write file_text to a new file; str_replace: replace old_str, which must occur exactly once, with new_str; insert: insert new_str after line insert_line; undo_edit: revert the last edit of the file.",
			`{"type":"object","properties":{"command":{"type":"string","enum":["view","create","str_replace","insert","undo_edit"]},"path":{"type":"string"},"file_text":{"type":"string"},"old_str":{"type":"string"},"new_str":{"type":"string"},"insert_line":{"type":"integer"},"view_range":{"type":"array","items":{"type":"integer"}}},"required":["command","path"]}`),
		tool(ToolSubmit, "Submit the current changes to the repository as the final answer.",
			`{"type":"object","properties":{}}`),
	}
}

// DefaultBanned are the git-hacking commands refused by default: they
// read the repository's history, where the fix may be found.
func DefaultBanned() []string { return []string{"git log", "git show", "git reflog", "git clone"} }

// ErrBanned: the command is on the ban list.
var ErrBanned = errors.New("command refused")

// banned reports the banned command a shell command line uses, if any.
// It matches the words of each simple command, so `cd x && git  log` and
// `git -C . log` are caught while `echo "git log"`-free text is not.
func banned(command string, list []string) string {
	for _, part := range splitCommands.Split(command, -1) {
		words := strings.Fields(part)
		// drop leading env assignments and `git -C dir`/`-c k=v` options
		for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
			words = words[1:]
		}
		if len(words) >= 2 && words[0] == "git" {
			rest := words[1:]
			for len(rest) >= 2 && (rest[0] == "-C" || rest[0] == "-c" || rest[0] == "--git-dir" || rest[0] == "--work-tree") {
				rest = rest[2:]
			}
			for len(rest) > 0 && strings.HasPrefix(rest[0], "--") {
				rest = rest[1:]
			}
			if len(rest) > 0 {
				words = append([]string{"git"}, rest...)
			}
		}
		line := strings.Join(words, " ")
		for _, b := range list {
			if line == b || strings.HasPrefix(line, b+" ") {
				return b
			}
		}
	}
	return ""
}

var splitCommands = regexp.MustCompile(`&&|\|\||[;|&\n()` + "`" + `]|\$\(`)

// toolbox runs the model's tool calls in one sandbox.
type toolbox struct {
	sb         exec.Sandbox
	banned     []string
	cmdTimeout time.Duration
	maxOutput  int
	history    map[string][][]byte // path → contents before each edit
}

// result of one tool call.
type toolResult struct {
	output    string
	submitted bool
	banned    string // the banned command refused
}

func (t *toolbox) call(ctx context.Context, name, args string) (toolResult, error) {
	var a struct {
		Command    string `json:"command"`
		Path       string `json:"path"`
		FileText   string `json:"file_text"`
		OldStr     string `json:"old_str"`
		NewStr     string `json:"new_str"`
		InsertLine *int   `json:"insert_line"`
		ViewRange  []int  `json:"view_range"`
	}
	if strings.TrimSpace(args) != "" {
		if err := json.Unmarshal([]byte(args), &a); err != nil {
			return toolResult{output: fmt.Sprintf("Error: the arguments of %s are not a JSON object: %v", name, err)}, nil
		}
	}
	switch name {
	case ToolSubmit:
		return toolResult{output: "Submitted.", submitted: true}, nil
	case ToolBash:
		if strings.TrimSpace(a.Command) == "" {
			return toolResult{output: "Error: no command given."}, nil
		}
		if b := banned(a.Command, t.banned); b != "" {
			return toolResult{output: fmt.Sprintf("Error: `%s` is not allowed in this environment (it reads the repository's history). Work from the code itself.", b), banned: b}, nil
		}
		res, err := t.sb.Run(ctx, exec.Spec{Argv: []string{"bash", "-c", a.Command}, Limits: exec.Limits{Timeout: t.cmdTimeout, Output: int64(t.maxOutput)}})
		if err != nil {
			return toolResult{}, err
		}
		out := string(res.Output)
		if res.Truncated {
			out += "\n[output truncated]"
		}
		if res.TimedOut {
			out += fmt.Sprintf("\n[the command timed out after %s and was killed]", t.cmdTimeout)
		} else if res.ExitCode != 0 {
			out += fmt.Sprintf("\n[exit code %d]", res.ExitCode)
		}
		return toolResult{output: out}, nil
	case ToolEditor:
		out, err := t.edit(ctx, a.Command, a.Path, a.FileText, a.OldStr, a.NewStr, a.InsertLine, a.ViewRange)
		if err != nil {
			if errors.Is(err, exec.ErrInfra) {
				return toolResult{}, err
			}
			return toolResult{output: "Error: " + err.Error()}, nil
		}
		return toolResult{output: out}, nil
	}
	return toolResult{output: fmt.Sprintf("Error: unknown tool %q (tools: bash, str_replace_editor, submit).", name)}, nil
}

// rel maps the model's path — absolute under the workspace (/workspace in
// the local sandbox, /testbed in SWE-bench images) or relative — to a
// workspace path.
func rel(p string) string {
	for _, root := range []string{"/workspace", "/testbed"} {
		if p == root || strings.HasPrefix(p, root+"/") {
			p = strings.TrimPrefix(p, root)
			break
		}
	}
	return strings.TrimPrefix(p, "/")
}

func (t *toolbox) edit(ctx context.Context, cmd, path, fileText, oldStr, newStr string, insertLine *int, viewRange []int) (string, error) {
	if path == "" {
		return "", errors.New("no path given")
	}
	p := rel(path)
	switch cmd {
	case "view":
		if p == "" || strings.HasSuffix(path, "/") {
			return t.listing(ctx, p)
		}
		data, err := t.sb.ReadFile(ctx, p)
		if err != nil {
			if out, lerr := t.listing(ctx, p); lerr == nil {
				return out, nil
			}
			return "", fmt.Errorf("cannot read %s: %v", path, err)
		}
		return numbered(data, viewRange), nil
	case "create":
		if _, err := t.sb.ReadFile(ctx, p); err == nil {
			return "", fmt.Errorf("%s exists; use str_replace to change it", path)
		}
		t.history[p] = append(t.history[p], nil)
		if err := t.sb.WriteFile(ctx, p, []byte(fileText)); err != nil {
			return "", err
		}
		return "Created " + path + ".", nil
	case "str_replace":
		data, err := t.sb.ReadFile(ctx, p)
		if err != nil {
			return "", fmt.Errorf("cannot read %s: %v", path, err)
		}
		if oldStr == "" {
			return "", errors.New("old_str is empty")
		}
		switch n := strings.Count(string(data), oldStr); n {
		case 0:
			return "", fmt.Errorf("old_str does not occur in %s", path)
		case 1:
		default:
			return "", fmt.Errorf("old_str occurs %d times in %s; make it unique", n, path)
		}
		t.history[p] = append(t.history[p], data)
		if err := t.sb.WriteFile(ctx, p, []byte(strings.Replace(string(data), oldStr, newStr, 1))); err != nil {
			return "", err
		}
		return "Edited " + path + ".", nil
	case "insert":
		data, err := t.sb.ReadFile(ctx, p)
		if err != nil {
			return "", fmt.Errorf("cannot read %s: %v", path, err)
		}
		if insertLine == nil {
			return "", errors.New("insert needs insert_line")
		}
		lines := strings.SplitAfter(string(data), "\n")
		if len(lines) > 0 && lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		if *insertLine < 0 || *insertLine > len(lines) {
			return "", fmt.Errorf("insert_line %d outside 0..%d", *insertLine, len(lines))
		}
		ins := newStr
		if !strings.HasSuffix(ins, "\n") {
			ins += "\n"
		}
		out := strings.Join(lines[:*insertLine], "") + ins + strings.Join(lines[*insertLine:], "")
		t.history[p] = append(t.history[p], data)
		if err := t.sb.WriteFile(ctx, p, []byte(out)); err != nil {
			return "", err
		}
		return "Inserted into " + path + ".", nil
	case "undo_edit":
		h := t.history[p]
		if len(h) == 0 {
			return "", fmt.Errorf("no edit of %s to undo", path)
		}
		prev := h[len(h)-1]
		t.history[p] = h[:len(h)-1]
		if prev == nil {
			if _, err := t.sb.Run(ctx, exec.Spec{Argv: []string{"rm", "-f", "--", p}, Limits: exec.Limits{Timeout: time.Minute}}); err != nil {
				return "", err
			}
			return "Removed " + path + " (undo of create).", nil
		}
		if err := t.sb.WriteFile(ctx, p, prev); err != nil {
			return "", err
		}
		return "Reverted the last edit of " + path + ".", nil
	}
	return "", fmt.Errorf("unknown editor command %q (view, create, str_replace, insert, undo_edit)", cmd)
}

func (t *toolbox) listing(ctx context.Context, p string) (string, error) {
	dir := p
	if dir == "" {
		dir = "."
	}
	res, err := t.sb.Run(ctx, exec.Spec{Argv: []string{"find", dir, "-maxdepth", "2", "-not", "-path", "*/.git*"}, Limits: exec.Limits{Timeout: time.Minute, Output: int64(t.maxOutput)}})
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", fmt.Errorf("no such file or directory: %s", p)
	}
	return string(res.Output), nil
}

func numbered(data []byte, viewRange []int) string {
	if !utf8.Valid(data) {
		return "(binary file)"
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	from, to := 1, len(lines)
	if len(viewRange) == 2 {
		from = max(1, viewRange[0])
		if viewRange[1] > 0 {
			to = min(to, viewRange[1])
		}
	}
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "%6d\t%s\n", i, lines[i-1])
	}
	return b.String()
}
