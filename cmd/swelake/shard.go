package main

import (
	"fmt"
	"github.com/swelake/swelake/jobs/stage"
	"strconv"
	"strings"
)

// shard resolves --shard: "i/N"; "auto/N" takes i from the scheduler —
// JOB_COMPLETION_INDEX (Kubernetes indexed Jobs), else SLURM_ARRAY_TASK_ID
// (less SLURM_ARRAY_TASK_MIN when the array does not start at 0).
func (a *app) shard(flag string) (stage.Shard, error) {
	idx, n, ok := strings.Cut(flag, "/")
	if ok && idx == "auto" {
		switch {
		case a.getenv("JOB_COMPLETION_INDEX") != "":
			idx = a.getenv("JOB_COMPLETION_INDEX")
		case a.getenv("SLURM_ARRAY_TASK_ID") != "":
			id, err1 := strconv.Atoi(a.getenv("SLURM_ARRAY_TASK_ID"))
			lo, err2 := strconv.Atoi(orDefault(a.getenv("SLURM_ARRAY_TASK_MIN"), "0"))
			if err1 != nil || err2 != nil {
				return stage.Shard{}, usageError{fmt.Errorf("--shard %s: SLURM_ARRAY_TASK_ID %q / SLURM_ARRAY_TASK_MIN %q are not integers",
					flag, a.getenv("SLURM_ARRAY_TASK_ID"), a.getenv("SLURM_ARRAY_TASK_MIN"))}
			}
			idx = strconv.Itoa(id - lo)
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
