// Package rollout is the job behind `swelake run rollout`: N samples per
// task of a policy model driving the agent loop (exec/agent) in fresh
// sandboxes, graded by running the task's tests, written to rollouts in
// batches. The job is resumable: its run id is a function of the model,
// the tasks snapshot and the configuration, every batch is one commit, and
// a rerun after a crash skips the (task, sample) pairs already committed.
package rollout

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"github.com/swelake/swelake/jobs/taskexec"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/agent"
	"github.com/swelake/swelake/jobs/stage"
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
	// TaskIDs runs only these tasks (empty: all): a curriculum's selection
	// (swelake rl iterate sets it per iteration).
	TaskIDs []string `json:"task_ids,omitempty" mapstructure:"task_ids"`
	// OnlyValid runs only tasks whose latest validation (validate-tasks)
	// says valid.
	OnlyValid bool `json:"only_valid" mapstructure:"only_valid"`
	Samples   int  `json:"samples" mapstructure:"samples"` // per task (default 4)
	MaxSteps  int  `json:"max_steps" mapstructure:"max_steps"`
	// MaxContextTokens caps the context (default schemas.MaxContextTokens).
	MaxContextTokens int64    `json:"max_context_tokens" mapstructure:"max_context_tokens"`
	WallTime         string   `json:"wall_time" mapstructure:"wall_time"`             // per rollout (default 30m)
	CommandTimeout   string   `json:"command_timeout" mapstructure:"command_timeout"` // per bash command (default 3m)
	Banned           []string `json:"banned" mapstructure:"banned"`                   // git-hacking ban (default git log, git show, git reflog, git clone)
	Seed             int64    `json:"seed" mapstructure:"seed"`                       // base of the per-sample sampling seeds
	SkipGrading      bool     `json:"skip_grading" mapstructure:"skip_grading"`
	Reruns           int      `json:"reruns" mapstructure:"reruns"` // flaky-test reruns when grading (default 1)
	// Model is the policy model, from the policy endpoint (recorded as each
	// rollout's policy; part of the run's identity, not a key of its own).
	Model string `json:"model" mapstructure:"-"`
	// How the run is spread, not what it computes (not part of its
	// identity): rollouts at once (default 2), rollouts per commit (default
	// 8), this worker's shard ("i/N"; shards share the run id and resume
	// state).
	Concurrency int    `json:"concurrency,omitempty" mapstructure:"concurrency"`
	BatchSize   int    `json:"batch_size,omitempty" mapstructure:"batch_size"`
	Shard       string `json:"shard,omitempty" mapstructure:"shard"`
	// TokenizerDir is the model's tokenizer: where an endpoint reports no
	// token usage, the context is counted with it (rendered with its chat
	// template) for the token cap ("" or unloadable: usage only).
	TokenizerDir string `json:"tokenizer_dir,omitempty" mapstructure:"tokenizer_dir"`
}

// Summary is what the job did.
type Summary struct {
	stage.Outcome
	RunID     string         `json:"run_id"`
	Input     string         `json:"input"`
	Tasks     int            `json:"tasks"`
	Samples   int            `json:"samples"`  // per task
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
	NotRun int `json:"not_run"`
	// InfraErrors are the rollouts that ended in an infrastructure error,
	// by cause.
	InfraErrors []stage.Cause `json:"infra_errors,omitempty"`
	Version     int64         `json:"version"` // rollouts version after the last commit
	Shard       string        `json:"shard,omitempty"`
}

// Job is the rollout stage.
var Job = &stage.Def[Config, Summary]{
	Info: stage.Info{Name: JobName,
		Short: "Run a policy model on every task N times through the agent loop in sandboxes, graded",
		Long: `Drives a policy model behind an OpenAI-compatible chat-completions endpoint
(policy.base_url, policy.model, the API key from the variable named by
policy.api_key_env) through the agent loop: tools bash, str_replace_editor
(view, create, str_replace, insert, undo_edit) and submit, in a fresh
sandbox per rollout. Commands that read git history (rollout.banned, default
git log, git show, git reflog, git clone) are refused and recorded. A run
stops at rollout.max_steps (default 100), rollout.max_context_tokens (default
81,920) or rollout.wall_time; the diff at that point is recorded as a forced
submission. Each rollout is graded (reward, resolved, test_report) and
committed to rollouts in batches of rollout.batch_size.

The run is resumable: its run id depends only on the model, the tasks and
the configuration, so after a crash the same command skips the (task,
sample) pairs already committed and runs the rest.`,
		Example: `  swelake policy serve --scripted &          # a stand-in model for a dry run
  swelake run rollout --set policy.base_url=http://127.0.0.1:8642/v1 --set policy.model=scripted
  swelake run rollout --samples 8 --concurrency 16 \
      --set policy.base_url=http://gpu-node:8000/v1 --set policy.model=Qwen/Qwen2.5-Coder-32B-Instruct`,
		Inputs:  []string{schemas.Tasks.Name, schemas.TaskValidations.Name},
		Outputs: []string{schemas.Rollouts.Name},
		Needs:   stage.Needs{Sandbox: true, Policy: true},
		Flags: []stage.Flag{
			{Name: "input", Key: "input", Usage: "tasks snapshot (table or table@version)"},
			{Name: "samples", Key: "samples", Usage: "rollouts per task (default rollout.samples, 4)"},
			{Name: "concurrency", Key: "concurrency", Usage: "rollouts at once (default rollout.concurrency, 2)"},
			{Name: "shard", Key: "shard", Usage: stage.ShardUsage},
		},
	},
	Defaults: func() Config {
		return Config{Input: schemas.Tasks.Name, OnlyValid: true, Samples: 4, MaxSteps: 100, MaxContextTokens: schemas.MaxContextTokens,
			WallTime: "30m", CommandTimeout: "3m", Reruns: 1, Concurrency: 2, BatchSize: 8}
	},
	Validate: validate,
	Plan:     plan,
	Run:      run,
	Print: func(w io.Writer, sum *Summary) error {
		if sum.Skipped {
			_, err := fmt.Fprintf(w, "rollout %s of %s: complete already (rollouts@%d): %d tasks × %d samples\n", sum.RunID, sum.Input, sum.Version, sum.Tasks, sum.Samples)
			return err
		}
		fmt.Fprintf(w, "rollout %s of %s: %d tasks × %d samples; %d already committed, %d run now in %d commits (rollouts@%d)\n",
			sum.RunID, sum.Input, sum.Tasks, sum.Samples, sum.Resumed, sum.Rollouts, sum.Commits, sum.Version)
		_, err := fmt.Fprintf(w, "  resolved %d of %d; exit reasons %s; %d steps (%.1f/s), %d API tokens, %d banned commands refused\n",
			sum.Resolved, sum.Rollouts, stage.Counts(sum.Exit), sum.Steps, sum.StepsPerS, sum.Tokens, sum.Banned)
		if err == nil && len(sum.InfraErrors) > 0 {
			_, err = fmt.Fprintf(w, "  infra errors: %s\n", stage.FormatCauses(sum.InfraErrors))
		}
		return err
	},
}

func validate(c *Config) error {
	c.Input = cmp.Or(c.Input, schemas.Tasks.Name)
	c.Samples, c.MaxSteps = cmp.Or(c.Samples, 4), cmp.Or(c.MaxSteps, 100)
	c.MaxContextTokens = cmp.Or(c.MaxContextTokens, schemas.MaxContextTokens)
	c.WallTime, c.CommandTimeout = cmp.Or(c.WallTime, "30m"), cmp.Or(c.CommandTimeout, "3m")
	c.Concurrency, c.BatchSize, c.Reruns = cmp.Or(c.Concurrency, 2), cmp.Or(c.BatchSize, 8), cmp.Or(c.Reruns, 1)
	if c.Banned == nil {
		c.Banned = agent.DefaultBanned()
	}
	for _, d := range []string{c.WallTime, c.CommandTimeout} {
		if _, err := time.ParseDuration(d); err != nil {
			return fmt.Errorf("duration %q: %w", d, err)
		}
	}
	if c.Samples < 1 || c.Concurrency < 1 || c.BatchSize < 1 || c.MaxSteps < 1 {
		return fmt.Errorf("samples %d, concurrency %d, batch_size %d, max_steps %d: each must be ≥ 1", c.Samples, c.Concurrency, c.BatchSize, c.MaxSteps)
	}
	_, err := stage.ParseShard(c.Shard)
	return err
}

// state is what plan hands to run.
type state struct {
	sandbox                stage.Sandbox
	policy                 stage.Endpoint
	snap                   *lake.Snapshot
	tasks                  []schemas.Task
	count                  func([]agent.Message) int64
	tools                  string // the tools offered, as the tools column holds them
	concurrency, batchSize int
}

func plan(ctx context.Context, env *stage.Env, cfg *Config) (stage.Plan, error) {
	st := &state{concurrency: cfg.Concurrency, batchSize: cfg.BatchSize}
	var err error
	if st.policy, err = env.Endpoint("policy"); err != nil {
		return stage.Plan{}, fmt.Errorf("rollout: %w", err)
	}
	if st.sandbox, err = stage.OpenSandbox(ctx, env); err != nil {
		return stage.Plan{}, fmt.Errorf("rollout: %w", err)
	}
	if st.snap, err = tables.Pin(ctx, env.Lake, cfg.Input, schemas.Tasks.Name); err != nil {
		return stage.Plan{}, fmt.Errorf("rollout: %w", err)
	}
	shard, _ := stage.ParseShard(cfg.Shard)
	inputs := []*lake.Snapshot{st.snap}
	if st.tasks, inputs, err = selectTasks(ctx, env, *cfg, shard, inputs); err != nil {
		return stage.Plan{}, err
	}
	tools, _ := json.Marshal(agent.Tools())
	st.tools = string(tools)
	st.count = contextCounter(env, env.Tokenizer(cfg.TokenizerDir), st.tools)
	cfg.Model = st.policy.Model
	cfg.Input, cfg.Concurrency, cfg.BatchSize, cfg.Shard, cfg.TokenizerDir = "", 0, 0, "", ""
	return stage.Plan{Inputs: inputs, Shard: shard, IDPrefix: "rollout", State: st}, nil
}

func run(ctx context.Context, r *stage.Run[Config]) (Summary, error) {
	st, cfg, env := r.Plan.State.(*state), r.Config, r.Env
	sum := Summary{RunID: r.ID, Input: st.snap.Ref().String(), Tasks: len(st.tasks), Samples: cfg.Samples, Exit: map[string]int{}, Shard: r.Plan.Shard.String()}
	r.Prov.Sandbox, r.Prov.Endpoint = exec.Isolation(st.sandbox.Backend), agent.Redact(st.policy.BaseURL)
	done, version, err := committed(ctx, env, r.ID)
	if err != nil {
		return sum, err
	}
	sum.Version = version
	var todo []pair
	for i := range st.tasks {
		for s := range cfg.Samples {
			sum.Pairs++
			if done[st.tasks[i].TaskID+"\x00"+fmt.Sprint(s)] {
				sum.Resumed++
				continue
			}
			todo = append(todo, pair{&st.tasks[i], s})
		}
	}
	env.Logger.Info("rollout", "run_id", r.ID, "tasks", len(st.tasks), "pairs", sum.Pairs, "resumed", sum.Resumed, "to_run", len(todo))
	warm := make([]*schemas.Task, len(todo))
	for i, p := range todo {
		warm[i] = p.task
	}
	st.sandbox.Warm(ctx, warm, env.Logger)
	err = st.sandbox.Pool(ctx, st.concurrency, env.Logger, func(pool *exec.Pool) error {
		// The agent's sandbox of each rollout is opened ahead (its
		// grading's opens when the episode ends).
		for i, p := range todo {
			if ws, err := taskexec.TaskWorkspace(st.sandbox.ReposDir, p.task); err == nil {
				pool.Expect(i, ws)
			}
		}
		return drive(ctx, r, st, pool, todo, &sum)
	})
	if sum.Version >= 0 {
		r.Committed(schemas.Rollouts.Name, sum.Version)
	}
	return sum, err
}

// drive runs the rollouts of todo, at most concurrency at once, and
// commits them in batches as they finish: a crash loses at most the batch
// in flight, and what finished is committed even when the run is stopped.
// An endpoint that cannot answer stops the run from starting more
// rollouts; those in flight finish (or meet the outage too), and none that
// met it is committed.
func drive(ctx context.Context, r *stage.Run[Config], st *state, pool *exec.Pool, todo []pair, sum *Summary) error {
	cfg, env := r.Config, r.Env
	results := make(chan finished)
	var outage atomic.Pointer[error]
	var notRun atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(results)
		w, wctx := errgroup.WithContext(gctx)
		w.SetLimit(st.concurrency)
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
				defer pool.Done(i)
				ro, err := one(wctx, env, st, st.sandbox.Item(pool, i), cfg, r.ID, p)
				if errors.Is(err, agent.ErrUnavailable) {
					outage.CompareAndSwap(nil, &err)
					notRun.Add(1)
					env.Logger.Warn("rollout: not run, the endpoint could not answer", "task", p.task.TaskID, "sample", p.sample, "err", err)
					return nil
				}
				if err != nil {
					return err
				}
				select {
				case results <- ro:
					return nil
				case <-wctx.Done():
					return wctx.Err()
				}
			})
		}
		return w.Wait()
	})
	commitErr := collect(ctx, r, st, results, len(todo), sum)
	werr := g.Wait()
	sum.NotRun = int(notRun.Load())
	if err := cmp.Or(werr, commitErr); err != nil {
		return err
	}
	if e := outage.Load(); e != nil {
		return fmt.Errorf("rollout %s: %d of %d rollouts not run, the policy endpoint %s could not answer (%d committed; run again to run the rest): %w",
			r.ID, sum.NotRun, len(todo), agent.Redact(st.policy.BaseURL), sum.Rollouts, *e)
	}
	return nil
}

// collect counts the finished rollouts and commits them in batches.
func collect(ctx context.Context, r *stage.Run[Config], st *state, results <-chan finished, total int, sum *Summary) error {
	var p stage.Progress
	if r.Env.Progress != nil {
		p = r.Env.Progress(JobName)
		defer p.Finish()
	}
	start := time.Now()
	var batch []finished
	var commitErr error
	flush := func() {
		if len(batch) == 0 || commitErr != nil {
			return
		}
		v, err := commitBatch(context.WithoutCancel(ctx), r, batch)
		if err != nil {
			commitErr = err
			return
		}
		sum.Version = v
		sum.Commits++
		batch = nil
	}
	var infra stage.Causes
	defer func() { sum.InfraErrors = infra.List() }()
	for ro := range results {
		sum.Rollouts++
		sum.Exit[ro.ExitReason]++
		sum.Steps += int(ro.NumTurns)
		if ro.Resolved != nil && *ro.Resolved {
			sum.Resolved++
		}
		var raw struct {
			Usage  agent.Usage `json:"usage"`
			Banned []string    `json:"banned"`
		}
		json.Unmarshal(ro.raw, &raw)
		sum.Tokens += raw.Usage.TotalTokens
		if ro.InfraError {
			var e struct {
				Error string `json:"error"`
			}
			json.Unmarshal(ro.raw, &e)
			infra.Add(cmp.Or(e.Error, "infra error"))
		}
		sum.Banned += len(raw.Banned)
		batch = append(batch, ro)
		if len(batch) >= st.batchSize {
			flush()
		}
		if p != nil {
			p.Set(sum.Rollouts, total)
		}
	}
	flush() // what finished is kept, even when the run was interrupted
	if el := time.Since(start).Seconds(); el > 0 {
		sum.StepsPerS = float64(sum.Steps) / el
	}
	return commitErr
}

// selectTasks reads the tasks to run and the snapshots they came from.
func selectTasks(ctx context.Context, env *stage.Env, cfg Config, shard stage.Shard, inputs []*lake.Snapshot) ([]schemas.Task, []*lake.Snapshot, error) {
	var valid map[string]bool
	if cfg.OnlyValid {
		vsnap, err := tables.Pin(ctx, env.Lake, schemas.TaskValidations.Name, schemas.TaskValidations.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("rollout: %w", err)
		}
		if vsnap.Rows() == 0 {
			return nil, nil, errors.New("rollout: only_valid is set but task_validations is empty: run `swelake run validate-tasks` first, or --set rollout.only_valid=false")
		}
		inputs = append(inputs, vsnap)
		latest := map[string]schemas.TaskValidation{}
		for v, err := range lake.ReadRows[schemas.TaskValidation](ctx, env.Lake, vsnap) {
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
	var only map[string]bool
	if len(cfg.TaskIDs) > 0 {
		only = map[string]bool{}
		for _, id := range cfg.TaskIDs {
			only[id] = true
		}
	}
	var tasks []schemas.Task
	for t, err := range lake.ReadRows[schemas.Task](ctx, env.Lake, inputs[0]) {
		if err != nil {
			return nil, nil, err
		}
		if (cfg.Source == "" || t.Source == cfg.Source) && (valid == nil || valid[t.TaskID]) && shard.Owns(t.TaskID) &&
			(only == nil || only[t.TaskID]) {
			tasks = append(tasks, t)
		}
	}
	slices.SortFunc(tasks, func(a, b schemas.Task) int { return strings.Compare(a.TaskID, b.TaskID) })
	return tasks, inputs, nil
}

// committed lists the (task, sample) pairs of the run already in the lake,
// reading only the files of the run's partition.
func committed(ctx context.Context, env *stage.Env, runID string) (map[string]bool, int64, error) {
	s, err := tables.Pin(ctx, env.Lake, schemas.Rollouts.Name, schemas.Rollouts.Name)
	if err != nil {
		return nil, -1, err
	}
	done := map[string]bool{}
	for r, err := range lake.ReadRows[schemas.Rollout](ctx, env.Lake, s.InPartition(lake.Partition{"run_id": runID})) {
		if err != nil {
			return nil, -1, err
		}
		done[r.TaskID+"\x00"+fmt.Sprint(r.SampleIdx)] = true
	}
	if len(done) == 0 {
		return done, -1, nil
	}
	return done, s.Version, nil
}

// commitBatch commits one batch under a run key of its own (the run's,
// with the hash of the batch's rollout ids).
func commitBatch(ctx context.Context, r *stage.Run[Config], batch []finished) (int64, error) {
	ids := make([]string, len(batch))
	for i, ro := range batch {
		ids[i] = ro.RolloutID
	}
	rows, err := storeRaw(ctx, r, batch)
	if err != nil {
		return -1, err
	}
	slices.Sort(ids)
	h := sha256.Sum256([]byte(strings.Join(ids, "\n")))
	t, err := r.Env.Lake.Table(schemas.Rollouts.Name)
	if err != nil {
		return -1, err
	}
	prov := r.Provenance()
	prov.RunKey += "/" + hex.EncodeToString(h[:8])
	if c, done, err := t.Committed(ctx, prov.RunKey); err != nil {
		return -1, fmt.Errorf("rollout %s: %w", r.ID, err)
	} else if done { // an earlier attempt committed this batch
		return c.Version, nil
	}
	opts := lake.WriteOptions{CodeVersion: r.Env.CodeVersion, OnDuplicate: r.Env.OnDuplicate}
	res, _, err := t.AppendKeyed(ctx, func(ctx context.Context) (lake.Files, error) {
		return lake.WriteFiles(ctx, t, tables.Spec(schemas.Rollouts), lake.Slice(rows), opts)
	}, prov)
	if err != nil {
		return -1, fmt.Errorf("rollout %s: commit: %w", r.ID, err)
	}
	r.Env.Logger.Info("rollout: committed batch", "run_id", r.ID, "rollouts", len(batch), "version", res.Commit.Version)
	return res.Commit.Version, nil
}

// finished is a rollout and its raw record (JSON: tool calls with their
// timings, usage, banned commands, the error), stored as a raw source when
// its batch is committed.
type finished struct {
	schemas.Rollout
	raw []byte
}

// storeRaw stores a batch's raw records as one raw source (JSON lines) and
// points each row at its line.
func storeRaw(ctx context.Context, r *stage.Run[Config], batch []finished) ([]schemas.Rollout, error) {
	var pack bytes.Buffer
	rows := make([]schemas.Rollout, len(batch))
	for i, f := range batch {
		rows[i] = f.Rollout
		rows[i].RawRef = schemas.RawRef{Offset: int64(pack.Len()), Length: int64(len(f.raw))}
		pack.Write(f.raw)
		pack.WriteByte('\n')
	}
	sum := sha256.Sum256(pack.Bytes())
	hexSum := hex.EncodeToString(sum[:])
	if _, _, err := r.Env.Lake.PutRaw(ctx, bytes.NewReader(pack.Bytes()), hexSum); err != nil {
		return nil, fmt.Errorf("rollout %s: %w", r.ID, err)
	}
	for i := range rows {
		rows[i].RawRef.SHA256 = hexSum
	}
	return rows, nil
}

type pair struct {
	task   *schemas.Task
	sample int
}

// System is the system prompt of every rollout.
const System = `You are an expert software engineer working in a repository checked out at /workspace.
Resolve the issue below by editing the library code. Tools: bash (run commands; no network),
str_replace_editor (view, create, str_replace, insert, undo_edit) and submit. Reproduce the issue,
fix it, run the tests, then call submit. Do not modify the tests. Commands that read the
repository's history (git log, git show, git reflog, git clone) are not available.`

// Prompt is the user message of a task whose tests run with testCmd (the
// task's resolved command: SWE-bench rows carry none).
func Prompt(t *schemas.Task, testCmd string) string {
	return fmt.Sprintf("Repository: %s %s\n\n<issue>\n%s\n</issue>\n\nThe tests run with: %s", t.Repo, agent.TaskMarker(t.TaskID), strings.TrimSpace(t.ProblemStatement), testCmd)
}

// Seed is the sampling seed of one sample.
func Seed(base int64, taskID string, sample int) int64 {
	h := sha256.Sum256(fmt.Appendf(nil, "%d\x00%s\x00%d", base, taskID, sample))
	return int64(binary.BigEndian.Uint64(h[:8]) >> 1) // non-negative: some servers reject negative seeds
}

// one runs and grades one rollout.
func one(ctx context.Context, env *stage.Env, st *state, sbx stage.Sandbox, cfg Config, runID string, p pair) (finished, error) {
	t := p.task
	seed := Seed(cfg.Seed, t.TaskID, p.sample)
	r := schemas.Rollout{RolloutID: fmt.Sprintf("%s/%s/%d", runID, t.TaskID, p.sample), TaskID: t.TaskID, RunID: runID, Policy: cfg.Model,
		SampleIdx: int32(p.sample), Source: Source}
	wall, _ := time.ParseDuration(cfg.WallTime)
	cmdTimeout, _ := time.ParseDuration(cfg.CommandTimeout)
	raw := map[string]any{"tools": agent.Tools(), "seed": seed, "endpoint": agent.Redact(st.policy.BaseURL), "model": cfg.Model}
	ws, err := taskexec.TaskWorkspace(st.sandbox.ReposDir, t)
	te := st.sandbox.TestEnv(t)
	prompt := Prompt(t, te.TestCmd)
	var tr agent.Trajectory
	if err == nil {
		var sb exec.Sandbox
		sb, err = sbx.Backend.Open(ctx, ws)
		if err == nil {
			raw["isolated"] = sb.Isolated()
			tr, err = agent.Run(ctx, st.policy.Client, sb, agent.Episode{System: System, User: prompt, Seed: &seed,
				Limits:      agent.Limits{MaxSteps: cfg.MaxSteps, MaxContextTokens: cfg.MaxContextTokens, WallTime: wall, CommandTimeout: cmdTimeout, Banned: cfg.Banned},
				CountTokens: st.count})
			sb.Close(context.WithoutCancel(ctx))
			if ctx.Err() != nil {
				return finished{}, ctx.Err()
			}
			if errors.Is(err, agent.ErrUnavailable) {
				return finished{}, err
			}
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return finished{}, ctx.Err()
		}
		tr.ExitReason, tr.Error = agent.ExitInfraError, err.Error()
		tr.Messages = []agent.Message{{Role: "system", Content: agent.Str(System)}, {Role: "user", Content: agent.Str(prompt)}}
	}
	r.Messages = messages(tr.Messages)
	r.NumTurns = int32(tr.Steps)
	if tr.Context > 0 {
		r.Tokens = &tr.Context
	}
	r.ExitReasonRaw, r.Patch, r.Submitted = tr.ExitReason, tr.Patch, tr.Submitted
	r.InfraError = tr.ExitReason == agent.ExitInfraError
	r.Tools = st.tools
	raw["calls"], raw["usage"], raw["banned"], raw["error"] = tr.Calls, tr.Usage, tr.Banned, tr.Error
	raw["timings_ms"] = map[string]int64{"total": tr.Duration.Milliseconds(), "model": tr.ModelTime.Milliseconds(), "tools": tr.ToolTime.Milliseconds()}
	if !cfg.SkipGrading && !r.InfraError {
		g, err := exec.GradePatch(ctx, sbx.Backend, exec.GradeSpec{Workspace: ws, TestPatch: []byte(t.TestPatch), Patch: []byte(r.Patch),
			TestCmd: te.Script(), Framework: te.LogParser, FailToPass: t.FailToPass, PassToPass: t.PassToPass, Reruns: cfg.Reruns})
		if ctx.Err() != nil {
			return finished{}, ctx.Err()
		}
		if err != nil {
			env.Logger.Warn("rollout: grading failed", "rollout", r.RolloutID, "err", err)
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
	schemas.FinishRollout(&r)
	rawJSON, _ := json.Marshal(raw)
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s", r.RolloutID, r.Patch, r.ExitReasonRaw, rawJSON))
	r.ContentHash = hex.EncodeToString(h[:])
	env.Logger.Debug("rollout done", "rollout", r.RolloutID, "exit", r.ExitReason, "steps", r.NumTurns)
	return finished{Rollout: r, raw: rawJSON}, nil
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
func contextCounter(env *stage.Env, dir, tools string) func([]agent.Message) int64 {
	if dir == "" {
		return nil
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		env.Logger.Warn("rollout: no tokenizer to count the context where the endpoint reports no usage", "err", err)
		return nil
	}
	tmpl, err := chattemplate.Parse(tok.Config().ChatTemplate)
	if err != nil {
		env.Logger.Warn("rollout: the tokenizer's chat template does not parse; counting with the endpoint's usage only", "err", err)
		return nil
	}
	return func(msgs []agent.Message) int64 {
		text, err := tmpl.RenderChat(chattemplate.ChatOf(schemas.Rollout{Messages: messages(msgs), Tools: tools}, tok.Config()))
		if err != nil {
			return 0
		}
		return int64(len(tok.Encode(text)))
	}
}
