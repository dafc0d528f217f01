package stage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/swelake/swelake/exec/agent"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/lake/objstore/objstoretest"
	"github.com/swelake/swelake/schemas"
)

type toyConfig struct {
	Label string   `json:"label" mapstructure:"label"`
	Rows  int      `json:"rows" mapstructure:"rows"`
	Tags  []string `json:"-" mapstructure:"tags"` // hidden from JSON, still part of the identity
}

type toySummary struct {
	stage.Outcome
	Rows int `json:"rows"`
}

// toy writes three tables in one run, as curate does.
func toy() *stage.Def[toyConfig, toySummary] {
	return &stage.Def[toyConfig, toySummary]{
		Info:     stage.Info{Name: "toy", Outputs: []string{schemas.Curations.Name, schemas.CurationDrops.Name, schemas.TaskStats.Name}},
		Defaults: func() toyConfig { return toyConfig{Rows: 3} },
		Validate: func(c *toyConfig) error {
			if c.Rows < 0 {
				return errors.New("rows: must be ≥ 0")
			}
			return nil
		},
		Plan: func(ctx context.Context, env *stage.Env, c *toyConfig) (stage.Plan, error) {
			return stage.Plan{Identity: []string{"label:" + c.Label}}, nil
		},
		Run: func(ctx context.Context, r *stage.Run[toyConfig]) (toySummary, error) {
			var cur []schemas.Curation
			var drops []schemas.CurationDrop
			var stats []schemas.TaskStat
			for i := range r.Config.Rows {
				id := fmt.Sprintf("%s-%d", r.Config.Label, i)
				cur = append(cur, schemas.Curation{CurationID: r.ID, RolloutID: id, TaskID: id, Kept: true})
				drops = append(drops, schemas.CurationDrop{CurationID: r.ID, Rule: id})
				stats = append(stats, schemas.TaskStat{CurationID: r.ID, TaskID: id})
			}
			stage.Emit(r, schemas.Curations, cur)
			stage.Emit(r, schemas.CurationDrops, drops)
			stage.Emit(r, schemas.TaskStats, stats)
			return toySummary{Rows: r.Config.Rows}, nil
		},
	}
}

func env(b objstore.Bucket) *stage.Env {
	l := lake.Open(b, lake.Options{Backoff: time.Millisecond})
	return &stage.Env{Lake: l, CodeVersion: "test", Author: "test"}
}

func newBucket(t *testing.T) objstore.Bucket {
	b, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := lake.Open(b, lake.Options{}).Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDriverSkipsACompleteRun(t *testing.T) {
	ctx := context.Background()
	b := newBucket(t)
	d := toy()
	first, err := d.Execute(ctx, env(b), toyConfig{Label: "a", Rows: 3})
	if err != nil {
		t.Fatal(err)
	}
	if first.Skipped || len(first.Outputs) != 3 || first.Rows != 3 {
		t.Fatalf("first run: %+v", first)
	}
	again, err := d.Execute(ctx, env(b), toyConfig{Label: "a", Rows: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Skipped || again.ID != first.ID || again.Rows != 3 || fmt.Sprint(again.Outputs) != fmt.Sprint(first.Outputs) {
		t.Fatalf("second run: %+v, want the first's record %+v, skipped", again, first)
	}
	// A field hidden from JSON still changes the run's identity.
	tagged, err := d.Execute(ctx, env(b), toyConfig{Label: "a", Rows: 3, Tags: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if tagged.Skipped || tagged.ID == first.ID {
		t.Fatalf("a config differing in a json:\"-\" field ran as the same run: %+v", tagged)
	}
	if _, err := d.Execute(ctx, env(b), toyConfig{Rows: -1}); err == nil {
		t.Fatal("an invalid config ran")
	}
}

// visible is what a reader that resolves the latest complete run sees: the
// run's id and the rows of that run in each output table at the versions
// its record names.
func visible(t *testing.T, b objstore.Bucket) (string, map[string]int) {
	t.Helper()
	ctx := context.Background()
	l := lake.Open(b, lake.Options{})
	rec, err := l.LatestRun(ctx, "toy", nil)
	if errors.Is(err, lake.ErrNoRun) {
		return "", nil
	}
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	count := func(table string, id func(yield func(string) bool)) {
		for got := range id {
			if got == rec.ID {
				counts[table]++
			}
		}
	}
	snap := func(table string) *lake.Snapshot {
		tb, _ := l.Table(table)
		s, err := tb.Snapshot(ctx, rec.Outputs[table])
		if err != nil {
			t.Fatalf("record %s names %s@%d: %v", rec.ID, table, rec.Outputs[table], err)
		}
		return s
	}
	count(schemas.Curations.Name, func(yield func(string) bool) {
		for r, err := range lake.ReadRows[schemas.Curation](ctx, l, snap(schemas.Curations.Name)) {
			if err != nil {
				t.Fatal(err)
			}
			yield(r.CurationID)
		}
	})
	count(schemas.CurationDrops.Name, func(yield func(string) bool) {
		for r, err := range lake.ReadRows[schemas.CurationDrop](ctx, l, snap(schemas.CurationDrops.Name)) {
			if err != nil {
				t.Fatal(err)
			}
			yield(r.CurationID)
		}
	})
	count(schemas.TaskStats.Name, func(yield func(string) bool) {
		for r, err := range lake.ReadRows[schemas.TaskStat](ctx, l, snap(schemas.TaskStats.Name)) {
			if err != nil {
				t.Fatal(err)
			}
			yield(r.CurationID)
		}
	})
	return rec.ID, counts
}

// TestMultiTableRunAllOrNothing fails every storage call of a three-table
// run in turn, before and after the call reaches storage: a reader that
// resolves the latest run sees the earlier run whole or the new one whole,
// never a mix, and a rerun rolls forward without committing any table twice.
func TestMultiTableRunAllOrNothing(t *testing.T) {
	ctx := context.Background()
	d := toy()
	prepare := func(b objstore.Bucket) string {
		s, err := d.Execute(ctx, env(b), toyConfig{Label: "old", Rows: 2})
		if err != nil {
			t.Fatal(err)
		}
		return s.ID
	}
	b := newBucket(t)
	prepare(b)
	probe := &objstoretest.Faulty{Bucket: b}
	newRun, err := d.Execute(ctx, env(probe), toyConfig{Label: "new", Rows: 4})
	if err != nil {
		t.Fatal(err)
	}
	calls := probe.Calls()
	outcomes := map[string]int{}
	for _, when := range []objstoretest.When{objstoretest.Before, objstoretest.After} {
		for at := 1; at <= calls; at++ {
			name := fmt.Sprintf("%s-%d", when, at)
			fb := newBucket(t)
			oldID := prepare(fb)
			faulty := &objstoretest.Faulty{Bucket: fb, FailAt: at, When: when}
			_, runErr := d.Execute(ctx, env(faulty), toyConfig{Label: "new", Rows: 4})
			id, counts := visible(t, fb)
			switch id {
			case oldID:
				if counts[schemas.Curations.Name] != 2 || counts[schemas.CurationDrops.Name] != 2 || counts[schemas.TaskStats.Name] != 2 {
					t.Fatalf("%s: the old run is not whole: %v", name, counts)
				}
				if runErr == nil {
					t.Fatalf("%s: the run reported success but its record is not there", name)
				}
				outcomes["old visible"]++
			case newRun.ID:
				if counts[schemas.Curations.Name] != 4 || counts[schemas.CurationDrops.Name] != 4 || counts[schemas.TaskStats.Name] != 4 {
					t.Fatalf("%s: the new run is visible but not whole: %v", name, counts)
				}
				outcomes["new visible"]++
			default:
				t.Fatalf("%s: latest run %q is neither", name, id)
			}
			// Rerun without faults: complete, each table committed once.
			s, err := d.Execute(ctx, env(fb), toyConfig{Label: "new", Rows: 4})
			if err != nil {
				t.Fatalf("%s: rerun: %v", name, err)
			}
			if id, counts := visible(t, fb); id != newRun.ID || counts[schemas.TaskStats.Name] != 4 || counts[schemas.Curations.Name] != 4 {
				t.Fatalf("%s: after the rerun: %s %v", name, id, counts)
			}
			l := lake.Open(fb, lake.Options{})
			for _, table := range d.Outputs {
				tb, _ := l.Table(table)
				log, err := tb.Log(ctx, 0, lake.Latest)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, c := range log {
					if c.Provenance.RunKey == s.RunKey {
						n++
					}
				}
				if n != 1 {
					t.Fatalf("%s: %s holds run key %s %d times", name, table, s.RunKey, n)
				}
			}
		}
	}
	t.Logf("%d storage calls per run; outcomes over %d faults: %v", calls, 2*calls, outcomes)
}

func TestHashIgnoresTagsAndNumberSpelling(t *testing.T) {
	type a struct {
		X float64
		M map[string]any
		L []string
	}
	h1, _ := stage.Hash(a{X: 1, M: map[string]any{"k": int64(3), "j": 1.5}})
	h2, _ := stage.Hash(a{X: 1.0, M: map[string]any{"j": 1.5, "k": 3.0}, L: []string{}})
	if h1 != h2 {
		t.Fatal("1 and 1.0, a nil and an empty list, map order: the same config hashed differently")
	}
	h3, _ := stage.Hash(a{X: 2})
	if h1 == h3 {
		t.Fatal("different configs hashed alike")
	}
	if _, err := stage.Hash(struct{ F func() }{func() {}}); err == nil {
		t.Fatal("a func was hashed")
	}
}

// modelRecorder answers every chat, remembering the model asked for.
type modelRecorder struct{ models *[]string }

func (m modelRecorder) Chat(_ context.Context, req agent.ChatRequest) (agent.ChatResponse, error) {
	*m.models = append(*m.models, req.Model)
	return agent.ChatResponse{}, nil
}

// TestPolicyModel: an environment's PolicyModel is the model the policy
// endpoint names and every request asks for; other endpoints, and an
// environment without it, are as configured.
func TestPolicyModel(t *testing.T) {
	var asked []string
	rec := modelRecorder{&asked}
	env := &stage.Env{Services: stage.Static{Endpoints: map[string]stage.Endpoint{
		"policy": {Client: rec, Model: "base"}, "verifier": {Client: rec, Model: "judge"}}}}
	ask := func(e *stage.Env, name string) string {
		ep, err := e.Endpoint(name)
		if err != nil {
			t.Fatal(err)
		}
		ep.Client.Chat(context.Background(), agent.ChatRequest{})
		return ep.Model
	}
	override := *env
	override.PolicyModel = "base-ckpt-2"
	got := []string{ask(env, "policy"), ask(&override, "policy"), ask(&override, "verifier")}
	if want := []string{"base", "base-ckpt-2", "judge"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("endpoint models %v, want %v", got, want)
	}
	if want := []string{"", "base-ckpt-2", ""}; fmt.Sprint(asked) != fmt.Sprint(want) { // "": the client's own model
		t.Fatalf("requests asked for %q, want %q", asked, want)
	}
}
