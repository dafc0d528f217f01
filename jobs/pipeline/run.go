package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
)

// Executor runs one stage's job to completion and returns its outcome:
// the job's summary (its --json output, recorded as is) and, when a
// scheduler ran it, its job ids. key is the stage's run key, for shards
// that record themselves (ShardRecord).
type Executor interface {
	Run(ctx context.Context, st Stage, key Key) (Outcome, error)
}

// Options of one run.
type Options struct {
	From, To    string
	DryRun      bool
	CodeVersion string
	Owner       string        // who holds the lease (host/pid)
	LeaseTTL    time.Duration // default 2m, renewed every third of it
	Logger      *slog.Logger
	Clock       func() time.Time
}

// StageResult is what one stage did (or, in a dry run, would do).
type StageResult struct {
	Stage        string          `json:"stage"`
	Job          string          `json:"job"`
	Action       string          `json:"action"` // run, skip, failed (dry run: run or skip)
	Reason       string          `json:"reason"`
	Inputs       []string        `json:"inputs"`
	RunKey       string          `json:"run_key"`
	Outputs      []string        `json:"outputs,omitempty"`
	Seconds      float64         `json:"seconds"`
	RowsWritten  int64           `json:"rows_written"`
	BytesWritten int64           `json:"bytes_written"`
	Error        string          `json:"error,omitempty"`
	Scheduler    string          `json:"scheduler,omitempty"` // slurm, when it ran there
	JobIDs       []string        `json:"job_ids,omitempty"`   // the scheduler's
	Summary      json.RawMessage `json:"summary,omitempty"`
}

// Result is a pipeline run.
type Result struct {
	Pipeline string        `json:"pipeline"`
	DryRun   bool          `json:"dry_run"`
	Stages   []StageResult `json:"stages"`
	Ran      int           `json:"ran"`
	Skipped  int           `json:"skipped"`
	Failed   string        `json:"failed,omitempty"` // the failing stage
	Seconds  float64       `json:"seconds"`
	Finished time.Time     `json:"finished"`
	TookOver string        `json:"took_over_lease_from,omitempty"`
}

// StageError is a failed stage.
type StageError struct {
	Stage, Job string
	Err        error
}

func (e *StageError) Error() string { return fmt.Sprintf("stage %s (%s): %v", e.Stage, e.Job, e.Err) }
func (e *StageError) Unwrap() error { return e.Err }

// record is a completed stage's run, stored at
// pipelines/<pipeline>/stages/<stage>/<key>.json (create-only).
type record struct {
	Pipeline    string          `json:"pipeline"`
	Stage       string          `json:"stage"`
	Job         string          `json:"job"`
	RunKey      string          `json:"run_key"`
	ConfigHash  string          `json:"config_hash"`
	Inputs      []string        `json:"inputs"`
	CodeVersion string          `json:"code_version"`
	Outputs     []string        `json:"outputs"`
	Started     time.Time       `json:"started"`
	Seconds     float64         `json:"seconds"`
	Scheduler   string          `json:"scheduler,omitempty"`
	JobIDs      []string        `json:"job_ids,omitempty"`
	Summary     json.RawMessage `json:"summary,omitempty"`
}

func recordPrefix(pipeline, stage string) string {
	return "pipelines/" + pipeline + "/stages/" + stage + "/"
}

// configHash hashes what a stage is told to do (not where its endpoint
// listens: that changes every run).
func configHash(spec *Spec, st Stage) string {
	data, _ := json.Marshal(struct {
		Job    string
		Config map[string]any
		Set    map[string]any
		Global map[string]any
		Policy string
	}{st.Job, st.Config, st.Set, spec.Set, spec.Policy})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Run runs (or plans) the pipeline.
func Run(ctx context.Context, l *lake.Lake, spec *Spec, exec Executor, opts Options) (Result, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 2 * time.Minute
	}
	res := Result{Pipeline: spec.Name, DryRun: opts.DryRun}
	start := opts.Clock()
	stages, err := spec.Select(opts.From, opts.To)
	if err != nil {
		return res, fmt.Errorf("pipeline %s: %w", spec.Name, err)
	}
	var lost <-chan struct{} // closed if the lease is taken over mid-run
	if !opts.DryRun {
		lease, err := Acquire(ctx, l.Bucket(), spec.Name, opts.Owner, opts.LeaseTTL, opts.Clock, opts.Logger)
		if err != nil {
			return res, fmt.Errorf("pipeline %s: %w", spec.Name, err)
		}
		res.TookOver, lost = lease.TookOver(), lease.Lost()
		var cancel context.CancelFunc
		ctx, cancel = lease.Guard(ctx)
		defer cancel()
		defer func() {
			if err := lease.Release(context.WithoutCancel(ctx)); err != nil {
				opts.Logger.Warn("pipeline lease", "err", err)
			}
		}()
	}
	pending := map[string]string{} // table → the stage of this run that will write it (dry run)
	for _, st := range stages {
		sr := StageResult{Stage: st.Name, Job: st.Job}
		key, err := StageKey(ctx, l, spec, st, opts.CodeVersion, pending)
		if err != nil {
			return res, fmt.Errorf("pipeline %s: stage %s: %w", spec.Name, st.Name, err)
		}
		hash, inputs := key.ConfigHash, key.Inputs
		sr.Inputs, sr.RunKey = inputs, key.RunKey
		prefix := recordPrefix(spec.Name, st.Name)
		done, err := readRecord(ctx, l.Bucket(), prefix+sr.RunKey+".json")
		if err != nil {
			return res, fmt.Errorf("pipeline %s: stage %s: %w", spec.Name, st.Name, err)
		}
		if done != nil && !hasPending(inputs) {
			sr.Action, sr.Outputs, sr.Summary, sr.Scheduler, sr.JobIDs = "skip", done.Outputs, done.Summary, done.Scheduler, done.JobIDs
			sr.Reason = fmt.Sprintf("done %s with these inputs, config and code", done.Started.UTC().Format(time.RFC3339))
			res.Skipped++
			res.Stages = append(res.Stages, sr)
			continue
		}
		if !hasPending(inputs) {
			// Its shards may have run outside this driver (a Kubernetes
			// indexed Job, an earlier Slurm array): all of them done is the
			// stage done.
			shards, err := Shards(ctx, l.Bucket(), spec.Name, st.Name, key.RunKey)
			if err != nil {
				return res, fmt.Errorf("pipeline %s: stage %s: %w", spec.Name, st.Name, err)
			}
			if n, out, ok := completeSplit(shards); ok {
				t0 := opts.Clock()
				after, err := sizes(ctx, l, st.Outputs)
				if err != nil {
					return res, err
				}
				for _, o := range st.Outputs {
					sr.Outputs = append(sr.Outputs, fmt.Sprintf("%s@%d", o, after[o].version))
				}
				rec := record{Pipeline: spec.Name, Stage: st.Name, Job: st.Job, RunKey: sr.RunKey, ConfigHash: hash, Inputs: inputs,
					CodeVersion: opts.CodeVersion, Outputs: sr.Outputs, Started: t0.UTC(), JobIDs: out.JobIDs, Summary: out.Summary}
				if !opts.DryRun {
					if err := putRecord(ctx, l, prefix+sr.RunKey+".json", rec); err != nil {
						return res, fmt.Errorf("pipeline %s: stage %s: %w", spec.Name, st.Name, err)
					}
				}
				sr.Action, sr.Summary, sr.JobIDs = "skip", out.Summary, out.JobIDs
				sr.Reason = fmt.Sprintf("done by its %d shards with these inputs, config and code", n)
				res.Skipped++
				res.Stages = append(res.Stages, sr)
				continue
			}
		}
		last, err := latestRecord(ctx, l.Bucket(), prefix)
		if err != nil {
			return res, fmt.Errorf("pipeline %s: stage %s: %w", spec.Name, st.Name, err)
		}
		sr.Action, sr.Reason = "run", why(last, hash, inputs, opts.CodeVersion)
		if opts.DryRun {
			for _, out := range st.Outputs {
				pending[out] = st.Name
			}
			res.Ran++
			res.Stages = append(res.Stages, sr)
			continue
		}
		before, err := sizes(ctx, l, st.Outputs)
		if err != nil {
			return res, err
		}
		opts.Logger.Info("stage", "pipeline", spec.Name, "stage", st.Name, "job", st.Job, "reason", sr.Reason)
		t0 := opts.Clock()
		out, err := exec.Run(ctx, st, key)
		sr.Seconds = opts.Clock().Sub(t0).Seconds()
		summary := out.Summary
		sr.Summary, sr.Scheduler, sr.JobIDs = summary, out.Scheduler, out.JobIDs
		if err != nil {
			select {
			case <-lost:
				err = fmt.Errorf("%w (the run was stopped): %v", ErrLeaseLost, err)
			default:
			}
			sr.Action, sr.Error = "failed", err.Error()
			res.Stages = append(res.Stages, sr)
			res.Failed = st.Name
			res.Seconds, res.Finished = opts.Clock().Sub(start).Seconds(), opts.Clock().UTC()
			return res, &StageError{Stage: st.Name, Job: st.Job, Err: err}
		}
		after, err := sizes(ctx, l, st.Outputs)
		if err != nil {
			return res, err
		}
		for _, out := range st.Outputs {
			sr.Outputs = append(sr.Outputs, fmt.Sprintf("%s@%d", out, after[out].version))
			sr.RowsWritten += after[out].rows - before[out].rows
			sr.BytesWritten += after[out].bytes - before[out].bytes
		}
		rec := record{Pipeline: spec.Name, Stage: st.Name, Job: st.Job, RunKey: sr.RunKey, ConfigHash: hash, Inputs: inputs,
			CodeVersion: opts.CodeVersion, Outputs: sr.Outputs, Started: t0.UTC(), Seconds: sr.Seconds,
			Scheduler: out.Scheduler, JobIDs: out.JobIDs, Summary: summary}
		if err := putRecord(ctx, l, prefix+sr.RunKey+".json", rec); err != nil {
			return res, fmt.Errorf("pipeline %s: stage %s: %w", spec.Name, st.Name, err)
		}
		res.Ran++
		res.Stages = append(res.Stages, sr)
	}
	res.Seconds, res.Finished = opts.Clock().Sub(start).Seconds(), opts.Clock().UTC()
	return res, nil
}

// putRecord stores a stage record create-only (a record already there,
// of a run that raced this one to the same key, stands).
func putRecord(ctx context.Context, l *lake.Lake, key string, rec record) error {
	body, _ := json.MarshalIndent(rec, "", "  ")
	if err := l.Bucket().PutIfAbsent(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil && !errors.Is(err, objstore.ErrExist) {
		return fmt.Errorf("record %s: %w", key, err)
	}
	return nil
}

const pendingMark = " (written by stage "

func hasPending(inputs []string) bool {
	return slices.ContainsFunc(inputs, func(s string) bool { return strings.Contains(s, pendingMark) })
}

// resolve pins each input table at its latest version ("table@-" for a
// table that does not exist yet; in a dry run, the stage that will write
// it first).
func resolve(ctx context.Context, l *lake.Lake, tables []string, pending map[string]string) ([]string, error) {
	var out []string
	for _, name := range tables {
		if st, ok := pending[name]; ok {
			out = append(out, name+pendingMark+st+")")
			continue
		}
		t, err := l.Table(name)
		if err != nil {
			return nil, err
		}
		v, err := t.Latest(ctx)
		switch {
		case errors.Is(err, lake.ErrNoTable):
			out = append(out, name+"@-")
		case err != nil:
			return nil, err
		default:
			out = append(out, fmt.Sprintf("%s@%d", name, v))
		}
	}
	return out, nil
}

type size struct{ version, rows, bytes int64 }

func sizes(ctx context.Context, l *lake.Lake, tables []string) (map[string]size, error) {
	out := map[string]size{}
	for _, name := range tables {
		t, err := l.Table(name)
		if err != nil {
			return nil, err
		}
		s, err := t.Snapshot(ctx, lake.Latest)
		if errors.Is(err, lake.ErrNoTable) {
			out[name] = size{version: -1}
			continue
		}
		if err != nil {
			return nil, err
		}
		out[name] = size{s.Version, s.Rows(), s.Bytes()}
	}
	return out, nil
}

// readRecord reads a stage record (nil if there is none).
func readRecord(ctx context.Context, b objstore.Bucket, key string) (*record, error) {
	data, err := objstore.ReadAll(ctx, b, key)
	if errors.Is(err, objstore.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("stage record %s: %w", key, err)
	}
	return &r, nil
}

// latestRecord reads a stage's most recently written record (nil if it
// never ran): one listing, one read.
func latestRecord(ctx context.Context, b objstore.Bucket, prefix string) (*record, error) {
	var newest objstore.ObjectInfo
	for info, err := range b.List(ctx, prefix) {
		if err != nil {
			return nil, err
		}
		if info.ModTime.After(newest.ModTime) {
			newest = info
		}
	}
	if newest.Key == "" {
		return nil, nil
	}
	return readRecord(ctx, b, newest.Key)
}

// why explains why a stage runs, against its latest completed run.
func why(last *record, hash string, inputs []string, code string) string {
	if last == nil {
		return "never ran"
	}
	var reasons []string
	if last.ConfigHash != hash {
		reasons = append(reasons, "config changed")
	}
	if last.CodeVersion != code {
		reasons = append(reasons, fmt.Sprintf("code version %s → %s", last.CodeVersion, code))
	}
	var changed []string
	for i, in := range inputs {
		if i >= len(last.Inputs) || last.Inputs[i] != in {
			old := "-"
			if i < len(last.Inputs) {
				old = last.Inputs[i]
			}
			changed = append(changed, old+" → "+in)
		}
	}
	if len(changed) > 0 {
		reasons = append(reasons, "inputs changed: "+strings.Join(changed, ", "))
	}
	if len(reasons) == 0 {
		return "no completed run with this key"
	}
	return strings.Join(reasons, "; ")
}

// fingerprint names the files a stage reads as they are now: their paths,
// sizes and modification times, hashed ("files:<hash> (<n> files)"). A new,
// grown or touched file changes it; an unchanged tree does not.
func fingerprint(paths []string) (string, error) {
	type entry struct {
		Path  string
		Size  int64
		MTime int64
	}
	var files []entry
	add := func(path string, info fs.FileInfo) {
		files = append(files, entry{path, info.Size(), info.ModTime().UnixNano()})
	}
	for _, p := range paths {
		matches, err := filepath.Glob(p)
		if err != nil {
			return "", fmt.Errorf("paths %q: %w", p, err)
		}
		if len(matches) == 0 {
			return "", fmt.Errorf("paths %q: no such file or directory", p)
		}
		for _, m := range matches {
			err := filepath.WalkDir(m, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				info, err := d.Info()
				if err != nil {
					return err
				}
				add(path, info)
				return nil
			})
			if err != nil {
				return "", fmt.Errorf("paths %q: %w", p, err)
			}
		}
	}
	slices.SortFunc(files, func(a, b entry) int { return strings.Compare(a.Path, b.Path) })
	data, _ := json.Marshal(files)
	sum := sha256.Sum256(data)
	return fmt.Sprintf("files:%s (%d files)", hex.EncodeToString(sum[:6]), len(files)), nil
}
