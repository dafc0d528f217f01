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
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/agent"
	"github.com/swelake/swelake/jobs"
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
)

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
	Model           string  `json:"model" mapstructure:"-"`         // the verifier model (recorded)

	Concurrency int           `json:"-" mapstructure:"concurrency"` // candidates at once (default 2)
	Shard       jobs.Shard    `json:"-" mapstructure:"-"`
	Client      agent.Chatter `json:"-" mapstructure:"-"`
	ReposDir    string        `json:"-" mapstructure:"-"`
	Backend     exec.Backend  `json:"-" mapstructure:"-"`
	// Progress, when set, is called after each candidate (done, total).
	Progress     func(done, total int) `json:"-" mapstructure:"-"`
	jobs.Runtime `json:"-" mapstructure:"-"`
}

// Summary is what the job did.
type Summary struct {
	VerifyID   string         `json:"verify_id"`
	Verifier   string         `json:"verifier"`
	Input      string         `json:"input"`
	Tasks      string         `json:"tasks"`
	Shard      string         `json:"shard,omitempty"`
	Candidates int            `json:"candidates"`
	Scored     int            `json:"scored"`
	Errors     int            `json:"errors"`
	Selected   int            `json:"selected"` // tasks with a selected candidate
	Outcomes   map[string]int `json:"selected_outcomes"`
	Version    int64          `json:"version"`
	Skipped    bool           `json:"skipped"`
}

// Run scores the candidates and commits verifier_scores.
func Run(ctx context.Context, l *lake.Lake, cfg Config) (Summary, error) {
	sum := Summary{Version: -1, Outcomes: map[string]int{}, Shard: cfg.Shard.String()}
	cfg.Runtime = cfg.Runtime.WithDefaults()
	if cfg.Mode == "" {
		cfg.Mode = ModeExecution
		if cfg.Client != nil {
			cfg.Mode = ModeBoth
		}
	}
	useModel, useExec := cfg.Mode != ModeExecution, cfg.Mode != ModeModel
	switch {
	case cfg.Mode != ModeModel && cfg.Mode != ModeExecution && cfg.Mode != ModeBoth:
		return sum, fmt.Errorf("verify: mode %q: want model, execution or both", cfg.Mode)
	case useModel && (cfg.Client == nil || cfg.Model == ""):
		return sum, errors.New("verify: mode " + cfg.Mode + " needs a verifier endpoint (verify.base_url and verify.model)")
	case useExec && (cfg.Backend == nil || cfg.ReposDir == ""):
		return sum, errors.New("verify: mode " + cfg.Mode + " needs a sandbox backend and a repository store")
	case cfg.ExecutionWeight < 0 || cfg.ExecutionWeight > 1:
		return sum, fmt.Errorf("verify: execution_weight %v: want 0..1", cfg.ExecutionWeight)
	}
	if cfg.Mode == ModeBoth && cfg.ExecutionWeight == 0 {
		cfg.ExecutionWeight = 0.5
	}
	if !useModel {
		cfg.Model = ""
	}
	cfg.Reruns = cmp.Or(cfg.Reruns, 1)
	cfg.Concurrency = cmp.Or(cfg.Concurrency, 2)
	timeout, err := time.ParseDuration(cmp.Or(cfg.Timeout, "10m"))
	if err != nil {
		return sum, fmt.Errorf("verify: timeout %q: %w", cfg.Timeout, err)
	}
	var parts []string
	if useModel {
		parts = append(parts, "model:"+cfg.Model)
	}
	if useExec {
		parts = append(parts, ModeExecution)
	}
	sum.Verifier = strings.Join(parts, "+")
	if err := cfg.InitTables(ctx, l); err != nil {
		return sum, err
	}
	pin, err := jobs.PinRun(ctx, l, cfg.Input, cfg.Tasks, cfg, schemas.Rollouts.Name)
	if err != nil {
		return sum, fmt.Errorf("verify: %w", err)
	}
	snap, tsnap, hash := pin.Input, pin.Tasks, pin.ConfigHash
	sum.Input, sum.Tasks = snap.Ref().String(), tsnap.Ref().String()
	sum.VerifyID = "verify-" + hash[:12]
	runKey := JobName + "/" + sum.VerifyID
	vt, err := l.Table(schemas.VerifierScores.Name)
	if err != nil {
		return sum, err
	}
	if v, done, err := cfg.Shard.Done(ctx, vt, runKey); err != nil || done {
		sum.Skipped, sum.Version = done, v
		return sum, err
	}
	groups, err := readCandidates(ctx, l, cfg, snap)
	if err != nil {
		return sum, err
	}
	tasks, err := jobs.TasksByID(ctx, l, tsnap, cfg.CacheDir, func(id string) bool { _, ok := groups[id]; return ok })
	if err != nil {
		return sum, err
	}
	var rows []schemas.VerifierScore
	var patches []string // rows[i]'s candidate patch
	var warm []*schemas.Task
	for _, id := range slices.Sorted(maps.Keys(groups)) {
		for _, r := range groups[id] {
			patches = append(patches, r.Patch)
			rows = append(rows, schemas.VerifierScore{VerifyID: sum.VerifyID, Verifier: sum.Verifier, TaskID: r.TaskID, RolloutID: r.RolloutID,
				RunID: r.RunID, Policy: r.Policy, SampleIdx: r.SampleIdx, Resolved: r.Resolved, PredictedTests: "{}",
				Draw: draw(cfg.Seed, r.TaskID, r.RolloutID)})
		}
		if t, ok := tasks[id]; ok {
			warm = append(warm, t)
		}
	}
	sum.Candidates = len(rows)
	if useExec {
		jobs.WarmGoCaches(ctx, cfg.Backend, cfg.ReposDir, warm, cfg.Logger)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.Concurrency)
	done := make(chan struct{}, len(rows))
	for i := range rows {
		g.Go(func() error {
			defer func() { done <- struct{}{} }()
			row := &rows[i]
			t, ok := tasks[row.TaskID]
			if !ok {
				row.Error = "task " + row.TaskID + " not in " + sum.Tasks
				return nil
			}
			patch := patches[i]
			var errs []string
			var modelScore, execScore float64
			if useModel {
				v, raw, err := askModel(gctx, cfg, t, patch)
				row.Response = raw
				if gctx.Err() != nil {
					return gctx.Err()
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
			if useExec {
				passed, total, added, err := execute(gctx, cfg, t, patch, timeout)
				if gctx.Err() != nil {
					return gctx.Err()
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
			switch cfg.Mode {
			case ModeModel:
				row.Score = modelScore
			case ModeExecution:
				row.Score = execScore
			default:
				row.Score = cfg.ExecutionWeight*execScore + (1-cfg.ExecutionWeight)*modelScore
			}
			row.Score = round6(row.Score)
			row.Error = strings.Join(errs, "; ")
			return nil
		})
	}
	progressed := make(chan struct{})
	go func() {
		defer close(progressed)
		n := 0
		for range done {
			n++
			if cfg.Progress != nil {
				cfg.Progress(n, len(rows))
			}
		}
	}()
	err = g.Wait()
	close(done) // every sender has returned
	<-progressed
	if err != nil {
		return sum, err
	}
	Select(rows)
	for _, r := range rows {
		if r.Error != "" {
			sum.Errors++
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
	prov := lake.Provenance{Job: JobName, RunKey: cfg.Shard.RunKey(runKey), ConfigHash: hash, Inputs: []string{sum.Input, sum.Tasks}}
	if useExec {
		prov.Sandbox = exec.Isolation(cfg.Backend)
	}
	sum.Version, err = jobs.Commit(ctx, vt, schemas.VerifierScores, rows, cfg.Runtime, prov)
	if err != nil {
		return sum, fmt.Errorf("verify: %w", err)
	}
	return sum, nil
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
func readCandidates(ctx context.Context, l *lake.Lake, cfg Config, snap *lake.Snapshot) (map[string][]schemas.Rollout, error) {
	groups := map[string][]schemas.Rollout{}
	for r, err := range jobs.ReadRows[schemas.Rollout](ctx, l, snap, cfg.CacheDir) {
		if err != nil {
			return nil, err
		}
		if r.TaskID == "" || (cfg.RunID != "" && r.RunID != cfg.RunID) || !cfg.Shard.Owns(r.TaskID) {
			continue
		}
		r.Messages, r.Raw = nil, nil // only the patch and the outcome are needed
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
func askModel(ctx context.Context, cfg Config, t *schemas.Task, patch string) (agent.Verdict, string, error) {
	zero := 0.0
	seed := cfg.Seed
	resp, err := cfg.Client.Chat(ctx, agent.ChatRequest{Model: cfg.Model, Temperature: &zero, Seed: &seed,
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
func execute(ctx context.Context, cfg Config, t *schemas.Task, patch string, timeout time.Duration) (passed, total, added int32, err error) {
	if strings.TrimSpace(patch) == "" {
		return 0, 0, 0, nil // nothing to execute: no test can be credited
	}
	ws, err := jobs.TaskWorkspace(cfg.ReposDir, t)
	if err != nil {
		return 0, -1, 0, fmt.Errorf("execution: %w", err)
	}
	gr, err := exec.GradePatch(ctx, cfg.Backend, exec.GradeSpec{Workspace: ws, Patch: []byte(patch), TestCmd: t.TestCmd,
		Framework: jobs.Framework(t.Language), PassToPass: t.PassToPass, Reruns: cfg.Reruns, Limits: exec.Limits{Timeout: timeout}, KeepNewTests: true})
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
