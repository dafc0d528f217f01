package main

import (
	"fmt"
	"github.com/swelake/swelake/jobs/stage"
	"strconv"
	"strings"
)

// shard resolves --shard: "i/N"; "auto/N" takes i from the scheduler —
// JOB_COMPLETION_INDEX (Kubernetes indexed Jobs), else SLURM_ARRAY_TASK_ID
// as it is: the array is --array=0-<N-1>, so that resubmitting one index
// (sbatch --array=2 after scancel <job>_2) runs that shard. (Subtracting
// SLURM_ARRAY_TASK_MIN, as this did before, made a resubmitted index run
// shard 0 again and leave its own undone — found under a real Slurm.)
func (a *app) shard(flag string) (stage.Shard, error) {
	idx, n, ok := strings.Cut(flag, "/")
	if ok && idx == "auto" {
		switch {
		case a.getenv("JOB_COMPLETION_INDEX") != "":
			idx = a.getenv("JOB_COMPLETION_INDEX")
		case a.getenv("SLURM_ARRAY_TASK_ID") != "":
			idx = a.getenv("SLURM_ARRAY_TASK_ID")
			id, err1 := strconv.Atoi(idx)
			total, err2 := strconv.Atoi(n)
			if err1 != nil {
				return stage.Shard{}, usageError{fmt.Errorf("--shard %s: SLURM_ARRAY_TASK_ID %q is not an integer", flag, idx)}
			}
			if err2 == nil && (id < 0 || id >= total) {
				return stage.Shard{}, usageError{fmt.Errorf("--shard %s: SLURM_ARRAY_TASK_ID is %d, outside 0..%d: submit the array as --array=0-%d", flag, id, total-1, total-1)}
			}
		default:
			return stage.Shard{}, usageError{fmt.Errorf("--shard %s: neither JOB_COMPLETION_INDEX (Kubernetes indexed Job) nor SLURM_ARRAY_TASK_ID (Slurm array) is set; pass --shard i/%s", flag, n)}
		}
		flag = idx + "/" + n
	}
	s, err := stage.ParseShard(flag)
	if err != nil {
		return s, usageError{fmt.Errorf("--shard: %w", err)}
	}
	return s, nil
}
