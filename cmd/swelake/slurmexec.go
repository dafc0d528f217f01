package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/internal/slurm"
	"github.com/swelake/swelake/jobs/pipeline"
	"github.com/swelake/swelake/lake"
)

// slurmExec runs each stage as Slurm work (pipeline run --executor
// slurm): a stage whose job shards and whose shards: is N > 1 as an array
// of N tasks, each `swelake pipeline stage <file> <stage> --shard auto/N`;
// every other stage as one job. The tasks run the same code on the same
// pipeline file (a copy made when the run starts, so an edit mid-run
// changes nothing) in the same directory, so their configuration is the
// one the stage has in process. The driver waits for each job, keeps the
// lease meanwhile, and records the job ids; a shard records itself when
// done, so a rerun after a failed or cancelled task submits only the
// missing indexes.
type slurmExec struct {
	a      *app
	l      *lake.Lake
	spec   *pipeline.Spec
	client *slurm.Client
	bin    string   // the swelake the tasks run (this one)
	file   string   // the pinned copy of the pipeline file
	script string   // the batch script every task runs
	wd     string   // the tasks' working directory (the driver's)
	dir    string   // scripts and the tasks' output files
	flags  []string // global flags the tasks get (--lake, --config, --log-level)
	env    []string // variables the tasks get beyond sbatch's (the config's, seen by this process)
}

// forwardedEnv is the configuration this process sees in its environment
// (SWELAKE_<KEY>, the S3 endpoint, the container engine, SLURM_CONF):
// handed to sbatch, which exports it to the job.
func forwardedEnv(getenv func(string) string) []string {
	names := []string{"SWELAKE_PROGRESS_INTERVAL", "SWELAKE_LOG_FORMAT", "SWELAKE_TOKENIZER", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "DOCKER_HOST", "SLURM_CONF"}
	for k := range configDefaults() {
		names = append(names, "SWELAKE_"+strings.ToUpper(strings.ReplaceAll(k, ".", "_")))
	}
	slices.Sort(names)
	var env []string
	for _, n := range slices.Compact(names) {
		if v := getenv(n); v != "" {
			env = append(env, n+"="+v)
		}
	}
	return env
}

func (a *app) newSlurmExec(cmd *cobra.Command, l *lake.Lake, spec *pipeline.Spec, file, dir string) (*slurmExec, error) {
	if _, err := exec.LookPath("sbatch"); err != nil {
		return nil, usageError{fmt.Errorf("--executor slurm: sbatch is not on PATH: run the pipeline where Slurm's client commands are (a login node), or install them (Debian: slurm-client)")}
	}
	bin, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("slurm executor: this program's path: %w", err)
	}
	if dir == "" {
		dir = filepath.Join(".swelake", "slurm", spec.Name)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("slurm executor: %w", err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", file, err)
	}
	sum := sha256.Sum256(data)
	pinned := filepath.Join(dir, fmt.Sprintf("%s-%s.yaml", spec.Name, hex.EncodeToString(sum[:6])))
	if err := writeFileAtomic(pinned, data, 0o644); err != nil {
		return nil, fmt.Errorf("slurm executor: %w", err)
	}
	script := filepath.Join(dir, "swelake-stage.sh")
	if err := writeFileAtomic(script, []byte(slurmScript), 0o755); err != nil {
		return nil, fmt.Errorf("slurm executor: %w", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	lakeRoot := a.cfg.Lake
	if r, err := parseRoot(lakeRoot); err == nil && r.dir != "" { // a directory every node mounts: the same absolute path
		lakeRoot, _ = filepath.Abs(r.dir)
	}
	flags := []string{"--lake", lakeRoot}
	if c, _ := cmd.Flags().GetString("config"); c != "" {
		abs, _ := filepath.Abs(c)
		flags = append(flags, "--config", abs)
	}
	if f := cmd.Flags().Lookup("log-level"); f != nil && f.Changed {
		flags = append(flags, "--log-level", f.Value.String())
	}
	env := forwardedEnv(a.getenv)
	return &slurmExec{a: a, l: l, spec: spec, client: &slurm.Client{Env: env}, bin: bin, file: pinned, script: script, wd: wd, dir: dir, flags: flags, env: env}, nil
}

// writeFileAtomic writes data to path by a rename (a task reading it never
// sees half a file).
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// slurmScript is every task's batch script: swelake with the arguments
// sbatch passes on.
const slurmScript = "#!/bin/sh\n# swelake pipeline run --executor slurm: one stage, or one shard of it\nexec \"$SWELAKE_STAGE_BIN\" \"$@\"\n"

// Run implements pipeline.Executor.
func (e *slurmExec) Run(ctx context.Context, st pipeline.Stage, key pipeline.Key) (pipeline.Outcome, error) {
	n := st.ShardCount()
	args := append([]string{"pipeline", "stage", e.file, st.Name, "--json", "--run-key", key.RunKey}, e.flags...)
	indexes := []int{0}
	if n > 1 {
		args = append(args, "--shard", fmt.Sprintf("auto/%d", n))
		all, err := pipeline.Shards(ctx, e.l.Bucket(), e.spec.Name, st.Name, key.RunKey)
		if err != nil {
			return pipeline.Outcome{}, err
		}
		indexes = pipeline.Missing(all[n], n)
		if len(indexes) < n {
			e.a.logger.Info("stage shards already done", "stage", st.Name, "done", n-len(indexes), "of", n, "submitting", slurm.Array(indexes))
		}
	}
	res := e.spec.Slurm.Merge(st.Slurm)
	out := filepath.Join(e.dir, st.Name+"-%A_%a")
	if n == 1 {
		out = filepath.Join(e.dir, st.Name+"-%j")
	}
	sb := []string{"--job-name=swelake-" + e.spec.Name + "-" + st.Name, "--chdir=" + e.wd, "--output=" + out + ".out", "--error=" + out + ".log"}
	if n > 1 {
		sb = append(sb, "--array="+slurm.Array(indexes))
	}
	sb = append(append(sb, res.Args()...), e.script)
	id, err := e.client.Submit(ctx, append([]string{"SWELAKE_STAGE_BIN=" + e.bin}, e.env...), append(sb, args...)...)
	if err != nil {
		return pipeline.Outcome{}, err
	}
	e.a.logger.Info("stage submitted to Slurm", "stage", st.Name, "job", id, "tasks", len(indexes), "array", map[bool]string{true: slurm.Array(indexes)}[n > 1])
	jobIDs := []string{id}
	tasks, err := e.client.Wait(ctx, id, indexes)
	if errors.Is(err, slurm.ErrGone) {
		// The controller forgot the job (ended longer than MinJobAge ago):
		// what it left — the shards' records, the job's summary — decides.
		e.a.logger.Warn("Slurm job no longer known; judging it by what it wrote", "stage", st.Name, "job", id)
		tasks = map[int]slurm.Task{}
		for _, i := range indexes {
			tasks[i] = slurm.Task{State: "UNKNOWN"}
		}
		if n == 1 {
			tasks[0] = slurm.Task{State: "COMPLETED"} // its .out file must hold a summary
		}
	} else if err != nil {
		return pipeline.Outcome{Scheduler: "slurm", JobIDs: jobIDs}, err
	}
	logOf := func(i int) string {
		if n == 1 {
			return filepath.Join(e.dir, fmt.Sprintf("%s-%s.log", st.Name, id))
		}
		return filepath.Join(e.dir, fmt.Sprintf("%s-%s_%d.log", st.Name, id, i))
	}
	var failed []string
	for _, i := range indexes {
		if t := tasks[i]; !t.OK() {
			failed = append(failed, fmt.Sprintf("task %d %s exit %d (%s: %s)", i, t.State, t.ExitCode, logOf(i), lastLine(logOf(i))))
		}
	}
	if n == 1 {
		if len(failed) > 0 {
			return pipeline.Outcome{Scheduler: "slurm", JobIDs: jobIDs}, fmt.Errorf("Slurm job %s: %s", id, strings.Join(failed, "; "))
		}
		data, err := os.ReadFile(filepath.Join(e.dir, fmt.Sprintf("%s-%s.out", st.Name, id)))
		if err != nil {
			return pipeline.Outcome{Scheduler: "slurm", JobIDs: jobIDs}, fmt.Errorf("Slurm job %s: its summary: %w", id, err)
		}
		sum := bytes.TrimSpace(data)
		if !json.Valid(sum) {
			return pipeline.Outcome{Scheduler: "slurm", JobIDs: jobIDs}, fmt.Errorf("Slurm job %s: its output is not a JSON summary: %.200q", id, sum)
		}
		return pipeline.Outcome{Summary: sum, Scheduler: "slurm", JobIDs: jobIDs}, nil
	}
	// A sharded stage is done when every shard recorded itself.
	all, err := pipeline.Shards(ctx, e.l.Bucket(), e.spec.Name, st.Name, key.RunKey)
	if err != nil {
		return pipeline.Outcome{Scheduler: "slurm", JobIDs: jobIDs}, err
	}
	if missing := pipeline.Missing(all[n], n); len(missing) > 0 {
		return pipeline.Outcome{Scheduler: "slurm", JobIDs: jobIDs}, fmt.Errorf("Slurm array %s: shards %s of %d not done: %s (rerun the pipeline to resubmit only those)",
			id, slurm.Array(missing), n, strings.Join(failed, "; "))
	}
	o, _ := pipeline.Complete(all[n], n)
	o.Scheduler = "slurm"
	return o, nil
}

// lastLine is a log file's last non-empty line (swelake's error), cut.
func lastLine(path string) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	l := lines[len(lines)-1]
	if len(l) > 300 {
		l = l[:300] + "…"
	}
	return l
}
