package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/jobs/lease"
	"github.com/swelake/swelake/jobs/pipeline"
	"github.com/swelake/swelake/jobs/registry"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

func newPipelineCmd(a *app) *cobra.Command {
	c := &cobra.Command{Use: "pipeline", Short: "Run a pipeline file: every stage in dependency order, incrementally"}
	var opts pipeline.Options
	var metricsFile, gateway, executor, slurmDir string
	var ttl time.Duration
	run := &cobra.Command{
		Use:   "run <pipeline.yaml>",
		Short: "Run the pipeline's stages in dependency order, skipping those already done",
		Long: `Runs the stages of a pipeline file in dependency order (a stage that reads
a table another writes runs after it). A stage whose run key — its job, its
input snapshots (table@version), the hash of its config and the code
version — already completed is skipped; so a second run with nothing new
does nothing, and after a crash a rerun resumes at the stage that failed
(rollout resumes inside the stage). --dry-run prints the plan: what runs,
what is skipped, and why.

A lease (pipelines/<name>/lease.json in the lake, replaced only with
If-Match on the version its holder wrote, renewed every TTL/3) keeps two
runs of one pipeline apart; a run killed without releasing it leaves a
lease that expires after --lease-ttl and is then taken over.

Each stage runs its job (swelake run <job> --help lists its config keys)
in this process, on the same driver as swelake run: its config is the
job's defaults, its section of swelake.yaml, then the stage's config:, whose
unknown keys fail the file before anything runs. With policy: scripted, the
scripted stand-in policy and verifier serve on 127.0.0.1 for the stages that
need one.

--executor slurm submits each stage to Slurm instead (sbatch, from a login
node or an allocation): a stage whose job shards (validate-tasks, rollout,
evaluate, verify) and whose shards: is N > 1 as an array of N tasks, each
"swelake pipeline stage <file> <stage> --shard auto/N", the others as one
job; resources from the file's slurm: and the stage's slurm: (partition,
cpus_per_task, mem, time, sbatch_args). The driver keeps the lease while it
waits, records the Slurm job ids in the stage records, and skips as it does
in process; a shard records itself when done, so a rerun after a failed or
cancelled task submits only the missing indexes. The tasks run in this
directory with this configuration (the nodes must share the directory and
reach the lake). Metrics (Prometheus text: per stage duration, rows and bytes written,
skipped, failed) go to --metrics-file (node_exporter's textfile collector)
and/or --pushgateway.

Exit status: 0 when every stage is done; 1 with the failing stage named;
2 for a bad command line or pipeline file; 3 when another run holds the
lease (cron and Kubernetes CronJobs can tell "already running" apart).`,
		Example: `  swelake pipeline run examples/pipeline/demo.yaml
  swelake pipeline run nightly.yaml --dry-run
  swelake pipeline run nightly.yaml --executor slurm --lake s3://swe-lake/prod
  swelake pipeline run nightly.yaml --from curate --to build-sft
  swelake pipeline run nightly.yaml --metrics-file /var/lib/node_exporter/textfile/swelake.prom
  swelake pipeline run nightly.yaml --pushgateway http://pushgateway:9091 --json`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if executor != "local" && executor != "slurm" {
				return usageError{fmt.Errorf("--executor %q: want local or slurm", executor)}
			}
			spec, err := pipeline.Load(args[0])
			if err != nil {
				return usageError{err}
			}
			if err := a.checkStageConfigs(cmd, args[0], spec); err != nil {
				return err
			}
			l, err := a.openPipelineLake(ctx)
			if err != nil {
				return err
			}
			host, _ := os.Hostname()
			opts.Owner = fmt.Sprintf("%s/%d", host, os.Getpid())
			opts.CodeVersion, opts.Logger, opts.Clock, opts.LeaseTTL = codeVersion(), a.logger, a.now, ttl
			local, err := a.newStageExec(cmd, l, spec)
			if err != nil {
				return err
			}
			defer local.close()
			var ex pipeline.Executor = local
			if executor == "slurm" && !opts.DryRun {
				if ex, err = a.newSlurmExec(cmd, l, spec, args[0], slurmDir); err != nil {
					return err
				}
			}
			res, err := pipeline.Run(ctx, l, spec, ex, opts)
			if merr := a.writeMetrics(ctx, res, metricsFile, gateway, opts.DryRun); merr != nil {
				a.logger.Warn("pipeline metrics", "err", merr)
			}
			if errors.Is(err, pipeline.ErrLeaseHeld) {
				fmt.Fprintf(a.stderr, "swelake: %s\n", oneLine(err.Error()))
				return exitCode(3)
			}
			if err != nil && res.Failed == "" {
				return err
			}
			if a.json {
				if perr := a.printJSON(res); perr != nil {
					return perr
				}
			} else {
				a.printPlan(res)
			}
			if err != nil {
				return fmt.Errorf("pipeline %s: %w", spec.Name, err)
			}
			return nil
		},
	}
	f := run.Flags()
	f.StringVar(&opts.From, "from", "", "start at this stage (in dependency order)")
	f.StringVar(&opts.To, "to", "", "stop after this stage")
	f.Var(&onDuplicateFlag{}, "on-duplicate", onDuplicateUsage)
	f.BoolVar(&opts.DryRun, "dry-run", false, "print the plan (what runs, what is skipped, why) and run nothing")
	f.StringVar(&metricsFile, "metrics-file", "", "write the run's metrics here (Prometheus text; for node_exporter's textfile collector)")
	f.StringVar(&gateway, "pushgateway", "", "push the run's metrics to this Prometheus Pushgateway URL")
	f.DurationVar(&ttl, "lease-ttl", 2*time.Minute, "how long a lease outlives its last renewal (a killed run blocks others this long)")
	f.StringVar(&executor, "executor", "local", "where stages run: local (in this process) or slurm (each stage a Slurm job, sharded stages arrays; docs/slurm.md)")
	f.StringVar(&slurmDir, "slurm-dir", "", "with --executor slurm: the tasks' scripts and output files, on a filesystem the nodes share (default .swelake/slurm/<pipeline>)")
	c.AddCommand(run, newPipelineStageCmd(a))
	return c
}

// openPipelineLake opens the lake a pipeline's stages commit to, with
// every table a stage may write.
func (a *app) openPipelineLake(ctx context.Context) (*lake.Lake, error) {
	l, _, err := a.openLake(ctx, false)
	if err != nil {
		return nil, err
	}
	if err := tables.Init(ctx, l, lake.Provenance{CodeVersion: codeVersion(), Author: a.cfg.Author, Time: a.now().UTC()}); err != nil {
		return nil, err
	}
	return l, nil
}

func (a *app) writeMetrics(ctx context.Context, res pipeline.Result, file, gateway string, dry bool) error {
	if dry || len(res.Stages) == 0 {
		return nil
	}
	if res.Ran == 0 && res.Failed == "" { // nothing ran: the last run's figures stand
		a.logger.Info("metrics unchanged: no stage ran", "file", file, "pushgateway", gateway)
		return nil
	}
	m := res.Prometheus()
	var errs []error
	if file != "" {
		errs = append(errs, pipeline.WriteTextfile(file, m))
	}
	if gateway != "" {
		errs = append(errs, pipeline.Push(ctx, &http.Client{Timeout: 30 * time.Second}, gateway, res.Pipeline, m))
	}
	return errors.Join(errs...)
}

func (a *app) printPlan(res pipeline.Result) {
	verb := map[bool]string{true: "plan", false: "ran"}[res.DryRun]
	fmt.Fprintf(a.stdout, "pipeline %s (%s): %d to run, %d skipped\n", res.Pipeline, verb, res.Ran, res.Skipped)
	for _, s := range res.Stages {
		switch s.Action {
		case "skip":
			fmt.Fprintf(a.stdout, "  skip  %-16s %s\n", s.Stage, s.Reason)
		case "run":
			why := s.Reason
			if why == "never ran" {
				why = "first run"
			}
			if res.DryRun {
				reads := "reads nothing from the lake"
				if len(s.Inputs) > 0 {
					reads = "reads " + strings.Join(s.Inputs, ", ")
				}
				if strings.HasPrefix(s.Reason, "inputs changed") { // the reason names them already
					reads = ""
				}
				fmt.Fprintf(a.stdout, "  run   %-16s %s%s\n", s.Stage, why, map[bool]string{true: "; " + reads, false: ""}[reads != ""])
			} else {
				wrote := "no table (files only)"
				if len(s.Outputs) > 0 {
					wrote = fmt.Sprintf("%d rows → %s", s.RowsWritten, strings.Join(s.Outputs, ", "))
				}
				fmt.Fprintf(a.stdout, "  ran   %-16s %.1fs, %s (ran because: %s)\n", s.Stage, s.Seconds, wrote, why)
			}
		default:
			fmt.Fprintf(a.stdout, "  FAIL  %-16s after %.1fs: %s\n", s.Stage, s.Seconds, s.Error)
		}
	}
	if !res.DryRun && res.Ran == 0 && res.Failed == "" {
		fmt.Fprintf(a.stdout, "nothing new: every stage's inputs, config and code are as when it last ran\n")
	}
	for _, s := range res.Stages {
		var out struct {
			Index string `json:"index"`
			URL   string `json:"url"`
		}
		if s.Action == "failed" || json.Unmarshal(s.Summary, &out) != nil {
			continue
		}
		switch {
		case s.Job == "report" && out.Index != "":
			fmt.Fprintf(a.stdout, "report: %s\n", out.Index)
		case s.Job == "publish" && out.URL != "":
			fmt.Fprintf(a.stdout, "published: %s\n", out.URL)
		}
	}
}

// stageExec runs each stage's job in this process, on the driver, with
// the configuration the stage sees: swelake.yaml, the environment and the
// flags, then the pipeline's set:, then the stage's set:; the job's typed
// config is its defaults, its section of that configuration, then the
// stage's config: (docs/architecture.md says why in-process).
type stageExec struct {
	a    *app
	cmd  *cobra.Command
	l    *lake.Lake
	spec *pipeline.Spec
	mu   sync.Mutex
	srv  *http.Server
	url  string
	// tasks is the tasks snapshot the scripted policy knows.
	tasks int64
}

func (a *app) newStageExec(cmd *cobra.Command, l *lake.Lake, spec *pipeline.Spec) (*stageExec, error) {
	return &stageExec{a: a, cmd: cmd, l: l, spec: spec}, nil
}

func (e *stageExec) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopPolicy()
}

func (e *stageExec) stopPolicy() {
	if e.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.srv.Shutdown(ctx)
		e.srv, e.url = nil, ""
	}
}

// policyURL serves the scripted policy over the tasks as they are now: a
// stage that added tasks (synth-tasks) has the next stage's policy know
// them (the server is started again over the new snapshot).
func (e *stageExec) policyURL(ctx context.Context) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	snap, err := tables.Pin(ctx, e.l, schemas.Tasks.Name, schemas.Tasks.Name)
	if err != nil {
		return "", err
	}
	if e.url != "" && e.tasks == snap.Version {
		return e.url, nil
	}
	e.stopPolicy()
	e.tasks = snap.Version
	pol, err := e.a.scriptedPolicy(ctx, e.l, snap, 0)
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("scripted policy: %w", err)
	}
	e.srv = &http.Server{Handler: pol, ReadHeaderTimeout: 10 * time.Second}
	go e.srv.Serve(ln)
	e.url = "http://" + ln.Addr().String() + "/v1"
	e.a.logger.Info("scripted policy serving", "url", e.url, "tasks", len(pol.Tasks), "input", snap.Ref())
	return e.url, nil
}

// checkStageConfigs builds every stage's whole configuration — swelake.yaml,
// the pipeline's set:, the stage's set: and config: — before anything runs
// (a --dry-run too): a key that is not swelake's, or a bad value, fails the
// file naming the stage, not the stage when its turn comes.
func (a *app) checkStageConfigs(cmd *cobra.Command, file string, spec *pipeline.Spec) error {
	for _, st := range spec.Stages {
		job, _ := registry.Find(st.Job)
		_, jobCfg, err := a.stageConfig(cmd, job, st, spec.Set, st.Set)
		if err == nil {
			err = job.ValidateAny(jobCfg)
		}
		if ue := (usageError{}); errors.As(err, &ue) {
			err = ue.err
		}
		if err != nil {
			return usageError{fmt.Errorf("pipeline %s: stage %q (%s): %w", file, st.Name, st.Job, err)}
		}
	}
	return nil
}

// stageConfig is a stage's whole configuration (swelake.yaml, the
// environment and flags, then extra: the pipeline's and the stage's set:)
// and its job's typed config (defaults, its section, then the stage's
// config:). Errors name the part that failed, not the stage.
func (a *app) stageConfig(cmd *cobra.Command, job stage.Job, st pipeline.Stage, extra ...map[string]any) (Config, any, error) {
	cfg, err := loadConfig(cmd.Flags(), a.getenv, extra...)
	if err != nil {
		return cfg, nil, err
	}
	jobCfg := job.NewConfig()
	sec := job.Describe().ConfigSection()
	if m, ok := cfg.Jobs[sec]; ok {
		if err := stage.Decode(m, jobCfg); err != nil {
			return cfg, nil, fmt.Errorf("%s: %w", sec, err)
		}
	}
	if err := stage.Decode(st.Config, jobCfg); err != nil {
		return cfg, nil, fmt.Errorf("config: %w", err)
	}
	return cfg, jobCfg, nil
}

// Run implements pipeline.Executor: a stage with shards: N runs its
// missing shards one after another, each recorded when done (as its
// Slurm array tasks or Kubernetes pods would).
func (e *stageExec) Run(ctx context.Context, st pipeline.Stage, key pipeline.Key) (pipeline.Outcome, error) {
	n := st.ShardCount()
	if n == 1 {
		sum, err := e.runStage(ctx, st, stage.Shard{Count: 1})
		return pipeline.Outcome{Summary: sum}, err
	}
	all, err := pipeline.Shards(ctx, e.l.Bucket(), e.spec.Name, st.Name, key.RunKey)
	if err != nil {
		return pipeline.Outcome{}, err
	}
	elsewhere := map[int]bool{} // shards another process is running
	for _, i := range pipeline.Missing(all[n], n) {
		if _, err := e.runShard(ctx, st, key.RunKey, stage.Shard{Index: i, Count: n}); errors.Is(err, pipeline.ErrLeaseHeld) {
			elsewhere[i] = true
		} else if err != nil {
			return pipeline.Outcome{}, err
		}
	}
	// Wait for the shards running elsewhere: their records, or their
	// leases expiring (the holder died) and then run them here.
	for len(elsewhere) > 0 {
		select {
		case <-ctx.Done():
			return pipeline.Outcome{}, ctx.Err()
		case <-time.After(2 * time.Second):
		}
		for i := range elsewhere {
			if _, err := e.runShard(ctx, st, key.RunKey, stage.Shard{Index: i, Count: n}); err == nil {
				delete(elsewhere, i)
			} else if !errors.Is(err, pipeline.ErrLeaseHeld) {
				return pipeline.Outcome{}, err
			}
		}
	}
	if all, err = pipeline.Shards(ctx, e.l.Bucket(), e.spec.Name, st.Name, key.RunKey); err != nil {
		return pipeline.Outcome{}, err
	}
	out, _ := pipeline.Complete(all[n], n)
	return out, nil
}

// runShard runs one shard of a stage under the shard's lease and records
// it; a shard already recorded is not run again (its summary is
// returned), and one whose lease another process holds is
// pipeline.ErrLeaseHeld.
func (e *stageExec) runShard(ctx context.Context, st pipeline.Stage, runKey string, shard stage.Shard) (json.RawMessage, error) {
	b := e.l.Bucket()
	host, _ := os.Hostname()
	ls, err := lease.Acquire(ctx, b, pipeline.ShardLeaseKey(e.spec.Name, st.Name, runKey, shard.Index, shard.Count),
		fmt.Sprintf("%s/%d", host, os.Getpid()), 2*time.Minute, e.a.now, e.a.logger)
	if err != nil {
		return nil, fmt.Errorf("shard %s: %w", shard, err)
	}
	ctx, cancel := ls.Guard(ctx)
	defer cancel()
	defer func() {
		if err := ls.Release(context.WithoutCancel(ctx)); err != nil {
			e.a.logger.Warn("shard lease", "err", err)
		}
	}()
	all, err := pipeline.Shards(ctx, b, e.spec.Name, st.Name, runKey)
	if err != nil {
		return nil, err
	}
	if r, ok := all[shard.Count][shard.Index]; ok {
		e.a.logger.Info("shard already done", "stage", st.Name, "shard", shard.String(), "by", orDefault(r.JobID, r.Host))
		return r.Summary, nil
	}
	t0 := e.a.now()
	sum, err := e.runStage(ctx, st, shard)
	if err != nil {
		return nil, fmt.Errorf("shard %s: %w", shard, err)
	}
	return sum, e.a.recordShard(ctx, e.l, e.spec, st, runKey, shard, t0, sum)
}

// recordShard records a shard of a stage done (pipeline.ShardRecord).
func (a *app) recordShard(ctx context.Context, l *lake.Lake, spec *pipeline.Spec, st pipeline.Stage, runKey string, shard stage.Shard, t0 time.Time, sum json.RawMessage) error {
	host, _ := os.Hostname()
	return pipeline.RecordShard(ctx, l.Bucket(), pipeline.ShardRecord{Pipeline: spec.Name, Stage: st.Name, Job: st.Job, RunKey: runKey,
		Shard: shard.Index, Of: shard.Count, JobID: a.schedulerJobID(), Host: host, Started: t0.UTC(), Seconds: a.now().Sub(t0).Seconds(), Summary: sum})
}

// runStage runs the stage's job here, on its shard of the tasks.
func (e *stageExec) runStage(ctx context.Context, st pipeline.Stage, shard stage.Shard) (json.RawMessage, error) {
	job, ok := registry.Find(st.Job)
	if !ok {
		return nil, fmt.Errorf("stage %s: unknown job %q", st.Name, st.Job)
	}
	info := job.Describe()
	extra := []map[string]any{e.spec.Set, st.Set}
	if e.spec.Policy == "scripted" && (info.Needs.Policy || info.Needs.Verifier) {
		url, err := e.policyURL(ctx)
		if err != nil {
			return nil, err
		}
		extra = append(extra, map[string]any{"policy.base_url": url, "policy.model": "scripted", "verifier.base_url": url, "verifier.model": "scripted"})
	}
	cfg, jobCfg, err := e.a.stageConfig(e.cmd, job, st, extra...)
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", st.Name, err)
	}
	if !shard.Whole() {
		if err := stage.Decode(map[string]any{"shard": shard.String()}, jobCfg); err != nil {
			return nil, fmt.Errorf("stage %s: --shard: %w", st.Name, err)
		}
	}
	sub := &app{env: e.a.env, cfg: cfg, json: e.a.json, logger: e.a.logger}
	r, err := parseRoot(cfg.Lake)
	if err != nil {
		return nil, err
	}
	env := sub.stageEnv(e.l, r, e.cmd)
	sum, err := job.ExecuteAny(ctx, env, jobCfg)
	if err != nil {
		return nil, err
	}
	return json.Marshal(sum)
}
