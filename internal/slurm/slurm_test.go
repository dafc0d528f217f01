package slurm

import (
	"testing"
)

func TestParseJobs(t *testing.T) {
	// Lines as Slurm 22.05's scontrol -o show job prints an array with a
	// pending remainder, a failed task and a completed one (trimmed).
	out := `JobId=12 ArrayJobId=10 ArrayTaskId=2-3 JobName=swelake JobState=PENDING Reason=Resources ExitCode=0:0
JobId=11 ArrayJobId=10 ArrayTaskId=1 JobName=swelake JobState=FAILED Reason=NonZeroExitCode ExitCode=2:0
JobId=10 ArrayJobId=10 ArrayTaskId=0 JobName=swelake JobState=COMPLETED Reason=None ExitCode=0:0
`
	tasks := ParseJobs(out)
	if len(tasks) != 2 || !tasks[0].OK() || tasks[1].OK() || !tasks[1].Done() || tasks[1].ExitCode != 2 || tasks[1].JobID != "11" {
		t.Fatalf("%+v", tasks)
	}
	plain := ParseJobs("JobId=7 JobName=x JobState=RUNNING Reason=None ExitCode=0:0\n")
	if plain[0].State != "RUNNING" || plain[0].Done() {
		t.Fatalf("%+v", plain)
	}
	for in, want := range map[string]string{"0,1,2,3": "0-3", "3,1": "1,3", "0,1,2,5": "0-2,5", "": ""} {
		var idx []int
		for _, c := range in {
			if c != ',' {
				idx = append(idx, int(c-'0'))
			}
		}
		if got := Array(idx); got != want {
			t.Errorf("Array(%v) = %q, want %q", idx, got, want)
		}
	}
}
