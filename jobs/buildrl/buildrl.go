// Package buildrl is the job behind `swelake run build-rl`: graded rollouts
// grouped by task (K per group), rewards shaped, advantages computed
// (RLOO/GRPO), zero-signal groups dropped, optionally filtered by the
// curriculum bands of task_stats; written to rl_samples, plus a
// verl-compatible RL Parquet of the tasks for the next iteration's rollouts.
package buildrl

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/swelake/swelake/jobs"
	"github.com/swelake/swelake/jobs/curate"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/chattemplate"
	"github.com/swelake/swelake/trainer/rl"
	"github.com/swelake/swelake/trainer/sft"
	"github.com/swelake/swelake/trainer/tokcache"
	"github.com/swelake/swelake/trainer/tokenizer"
)

// JobName is recorded in the provenance of every commit of this job.
const JobName = "build-rl"

// Config is the job's typed configuration.
type Config struct {
	Input     string `json:"input" mapstructure:"input"` // rollouts snapshot (default rollouts@latest)
	Iteration int64  `json:"iteration" mapstructure:"iteration"`
	// K rollouts per group (0: every rollout of the task and policy); groups
	// with fewer than K are dropped when K > 0.
	K         int    `json:"k" mapstructure:"k"`
	Estimator string `json:"estimator" mapstructure:"estimator"` // rloo (default), grpo, grpo_no_std
	// Shaping: forced-submission α, exit reasons, DAPO overlong penalty.
	ForcedAlpha       float64     `json:"forced_alpha" mapstructure:"forced_alpha"`
	ForcedExitReasons []string    `json:"forced_exit_reasons" mapstructure:"forced_exit_reasons"`
	InfraExitReasons  []string    `json:"infra_exit_reasons" mapstructure:"infra_exit_reasons"`
	Overlong          rl.Overlong `json:"overlong" mapstructure:"overlong"`
	// LMax is the constant length normaliser recorded with the batch
	// (default 81,920).
	LMax int64 `json:"l_max" mapstructure:"l_max"`
	// Bands keeps only tasks whose task_stats band is listed (needs a
	// curation with bands configured); empty: no curriculum filter.
	Bands      []string `json:"bands" mapstructure:"bands"`
	CurationID string   `json:"curation_id" mapstructure:"curation_id"` // task_stats to read (default: latest)
	// TokenizerDir: token ids and loss masks per sample ("" : none).
	TokenizerDir string `json:"-" mapstructure:"tokenizer_dir"`
	// VerlOut is a file to write the verl RL Parquet of the batch's tasks
	// to ("": none).
	VerlOut string `json:"-" mapstructure:"verl_out"`

	jobs.Runtime `json:"-" mapstructure:"-"`
}

// Summary is what the job did.
type Summary struct {
	BatchID       string         `json:"batch_id"`
	Input         string         `json:"input"`
	Groups        int            `json:"groups"`
	Samples       int            `json:"samples"`
	DroppedGroups map[string]int `json:"dropped_groups"` // reason → groups
	Masked        int            `json:"masked"`
	Shaped        map[string]int `json:"shaped"`
	Version       int64          `json:"version"`
	Skipped       bool           `json:"skipped"`
	VerlFile      string         `json:"verl_file,omitempty"`
	VerlTasks     int            `json:"verl_tasks,omitempty"`
	// TokenCache: rendered chats whose ids came from the token cache (hits)
	// or were tokenised by this run (misses); nil without a tokenizer.
	TokenCache *tokcache.Stats `json:"token_cache,omitempty"`
}

// Run builds the batch.
func Run(ctx context.Context, l *lake.Lake, cfg Config) (Summary, error) {
	sum := Summary{DroppedGroups: map[string]int{}, Shaped: map[string]int{}, Version: -1}
	cfg.Runtime = cfg.Runtime.WithDefaults()
	if cfg.LMax <= 0 {
		cfg.LMax = 81920
	}
	if cfg.Estimator == "" {
		cfg.Estimator = rl.RLOO
	}
	if !slices.Contains([]string{rl.RLOO, rl.GRPO, rl.GRPONoStd}, cfg.Estimator) {
		return sum, fmt.Errorf("build-rl: estimator %q: rloo, grpo or grpo_no_std", cfg.Estimator)
	}
	if cfg.K < 0 {
		return sum, fmt.Errorf("build-rl: k %d: the group size must be ≥ 0", cfg.K)
	}
	if err := cfg.InitTables(ctx, l); err != nil {
		return sum, err
	}
	ref, err := lake.ParseRef(cmp.Or(cfg.Input, schemas.Rollouts.Name))
	if err != nil || ref.Table != schemas.Rollouts.Name {
		return sum, fmt.Errorf("build-rl: input %q: a rollouts snapshot", cfg.Input)
	}
	rt, err := l.Table(ref.Table)
	if err != nil {
		return sum, err
	}
	snap, err := rt.Snapshot(ctx, ref.Version)
	if err != nil {
		return sum, fmt.Errorf("build-rl: input: %w", err)
	}
	sum.Input = snap.Ref().String()
	inputs := []string{sum.Input}

	var tok *tokenizer.Tokenizer
	var tmpl *chattemplate.Template
	if cfg.TokenizerDir != "" {
		if tok, err = tokenizer.Load(cfg.TokenizerDir); err != nil {
			return sum, fmt.Errorf("build-rl: %w", err)
		}
		if tmpl, err = chattemplate.Parse(tok.Config().ChatTemplate); err != nil {
			return sum, fmt.Errorf("build-rl: chat template: %w", err)
		}
	}
	stats, statsRef, err := readStats(ctx, l, cfg)
	if err != nil {
		return sum, err
	}
	if statsRef != "" {
		inputs = append(inputs, statsRef)
	}
	cfgHash, err := jobs.ConfigHash(struct {
		Cfg       Config
		Inputs    []string
		Tokenizer string
	}{cfg, inputs, identity(tok)})
	if err != nil {
		return sum, err
	}
	sum.BatchID = fmt.Sprintf("rl-%d-%s", cfg.Iteration, cfgHash[:12])
	runKey := JobName + "/" + sum.BatchID
	st, err := l.Table(schemas.RLSamples.Name)
	if err != nil {
		return sum, err
	}
	if c, done, err := st.Committed(ctx, runKey); err != nil {
		return sum, err
	} else if done {
		sum.Skipped, sum.Version = true, c.Version
		return sum, nil
	}

	groups := map[string][]schemas.Rollout{}
	for r, err := range jobs.ReadRows[schemas.Rollout](ctx, l, snap, cfg.CacheDir) {
		if err != nil {
			return sum, err
		}
		if r.TaskID == "" {
			continue
		}
		key := r.TaskID + "|" + r.Policy
		groups[key] = append(groups[key], r)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var cache *tokcache.Cache
	if tok != nil {
		if cache, err = tokcache.Open(cfg.CacheDir, tok); err != nil {
			return sum, fmt.Errorf("build-rl: %w", err)
		}
		defer cache.Close() // on error paths; sealed explicitly below
	}
	opts := rl.Options{ForcedAlpha: cfg.ForcedAlpha, ForcedExitReasons: cfg.ForcedExitReasons, InfraExitReasons: cfg.InfraExitReasons, Overlong: cfg.Overlong}
	var out []schemas.RLSample
	taskIDs := map[string]bool{}
	for _, key := range keys {
		g := groups[key]
		slices.SortFunc(g, func(a, b schemas.Rollout) int {
			return cmp.Or(cmp.Compare(a.SampleIdx, b.SampleIdx), cmp.Compare(a.RolloutID, b.RolloutID))
		})
		if cfg.K > 0 {
			if len(g) < cfg.K {
				sum.DroppedGroups[fmt.Sprintf("fewer than k=%d rollouts", cfg.K)]++
				continue
			}
			g = g[:cfg.K]
		}
		st, known := stats[[2]string{g[0].TaskID, g[0].Policy}]
		if len(cfg.Bands) > 0 && (!known || !slices.Contains(cfg.Bands, st.Band)) {
			sum.DroppedGroups["outside the curriculum bands"]++
			continue
		}
		samples, err := groupSamples(g, opts, cfg, cache, tmpl)
		if err != nil {
			return sum, err
		}
		rewards := make([]float64, len(samples))
		in := make([]bool, len(samples))
		for i, s := range samples {
			rewards[i], in[i] = s.RewardShaped, s.InBaseline
		}
		adv, err := rl.Advantages(rewards, in, cfg.Estimator)
		if err != nil {
			return sum, err
		}
		if rl.AllZero(adv) {
			sum.DroppedGroups["all advantages zero"]++
			continue
		}
		for i := range samples {
			samples[i].Advantage = adv[i]
			samples[i].BatchID = sum.BatchID
			samples[i].GroupID = key
			if known {
				p := st.PassRate
				samples[i].PassRate = &p
			}
			if !samples[i].InBaseline {
				sum.Masked++
			}
			if samples[i].Shaping != "" {
				sum.Shaped[samples[i].Shaping]++
			}
		}
		sum.Groups++
		sum.Samples += len(samples)
		taskIDs[g[0].TaskID] = true
		out = append(out, samples...)
	}
	if cache != nil {
		st := cache.Finish(cfg.Logger)
		sum.TokenCache = &st
	}
	sum.Version, err = jobs.Commit(ctx, st, schemas.RLSamples, out, cfg.Runtime, lake.Provenance{Job: JobName, RunKey: runKey, ConfigHash: cfgHash, Inputs: inputs})
	if err != nil {
		return sum, fmt.Errorf("build-rl: %w", err)
	}
	if cfg.VerlOut != "" {
		n, err := writeVerlRL(ctx, l, cfg, taskIDs)
		if err != nil {
			return sum, err
		}
		sum.VerlFile, sum.VerlTasks = cfg.VerlOut, n
	}
	cfg.Logger.Info("built rl batch", "batch_id", sum.BatchID, "groups", sum.Groups, "samples", sum.Samples)
	return sum, nil
}

func identity(t *tokenizer.Tokenizer) string {
	if t == nil {
		return ""
	}
	return t.Identity()
}

func groupSamples(g []schemas.Rollout, opts rl.Options, cfg Config, tok *tokcache.Cache, tmpl *chattemplate.Template) ([]schemas.RLSample, error) {
	out := make([]schemas.RLSample, len(g))
	for i, r := range g {
		reward := 0.0
		if r.Reward != nil {
			reward = *r.Reward
		} else if r.Resolved != nil && *r.Resolved {
			reward = 1
		}
		resolved := r.Resolved != nil && *r.Resolved
		s := schemas.RLSample{Iteration: cfg.Iteration, RolloutID: r.RolloutID, TaskID: r.TaskID, Policy: r.Policy,
			ExitReason: r.ExitReason, RewardRaw: reward, Estimator: cfg.Estimator, LMax: cfg.LMax, MaskRule: "assistant"}
		var ex sft.Example
		if tok != nil {
			var err error
			ex, err = sft.Build(tok, tmpl, jobs.ChatOf(r, tok.Config()), sft.Options{})
			if err != nil && !errors.Is(err, sft.ErrNoAssistant) {
				return nil, fmt.Errorf("build-rl: rollout %s: %w", r.RolloutID, err)
			}
			s.InputIDs, s.LossMask, s.NumTokens = ex.InputIDs, ex.LossMask, int64(len(ex.InputIDs))
		} else if r.Tokens != nil {
			s.NumTokens = *r.Tokens
		}
		shaped := rl.Shape(rl.Sample{RolloutID: r.RolloutID, ExitReason: r.ExitReason, Reward: reward, Resolved: resolved,
			InfraError: r.InfraError, NumTokens: int(s.NumTokens), Forced: r.Forced}, opts)
		s.RewardShaped, s.Shaping, s.InBaseline = shaped.Reward, shaped.Shaping, !shaped.Masked
		if shaped.Masked {
			s.MaskRule = "zero:" + shaped.MaskReason
			s.LossMask = make([]int32, len(s.InputIDs))
		}
		out[i] = s
	}
	return out, nil
}

func readStats(ctx context.Context, l *lake.Lake, cfg Config) (map[[2]string]schemas.TaskStat, string, error) {
	out := map[[2]string]schemas.TaskStat{}
	t, err := l.Table(schemas.TaskStats.Name)
	if err != nil {
		return nil, "", err
	}
	s, err := t.Snapshot(ctx, lake.Latest)
	if err != nil {
		return nil, "", err
	}
	if s.Rows() == 0 {
		if len(cfg.Bands) > 0 {
			return nil, "", errors.New("build-rl: bands need task_stats: run swelake run curate with difficulty.bands first")
		}
		return out, "", nil
	}
	id := cfg.CurationID
	if id == "" {
		log, err := t.Log(ctx, s.Version, s.Version)
		if err != nil || len(log) == 0 {
			return nil, "", fmt.Errorf("build-rl: read task_stats log: %v", err)
		}
		var ok bool
		if id, ok = curate.IDFromRunKey(log[0].Provenance.RunKey, schemas.TaskStats.Name); !ok {
			return nil, "", fmt.Errorf("build-rl: %s was not written by curate (run key %q)", s.Ref(), log[0].Provenance.RunKey)
		}
	}
	for r, err := range jobs.ReadRows[schemas.TaskStat](ctx, l, s, cfg.CacheDir) {
		if err != nil {
			return nil, "", err
		}
		if r.CurationID == id {
			out[[2]string{r.TaskID, r.Policy}] = r
		}
	}
	return out, s.Ref().String(), nil
}

// verlMessage, verlReward and verlRow are verl's RL data layout
// (data_source, prompt, ability, reward_model, extra_info).
type verlMessage struct {
	Role    string `parquet:"role"`
	Content string `parquet:"content"`
}

type verlReward struct {
	Style       string `parquet:"style"`
	GroundTruth string `parquet:"ground_truth"` // JSON: FAIL_TO_PASS, PASS_TO_PASS, gold patch
}

type verlExtra struct {
	Index            int64    `parquet:"index"`
	TaskID           string   `parquet:"task_id"`
	InstanceID       string   `parquet:"instance_id"`
	Repo             string   `parquet:"repo"`
	BaseCommit       string   `parquet:"base_commit"`
	ProblemStatement string   `parquet:"problem_statement"`
	Image            string   `parquet:"image"`
	TestCmd          string   `parquet:"test_cmd"`
	FailToPass       []string `parquet:"FAIL_TO_PASS,list"`
	PassToPass       []string `parquet:"PASS_TO_PASS,list"`
	Task             string   `parquet:"task"` // the task row, JSON
}

type verlRow struct {
	DataSource  string        `parquet:"data_source"`
	Prompt      []verlMessage `parquet:"prompt,list"`
	Ability     string        `parquet:"ability"`
	RewardModel verlReward    `parquet:"reward_model"`
	ExtraInfo   verlExtra     `parquet:"extra_info"`
}

func writeVerlRL(ctx context.Context, l *lake.Lake, cfg Config, taskIDs map[string]bool) (int, error) {
	t, err := l.Table(schemas.Tasks.Name)
	if err != nil {
		return 0, err
	}
	s, err := t.Snapshot(ctx, lake.Latest)
	if err != nil {
		return 0, err
	}
	var rows []verlRow
	for task, err := range jobs.ReadRows[schemas.Task](ctx, l, s, cfg.CacheDir) {
		if err != nil {
			return 0, err
		}
		if !taskIDs[task.TaskID] {
			continue
		}
		task.Raw = nil
		gt, _ := json.Marshal(map[string]any{"FAIL_TO_PASS": task.FailToPass, "PASS_TO_PASS": task.PassToPass, "gold_patch": task.GoldPatch})
		tj, _ := json.Marshal(task)
		rows = append(rows, verlRow{
			DataSource:  task.Source,
			Prompt:      []verlMessage{{Role: "user", Content: task.ProblemStatement}},
			Ability:     "swe",
			RewardModel: verlReward{Style: "rule", GroundTruth: string(gt)},
			ExtraInfo: verlExtra{TaskID: task.TaskID, InstanceID: task.InstanceID, Repo: task.Repo, BaseCommit: task.BaseCommit,
				ProblemStatement: task.ProblemStatement, Image: task.Image, TestCmd: task.TestCmd, FailToPass: task.FailToPass,
				PassToPass: task.PassToPass, Task: string(tj)},
		})
	}
	slices.SortFunc(rows, func(a, b verlRow) int { return cmp.Compare(a.ExtraInfo.TaskID, b.ExtraInfo.TaskID) })
	for i := range rows {
		rows[i].ExtraInfo.Index = int64(i)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.VerlOut), 0o755); err != nil {
		return 0, err
	}
	f, err := os.Create(cfg.VerlOut)
	if err != nil {
		return 0, fmt.Errorf("build-rl: verl output: %w", err)
	}
	w := parquet.NewGenericWriter[verlRow](f, parquet.Compression(&zstd.Codec{Level: zstd.SpeedFastest}))
	if _, err := w.Write(rows); err != nil {
		f.Close()
		return 0, fmt.Errorf("build-rl: verl output: %w", err)
	}
	if err := w.Close(); err != nil {
		f.Close()
		return 0, err
	}
	return len(rows), f.Close()
}
