package buildrl

import (
	"context"
	"math"
	"testing"

	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

func TestShapingMasksAndAdvantages(t *testing.T) {
	ctx := context.Background()
	l := laketest.New(t)
	ro := func(id, task, exit string, reward float64, infra bool) schemas.Rollout {
		return schemas.Rollout{RolloutID: id, TaskID: task, RunID: "run", Policy: "p", ExitReason: exit, Reward: laketest.Ptr(reward), Resolved: laketest.Ptr(reward == 1), InfraError: infra, Tokens: laketest.Ptr[int64](100)}
	}
	rows := []schemas.Rollout{
		ro("a1", "t/a", "submitted", 1, false), ro("a2", "t/a", "step_cap", 1, false), ro("a3", "t/a", "submitted", 0, false), ro("a4", "t/a", "submitted", 1, true),
		ro("b1", "t/b", "submitted", 1, false), ro("b2", "t/b", "submitted", 1, false), // no signal
		ro("c1", "t/c", "submitted", 1, false), // fewer than k
	}
	laketest.Append(t, l, schemas.Rollouts, rows)
	sum, err := Job.Execute(ctx, &stage.Env{Lake: l}, Config{K: 2})
	if err != nil {
		t.Fatal(err)
	}
	// k=2 keeps a1,a2 (forced: 0.5) and b1,b2 (no signal: dropped); c has 1.
	if sum.Groups != 1 || sum.DroppedGroups["all advantages zero"] != 1 || sum.DroppedGroups["fewer than k=2 rollouts"] != 1 || sum.Shaped["forced_submission"] != 1 {
		t.Fatalf("k=2: %+v", sum)
	}
	// Kept on request: b's group (no signal) is in the batch, its advantages 0.
	keep, err := Job.Execute(ctx, &stage.Env{Lake: l}, Config{K: 2, KeepZeroAdvantage: true})
	if err != nil || keep.Groups != 2 || keep.DroppedGroups["all advantages zero"] != 0 || keep.Samples != 4 {
		t.Fatalf("k=2, keep_zero_advantage: %+v %v", keep, err)
	}
	sum, err = Job.Execute(ctx, &stage.Env{Lake: l}, Config{Iteration: 2})
	if err != nil {
		t.Fatal(err)
	}
	got := batchRows(t, l, sum)
	// Group a: rewards 1, 0.5 (forced), 0; a4 masked (infra) and out of the baseline.
	want := map[string]float64{"a1": 1 - (0.5+0.0)/2, "a2": 0.5 - (1.0+0.0)/2, "a3": 0 - (1.0+0.5)/2, "a4": 0}
	for id, adv := range want {
		if math.Abs(got[id].Advantage-adv) > 1e-12 {
			t.Errorf("%s: advantage %g, want %g", id, got[id].Advantage, adv)
		}
	}
	if !(got["a4"].MaskRule == "zero:infra_error" && !got["a4"].InBaseline) || got["a2"].Shaping != "forced_submission" || got["a1"].LMax != 81920 {
		t.Fatalf("rows: %+v", got)
	}
	if _, err := Job.Execute(ctx, &stage.Env{Lake: l}, Config{Estimator: "ppo"}); err == nil {
		t.Fatal("unknown estimator accepted")
	}
}

// batchRows are a build-rl run's rows by rollout id.
func batchRows(t *testing.T, l *lake.Lake, sum Summary) map[string]schemas.RLSample {
	t.Helper()
	ctx := context.Background()
	st, _ := l.Table(schemas.RLSamples.Name)
	s, err := st.Snapshot(ctx, sum.Version)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]schemas.RLSample{}
	for r, err := range lake.ReadRows[schemas.RLSample](ctx, l, s) {
		if err != nil {
			t.Fatal(err)
		}
		if r.BatchID == sum.BatchID {
			got[r.RolloutID] = r
		}
	}
	return got
}
