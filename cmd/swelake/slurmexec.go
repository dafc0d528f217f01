package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/swelake/swelake/jobs/pipeline"
	"github.com/swelake/swelake/jobs/registry"
)

// slurmExec submits each stage to Slurm (pipeline run --executor slurm):
// a stage whose job shards runs as an array of its shards: tasks, each
// `swelake run <job> --shard auto/N`, the others as one job; the driver
// waits (sbatch --wait) and keeps its lease, records and skips. The
// stage's configuration travels as --set flags: the pipeline's set:, the
// stage's set:, its config: under the job's section, and the scripted
// policy's address when the pipeline serves one (the driver serves it:
// the nodes must reach the driver's host, e.g. a single-node cluster).
// WIP (issue 22): not wired into pipeline run yet.
type slurmExec struct {
	local *stageExec // the scripted policy, served by the driver
	spec  *pipeline.Spec
	bin   string // this swelake
	lake  string // the lake root the stages commit to
	dir   string // scripts and the tasks' output
}

func setFlags(prefix string, m map[string]any) ([]string, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []string
	for _, k := range keys {
		v, err := json.Marshal(m[k])
		if err != nil {
			return nil, fmt.Errorf("%s%s: %w", prefix, k, err)
		}
		out = append(out, "--set", prefix+k+"="+string(v))
	}
	return out, nil
}

// Run implements pipeline.Executor.
func (e *slurmExec) Run(ctx context.Context, st pipeline.Stage) (json.RawMessage, error) {
	job, ok := registry.Find(st.Job)
	if !ok {
		return nil, fmt.Errorf("stage %s: unknown job %q", st.Name, st.Job)
	}
	info := job.Describe()
	args := []string{"run", st.Job, "--json", "--lake", e.lake}
	for _, m := range []map[string]any{e.spec.Set, st.Set} {
		f, err := setFlags("", m)
		if err != nil {
			return nil, fmt.Errorf("stage %s: %w", st.Name, err)
		}
		args = append(args, f...)
	}
	if e.spec.Policy == "scripted" && (info.Needs.Policy || info.Needs.Verifier) {
		url, err := e.local.policyURL(ctx)
		if err != nil {
			return nil, err
		}
		f, _ := setFlags("", map[string]any{"policy.base_url": url, "policy.model": "scripted", "verifier.base_url": url, "verifier.model": "scripted"})
		args = append(args, f...)
	}
	f, err := setFlags(info.ConfigSection()+".", st.Config)
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", st.Name, err)
	}
	args = append(args, f...)
	n := max(st.Shards, 1)
	res := e.spec.Slurm.Merge(st.Slurm)
	sb := append([]string{"--parsable", "--wait", "--job-name=swelake-" + e.spec.Name + "-" + st.Name,
		"-o", filepath.Join(e.dir, st.Name+"-%A_%a.json"), "-e", filepath.Join(e.dir, st.Name+"-%A_%a.log")}, res.Args()...)
	if n > 1 {
		sb = append(sb, fmt.Sprintf("--array=0-%d", n-1))
		args = append(args, "--shard", fmt.Sprintf("auto/%d", n))
	}
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return nil, err
	}
	script := filepath.Join(e.dir, "swelake-stage.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec \"$SWELAKE_STAGE_BIN\" \"$@\"\n"), 0o755); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "sbatch", append(append(sb, script), args...)...)
	cmd.Env = append(os.Environ(), "SWELAKE_STAGE_BIN="+e.bin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	runErr := cmd.Run()
	jobID := strings.TrimSpace(strings.Split(out.String(), "\n")[0])
	// Each task's --json summary is its stdout file.
	var sums []json.RawMessage
	files, _ := filepath.Glob(filepath.Join(e.dir, st.Name+"-"+jobID+"_*.json"))
	slices.Sort(files)
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if t := bytes.TrimSpace(data); json.Valid(t) {
			sums = append(sums, t)
		}
	}
	if runErr != nil {
		return nil, fmt.Errorf("stage %s: Slurm job %s: %v: %s (task logs: %s)", st.Name, jobID, runErr, strings.TrimSpace(errb.String()),
			filepath.Join(e.dir, st.Name+"-"+jobID+"_*.log"))
	}
	return json.Marshal(map[string]any{"slurm_job": jobID, "shards": n, "summaries": sums})
}
