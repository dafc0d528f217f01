package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/jobs"
	"github.com/swelake/swelake/jobs/pipeline"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/queries"
	"github.com/swelake/swelake/schemas"
)

func newPipelineCmd(a *app) *cobra.Command {
	c := &cobra.Command{Use: "pipeline", Short: "Run a pipeline file: every stage in dependency order, incrementally"}
	var opts pipeline.Options
	var metricsFile, gateway string
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

Each stage runs as its own swelake process (swelake run <job>, report,
lake publish), its log on stderr. With policy: scripted, the scripted
stand-in policy and verifier serve on 127.0.0.1 for the stages that need
one. Metrics (Prometheus text: per stage duration, rows and bytes written,
skipped, failed) go to --metrics-file (node_exporter's textfile collector)
and/or --pushgateway.

Exit status: 0 when every stage is done; 1 with the failing stage named;
2 for a bad command line or pipeline file; 3 when another run holds the
lease (cron and Kubernetes CronJobs can tell "already running" apart).`,
		Example: `  swelake pipeline run examples/pipeline/demo.yaml
  swelake pipeline run nightly.yaml --dry-run
  swelake pipeline run nightly.yaml --from curate --to build-sft
  swelake pipeline run nightly.yaml --metrics-file /var/lib/node_exporter/textfile/swelake.prom
  swelake pipeline run nightly.yaml --pushgateway http://pushgateway:9091 --json`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			spec, err := pipeline.Load(args[0])
			if err != nil {
				return usageError{err}
			}
			l, r, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			if err := a.runtime(r).InitTables(ctx, l); err != nil {
				return err
			}
			host, _ := os.Hostname()
			opts.Owner = fmt.Sprintf("%s/%d", host, os.Getpid())
			opts.CodeVersion, opts.Logger, opts.Clock, opts.LeaseTTL = codeVersion(), a.logger, a.now, ttl
			ex, err := a.newStageExec(cmd, l, spec)
			if err != nil {
				return err
			}
			defer ex.close()
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
	f.BoolVar(&opts.DryRun, "dry-run", false, "print the plan (what runs, what is skipped, why) and run nothing")
	f.StringVar(&metricsFile, "metrics-file", "", "write the run's metrics here (Prometheus text; for node_exporter's textfile collector)")
	f.StringVar(&gateway, "pushgateway", "", "push the run's metrics to this Prometheus Pushgateway URL")
	f.DurationVar(&ttl, "lease-ttl", 2*time.Minute, "how long a lease outlives its last renewal (a killed run blocks others this long)")
	c.AddCommand(run)
	return c
}

func (a *app) writeMetrics(ctx context.Context, res pipeline.Result, file, gateway string, dry bool) error {
	if dry || len(res.Stages) == 0 {
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
			if res.DryRun {
				fmt.Fprintf(a.stdout, "  run   %-16s %s [%s]\n", s.Stage, s.Reason, strings.Join(s.Inputs, ", "))
			} else {
				fmt.Fprintf(a.stdout, "  ran   %-16s %.1fs, %d rows → %s (%s)\n", s.Stage, s.Seconds, s.RowsWritten, strings.Join(s.Outputs, ", "), s.Reason)
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

// stageExec runs each stage as a swelake child process.
type stageExec struct {
	a     *app
	l     *lake.Lake
	spec  *pipeline.Spec
	self  string
	base  []string // global flags every child gets
	env   []string
	mu    sync.Mutex
	srv   *http.Server
	url   string
	stdio io.Writer
}

func (a *app) newStageExec(cmd *cobra.Command, l *lake.Lake, spec *pipeline.Spec) (*stageExec, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("pipeline: find the swelake binary: %w", err)
	}
	base := []string{"--lake", a.cfg.Lake, "--log-level", a.cfg.LogLevel}
	if f := cmd.Flags().Lookup("config"); f != nil && f.Value.String() != "" {
		base = append(base, "--config", f.Value.String())
	}
	env := os.Environ()
	for k := range configDefaults() {
		name := "SWELAKE_" + strings.ToUpper(strings.ReplaceAll(k, ".", "_"))
		if v := a.getenv(name); v != "" {
			env = append(env, name+"="+v)
		}
	}
	if a.getenv("SWELAKE_TEST_AS_CLI") == "1" { // the test binary standing in for swelake
		env = append(env, "SWELAKE_TEST_AS_CLI=1")
	}
	return &stageExec{a: a, l: l, spec: spec, self: self, base: base, env: env, stdio: a.stderr}, nil
}

func (e *stageExec) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.srv.Shutdown(ctx)
	}
}

// policyURL starts the scripted policy over the tasks as they are now
// (once per pipeline run).
func (e *stageExec) policyURL(ctx context.Context) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.url != "" {
		return e.url, nil
	}
	snap, err := jobs.Pin(ctx, e.l, schemas.Tasks.Name, schemas.Tasks.Name)
	if err != nil {
		return "", err
	}
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

// sets renders config keys as --set flags (JSON values), sorted.
func sets(prefix string, m map[string]any) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v, _ := json.Marshal(m[k])
		out = append(out, "--set", prefix+k+"="+string(v))
	}
	return out
}

func stringOf(m map[string]any, key, def string) string {
	if v, ok := m[key]; ok {
		return fmt.Sprint(v)
	}
	return def
}

// Run implements pipeline.Executor.
func (e *stageExec) Run(ctx context.Context, st pipeline.Stage) (json.RawMessage, error) {
	if st.Job == "analysis" {
		return e.analysis(ctx, st)
	}
	var args []string
	switch st.Job {
	case "ingest-tasks", "ingest-rollouts", "ingest-reports":
		args = []string{"ingest", strings.TrimPrefix(st.Job, "ingest-"), "--format", stringOf(st.Config, "format", "auto")}
		if st.Config["strict"] == true {
			args = append(args, "--strict")
		}
		args = append(args, pipeline.Paths(st)...)
	case "report":
		args = []string{"report", stringOf(st.Config, "out", "report")}
		if t := stringOf(st.Config, "title", ""); t != "" {
			args = append(args, "--title", t)
		}
	case "publish":
		table := stringOf(st.Config, "table", st.Inputs[0])
		name := stringOf(st.Config, "name", "")
		if name == "" {
			return nil, fmt.Errorf("publish stage %s: config.name is required", st.Name)
		}
		args = []string{"lake", "publish", table, "--name", name}
		if v := stringOf(st.Config, "split_by", ""); v != "" {
			args = append(args, "--split-by", v)
		}
		if v := stringOf(st.Config, "split", ""); v != "" {
			args = append(args, "--split", v)
		}
	default:
		args = append([]string{"run", st.Job}, sets(strings.ReplaceAll(st.Job, "-", "_")+".", st.Config)...)
	}
	args = append(args, "--json")
	args = append(args, e.base...)
	if args[0] == "run" { // --set is a flag of swelake run
		args = append(args, sets("", e.spec.Set)...)
		args = append(args, sets("", st.Set)...)
	}
	if e.spec.Policy == "scripted" && pipeline.Jobs()[st.Job].NeedsPolicy {
		url, err := e.policyURL(ctx)
		if err != nil {
			return nil, err
		}
		args = append(args, "--set", "policy.base_url="+url, "--set", "policy.model=scripted")
		if st.Job == "verify" {
			args = append(args, "--set", "verifier.base_url="+url, "--set", "verifier.model=scripted")
		}
	}
	args = append(args, st.Args...)
	var stdout bytes.Buffer
	c := osexec.CommandContext(ctx, e.self, args...)
	c.Env, c.Stdout, c.Stderr = e.env, &stdout, e.stdio
	// An interrupted pipeline passes the signal on: the stage commits what
	// finished, removes its workspaces and exits; only one that is still
	// running after the grace period is killed.
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
	c.WaitDelay = stageStopGrace
	if err := c.Run(); err != nil {
		return nil, fmt.Errorf("swelake %s: %w (its log is above)", strings.Join(args[:min(2, len(args))], " "), err)
	}
	out := bytes.TrimSpace(stdout.Bytes())
	if !json.Valid(out) {
		return nil, fmt.Errorf("swelake %s: not JSON on stdout: %.200s", strings.Join(args[:2], " "), out)
	}
	return out, nil
}

// stageStopGrace is how long an interrupted stage has to commit what
// finished and clean up before it is killed.
const stageStopGrace = 2 * time.Minute

// analysis runs the embedded analysis queries over the lake as it is and
// writes each result as JSON and CSV under config.out (default analysis).
func (e *stageExec) analysis(ctx context.Context, st pipeline.Stage) (json.RawMessage, error) {
	dir := stringOf(st.Config, "out", "analysis")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	eng, err := queries.Open(ctx, queries.Options{CacheDir: e.a.cfg.CacheDir, Logger: e.a.logger})
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	if err := eng.Attach(ctx, e.l, nil, jobs.ParquetSchema); err != nil {
		return nil, err
	}
	if err := eng.AttachCommits(ctx, e.l, nil); err != nil {
		return nil, err
	}
	all, err := queries.List()
	if err != nil {
		return nil, err
	}
	written := map[string]int{}
	for _, q := range all {
		res, err := eng.Query(ctx, q.SQL)
		if err != nil {
			return nil, fmt.Errorf("analysis %s: %w", q.Name, err)
		}
		var js, cs bytes.Buffer
		if err := res.WriteJSON(&js); err != nil {
			return nil, err
		}
		if err := res.WriteCSV(&cs); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, q.Name+".json"), js.Bytes(), 0o644); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, q.Name+".csv"), cs.Bytes(), 0o644); err != nil {
			return nil, err
		}
		written[q.Name] = len(res.Rows)
	}
	return json.Marshal(map[string]any{"out": dir, "rows": written})
}
