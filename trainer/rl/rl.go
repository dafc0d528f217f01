// Package rl computes what an RL batch needs from graded rollouts: shaped
// rewards, loss-mask rules and group advantages (RLOO, GRPO). Pure
// functions; no I/O.
package rl

import (
	"fmt"
	"github.com/swelake/swelake/schemas"
	"math"
	"slices"
	"strings"
)

// Estimators.
const (
	RLOO      = "rloo"        // A_i = R_i − mean of the others in the group
	GRPO      = "grpo"        // (R_i − mean) / (std + ε)
	GRPONoStd = "grpo_no_std" // R_i − mean (Dr. GRPO)
)

// Sample is what shaping needs to know about one rollout.
type Sample struct {
	RolloutID  string
	ExitReason string
	Reward     float64 // as graded (1 resolved, 0 not, or the source's reward)
	Resolved   bool
	InfraError bool // the environment failed, not the policy
	NumTokens  int
	// Forced: the run was cut off by a limit and its patch submitted for it
	// (the rollouts' forced column), whatever its exit reason says.
	Forced bool
}

// Options configure shaping.
type Options struct {
	// ForcedAlpha scales the reward of a run cut off by a limit whose patch
	// nevertheless resolves the task ("forced submission"); default 0.5.
	ForcedAlpha float64
	// ForcedExitReasons are the exit reasons that mean "cut off by a
	// limit"; default DefaultForcedExitReasons().
	ForcedExitReasons []string
	// InfraExitReasons are exit reasons that are infrastructure errors (on
	// top of Sample.InfraError); default DefaultInfraExitReasons().
	InfraExitReasons []string
	// Overlong enables DAPO's soft overlong penalty when MaxTokens > 0.
	Overlong Overlong
}

// Overlong is DAPO's soft overlong punishment: 0 up to MaxTokens−Buffer
// tokens, then falling linearly to −Penalty at MaxTokens and beyond.
type Overlong struct {
	MaxTokens int     `json:"max_tokens" mapstructure:"max_tokens"`
	Buffer    int     `json:"buffer" mapstructure:"buffer"`
	Penalty   float64 `json:"penalty" mapstructure:"penalty"` // default 1
}

// DefaultForcedExitReasons are the (normalised, rollouts v3) exit reasons
// of runs cut off by a limit: schemas.ForcedExits, the one definition that
// curation's step_cap rule and the rollouts' forced column also use.
func DefaultForcedExitReasons() []string { return schemas.ForcedExits() }

// ForcedReason reports whether an exit reason means "cut off by a limit"
// under list: the reason itself, or the limit inside SWE-agent's
// "submitted (exit_…)".
func ForcedReason(reason string, list []string) bool {
	r := strings.ToLower(strings.TrimSpace(reason))
	if inner, ok := strings.CutPrefix(r, "submitted ("); ok {
		r = strings.TrimSuffix(inner, ")")
	}
	return slices.Contains(list, r)
}

// DefaultInfraExitReasons are the exit reasons that blame the environment
// (schemas.ExitEnvError).
func DefaultInfraExitReasons() []string { return []string{schemas.ExitEnvError} }

func (o Options) withDefaults() Options {
	if o.ForcedAlpha == 0 {
		o.ForcedAlpha = 0.5
	}
	if o.ForcedExitReasons == nil {
		o.ForcedExitReasons = DefaultForcedExitReasons()
	}
	if o.InfraExitReasons == nil {
		o.InfraExitReasons = DefaultInfraExitReasons()
	}
	if o.Overlong.Penalty == 0 {
		o.Overlong.Penalty = 1
	}
	return o
}

// Shaped is a sample's reward after shaping and its loss-mask rule.
type Shaped struct {
	Reward float64
	// Shaping names what changed the reward: "", "forced_submission",
	// "overlong" or both joined by "+".
	Shaping string
	// Masked samples get an all-zero loss mask and stay out of their group's
	// baseline; MaskReason says why.
	Masked     bool
	MaskReason string
}

func matches(reason string, list []string) bool {
	r := strings.ToLower(strings.TrimSpace(reason))
	for _, x := range list {
		if r == x {
			return true
		}
	}
	return false
}

// Shape applies the shaping rules to one sample.
func Shape(s Sample, o Options) Shaped {
	o = o.withDefaults()
	out := Shaped{Reward: s.Reward}
	if s.InfraError || matches(s.ExitReason, o.InfraExitReasons) {
		reason := "infra_error"
		if s.ExitReason != "" && matches(s.ExitReason, o.InfraExitReasons) {
			reason = strings.ToLower(s.ExitReason)
		}
		return Shaped{Reward: 0, Masked: true, MaskReason: reason}
	}
	var tags []string
	if s.Resolved && (s.Forced || ForcedReason(s.ExitReason, o.ForcedExitReasons)) {
		out.Reward = o.ForcedAlpha * s.Reward
		tags = append(tags, "forced_submission")
	}
	if ol := o.Overlong; ol.MaxTokens > 0 {
		limit := ol.MaxTokens - ol.Buffer
		if s.NumTokens > limit {
			p := -ol.Penalty
			if ol.Buffer > 0 && s.NumTokens < ol.MaxTokens {
				p = float64(limit-s.NumTokens) / float64(ol.Buffer) * ol.Penalty
			}
			out.Reward += p
			tags = append(tags, "overlong")
		}
	}
	out.Shaping = strings.Join(tags, "+")
	return out
}

// Advantages computes the group's advantages with the estimator. Samples
// with inBaseline false (masked) get advantage 0 and do not enter any other
// sample's baseline. A group with one baseline member gets 0.
func Advantages(rewards []float64, inBaseline []bool, estimator string) ([]float64, error) {
	if len(rewards) != len(inBaseline) {
		return nil, fmt.Errorf("advantages: %d rewards, %d baseline flags", len(rewards), len(inBaseline))
	}
	adv := make([]float64, len(rewards))
	var sum float64
	n := 0
	for i, r := range rewards {
		if inBaseline[i] {
			sum += r
			n++
		}
	}
	if n < 2 {
		return adv, nil
	}
	mean := sum / float64(n)
	var ss float64
	for i, r := range rewards {
		if inBaseline[i] {
			ss += (r - mean) * (r - mean)
		}
	}
	std := math.Sqrt(ss / float64(n))
	for i, r := range rewards {
		if !inBaseline[i] {
			continue
		}
		switch estimator {
		case RLOO, "":
			adv[i] = r - (sum-r)/float64(n-1)
		case GRPO:
			adv[i] = (r - mean) / (std + 1e-6)
		case GRPONoStd:
			adv[i] = r - mean
		default:
			return nil, fmt.Errorf("advantages: unknown estimator %q (rloo, grpo, grpo_no_std)", estimator)
		}
	}
	return adv, nil
}

// AllZero reports whether a group carries no learning signal.
func AllZero(adv []float64) bool {
	return !slices.ContainsFunc(adv, func(a float64) bool { return math.Abs(a) > 1e-12 })
}
