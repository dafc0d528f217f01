package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/swelake/swelake/jobs/registry"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
)

// Outcome is what an executor reports of a stage it ran: the job's
// summary and, when a scheduler ran it, which and its job ids (kept in the
// stage record, so a table's rows trace to the Slurm job that wrote them).
type Outcome struct {
	Summary   json.RawMessage
	Scheduler string   // "" in this process; "slurm"
	JobIDs    []string // the scheduler's job ids, e.g. ["4711"]
}

// Key is what a stage's run is keyed by: its inputs as they are now (table
// snapshots, the fingerprint of the files it reads), the hash of its
// config and the code version.
type Key struct {
	RunKey     string   `json:"run_key"`
	Inputs     []string `json:"inputs"`
	ConfigHash string   `json:"config_hash"`
}

// StageKey resolves a stage's key now: the driver's (Run) and a shard's
// run outside it (swelake pipeline stage) are the same function, so the
// driver finds the shards' records. pending (dry runs) names tables an
// earlier stage of the plan will write.
func StageKey(ctx context.Context, l *lake.Lake, spec *Spec, st Stage, code string, pending map[string]string) (Key, error) {
	hash := configHash(spec, st)
	inputs, err := resolve(ctx, l, st.Inputs, pending)
	if err != nil {
		return Key{}, err
	}
	if job, _ := registry.Find(st.Job); job != nil && job.Describe().ReadsFiles {
		fp, err := fingerprint(Paths(st))
		if err != nil {
			return Key{}, err
		}
		inputs = append(inputs, fp)
	}
	keyData, _ := json.Marshal(struct {
		Job, Stage, Config, Code string
		Inputs                   []string
	}{st.Job, st.Name, hash, code, inputs})
	sum := sha256.Sum256(keyData)
	return Key{RunKey: hex.EncodeToString(sum[:])[:24], Inputs: inputs, ConfigHash: hash}, nil
}

// ShardRecord is one shard of a sharded stage done outside the driver's
// process (a Slurm array task, a Kubernetes indexed Job's pod), stored
// create-only at pipelines/<pipeline>/shards/<stage>/<run key>/<N>/<i>.json.
// When all N of a key are there the stage is done: the driver records it
// and skips it, and the Slurm executor resubmits only the missing indexes.
type ShardRecord struct {
	Pipeline string          `json:"pipeline"`
	Stage    string          `json:"stage"`
	Job      string          `json:"job"`
	RunKey   string          `json:"run_key"`
	Shard    int             `json:"shard"`
	Of       int             `json:"of"`
	JobID    string          `json:"job_id,omitempty"` // the scheduler's, e.g. 4711_2 (SLURM_ARRAY_JOB_ID_SLURM_ARRAY_TASK_ID)
	Host     string          `json:"host,omitempty"`
	Started  time.Time       `json:"started"`
	Seconds  float64         `json:"seconds"`
	Summary  json.RawMessage `json:"summary,omitempty"`
}

func shardPrefix(pipeline, stage, runKey string) string {
	return "pipelines/" + pipeline + "/shards/" + stage + "/" + runKey + "/"
}

// RecordShard stores a finished shard's record (a second record of the
// same shard — a task retried after it committed — keeps the first).
func RecordShard(ctx context.Context, b objstore.Bucket, r ShardRecord) error {
	if r.Of < 1 || r.Shard < 0 || r.Shard >= r.Of {
		return fmt.Errorf("shard record %s/%s: shard %d of %d", r.Pipeline, r.Stage, r.Shard, r.Of)
	}
	key := fmt.Sprintf("%s%d/%d.json", shardPrefix(r.Pipeline, r.Stage, r.RunKey), r.Of, r.Shard)
	body, _ := json.MarshalIndent(r, "", "  ")
	if err := b.PutIfAbsent(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil && !errors.Is(err, objstore.ErrExist) {
		return fmt.Errorf("shard record %s: %w", key, err)
	}
	return nil
}

// Shards reads the records of a stage's shards under a run key, by the
// number of shards they split it into, then by index.
func Shards(ctx context.Context, b objstore.Bucket, pipeline, stage, runKey string) (map[int]map[int]ShardRecord, error) {
	prefix := shardPrefix(pipeline, stage, runKey)
	out := map[int]map[int]ShardRecord{}
	for info, err := range b.List(ctx, prefix) {
		if err != nil {
			return nil, fmt.Errorf("shard records %s: %w", prefix, err)
		}
		dir, file := path.Split(strings.TrimPrefix(info.Key, prefix))
		n, err1 := strconv.Atoi(strings.TrimSuffix(dir, "/"))
		i, err2 := strconv.Atoi(strings.TrimSuffix(file, ".json"))
		if err1 != nil || err2 != nil {
			continue // not a record
		}
		data, err := objstore.ReadAll(ctx, b, info.Key)
		if err != nil {
			return nil, fmt.Errorf("shard record %s: %w", info.Key, err)
		}
		var r ShardRecord
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("shard record %s: %w", info.Key, err)
		}
		if out[n] == nil {
			out[n] = map[int]ShardRecord{}
		}
		out[n][i] = r
	}
	return out, nil
}

// Missing is the indexes of 0..n-1 without a record.
func Missing(done map[int]ShardRecord, n int) []int {
	var out []int
	for i := range n {
		if _, ok := done[i]; !ok {
			out = append(out, i)
		}
	}
	return out
}

// ShardedSummary is a sharded stage's summary: each shard's, in order.
type ShardedSummary struct {
	Shards    int               `json:"shards"`
	JobIDs    []string          `json:"job_ids,omitempty"`
	Summaries []json.RawMessage `json:"summaries"`
}

// Complete is the stage's outcome when every shard of its split into n is
// recorded (ok false otherwise).
func Complete(recs map[int]ShardRecord, n int) (Outcome, bool) {
	if n < 1 || len(Missing(recs, n)) > 0 {
		return Outcome{}, false
	}
	s := ShardedSummary{Shards: n}
	for i := range n {
		r := recs[i]
		s.Summaries = append(s.Summaries, r.Summary)
		if r.JobID != "" {
			s.JobIDs = append(s.JobIDs, r.JobID)
		}
	}
	sum, _ := json.Marshal(s)
	return Outcome{Summary: sum, JobIDs: s.JobIDs}, true
}

// completeSplit is the first split (fewest shards) of a stage's run whose
// shards are all recorded, and its outcome.
func completeSplit(all map[int]map[int]ShardRecord) (int, Outcome, bool) {
	for _, n := range slices.Sorted(maps.Keys(all)) {
		if out, ok := Complete(all[n], n); ok {
			return n, out, true
		}
	}
	return 0, Outcome{}, false
}

// ShardLeaseKey is the lease a shard's runner holds while it runs, so that
// one shard never runs twice at once (a driver and an indexed Job's pod, two
// resubmissions of one array index).
func ShardLeaseKey(pipeline, stage, runKey string, i, n int) string {
	return fmt.Sprintf("%s%d/%d.lease", shardPrefix(pipeline, stage, runKey), n, i)
}
