// Package checkpointsv1 is the checkpoints table as schema v1 stored it
// (SFT checkpoints only), what `swelake lake migrate checkpoints` reads.
// The row type keeps its name: the Parquet schema — and so the fingerprint
// a v1 lake recorded — carries the Go type's name.
package checkpointsv1

import "github.com/swelake/swelake/schemas"

// Checkpoint is a row of checkpoints schema v1.
type Checkpoint struct {
	Model     string `parquet:"model" json:"model"`
	SFTSetID  string `parquet:"sft_set_id" json:"sft_set_id"`
	BaseModel string `parquet:"base_model" json:"base_model"`
	Notes     string `parquet:"notes" json:"notes"`
}

// Def is the v1 table definition (for its schema and fingerprint).
var Def = schemas.NewDef(schemas.Def[Checkpoint]{
	Name: "checkpoints", Version: 1,
	Key:      []string{"model"},
	Required: []string{"model", "sft_set_id"},
}, func(*Checkpoint) string { return "" }, func(c *Checkpoint) int { return 256 + len(c.Notes) })
