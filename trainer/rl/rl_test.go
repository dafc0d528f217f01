package rl

import (
	"github.com/swelake/swelake/schemas"
	"math"
	"math/rand/v2"
	"testing"
)

// Property: RLOO advantages of a group's baseline members sum to zero.
func TestRLOOSumsToZero(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		k := 2 + r.IntN(10)
		rewards, in := make([]float64, k), make([]bool, k)
		for i := range rewards {
			rewards[i] = float64(r.IntN(3)) * 0.5
			in[i] = true
		}
		adv, err := Advantages(rewards, in, RLOO)
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for _, a := range adv {
			s += a
		}
		if math.Abs(s) > 1e-9 {
			t.Fatalf("rewards %v: advantages %v sum to %g", rewards, adv, s)
		}
	}
}

// Property: a masked sample changes nobody's advantage, whatever its reward.
func TestMaskedSamplesChangeNoBaseline(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, est := range []string{RLOO, GRPO, GRPONoStd} {
		for range 300 {
			k := 2 + r.IntN(8)
			rewards, in := make([]float64, k), make([]bool, k)
			for i := range rewards {
				rewards[i] = float64(r.IntN(2))
				in[i] = true
			}
			base, _ := Advantages(rewards, in, est)
			withMasked, _ := Advantages(append(rewards, float64(r.IntN(100))), append(in, false), est)
			for i := range base {
				if math.Abs(base[i]-withMasked[i]) > 1e-12 {
					t.Fatalf("%s: masked sample moved advantage %d: %v vs %v", est, i, base, withMasked)
				}
			}
			if withMasked[k] != 0 {
				t.Fatalf("%s: masked sample got advantage %g", est, withMasked[k])
			}
		}
	}
}

func TestKnownAdvantages(t *testing.T) {
	in := []bool{true, true, true, true}
	adv, _ := Advantages([]float64{1, 0, 0, 0}, in, RLOO)
	if adv[0] != 1 || math.Abs(adv[1]+1.0/3) > 1e-12 {
		t.Fatalf("rloo %v", adv)
	}
	adv, _ = Advantages([]float64{1, 0, 0, 0}, in, GRPONoStd)
	if adv[0] != 0.75 || adv[1] != -0.25 {
		t.Fatalf("grpo_no_std %v", adv)
	}
	adv, _ = Advantages([]float64{1, 0}, []bool{true, true}, GRPO)
	if math.Abs(adv[0]-1) > 1e-5 || math.Abs(adv[1]+1) > 1e-5 {
		t.Fatalf("grpo %v", adv)
	}
	if adv, _ := Advantages([]float64{1, 1, 1}, []bool{true, true, true}, GRPO); !AllZero(adv) {
		t.Fatalf("uniform group: %v", adv)
	}
	if _, err := Advantages([]float64{1}, []bool{true}, "ppo"); err != nil {
		t.Fatal("a one-member group needs no estimator")
	}
	if _, err := Advantages([]float64{1, 0}, []bool{true, true}, "ppo"); err == nil {
		t.Fatal("unknown estimator accepted")
	}
}

// Property: shaping applies only to the exit reasons it names.
func TestShapingOnlyForNamedExitReasons(t *testing.T) {
	o := Options{}
	for _, reason := range []string{"submitted", "agent", "", "step_cap", "max_steps", "timeout", "token_cap", "infra_error", "no_container", "stop"} {
		for _, resolved := range []bool{true, false} {
			reward := 0.0
			if resolved {
				reward = 1
			}
			s := Shape(Sample{ExitReason: reason, Reward: reward, Resolved: resolved}, o)
			forced := matches(reason, DefaultForcedExitReasons())
			infra := matches(reason, DefaultInfraExitReasons())
			switch {
			case infra:
				if !s.Masked || s.Reward != 0 {
					t.Fatalf("%s: %+v", reason, s)
				}
			case forced && resolved:
				if s.Reward != 0.5 || s.Shaping != "forced_submission" || s.Masked {
					t.Fatalf("%s resolved: %+v", reason, s)
				}
			default:
				if s.Reward != reward || s.Shaping != "" || s.Masked {
					t.Fatalf("%s resolved=%v: %+v", reason, resolved, s)
				}
			}
		}
	}
	if s := Shape(Sample{ExitReason: "submitted", Reward: 1, Resolved: true, InfraError: true}, o); !s.Masked {
		t.Fatalf("infra flag ignored: %+v", s)
	}
}

func TestOverlong(t *testing.T) {
	o := Options{Overlong: Overlong{MaxTokens: 100, Buffer: 20}}
	for n, want := range map[int]float64{50: 1, 80: 1, 90: 0.5, 100: 0, 150: 0} {
		if s := Shape(Sample{Reward: 1, Resolved: true, ExitReason: "submitted", NumTokens: n}, o); math.Abs(s.Reward-want) > 1e-12 {
			t.Fatalf("%d tokens: %+v, want %g", n, s, want)
		}
	}
}

// TestForcedAgreesEverywhere (issue 15, bug 1): "forced" was decided in
// three places that disagreed; a resolved run whose exit reason is
// OpenHands' max_iterations or SWE-agent's "submitted (exit_context)", or
// whose forced column is set, got the full reward instead of α of it.
func TestForcedAgreesEverywhere(t *testing.T) {
	for _, c := range []struct {
		exit   string
		forced bool
		want   float64
	}{
		{"max_iterations", false, 0.5},
		{"submitted (exit_context)", false, 0.5},
		{"submitted (exit_cost)", false, 0.5},
		{"Step_Cap", false, 0.5},
		{"submitted", true, 0.5},
		{"submitted", false, 1},
		{"finish", false, 1},
	} {
		// As the rollouts table has it: every writer normalises the
		// source's string and computes forced from it (rollouts v3).
		r := schemas.Rollout{ExitReasonRaw: c.exit, Submitted: true}
		schemas.FinishRollout(&r)
		got := Shape(Sample{ExitReason: r.ExitReason, Forced: r.Forced || c.forced, Reward: 1, Resolved: true}, Options{})
		if got.Reward != c.want {
			t.Errorf("exit %q (%s) forced %v: reward %v, want %v", c.exit, r.ExitReason, c.forced, got.Reward, c.want)
		}
	}
}
