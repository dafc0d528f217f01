package registry

import (
	"flag"
	"fmt"
	"os"
	"reflect"
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
	if err := check(); err != nil {
		t.Fatal(err)
	}
	if len(Jobs()) < 14 {
		t.Fatalf("%d jobs registered", len(Jobs()))
	}
}

// check verifies the registry: job names and sections unique, every flag
// and argument key a key of its config.
func check() error {
	names, sections := map[string]bool{}, map[string]bool{}
	for _, j := range Jobs() {
		info := j.Describe()
		if names[info.Name] || sections[info.ConfigSection()] {
			return fmt.Errorf("job %s: its name or config section is taken", info.Name)
		}
		names[info.Name], sections[info.ConfigSection()] = true, true
		have := map[string]bool{}
		for _, k := range keys(reflect.ValueOf(j.NewConfig()).Elem(), "") {
			have[k.name] = true
		}
		for _, f := range info.Flags {
			if !have[f.Key] {
				return fmt.Errorf("job %s: flag --%s sets %q, not a key of its config", info.Name, f.Name, f.Key)
			}
		}
		if info.ArgsKey != "" && !have[info.ArgsKey] {
			return fmt.Errorf("job %s: its arguments set %q, not a key of its config", info.Name, info.ArgsKey)
		}
	}
	return nil
}
