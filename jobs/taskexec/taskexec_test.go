package taskexec

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/swelake/swelake/exec/taskenv"
	"github.com/swelake/swelake/internal/realsamples"
	"github.com/swelake/swelake/schemas"
)

// TestRowLogParser: a SWE-rebench row's install_config.log_parser (a
// harness function name) decides the parser unless a specs file does —
// on the real falcon row, whose install_config is a Python literal, and on
// a JSON-object spelling.
func TestRowLogParser(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(realsamples.Dir(t), "swe-tasks", "falconry__falcon-2254", "row.json"))
	if err != nil {
		t.Fatal(err)
	}
	specs, _ := taskenv.New(nil)
	falcon := &schemas.Task{Source: "swe-rebench", Repo: "falconry/falcon", Raw: raw, TestCmd: "pytest --no-header -rA"}
	if got := RowLogParser(falcon); got != "parse_log_pytest" {
		t.Fatalf("falcon row: %q", got)
	}
	if e := TestEnv(specs, falcon); e.LogParser != "pytest" {
		t.Fatalf("falcon: %+v", e)
	}
	dicom := &schemas.Task{Source: "swe-rebench", Repo: "pydicom/pydicom", Raw: []byte(`{"install_config": {"log_parser": "parse_log_pytest_v2"}}`)}
	if e := TestEnv(specs, dicom); e.LogParser != "pytest-v2" {
		t.Fatalf("the row's parser over the built-in pydicom one: %+v", e)
	}
	bench := &schemas.Task{Source: "swe-bench", Repo: "pydicom/pydicom", Raw: []byte(`{"log_parser": "parse_log_pytest_v2"}`)}
	if e := TestEnv(specs, bench); e.LogParser != "pytest-options" {
		t.Fatalf("a SWE-bench row names no parser: %+v", e)
	}
	file, _ := taskenv.New([]taskenv.Spec{{Repo: "pydicom/pydicom", LogParser: "pytest"}})
	if e := TestEnv(file, dicom); e.LogParser != "pytest" {
		t.Fatalf("the specs file over the row: %+v", e)
	}
}
