// Package rollout is the job behind `swelake run rollout`: N samples per
// task of a policy model driving the agent loop (exec/agent) in fresh
// sandboxes, graded by running the task's tests, written to rollouts in
// batches. The job is resumable: its run id is a function of the model,
// the tasks snapshot and the configuration, every batch is one commit, and
// a rerun after a crash skips the (task, sample) pairs already committed.
package rollout

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/agent"
	"github.com/swelake/swelake/jobs"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/chattemplate"
	"github.com/swelake/swelake/trainer/tokenizer"
)

// JobName is recorded in the provenance of every commit of this job.
const JobName = "rollout"

// Source is the rollouts' source column.
const Source = "swelake"

// Config is the job's typed configuration.
type Config struct {
	Input  string `json:"input" mapstructure:"input"`   // tasks snapshot (default tasks@latest)
	Source string `json:"source" mapstructure:"source"` // only tasks of this source ("" : all)
	// OnlyValid runs only tasks whose latest validation (validate-tasks)
	// says valid.
	OnlyValid bool `json:"only_valid" mapstructure:"only_valid"`
	Samples   int  `json:"samples" mapstructure:"samples"` // per task (default 4)
	MaxSteps  int  `json:"max_steps" mapstructure:"max_steps"`
	// MaxContextTokens caps the context (default 81,920).
	MaxContextTokens int64    `json:"max_context_tokens" mapstructure:"max_context_tokens"`
	WallTime         string   `json:"wall_time" mapstructure:"wall_time"`             // per rollout (default 30m)
	CommandTimeout   string   `json:"command_timeout" mapstructure:"command_timeout"` // per bash command (default 3m)
	Banned           []string `json:"banned" mapstructure:"banned"`                   // git-hacking ban (default git log, git show, git reflog, git clone)
	Seed             int64    `json:"seed" mapstructure:"seed"`                       // base of the per-sample sampling seeds
	SkipGrading      bool     `json:"skip_grading" mapstructure:"skip_grading"`
	Reruns           int      `json:"reruns" mapstructure:"reruns"` // flaky-test reruns when grading (default 1)
	// Not part of the run id: how fast, not what.
	Concurrency int `json:"-" mapstructure:"concurrency"` // rollouts at once (default 2)
	BatchSize   int `json:"-" mapstructure:"batch_size"`  // rollouts per commit (default 8)
	// Shard is this worker's share of the tasks; shards of a run share its
	// run id and resume state.
	Shard jobs.Shard `json:"-" mapstructure:"-"`

	// TokenizerDir is the model's tokenizer: where an endpoint reports no
	// token usage, the context is counted with it (rendered with its chat
	// template) for the token cap ("" or unloadable: usage only).
	TokenizerDir string `json:"-" mapstructure:"tokenizer_dir"`

	Model    string        `json:"model" mapstructure:"-"` // recorded as the policy
	Endpoint string        `json:"-" mapstructure:"-"`     // recorded (credentials stripped) in each rollout's raw record and the commits' provenance
	Client   agent.Chatter `json:"-" mapstructure:"-"`
	ReposDir string        `json:"-" mapstructure:"-"`
	Backend  exec.Backend  `json:"-" mapstructure:"-"`
	// Progress, when set, is called after each rollout (done, total).
	Progress     func(done, total int) `json:"-" mapstructure:"-"`
	jobs.Runtime `json:"-" mapstructure:"-"`
}

// Summary is what the job did.
type Summary struct {
	RunID     string         `json:"run_id"`
	Input     string         `json:"input"`
	Tasks     int            `json:"tasks"`
	Pairs     int            `json:"pairs"`    // tasks × samples
	Resumed   int            `json:"resumed"`  // pairs already committed by an earlier run
	Rollouts  int            `json:"rollouts"` // run now
	Commits   int            `json:"commits"`  // batches committed now
	Resolved  int            `json:"resolved"` // of those run now
	Exit      map[string]int `json:"exit"`     // exit reason → rollouts run now
	Steps     int            `json:"steps"`    // model calls, run now
	Tokens    int64          `json:"tokens"`   // API tokens (prompt + completion), run now
	Banned    int            `json:"banned"`   // refused git-hacking commands
	StepsPerS float64        `json:"steps_per_s"`
	// NotRun counts rollouts left for a rerun because the endpoint could
	// not answer (agent.ErrUnavailable); never committed.
	NotRun  int    `json:"not_run"`
	Version int64  `json:"version"` // rollouts version after the last commit
	Shard   string `json:"shard,omitempty"`
}

func (c *Config) defaults() error {
	if c.Client == nil || c.Backend == nil || c.ReposDir == "" {
		return errors.New("rollout: a policy client, a sandbox backend and a repository store are required")
	}
	c.Samples = cmp.Or(c.Samples, 4)
	c.MaxSteps = cmp.Or(c.MaxSteps, 100)
	c.MaxContextTokens = cmp.Or(c.MaxContextTokens, schemas.MaxContextTokens)
	c.WallTime = cmp.Or(c.WallTime, "30m")
	c.CommandTimeout = cmp.Or(c.CommandTimeout, "3m")
	c.Concurrency = cmp.Or(c.Concurrency, 2)
	c.BatchSize = cmp.Or(c.BatchSize, 8)
	c.Reruns = cmp.Or(c.Reruns, 1)
	if c.Banned == nil {
		c.Banned = agent.DefaultBanned()
	}
	for _, d := range []string{c.WallTime, c.CommandTimeout} {
		if _, err := time.ParseDuration(d); err != nil {
			return fmt.Errorf("rollout: duration %q: %w", d, err)
		}
	}
	if c.Samples < 1 || c.Concurrency < 1 || c.BatchSize < 1 || c.MaxSteps < 1 {
		return fmt.Errorf("rollout: samples %d, concurrency %d, batch_size %d, max_steps %d: each must be ≥ 1", c.Samples, c.Concurrency, c.BatchSize, c.MaxSteps)
	}
	return nil
}

type pair struct {
	task   *schemas.Task
	sample int
}

// Run runs the rollouts not yet committed.
func Run(ctx context.Context, l *lake.Lake, cfg Config) (Summary, error) {
	sum := Summary{Exit: map[string]int{}, Version: -1, Shard: cfg.Shard.String()}
	cfg.Runtime = cfg.Runtime.WithDefaults()
	if err := cfg.defaults(); err != nil {
		return sum, err
	}
	if err := cfg.InitTables(ctx, l); err != nil {
		return sum, err
	}
	snap, err := jobs.Pin(ctx, l, cmp.Or(cfg.Input, schemas.Tasks.Name), schemas.Tasks.Name)
	if err != nil {
		return sum, fmt.Errorf("rollout: %w", err)
	}
	sum.Input = snap.Ref().String()
	tasks, inputs, err := selectTasks(ctx, l, cfg, snap)
	if err != nil {
		return sum, err
	}
	hash, err := jobs.ConfigHash(struct {
		Cfg    Config
		Inputs []string
	}{cfg, inputs})
	if err != nil {
		return sum, err
	}
	sum.RunID = "rollout-" + hash[:12]
	sum.Tasks = len(tasks)
	rt, err := l.Table(schemas.Rollouts.Name)
	if err != nil {
		return sum, err
	}
	done, version, err := committed(ctx, l, cfg, sum.RunID)
	if err != nil {
		return sum, err
	}
	sum.Version = version
	var todo []pair
	for i := range tasks {
		for s := range cfg.Samples {
			sum.Pairs++
			if done[tasks[i].TaskID+"\x00"+fmt.Sprint(s)] {
				sum.Resumed++
				continue
			}
			todo = append(todo, pair{&tasks[i], s})
		}
	}
	cfg.Logger.Info("rollout", "run_id", sum.RunID, "tasks", len(tasks), "pairs", sum.Pairs, "resumed", sum.Resumed, "to_run", len(todo))
	warm := make([]*schemas.Task, len(todo))
	for i, p := range todo {
		warm[i] = p.task
	}
	jobs.WarmGoCaches(ctx, cfg.Backend, cfg.ReposDir, warm, cfg.Logger)

	count := contextCounter(cfg)
	start := time.Now()
	results := make(chan schemas.Rollout)
	// An endpoint that cannot answer stops the run from starting more
	// rollouts; those in flight finish (or meet the outage too), and none
	// that met it is committed.
	var outage atomic.Pointer[error]
	var notRun atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(results)
		w, wctx := errgroup.WithContext(gctx)
		w.SetLimit(cfg.Concurrency)
		for i, p := range todo {
			if wctx.Err() != nil {
				break
			}
			if outage.Load() != nil {
				notRun.Add(int64(len(todo) - i))
				break
			}
			w.Go(func() error {
				if outage.Load() != nil { // met while this one waited for its turn
					notRun.Add(1)
					return nil
				}
				r, err := one(wctx, cfg, sum.RunID, p, count)
				if errors.Is(err, agent.ErrUnavailable) {
					outage.CompareAndSwap(nil, &err)
					notRun.Add(1)
					cfg.Logger.Warn("rollout: not run, the endpoint could not answer", "task", p.task.TaskID, "sample", p.sample, "err", err)
					return nil
				}
				if err != nil {
					return err
				}
				select {
				case results <- r:
					return nil
				case <-wctx.Done():
					return wctx.Err()
				}
			})
		}
		return w.Wait()
	})
	// The committer: one commit per batch, so a crash loses at most the
	// rollouts of the batch in flight.
	var batch []schemas.Rollout
	var commitErr error
	flush := func() {
		if len(batch) == 0 || commitErr != nil {
			return
		}
		v, err := commit(context.WithoutCancel(ctx), l, rt, cfg, sum.RunID, hash, inputs, batch)
		if err != nil {
			commitErr = err
			return
		}
		sum.Version = v
		sum.Commits++
		batch = nil
	}
	n := 0
	for r := range results {
		n++
		sum.Rollouts++
		sum.Exit[r.ExitReason]++
		sum.Steps += int(r.NumTurns)
		if r.Resolved != nil && *r.Resolved {
			sum.Resolved++
		}
		var raw struct {
			Usage  agent.Usage `json:"usage"`
			Banned []string    `json:"banned"`
		}
		json.Unmarshal(r.Raw, &raw)
		sum.Tokens += raw.Usage.TotalTokens
		sum.Banned += len(raw.Banned)
		batch = append(batch, r)
		if len(batch) >= cfg.BatchSize {
			flush()
		}
		if cfg.Progress != nil {
			cfg.Progress(n, len(todo))
		}
	}
	werr := g.Wait()
	flush() // what finished is kept, even when the run was interrupted
	if el := time.Since(start).Seconds(); el > 0 {
		sum.StepsPerS = float64(sum.Steps) / el
	}
	sum.NotRun = int(notRun.Load())
	if werr != nil {
		return sum, werr
	}
	if commitErr != nil {
		return sum, commitErr
	}
	if e := outage.Load(); e != nil {
		return sum, fmt.Errorf("rollout %s: %d of %d rollouts not run, the policy endpoint %s could not answer (%d committed; run again to run the rest): %w",
			sum.RunID, sum.NotRun, len(todo), agent.Redact(cfg.Endpoint), sum.Rollouts, *e)
	}
	return sum, nil
}

// selectTasks reads the tasks to run and the snapshots they came from.
func selectTasks(ctx context.Context, l *lake.Lake, cfg Config, snap *lake.Snapshot) ([]schemas.Task, []string, error) {
	inputs := []string{snap.Ref().String()}
	var valid map[string]bool
	if cfg.OnlyValid {
		vsnap, err := jobs.Pin(ctx, l, schemas.TaskValidations.Name, schemas.TaskValidations.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("rollout: %w", err)
		}
		if vsnap.Rows() == 0 {
			return nil, nil, errors.New("rollout: only_valid is set but task_validations is empty: run `swelake run validate-tasks` first, or --set rollout.only_valid=false")
		}
		inputs = append(inputs, vsnap.Ref().String())
		latest := map[string]schemas.TaskValidation{}
		for v, err := range jobs.ReadRows[schemas.TaskValidation](ctx, l, vsnap, cfg.CacheDir) {
			if err != nil {
				return nil, nil, err
			}
			if old, ok := latest[v.TaskID]; !ok || v.Time.After(old.Time) {
				latest[v.TaskID] = v
			}
		}
		valid = map[string]bool{}
		for id, v := range latest {
			valid[id] = v.Status == schemas.ValidationValid
		}
	}
	var tasks []schemas.Task
	for t, err := range jobs.ReadRows[schemas.Task](ctx, l, snap, cfg.CacheDir) {
		if err != nil {
			return nil, nil, err
		}
		if (cfg.Source == "" || t.Source == cfg.Source) && (valid == nil || valid[t.TaskID]) && cfg.Shard.Owns(t.TaskID) {
			tasks = append(tasks, t)
		}
	}
	slices.SortFunc(tasks, func(a, b schemas.Task) int { return strings.Compare(a.TaskID, b.TaskID) })
	return tasks, inputs, nil
}

// committed lists the (task, sample) pairs of the run already in the lake,
// reading only the files of the run's partition.
func committed(ctx context.Context, l *lake.Lake, cfg Config, runID string) (map[string]bool, int64, error) {
	s, err := jobs.Pin(ctx, l, schemas.Rollouts.Name, schemas.Rollouts.Name)
	if err != nil {
		return nil, -1, err
	}
	done := map[string]bool{}
	for r, err := range jobs.ReadRows[schemas.Rollout](ctx, l, s.InPartition(lake.Partition{"run_id": runID}), cfg.CacheDir) {
		if err != nil {
			return nil, -1, err
		}
		done[r.TaskID+"\x00"+fmt.Sprint(r.SampleIdx)] = true
	}
	return done, s.Version, nil
}

func commit(ctx context.Context, l *lake.Lake, rt *lake.Table, cfg Config, runID, hash string, inputs []string, batch []schemas.Rollout) (int64, error) {
	ids := make([]string, len(batch))
	for i, r := range batch {
		ids[i] = r.RolloutID
	}
	slices.Sort(ids)
	sum := sha256.Sum256([]byte(strings.Join(ids, "\n")))
	runKey := JobName + "/" + runID + "/" + hex.EncodeToString(sum[:8])
	v, err := jobs.Commit(ctx, rt, schemas.Rollouts, batch, cfg.Runtime, lake.Provenance{Job: JobName, RunKey: runKey, ConfigHash: hash,
		Inputs: inputs, Sandbox: exec.Isolation(cfg.Backend), Endpoint: agent.Redact(cfg.Endpoint)})
	if err != nil {
		return -1, fmt.Errorf("rollout %s: %w", runID, err)
	}
	cfg.Logger.Info("rollout: committed batch", "run_id", runID, "rollouts", len(batch), "version", v)
	return v, nil
}

// System is the system prompt of every rollout.
const System = `You are an expert software engineer working in a repository checked out at /workspace.
Resolve the issue below by editing the library code. Tools: bash (run commands; no network),
str_replace_editor (view, create, str_replace, insert, undo_edit) and submit. Reproduce the issue,
fix it, run the tests, then call submit. Do not modify the tests. Commands that read the
repository's history (git log, git show, git reflog, git clone) are not available.`

// Prompt is the user message of a task.
func Prompt(t *schemas.Task) string {
	return fmt.Sprintf("Repository: %s %s\n\n<issue>\n%s\n</issue>\n\nThe tests run with: %s", t.Repo, agent.TaskMarker(t.TaskID), strings.TrimSpace(t.ProblemStatement), t.TestCmd)
}

// Seed is the sampling seed of one sample.
func Seed(base int64, taskID string, sample int) int64 {
	h := sha256.Sum256(fmt.Appendf(nil, "%d\x00%s\x00%d", base, taskID, sample))
	return int64(binary.BigEndian.Uint64(h[:8]) >> 1) // non-negative: some servers reject negative seeds
}

// one runs and grades one rollout.
func one(ctx context.Context, cfg Config, runID string, p pair, count func([]agent.Message) int64) (schemas.Rollout, error) {
	t := p.task
	seed := Seed(cfg.Seed, t.TaskID, p.sample)
	r := schemas.Rollout{RolloutID: fmt.Sprintf("%s/%s/%d", runID, t.TaskID, p.sample), TaskID: t.TaskID, RunID: runID, Policy: cfg.Model,
		SampleIdx: int32(p.sample), Source: Source}
	wall, _ := time.ParseDuration(cfg.WallTime)
	cmdTimeout, _ := time.ParseDuration(cfg.CommandTimeout)
	raw := map[string]any{"tools": agent.Tools(), "seed": seed, "endpoint": agent.Redact(cfg.Endpoint), "model": cfg.Model}
	ws, err := jobs.TaskWorkspace(cfg.ReposDir, t)
	var tr agent.Trajectory
	if err == nil {
		var sb exec.Sandbox
		sb, err = cfg.Backend.Open(ctx, ws)
		if err == nil {
			raw["isolated"] = sb.Isolated()
			tr, err = agent.Run(ctx, cfg.Client, sb, agent.Episode{System: System, User: Prompt(t), Seed: &seed,
				Limits:      agent.Limits{MaxSteps: cfg.MaxSteps, MaxContextTokens: cfg.MaxContextTokens, WallTime: wall, CommandTimeout: cmdTimeout, Banned: cfg.Banned},
				CountTokens: count})
			sb.Close(context.WithoutCancel(ctx))
			if ctx.Err() != nil {
				return r, ctx.Err()
			}
			if errors.Is(err, agent.ErrUnavailable) {
				return r, err
			}
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		tr.ExitReason, tr.Error = agent.ExitInfraError, err.Error()
		tr.Messages = []agent.Message{{Role: "system", Content: agent.Str(System)}, {Role: "user", Content: agent.Str(Prompt(t))}}
	}
	r.Messages = messages(tr.Messages)
	r.NumTurns = int32(tr.Steps)
	if tr.Context > 0 {
		r.Tokens = &tr.Context
	}
	r.ExitReason, r.Patch, r.Submitted, r.Forced = tr.ExitReason, tr.Patch, tr.Submitted, tr.Forced
	r.InfraError = tr.ExitReason == agent.ExitInfraError
	raw["calls"], raw["usage"], raw["banned"], raw["error"] = tr.Calls, tr.Usage, tr.Banned, tr.Error
	raw["timings_ms"] = map[string]int64{"total": tr.Duration.Milliseconds(), "model": tr.ModelTime.Milliseconds(), "tools": tr.ToolTime.Milliseconds()}
	if !cfg.SkipGrading && !r.InfraError {
		g, err := exec.GradePatch(ctx, cfg.Backend, exec.GradeSpec{Workspace: ws, TestPatch: []byte(t.TestPatch), Patch: []byte(r.Patch),
			TestCmd: t.TestCmd, Framework: jobs.Framework(t.Language), FailToPass: t.FailToPass, PassToPass: t.PassToPass, Reruns: cfg.Reruns})
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		if err != nil {
			cfg.Logger.Warn("rollout: grading failed", "rollout", r.RolloutID, "err", err)
		}
		report, _ := json.Marshal(g)
		r.TestReport = string(report)
		switch g.Status {
		case exec.StatusInfraError:
			r.InfraError = true
		case exec.StatusNoResult:
		default:
			resolved := g.Status == exec.StatusResolved
			reward := 0.0
			if resolved {
				reward = 1
			}
			r.Resolved, r.Reward = &resolved, &reward
		}
	}
	r.Raw, _ = json.Marshal(raw)
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s", r.RolloutID, r.Patch, r.ExitReason, r.Raw))
	r.ContentHash = hex.EncodeToString(h[:])
	cfg.Logger.Debug("rollout done", "rollout", r.RolloutID, "exit", r.ExitReason, "steps", r.NumTurns)
	return r, nil
}

// messages converts the API's messages to the rollouts table's.
func messages(msgs []agent.Message) []schemas.Message {
	out := make([]schemas.Message, 0, len(msgs))
	for _, m := range msgs {
		sm := schemas.Message{Role: m.Role, Content: m.Text(), ToolCallID: m.ToolCallID, Name: m.Name}
		for _, c := range m.ToolCalls {
			sm.ToolCalls = append(sm.ToolCalls, schemas.ToolCall{ID: c.ID, Name: c.Function.Name, Arguments: c.Function.Arguments})
		}
		out = append(out, sm)
	}
	return out
}

// contextCounter counts a conversation's tokens with the model's tokenizer
// and chat template, tools included, exactly as build-sft renders it; nil
// without a usable tokenizer.
func contextCounter(cfg Config) func([]agent.Message) int64 {
	if cfg.TokenizerDir == "" {
		return nil
	}
	tok, err := tokenizer.Load(cfg.TokenizerDir)
	if err != nil {
		cfg.Logger.Warn("rollout: no tokenizer to count the context where the endpoint reports no usage", "err", err)
		return nil
	}
	tmpl, err := chattemplate.Parse(tok.Config().ChatTemplate)
	if err != nil {
		cfg.Logger.Warn("rollout: the tokenizer's chat template does not parse; counting with the endpoint's usage only", "err", err)
		return nil
	}
	tools, _ := json.Marshal(map[string]any{"tools": agent.Tools()})
	return func(msgs []agent.Message) int64 {
		text, err := tmpl.RenderChat(jobs.ChatOf(schemas.Rollout{Messages: messages(msgs), Raw: tools}, tok.Config()))
		if err != nil {
			return 0
		}
		return int64(len(tok.Encode(text)))
	}
}
