package schemas

import (
	"fmt"
	"math"
	"time"
)

// The tables the training stages write: curation decisions and drop counts,
// Best-of-N task statistics, SFT examples and RL samples.

// Curation is one rollout's curation decision. No filter deletes source rows:
// a curation is a selection over a pinned rollouts snapshot.
type Curation struct {
	CurationID string   `parquet:"curation_id" json:"curation_id"` // the run: hash of input snapshot and config
	RolloutID  string   `parquet:"rollout_id" json:"rollout_id"`
	TaskID     string   `parquet:"task_id" json:"task_id"`
	RunID      string   `parquet:"run_id" json:"run_id"`
	Policy     string   `parquet:"policy" json:"policy"`
	Kept       bool     `parquet:"kept" json:"kept"`
	DroppedBy  []string `parquet:"dropped_by,list" json:"dropped_by"` // every rule that rejects the row
	Reasons    []string `parquet:"reasons,list" json:"reasons"`       // one per rule in dropped_by
	NumTokens  int64    `parquet:"num_tokens" json:"num_tokens"`      // rendered with the tokenizer's chat template
	PassRate   *float64 `parquet:"pass_rate,optional" json:"pass_rate"`
	Band       string   `parquet:"band" json:"band"` // curriculum band of the task ("" if none configured)
	// StrayFiles are the files patch_hygiene stripped from the patch (with
	// its strip parameter on); Patch is then the patch without them.
	StrayFiles []string `parquet:"stray_files,list" json:"stray_files"`
	Patch      string   `parquet:"patch" json:"patch"`
}

// CurationDrop counts what one rule rejected in one curation run.
type CurationDrop struct {
	CurationID  string   `parquet:"curation_id" json:"curation_id"`
	Rule        string   `parquet:"rule" json:"rule"`
	Params      string   `parquet:"params" json:"params"`                // the rule's parameters, JSON
	Dropped     int64    `parquet:"dropped" json:"dropped"`              // rows the rule rejects on its own
	DroppedOnly int64    `parquet:"dropped_only" json:"dropped_only"`    // rows no other rule rejects
	Input       int64    `parquet:"input" json:"input"`                  // rows the run considered
	TopReasons  []string `parquet:"top_reasons,list" json:"top_reasons"` // the most frequent reasons, with counts
}

// TaskStat is the Best-of-N difficulty of a task under one policy.
type TaskStat struct {
	CurationID string  `parquet:"curation_id" json:"curation_id"`
	TaskID     string  `parquet:"task_id" json:"task_id"`
	Policy     string  `parquet:"policy" json:"policy"`
	N          int64   `parquet:"n" json:"n"`
	NResolved  int64   `parquet:"n_resolved" json:"n_resolved"`
	PassRate   float64 `parquet:"pass_rate" json:"pass_rate"`
	Bucket     string  `parquet:"bucket" json:"bucket"` // histogram bucket: "0", "(0,0.1)", ..., "[0.9,1)", "1"
	Mixed      bool    `parquet:"mixed" json:"mixed"`   // 0 < p < 1
	Band       string  `parquet:"band" json:"band"`     // the configured curriculum band it falls in, or ""
}

// SFTExample is one tokenised training example.
type SFTExample struct {
	SetID         string    `parquet:"set_id" json:"set_id"` // the build: hash of input snapshot, tokenizer and config
	ExampleID     string    `parquet:"example_id" json:"example_id"`
	Split         string    `parquet:"split" json:"split"` // train or validation
	RolloutIDs    []string  `parquet:"rollout_ids,list" json:"rollout_ids"`
	TaskID        string    `parquet:"task_id" json:"task_id"`
	Tokenizer     string    `parquet:"tokenizer" json:"tokenizer"` // identity (sha256 of the tokenizer files)
	InputIDs      []int32   `parquet:"input_ids,list" json:"input_ids"`
	LossMask      []int32   `parquet:"loss_mask,list" json:"loss_mask"` // 1: the token is trained on
	NumTokens     int64     `parquet:"num_tokens" json:"num_tokens"`
	NumLossTokens int64     `parquet:"num_loss_tokens" json:"num_loss_tokens"`
	Truncated     bool      `parquet:"truncated" json:"truncated"`
	Text          string    `parquet:"text" json:"text"` // the rendered chat, as tokenised
	Messages      []Message `parquet:"messages,list" json:"messages"`
	Weights       []int32   `parquet:"weights,list" json:"weights"` // per message: 1 if its tokens carry loss
	Tools         string    `parquet:"tools" json:"tools"`          // JSON tool schemas offered, or ""
	// Kind is what the example teaches: trajectory (an agent rollout) or,
	// built from tasks (build-sft tasks), localize, repair or testgen.
	Kind string `parquet:"kind" json:"kind"`
}

// RLSample is one rollout of an RL group with its shaped reward and
// advantage.
type RLSample struct {
	BatchID    string  `parquet:"batch_id" json:"batch_id"`
	Iteration  int64   `parquet:"iteration" json:"iteration"`
	GroupID    string  `parquet:"group_id" json:"group_id"` // task (and policy) of the group
	RolloutID  string  `parquet:"rollout_id" json:"rollout_id"`
	TaskID     string  `parquet:"task_id" json:"task_id"`
	Policy     string  `parquet:"policy" json:"policy"`
	ExitReason string  `parquet:"exit_reason" json:"exit_reason"`
	RewardRaw  float64 `parquet:"reward_raw" json:"reward_raw"`
	// RewardSource says which reward produced reward_raw: execution (the
	// graded tests), similarity (SWE-RL's patch similarity to the gold
	// patch), verifier (a verifier model's predicted reward) or
	// mix:<w>*<source>+… ; the components it was made of follow (null:
	// not computed).
	RewardSource     string   `parquet:"reward_source" json:"reward_source"`
	RewardExecution  *float64 `parquet:"reward_execution,optional" json:"reward_execution"`
	RewardSimilarity *float64 `parquet:"reward_similarity,optional" json:"reward_similarity"`
	RewardVerifier   *float64 `parquet:"reward_verifier,optional" json:"reward_verifier"`
	RewardShaped     float64  `parquet:"reward_shaped" json:"reward_shaped"`
	Shaping          string   `parquet:"shaping" json:"shaping"` // what changed the reward ("" none, forced_submission, overlong)
	Advantage        float64  `parquet:"advantage" json:"advantage"`
	Estimator        string   `parquet:"estimator" json:"estimator"` // rloo, grpo, grpo_no_std
	MaskRule         string   `parquet:"mask_rule" json:"mask_rule"` // "assistant" or "zero:<reason>"
	InBaseline       bool     `parquet:"in_baseline" json:"in_baseline"`
	NumTokens        int64    `parquet:"num_tokens" json:"num_tokens"`
	LMax             int64    `parquet:"l_max" json:"l_max"` // the constant length normaliser of the batch
	PassRate         *float64 `parquet:"pass_rate,optional" json:"pass_rate"`
	InputIDs         []int32  `parquet:"input_ids,list" json:"input_ids"`
	LossMask         []int32  `parquet:"loss_mask,list" json:"loss_mask"`
}

// VerifierScore is one candidate rollout scored by a verifier for test-time
// scaling: a verifier model's predicted report and reward, and/or the share
// of regression and candidate-added tests it passes when executed, combined
// into a score; per task the highest score is selected (ties broken by the
// seeded draw).
type VerifierScore struct {
	VerifyID        string   `parquet:"verify_id" json:"verify_id"` // the run of the verify job (its partition)
	Verifier        string   `parquet:"verifier" json:"verifier"`   // "model:<name>", "execution", or both joined by "+"
	TaskID          string   `parquet:"task_id" json:"task_id"`
	RolloutID       string   `parquet:"rollout_id" json:"rollout_id"`
	RunID           string   `parquet:"run_id" json:"run_id"` // the candidate's rollout run
	Policy          string   `parquet:"policy" json:"policy"`
	SampleIdx       int32    `parquet:"sample_idx" json:"sample_idx"`
	PredictedReward *float64 `parquet:"predicted_reward,optional" json:"predicted_reward"` // the model's; null without one
	PredictedTests  string   `parquet:"predicted_tests" json:"predicted_tests"`            // JSON {test: PASSED|FAILED}
	ExecPassed      *int32   `parquet:"exec_passed,optional" json:"exec_passed"`           // tests passed when executed; null without execution
	ExecTotal       *int32   `parquet:"exec_total,optional" json:"exec_total"`
	ExecAdded       int32    `parquet:"exec_added" json:"exec_added"` // of them, tests the candidate added
	// GenPassed of GenTotal tests the policy generated for the task (kept:
	// they fail at the base commit and pass with the gold patch) pass with
	// the candidate; null without generated tests (v2).
	GenPassed *int32  `parquet:"gen_passed,optional" json:"gen_passed"`
	GenTotal  *int32  `parquet:"gen_total,optional" json:"gen_total"`
	Score     float64 `parquet:"score" json:"score"`
	Draw      float64 `parquet:"draw" json:"draw"` // the seeded tie-break
	Selected  bool    `parquet:"selected" json:"selected"`
	Resolved  *bool   `parquet:"resolved,optional" json:"resolved"` // the candidate's graded outcome, when known
	Error     string  `parquet:"error" json:"error"`                // why a verifier gave no score
	Response  string  `parquet:"response" json:"response"`          // the model's answer, verbatim
}

// Checkpoint names a trained model and what it was trained on, so that
// its outcomes place it on the data-scaling curve: an SFT checkpoint
// names its SFT set (appended by the user: swelake lake append
// checkpoints file.jsonl); a checkpoint of the RL loop (swelake rl
// iterate) names its loop, its iteration and the RL samples its lineage
// trained on in that loop, counted from the loop's first checkpoint.
type Checkpoint struct {
	Model     string `parquet:"model" json:"model"`           // as rollouts.policy / evaluations.candidate name it
	SFTSetID  string `parquet:"sft_set_id" json:"sft_set_id"` // sft_examples.set_id ("" : none in this lake)
	BaseModel string `parquet:"base_model" json:"base_model"` // the checkpoint training started from
	Notes     string `parquet:"notes" json:"notes"`
	LoopID    string `parquet:"loop_id" json:"loop_id"`       // rl_iterations.loop_id ("" : not from the RL loop)
	Iteration int64  `parquet:"iteration" json:"iteration"`   // the loop's iteration that produced it
	RLSamples int64  `parquet:"rl_samples" json:"rl_samples"` // RL samples trained on since the loop's first checkpoint
}

// RLIteration is one completed iteration of an RL loop (swelake rl
// iterate): the checkpoint that made the rollouts, what was selected and
// built from them, the trainer command that consumed the batch and the
// checkpoint it reported.
type RLIteration struct {
	LoopID        string `parquet:"loop_id" json:"loop_id"` // the loop: hash of its config and pinned inputs (its partition)
	Iteration     int64  `parquet:"iteration" json:"iteration"`
	CheckpointIn  string `parquet:"checkpoint_in" json:"checkpoint_in"`   // the policy model that made the rollouts
	CheckpointOut string `parquet:"checkpoint_out" json:"checkpoint_out"` // what the trainer reported
	// Inputs are the snapshots the iteration read (table@version).
	Inputs     []string `parquet:"inputs,list" json:"inputs"`
	Curriculum string   `parquet:"curriculum" json:"curriculum"` // the curriculum query and its parameters
	Tasks      int64    `parquet:"tasks" json:"tasks"`           // tasks the curriculum selected
	// SelfMadeTasks: tasks the iteration's checkpoint wrote itself before
	// rolling out (self_play), added to the curriculum's.
	SelfMadeTasks int64 `parquet:"self_made_tasks" json:"self_made_tasks"`
	// The iteration's runs: rollouts, their evaluation and the RL batch,
	// with the versions their commits made.
	RolloutRunID string   `parquet:"rollout_run_id" json:"rollout_run_id"`
	EvalRunID    string   `parquet:"eval_run_id" json:"eval_run_id"` // "" when evaluation is off
	BatchID      string   `parquet:"batch_id" json:"batch_id"`
	Outputs      []string `parquet:"outputs,list" json:"outputs"`
	BatchFile    string   `parquet:"batch_file" json:"batch_file"` // the file handed to the trainer
	BatchSHA256  string   `parquet:"batch_sha256" json:"batch_sha256"`
	// The trainer: the command as run (template filled), its exit status,
	// how many attempts it took (a run killed or failed mid-training
	// retries it) and how long the last one ran.
	TrainerCommand  []string `parquet:"trainer_command,list" json:"trainer_command"`
	TrainerExit     int32    `parquet:"trainer_exit" json:"trainer_exit"`
	TrainerAttempts int32    `parquet:"trainer_attempts" json:"trainer_attempts"`
	TrainerSeconds  float64  `parquet:"trainer_seconds" json:"trainer_seconds"`
	TrainerLog      string   `parquet:"trainer_log" json:"trainer_log"` // its stdout and stderr, a file
	// Outcomes of the iteration's rollouts (graded by evaluate when it
	// ran, by the rollout's own grading otherwise).
	Rollouts    int64   `parquet:"rollouts" json:"rollouts"`
	Graded      int64   `parquet:"graded" json:"graded"`
	Resolved    int64   `parquet:"resolved" json:"resolved"`
	ResolveRate float64 `parquet:"resolve_rate" json:"resolve_rate"` // resolved / graded
	// The batch: groups and samples kept, groups dropped, and the reward
	// and advantage statistics of its samples.
	Groups        int64     `parquet:"groups" json:"groups"`
	Samples       int64     `parquet:"samples" json:"samples"`
	DroppedGroups int64     `parquet:"dropped_groups" json:"dropped_groups"`
	RewardMean    float64   `parquet:"reward_mean" json:"reward_mean"`
	RewardStd     float64   `parquet:"reward_std" json:"reward_std"`
	AdvantageMean float64   `parquet:"advantage_mean" json:"advantage_mean"`
	AdvantageStd  float64   `parquet:"advantage_std" json:"advantage_std"`
	AdvantageAbs  float64   `parquet:"advantage_abs_mean" json:"advantage_abs_mean"`
	CumSamples    int64     `parquet:"cum_samples" json:"cum_samples"` // RL samples of the loop up to and including this iteration
	Seconds       float64   `parquet:"seconds" json:"seconds"`
	Finished      time.Time `parquet:"finished,timestamp(millisecond)" json:"finished"`
}

// MaxContextTokens is the SWE-Master recipe's context cap (80 Ki tokens):
// where the agent loop stops a run (rollout.max_context_tokens), where
// curation's token_cap rule drops one, where build-sft drops or truncates
// an example and the constant length normaliser l_max of RL batches. The
// one definition of the number; each stage's config defaults to it.
const MaxContextTokens = 81920

// PassRateBucket is the task_stats histogram bucket of a pass rate: "0",
// "(0,0.1)", "[0.1,0.2)", …, "[0.9,1)", "1".
func PassRateBucket(p float64) string {
	switch {
	case p <= 0:
		return "0"
	case p >= 1:
		return "1"
	case p < 0.1:
		return "(0,0.1)"
	}
	lo := math.Floor(p*10) / 10
	return fmt.Sprintf("[%.1f,%.1f)", lo, lo+0.1)
}

// PassRateBuckets are every bucket of PassRateBucket, in numeric order.
func PassRateBuckets() []string {
	out := []string{"0"}
	for i := range 10 {
		out = append(out, PassRateBucket(float64(i)/10+0.05))
	}
	return append(out, "1")
}

// Injection is one attempt of a policy model at writing a task
// (synth-tasks --method policy): the bug it injected into a repository,
// whether execution kept it and the task it became. Self-play reads
// "which rollout produced which task" here: tasks.task_id = task_id.
type Injection struct {
	InjectionID string `parquet:"injection_id" json:"injection_id"` // hash of repo, clean commit, mode, model and seed
	Repo        string `parquet:"repo" json:"repo"`                 // its partition
	CleanCommit string `parquet:"clean_commit" json:"clean_commit"` // the tree the policy edited
	// Mode is what the policy was asked: inject (a deliberate bug of about
	// size_lines lines, Self-Play SWE-RL), feature (implement a feature;
	// what it breaks is the bug, BugPilot) or rewrite (rewrite a function
	// from its docstring, SWE-smith).
	Mode      string `parquet:"mode" json:"mode"`
	SizeLines int32  `parquet:"size_lines" json:"size_lines"` // inject: the size asked for
	Model     string `parquet:"model" json:"model"`           // the policy model (checkpoint) that wrote it
	Seed      int64  `parquet:"seed" json:"seed"`
	// Kept: execution showed ≥ 1 test going pass → fail with every other
	// test still running; TaskID is then the task's id, DropReason "".
	Kept         bool   `parquet:"kept" json:"kept"`
	TaskID       string `parquet:"task_id" json:"task_id"`
	DropReason   string `parquet:"drop_reason" json:"drop_reason"`
	FailToPass   int32  `parquet:"fail_to_pass" json:"fail_to_pass"`   // tests the bug breaks
	LinesChanged int32  `parquet:"lines_changed" json:"lines_changed"` // added + removed lines of the bug
	Patch        string `parquet:"patch" json:"patch"`                 // the bug, as a diff of the clean tree
	ExitReason   string `parquet:"exit_reason" json:"exit_reason"`     // the agent loop's (submitted, step_cap, …)
	Steps        int32  `parquet:"steps" json:"steps"`
	Messages     string `parquet:"messages" json:"messages"` // the trajectory, JSON (the injector's rollout)
}

// GeneratedTest is one test file a policy wrote for a task (verify --mode
// generated-tests|hybrid), with what execution showed: its tests that fail
// at the base commit and pass with the gold patch are kept, and candidates
// are scored by how many of them they pass (R2E-Gym's hybrid verifier,
// InfCode's generated tests).
type GeneratedTest struct {
	GenID  string `parquet:"gen_id" json:"gen_id"`   // hash of the task's content, the model, the seed and the prompt
	TaskID string `parquet:"task_id" json:"task_id"` // its partition is the model
	Model  string `parquet:"model" json:"model"`
	Seed   int64  `parquet:"seed" json:"seed"`
	Patch  string `parquet:"patch" json:"patch"` // the new test file(s), as a diff
	// Tests are the generated tests kept: they ran and failed at the base
	// commit, and (where the task has a gold patch) passed with it.
	Tests      []string `parquet:"tests,list" json:"tests"`
	Generated  int32    `parquet:"generated" json:"generated"`     // tests the file defines that ran at the base commit
	BaseFailed int32    `parquet:"base_failed" json:"base_failed"` // of them, failing there
	Kept       bool     `parquet:"kept" json:"kept"`               // ≥ 1 test kept
	Reason     string   `parquet:"reason" json:"reason"`           // why not kept
	ExitReason string   `parquet:"exit_reason" json:"exit_reason"` // the writing episode's
	Messages   string   `parquet:"messages" json:"messages"`       // its trajectory, JSON
}
