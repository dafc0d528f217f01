// Package rolloutsv2 is the rollouts table as schema v2 stored it, what
// `swelake lake migrate` reads. The row type is named Rollout, as it was:
// the Parquet schema — and so the fingerprint a v2 lake recorded — carries
// the Go type's name (testdata/rollouts-v2.schema is the v2 golden file).
package rolloutsv2

import "github.com/swelake/swelake/schemas"

// Rollout is a row of rollouts schema v2: the source record inline (raw),
// the source's exit reason in exit_reason, no derived columns.
type Rollout struct {
	RolloutID   string            `parquet:"rollout_id" json:"rollout_id"`
	TaskID      string            `parquet:"task_id" json:"task_id"`
	RunID       string            `parquet:"run_id" json:"run_id"`
	Policy      string            `parquet:"policy" json:"policy"`
	SampleIdx   int32             `parquet:"sample_idx" json:"sample_idx"`
	Messages    []schemas.Message `parquet:"messages,list" json:"messages"`
	NumTurns    int32             `parquet:"num_turns" json:"num_turns"`
	Tokens      *int64            `parquet:"tokens,optional" json:"tokens"`
	ExitReason  string            `parquet:"exit_reason" json:"exit_reason"`
	Patch       string            `parquet:"patch" json:"patch"`
	Submitted   bool              `parquet:"submitted" json:"submitted"`
	Forced      bool              `parquet:"forced" json:"forced"`
	InfraError  bool              `parquet:"infra_error" json:"infra_error"`
	Reward      *float64          `parquet:"reward,optional" json:"reward"`
	Resolved    *bool             `parquet:"resolved,optional" json:"resolved"`
	TestReport  string            `parquet:"test_report" json:"test_report"`
	Source      string            `parquet:"source" json:"source"`
	ContentHash string            `parquet:"content_hash" json:"content_hash"`
	Raw         []byte            `parquet:"raw,snappy" json:"raw"`
}

// Def is the rollouts table at schema v2.
var Def = schemas.NewDef(schemas.Def[Rollout]{
	Name: "rollouts", Version: 2, PartitionBy: "run_id",
	Key:      []string{"rollout_id"},
	Required: []string{"rollout_id", "run_id"},
}, func(r *Rollout) string { return r.RunID }, func(r *Rollout) int {
	n := len(r.Patch) + len(r.TestReport) + len(r.Raw) + 128
	for _, m := range r.Messages {
		n += len(m.Content) + 32
	}
	return n
})
