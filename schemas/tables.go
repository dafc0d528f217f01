// Package schemas defines swelake's tables: Go structs with parquet (and
// JSON) tags, their schema versions, partition columns, required columns and
// row validation. Column names are those of docs/tables.md; JSON field names
// equal Parquet column names, so rows round-trip through JSONL.
package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Task is one row of the tasks table: a repository issue with a base commit,
// a gold patch, and the tests that must go fail→pass and stay passing.
type Task struct {
	TaskID           string   `parquet:"task_id" json:"task_id"` // stable: the source's instance id, namespaced by source
	Source           string   `parquet:"source" json:"source"`   // e.g. swe-bench, swe-gym, synth
	InstanceID       string   `parquet:"instance_id" json:"instance_id"`
	Repo             string   `parquet:"repo" json:"repo"`
	BaseCommit       string   `parquet:"base_commit" json:"base_commit"`
	ProblemStatement string   `parquet:"problem_statement" json:"problem_statement"`
	GoldPatch        string   `parquet:"gold_patch" json:"gold_patch"`
	BugPatch         string   `parquet:"bug_patch" json:"bug_patch"` // synthesized tasks: the patch that introduced the bug (gold is its inverse)
	TestPatch        string   `parquet:"test_patch" json:"test_patch"`
	FailToPass       []string `parquet:"fail_to_pass,list" json:"fail_to_pass"`
	PassToPass       []string `parquet:"pass_to_pass,list" json:"pass_to_pass"`
	ExpectedPass     []string `parquet:"expected_pass,list" json:"expected_pass"` // tests that must pass after the fix, where the source does not split F2P/P2P (R2E-Gym)
	Image            string   `parquet:"image" json:"image"`
	Language         string   `parquet:"language" json:"language"`
	TestCmd          string   `parquet:"test_cmd" json:"test_cmd"`
	// The test-runner spec, where the source row carries one: SWE-bench 5's
	// eval_script, log_parser and eval_type (SWE-bench Multilingual and
	// Multimodal rows), SWE-bench Pro's run script, parser and the test files
	// it selects, the command it runs before the repository is set.
	EvalScript   string   `parquet:"eval_script" json:"eval_script"`
	LogParser    string   `parquet:"log_parser" json:"log_parser"`       // a harness parser's name, e.g. parse_log_pytest
	ParserScript string   `parquet:"parser_script" json:"parser_script"` // a parser's source (SWE-bench Pro's parser.py)
	EvalType     string   `parquet:"eval_type" json:"eval_type"`         // pass_and_fail or fail_only
	TestFiles    []string `parquet:"test_files,list" json:"test_files"`
	SetupCmd     string   `parquet:"setup_cmd" json:"setup_cmd"`
	// Multi-SWE-bench's further test classes: skipped before the fix and
	// passing after (s2p), absent before and passing after (n2p).
	SkipToPass  []string   `parquet:"skip_to_pass,list" json:"skip_to_pass"`
	NoneToPass  []string   `parquet:"none_to_pass,list" json:"none_to_pass"`
	CreatedAt   *time.Time `parquet:"created_at,optional,timestamp(millisecond)" json:"created_at"`
	Difficulty  string     `parquet:"difficulty" json:"difficulty"`
	Version     string     `parquet:"version" json:"version"` // the repository version the harness keys environments by
	Hints       string     `parquet:"hints" json:"hints"`
	ContentHash string     `parquet:"content_hash" json:"content_hash"` // sha256 of the normalised task content
	Raw         []byte     `parquet:"raw" json:"raw"`                   // the source row, byte for byte (may be invalid UTF-8: a BLOB)
}

// Rollout is one row of the rollouts table (schema v3): one agent run on one
// task. Every writer — each importer, the rollout job, lake migrate — fills
// the derived columns (exit_reason from exit_reason_raw, forced, actions,
// format_errors) through FinishRollout, so they mean the same whatever the
// source.
type Rollout struct {
	RolloutID string    `parquet:"rollout_id" json:"rollout_id"`
	TaskID    string    `parquet:"task_id" json:"task_id"`
	RunID     string    `parquet:"run_id" json:"run_id"`
	Policy    string    `parquet:"policy" json:"policy"`
	SampleIdx int32     `parquet:"sample_idx" json:"sample_idx"`
	Messages  []Message `parquet:"messages,list" json:"messages"`
	// Tools is the JSON array of tool schemas the run was given ("" : none
	// recorded), as the source wrote it.
	Tools    string `parquet:"tools" json:"tools"`
	NumTurns int32  `parquet:"num_turns" json:"num_turns"`
	Tokens   *int64 `parquet:"tokens,optional" json:"tokens"` // total tokens, where known
	// ExitReason is one of ExitReasons (normalised from ExitReasonRaw, the
	// source's own string).
	ExitReason    string   `parquet:"exit_reason" json:"exit_reason"`
	ExitReasonRaw string   `parquet:"exit_reason_raw" json:"exit_reason_raw"`
	Patch         string   `parquet:"patch" json:"patch"`
	Submitted     bool     `parquet:"submitted" json:"submitted"`
	Forced        bool     `parquet:"forced" json:"forced"` // cut off by a limit, its patch submitted for it: ForcedExit(ExitReason)
	InfraError    bool     `parquet:"infra_error" json:"infra_error"`
	Reward        *float64 `parquet:"reward,optional" json:"reward"`
	Resolved      *bool    `parquet:"resolved,optional" json:"resolved"`
	TestReport    string   `parquet:"test_report" json:"test_report"` // JSON text, as graded
	// Actions are the agent's actions, in order, whatever way the scaffold
	// encoded them (ActionsOf); FormatErrors the environment's messages
	// saying the agent's output was malformed.
	Actions      []Action      `parquet:"actions,list" json:"actions"`
	FormatErrors []FormatError `parquet:"format_errors,list" json:"format_errors"`
	Source       string        `parquet:"source" json:"source"`             // the format it was imported from, e.g. swe-agent
	ContentHash  string        `parquet:"content_hash" json:"content_hash"` // sha256 of the normalised rollout
	// RawRef points at the source record's bytes, stored once per source
	// in the lake (swelake lake raw rollouts <id>).
	RawRef RawRef `parquet:"raw_ref" json:"raw_ref"`
}

// RawRef locates a row's source bytes: Length bytes at Offset of the raw
// source whose sha256 is SHA256 (the lake's raw/ store). A zero RawRef: no
// source bytes were kept.
type RawRef struct {
	SHA256 string `parquet:"sha256" json:"sha256"`
	Offset int64  `parquet:"offset" json:"offset"`
	Length int64  `parquet:"length" json:"length"`
}

// Message is one chat message of a rollout.
type Message struct {
	Role       string     `parquet:"role" json:"role"` // system, user, assistant, tool
	Content    string     `parquet:"content" json:"content"`
	ToolCalls  []ToolCall `parquet:"tool_calls,list" json:"tool_calls"`
	ToolCallID string     `parquet:"tool_call_id" json:"tool_call_id"` // on tool messages: the call answered
	Name       string     `parquet:"name" json:"name"`                 // on tool messages: the tool's name
}

// ToolCall is a function call made by an assistant message.
type ToolCall struct {
	ID        string `parquet:"id" json:"id"`
	Name      string `parquet:"name" json:"name"`
	Arguments string `parquet:"arguments" json:"arguments"` // JSON text
}

// Evaluation statuses.
const (
	StatusResolved   = "resolved"
	StatusUnresolved = "unresolved"
	StatusEmptyPatch = "empty_patch"
	StatusNoResult   = "no_result"   // no grading result (never counted as unresolved)
	StatusInfraError = "infra_error" // the harness failed, not the patch
)

// Evaluation is one row of the evaluations table: the grading of one patch.
type Evaluation struct {
	EvaluationID string       `parquet:"evaluation_id" json:"evaluation_id"` // run_id/task_id/candidate
	TaskID       string       `parquet:"task_id" json:"task_id"`
	InstanceID   string       `parquet:"instance_id" json:"instance_id"`
	RunID        string       `parquet:"run_id" json:"run_id"`
	RolloutID    string       `parquet:"rollout_id" json:"rollout_id"` // where the patch came from, if known
	Candidate    string       `parquet:"candidate" json:"candidate"`   // model_name_or_path, or "gold"
	Status       string       `parquet:"status" json:"status"`         // resolved, unresolved, empty_patch, no_result, infra_error
	Resolved     *bool        `parquet:"resolved,optional" json:"resolved"`
	PatchApplied *bool        `parquet:"patch_applied,optional" json:"patch_applied"`
	Patch        string       `parquet:"patch" json:"patch"`
	Tests        []TestResult `parquet:"tests,list" json:"tests"`
	LogRef       string       `parquet:"log_ref" json:"log_ref"` // the file the result came from
	Attempts     int32        `parquet:"attempts" json:"attempts"`
	Source       string       `parquet:"source" json:"source"` // the format it was imported from, or the job that graded it
	ContentHash  string       `parquet:"content_hash" json:"content_hash"`
	Raw          []byte       `parquet:"raw" json:"raw"`
	// Graded by swelake (empty for imported reports): how the patch was
	// applied (git_apply, git_apply_loose, patch_fuzz), the tests whose
	// status flipped across reruns, the pinned environment (JSON) and
	// whether the sandbox was isolated.
	ApplyMethod string   `parquet:"apply_method" json:"apply_method"`
	Flaky       []string `parquet:"flaky,list" json:"flaky"`
	Env         string   `parquet:"env" json:"env"`
	Isolated    *bool    `parquet:"isolated,optional" json:"isolated"`
	Reason      string   `parquet:"reason" json:"reason"` // why it is not resolved, in a line
}

// Task validation statuses.
const (
	ValidationValid   = "valid"
	ValidationInvalid = "invalid"
	ValidationFlaky   = "flaky"
)

// TaskValidation is one task's check by validate-tasks: the base commit
// fails FAIL_TO_PASS, and the gold patch makes every FAIL_TO_PASS test pass
// and keeps PASS_TO_PASS passing, in every one of Runs runs.
type TaskValidation struct {
	ValidationID string    `parquet:"validation_id" json:"validation_id"` // the run: hash of the tasks snapshot and config
	TaskID       string    `parquet:"task_id" json:"task_id"`
	Status       string    `parquet:"status" json:"status"` // valid, invalid, flaky
	Reason       string    `parquet:"reason" json:"reason"`
	Runs         int32     `parquet:"runs" json:"runs"`                 // gold-patch runs
	Resolved     int32     `parquet:"resolved" json:"resolved"`         // of which resolved
	BaseFailing  int32     `parquet:"base_failing" json:"base_failing"` // FAIL_TO_PASS tests failing without the patch
	ApplyMethod  string    `parquet:"apply_method" json:"apply_method"`
	F2PFailed    []string  `parquet:"f2p_failed,list" json:"f2p_failed"` // with the gold patch, in any run
	P2PFailed    []string  `parquet:"p2p_failed,list" json:"p2p_failed"`
	Flaky        []string  `parquet:"flaky,list" json:"flaky"`
	DurationMS   int64     `parquet:"duration_ms" json:"duration_ms"`
	Env          string    `parquet:"env" json:"env"` // the pinned environment, JSON
	Isolated     bool      `parquet:"isolated" json:"isolated"`
	Time         time.Time `parquet:"time,timestamp(millisecond)" json:"time"`
}

// TestResult is one test of an evaluation.
type TestResult struct {
	Name     string `parquet:"name" json:"name"`
	Category string `parquet:"category" json:"category"` // FAIL_TO_PASS, PASS_TO_PASS, FAIL_TO_FAIL, PASS_TO_FAIL
	Status   string `parquet:"status" json:"status"`     // passed, failed
}

// QuarantineRow is an input row that could not be read, kept with its reason.
type QuarantineRow struct {
	Job        string    `parquet:"job" json:"job"`
	RunKey     string    `parquet:"run_key" json:"run_key"`
	SourceFile string    `parquet:"source_file" json:"source_file"`
	Line       int64     `parquet:"line" json:"line"`     // 1-based; 0 where the input has no lines
	Offset     int64     `parquet:"offset" json:"offset"` // byte offset of the row in the file, or -1
	Reason     string    `parquet:"reason" json:"reason"`
	Raw        []byte    `parquet:"raw" json:"raw"` // the row's bytes, as read
	Time       time.Time `parquet:"time,timestamp(millisecond)" json:"time"`
}

// TaskHash is a task's content hash: the sha256 of its normalised content
// (not of its raw source row), the same for every importer and job.
// Empty and missing lists hash alike, so a row hashes the same before and
// after a Parquet round trip.
func TaskHash(t *Task) string {
	list := func(l []string) []string {
		if len(l) == 0 {
			return nil
		}
		return l
	}
	fields := []any{t.TaskID, t.Repo, t.BaseCommit, t.ProblemStatement, t.GoldPatch, t.BugPatch, t.TestPatch,
		list(t.FailToPass), list(t.PassToPass), list(t.ExpectedPass), t.Image, t.TestCmd, t.Version}
	// Schema v3's columns join the hash only where a task has them, so that
	// every task v2 knew hashes as it did (re-ingesting stays a no-op).
	if spec := []any{t.EvalScript, t.LogParser, t.ParserScript, t.EvalType, list(t.TestFiles), t.SetupCmd,
		list(t.SkipToPass), list(t.NoneToPass)}; t.EvalScript != "" || t.LogParser != "" || t.ParserScript != "" || t.EvalType != "" ||
		len(t.TestFiles) > 0 || t.SetupCmd != "" || len(t.SkipToPass) > 0 || len(t.NoneToPass) > 0 {
		fields = append(fields, spec)
	}
	data, _ := json.Marshal(fields)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
