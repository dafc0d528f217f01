package rollout

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/agent"
	"github.com/swelake/swelake/internal/exectest"
	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// BenchmarkRolloutThroughput: agent steps per second of the rollout job
// (scripted policy over HTTP, real sandboxes, grading included) at
// concurrency 1, 2 and 4 in bubblewrap, 1 and 2 in containers (the docker
// backend on Podman), each reported with its speed-up over
// concurrency 1 measured in the same run.
func BenchmarkRolloutThroughput(b *testing.B) {
	exectest.Need(b)
	store, _, bug, fix := exectest.BugRepo(b)
	var tasks []schemas.Task
	pol := &agent.Scripted{Tasks: map[string]agent.ScriptTask{}}
	for i := range 4 {
		t := exectest.BugTask(bug, fix)
		t.TaskID = fmt.Sprintf("bench/rle-%d", i)
		tasks = append(tasks, t)
		pol.Tasks[t.TaskID] = agent.ScriptTask{TaskID: t.TaskID, Language: t.Language, GoldPatch: t.GoldPatch, FailToPass: t.FailToPass, TestCmd: t.TestCmd}
	}
	l := laketest.New(b)
	laketest.Append(b, l, schemas.Tasks, tasks)
	srv := httptest.NewServer(pol)
	defer srv.Close()
	client, err := agent.NewClient(agent.ClientConfig{BaseURL: srv.URL + "/v1", Model: "scripted"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	d, _ := exectest.Docker(b)
	seed := int64(0)
	for _, be := range []struct {
		name  string
		b     exec.Backend
		concs []int
	}{{"bwrap", exectest.Backend(b), []int{1, 2, 4}}, {"container", d, []int{1, 2}}} {
		b.Run(be.name, func(b *testing.B) { throughput(b, l, store, srv.URL, client, be.b, be.concs, seed) })
		seed += 1000 // runs of the other backend are new runs, not "already complete"
	}
}

// throughput measures rollouts on one backend at each concurrency.
func throughput(b *testing.B, l *lake.Lake, store, url string, client agent.Chatter, backend exec.Backend, concs []int, seed int64) {
	ctx := context.Background()
	srvURL := url
	// One untimed run first: the first sandboxes pay for cold caches
	// (page cache of the clone, Python's imports), which would otherwise
	// count against concurrency 1 only.
	env := &stage.Env{Lake: l, Services: stage.Static{Backend: backend, ReposDir: store,
		Endpoints: map[string]stage.Endpoint{"policy": {Client: client, Model: "scripted", BaseURL: srvURL + "/v1"}}}}
	if _, err := Job.Execute(ctx, env, Config{Samples: 1, MaxSteps: 20, Seed: -1 - seed}); err != nil {
		b.Fatal(err)
	}
	base := 0.0
	for _, conc := range concs {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			steps, rollouts := 0, 0
			var elapsed time.Duration
			for b.Loop() {
				seed++ // a new run each time
				start := time.Now()
				sum, err := Job.Execute(ctx, env, Config{Samples: 4, MaxSteps: 20, Concurrency: conc, Seed: seed})
				if err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				steps += sum.Steps
				rollouts += sum.Rollouts
			}
			rate := float64(steps) / elapsed.Seconds()
			b.ReportMetric(rate, "steps/s")
			b.ReportMetric(float64(rollouts)/elapsed.Seconds(), "rollouts/s")
			if conc == 1 {
				base = rate
			}
			if base > 0 {
				b.ReportMetric(rate/base, "x_vs_c1")
			}
		})
	}
}
