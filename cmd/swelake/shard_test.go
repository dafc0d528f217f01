package main

import (
	"errors"
	"strings"
	"testing"
)

// TestShardAuto: --shard auto/N takes the index from the scheduler as it
// is. A resubmitted Slurm index (sbatch --array=1, so
// SLURM_ARRAY_TASK_MIN=1) runs shard 1: subtracting the minimum ran shard
// 0 again and left shard 1 undone (TestSlurmShardedStages found it).
func TestShardAuto(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string // "i/N", or the start of the usage error
	}{
		{map[string]string{"JOB_COMPLETION_INDEX": "2"}, "2/4"},
		{map[string]string{"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "0"}, "3/4"},
		{map[string]string{"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_MIN": "1"}, "1/4"},
		{map[string]string{"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "1"}, "--shard auto/4: SLURM_ARRAY_TASK_ID is 4, outside 0..3: submit the array as --array=0-3"},
		{map[string]string{"SLURM_ARRAY_TASK_ID": "x"}, `--shard auto/4: SLURM_ARRAY_TASK_ID "x" is not an integer`},
		{map[string]string{}, "--shard auto/4: neither JOB_COMPLETION_INDEX"},
	} {
		a := &app{env: env{getenv: func(k string) string { return tc.env[k] }}}
		s, err := a.shard("auto/4")
		var ue usageError
		switch {
		case err == nil && s.String() != tc.want:
			t.Errorf("%v: shard %s, want %s", tc.env, s, tc.want)
		case err != nil && (!errors.As(err, &ue) || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%v: %v, want %q (a usage error)", tc.env, err, tc.want)
		}
	}
}
