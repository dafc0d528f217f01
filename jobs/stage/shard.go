package stage

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/swelake/swelake/lake"
)

// Shard is one worker's share of a per-task stage run on N machines: the
// tasks whose hashed id falls to Index. Shards of one run share its run id
// (the shard is not part of the configuration hash), each commits its own
// files under a run key of its own, and together they produce exactly the
// rows one worker would.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// ErrShard marks a malformed --shard value.
var ErrShard = errors.New("bad shard")

// ParseShard reads "i/N" (0 ≤ i < N); "" is the whole run (0/1).
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{Count: 1}, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(is))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("%w %q: want i/N with 0 ≤ i < N (e.g. 0/4)", ErrShard, s)
	}
	return Shard{Index: i, Count: n}, nil
}

// Whole reports whether the shard is the whole run.
func (s Shard) Whole() bool { return s.Count <= 1 }

// Owns reports whether the task belongs to this shard: FNV-1a of its id
// modulo N, so that a task's rollouts, gradings and scores stay together.
func (s Shard) Owns(taskID string) bool {
	if s.Whole() {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(taskID))
	return int(h.Sum64()%uint64(s.Count)) == s.Index
}

// String is "i/N" ("" for the whole run).
func (s Shard) String() string {
	if s.Whole() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// RunKey is the run key of this shard's commit of a run: the run's key, with
// "/shard-i-of-N" for a shard.
func (s Shard) RunKey(runKey string) string {
	if s.Whole() {
		return runKey
	}
	return fmt.Sprintf("%s/shard-%d-of-%d", runKey, s.Index, s.Count)
}

// Done reports whether the whole run, or this shard of it, is already
// committed to t, and at which version.
func (s Shard) Done(ctx context.Context, t *lake.Table, runKey string) (int64, bool, error) {
	for _, key := range []string{runKey, s.RunKey(runKey)} {
		c, done, err := t.Committed(ctx, key)
		if err != nil || done {
			v := int64(-1)
			if done {
				v = c.Version
			}
			return v, done, err
		}
		if s.Whole() {
			break
		}
	}
	return -1, false, nil
}
