package buildsft

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/jobs/tables"
	"github.com/swelake/swelake/jobs/taskexec"
	"github.com/swelake/swelake/jobs/tokcache"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/diff"
	"github.com/swelake/swelake/trainer/sft"
)

// maxFileBytes bounds one file shown in a task example: a larger file
// makes no example (its context would be cut by max_tokens anyway).
const maxFileBytes = 256 << 10

// taskSource is what plan pins for the task examples.
type taskSource struct {
	tasks *lake.Snapshot
	// valid are the tasks whose latest validation is valid: execution
	// showed their tests fail at the base commit and pass with the gold
	// patch (testgen keeps only these).
	valid       map[string]bool
	validations *lake.Snapshot
	// generated are, per task, a test file a policy wrote and execution
	// kept (verify --mode generated-tests: it fails at the base commit and
	// passes with the gold patch): testgen's target where the task has no
	// validated test patch of its own.
	generated map[string]schemas.GeneratedTest
	sandbox   stage.Sandbox
}

// validateTasks checks the task kinds and the mix.
func (c *Config) validateTasks() error {
	for _, k := range c.Tasks {
		if !slices.Contains(sft.TaskKinds(), k) {
			return fmt.Errorf("tasks: %q: some of %s", k, strings.Join(sft.TaskKinds(), ", "))
		}
	}
	if len(c.Tasks) > 0 {
		c.TasksInput = cmp.Or(c.TasksInput, schemas.Tasks.Name)
	} else {
		c.TasksInput = ""
	}
	for k, w := range c.Mix {
		if k != sft.KindTrajectory && !slices.Contains(c.Tasks, k) {
			return fmt.Errorf("mix: %q is not a kind of this set (trajectory, or one of tasks: %v)", k, c.Tasks)
		}
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return fmt.Errorf("mix: %s: weight %v, want ≥ 0", k, w)
		}
	}
	if len(c.Mix) > 0 && !slices.ContainsFunc(slices.Collect(maps.Values(c.Mix)), func(w float64) bool { return w > 0 }) {
		return errors.New("mix: every weight is 0")
	}
	return nil
}

// planTasks pins the tasks (and, for testgen, the validations) and opens
// the sandbox that reads files at the tasks' base commits.
func planTasks(ctx context.Context, env *stage.Env, cfg *Config) (*taskSource, []*lake.Snapshot, error) {
	if len(cfg.Tasks) == 0 {
		return nil, nil, nil
	}
	ts := &taskSource{}
	var err error
	if ts.tasks, err = tables.Pin(ctx, env.Lake, cfg.TasksInput, schemas.Tasks.Name); err != nil {
		return nil, nil, fmt.Errorf("build-sft: tasks: %w", err)
	}
	pinned := []*lake.Snapshot{ts.tasks}
	if slices.Contains(cfg.Tasks, sft.KindTestGen) {
		if ts.validations, err = tables.Pin(ctx, env.Lake, schemas.TaskValidations.Name, schemas.TaskValidations.Name); err != nil {
			return nil, nil, fmt.Errorf("build-sft: testgen: %w", err)
		}
		pinned = append(pinned, ts.validations)
		if ts.valid, err = validTasks(ctx, env.Lake, ts.validations); err != nil {
			return nil, nil, err
		}
		gs, err := tables.Pin(ctx, env.Lake, schemas.GeneratedTests.Name, schemas.GeneratedTests.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("build-sft: testgen: %w", err)
		}
		pinned = append(pinned, gs)
		if ts.generated, err = keptGenerated(ctx, env.Lake, gs); err != nil {
			return nil, nil, err
		}
	}
	if slices.Contains(cfg.Tasks, sft.KindRepair) || slices.Contains(cfg.Tasks, sft.KindTestGen) {
		if ts.sandbox, err = stage.OpenSandbox(ctx, env); err != nil {
			return nil, nil, fmt.Errorf("build-sft: tasks %v read files at the base commits: %w", cfg.Tasks, err)
		}
	}
	return ts, pinned, nil
}

// keptGenerated: per task, the kept generated test file with the lowest
// seed (then id): one target per task, the same in every build.
func keptGenerated(ctx context.Context, l *lake.Lake, s *lake.Snapshot) (map[string]schemas.GeneratedTest, error) {
	out := map[string]schemas.GeneratedTest{}
	for g, err := range lake.ReadRows[schemas.GeneratedTest](ctx, l, s) {
		if err != nil {
			return nil, fmt.Errorf("build-sft: %s: %w", s.Ref(), err)
		}
		if !g.Kept {
			continue
		}
		if o, ok := out[g.TaskID]; !ok || g.Seed < o.Seed || (g.Seed == o.Seed && g.GenID < o.GenID) {
			out[g.TaskID] = g
		}
	}
	return out, nil
}

// validTasks: each task's latest validation (the last row of the last
// validation run that checked it) says valid.
func validTasks(ctx context.Context, l *lake.Lake, s *lake.Snapshot) (map[string]bool, error) {
	status := map[string]string{}
	for v, err := range lake.ReadRows[schemas.TaskValidation](ctx, l, s) {
		if err != nil {
			return nil, fmt.Errorf("build-sft: %s: %w", s.Ref(), err)
		}
		status[v.TaskID] = v.Status // rows in commit order: the latest wins
	}
	valid := map[string]bool{}
	for id, st := range status {
		valid[id] = st == "valid"
	}
	return valid, nil
}

// buildTasks makes the task examples: per task, each kind asked for;
// a task that cannot make a kind is counted by reason.
func buildTasks(ctx context.Context, env *stage.Env, ts *taskSource, st *state, cfg Config, tok *tokcache.Cache, sum *Summary) ([]schemas.SFTExample, error) {
	tasks, err := taskexec.TasksByID(ctx, env.Lake, ts.tasks, nil)
	if err != nil {
		return nil, fmt.Errorf("build-sft: %w", err)
	}
	opts := sft.Options{Mask: sft.MaskAssistant}
	var rows []schemas.SFTExample
	for _, id := range slices.Sorted(maps.Keys(tasks)) {
		t := tasks[id]
		kinds := slices.Clone(cfg.Tasks)
		testPatch := t.TestPatch
		if noTests, invalid := strings.TrimSpace(t.TestPatch) == "", !ts.valid[id]; slices.Contains(kinds, sft.KindTestGen) && (noTests || invalid) {
			if g, ok := ts.generated[id]; ok {
				testPatch = g.Patch // a generated test execution kept
				sum.TestGenFromGenerated++
			} else {
				kinds = slices.DeleteFunc(kinds, func(k string) bool { return k == sft.KindTestGen })
				if noTests {
					sum.Dropped["testgen: task has no test patch and no kept generated test"]++
				} else {
					sum.Dropped["testgen: task not validated (validate-tasks: its tests must fail at the base commit and pass with the gold patch)"]++
				}
			}
		}
		if len(kinds) == 0 {
			continue
		}
		in := sft.TaskInput{TaskID: t.TaskID, Repo: t.Repo, ProblemStatement: t.ProblemStatement, GoldPatch: t.GoldPatch, TestPatch: testPatch}
		if slices.Contains(kinds, sft.KindRepair) || slices.Contains(kinds, sft.KindTestGen) {
			if in.Files, err = baseFiles(ctx, ts.sandbox, t, testPatch, kinds); err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				sum.Dropped["repair/testgen: "+firstLine(err.Error())]++
				kinds = slices.DeleteFunc(kinds, func(k string) bool { return k != sft.KindLocalize })
			}
		}
		for _, kind := range kinds {
			var msgs []schemas.Message
			switch kind {
			case sft.KindLocalize:
				msgs, err = sft.LocalizeExample(in)
			case sft.KindRepair:
				msgs, err = sft.RepairExample(in)
			case sft.KindTestGen:
				msgs, err = sft.TestGenExample(in)
			}
			if errors.Is(err, sft.ErrNoExample) {
				sum.Dropped[kind+": "+strings.TrimPrefix(err.Error(), sft.ErrNoExample.Error()+": ")]++
				continue
			}
			if err != nil {
				return nil, err
			}
			h := sha256.Sum256([]byte(kind + "\x00" + t.TaskID + "\x00" + t.ContentHash + "\x00" + tok.Identity()))
			b := tokenise("ex-"+hex.EncodeToString(h[:])[:20], nil, t.TaskID, kind, schemas.Rollout{Messages: msgs}, tok, st.tmpl, opts, cfg)
			if b.err != "" {
				sum.Dropped[kind+": "+b.err]++
				continue
			}
			rows = append(rows, b.row)
		}
	}
	return rows, nil
}

// baseFiles reads, at the task's base commit in a sandbox (so tasks whose
// repository is only in their image work too), the files the gold patch
// changes and, for testgen, those the test patch changes.
func baseFiles(ctx context.Context, sb stage.Sandbox, t *schemas.Task, testPatch string, kinds []string) (map[string]string, error) {
	paths := diff.Paths(t.GoldPatch)
	if slices.Contains(kinds, sft.KindTestGen) {
		paths = append(paths, diff.Paths(testPatch)...)
	}
	created := diff.Created(t.GoldPatch)
	maps.Copy(created, diff.Created(testPatch))
	ws, err := taskexec.TaskWorkspace(sb.ReposDir, t)
	if err != nil {
		return nil, err
	}
	box, err := sb.Backend.Open(ctx, ws)
	if err != nil {
		return nil, fmt.Errorf("open a sandbox at %s: %w", t.BaseCommit, err)
	}
	defer box.Close(context.WithoutCancel(ctx))
	files := map[string]string{}
	for _, p := range paths {
		if created[p] {
			continue
		}
		data, err := box.ReadFile(ctx, p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // the builders say which file is missing
		}
		if err != nil {
			return nil, fmt.Errorf("read %s at the base commit: %w", p, err)
		}
		if len(data) > maxFileBytes {
			return nil, fmt.Errorf("%s is larger than %d KiB", p, maxFileBytes>>10)
		}
		files[p] = string(data)
	}
	return files, nil
}

// mix keeps, of each kind, its share of the largest set whose counts are
// in the ratios of weights (a kind absent from weights or weighted 0 is
// left out): n_k = ⌊N·w_k/W⌋ with N as large as every kind's supply
// allows. Which examples of a kind are kept is a seeded draw.
func mix(rows []schemas.SFTExample, weights map[string]float64, seed uint64, sum *Summary) []schemas.SFTExample {
	if len(weights) == 0 {
		return rows
	}
	byKind := map[string][]string{}
	for _, r := range rows {
		byKind[r.Kind] = append(byKind[r.Kind], r.ExampleID)
	}
	total := 0.0
	for _, w := range weights {
		total += w
	}
	// A kind with no example at all (testgen where no task has a
	// validated test patch) does not empty the set: it is left out of the
	// ratios and counted.
	n := math.Inf(1)
	for k, w := range weights {
		if w > 0 && len(byKind[k]) == 0 {
			total -= w
			sum.Dropped[fmt.Sprintf("mix: %s has no examples (left out of the ratios)", k)]++
		}
	}
	for k, w := range weights {
		if w > 0 && len(byKind[k]) > 0 {
			n = math.Min(n, float64(len(byKind[k]))*total/w)
		}
	}
	if math.IsInf(n, 1) {
		n = 0
	}
	keep := map[string]bool{}
	for k, ids := range byKind {
		want := 0
		if w := weights[k]; w > 0 {
			want = int(math.Floor(n*w/total + 1e-9))
		}
		for i, id := range sft.Shuffle(ids, seed) {
			if i < want {
				keep[id] = true
			}
		}
		if left := len(ids) - min(want, len(ids)); left > 0 {
			sum.Dropped[fmt.Sprintf("mix: %s beyond its share", k)] += left
		}
	}
	return slices.DeleteFunc(rows, func(r schemas.SFTExample) bool { return !keep[r.ExampleID] })
}
