package lake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/swelake/swelake/lake/objstore"
)

// RunRecord is the marker a job writes after it has committed every output
// table of one run: the run is complete, and visible to readers that
// resolve "the latest run" of the job, exactly when its record exists
// (Thanos' meta.json-last). A run that fails between two table commits
// leaves commits no record names; readers select the rows of a run by its
// ID, so those rows are never read, and a rerun with the same run key rolls
// forward: it commits only the tables that miss the key, then the record.
//
// Records live at runs/<job>/<seq>-<hash of run key>.json, created once;
// seq orders a job's runs (the version of its first output table, else the
// record time), so the latest is the last key of one listing.
type RunRecord struct {
	Job    string `json:"job"`
	ID     string `json:"id"`
	RunKey string `json:"run_key"`
	// Shard is "i/N" for one shard of a sharded run ("" for a whole run).
	Shard      string `json:"shard,omitempty"`
	ConfigHash string `json:"config_hash"`
	// Config is the typed configuration the run hashed, as JSON: lineage
	// without parsing it back out of keys.
	Config json.RawMessage `json:"config,omitempty"`
	// Inputs are the pinned input snapshots ("table@version") and other
	// identities (a tokenizer's, a file set's).
	Inputs []string `json:"inputs"`
	// Outputs is the version of each output table that holds the run's rows.
	Outputs     map[string]int64 `json:"outputs"`
	CodeVersion string           `json:"code_version"`
	Author      string           `json:"author"`
	Time        time.Time        `json:"time"`
	Seconds     float64          `json:"seconds"`
	// Summary is the job's summary (what --json prints).
	Summary json.RawMessage `json:"summary,omitempty"`
	// Seq orders the records of one job (see above).
	Seq int64 `json:"seq"`
}

// ErrNoRun: the job has no complete run (of that key) in this lake.
var ErrNoRun = errors.New("no complete run")

var validJob = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func runPrefix(job string) string { return "runs/" + job + "/" }

func runKeyHash(runKey string) string {
	sum := sha256.Sum256([]byte(runKey))
	return hex.EncodeToString(sum[:12])
}

// PutRun writes a run's record; writing the record of a run key that has
// one already is a no-op (the first record stands).
func (l *Lake) PutRun(ctx context.Context, rec RunRecord) error {
	if !validJob.MatchString(rec.Job) || rec.RunKey == "" {
		return fmt.Errorf("run record %q/%q: want a job name and a run key", rec.Job, rec.RunKey)
	}
	if old, err := l.Run(ctx, rec.Job, rec.RunKey); err == nil && old != nil {
		return nil
	} else if err != nil && !errors.Is(err, ErrNoRun) {
		return err
	}
	if rec.Seq == 0 {
		rec.Seq = rec.Time.UnixNano()
	}
	body, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("run record %s: %w", rec.RunKey, err)
	}
	key := fmt.Sprintf("%s%020d-%s.json", runPrefix(rec.Job), rec.Seq, runKeyHash(rec.RunKey))
	err = l.bucket.PutIfAbsent(ctx, key, bytes.NewReader(body), int64(len(body)))
	if err != nil && !errors.Is(err, objstore.ErrExist) {
		return fmt.Errorf("run record %s: %w", rec.RunKey, err)
	}
	return nil
}

// Run reads the record of a job's run key (ErrNoRun when the run is not
// complete).
func (l *Lake) Run(ctx context.Context, job, runKey string) (*RunRecord, error) {
	suffix := "-" + runKeyHash(runKey) + ".json"
	for info, err := range l.bucket.List(ctx, runPrefix(job)) {
		if err != nil {
			return nil, fmt.Errorf("runs of %s: %w", job, err)
		}
		if strings.HasSuffix(info.Key, suffix) {
			return l.readRun(ctx, info.Key)
		}
	}
	return nil, fmt.Errorf("%w of %s with run key %s", ErrNoRun, job, runKey)
}

// LatestRun reads the most recent complete run of a job whose record keep
// accepts (every run when keep is nil), newest first.
func (l *Lake) LatestRun(ctx context.Context, job string, keep func(*RunRecord) bool) (*RunRecord, error) {
	var keys []string
	for info, err := range l.bucket.List(ctx, runPrefix(job)) {
		if err != nil {
			return nil, fmt.Errorf("runs of %s: %w", job, err)
		}
		if strings.HasSuffix(info.Key, ".json") {
			keys = append(keys, info.Key)
		}
	}
	for i := len(keys) - 1; i >= 0; i-- {
		rec, err := l.readRun(ctx, keys[i])
		if err != nil {
			return nil, err
		}
		if keep == nil || keep(rec) {
			return rec, nil
		}
	}
	return nil, fmt.Errorf("%w of %s in %s", ErrNoRun, job, l.URL())
}

// RunJobs lists the jobs that have run records.
func (l *Lake) RunJobs(ctx context.Context) ([]string, error) {
	return l.bucket.Dirs(ctx, "runs/")
}

// Runs lists a job's complete runs, oldest first.
func (l *Lake) Runs(ctx context.Context, job string) ([]*RunRecord, error) {
	var out []*RunRecord
	for info, err := range l.bucket.List(ctx, runPrefix(job)) {
		if err != nil {
			return nil, fmt.Errorf("runs of %s: %w", job, err)
		}
		rec, err := l.readRun(ctx, info.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

func (l *Lake) readRun(ctx context.Context, key string) (*RunRecord, error) {
	data, err := objstore.ReadAll(ctx, l.bucket, key)
	if err != nil {
		return nil, fmt.Errorf("run record %s: %w", key, err)
	}
	var rec RunRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("run record %s: %w", key, err)
	}
	return &rec, nil
}
