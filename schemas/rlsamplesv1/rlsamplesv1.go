// Package rlsamplesv1 is the rl_samples table as schema v1 stored it (no
// reward source columns), what `swelake lake migrate` reads. The row type is
// named RLSample, as it was: the Parquet schema — and so the fingerprint a
// v1 lake recorded — carries the Go type's name.
package rlsamplesv1

import "github.com/swelake/swelake/schemas"

// RLSample is a row of rl_samples schema v1.
type RLSample struct {
	BatchID      string   `parquet:"batch_id" json:"batch_id"`
	Iteration    int64    `parquet:"iteration" json:"iteration"`
	GroupID      string   `parquet:"group_id" json:"group_id"` // task (and policy) of the group
	RolloutID    string   `parquet:"rollout_id" json:"rollout_id"`
	TaskID       string   `parquet:"task_id" json:"task_id"`
	Policy       string   `parquet:"policy" json:"policy"`
	ExitReason   string   `parquet:"exit_reason" json:"exit_reason"`
	RewardRaw    float64  `parquet:"reward_raw" json:"reward_raw"`
	RewardShaped float64  `parquet:"reward_shaped" json:"reward_shaped"`
	Shaping      string   `parquet:"shaping" json:"shaping"` // what changed the reward ("" none, forced_submission, overlong)
	Advantage    float64  `parquet:"advantage" json:"advantage"`
	Estimator    string   `parquet:"estimator" json:"estimator"` // rloo, grpo, grpo_no_std
	MaskRule     string   `parquet:"mask_rule" json:"mask_rule"` // "assistant" or "zero:<reason>"
	InBaseline   bool     `parquet:"in_baseline" json:"in_baseline"`
	NumTokens    int64    `parquet:"num_tokens" json:"num_tokens"`
	LMax         int64    `parquet:"l_max" json:"l_max"` // the constant length normaliser of the batch
	PassRate     *float64 `parquet:"pass_rate,optional" json:"pass_rate"`
	InputIDs     []int32  `parquet:"input_ids,list" json:"input_ids"`
	LossMask     []int32  `parquet:"loss_mask,list" json:"loss_mask"`
}

// Def is the rl_samples table at schema v1.
var Def = schemas.NewDef(schemas.Def[RLSample]{
	Name: "rl_samples", Version: 1, PartitionBy: "batch_id",
	Key:      []string{"batch_id", "group_id", "rollout_id"},
	Required: []string{"batch_id", "group_id", "rollout_id"},
}, func(r *RLSample) string { return r.BatchID }, func(r *RLSample) int { return 8*len(r.InputIDs) + 256 })
