package slurmtest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestArray: the cluster runs an array job; each task sees its index,
// and sbatch --wait exits with the highest exit status of its tasks.
func TestArray(t *testing.T) {
	ctx := context.Background()
	c, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	dir := t.TempDir()
	script := filepath.Join(dir, "task.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT $MARK\" > \""+dir+"/out-$SLURM_ARRAY_TASK_ID\"\n[ \"$SLURM_ARRAY_TASK_ID\" = \"$FAIL\" ] && exit 5\nexit 0\n"), 0o755)
	out, err := c.Command(ctx, []string{"MARK=hello", "FAIL=none"}, "sbatch", "--wait", "--parsable", "--array=0-3", "-o", filepath.Join(dir, "log-%a"), script).CombinedOutput()
	if err != nil {
		t.Fatalf("sbatch: %v: %s", err, out)
	}
	var got []string
	for i := range 4 {
		data, _ := os.ReadFile(filepath.Join(dir, "out-"+string(rune('0'+i))))
		got = append(got, strings.TrimSpace(string(data)))
	}
	if !slices.Equal(got, []string{"0/4 hello", "1/4 hello", "2/4 hello", "3/4 hello"}) {
		t.Fatalf("tasks wrote %q", got)
	}
	job := strings.TrimSpace(string(out))
	states, err := c.Tasks(ctx, job)
	if err != nil || len(states) != 4 || states[0] != "COMPLETED" || states[3] != "COMPLETED" {
		t.Fatalf("states of %s: %v %v", job, states, err)
	}
	cmd := c.Command(ctx, []string{"MARK=x", "FAIL=2"}, "sbatch", "--wait", "--parsable", "--array=0-3", "-o", filepath.Join(dir, "log2-%a"), script)
	out, err = cmd.CombinedOutput()
	if err == nil || cmd.ProcessState.ExitCode() != 5 {
		t.Fatalf("an array with a failing task: exit %d (%v): %s", cmd.ProcessState.ExitCode(), err, out)
	}
}
