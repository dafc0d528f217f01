package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/swelake/swelake/exec/agent"
	"github.com/swelake/swelake/internal/exectest"
	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// TestAttackEndpointOutage (docs/security.md, findings 4 and 7): with the
// policy endpoint down, every rollout was committed as a finished
// model_error with reward 0, the run exited 0, and the rerun after the
// endpoint came back ran nothing; max_retries=0 still made 6 attempts; the
// credentials in base_url were stored in every rollout. Now: exactly
// 1 + max_retries attempts, nothing committed, an error naming the outage,
// a rerun that runs every rollout, and the credentials nowhere in the lake.
func TestAttackEndpointOutage(t *testing.T) {
	exectest.Need(t)
	ctx := context.Background()
	store, _, bug, fix := exectest.BugRepo(t)
	task := exectest.BugTask(bug, fix)
	l := laketest.New(t)
	laketest.Append(t, l, schemas.Tasks, []schemas.Task{task})
	pol := &agent.Scripted{Tasks: map[string]agent.ScriptTask{task.TaskID: {TaskID: task.TaskID, Language: task.Language,
		GoldPatch: task.GoldPatch, FailToPass: task.FailToPass, TestCmd: task.TestCmd}}}
	var down atomic.Bool
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if down.Load() {
			http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
			return
		}
		pol.ServeHTTP(w, r)
	}))
	defer srv.Close()
	const secret = "s3cr3t-pw"
	base := strings.Replace(srv.URL, "http://", "http://trainer:"+secret+"@", 1) + "/v1"
	cfg := Config{Samples: 3, MaxSteps: 12, Concurrency: 1, BatchSize: 1}
	newEnv := func(retries int) *stage.Env {
		client, err := agent.NewClient(agent.ClientConfig{BaseURL: base, Model: "scripted", MaxRetries: retries, Backoff: 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return policyEnv(t, l, client, base, store)
	}

	down.Store(true)
	for _, retries := range []int{0, 2} {
		calls.Store(0)
		sum, err := Job.Execute(ctx, newEnv(retries), cfg)
		if !errors.Is(err, agent.ErrUnavailable) || sum.Rollouts != 0 || sum.NotRun != 3 {
			t.Fatalf("max_retries=%d, endpoint down: %+v, %v", retries, sum, err)
		}
		// The first rollout meets the outage and no other starts.
		if got := calls.Load(); got != int64(1+retries) {
			t.Fatalf("max_retries=%d: %d attempts, want %d", retries, got, 1+retries)
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("the error shows the credentials: %v", err)
		}
	}
	rt, _ := l.Table(schemas.Rollouts.Name)
	if s, _ := rt.Snapshot(ctx, lake.Latest); s.Rows() != 0 {
		t.Fatalf("%d rollouts committed during the outage", s.Rows())
	}

	down.Store(false)
	sum, err := Job.Execute(ctx, newEnv(2), cfg)
	if err != nil || sum.Rollouts != 3 || sum.Resumed != 0 || sum.NotRun != 0 {
		t.Fatalf("after the endpoint returned: %+v, %v", sum, err)
	}
	snap, _ := rt.Snapshot(ctx, lake.Latest)
	for r, err := range lake.ReadRows[schemas.Rollout](ctx, l, snap) {
		if err != nil {
			t.Fatal(err)
		}
		raw, err := l.ReadRaw(ctx, r.RawRef.SHA256, r.RawRef.Offset, r.RawRef.Length)
		if err != nil {
			t.Fatal(err)
		}
		if r.ExitReasonRaw == agent.ExitModelError || strings.Contains(string(raw), secret) || !strings.Contains(string(raw), "127.0.0.1") {
			t.Fatalf("rollout %s: exit %s, raw %s", r.RolloutID, r.ExitReasonRaw, raw)
		}
	}
	log, err := rt.Log(ctx, 0, lake.Latest)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range log {
		data, _ := json.Marshal(c)
		if strings.Contains(string(data), secret) {
			t.Fatalf("commit %d stores the credentials: %s", c.Version, data)
		}
		if c.Version > 0 && c.Provenance.Endpoint != agent.Redact(base) {
			t.Fatalf("commit %d provenance endpoint %q, want %q", c.Version, c.Provenance.Endpoint, agent.Redact(base))
		}
	}
}
