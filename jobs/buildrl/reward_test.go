package buildrl

import (
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/swelake/swelake/exec/agent"
	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/jobs/verify"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/rl"
)

const goldPatch = `diff --git a/calc.py b/calc.py
--- a/calc.py
+++ b/calc.py
@@ -1,4 +1,4 @@
 def add(a, b):
-    return a - b
+    return a + b
 
 def sub(a, b):
`

// TestExecutionFreeRewards: build-rl with SWE-RL's similarity reward and a
// mix with the execution reward. The similarity values are rl's
// SimilarityReward, which TestSimilarityRewardMatchesPython checks against
// Python's difflib; here: which reward each sample gets, that it is
// recorded with its components, −1 for an answer without a patch, and a
// task without a gold patch masked rather than rewarded.
func TestExecutionFreeRewards(t *testing.T) {
	ctx := context.Background()
	l := laketest.New(t)
	laketest.Append(t, l, schemas.Tasks, []schemas.Task{{TaskID: "t/a", Source: "t", GoldPatch: goldPatch}, {TaskID: "t/b", Source: "t"}})
	near := strings.Replace(goldPatch, "+    return a + b", "+    return b + a", 1)
	ro := func(id, task, patch string, resolved bool) schemas.Rollout {
		return schemas.Rollout{RolloutID: id, TaskID: task, RunID: "run", Policy: "p", ExitReason: "submitted", Patch: patch,
			Reward: laketest.Ptr(map[bool]float64{true: 1, false: 0}[resolved]), Resolved: laketest.Ptr(resolved), Tokens: laketest.Ptr[int64](10)}
	}
	laketest.Append(t, l, schemas.Rollouts, []schemas.Rollout{
		ro("a1", "t/a", goldPatch, true), ro("a2", "t/a", near, false), ro("a3", "t/a", "I give up.", false),
		ro("b1", "t/b", goldPatch, true), ro("b2", "t/b", near, false),
	})
	simNear, _ := rl.SimilarityReward(near, goldPatch)
	if simNear <= 0 || simNear >= 1 {
		t.Fatalf("the near patch's similarity %v: the fixture should score between 0 and 1", simNear)
	}
	for _, tc := range []struct {
		reward RewardConfig
		label  string
		want   map[string]float64 // reward_raw of the kept samples
	}{
		{RewardConfig{Source: RewardSimilarity}, "similarity", map[string]float64{"a1": 1, "a2": simNear, "a3": -1}},
		{RewardConfig{Source: RewardMix, Weights: map[string]float64{RewardExecution: 0.75, RewardSimilarity: 0.25}}, "mix:0.75*execution+0.25*similarity",
			map[string]float64{"a1": 1, "a2": 0.25 * simNear, "a3": -0.25}},
	} {
		sum, err := Job.Execute(ctx, &stage.Env{Lake: l}, Config{Reward: tc.reward})
		if err != nil {
			t.Fatal(err)
		}
		got := batchRows(t, l, sum)
		for id, want := range tc.want {
			r := got[id]
			if math.Abs(r.RewardRaw-want) > 1e-12 || r.RewardSource != tc.label || r.RewardSimilarity == nil || !r.InBaseline {
				t.Errorf("%s %s: reward %v (source %q, similarity %v), want %v", tc.label, id, r.RewardRaw, r.RewardSource, r.RewardSimilarity, want)
			}
		}
		if tc.reward.Source == RewardMix && (got["a2"].RewardExecution == nil || *got["a2"].RewardExecution != 0) {
			t.Errorf("mix: the execution component is not recorded: %+v", got["a2"])
		}
		// t/b has no gold patch: its samples are masked, so its group has no signal.
		if _, ok := got["b1"]; ok {
			t.Errorf("%s: t/b (no gold patch) was rewarded: %+v", tc.label, got["b1"])
		}
	}
	for _, bad := range []struct {
		cfg  RewardConfig
		want string
	}{
		{RewardConfig{Source: "bleu"}, `reward.source "bleu": execution, similarity, verifier or mix`},
		{RewardConfig{Source: RewardMix}, "reward.source mix needs reward.weights"},
		{RewardConfig{Source: RewardMix, Weights: map[string]float64{"bleu": 1}}, `reward.weights: "bleu" is not a reward source`},
		{RewardConfig{Source: RewardSimilarity, Weights: map[string]float64{RewardSimilarity: 1}}, "only a mix has weights"},
	} {
		if _, err := Job.Execute(ctx, &stage.Env{Lake: l}, Config{Reward: bad.cfg}); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: %v, want an error containing %q", bad.cfg, err, bad.want)
		}
	}
	if _, err := Job.Execute(ctx, &stage.Env{Lake: l}, Config{Reward: RewardConfig{Source: RewardVerifier}}); err == nil ||
		!strings.Contains(err.Error(), "no verify run") {
		t.Errorf("verifier reward without a verify run: %v", err)
	}
}

// TestVerifierReward: a verify run's predicted rewards (the scripted
// verifier over HTTP, the real client) become the samples' rewards, read
// back against the verifier_scores rows themselves.
func TestVerifierReward(t *testing.T) {
	ctx := context.Background()
	l := laketest.New(t)
	pol := &agent.Scripted{Tasks: map[string]agent.ScriptTask{}}
	var tasks []schemas.Task
	var rollouts []schemas.Rollout
	for i := range 3 {
		id := fmt.Sprintf("t/%d", i)
		gold := fmt.Sprintf("diff --git a/m.py b/m.py\n--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n-x = %d\n+x = %d\n", i, i+1)
		tasks = append(tasks, schemas.Task{TaskID: id, Source: "t", GoldPatch: gold, ProblemStatement: "x is off by one", FailToPass: []string{"tests/test_m.py::test_x"}})
		pol.Tasks[id] = agent.ScriptTask{TaskID: id, GoldPatch: gold, FailToPass: []string{"tests/test_m.py::test_x"}}
		for s := range 4 {
			patch, ok := gold, s == 0
			if !ok {
				patch = strings.Replace(gold, fmt.Sprintf("+x = %d", i+1), fmt.Sprintf("+x = %d", i+10+s), 1)
			}
			rollouts = append(rollouts, schemas.Rollout{RolloutID: fmt.Sprintf("%s/%d", id, s), TaskID: id, RunID: "r", Policy: "p", SampleIdx: int32(s),
				ExitReason: "submitted", Patch: patch, Resolved: laketest.Ptr(ok), Reward: laketest.Ptr(map[bool]float64{true: 1}[ok])})
		}
	}
	laketest.Append(t, l, schemas.Tasks, tasks)
	laketest.Append(t, l, schemas.Rollouts, rollouts)
	srv := httptest.NewServer(pol)
	t.Cleanup(srv.Close)
	client, err := agent.NewClient(agent.ClientConfig{BaseURL: srv.URL + "/v1", Model: "scripted"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &stage.Env{Lake: l, Services: stage.Static{Endpoints: map[string]stage.Endpoint{"verifier": {Client: client, Model: "scripted", BaseURL: srv.URL}}}}
	vs, err := verify.Job.Execute(ctx, env, verify.Config{Mode: verify.ModeModel, K: 4})
	if err != nil || vs.Scored != 12 {
		t.Fatalf("verify: %+v %v", vs, err)
	}
	predicted := map[string]float64{}
	vt, _ := l.Table(schemas.VerifierScores.Name)
	snap, _ := vt.Snapshot(ctx, lake.Latest)
	for s, err := range lake.ReadRows[schemas.VerifierScore](ctx, l, snap) {
		if err != nil {
			t.Fatal(err)
		}
		predicted[s.RolloutID] = *s.PredictedReward
	}
	sum, err := Job.Execute(ctx, env, Config{Reward: RewardConfig{Source: RewardVerifier}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range batchRows(t, l, sum) {
		n++
		if r.RewardSource != "verifier" || r.RewardVerifier == nil || r.RewardRaw != predicted[r.RolloutID] || *r.RewardVerifier != r.RewardRaw {
			t.Errorf("%s: reward %v (%s), the verifier predicted %v", r.RolloutID, r.RewardRaw, r.RewardSource, predicted[r.RolloutID])
		}
	}
	if n == 0 {
		t.Fatalf("no samples: %+v", sum)
	}
	t.Logf("%d samples rewarded by verify run %s", n, vs.VerifyID)
}
