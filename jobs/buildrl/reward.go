package buildrl

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/jobs/tables"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/rl"
)

// Reward sources (docs/training.md, "Rewards").
const (
	RewardExecution  = "execution"  // the graded tests: 1 resolved, 0 not (or the source's reward)
	RewardSimilarity = "similarity" // SWE-RL: the patch's similarity to the gold patch, −1 without a parsable patch
	RewardVerifier   = "verifier"   // a verifier model's predicted reward (verify --mode model)
	RewardMix        = "mix"        // a weighted sum of the above
)

// RewardConfig says what each sample's reward is.
type RewardConfig struct {
	Source string `json:"source" mapstructure:"source"` // execution (default), similarity, verifier, mix
	// Weights of a mix: source → weight, e.g. {execution: 0.8, similarity: 0.2}.
	Weights map[string]float64 `json:"weights,omitempty" mapstructure:"weights"`
	// Tasks is the tasks snapshot holding the gold patches (similarity;
	// default tasks@latest).
	Tasks string `json:"tasks,omitempty" mapstructure:"tasks"`
	// VerifyID is the verify run whose predicted rewards are read
	// (verifier; default the latest verify run).
	VerifyID string `json:"verify_id,omitempty" mapstructure:"verify_id"`
}

var sources = []string{RewardExecution, RewardSimilarity, RewardVerifier}

func (c *RewardConfig) validate() error {
	c.Source = cmp.Or(c.Source, RewardExecution)
	switch {
	case c.Source == RewardMix:
		if len(c.Weights) == 0 {
			return fmt.Errorf("reward.source mix needs reward.weights, e.g. {execution: 0.8, similarity: 0.2}")
		}
		total := 0.0
		for s, w := range c.Weights {
			if !slices.Contains(sources, s) {
				return fmt.Errorf("reward.weights: %q is not a reward source (%s)", s, strings.Join(sources, ", "))
			}
			if w < 0 {
				return fmt.Errorf("reward.weights.%s: %v: weights are ≥ 0", s, w)
			}
			total += w
		}
		if total == 0 {
			return fmt.Errorf("reward.weights: every weight is 0")
		}
	case slices.Contains(sources, c.Source):
		if len(c.Weights) > 0 {
			return fmt.Errorf("reward.weights: only a mix has weights (reward.source is %s)", c.Source)
		}
	default:
		return fmt.Errorf("reward.source %q: execution, similarity, verifier or mix", c.Source)
	}
	return nil
}

// uses reports whether the reward reads a source.
func (c RewardConfig) uses(source string) bool {
	return c.Source == source || (c.Source == RewardMix && c.Weights[source] > 0)
}

// label is the reward_source column: the source, or the mix's terms.
func (c RewardConfig) label() string {
	if c.Source != RewardMix {
		return c.Source
	}
	var terms []string
	for _, s := range slices.Sorted(maps.Keys(c.Weights)) {
		if c.Weights[s] > 0 {
			terms = append(terms, strconv.FormatFloat(c.Weights[s], 'g', -1, 64)+"*"+s)
		}
	}
	return "mix:" + strings.Join(terms, "+")
}

// rewardInputs are what the non-execution sources read: the gold patches
// by task, the predicted rewards by rollout.
type rewardInputs struct {
	gold      map[string]string
	predicted map[string]float64
}

// goldColumns and predictedColumns are the columns the rewards read of
// tasks and verifier_scores (only those column chunks are read).
type goldColumns struct {
	TaskID    string `parquet:"task_id"`
	GoldPatch string `parquet:"gold_patch"`
}

type predictedColumns struct {
	VerifyID        string   `parquet:"verify_id"`
	RolloutID       string   `parquet:"rollout_id"`
	PredictedReward *float64 `parquet:"predicted_reward,optional"`
}

// planRewards pins what the reward reads and adds it to the plan.
func planRewards(ctx context.Context, env *stage.Env, cfg *RewardConfig, p *stage.Plan) (*rewardInputs, error) {
	in := &rewardInputs{}
	if cfg.uses(RewardSimilarity) {
		snap, err := tables.Pin(ctx, env.Lake, cmp.Or(cfg.Tasks, schemas.Tasks.Name), schemas.Tasks.Name)
		if err != nil {
			return nil, fmt.Errorf("build-rl: reward similarity: %w", err)
		}
		p.Inputs = append(p.Inputs, snap)
		in.gold = map[string]string{}
		for t, err := range lake.ReadRows[goldColumns](ctx, env.Lake, snap) {
			if err != nil {
				return nil, err
			}
			in.gold[t.TaskID] = t.GoldPatch
		}
	}
	if cfg.uses(RewardVerifier) {
		rec, err := env.Lake.LatestRun(ctx, "verify", func(r *lake.RunRecord) bool { return cfg.VerifyID == "" || r.ID == cfg.VerifyID })
		if err != nil {
			return nil, fmt.Errorf("build-rl: reward verifier: no verify run%s: %w (swelake run verify --mode model first)",
				map[bool]string{true: "", false: " " + cfg.VerifyID}[cfg.VerifyID == ""], err)
		}
		t, err := env.Lake.Table(schemas.VerifierScores.Name)
		if err != nil {
			return nil, err
		}
		snap, err := t.Snapshot(ctx, rec.Outputs[schemas.VerifierScores.Name])
		if err != nil {
			return nil, fmt.Errorf("build-rl: reward verifier: %w", err)
		}
		p.Inputs = append(p.Inputs, snap)
		p.Identity = append(p.Identity, "verify:"+rec.ID)
		in.predicted = map[string]float64{}
		for s, err := range lake.ReadRows[predictedColumns](ctx, env.Lake, snap) {
			if err != nil {
				return nil, err
			}
			if s.VerifyID == rec.ID && s.PredictedReward != nil {
				in.predicted[s.RolloutID] = *s.PredictedReward
			}
		}
	}
	return in, nil
}

// reward is a sample's reward under cfg, the components it was made of,
// and why it cannot be computed ("" : it can).
func (in *rewardInputs) reward(cfg RewardConfig, r schemas.Rollout, execution float64, s *schemas.RLSample) (float64, string) {
	s.RewardSource = cfg.label()
	if cfg.uses(RewardExecution) {
		s.RewardExecution = &execution
	}
	if cfg.uses(RewardSimilarity) {
		gold := in.gold[r.TaskID]
		if strings.TrimSpace(gold) == "" {
			return 0, "no_gold_patch"
		}
		v, _ := rl.SimilarityReward(r.Patch, gold) // −1 without a parsable patch, as SWE-RL scores it
		s.RewardSimilarity = &v
	}
	if cfg.uses(RewardVerifier) {
		v, ok := in.predicted[r.RolloutID]
		if !ok {
			return 0, "no_verifier_score"
		}
		s.RewardVerifier = &v
	}
	switch cfg.Source {
	case RewardExecution:
		return execution, ""
	case RewardSimilarity:
		return *s.RewardSimilarity, ""
	case RewardVerifier:
		return *s.RewardVerifier, ""
	}
	total := 0.0
	for src, w := range cfg.Weights {
		switch src {
		case RewardExecution:
			total += w * execution
		case RewardSimilarity:
			total += w * *s.RewardSimilarity
		case RewardVerifier:
			total += w * *s.RewardVerifier
		}
	}
	return total, ""
}
