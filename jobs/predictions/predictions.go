// Package predictions writes rollouts as SWE-bench harness predictions:
// the file `python -m swebench.harness.run_evaluation --predictions_path`
// reads (swebench/harness/utils.py get_predictions_from_file at 7a21e05: a
// .json list, or .jsonl with one object per line; each with instance_id,
// model_name_or_path and model_patch).
package predictions

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/swelake/swelake/jobs/tables"
	"github.com/swelake/swelake/jobs/taskexec"
	"github.com/swelake/swelake/jobs/verify"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// ErrUsage marks an error in the options (exit 2 at the command line).
var ErrUsage = errors.New("usage")

// Options choose the rollouts to write.
type Options struct {
	Rollouts string // rollouts snapshot ("rollouts", "rollouts@v"); default the latest
	RunID    string // only this run's rollouts
	Policy   string // only this policy's rollouts
	// Sample keeps the rollout with this sample_idx per instance (-1: no
	// choice; several rollouts of one instance are refused).
	Sample int
	// Verify takes the candidates a verify run selected ("latest" or a
	// verify_id) instead of a sample.
	Verify string
	Model  string // model_name_or_path (default: the rollouts' policy)
}

// Prediction is one line of the harness's predictions file.
type Prediction struct {
	InstanceID string `json:"instance_id"`
	Model      string `json:"model_name_or_path"`
	Patch      string `json:"model_patch"`
}

// Result is what Write wrote.
type Result struct {
	File        string `json:"file"`
	Predictions int    `json:"predictions"`
	EmptyPatch  int    `json:"empty_patch"` // predictions whose patch is empty (the harness reports them as such)
	Model       string `json:"model_name_or_path"`
	Rollouts    string `json:"rollouts"`
	VerifyID    string `json:"verify_id,omitempty"`
	// LogDir is where the harness will write each instance's logs
	// (logs/run_evaluation/<run_id>/<model with / as __>/<instance_id>/).
	LogDir string `json:"log_dir"`
}

// Write writes the predictions file at path (.json or .jsonl), replacing
// it only when complete.
func Write(ctx context.Context, l *lake.Lake, o Options, path string) (Result, error) {
	ext := filepath.Ext(path) // the harness matches the suffix as written
	if ext != ".json" && ext != ".jsonl" {
		return Result{}, fmt.Errorf("%w: %s: the harness reads .json or .jsonl predictions", ErrUsage, path)
	}
	if o.Verify != "" && o.Sample >= 0 {
		return Result{}, fmt.Errorf("%w: --sample and --verify both choose the rollout of an instance: give one", ErrUsage)
	}
	res := Result{File: path}
	snap, err := snapshot(ctx, l, cmp.Or(o.Rollouts, schemas.Rollouts.Name))
	if err != nil {
		return res, err
	}
	res.Rollouts = snap.Ref().String()
	var selected map[string]bool
	if o.Verify != "" {
		if res.VerifyID, selected, err = verifySelection(ctx, l, o.Verify); err != nil {
			return res, err
		}
	}
	instances, err := instanceIDs(ctx, l)
	if err != nil {
		return res, err
	}
	type cand struct {
		id, policy, patch string
		sample            int32
	}
	byInstance := map[string][]cand{}
	policies := map[string]bool{}
	for r, err := range lake.ReadRows[schemas.Rollout](ctx, l, snap) {
		if err != nil {
			return res, err
		}
		if o.RunID != "" && r.RunID != o.RunID || o.Policy != "" && r.Policy != o.Policy ||
			selected != nil && !selected[r.RolloutID] || o.Sample >= 0 && int(r.SampleIdx) != o.Sample {
			continue
		}
		inst := instances[r.TaskID]
		if inst == "" {
			inst = r.TaskID[strings.LastIndex(r.TaskID, "/")+1:]
		}
		byInstance[inst] = append(byInstance[inst], cand{r.RolloutID, r.Policy, r.Patch, r.SampleIdx})
		policies[r.Policy] = true
	}
	if len(byInstance) == 0 {
		return res, fmt.Errorf("%s: no rollout matches (run %q, policy %q, sample %d, verify %q)", res.Rollouts, o.RunID, o.Policy, o.Sample, o.Verify)
	}
	res.Model = o.Model
	if res.Model == "" {
		if len(policies) > 1 {
			return res, fmt.Errorf("%w: %s: rollouts of %d policies (%s); the harness evaluates one model per file: choose --policy or --model", ErrUsage, res.Rollouts, len(policies), strings.Join(slices.Sorted(maps.Keys(policies)), ", "))
		}
		for p := range policies {
			res.Model = p
		}
	}
	if res.Model == "" {
		return res, fmt.Errorf("%w: %s: the rollouts have no policy: name the model with --model", ErrUsage, res.Rollouts)
	}
	ids := slices.Sorted(maps.Keys(byInstance))
	preds := make([]Prediction, 0, len(ids))
	for _, inst := range ids {
		cs := byInstance[inst]
		if len(cs) > 1 {
			many := 0
			for _, c := range byInstance {
				if len(c) > 1 {
					many++
				}
			}
			return res, fmt.Errorf("%w: %d instances have several rollouts (%s: %d, samples %d and %d); the harness keys predictions by instance_id and keeps the last: choose --sample K, --verify latest, --run or --policy", ErrUsage, many, inst, len(cs), cs[0].sample, cs[1].sample)
		}
		preds = append(preds, Prediction{InstanceID: inst, Model: res.Model, Patch: cs[0].patch})
		if cs[0].patch == "" {
			res.EmptyPatch++
		}
	}
	res.Predictions = len(preds)
	res.LogDir = filepath.Join("logs", "run_evaluation", "<run_id>", strings.ReplaceAll(res.Model, "/", "__"))
	return res, writeFile(path, ext, preds)
}

func snapshot(ctx context.Context, l *lake.Lake, ref string) (*lake.Snapshot, error) {
	if r, err := lake.ParseRef(ref); err != nil || r.Table != schemas.Rollouts.Name {
		return nil, fmt.Errorf("%w: %s: predictions come from a rollouts snapshot (rollouts or rollouts@<version>)", ErrUsage, ref)
	}
	return tables.Pin(ctx, l, ref, schemas.Rollouts.Name)
}

// verifySelection is the rollouts a verify run selected (one per task).
func verifySelection(ctx context.Context, l *lake.Lake, which string) (string, map[string]bool, error) {
	rec, err := l.LatestRun(ctx, verify.JobName, func(r *lake.RunRecord) bool { return which == "latest" || r.ID == which })
	if err != nil {
		return "", nil, fmt.Errorf("verify run %s: %w (run swelake run verify first)", which, err)
	}
	t, err := l.Table(schemas.VerifierScores.Name)
	if err != nil {
		return "", nil, err
	}
	s, err := t.Snapshot(ctx, rec.Outputs[schemas.VerifierScores.Name])
	if err != nil {
		return "", nil, fmt.Errorf("verify run %s: %w", rec.ID, err)
	}
	sel := map[string]bool{}
	for v, err := range lake.ReadRows[schemas.VerifierScore](ctx, l, s) {
		if err != nil {
			return "", nil, err
		}
		if v.VerifyID == rec.ID && v.Selected {
			sel[v.RolloutID] = true
		}
	}
	if len(sel) == 0 {
		return "", nil, fmt.Errorf("verify run %s selected no candidate", rec.ID)
	}
	return rec.ID, sel, nil
}

// instanceIDs maps task ids to the source's instance ids (the harness's
// key), from the latest tasks snapshot; none when there are no tasks.
func instanceIDs(ctx context.Context, l *lake.Lake) (map[string]string, error) {
	out := map[string]string{}
	s, err := tables.Pin(ctx, l, schemas.Tasks.Name, schemas.Tasks.Name)
	if errors.Is(err, lake.ErrNoTable) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	tasks, err := taskexec.TasksByID(ctx, l, s, nil)
	if err != nil {
		return nil, err
	}
	for id, t := range tasks {
		if t.InstanceID != "" {
			out[id] = t.InstanceID
		}
	}
	return out, nil
}

func writeFile(path, ext string, preds []Prediction) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".predictions-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriter(tmp)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if ext == ".json" {
		enc.SetIndent("", "  ")
		err = enc.Encode(preds)
	} else {
		for _, p := range preds {
			if err = enc.Encode(p); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Close()
	} else {
		tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
