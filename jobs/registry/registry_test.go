package registry

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/jobs.md")

// TestJobsDoc: docs/jobs.md is the registry's reference, section for
// section; a job added without regenerating it (go test ./jobs/registry
// -update) fails here.
func TestJobsDoc(t *testing.T) {
	const path = "../../docs/jobs.md"
	want := Markdown()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range Jobs() {
		if !strings.Contains(string(got), "\n## "+j.Describe().Name+"\n") {
			t.Errorf("docs/jobs.md has no section for job %s (run go test ./jobs/registry -update)", j.Describe().Name)
		}
	}
	if string(got) != want {
		t.Errorf("docs/jobs.md is not what the registry says (run go test ./jobs/registry -update)")
	}
}

func TestRegistry(t *testing.T) {
	if err := Check(); err != nil {
		t.Fatal(err)
	}
	if len(Jobs()) < 14 {
		t.Fatalf("%d jobs registered", len(Jobs()))
	}
}
