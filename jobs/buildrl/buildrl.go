// Package buildrl is the job behind `swelake run build-rl`: graded rollouts
// grouped by task (K per group), rewards shaped, advantages computed
// (RLOO/GRPO), zero-signal groups dropped, optionally filtered by the
// curriculum bands of task_stats; written to rl_samples, plus a
// verl-compatible RL Parquet of the tasks for the next iteration's rollouts.
package buildrl

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"io"
	"maps"
	"slices"

	"github.com/swelake/swelake/jobs/curate"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/jobs/tokcache"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/chattemplate"
	"github.com/swelake/swelake/trainer/rl"
	"github.com/swelake/swelake/trainer/sft"
	"github.com/swelake/swelake/trainer/tokenizer"
)

// JobName is recorded in the provenance of every commit of this job.
const JobName = "build-rl"

// Config is the job's typed configuration.
type Config struct {
	Input string `json:"input" mapstructure:"input"` // rollouts snapshot (default rollouts@latest)
	// RunID keeps only the rollouts of one run ("" : all): an RL loop's
	// iteration builds its batch from its own rollouts.
	RunID     string `json:"run_id,omitempty" mapstructure:"run_id"`
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
	// (default schemas.MaxContextTokens).
	LMax int64 `json:"l_max" mapstructure:"l_max"`
	// Bands keeps only tasks whose task_stats band is listed (needs a
	// curation with bands configured); empty: no curriculum filter.
	Bands      []string `json:"bands" mapstructure:"bands"`
	CurationID string   `json:"curation_id" mapstructure:"curation_id"` // task_stats to read (default: latest)
	// TokenizerDir: token ids and loss masks per sample ("" : none); its
	// identity, not its path, keys the batch.
	TokenizerDir string `json:"tokenizer_dir,omitempty" mapstructure:"tokenizer_dir"`
	// VerlOut is a file to write the verl RL Parquet of the batch's tasks
	// to ("": none); not part of the batch's identity.
	VerlOut string `json:"verl_out,omitempty" mapstructure:"verl_out"`
	// VerlLayout is the layout of that file: "swelake" (default: the prompt
	// the rollouts started from, the task and the batch's samples) or
	// "swe-master" (SWE-Master's rLLM rows: extra_info is the task row).
	VerlLayout string `json:"verl_layout,omitempty" mapstructure:"verl_layout"`
	// KeepZeroAdvantage keeps groups whose advantages are all zero (every
	// sample rewarded alike: no learning signal, only compute). Default
	// false: they are dropped and counted, as DAPO's dynamic sampling does.
	KeepZeroAdvantage bool `json:"keep_zero_advantage" mapstructure:"keep_zero_advantage"`
	// Reward is what each sample's reward is: the graded tests (default),
	// SWE-RL's patch similarity, a verifier's predicted reward, or a mix.
	Reward RewardConfig `json:"reward" mapstructure:"reward"`
}

// Summary is what the job did.
type Summary struct {
	stage.Outcome
	BatchID       string         `json:"batch_id"`
	Input         string         `json:"input"`
	Groups        int            `json:"groups"`
	Samples       int            `json:"samples"`
	DroppedGroups map[string]int `json:"dropped_groups"` // reason → groups
	Masked        int            `json:"masked"`
	Shaped        map[string]int `json:"shaped"`
	Version       int64          `json:"version"`
	VerlFile      string         `json:"verl_file,omitempty"`
	VerlTasks     int            `json:"verl_tasks,omitempty"`
	// VerlUnknownTasks are tasks of the batch that are not in the tasks
	// table: their rows carry the task id and the prompt only.
	VerlUnknownTasks int `json:"verl_unknown_tasks,omitempty"`
	// TokenCache: rendered chats whose ids came from the token cache (hits)
	// or were tokenised by this run (misses); nil without a tokenizer.
	TokenCache *tokcache.Stats `json:"token_cache,omitempty"`
}

// Job is the build-rl stage.
var Job = &stage.Def[Config, Summary]{
	Info: stage.Info{Name: JobName,
		Short: "Group graded rollouts per task, shape rewards and compute advantages into rl_samples",
		Long: `Groups a rollouts snapshot by (task, policy), K per group, shapes rewards
(forced submission: a run cut off by a limit whose patch resolves gets
forced_alpha × reward, default 0.5; infrastructure errors get an all-zero
loss mask and stay out of the baseline; optional DAPO overlong penalty),
computes advantages (rloo: A_i = R_i − mean of the others; grpo; grpo_no_std),
drops groups whose advantages are all zero, and writes rl_samples with the
constant length normaliser l_max. --verl-out writes the batch's tasks as a
verl RL Parquet (data_source, prompt, ability, reward_model, extra_info;
--verl-layout swe-master for SWE-Master's rLLM rows) that
examples/verl/swelake_reward.py grades through swelake grade.`,
		Example: `  swelake run build-rl --iteration 1 --k 4
  swelake run build-rl --set build_rl.bands='["rl"]' --verl-out rl/iter-2.parquet --json`,
		Inputs:  []string{schemas.Rollouts.Name, schemas.TaskStats.Name},
		Outputs: []string{schemas.RLSamples.Name},
		Flags: []stage.Flag{
			{Name: "input", Key: "input", Usage: "rollouts snapshot (table or table@version)"},
			{Name: "estimator", Key: "estimator", Usage: "advantage estimator: rloo, grpo, grpo_no_std"},
			{Name: "iteration", Key: "iteration", Usage: "RL iteration number recorded with the batch"},
			{Name: "k", Key: "k", Usage: "rollouts per group (0: all of a task's)"},
			{Name: "verl-out", Key: "verl_out", Usage: "write the batch's tasks as a verl RL Parquet file here"},
			{Name: "verl-layout", Key: "verl_layout", Usage: "layout of --verl-out: swelake (prompt, task, samples) or swe-master (extra_info = the task row)"},
		},
	},
	Defaults: func() Config {
		return Config{Input: schemas.Rollouts.Name, Estimator: rl.RLOO, LMax: schemas.MaxContextTokens}
	},
	Validate: func(cfg *Config) error {
		cfg.Input = cmp.Or(cfg.Input, schemas.Rollouts.Name)
		cfg.Estimator = cmp.Or(cfg.Estimator, rl.RLOO)
		if cfg.LMax <= 0 {
			cfg.LMax = schemas.MaxContextTokens
		}
		if !slices.Contains([]string{rl.RLOO, rl.GRPO, rl.GRPONoStd}, cfg.Estimator) {
			return fmt.Errorf("estimator %q: rloo, grpo or grpo_no_std", cfg.Estimator)
		}
		if cfg.K < 0 {
			return fmt.Errorf("k %d: the group size must be ≥ 0", cfg.K)
		}
		if err := cfg.Reward.validate(); err != nil {
			return err
		}
		cfg.VerlLayout = cmp.Or(cfg.VerlLayout, LayoutSwelake)
		if cfg.VerlLayout != LayoutSwelake && cfg.VerlLayout != LayoutSWEMaster {
			return fmt.Errorf("verl_layout %q: %s or %s", cfg.VerlLayout, LayoutSwelake, LayoutSWEMaster)
		}
		return nil
	},
	Plan:  plan,
	Run:   run,
	After: writeVerl,
	Print: print,
}

// state is what plan hands to run and writeVerl.
type state struct {
	snap       *lake.Snapshot
	stats      map[[2]string]schemas.TaskStat
	tok        *tokenizer.Tokenizer
	tmpl       *chattemplate.Template
	verlOut    string
	verlLayout string
	// What run built, for the verl file (nil when the batch was complete
	// already: writeVerl reads it back).
	samples  []schemas.RLSample
	openings map[string]opening // by rollout id
	rewards  *rewardInputs
}

func plan(ctx context.Context, env *stage.Env, cfg *Config) (stage.Plan, error) {
	st := &state{verlOut: cfg.VerlOut, verlLayout: cfg.VerlLayout}
	var err error
	if st.snap, err = tables.Pin(ctx, env.Lake, cfg.Input, schemas.Rollouts.Name); err != nil {
		return stage.Plan{}, fmt.Errorf("build-rl: %w", err)
	}
	p := stage.Plan{Inputs: []*lake.Snapshot{st.snap}, IDPrefix: fmt.Sprintf("rl-%d", cfg.Iteration), State: st}
	if dir := env.Tokenizer(cfg.TokenizerDir); dir != "" {
		if st.tok, err = tokenizer.Load(dir); err != nil {
			return p, fmt.Errorf("build-rl: %w", err)
		}
		if st.tmpl, err = chattemplate.Parse(st.tok.Config().ChatTemplate); err != nil {
			return p, fmt.Errorf("build-rl: chat template: %w", err)
		}
		p.Identity = append(p.Identity, "tokenizer:"+st.tok.Identity())
	}
	if st.rewards, err = planRewards(ctx, env, &cfg.Reward, &p); err != nil {
		return p, err
	}
	var statsRef string
	if st.stats, statsRef, err = readStats(ctx, env.Lake, *cfg, env.Lake.CacheDir()); err != nil {
		return p, err
	}
	if statsRef != "" {
		p.Identity = append(p.Identity, statsRef)
	}
	cfg.TokenizerDir, cfg.VerlOut, cfg.VerlLayout = "", "", ""
	return p, nil
}

func run(ctx context.Context, r *stage.Run[Config]) (Summary, error) {
	st, cfg := r.Plan.State.(*state), r.Config
	sum := Summary{BatchID: r.ID, Input: st.snap.Ref().String(), DroppedGroups: map[string]int{}, Shaped: map[string]int{}}
	snap := st.snap
	if cfg.RunID != "" {
		snap = snap.InPartition(lake.Partition{"run_id": cfg.RunID})
	}
	groups, keys, err := group(ctx, r.Env, snap)
	if err != nil {
		return sum, err
	}
	var cache *tokcache.Cache
	if st.tok != nil {
		if cache, err = tokcache.Open(r.Env.Lake.CacheDir(), st.tok); err != nil {
			return sum, fmt.Errorf("build-rl: %w", err)
		}
		defer cache.Close() // on error paths; sealed by Finish below
	}
	var out []schemas.RLSample
	for _, key := range keys {
		samples, err := groupBatch(groups[key], key, r.ID, cfg, st, cache, &sum)
		if err != nil {
			return sum, err
		}
		out = append(out, samples...)
	}
	keepForVerl(st, out, groups)
	if cache != nil {
		stats := cache.Finish(r.Env.Logger)
		sum.TokenCache = &stats
	}
	stage.Emit(r, schemas.RLSamples, out)
	r.Env.Logger.Info("built rl batch", "batch_id", r.ID, "groups", sum.Groups, "samples", sum.Samples)
	return sum, nil
}

// group reads the rollouts by (task, policy), with the keys sorted.
func group(ctx context.Context, env *stage.Env, snap *lake.Snapshot) (map[string][]schemas.Rollout, []string, error) {
	groups := map[string][]schemas.Rollout{}
	for r, err := range lake.ReadRows[schemas.Rollout](ctx, env.Lake, snap) {
		if err != nil {
			return nil, nil, err
		}
		if r.TaskID == "" {
			continue
		}
		key := r.TaskID + "|" + r.Policy
		groups[key] = append(groups[key], r)
	}
	return groups, slices.Sorted(maps.Keys(groups)), nil
}

// groupBatch is one group's samples with their advantages (nil: the group
// is dropped, and the summary says why).
func groupBatch(g []schemas.Rollout, key, batchID string, cfg Config, st *state, cache *tokcache.Cache, sum *Summary) ([]schemas.RLSample, error) {
	slices.SortFunc(g, func(a, b schemas.Rollout) int {
		return cmp.Or(cmp.Compare(a.SampleIdx, b.SampleIdx), cmp.Compare(a.RolloutID, b.RolloutID))
	})
	if cfg.K > 0 {
		if len(g) < cfg.K {
			sum.DroppedGroups[fmt.Sprintf("fewer than k=%d rollouts", cfg.K)]++
			return nil, nil
		}
		g = g[:cfg.K]
	}
	stat, known := st.stats[[2]string{g[0].TaskID, g[0].Policy}]
	if len(cfg.Bands) > 0 && (!known || !slices.Contains(cfg.Bands, stat.Band)) {
		sum.DroppedGroups["outside the curriculum bands"]++
		return nil, nil
	}
	opts := rl.Options{ForcedAlpha: cfg.ForcedAlpha, ForcedExitReasons: cfg.ForcedExitReasons, InfraExitReasons: cfg.InfraExitReasons, Overlong: cfg.Overlong}
	samples, err := groupSamples(g, opts, cfg, cache, st.tmpl, st.rewards)
	if err != nil {
		return nil, err
	}
	rewards := make([]float64, len(samples))
	in := make([]bool, len(samples))
	for i, s := range samples {
		rewards[i], in[i] = s.RewardShaped, s.InBaseline
	}
	adv, err := rl.Advantages(rewards, in, cfg.Estimator)
	if err != nil {
		return nil, err
	}
	if rl.AllZero(adv) && !cfg.KeepZeroAdvantage {
		sum.DroppedGroups["all advantages zero"]++
		return nil, nil
	}
	for i := range samples {
		samples[i].Advantage, samples[i].BatchID, samples[i].GroupID = adv[i], batchID, key
		if known {
			p := stat.PassRate
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
	return samples, nil
}

func print(w io.Writer, sum *Summary) error {
	state := fmt.Sprintf("committed %s@%d", schemas.RLSamples.Name, sum.Version)
	if sum.Skipped {
		state = fmt.Sprintf("already in %s@%d", schemas.RLSamples.Name, sum.Version)
	}
	fmt.Fprintf(w, "rl batch %s from %s (%s): %d groups, %d samples, %d masked\n", sum.BatchID, sum.Input, state, sum.Groups, sum.Samples, sum.Masked)
	for _, reason := range slices.Sorted(maps.Keys(sum.DroppedGroups)) {
		fmt.Fprintf(w, "dropped groups: %d (%s)\n", sum.DroppedGroups[reason], reason)
	}
	for _, s := range slices.Sorted(maps.Keys(sum.Shaped)) {
		fmt.Fprintf(w, "shaped: %d (%s)\n", sum.Shaped[s], s)
	}
	if sum.VerlFile != "" {
		fmt.Fprintf(w, "wrote %s (%d tasks)\n", sum.VerlFile, sum.VerlTasks)
	}
	return nil
}

func groupSamples(g []schemas.Rollout, opts rl.Options, cfg Config, tok *tokcache.Cache, tmpl *chattemplate.Template, rewards *rewardInputs) ([]schemas.RLSample, error) {
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
			ex, err = sft.Build(tok, tmpl, chattemplate.ChatOf(r, tok.Config()), sft.Options{})
			if err != nil && !errors.Is(err, sft.ErrNoAssistant) {
				return nil, fmt.Errorf("build-rl: rollout %s: %w", r.RolloutID, err)
			}
			s.InputIDs, s.LossMask, s.NumTokens = ex.InputIDs, ex.LossMask, int64(len(ex.InputIDs))
		} else if r.Tokens != nil {
			s.NumTokens = *r.Tokens
		}
		reward, missing := rewards.reward(cfg.Reward, r, reward, &s)
		s.RewardRaw = reward
		shaped := rl.Shape(rl.Sample{RolloutID: r.RolloutID, ExitReason: r.ExitReason, Reward: reward, Resolved: resolved,
			InfraError: r.InfraError, NumTokens: int(s.NumTokens), Forced: r.Forced}, opts)
		if missing != "" && !shaped.Masked { // the reward cannot be computed: out of the loss and the baseline
			shaped = rl.Shaped{Masked: true, MaskReason: missing}
		}
		s.RewardShaped, s.Shaping, s.InBaseline = shaped.Reward, shaped.Shaping, !shaped.Masked
		if shaped.Masked {
			s.MaskRule = "zero:" + shaped.MaskReason
			s.LossMask = make([]int32, len(s.InputIDs))
		}
		out[i] = s
	}
	return out, nil
}

func readStats(ctx context.Context, l *lake.Lake, cfg Config, cacheDir string) (map[[2]string]schemas.TaskStat, string, error) {
	out := map[[2]string]schemas.TaskStat{}
	// The latest complete curation (or the one asked for) names the
	// task_stats version that holds its rows.
	rec, err := curate.Latest(ctx, l, cfg.CurationID)
	if errors.Is(err, lake.ErrNoRun) && cfg.CurationID == "" {
		if len(cfg.Bands) > 0 {
			return nil, "", errors.New("build-rl: bands need task_stats: run swelake run curate with difficulty.bands first")
		}
		return out, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("build-rl: task_stats: %w", err)
	}
	id := rec.ID
	t, err := l.Table(schemas.TaskStats.Name)
	if err != nil {
		return nil, "", err
	}
	s, err := t.Snapshot(ctx, rec.Outputs[schemas.TaskStats.Name])
	if err != nil {
		return nil, "", fmt.Errorf("build-rl: task_stats of %s: %w", id, err)
	}
	for r, err := range lake.ReadRows[schemas.TaskStat](ctx, l, s) {
		if err != nil {
			return nil, "", err
		}
		if r.CurationID == id {
			out[[2]string{r.TaskID, r.Policy}] = r
		}
	}
	return out, s.Ref().String(), nil
}
