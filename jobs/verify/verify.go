// Package verify is the job behind `swelake run verify`: test-time scaling.
// For K candidate rollouts per task it scores each with a verifier model
// behind an OpenAI-compatible endpoint (shown the issue, the tests and the
// patch; it predicts a test report and a reward) and/or by execution (the
// candidate applied without the hidden tests, the task's PASS_TO_PASS tests
// and any tests the candidate added run in a fresh sandbox), selects the
// highest-scoring candidate per task (ties broken by a seeded draw), and
// writes verifier_scores. TTS@k against pass@k is the query tts_at_k.
package verify

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/swelake/swelake/jobs/taskexec"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/agent"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// JobName is recorded in the provenance of every commit of this job.
const JobName = "verify"

// Modes of scoring.
const (
	ModeModel     = "model"
	ModeExecution = "execution"
	ModeBoth      = "both"
	// ModeGenerated scores a candidate by the share of the policy's
	// generated tests it passes (tests kept only when they fail at the base
	// commit and pass with the gold patch); ModeHybrid weighs the model,
	// execution and generated tests together (R2E-Gym's hybrid verifier).
	ModeGenerated = "generated-tests"
	ModeHybrid    = "hybrid"
)

// Modes are the scoring modes.
func Modes() []string { return []string{ModeModel, ModeExecution, ModeBoth, ModeGenerated, ModeHybrid} }

// Config is the job's typed configuration.
type Config struct {
	Input string `json:"input" mapstructure:"input"`   // rollouts snapshot (default rollouts@latest)
	RunID string `json:"run_id" mapstructure:"run_id"` // only this rollout run ("" : all)
	Tasks string `json:"tasks" mapstructure:"tasks"`   // tasks snapshot (default tasks@latest)
	// K is the number of candidates per task, lowest sample index first
	// (0: every rollout of the task).
	K int `json:"k" mapstructure:"k"`
	// Mode is model, execution or both (default: both with a verifier
	// endpoint, execution without one).
	Mode string `json:"mode" mapstructure:"mode"`
	// ExecutionWeight is execution's share of the score in mode both
	// (default 0.5; the model's share is the rest).
	ExecutionWeight float64 `json:"execution_weight" mapstructure:"execution_weight"`
	Seed            int64   `json:"seed" mapstructure:"seed"`       // the tie-break draw's seed
	Reruns          int     `json:"reruns" mapstructure:"reruns"`   // flaky-test reruns when executing (default 1)
	Timeout         string  `json:"timeout" mapstructure:"timeout"` // one test-suite run (default 10m)
	// GenTests test files are written per task by the policy endpoint in
	// modes generated-tests and hybrid (default 4); GenMaxSteps caps one
	// writing episode's model calls (default 12).
	GenTests    int `json:"gen_tests,omitempty" mapstructure:"gen_tests"`
	GenMaxSteps int `json:"gen_max_steps,omitempty" mapstructure:"gen_max_steps"`
	// HybridWeights weigh the scores in mode hybrid: model, execution,
	// generated-tests (default 1 each; normalised).
	HybridWeights map[string]float64 `json:"hybrid_weights,omitempty" mapstructure:"hybrid_weights"`
	// GenModel is the test writer, the policy endpoint's model (part of
	// the run's identity).
	GenModel string `json:"gen_model,omitempty" mapstructure:"-"`
	// Model is the verifier model, from the verifier endpoint (part of the
	// run's identity; not a key of its own).
	Model string `json:"model" mapstructure:"-"`
	// How the run is spread, not what it computes (not part of its
	// identity): candidates at once (default 2), this worker's shard.
	Concurrency int    `json:"concurrency,omitempty" mapstructure:"concurrency"`
	Shard       string `json:"shard,omitempty" mapstructure:"shard"`
}

// Summary is what the job did.
type Summary struct {
	stage.Outcome
	VerifyID   string `json:"verify_id"`
	Verifier   string `json:"verifier"`
	Input      string `json:"input"`
	Tasks      string `json:"tasks"`
	Shard      string `json:"shard,omitempty"`
	Candidates int    `json:"candidates"`
	Scored     int    `json:"scored"`
	Errors     int    `json:"errors"`
	// ErrorCauses are the errors by cause, the most frequent first.
	ErrorCauses []stage.Cause `json:"error_causes,omitempty"`
	Selected    int           `json:"selected"` // tasks with a selected candidate
	// Generated tests (modes generated-tests, hybrid): files written (and
	// reused from earlier runs), kept, the tests kept, why files were not.
	GenFiles   int            `json:"gen_files,omitempty"`
	GenReused  int            `json:"gen_reused,omitempty"`
	GenKept    int            `json:"gen_kept,omitempty"`
	GenTests   int            `json:"gen_tests,omitempty"`
	GenDropped map[string]int `json:"gen_dropped,omitempty"`
	Outcomes   map[string]int `json:"selected_outcomes"`
}

// Job is the verify stage.
var Job = &stage.Def[Config, Summary]{
	Info: stage.Info{Name: JobName,
		Short: "Score K candidate rollouts per task with a verifier model and/or execution; select the best (test-time scaling)",
		Long: `Scores up to K candidate rollouts per task (lowest sample index first) and
selects the best per task, for test-time scaling (TTS@k, compared with
pass@k by swelake sql --query tts_at_k).

  model      a verifier model behind an OpenAI-compatible endpoint
             (verifier.base_url, verifier.model) is shown the issue, the
             tests, the test patch and the candidate patch, and answers with
             a predicted test report and a reward in [0, 1]
  execution  the candidate is applied (without the task's hidden tests) in
             a fresh sandbox and the task's PASS_TO_PASS tests and any tests
             the candidate added are run: the score is the share passing
  both       execution_weight × execution + (1 − execution_weight) × model
  generated-tests
             the policy (policy.base_url, policy.model) writes gen_tests test
             files per task in a sandbox at the base commit; a file's tests
             are kept when they fail there and pass with the gold patch; the
             score is the share of the task's kept tests the candidate passes
             (R2E-Gym's hybrid verifier, InfCode)
  hybrid     model, execution and generated tests, weighted by
             hybrid_weights (default equal)

The default mode is both when a verifier endpoint is configured, else
execution. Ties are broken by a draw seeded with verify.seed. Rows go to
verifier_scores (predicted reward and tests, the model's answer, executed
tests, score, draw, selected, and the candidate's graded outcome).

swelake policy serve --scripted also answers verifier prompts (a stand-in
right about nine times in ten), for dry runs.`,
		Example: `  swelake run verify --mode execution --k 4
  swelake policy serve --scripted --addr 127.0.0.1:8642 &
  swelake run verify --set verifier.base_url=http://127.0.0.1:8642/v1 --set verifier.model=scripted
  swelake run verify --shard auto/8      # one of 8 workers of a Kubernetes indexed Job or Slurm array
  swelake sql --query tts_at_k`,
		Inputs:  []string{schemas.Rollouts.Name, schemas.Tasks.Name},
		Outputs: []string{schemas.VerifierScores.Name, schemas.GeneratedTests.Name},
		Needs:   stage.Needs{Sandbox: true, Verifier: true, Policy: true}, // the policy writes the tests of generated-tests and hybrid
		Flags: []stage.Flag{
			{Name: "input", Key: "input", Usage: "rollouts snapshot of the candidates"},
			{Name: "run-id", Key: "run_id", Usage: "only the candidates of this rollout run"},
			{Name: "mode", Key: "mode", Usage: "model, execution, both, generated-tests or hybrid (default: both with verifier.base_url set, else execution)"},
			{Name: "k", Key: "k", Usage: "candidates per task (default verify.k; 0: all)"},
			{Name: "shard", Key: "shard", Usage: stage.ShardUsage},
		},
	},
	Defaults: func() Config {
		return Config{Input: schemas.Rollouts.Name, Tasks: schemas.Tasks.Name, ExecutionWeight: 0.5, Seed: 1, Reruns: 1, Timeout: "10m", Concurrency: 2}
	},
	Validate: func(c *Config) error {
		c.Input, c.Tasks, c.Timeout = cmp.Or(c.Input, schemas.Rollouts.Name), cmp.Or(c.Tasks, schemas.Tasks.Name), cmp.Or(c.Timeout, "10m")
		c.Reruns, c.Concurrency = cmp.Or(c.Reruns, 1), cmp.Or(c.Concurrency, 2)
		if c.Mode != "" && !slices.Contains(Modes(), c.Mode) {
			return fmt.Errorf("mode %q: want %s", c.Mode, strings.Join(Modes(), ", "))
		}
		if c.Mode == ModeGenerated || c.Mode == ModeHybrid {
			c.GenTests, c.GenMaxSteps = cmp.Or(c.GenTests, 4), cmp.Or(c.GenMaxSteps, 12)
			if c.GenTests < 1 || c.GenMaxSteps < 2 {
				return fmt.Errorf("gen_tests %d, gen_max_steps %d: want ≥ 1 and ≥ 2", c.GenTests, c.GenMaxSteps)
			}
		} else {
			c.GenTests, c.GenMaxSteps = 0, 0
		}
		if c.Mode == ModeHybrid {
			if c.HybridWeights == nil {
				c.HybridWeights = map[string]float64{ModeModel: 1, ModeExecution: 1, ModeGenerated: 1}
			}
			sum := 0.0
			for k, w := range c.HybridWeights {
				if k != ModeModel && k != ModeExecution && k != ModeGenerated {
					return fmt.Errorf("hybrid_weights: %q: want model, execution or generated-tests", k)
				}
				if w < 0 {
					return fmt.Errorf("hybrid_weights: %s: %v, want ≥ 0", k, w)
				}
				sum += w
			}
			if sum == 0 {
				return errors.New("hybrid_weights: every weight is 0")
			}
		} else {
			c.HybridWeights = nil
		}
		if c.ExecutionWeight < 0 || c.ExecutionWeight > 1 {
			return fmt.Errorf("execution_weight %v: want 0..1", c.ExecutionWeight)
		}
		if _, err := time.ParseDuration(c.Timeout); err != nil {
			return fmt.Errorf("timeout %q: %w", c.Timeout, err)
		}
		_, err := stage.ParseShard(c.Shard)
		return err
	},
	Plan: plan,
	Run:  run,
	Print: func(w io.Writer, sum *Summary) error {
		shard := ""
		if sum.Shard != "" {
			shard = " shard " + sum.Shard
		}
		_, err := fmt.Fprintf(w, "verify %s%s (%s) of %s (%s): %d candidates, %d scored, %d verifier errors; %d tasks selected (%s)\n",
			sum.VerifyID, shard, sum.Verifier, sum.Input, stage.CommitState(sum.Outcome, schemas.VerifierScores.Name),
			sum.Candidates, sum.Scored, sum.Errors, sum.Selected, stage.Counts(sum.Outcomes))
		if err == nil && sum.GenFiles > 0 {
			_, err = fmt.Fprintf(w, "  generated tests: %d files (%d reused), %d kept with %d tests; not kept: %s\n",
				sum.GenFiles, sum.GenReused, sum.GenKept, sum.GenTests, stage.Counts(sum.GenDropped))
		}
		if err == nil && len(sum.ErrorCauses) > 0 {
			_, err = fmt.Fprintf(w, "  %d verifier errors: %s\n", sum.Errors, stage.FormatCauses(sum.ErrorCauses))
		}
		return err
	},
}

// state is what plan hands to run.
type state struct {
	sandbox          stage.Sandbox
	client           agent.Chatter
	input, task      *lake.Snapshot
	useModel, useExe bool
	useGen           bool
	writer           agent.Chatter                      // the test writer (generated-tests, hybrid)
	generated        map[string][]schemas.GeneratedTest // by task
	timeout          time.Duration
	concurrency      int
}

func plan(ctx context.Context, env *stage.Env, cfg *Config) (stage.Plan, error) {
	st := &state{concurrency: cfg.Concurrency}
	ep, epErr := env.Endpoint("verifier")
	if cfg.Mode == "" {
		cfg.Mode = ModeExecution
		if epErr == nil {
			cfg.Mode = ModeBoth
		}
	}
	if cfg.Mode == ModeBoth && cfg.ExecutionWeight == 0 {
		cfg.ExecutionWeight = 0.5
	}
	st.useModel = cfg.Mode == ModeModel || cfg.Mode == ModeBoth || (cfg.Mode == ModeHybrid && cfg.HybridWeights[ModeModel] > 0)
	st.useExe = cfg.Mode == ModeExecution || cfg.Mode == ModeBoth || (cfg.Mode == ModeHybrid && cfg.HybridWeights[ModeExecution] > 0)
	st.useGen = cfg.Mode == ModeGenerated || (cfg.Mode == ModeHybrid && cfg.HybridWeights[ModeGenerated] > 0)
	cfg.Model, cfg.GenModel = "", ""
	if st.useGen {
		pe, err := env.Endpoint("policy")
		if err != nil {
			return stage.Plan{}, fmt.Errorf("verify: mode %s: the policy writes the tests: %w", cfg.Mode, err)
		}
		st.writer, cfg.GenModel = pe.Client, pe.Model
	}
	if st.useModel {
		if epErr != nil {
			return stage.Plan{}, fmt.Errorf("verify: mode %s needs a verifier endpoint: %w", cfg.Mode, epErr)
		}
		st.client, cfg.Model = ep.Client, ep.Model
	}
	var err error
	if st.useExe || st.useGen {
		if st.sandbox, err = stage.OpenSandbox(ctx, env); err != nil {
			return stage.Plan{}, fmt.Errorf("verify: mode %s: %w", cfg.Mode, err)
		}
	}
	pin, err := taskexec.PinRun(ctx, env.Lake, cfg.Input, cfg.Tasks, nil, schemas.Rollouts.Name)
	if err != nil {
		return stage.Plan{}, fmt.Errorf("verify: %w", err)
	}
	st.input, st.task = pin.Input, pin.Tasks
	st.timeout, _ = time.ParseDuration(cfg.Timeout)
	shard, _ := stage.ParseShard(cfg.Shard)
	cfg.Input, cfg.Tasks, cfg.Concurrency, cfg.Shard = "", "", 0, ""
	return stage.Plan{Inputs: []*lake.Snapshot{pin.Input, pin.Tasks}, Shard: shard, IDPrefix: "verify", State: st}, nil
}

func run(ctx context.Context, r *stage.Run[Config]) (Summary, error) {
	st, cfg, env := r.Plan.State.(*state), r.Config, r.Env
	sum := Summary{VerifyID: r.ID, Verifier: verifierName(cfg, st), Input: st.input.Ref().String(), Tasks: st.task.Ref().String(),
		Outcomes: map[string]int{}, Shard: r.Plan.Shard.String()}
	groups, err := readCandidates(ctx, env, cfg, r.Plan.Shard, st.input)
	if err != nil {
		return sum, err
	}
	tasks, err := taskexec.TasksByID(ctx, env.Lake, st.task, func(id string) bool { _, ok := groups[id]; return ok })
	if err != nil {
		return sum, err
	}
	var rows []schemas.VerifierScore
	var patches []string // rows[i]'s candidate patch
	var warm []*schemas.Task
	for _, id := range slices.Sorted(maps.Keys(groups)) {
		for _, ro := range groups[id] {
			patches = append(patches, ro.Patch)
			rows = append(rows, schemas.VerifierScore{VerifyID: r.ID, Verifier: sum.Verifier, TaskID: ro.TaskID, RolloutID: ro.RolloutID,
				RunID: ro.RunID, Policy: ro.Policy, SampleIdx: ro.SampleIdx, Resolved: ro.Resolved, PredictedTests: "{}",
				Draw: draw(cfg.Seed, ro.TaskID, ro.RolloutID)})
		}
		if t, ok := tasks[id]; ok {
			warm = append(warm, t)
		}
	}
	sum.Candidates = len(rows)
	if st.useExe || st.useGen {
		st.sandbox.Warm(ctx, warm, env.Logger)
		r.Prov.Sandbox = exec.Isolation(st.sandbox.Backend)
	}
	if st.useGen {
		byTask, fresh, err := generateTests(ctx, env, st, cfg, tasks)
		if err != nil {
			return sum, err
		}
		st.generated = byTask
		tallyGenerated(&sum, byTask, len(fresh))
		if len(fresh) > 0 {
			stage.Emit(r, schemas.GeneratedTests, fresh)
		}
	}
	// A model-only verifier opens no sandbox: its pool expects nothing.
	err = st.sandbox.Pool(ctx, st.concurrency, env.Logger, func(pool *exec.Pool) error {
		for i := range rows {
			if t, ok := tasks[rows[i].TaskID]; ok && (st.useExe || st.useGen) && strings.TrimSpace(patches[i]) != "" {
				if ws, err := taskexec.TaskWorkspace(st.sandbox.ReposDir, t); err == nil {
					pool.Expect(i, ws)
				}
			}
		}
		return env.Each(ctx, JobName, len(rows), st.concurrency, func(ctx context.Context, i int) error {
			defer pool.Done(i)
			t, ok := tasks[rows[i].TaskID]
			if !ok {
				rows[i].Error = "task " + rows[i].TaskID + " not in " + sum.Tasks
				return nil
			}
			return score(ctx, st, st.sandbox.Item(pool, i), cfg, &rows[i], t, patches[i])
		})
	})
	if err != nil {
		return sum, err
	}
	Select(rows)
	tallyRows(&sum, rows)
	stage.Emit(r, schemas.VerifierScores, rows)
	return sum, nil
}

func verifierName(cfg Config, st *state) string {
	var parts []string
	if st.useModel {
		parts = append(parts, "model:"+cfg.Model)
	}
	if st.useExe {
		parts = append(parts, ModeExecution)
	}
	if st.useGen {
		parts = append(parts, ModeGenerated+":"+cfg.GenModel)
	}
	return strings.Join(parts, "+")
}

// score scores one candidate: by the model, by execution, or both.
func score(ctx context.Context, st *state, sb stage.Sandbox, cfg Config, row *schemas.VerifierScore, t *schemas.Task, patch string) error {
	var errs []string
	var modelScore, execScore, genScore float64
	if st.useModel {
		v, raw, err := askModel(ctx, st.client, cfg, t, patch)
		row.Response = raw
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			errs = append(errs, err.Error())
		} else {
			modelScore = v.Reward
			row.PredictedReward = &v.Reward
			tests, _ := json.Marshal(v.Tests)
			row.PredictedTests = string(tests)
		}
	}
	if st.useExe {
		passed, total, added, err := execute(ctx, sb, cfg, t, patch, st.timeout)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			errs = append(errs, err.Error())
		}
		if total >= 0 {
			row.ExecPassed, row.ExecTotal, row.ExecAdded = &passed, &total, added
			if total > 0 {
				execScore = float64(passed) / float64(total)
			}
		}
	}
	if st.useGen {
		passed, total, err := executeGenerated(ctx, sb, t, patch, st.generated[t.TaskID], st.timeout)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			errs = append(errs, err.Error())
		}
		if total >= 0 {
			row.GenPassed, row.GenTotal = &passed, &total
			if total > 0 {
				genScore = float64(passed) / float64(total)
			}
		}
	}
	switch cfg.Mode {
	case ModeModel:
		row.Score = modelScore
	case ModeExecution:
		row.Score = execScore
	case ModeGenerated:
		row.Score = genScore
	case ModeHybrid:
		w := cfg.HybridWeights
		row.Score = (w[ModeModel]*modelScore + w[ModeExecution]*execScore + w[ModeGenerated]*genScore) / (w[ModeModel] + w[ModeExecution] + w[ModeGenerated])
	default:
		row.Score = cfg.ExecutionWeight*execScore + (1-cfg.ExecutionWeight)*modelScore
	}
	row.Score = round6(row.Score)
	row.Error = strings.Join(errs, "; ")
	return nil
}

// tallyGenerated counts the generated test files and what was kept.
func tallyGenerated(sum *Summary, byTask map[string][]schemas.GeneratedTest, fresh int) {
	sum.GenDropped = map[string]int{}
	for _, gs := range byTask {
		for _, g := range gs {
			sum.GenFiles++
			if g.Kept {
				sum.GenKept++
				sum.GenTests += len(g.Tests)
			} else {
				sum.GenDropped[g.Reason]++
			}
		}
	}
	sum.GenReused = sum.GenFiles - fresh
}

// tallyRows counts the scored rows and the selected candidates' outcomes.
func tallyRows(sum *Summary, rows []schemas.VerifierScore) {
	var causes stage.Causes
	defer func() { sum.ErrorCauses = causes.List() }()
	for _, r := range rows {
		if r.Error != "" {
			sum.Errors++
			causes.Add(r.Error)
		} else {
			sum.Scored++
		}
		if r.Selected {
			sum.Selected++
			switch {
			case r.Resolved == nil:
				sum.Outcomes["unknown"]++
			case *r.Resolved:
				sum.Outcomes["resolved"]++
			default:
				sum.Outcomes["unresolved"]++
			}
		}
	}
}

// Select marks, per task, the candidate with the highest score (the
// highest draw among equal scores; a candidate whose verifier failed scores
// 0 and is chosen only if every candidate failed). rows are ordered by task.
func Select(rows []schemas.VerifierScore) {
	best := map[string]int{}
	for i, r := range rows {
		rows[i].Selected = false
		j, ok := best[r.TaskID]
		if !ok || r.Score > rows[j].Score || r.Score == rows[j].Score && r.Draw > rows[j].Draw {
			best[r.TaskID] = i
		}
	}
	for _, i := range best {
		rows[i].Selected = true
	}
}

// draw is the seeded tie-break of a candidate: uniform in [0, 1).
func draw(seed int64, taskID, rolloutID string) float64 {
	h := sha256.Sum256([]byte(strconv.FormatInt(seed, 10) + "\x00" + taskID + "\x00" + rolloutID))
	return float64(binary.BigEndian.Uint64(h[:8])>>11) / (1 << 53)
}

func round6(x float64) float64 { return float64(int64(x*1e6+0.5)) / 1e6 }

// readCandidates groups the input's rollouts of this shard by task, K per
// task, lowest sample index first.
func readCandidates(ctx context.Context, env *stage.Env, cfg Config, shard stage.Shard, snap *lake.Snapshot) (map[string][]schemas.Rollout, error) {
	groups := map[string][]schemas.Rollout{}
	for r, err := range lake.ReadRows[schemas.Rollout](ctx, env.Lake, snap) {
		if err != nil {
			return nil, err
		}
		if r.TaskID == "" || (cfg.RunID != "" && r.RunID != cfg.RunID) || !shard.Owns(r.TaskID) {
			continue
		}
		r.Messages, r.Actions, r.Tools = nil, nil, "" // only the patch and the outcome are needed
		groups[r.TaskID] = append(groups[r.TaskID], r)
	}
	for id, g := range groups {
		slices.SortFunc(g, func(a, b schemas.Rollout) int {
			return cmp.Or(cmp.Compare(a.SampleIdx, b.SampleIdx), strings.Compare(a.RunID, b.RunID), strings.Compare(a.RolloutID, b.RolloutID))
		})
		if cfg.K > 0 && len(g) > cfg.K {
			g = g[:cfg.K]
		}
		groups[id] = g
	}
	return groups, nil
}

// askModel asks the verifier model for a verdict on one candidate.
func askModel(ctx context.Context, client agent.Chatter, cfg Config, t *schemas.Task, patch string) (agent.Verdict, string, error) {
	zero := 0.0
	seed := cfg.Seed
	resp, err := client.Chat(ctx, agent.ChatRequest{Model: cfg.Model, Temperature: &zero, Seed: &seed,
		Messages: agent.VerifierPrompt(agent.VerifyTask{TaskID: t.TaskID, ProblemStatement: t.ProblemStatement, TestPatch: t.TestPatch,
			FailToPass: t.FailToPass, PassToPass: t.PassToPass}, patch)})
	if err != nil {
		return agent.Verdict{}, "", fmt.Errorf("verifier model: %w", err)
	}
	if len(resp.Choices) == 0 {
		return agent.Verdict{}, "", errors.New("verifier model: no choices in the response")
	}
	text := resp.Choices[0].Message.Text()
	v, err := agent.ParseVerdict(text)
	return v, text, err
}

// execute applies the candidate (without the task's hidden test patch) in
// a fresh sandbox and runs the task's tests: of the PASS_TO_PASS tests and
// the tests the candidate added (tests the run reports that neither list
// names), how many pass. total is -1 when nothing ran.
func execute(ctx context.Context, sb stage.Sandbox, cfg Config, t *schemas.Task, patch string, timeout time.Duration) (passed, total, added int32, err error) {
	if strings.TrimSpace(patch) == "" {
		return 0, 0, 0, nil // nothing to execute: no test can be credited
	}
	ws, err := taskexec.TaskWorkspace(sb.ReposDir, t)
	if err != nil {
		return 0, -1, 0, fmt.Errorf("execution: %w", err)
	}
	te := sb.TestEnv(t)
	gr, err := exec.GradePatch(ctx, sb.Backend, exec.GradeSpec{Workspace: ws, Patch: []byte(patch), TestCmd: te.Script(),
		Framework: te.LogParser, PassToPass: t.PassToPass, Reruns: cfg.Reruns, Limits: exec.Limits{Timeout: timeout}, KeepNewTests: true})
	if err != nil || gr.Status == exec.StatusInfraError {
		return 0, -1, 0, fmt.Errorf("execution: %s", cmp.Or(gr.Reason, fmt.Sprint(err)))
	}
	if !gr.PatchApplied {
		return 0, 0, 0, nil // a patch that does not apply passes nothing
	}
	known := map[string]bool{}
	for _, id := range t.FailToPass {
		known[id] = true
	}
	for _, id := range t.PassToPass {
		known[id] = true
	}
	total = int32(len(t.PassToPass))
	passed = int32(len(gr.Grade.P2PPassed))
	defined := definedTests(patch)
	for id, st := range gr.Results {
		if !known[id] && defined[testFunc(id)] {
			total++
			added++
			if st.Pass() {
				passed++
			}
		}
	}
	return passed, total, added, nil
}

// testDef finds test functions a diff's added lines define: Python
// "def test_x" (methods and async too), Go "func TestX".
var testDef = regexp.MustCompile(`(?m)^\+\s*(?:async\s+)?def\s+(test\w*)\s*\(|^\+func\s+(Test\w*)\s*\(`)

// definedTests is the set of test function names a patch adds.
func definedTests(patch string) map[string]bool {
	out := map[string]bool{}
	for _, m := range testDef.FindAllStringSubmatch(patch, -1) {
		out[m[1]+m[2]] = true
	}
	return out
}

// testFunc is a test id's function: tests/x.py::TestC::test_y[p] → test_y,
// TestX/sub → TestX.
func testFunc(id string) string {
	if i := strings.LastIndex(id, "::"); i >= 0 {
		id = id[i+2:]
	}
	id, _, _ = strings.Cut(id, "[")
	id, _, _ = strings.Cut(id, "/")
	return id
}
