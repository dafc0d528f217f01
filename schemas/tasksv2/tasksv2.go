// Package tasksv2 is the tasks table as schema v2 stored it (no test-runner
// spec, no extra test classes), what `swelake lake migrate tasks` reads. The
// row type keeps its name: the Parquet schema — and so the fingerprint a v2
// lake recorded — carries the Go type's name.
package tasksv2

import (
	"time"

	"github.com/swelake/swelake/schemas"
)

// Task is a row of tasks schema v2.
type Task struct {
	TaskID           string     `parquet:"task_id" json:"task_id"` // stable: the source's instance id, namespaced by source
	Source           string     `parquet:"source" json:"source"`   // e.g. swe-bench, swe-gym, synth
	InstanceID       string     `parquet:"instance_id" json:"instance_id"`
	Repo             string     `parquet:"repo" json:"repo"`
	BaseCommit       string     `parquet:"base_commit" json:"base_commit"`
	ProblemStatement string     `parquet:"problem_statement" json:"problem_statement"`
	GoldPatch        string     `parquet:"gold_patch" json:"gold_patch"`
	BugPatch         string     `parquet:"bug_patch" json:"bug_patch"` // synthesized tasks: the patch that introduced the bug (gold is its inverse)
	TestPatch        string     `parquet:"test_patch" json:"test_patch"`
	FailToPass       []string   `parquet:"fail_to_pass,list" json:"fail_to_pass"`
	PassToPass       []string   `parquet:"pass_to_pass,list" json:"pass_to_pass"`
	ExpectedPass     []string   `parquet:"expected_pass,list" json:"expected_pass"` // tests that must pass after the fix, where the source does not split F2P/P2P (R2E-Gym)
	Image            string     `parquet:"image" json:"image"`
	Language         string     `parquet:"language" json:"language"`
	TestCmd          string     `parquet:"test_cmd" json:"test_cmd"`
	CreatedAt        *time.Time `parquet:"created_at,optional,timestamp(millisecond)" json:"created_at"`
	Difficulty       string     `parquet:"difficulty" json:"difficulty"`
	Version          string     `parquet:"version" json:"version"` // the repository version the harness keys environments by
	Hints            string     `parquet:"hints" json:"hints"`
	ContentHash      string     `parquet:"content_hash" json:"content_hash"` // sha256 of the normalised task content
	Raw              []byte     `parquet:"raw" json:"raw"`                   // the source row, byte for byte (may be invalid UTF-8: a BLOB)
}

// Def is the v2 table definition (for its schema and fingerprint).
var Def = schemas.NewDef(schemas.Def[Task]{
	Name: "tasks", Version: 2, PartitionBy: "source",
	Key:      []string{"task_id"},
	Required: []string{"task_id", "source"},
}, func(t *Task) string { return t.Source }, func(t *Task) int {
	return len(t.ProblemStatement) + len(t.GoldPatch) + len(t.TestPatch) + len(t.Raw) + 256
})
