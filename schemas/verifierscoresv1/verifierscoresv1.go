// Package verifierscoresv1 is the verifier_scores table as schema v1
// stored it (no generated-tests columns), what `swelake lake migrate
// verifier_scores` reads. The row type keeps its name: the Parquet schema
// — and so the fingerprint a v1 lake recorded — carries the Go type's name.
package verifierscoresv1

import "github.com/swelake/swelake/schemas"

// VerifierScore is a row of verifier_scores schema v1.
type VerifierScore struct {
	VerifyID        string   `parquet:"verify_id" json:"verify_id"`
	Verifier        string   `parquet:"verifier" json:"verifier"`
	TaskID          string   `parquet:"task_id" json:"task_id"`
	RolloutID       string   `parquet:"rollout_id" json:"rollout_id"`
	RunID           string   `parquet:"run_id" json:"run_id"`
	Policy          string   `parquet:"policy" json:"policy"`
	SampleIdx       int32    `parquet:"sample_idx" json:"sample_idx"`
	PredictedReward *float64 `parquet:"predicted_reward,optional" json:"predicted_reward"`
	PredictedTests  string   `parquet:"predicted_tests" json:"predicted_tests"`
	ExecPassed      *int32   `parquet:"exec_passed,optional" json:"exec_passed"`
	ExecTotal       *int32   `parquet:"exec_total,optional" json:"exec_total"`
	ExecAdded       int32    `parquet:"exec_added" json:"exec_added"`
	Score           float64  `parquet:"score" json:"score"`
	Draw            float64  `parquet:"draw" json:"draw"`
	Selected        bool     `parquet:"selected" json:"selected"`
	Resolved        *bool    `parquet:"resolved,optional" json:"resolved"`
	Error           string   `parquet:"error" json:"error"`
	Response        string   `parquet:"response" json:"response"`
}

// Def is the v1 table definition (for its schema and fingerprint).
var Def = schemas.NewDef(schemas.Def[VerifierScore]{
	Name: "verifier_scores", Version: 1, PartitionBy: "verify_id",
	Key:      []string{"verify_id", "rollout_id"},
	Required: []string{"verify_id", "verifier", "task_id", "rollout_id"},
}, func(v *VerifierScore) string { return v.VerifyID }, func(v *VerifierScore) int { return 512 + len(v.PredictedTests) + len(v.Response) })
