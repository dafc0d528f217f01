package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Def describes one table: its row type, schema version, partition column and
// the columns a row must carry.
type Def[T any] struct {
	Name    string
	Version int // bumped on every change of columns (see docs/tables.md)
	// PartitionBy is the partition column ("" for none). Its value is part of
	// every data file's path and of the log.
	PartitionBy string
	// Required columns must be present and non-empty in every row.
	Required []string
	// Key columns identify a row: the order of published files and what
	// lake diff matches rows by.
	Key         []string
	requiredIdx []int // struct field index of each Required column
	partition   func(*T) string
	size        func(*T) int
}

// newDef builds a Def, resolving the required columns to struct fields once.
// It panics on a required column the row type does not have: a programming
// error caught by the package's tests.
func newDef[T any](d Def[T]) Def[T] {
	t := reflect.TypeFor[T]()
	for _, col := range d.Required {
		idx := -1
		for i := range t.NumField() {
			if name, _, _ := strings.Cut(t.Field(i).Tag.Get("parquet"), ","); name == col {
				idx = i
			}
		}
		if idx < 0 {
			panic(fmt.Sprintf("schemas: table %s: required column %q is not a field of %s", d.Name, col, t))
		}
		d.requiredIdx = append(d.requiredIdx, idx)
	}
	for _, col := range d.Key {
		if !slices.ContainsFunc(reflect.VisibleFields(t), func(f reflect.StructField) bool {
			name, _, _ := strings.Cut(f.Tag.Get("parquet"), ",")
			return name == col
		}) {
			panic(fmt.Sprintf("schemas: table %s: key column %q is not a field of %s", d.Name, col, t))
		}
	}
	return d
}

// NewDef builds a table definition outside this package: an earlier
// schema version of a table, which lake migrate reads
// (schemas/rolloutsv2).
func NewDef[T any](d Def[T], partition func(*T) string, size func(*T) int) Def[T] {
	d.partition, d.size = partition, size
	return newDef(d)
}

// RunOf is the column naming the run that wrote a row, for the tables that
// stack the results of many runs ("" for the others): queries read the
// latest run's rows through a view latest_<table> (docs/analysis.md).
func RunOf(table string) string {
	switch table {
	case Curations.Name, CurationDrops.Name, TaskStats.Name:
		return "curation_id"
	case SFTExamples.Name:
		return "set_id"
	case RLSamples.Name:
		return "batch_id"
	case VerifierScores.Name:
		return "verify_id"
	case RLIterations.Name:
		return "loop_id"
	}
	return ""
}

// KeyOf returns a table's key columns by name (nil for unknown tables).
func KeyOf(table string) []string {
	switch table {
	case Tasks.Name:
		return Tasks.Key
	case Rollouts.Name:
		return Rollouts.Key
	case Evaluations.Name:
		return Evaluations.Key
	case TaskValidations.Name:
		return TaskValidations.Key
	case Quarantine.Name:
		return Quarantine.Key
	case Curations.Name:
		return Curations.Key
	case CurationDrops.Name:
		return CurationDrops.Key
	case TaskStats.Name:
		return TaskStats.Key
	case SFTExamples.Name:
		return SFTExamples.Key
	case RLSamples.Name:
		return RLSamples.Key
	case VerifierScores.Name:
		return VerifierScores.Key
	case Checkpoints.Name:
		return Checkpoints.Key
	case RLIterations.Name:
		return RLIterations.Key
	case Injections.Name:
		return Injections.Key
	case GeneratedTests.Name:
		return GeneratedTests.Key
	}
	return nil
}

// Tasks, Rollouts, Evaluations and Quarantine are the tables of this version.
var (
	Tasks = newDef(Def[Task]{
		Name: "tasks", Version: 3, PartitionBy: "source",
		Key:       []string{"task_id"},
		Required:  []string{"task_id", "source"},
		partition: func(t *Task) string { return t.Source },
		size: func(t *Task) int {
			return len(t.ProblemStatement) + len(t.GoldPatch) + len(t.TestPatch) + len(t.Raw) + 256
		},
	})
	Rollouts = newDef(Def[Rollout]{
		Name: "rollouts", Version: 3, PartitionBy: "run_id",
		Key:       []string{"rollout_id"},
		Required:  []string{"rollout_id", "run_id"}, // task_id is empty for SFT exports that do not name the task
		partition: func(r *Rollout) string { return r.RunID },
		size: func(r *Rollout) int {
			n := len(r.Patch) + len(r.TestReport) + len(r.Tools) + 192
			for _, m := range r.Messages {
				n += len(m.Content) + 32
				for _, c := range m.ToolCalls {
					n += len(c.Arguments) + len(c.Name) + len(c.ID)
				}
			}
			for _, a := range r.Actions {
				n += len(a.Tool) + len(a.Command) + len(a.Params) + 16
			}
			return n
		},
	})
	Evaluations = newDef(Def[Evaluation]{
		Name: "evaluations", Version: 2, PartitionBy: "run_id",
		Key:       []string{"evaluation_id"},
		Required:  []string{"evaluation_id", "task_id", "run_id", "status"},
		partition: func(e *Evaluation) string { return e.RunID },
		size: func(e *Evaluation) int {
			n := len(e.Patch) + len(e.Raw) + 128
			for _, t := range e.Tests {
				n += len(t.Name) + 24
			}
			return n
		},
	})
	TaskValidations = newDef(Def[TaskValidation]{
		Name: "task_validations", Version: 1, PartitionBy: "validation_id",
		Key:       []string{"validation_id", "task_id"},
		Required:  []string{"validation_id", "task_id", "status"},
		partition: func(v *TaskValidation) string { return v.ValidationID },
		size:      func(v *TaskValidation) int { return 512 + 64*(len(v.F2PFailed)+len(v.P2PFailed)+len(v.Flaky)) },
	})
	Quarantine = newDef(Def[QuarantineRow]{
		Name: "quarantine", Version: 1, PartitionBy: "job",
		Key:       []string{"job", "source_file", "line", "offset"},
		Required:  []string{"job", "source_file", "reason"},
		partition: func(q *QuarantineRow) string { return q.Job },
		size:      func(q *QuarantineRow) int { return len(q.Raw) + len(q.Reason) + 128 },
	})
)

// The training tables (see training.go).
var (
	Curations = newDef(Def[Curation]{
		Name: "curation", Version: 1, PartitionBy: "curation_id",
		Key:       []string{"curation_id", "rollout_id"},
		Required:  []string{"curation_id", "rollout_id"},
		partition: func(c *Curation) string { return c.CurationID },
		size:      func(c *Curation) int { return 256 + 64*len(c.Reasons) },
	})
	CurationDrops = newDef(Def[CurationDrop]{
		Name: "curation_drops", Version: 1, PartitionBy: "curation_id",
		Key:       []string{"curation_id", "rule"},
		Required:  []string{"curation_id", "rule"},
		partition: func(c *CurationDrop) string { return c.CurationID },
		size:      func(c *CurationDrop) int { return 512 },
	})
	TaskStats = newDef(Def[TaskStat]{
		Name: "task_stats", Version: 1, PartitionBy: "policy",
		Key:       []string{"curation_id", "policy", "task_id"},
		Required:  []string{"curation_id", "task_id"},
		partition: func(t *TaskStat) string { return t.Policy },
		size:      func(t *TaskStat) int { return 256 },
	})
	SFTExamples = newDef(Def[SFTExample]{
		Name: "sft_examples", Version: 2, PartitionBy: "set_id",
		Key:       []string{"set_id", "example_id"},
		Required:  []string{"set_id", "example_id", "split"},
		partition: func(e *SFTExample) string { return e.SetID },
		size: func(e *SFTExample) int {
			n := 8*len(e.InputIDs) + 2*len(e.Text) + 256
			return n
		},
	})
	RLSamples = newDef(Def[RLSample]{
		Name: "rl_samples", Version: 2, PartitionBy: "batch_id",
		Key:       []string{"batch_id", "group_id", "rollout_id"},
		Required:  []string{"batch_id", "group_id", "rollout_id"},
		partition: func(r *RLSample) string { return r.BatchID },
		size:      func(r *RLSample) int { return 8*len(r.InputIDs) + 256 },
	})
	VerifierScores = newDef(Def[VerifierScore]{
		Name: "verifier_scores", Version: 2, PartitionBy: "verify_id",
		Key:       []string{"verify_id", "rollout_id"},
		Required:  []string{"verify_id", "verifier", "task_id", "rollout_id"},
		partition: func(v *VerifierScore) string { return v.VerifyID },
		size:      func(v *VerifierScore) int { return 512 + len(v.PredictedTests) + len(v.Response) },
	})
	Checkpoints = newDef(Def[Checkpoint]{
		Name: "checkpoints", Version: 2,
		Key:       []string{"model"},
		Required:  []string{"model"},
		partition: func(*Checkpoint) string { return "" },
		size:      func(c *Checkpoint) int { return 256 + len(c.Notes) },
	})
	RLIterations = newDef(Def[RLIteration]{
		Name: "rl_iterations", Version: 1, PartitionBy: "loop_id",
		Key:       []string{"loop_id", "iteration"},
		Required:  []string{"loop_id", "checkpoint_in", "checkpoint_out"},
		partition: func(r *RLIteration) string { return r.LoopID },
		size:      func(r *RLIteration) int { return 1024 + 64*(len(r.Inputs)+len(r.Outputs)+len(r.TrainerCommand)) },
	})
	Injections = newDef(Def[Injection]{
		Name: "injections", Version: 1, PartitionBy: "repo",
		Key:       []string{"injection_id"},
		Required:  []string{"injection_id", "repo", "mode", "model"},
		partition: func(r *Injection) string { return r.Repo },
		size:      func(r *Injection) int { return 512 + len(r.Patch) + len(r.Messages) },
	})
	GeneratedTests = newDef(Def[GeneratedTest]{
		Name: "generated_tests", Version: 1, PartitionBy: "model",
		Key:       []string{"gen_id"},
		Required:  []string{"gen_id", "task_id", "model"},
		partition: func(r *GeneratedTest) string { return r.Model },
		size:      func(r *GeneratedTest) int { return 512 + len(r.Patch) + len(r.Messages) },
	})
)

// Names lists the tables of this version.
func Names() []string {
	return []string{Tasks.Name, Rollouts.Name, Evaluations.Name, TaskValidations.Name, Quarantine.Name,
		Curations.Name, CurationDrops.Name, TaskStats.Name, SFTExamples.Name, RLSamples.Name, VerifierScores.Name, Checkpoints.Name, RLIterations.Name, Injections.Name, GeneratedTests.Name}
}

// Partition returns the row's partition value.
func (d Def[T]) Partition(row *T) string { return d.partition(row) }

// SizeOf estimates a row's uncompressed size, to bound row groups.
func (d Def[T]) SizeOf(row *T) int { return d.size(row) }

// ParquetSchema is the table's Parquet schema.
func (d Def[T]) ParquetSchema() *parquet.Schema { return parquet.SchemaOf(new(T)) }

// Fingerprint is the sha256 of the Parquet schema's text.
func (d Def[T]) Fingerprint() string {
	sum := sha256.Sum256([]byte(d.ParquetSchema().String()))
	return hex.EncodeToString(sum[:])
}

// Columns lists the top-level column names in order.
func (d Def[T]) Columns() []string {
	var cols []string
	for _, f := range d.ParquetSchema().Fields() {
		cols = append(cols, f.Name())
	}
	return cols
}

// Validate checks the required columns of a decoded row.
func (d Def[T]) Validate(row *T) error {
	v := reflect.ValueOf(row).Elem()
	for i, idx := range d.requiredIdx {
		if v.Field(idx).IsZero() {
			return fmt.Errorf("required column %q is empty", d.Required[i])
		}
	}
	return nil
}
