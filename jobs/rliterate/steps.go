package rliterate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/swelake/swelake/internal/parquetfile"
	"github.com/swelake/swelake/jobs/buildrl"
	"github.com/swelake/swelake/jobs/evaluate"
	"github.com/swelake/swelake/jobs/rollout"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/jobs/synthtasks"
	"github.com/swelake/swelake/jobs/tables"
	"github.com/swelake/swelake/jobs/validatetasks"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/schemas"
)

// prefix is where a loop keeps its lease and step records in the lake.
func prefix(loopID string) string { return "rl/" + loopID + "/" }

type loop struct {
	r   *stage.Run[Config]
	st  *state
	sum *Summary
}

// curriculumStep is the curriculum's selection for an iteration, recorded
// so that a resumed iteration rolls out the tasks it chose first.
type curriculumStep struct {
	Name   string   `json:"name"`   // query and parameters, as rl_iterations.curriculum holds them
	Inputs []string `json:"inputs"` // the snapshots the query read
	Tasks  []string `json:"tasks"`
}

// trainerStep is a completed trainer run.
type trainerStep struct {
	Command    []string  `json:"command"`
	Checkpoint string    `json:"checkpoint"`
	Exit       int32     `json:"exit"`
	Attempts   int32     `json:"attempts"`
	Seconds    float64   `json:"seconds"`
	Log        string    `json:"log"`
	BatchSHA   string    `json:"batch_sha256"`
	Finished   time.Time `json:"finished"`
}

// load reads a step record (false: there is none).
func (lp *loop) load(ctx context.Context, key string, v any) (bool, error) {
	data, err := objstore.ReadAll(ctx, lp.r.Env.Lake.Bucket(), key)
	if errors.Is(err, objstore.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("step record %s: %w", key, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("step record %s: %w", key, err)
	}
	lp.sum.StepsResumed++
	return true, nil
}

// save writes a step record, create-only (one that exists already holds
// the same step: a concurrent writer is kept out by the lease).
func (lp *loop) save(ctx context.Context, key string, v any) error {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	err = lp.r.Env.Lake.Bucket().PutIfAbsent(ctx, key, bytes.NewReader(body), int64(len(body)))
	if err != nil && !errors.Is(err, objstore.ErrExist) {
		return fmt.Errorf("step record %s: %w", key, err)
	}
	return nil
}

// committedIterations are the loop's iterations in rl_iterations.
func committedIterations(ctx context.Context, env *stage.Env, loopID string) (map[int64]schemas.RLIteration, error) {
	s, err := tables.Pin(ctx, env.Lake, schemas.RLIterations.Name, schemas.RLIterations.Name)
	if err != nil {
		return nil, err
	}
	out := map[int64]schemas.RLIteration{}
	for row, err := range lake.ReadRows[schemas.RLIteration](ctx, env.Lake, s.InPartition(lake.Partition{"loop_id": loopID})) {
		if err != nil {
			return nil, err
		}
		out[row.Iteration] = row
	}
	return out, nil
}

// iteration runs (or resumes) iteration i from checkpoint ckpt; cum is the
// loop's RL samples before it. The row is committed when it returns.
func (lp *loop) iteration(ctx context.Context, i int64, ckpt string, cum int64) (schemas.RLIteration, error) {
	r, env, cfg := lp.r, lp.r.Env, lp.r.Config
	start := env.Clock()
	row := schemas.RLIteration{LoopID: r.ID, Iteration: i, CheckpointIn: ckpt}
	dir := fmt.Sprintf("%siter-%d/", prefix(r.ID), i)
	log := env.Logger.With("loop", r.ID, "iteration", i, "checkpoint", ckpt)

	// 1. The curriculum's tasks.
	var cur curriculumStep
	if ok, err := lp.load(ctx, dir+"curriculum.json", &cur); err != nil {
		return row, err
	} else if !ok {
		if cur, err = lp.curriculum(ctx, i); err != nil {
			return row, fmt.Errorf("curriculum: %w", err)
		}
		if err := lp.save(ctx, dir+"curriculum.json", cur); err != nil {
			return row, err
		}
	}
	row.Curriculum, row.Tasks, row.Inputs = cur.Name, int64(len(cur.Tasks)), slices.Clone(cur.Inputs)
	log.Info("rl loop: curriculum", "curriculum", cur.Name, "tasks", len(cur.Tasks))

	// 1b. Self-play: the checkpoint writes tasks, which join the
	// curriculum's (and the snapshot the rollouts read holds them).
	tasksRef := lp.st.tasks.Ref().String()
	if cfg.SelfPlay != nil {
		var sp selfPlayStep
		if ok, err := lp.load(ctx, dir+"selfplay.json", &sp); err != nil {
			return row, err
		} else if !ok {
			if sp, err = lp.selfPlay(ctx, ckpt); err != nil {
				return row, fmt.Errorf("self-play: %w", err)
			}
			if err := lp.save(ctx, dir+"selfplay.json", sp); err != nil {
				return row, err
			}
		}
		tasksRef, row.SelfMadeTasks = sp.Tasks, int64(len(sp.TaskIDs))
		if len(cur.Tasks) > 0 { // a curriculum's selection: the self-made tasks join it (else every task is rolled out)
			for _, id := range sp.TaskIDs {
				if !slices.Contains(cur.Tasks, id) {
					cur.Tasks = append(cur.Tasks, id)
				}
			}
		}
		row.Inputs = append(row.Inputs, sp.Tasks)
		row.Outputs = append(row.Outputs, sp.Injections)
		log.Info("rl loop: self-play", "tasks_written", len(sp.TaskIDs), "tasks", sp.Tasks)
	}

	// 2. Rollouts by the checkpoint (resumable inside: committed pairs are
	// skipped).
	sub := *env
	sub.PolicyModel = ckpt
	rc := cfg.Rollout
	rc.Input, rc.TaskIDs = tasksRef, cur.Tasks
	rs, err := rollout.Job.Execute(ctx, &sub, rc)
	if err != nil {
		return row, fmt.Errorf("rollout: %w", err)
	}
	lp.resumed(rs.Skipped || rs.Resumed > 0)
	row.Tasks = int64(rs.Tasks)
	row.RolloutRunID = rs.RunID
	rolloutsRef := fmt.Sprintf("%s@%d", schemas.Rollouts.Name, rs.Version)
	row.Inputs = append(row.Inputs, rs.Input)
	row.Outputs = append(row.Outputs, rolloutsRef)
	log.Info("rl loop: rollouts", "run_id", rs.RunID, "rollouts", rs.Pairs, "version", rs.Version)

	// 3. Their evaluation.
	if !cfg.SkipEvaluate {
		ec := cfg.Evaluate
		ec.Input, ec.RunID, ec.Tasks = rolloutsRef, rs.RunID, tasksRef
		es, err := evaluate.Job.Execute(ctx, env, ec)
		if err != nil {
			return row, fmt.Errorf("evaluate: %w", err)
		}
		lp.resumed(es.Skipped)
		row.EvalRunID = es.RunID
		if v, ok := es.Outputs[schemas.Evaluations.Name]; ok {
			row.Outputs = append(row.Outputs, fmt.Sprintf("%s@%d", schemas.Evaluations.Name, v))
		}
		log.Info("rl loop: evaluated", "run_id", es.RunID, "resolved", es.Resolved, "patches", es.Patches)
	}

	// 4. The RL batch.
	files := filepath.Join(lp.st.outDir, r.ID)
	if err := os.MkdirAll(files, 0o755); err != nil {
		return row, fmt.Errorf("out_dir: %w", err)
	}
	bc := cfg.BuildRL
	bc.Input, bc.RunID, bc.Iteration = rolloutsRef, rs.RunID, i
	bc.VerlOut = filepath.Join(files, fmt.Sprintf("iter-%d.parquet", i))
	bs, err := buildrl.Job.Execute(ctx, env, bc)
	if err != nil {
		return row, fmt.Errorf("build-rl: %w", err)
	}
	lp.resumed(bs.Skipped)
	row.BatchID, row.BatchFile = bs.BatchID, bc.VerlOut
	if v, ok := bs.Outputs[schemas.RLSamples.Name]; ok {
		row.Outputs = append(row.Outputs, fmt.Sprintf("%s@%d", schemas.RLSamples.Name, v))
	}
	for _, n := range bs.DroppedGroups {
		row.DroppedGroups += int64(n)
	}
	samples, err := batchSamples(ctx, env, bs.BatchID)
	if err != nil {
		return row, err
	}
	if len(samples) == 0 {
		return row, fmt.Errorf("build-rl: batch %s holds no sample (groups dropped: %s): nothing to train on; widen the curriculum or raise rollout.samples",
			bs.BatchID, stage.Counts(bs.DroppedGroups))
	}
	samplesFile := filepath.Join(files, fmt.Sprintf("iter-%d.samples.parquet", i))
	if err := writeAtomic(samplesFile, samples); err != nil {
		return row, fmt.Errorf("samples file: %w", err)
	}
	stats(&row, samples)
	log.Info("rl loop: batch", "batch_id", bs.BatchID, "groups", row.Groups, "samples", row.Samples)

	// 5. The trainer.
	var tr trainerStep
	if ok, err := lp.load(ctx, dir+"trainer.json", &tr); err != nil {
		return row, err
	} else if !ok {
		attempts, err := lp.count(ctx, dir+"trainer-attempt-")
		if err != nil {
			return row, err
		}
		if err := lp.save(ctx, fmt.Sprintf("%strainer-attempt-%d.json", dir, attempts+1), map[string]any{"started": env.Clock().UTC()}); err != nil {
			return row, err
		}
		vars := map[string]string{"batch": bc.VerlOut, "samples": samplesFile, "iteration": fmt.Sprint(i), "checkpoint": ckpt,
			"loop_id": r.ID, "out_dir": files}
		if tr, err = lp.train(ctx, vars, filepath.Join(files, fmt.Sprintf("iter-%d.trainer.log", i)), int32(attempts+1)); err != nil {
			return row, err
		}
		if err := checkpointFree(ctx, env, tr.Checkpoint, ckpt); err != nil {
			return row, err
		}
		if err := lp.save(ctx, dir+"trainer.json", tr); err != nil {
			return row, err
		}
	}
	row.CheckpointOut, row.TrainerCommand, row.TrainerExit = tr.Checkpoint, tr.Command, tr.Exit
	row.TrainerAttempts, row.TrainerSeconds, row.TrainerLog, row.BatchSHA256 = tr.Attempts, tr.Seconds, tr.Log, tr.BatchSHA
	log.Info("rl loop: trained", "checkpoint_out", tr.Checkpoint, "seconds", tr.Seconds, "attempts", tr.Attempts)

	// 6. Outcomes, and the rows.
	if err := outcomes(ctx, env, &row); err != nil {
		return row, err
	}
	row.CumSamples = cum + row.Samples
	row.Seconds, row.Finished = env.Clock().Sub(start).Seconds(), env.Clock().UTC()
	if err := lp.commit(ctx, row); err != nil {
		return row, err
	}
	return row, nil
}

// checkpointFree refuses a checkpoint name the checkpoints table holds
// already, or the one the iteration started from: each checkpoint is a
// model of its own — its rollouts are told apart by its name, and a
// reused name would make the next iteration's rollouts "complete already".
func checkpointFree(ctx context.Context, env *stage.Env, name, from string) error {
	hint := "the trainer must print a name of its own for each checkpoint it saves (e.g. <run>-step-<iteration>) and serve it under that name"
	if name == from {
		return fmt.Errorf("trainer: reported %q, the checkpoint this iteration started from; %s", name, hint)
	}
	s, err := tables.Pin(ctx, env.Lake, schemas.Checkpoints.Name, schemas.Checkpoints.Name)
	if err != nil {
		return err
	}
	type model struct {
		Model     string `parquet:"model"`
		LoopID    string `parquet:"loop_id"`
		Iteration int64  `parquet:"iteration"`
	}
	for m, err := range lake.ReadRows[model](ctx, env.Lake, s) {
		if err != nil {
			return fmt.Errorf("checkpoints: %w", err)
		}
		if m.Model == name {
			return fmt.Errorf("trainer: reported %q, which checkpoints already holds (loop %q, iteration %d); %s", name, m.LoopID, m.Iteration, hint)
		}
	}
	return nil
}

func (lp *loop) resumed(b bool) {
	if b {
		lp.sum.StepsResumed++
	}
}

// count counts the step records under a prefix.
func (lp *loop) count(ctx context.Context, p string) (int, error) {
	n := 0
	for _, err := range lp.r.Env.Lake.Bucket().List(ctx, p) {
		if err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// commit commits the iteration's checkpoint and its rl_iterations row,
// each under the iteration's run key (a rerun after a crash between the
// two finds the first committed and goes on).
func (lp *loop) commit(ctx context.Context, row schemas.RLIteration) error {
	prov := lp.r.Provenance()
	prov.RunKey += fmt.Sprintf("/iter-%d", row.Iteration)
	ck := schemas.Checkpoint{Model: row.CheckpointOut, BaseModel: row.CheckpointIn, LoopID: row.LoopID, Iteration: row.Iteration,
		RLSamples: row.CumSamples, Notes: fmt.Sprintf("swelake rl iterate: loop %s, iteration %d, batch %s", row.LoopID, row.Iteration, row.BatchID)}
	if err := commitRows(ctx, lp.r.Env, schemas.Checkpoints, []schemas.Checkpoint{ck}, prov); err != nil {
		return err
	}
	return commitRows(ctx, lp.r.Env, schemas.RLIterations, []schemas.RLIteration{row}, prov)
}

func commitRows[T any](ctx context.Context, env *stage.Env, def schemas.Def[T], rows []T, prov lake.Provenance) error {
	t, err := env.Lake.Table(def.Name)
	if err != nil {
		return err
	}
	if _, done, err := t.Committed(ctx, prov.RunKey); err != nil || done {
		return err
	}
	opts := lake.WriteOptions{CodeVersion: env.CodeVersion, OnDuplicate: env.OnDuplicate}
	_, _, err = t.AppendKeyed(ctx, func(ctx context.Context) (lake.Files, error) {
		return lake.WriteFiles(ctx, t, tables.Spec(def), lake.Slice(rows), opts)
	}, prov)
	if err != nil {
		return fmt.Errorf("commit %s: %w", def.Name, err)
	}
	return nil
}

// batchSamples reads a batch's rl_samples rows.
func batchSamples(ctx context.Context, env *stage.Env, batchID string) ([]schemas.RLSample, error) {
	s, err := tables.Pin(ctx, env.Lake, schemas.RLSamples.Name, schemas.RLSamples.Name)
	if err != nil {
		return nil, err
	}
	var out []schemas.RLSample
	for row, err := range lake.ReadRows[schemas.RLSample](ctx, env.Lake, s.InPartition(lake.Partition{"batch_id": batchID})) {
		if err != nil {
			return nil, fmt.Errorf("rl_samples of %s: %w", batchID, err)
		}
		out = append(out, row)
	}
	slices.SortFunc(out, func(a, b schemas.RLSample) int {
		return strings.Compare(a.GroupID+"\x00"+a.RolloutID, b.GroupID+"\x00"+b.RolloutID)
	})
	return out, nil
}

// stats fills the batch's statistics: groups, samples, shaped reward and
// advantage mean and standard deviation (population), mean |advantage|.
func stats(row *schemas.RLIteration, samples []schemas.RLSample) {
	groups := map[string]bool{}
	var rs, as []float64
	for _, s := range samples {
		groups[s.GroupID] = true
		rs, as = append(rs, s.RewardShaped), append(as, s.Advantage)
	}
	row.Groups, row.Samples = int64(len(groups)), int64(len(samples))
	row.RewardMean, row.RewardStd = meanStd(rs)
	row.AdvantageMean, row.AdvantageStd = meanStd(as)
	for _, a := range as {
		row.AdvantageAbs += math.Abs(a) / float64(len(as))
	}
}

func meanStd(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	var m float64
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	var v float64
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return m, math.Sqrt(v / float64(len(xs)))
}

// outcomes counts the iteration's graded rollouts and how many resolved:
// from its evaluation when it ran (resolved, unresolved and empty patches
// are graded), from the rollouts' own grading otherwise.
func outcomes(ctx context.Context, env *stage.Env, row *schemas.RLIteration) error {
	rs, err := tables.Pin(ctx, env.Lake, schemas.Rollouts.Name, schemas.Rollouts.Name)
	if err != nil {
		return err
	}
	type outcome struct {
		Resolved *bool `parquet:"resolved,optional"`
	}
	for o, err := range lake.ReadRows[outcome](ctx, env.Lake, rs.InPartition(lake.Partition{"run_id": row.RolloutRunID})) {
		if err != nil {
			return fmt.Errorf("rollouts of %s: %w", row.RolloutRunID, err)
		}
		row.Rollouts++
		if row.EvalRunID == "" && o.Resolved != nil {
			row.Graded++
			if *o.Resolved {
				row.Resolved++
			}
		}
	}
	if row.EvalRunID != "" {
		es, err := tables.Pin(ctx, env.Lake, schemas.Evaluations.Name, schemas.Evaluations.Name)
		if err != nil {
			return err
		}
		type status struct {
			Status string `parquet:"status"`
		}
		for e, err := range lake.ReadRows[status](ctx, env.Lake, es.InPartition(lake.Partition{"run_id": row.EvalRunID})) {
			if err != nil {
				return fmt.Errorf("evaluations of %s: %w", row.EvalRunID, err)
			}
			switch e.Status {
			case schemas.StatusResolved:
				row.Graded++
				row.Resolved++
			case schemas.StatusUnresolved, schemas.StatusEmptyPatch:
				row.Graded++
			}
		}
	}
	if row.Graded > 0 {
		row.ResolveRate = float64(row.Resolved) / float64(row.Graded)
	}
	return nil
}

// writeAtomic writes rows as a Parquet file at path (a temporary file
// renamed into place: a reader never sees half a file).
func writeAtomic[T any](path string, rows []T) error {
	tmp := path + ".tmp"
	if err := parquetfile.Write(tmp, rows); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// selfPlayStep is what an iteration's self-play round made: the tasks its
// checkpoint wrote (and kept) and the snapshots that hold them.
type selfPlayStep struct {
	Tasks      string   `json:"tasks"`      // tasks@v holding them
	Injections string   `json:"injections"` // injections@v recording the attempts
	TaskIDs    []string `json:"task_ids"`   // the checkpoint's kept tasks
}

// injectionTask is what self-play reads of an injection.
type injectionTask struct {
	TaskID string `parquet:"task_id"`
	Model  string `parquet:"model"`
	Kept   bool   `parquet:"kept"`
}

// selfPlay runs synth-tasks with the checkpoint as the policy and reads
// back, from the injections table, every task that checkpoint wrote.
func (lp *loop) selfPlay(ctx context.Context, ckpt string) (selfPlayStep, error) {
	env := lp.r.Env
	sub := *env
	sub.PolicyModel = ckpt
	ss, err := synthtasks.Job.Execute(ctx, &sub, *lp.r.Config.SelfPlay)
	if err != nil {
		return selfPlayStep{}, err
	}
	lp.resumed(ss.Skipped)
	var sp selfPlayStep
	for _, table := range []string{schemas.Tasks.Name, schemas.Injections.Name} {
		s, err := tables.Pin(ctx, env.Lake, table, table)
		if err != nil {
			return sp, err
		}
		if table == schemas.Tasks.Name {
			sp.Tasks = s.Ref().String()
			continue
		}
		sp.Injections = s.Ref().String()
		for in, err := range lake.ReadRows[injectionTask](ctx, env.Lake, s) { // three columns, not the trajectories
			if err != nil {
				return sp, err
			}
			if in.Kept && in.Model == ckpt && !slices.Contains(sp.TaskIDs, in.TaskID) {
				sp.TaskIDs = append(sp.TaskIDs, in.TaskID)
			}
		}
	}
	slices.Sort(sp.TaskIDs)
	if len(sp.TaskIDs) > 0 {
		// Validated as any task is (the gold patch resolves it, every run),
		// so that rollout.only_valid keeps them.
		vs, err := validatetasks.Job.Execute(ctx, env, validatetasks.Config{Input: sp.Tasks, TaskIDs: sp.TaskIDs})
		if err != nil {
			return sp, fmt.Errorf("validate the tasks it wrote: %w", err)
		}
		lp.resumed(vs.Skipped)
	}
	return sp, nil
}
