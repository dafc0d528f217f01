package formats

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update", false, "rewrite the generated table in docs/formats.md")

const (
	docsPath  = "../../../docs/formats.md"
	beginMark = "<!-- BEGIN GENERATED: go test ./jobs/ingest/formats -update -->"
	endMark   = "<!-- END GENERATED -->"
)

// formatTable renders every format as a Markdown table.
func formatTable() string {
	var b strings.Builder
	b.WriteString("| kind | format | detected by | what it reads | example |\n|---|---|---|---|---|\n")
	for _, f := range All() {
		keys, without := f.Signature()
		var by []string
		for _, k := range keys {
			by = append(by, "`"+k+"`")
		}
		auto := strings.Join(by, ", ")
		if auto == "" {
			auto = "its values"
		}
		if len(without) > 0 {
			auto += "; never `" + strings.Join(without, "`, `") + "`"
		}
		if !f.HasDetector() {
			auto = "no: name it (" + auto + ")"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | `%s` |\n", f.Kind, f.Name, auto, strings.ReplaceAll(f.Doc, "|", "\\|"), f.Example)
	}
	return b.String()
}

// TestDocsListEveryFormat keeps docs/formats.md's table generated from the
// registry.
func TestDocsListEveryFormat(t *testing.T) {
	doc, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, beginMark), strings.Index(s, endMark)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the generated-table markers", docsPath)
	}
	want := s[:i+len(beginMark)] + "\n" + formatTable() + s[j:]
	if *updateDocs {
		if err := os.WriteFile(docsPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if s != want {
		t.Fatalf("%s is out of date with the format registry: run go test ./jobs/ingest/formats -update", docsPath)
	}
}
