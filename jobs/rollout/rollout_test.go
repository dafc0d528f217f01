package rollout

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/swelake/swelake/trainer/chattemplate"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/swelake/swelake/exec/agent"
	"github.com/swelake/swelake/internal/exectest"
	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/internal/tokref"
	"github.com/swelake/swelake/jobs/stage"
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
	cfg := Config{Samples: 4, MaxSteps: 12, Concurrency: 2, BatchSize: 2}
	env := policyEnv(t, l, client, srv.URL+"/v1", store)

	// Interrupted after 3 rollouts: the finished ones are committed.
	cctx, cancel := context.WithCancel(ctx)
	first := *env
	first.Progress = func(string) stage.Progress { return cancelAt{3, cancel} }
	sum, err := Job.Execute(cctx, &first, cfg)
	if !errors.Is(err, context.Canceled) || sum.Rollouts < 3 || sum.Rollouts >= 8 {
		t.Fatalf("interrupted run: %+v, %v", sum, err)
	}
	sum2, err := Job.Execute(ctx, env, cfg)
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
	for r, err := range lake.ReadRows[schemas.Rollout](ctx, l, snap) {
		if err != nil {
			t.Fatal(err)
		}
		seen[r.RolloutID]++
		exits[r.ExitReason]++
		if r.Resolved != nil {
			graded++
		}
		if len(r.Messages) < 3 || r.Messages[0].Role != "system" || r.Policy != "scripted" || r.RawRef.Length == 0 || r.NumTurns == 0 {
			t.Errorf("rollout %s: %d messages, policy %q, %d turns", r.RolloutID, len(r.Messages), r.Policy, r.NumTurns)
		}
		if chattemplate.ToolsOf(r) == nil {
			t.Errorf("rollout %s: the tools offered are not in its tools column", r.RolloutID)
		}
		if raw, err := l.ReadRaw(ctx, r.RawRef.SHA256, r.RawRef.Offset, r.RawRef.Length); err != nil || !json.Valid(raw) || !strings.Contains(string(raw), `"usage"`) {
			t.Errorf("rollout %s: raw record %q: %v", r.RolloutID, raw, err)
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
	// Everything done: a rerun runs nothing, and says so.
	sum3, err := Job.Execute(ctx, env, cfg)
	if err != nil || !sum3.Skipped || sum3.RunID != sum.RunID || sum3.Version != sum2.Version {
		t.Fatalf("third run: %+v, %v", sum3, err)
	}
}

// cancelAt cancels a run when its progress reaches n.
type cancelAt struct {
	n      int
	cancel func()
}

func (c cancelAt) Set(done, total int) {
	if done == c.n {
		c.cancel()
	}
}
func (cancelAt) Finish() {}

// policyEnv is an environment with the policy endpoint at base and the
// sandbox backend of the tests.
func policyEnv(t testing.TB, l *lake.Lake, client agent.Chatter, base, store string) *stage.Env {
	return &stage.Env{Lake: l, Services: stage.Static{Backend: exectest.Backend(t), ReposDir: store,
		Endpoints: map[string]stage.Endpoint{"policy": {Client: client, Model: "scripted", BaseURL: base}}}}
}

// TestContextCounter counts with the real tokenizer and chat template when
// the endpoint reports no usage.
func TestContextCounter(t *testing.T) {
	dir := tokref.DefaultTokenizerDir()
	tools, _ := json.Marshal(agent.Tools())
	count := contextCounter(&stage.Env{Logger: slog.New(slog.DiscardHandler)}, dir, string(tools))
	if count == nil {
		t.Fatal("no counter with a tokenizer")
	}
	short := count([]agent.Message{{Role: "user", Content: agent.Str("fix the bug")}})
	long := count([]agent.Message{{Role: "user", Content: agent.Str("fix the bug " + strings.Repeat("and more words ", 100))}})
	// The tools' schemas are part of the rendered context (hundreds of tokens).
	if short < 200 || long-short < 250 || long-short > 400 {
		t.Fatalf("counts %d and %d", short, long)
	}
	if contextCounter(&stage.Env{Logger: slog.New(slog.DiscardHandler)}, t.TempDir(), string(tools)) != nil {
		t.Fatal("a counter without tokenizer files")
	}
}

// TestRolloutShards: two shards running at once against one lake commit
// exactly the rollouts one worker commits (same ids, outcomes and patches),
// each shard only its own tasks.
func TestRolloutShards(t *testing.T) {
	exectest.Need(t)
	ctx := context.Background()
	store, _, bug, fix := exectest.BugRepo(t)
	base := exectest.BugTask(bug, fix)
	var tasks []schemas.Task
	pol := &agent.Scripted{Tasks: map[string]agent.ScriptTask{}}
	for _, id := range []string{"a", "b", "c", "d"} {
		tk := base
		tk.TaskID, tk.InstanceID = "test/pytext-rle-"+id, "pytext-rle-"+id
		tasks = append(tasks, tk)
		pol.Tasks[tk.TaskID] = agent.ScriptTask{TaskID: tk.TaskID, Language: tk.Language, GoldPatch: tk.GoldPatch, FailToPass: tk.FailToPass, TestCmd: tk.TestCmd}
	}
	srv := httptest.NewServer(pol)
	defer srv.Close()
	client, err := agent.NewClient(agent.ClientConfig{BaseURL: srv.URL + "/v1", Model: "scripted"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Samples: 2, MaxSteps: 12, Concurrency: 2, BatchSize: 2}
	outcomes := func(l *lake.Lake) map[string]string {
		rt, _ := l.Table(schemas.Rollouts.Name)
		snap, _ := rt.Snapshot(ctx, lake.Latest)
		out := map[string]string{}
		for r, err := range lake.ReadRows[schemas.Rollout](ctx, l, snap) {
			if err != nil {
				t.Fatal(err)
			}
			out[r.RolloutID] = fmt.Sprintf("%s %s %d %v %x", r.RunID, r.ExitReason, r.NumTurns, r.Resolved != nil && *r.Resolved, sha256.Sum256([]byte(r.Patch)))
		}
		return out
	}
	one := laketest.New(t)
	laketest.Append(t, one, schemas.Tasks, tasks)
	if _, err := Job.Execute(ctx, policyEnv(t, one, client, srv.URL+"/v1", store), cfg); err != nil {
		t.Fatal(err)
	}
	want := outcomes(one)

	sharded := laketest.New(t)
	laketest.Append(t, sharded, schemas.Tasks, tasks)
	env := policyEnv(t, sharded, client, srv.URL+"/v1", store)
	var wg sync.WaitGroup
	sums := make([]Summary, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := cfg
			c.Shard = fmt.Sprintf("%d/2", i)
			sums[i], errs[i] = Job.Execute(ctx, env, c)
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if sums[i].Tasks == 0 || sums[i].Tasks == 4 || sums[i].Shard != fmt.Sprintf("%d/2", i) {
			t.Fatalf("shard %d: %+v (each shard must own some of the 4 tasks)", i, sums[i])
		}
	}
	got := outcomes(sharded)
	if len(want) != 8 || len(got) != len(want) {
		t.Fatalf("one worker: %d rollouts, two shards: %d", len(want), len(got))
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: sharded %q, one worker %q", id, got[id], w)
		}
	}
}
