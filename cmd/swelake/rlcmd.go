package main

import (
	"github.com/spf13/cobra"

	"github.com/swelake/swelake/jobs/rliterate"
)

// newRLCmd is `swelake rl`: the RL loop (rl iterate is the rl-iterate job,
// as `swelake run rl-iterate` and a pipeline's job: rl-iterate run it).
func newRLCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "rl",
		Short: "The RL loop: iterate rollouts → evaluate → RL batch → your trainer → the next checkpoint",
	}
	jobFlags(c, "rl_iterate.rollout.samples=8")
	it := newJobCmd(a, rliterate.Job)
	it.Use = "iterate"
	c.AddCommand(it)
	return c
}
