package rollout

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/swelake/swelake/exec/agent"
	"github.com/swelake/swelake/internal/exectest"
	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/internal/tokref"
	"github.com/swelake/swelake/jobs"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

func TestRolloutResumes(t *testing.T) {
	exectest.Need(t)
	ctx := context.Background()
	store, _, bug, fix := exectest.BugRepo(t)
	task := exectest.BugTask(bug, fix)
	other := task
	other.TaskID, other.InstanceID = "test/pytext-rle-2", "pytext-rle-2"
	l := laketest.New(t)
	laketest.Append(t, l, schemas.Tasks, []schemas.Task{task, other})
	pol := &agent.Scripted{Tasks: map[string]agent.ScriptTask{}}
	for _, tk := range []schemas.Task{task, other} {
		pol.Tasks[tk.TaskID] = agent.ScriptTask{TaskID: tk.TaskID, Language: tk.Language, GoldPatch: tk.GoldPatch, FailToPass: tk.FailToPass, TestCmd: tk.TestCmd}
	}
	srv := httptest.NewServer(pol)
	defer srv.Close()
	client, err := agent.NewClient(agent.ClientConfig{BaseURL: srv.URL + "/v1", Model: "scripted"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Samples: 4, MaxSteps: 12, Concurrency: 2, BatchSize: 2, Model: "scripted", Client: client, ReposDir: store,
		Backend: exectest.Backend(t), Runtime: jobs.Runtime{CacheDir: t.TempDir()}}

	// Interrupted after 3 rollouts: the finished ones are committed.
	cctx, cancel := context.WithCancel(ctx)
	first := cfg
	first.Progress = func(done, total int) {
		if done == 3 {
			cancel()
		}
	}
	sum, err := Run(cctx, l, first)
	if !errors.Is(err, context.Canceled) || sum.Rollouts < 3 || sum.Rollouts >= 8 {
		t.Fatalf("interrupted run: %+v, %v", sum, err)
	}
	sum2, err := Run(ctx, l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum2.RunID != sum.RunID || sum2.Resumed != sum.Rollouts || sum2.Resumed+sum2.Rollouts != 8 || sum2.Pairs != 8 {
		t.Fatalf("resumed run: %+v (first: %d rollouts)", sum2, sum.Rollouts)
	}
	rt, _ := l.Table(schemas.Rollouts.Name)
	snap, _ := rt.Snapshot(ctx, lake.Latest)
	seen := map[string]int{}
	exits := map[string]int{}
	graded := 0
	for r, err := range jobs.ReadRows[schemas.Rollout](ctx, l, snap, t.TempDir()) {
		if err != nil {
			t.Fatal(err)
		}
		seen[r.RolloutID]++
		exits[r.ExitReason]++
		if r.Resolved != nil {
			graded++
		}
		if len(r.Messages) < 3 || r.Messages[0].Role != "system" || r.Policy != "scripted" || len(r.Raw) == 0 || r.NumTurns == 0 {
			t.Errorf("rollout %s: %d messages, policy %q, %d turns", r.RolloutID, len(r.Messages), r.Policy, r.NumTurns)
		}
		if jobs.ToolsOf(r) == nil {
			t.Errorf("rollout %s: the tools offered are not in its raw record", r.RolloutID)
		}
	}
	if len(seen) != 8 {
		t.Fatalf("%d distinct rollouts, want 8", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("rollout %s committed %d times", id, n)
		}
	}
	if graded != 8 {
		t.Errorf("%d of 8 rollouts graded", graded)
	}
	t.Logf("exit reasons %v; resumed %d of 8", exits, sum2.Resumed)
	// Everything done: a rerun runs nothing.
	sum3, err := Run(ctx, l, cfg)
	if err != nil || sum3.Rollouts != 0 || sum3.Resumed != 8 || sum3.Commits != 0 {
		t.Fatalf("third run: %+v, %v", sum3, err)
	}
}

// TestContextCounter counts with the real tokenizer and chat template when
// the endpoint reports no usage.
func TestContextCounter(t *testing.T) {
	dir := tokref.DefaultTokenizerDir()
	count := contextCounter(Config{TokenizerDir: dir, Runtime: jobs.Runtime{}.WithDefaults()})
	if count == nil {
		t.Fatal("no counter with a tokenizer")
	}
	short := count([]agent.Message{{Role: "user", Content: agent.Str("fix the bug")}})
	long := count([]agent.Message{{Role: "user", Content: agent.Str("fix the bug " + strings.Repeat("and more words ", 100))}})
	// The tools' schemas are part of the rendered context (hundreds of tokens).
	if short < 200 || long-short < 250 || long-short > 400 {
		t.Fatalf("counts %d and %d", short, long)
	}
	if contextCounter(Config{TokenizerDir: t.TempDir(), Runtime: jobs.Runtime{}.WithDefaults()}) != nil {
		t.Fatal("a counter without tokenizer files")
	}
}
