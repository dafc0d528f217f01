package diff

import (
	"context"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"strings"
	"testing"

	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

func TestDiff(t *testing.T) {
	ctx := context.Background()
	l := laketest.New(t)
	ro := func(id, run string, reward float64) schemas.Rollout {
		r := schemas.Rollout{RolloutID: id, RunID: run, TaskID: "t", Policy: "p", Reward: laketest.Ptr(reward), NumTurns: 3}
		laketest.FillRollout(&r)
		return r
	}
	laketest.Append(t, l, schemas.Rollouts, []schemas.Rollout{ro("r1", "run-a", 1), ro("r2", "run-a", 0), ro("r3", "run-a", 1), ro("r4", "run-b", 0)})
	// v2: run-a rewritten — r2's reward changed, r3 gone, r5 new.
	tbl, _ := l.Table(schemas.Rollouts.Name)
	base, _ := tbl.Snapshot(ctx, lake.Latest)
	files, err := lake.WriteFiles(ctx, tbl, tables.Spec(schemas.Rollouts), lake.Slice([]schemas.Rollout{ro("r1", "run-a", 1), ro("r2", "run-a", 0.5), ro("r5", "run-a", 1)}), lake.WriteOptions{Overwrite: []lake.Partition{{"run_id": "run-a"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.OverwritePartitions(ctx, base, []lake.Partition{{"run_id": "run-a"}}, files, lake.Provenance{Job: "test"}); err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctx, l, "rollouts@1", "rollouts@2", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%d %d %d %d %v %v %v %v", res.Added, res.Removed, res.Changed, res.Unchanged, res.AddedKeys, res.RemovedKeys, res.ChangedKeys, res.ChangedColumns)
	if want := "1 1 1 2 [r5] [r3] [r2] map[reward:1]"; got != want || res.RowsA != 4 || res.RowsB != 4 {
		t.Fatalf("diff = %s (rows %d → %d), want %s", got, res.RowsA, res.RowsB, want)
	}
	if len(res.ColumnsAdded)+len(res.ColumnsRemoved)+len(res.ColumnsRetyped) != 0 {
		t.Errorf("schema changes reported for one schema: %+v", res)
	}
	// A snapshot against itself: nothing changed.
	same, err := Run(ctx, l, "rollouts@2", "rollouts", nil)
	if err != nil || same.Added+same.Removed+same.Changed != 0 || same.Unchanged != 4 {
		t.Fatalf("self diff: %+v %v", same, err)
	}
	// Tables with different keys do not compare.
	if _, err := Run(ctx, l, "rollouts@1", "tasks", nil); err == nil {
		t.Fatal("diff of rollouts against tasks succeeded")
	}
}

// TestDiffRefusesDuplicateKeys: a snapshot written before keys were
// enforced may hold a key twice; diff says so rather than count a join's
// fan-out as rows.
func TestDiffRefusesDuplicateKeys(t *testing.T) {
	ctx := context.Background()
	l := laketest.New(t)
	tbl, _ := l.Table(schemas.Tasks.Name)
	old := tables.Spec(schemas.Tasks)
	old.Key = nil // as an older swelake wrote
	for range 2 {
		files, err := lake.WriteFiles(ctx, tbl, old, lake.Slice([]schemas.Task{{TaskID: "t1", Source: "s"}, {TaskID: "t2", Source: "s"}}), lake.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tbl.Append(ctx, files, lake.Provenance{Job: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Run(ctx, l, "tasks@1", "tasks@2", nil)
	if err == nil || !strings.Contains(err.Error(), "tasks@2 holds 2 key(s) more than once") || !strings.Contains(err.Error(), "swelake lake dedupe tasks") {
		t.Fatalf("diff over duplicate keys: %v", err)
	}
	if _, err := tables.Dedupe(ctx, l, "tasks", lake.Provenance{}, false); err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctx, l, "tasks@1", "tasks", nil)
	if err != nil || res.RowsA != 2 || res.RowsB != 2 || res.Unchanged != 2 {
		t.Fatalf("after dedupe: %+v %v", res, err)
	}
}
