// Package realsamples finds the real public sample files that tests and
// benchmarks read in place (../shared/realdata beside the checkout; see its
// README), and walks the strings of their JSON documents. Nothing here
// copies them.
package realsamples

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/swelake/swelake/internal/miniotest"
)

// Dir is ../shared/realdata beside the repository root; tb fails, saying
// where the files were expected, when it is not there.
func Dir(tb testing.TB) string {
	tb.Helper()
	root, err := miniotest.RepoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(filepath.Dir(root), "shared", "realdata")
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		tb.Fatalf("the real public data is expected in %s (../shared/realdata beside the checkout): %v", dir, err)
	}
	return dir
}

// Path is a file or directory under Dir.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	return filepath.Join(append([]string{Dir(tb)}, elem...)...)
}

// Strings returns every string value of the JSON documents in data (one
// document, or several in a row as in JSONL), depth first, in document
// order within arrays; object members come in no fixed order. Where data
// stops parsing, the strings read so far are returned.
func Strings(data []byte) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var v any
		if dec.Decode(&v) != nil {
			return out
		}
		walk(v)
	}
}

// ReadJSON decodes the JSON file path into v, failing the test on error.
func ReadJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// TestList reads a FAIL_TO_PASS / PASS_TO_PASS value as the rows spell
// it: a JSON list, or a JSON string holding one.
func TestList(tb testing.TB, raw json.RawMessage) []string {
	tb.Helper()
	var l []string
	if json.Unmarshal(raw, &l) == nil {
		return l
	}
	var s string
	if json.Unmarshal(raw, &s) != nil || json.Unmarshal([]byte(s), &l) != nil {
		tb.Fatalf("test list %.80s: neither a list nor a string holding one", raw)
	}
	return l
}
