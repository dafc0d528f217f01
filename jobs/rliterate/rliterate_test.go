package rliterate

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swelake/swelake/exec/agent"
	"github.com/swelake/swelake/internal/exectest"
	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/internal/parquetfile"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/jobs/synthtasks"
	"github.com/swelake/swelake/jobs/tables"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/queries"
	"github.com/swelake/swelake/schemas"
)

// standin is the trainer stand-in of examples/rl.
func standin(t testing.TB) string {
	p, err := filepath.Abs("../../examples/rl/trainer-standin.sh")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func loopEnv(t *testing.T, tasks []schemas.Task) (*stage.Env, *agent.Scripted) {
	store, _, _, _ := exectest.BugRepo(t)
	l := laketest.New(t)
	laketest.Append(t, l, schemas.Tasks, tasks)
	pol := &agent.Scripted{Tasks: map[string]agent.ScriptTask{}}
	for _, tk := range tasks {
		pol.Tasks[tk.TaskID] = agent.ScriptTask{TaskID: tk.TaskID, Language: tk.Language, GoldPatch: tk.GoldPatch, FailToPass: tk.FailToPass, TestCmd: tk.TestCmd}
	}
	srv := httptest.NewServer(pol)
	t.Cleanup(srv.Close)
	client, err := agent.NewClient(agent.ClientConfig{BaseURL: srv.URL + "/v1", Model: "scripted"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &stage.Env{Lake: l, Services: stage.Static{Backend: exectest.Backend(t), ReposDir: store,
		Endpoints: map[string]stage.Endpoint{"policy": {Client: client, Model: "scripted", BaseURL: srv.URL + "/v1"}}}}, pol
}

func bugTasks(t *testing.T, n int) []schemas.Task {
	_, _, bug, fix := exectest.BugRepo(t)
	var out []schemas.Task
	for i := range n {
		task := exectest.BugTask(bug, fix)
		task.TaskID, task.InstanceID = fmt.Sprintf("test/pytext-rle-%d", i), fmt.Sprintf("pytext-rle-%d", i)
		out = append(out, task)
	}
	return out
}

// TestLoop runs the RL loop for three iterations with real sandboxes, the
// real client against the scripted policy and the trainer stand-in; stops
// it in the middle of iteration 2's trainer, then in the middle of
// iteration 3's rollouts; resumes it; and checks the iterations, the
// checkpoints, the batch files and that nothing ran twice that finished.
func TestLoop(t *testing.T) {
	exectest.Need(t)
	ctx := context.Background()
	env, pol := loopEnv(t, bugTasks(t, 3))
	out, marker := t.TempDir(), filepath.Join(t.TempDir(), "paused")
	cfg := Job.Defaults()
	cfg.OutDir, cfg.LeaseTTL = out, "5s"
	cfg.Rollout.Samples, cfg.Rollout.MaxSteps, cfg.Rollout.OnlyValid = 4, 12, false
	cfg.Trainer.Command = []string{standin(t), "--batch", "{batch}", "--samples", "{samples}", "--checkpoint", "{checkpoint}",
		"--iteration", "{iteration}", "--loop", "{loop_id}", "--pause-once", marker, "--pause-at", "2"}

	// Stopped while iteration 2's trainer runs (it pauses the first time).
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		for cctx.Err() == nil {
			if _, err := os.Stat(marker); err == nil {
				cancel()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	first, err := Job.Execute(cctx, env, cfg)
	cancel()
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "iteration 2: trainer: stopped") {
		t.Fatalf("stopped run: %v", err)
	}
	if len(first.Iterations) != 1 {
		t.Fatalf("stopped run completed %d iterations, want 1: %+v", len(first.Iterations), first)
	}
	requests := pol.Requests()

	// Stopped again in iteration 3's rollouts, after 5 of them.
	cctx, cancel = context.WithCancel(ctx)
	second := *env
	second.Progress = func(job string) stage.Progress {
		if job == "rollout" {
			return cancelAt{n: 5, cancel: cancel}
		}
		return nil
	}
	mid, err := Job.Execute(cctx, &second, cfg)
	cancel()
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "iteration 3: rollout") || len(mid.Iterations) != 2 {
		t.Fatalf("run stopped in iteration 3's rollouts: %v (%d iterations)", err, len(mid.Iterations))
	}

	sum, err := Job.Execute(ctx, env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.LoopID != first.LoopID || len(sum.Iterations) != 3 || !sum.Iterations[0].Resumed || !sum.Iterations[1].Resumed || sum.Iterations[2].Resumed {
		t.Fatalf("resumed run: %+v", sum)
	}
	its := laketest.Rows[schemas.RLIteration](t, env.Lake, schemas.RLIterations.Name, lake.Latest)
	slices.SortFunc(its, func(a, b schemas.RLIteration) int { return int(a.Iteration - b.Iteration) })
	if len(its) != 3 {
		t.Fatalf("%d rl_iterations rows", len(its))
	}
	if its[1].TrainerAttempts != 2 || its[0].TrainerAttempts != 1 || its[2].TrainerAttempts != 1 {
		t.Errorf("trainer attempts %d %d %d, want 1 2 1", its[0].TrainerAttempts, its[1].TrainerAttempts, its[2].TrainerAttempts)
	}
	if sum.StepsResumed < 2 { // iteration 3's curriculum and (part of its) rollouts
		t.Errorf("steps resumed: %d", sum.StepsResumed)
	}
	short := strings.TrimPrefix(sum.LoopID, "rl-loop-")[:6]
	ckpt := "scripted"
	var rates []float64
	for i, it := range its {
		want := fmt.Sprintf("scripted-%s-ckpt-%d", short, i+1)
		if it.CheckpointIn != ckpt || it.CheckpointOut != want {
			t.Errorf("iteration %d: %s → %s, want %s → %s", it.Iteration, it.CheckpointIn, it.CheckpointOut, ckpt, want)
		}
		ckpt = want
		if it.Tasks != 3 || it.Rollouts != 12 || it.Graded != 12 || it.TrainerExit != 0 || it.Samples == 0 || it.EvalRunID == "" {
			t.Errorf("iteration %d: %+v", it.Iteration, it)
		}
		sha, _, err := objstore.HashFile(ctx, it.BatchFile)
		if err != nil || sha != it.BatchSHA256 {
			t.Errorf("iteration %d: batch file %s: %s %v, recorded %s", it.Iteration, it.BatchFile, sha, err, it.BatchSHA256)
		}
		samples := strings.TrimSuffix(it.BatchFile, ".parquet") + ".samples.parquet"
		pf, f, err := parquetfile.Open(samples)
		if err != nil || pf.NumRows() != it.Samples {
			t.Errorf("iteration %d: samples file: %v", it.Iteration, err)
		}
		if f != nil {
			f.Close()
		}
		if log, err := os.ReadFile(it.TrainerLog); err != nil || !strings.Contains(string(log), "trainer-standin: iteration") {
			t.Errorf("iteration %d: trainer log %s: %v", it.Iteration, it.TrainerLog, err)
		}
		rates = append(rates, it.ResolveRate)
		if i > 0 && it.CumSamples != its[i-1].CumSamples+it.Samples {
			t.Errorf("iteration %d: cum_samples %d after %d + %d", it.Iteration, it.CumSamples, its[i-1].CumSamples, it.Samples)
		}
	}
	// Every sample the scripted policy solves at step n it solves at n+1
	// (same seeds), and it solves more: the resolve rate never falls.
	if rates[1] < rates[0] || rates[2] < rates[1] || rates[2] <= rates[0] {
		t.Errorf("resolve rates %v: want a rising curve", rates)
	}
	t.Logf("resolve rates %v; policy requests %d before the stop, %d in all", rates, requests, pol.Requests())
	cks := laketest.Rows[schemas.Checkpoint](t, env.Lake, schemas.Checkpoints.Name, lake.Latest)
	slices.SortFunc(cks, func(a, b schemas.Checkpoint) int { return int(a.Iteration - b.Iteration) })
	if len(cks) != 3 || cks[2].RLSamples != its[2].CumSamples || cks[0].BaseModel != "scripted" || cks[1].LoopID != sum.LoopID {
		t.Errorf("checkpoints: %+v", cks)
	}
	// Each iteration's rollouts were made by its checkpoint, once.
	byPolicy := map[string]int{}
	for _, r := range laketest.Rows[schemas.Rollout](t, env.Lake, schemas.Rollouts.Name, lake.Latest) {
		byPolicy[r.Policy]++
	}
	if len(byPolicy) != 3 || byPolicy["scripted"] != 12 || byPolicy[its[2].CheckpointIn] != 12 {
		t.Errorf("rollouts by policy: %v", byPolicy)
	}
	// Complete: a rerun is a no-op.
	again, err := Job.Execute(ctx, env, cfg)
	if err != nil || !again.Skipped || again.LoopID != sum.LoopID {
		t.Fatalf("third run: %+v %v", again, err)
	}
}

// TestConfigErrors: a loop misconfigured fails before anything runs, with
// a message naming the key.
func TestConfigErrors(t *testing.T) {
	base := func() Config {
		c := Job.Defaults()
		c.OutDir, c.Trainer.Command = "out", []string{"train", "{batch}"}
		return c
	}
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Trainer.Command = nil }, "trainer.command is empty"},
		{func(c *Config) { c.Trainer.Command = []string{"train", "--data={bacth}"} }, `argument "--data={bacth}": unknown {bacth}; the template knows {batch}, {samples}`},
		{func(c *Config) { c.OutDir = "" }, "out_dir is empty"},
		{func(c *Config) { c.Iterations = -1 }, "iterations -1: must be ≥ 1"},
		{func(c *Config) { c.Rollout.TaskIDs = []string{"a"}; c.BuildRL.VerlOut = "x" }, "the loop sets these keys itself each iteration: rollout.task_ids (the curriculum's), build_rl.verl_out"},
		{func(c *Config) { c.Curriculum.Query = "curriculum_pass_rat" }, `curriculum.query: query "curriculum_pass_rat": not an embedded query`},
		{func(c *Config) { c.Curriculum.Bands = []string{"learnable"} }, "curriculum.bands and curriculum.params need curriculum.query"},
		{func(c *Config) { c.Rollout.Samples = -2 }, "rollout: samples -2"},
		{func(c *Config) { c.BuildRL.Estimator = "ppo" }, `build_rl: estimator "ppo": rloo, grpo or grpo_no_std`},
		{func(c *Config) { c.Trainer.Timeout = "soon" }, `duration "soon"`},
	} {
		c := base()
		tc.edit(&c)
		err := Job.ValidateAny(&c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error containing %q, got %v", tc.want, err)
		}
	}
	c := base()
	if err := Job.ValidateAny(&c); err != nil {
		t.Fatalf("a good config: %v", err)
	}
}

// cancelAt cancels a run when its progress reaches n.
type cancelAt struct {
	n      int
	cancel func()
}

func (c cancelAt) Set(done, total int) {
	if done >= c.n {
		c.cancel()
	}
}
func (cancelAt) Finish() {}

// TestCheckpointNamesMustBeNew: a trainer that prints a name the
// checkpoints table holds, or the checkpoint it started from (a fixed
// served name), stops the loop saying so — else the next iteration's
// rollouts would be found "complete already" under the old name.
func TestCheckpointNamesMustBeNew(t *testing.T) {
	exectest.Need(t)
	ctx := context.Background()
	env, _ := loopEnv(t, bugTasks(t, 1))
	laketest.Append(t, env.Lake, schemas.Checkpoints, []schemas.Checkpoint{{Model: "taken", SFTSetID: "sft-1"}})
	cfg := Job.Defaults()
	cfg.OutDir, cfg.Iterations = t.TempDir(), 2
	cfg.Rollout.Samples, cfg.Rollout.MaxSteps, cfg.Rollout.OnlyValid, cfg.SkipEvaluate = 2, 8, false, true
	cfg.BuildRL.KeepZeroAdvantage = true
	cfg.Trainer.Command = []string{"sh", "-c", "echo taken", "{batch}"}
	if _, err := Job.Execute(ctx, env, cfg); err == nil || !strings.Contains(err.Error(), `iteration 1: trainer: reported "taken", which checkpoints already holds`) {
		t.Fatalf("a name the table holds: %v", err)
	}
	cfg.Trainer.Command = []string{"sh", "-c", "echo served-policy", "{batch}"}
	sum, err := Job.Execute(ctx, env, cfg)
	if err == nil || !strings.Contains(err.Error(), `iteration 2: trainer: reported "served-policy", the checkpoint this iteration started from`) || len(sum.Iterations) != 1 {
		t.Fatalf("a fixed served name: %v (%d iterations)", err, len(sum.Iterations))
	}
}

// TestSelfPlay: with self_play, each iteration's checkpoint first writes
// tasks in real sandboxes (synth-tasks --method policy with its own model
// name) and then rolls them out with the others; the lake links each
// self-made task to the checkpoint that wrote it, and the self_play query
// separates its solve rate on them.
func TestSelfPlay(t *testing.T) {
	exectest.Need(t)
	ctx := context.Background()
	env, pol := loopEnv(t, bugTasks(t, 2))
	l := env.Lake
	pol.Lookup = func(id string) (agent.ScriptTask, bool) { // tasks written while it serves
		tt, _ := l.Table(schemas.Tasks.Name)
		s, err := tt.Snapshot(context.Background(), lake.Latest)
		if err != nil {
			return agent.ScriptTask{}, false
		}
		for task, err := range lake.ReadRows[schemas.Task](context.Background(), l, s) {
			if err == nil && task.TaskID == id {
				return agent.ScriptTask{TaskID: id, Language: task.Language, GoldPatch: task.GoldPatch, FailToPass: task.FailToPass,
					PassToPass: task.PassToPass, TestCmd: task.TestCmd}, true
			}
		}
		return agent.ScriptTask{}, false
	}
	cfg := Job.Defaults()
	cfg.OutDir, cfg.LeaseTTL, cfg.Iterations = t.TempDir(), "5s", 2
	cfg.Rollout.Samples, cfg.Rollout.MaxSteps, cfg.Rollout.OnlyValid = 2, 12, false
	cfg.Trainer.Command = []string{standin(t), "--batch", "{batch}", "--samples", "{samples}", "--checkpoint", "{checkpoint}",
		"--iteration", "{iteration}", "--loop", "{loop_id}"}
	cfg.SelfPlay = &synthtasks.Config{Repos: []synthtasks.Repo{{Path: exectest.Example(t, "pytext"), Name: "pytext-sp"}}, MaxCandidates: 3, MaxTasks: 2, Timeout: "20s"}
	sum, err := Job.Execute(ctx, env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	its := laketest.Rows[schemas.RLIteration](t, l, schemas.RLIterations.Name, lake.Latest)
	injections := laketest.Rows[schemas.Injection](t, l, schemas.Injections.Name, lake.Latest)
	rollouts := laketest.Rows[schemas.Rollout](t, l, schemas.Rollouts.Name, lake.Latest)
	if len(its) != 2 || len(sum.Iterations) != 2 {
		t.Fatalf("%d iterations", len(its))
	}
	for _, it := range its {
		var mine []string
		for _, in := range injections {
			if in.Model == it.CheckpointIn && in.Kept {
				mine = append(mine, in.TaskID)
			}
		}
		if it.SelfMadeTasks == 0 || int(it.SelfMadeTasks) != len(mine) {
			t.Fatalf("iteration %d (%s): %d self-made tasks, the injections table holds %d kept by it", it.Iteration, it.CheckpointIn, it.SelfMadeTasks, len(mine))
		}
		rolled := map[string]bool{}
		for _, r := range rollouts {
			if r.RunID == it.RolloutRunID {
				rolled[r.TaskID] = true
			}
		}
		for _, id := range mine {
			if !rolled[id] {
				t.Errorf("iteration %d: self-made task %s was not rolled out by its checkpoint", it.Iteration, id)
			}
		}
	}
	// The tasks it wrote were validated (rollout.only_valid keeps them).
	valid := map[string]bool{}
	for _, v := range laketest.Rows[schemas.TaskValidation](t, l, schemas.TaskValidations.Name, lake.Latest) {
		valid[v.TaskID] = v.Status == schemas.ValidationValid
	}
	for _, in := range injections {
		if in.Kept && !valid[in.TaskID] {
			t.Errorf("self-made task %s has no valid validation", in.TaskID)
		}
	}
	if its[0].CheckpointIn == its[1].CheckpointIn {
		t.Fatalf("both iterations from %s", its[0].CheckpointIn)
	}
	// Resumed: nothing runs again.
	again, err := Job.Execute(ctx, env, cfg)
	if err != nil || !again.Skipped {
		t.Fatalf("rerun: %+v %v", again, err)
	}
	e, err := queries.Open(ctx, queries.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Attach(ctx, l, nil, tables.ParquetSchema); err != nil {
		t.Fatal(err)
	}
	q, _ := queries.Load("self_play")
	res, err := e.Run(ctx, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	selfMade := map[string]bool{}
	for _, row := range res.Rows {
		if row[1] == "self-made" {
			selfMade[fmt.Sprint(row[0])] = true
		}
	}
	if !selfMade[its[0].CheckpointIn] || !selfMade[its[1].CheckpointIn] {
		t.Fatalf("self_play has self-made rows for %v, want both checkpoints %s and %s", selfMade, its[0].CheckpointIn, its[1].CheckpointIn)
	}
}
