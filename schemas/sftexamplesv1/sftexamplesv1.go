// Package sftexamplesv1 is the sft_examples table as schema v1 stored it
// (trajectory examples only, no kind column), what `swelake lake migrate
// sft_examples` reads. The row type keeps its name: the Parquet schema —
// and so the fingerprint a v1 lake recorded — carries the Go type's name.
package sftexamplesv1

import "github.com/swelake/swelake/schemas"

// SFTExample is a row of sft_examples schema v1.
type SFTExample struct {
	SetID         string            `parquet:"set_id" json:"set_id"`
	ExampleID     string            `parquet:"example_id" json:"example_id"`
	Split         string            `parquet:"split" json:"split"`
	RolloutIDs    []string          `parquet:"rollout_ids,list" json:"rollout_ids"`
	TaskID        string            `parquet:"task_id" json:"task_id"`
	Tokenizer     string            `parquet:"tokenizer" json:"tokenizer"`
	InputIDs      []int32           `parquet:"input_ids,list" json:"input_ids"`
	LossMask      []int32           `parquet:"loss_mask,list" json:"loss_mask"`
	NumTokens     int64             `parquet:"num_tokens" json:"num_tokens"`
	NumLossTokens int64             `parquet:"num_loss_tokens" json:"num_loss_tokens"`
	Truncated     bool              `parquet:"truncated" json:"truncated"`
	Text          string            `parquet:"text" json:"text"`
	Messages      []schemas.Message `parquet:"messages,list" json:"messages"`
	Weights       []int32           `parquet:"weights,list" json:"weights"`
	Tools         string            `parquet:"tools" json:"tools"`
}

// Def is the v1 table definition (for its schema and fingerprint).
var Def = schemas.NewDef(schemas.Def[SFTExample]{
	Name: "sft_examples", Version: 1, PartitionBy: "set_id",
	Key:      []string{"set_id", "example_id"},
	Required: []string{"set_id", "example_id", "split"},
}, func(e *SFTExample) string { return e.SetID }, func(e *SFTExample) int { return 8*len(e.InputIDs) + 2*len(e.Text) + 256 })
