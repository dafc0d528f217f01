package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/agent"
	"github.com/swelake/swelake/internal/progress"
	"github.com/swelake/swelake/jobs"
	"github.com/swelake/swelake/jobs/rollout"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/jobs/synthtasks"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// execBackend is the sandbox backend of the execution jobs, with its warmed
// Go build cache under the cache directory.
func (a *app) execBackend(r root) (exec.Backend, error) {
	b, err := a.backend()
	if err != nil {
		return nil, err
	}
	if l, ok := b.(*exec.Local); ok {
		l.GoCache = a.cfg.Sandbox.GoCache
		if l.GoCache == "" {
			l.GoCache = filepath.Join(cacheDir(a.cfg, r), "gocache")
		}
	}
	return b, nil
}

// commitState says where a job's output is: committed now, or by an
// earlier run with the same run key.
func commitState(table string, version int64, skipped bool) string {
	if skipped {
		return fmt.Sprintf("already in %s@%d", table, version)
	}
	return fmt.Sprintf("committed %s@%d", table, version)
}

// execEnv opens the lake and the sandbox backend of an execution job and
// returns them with the repository store and the job runtime.
func (a *app) execEnv(cmd *cobra.Command) (*lake.Lake, exec.Backend, string, jobs.Runtime, error) {
	l, r, err := a.openLake(cmd.Context(), false)
	if err != nil {
		return nil, nil, "", jobs.Runtime{}, err
	}
	b, err := a.execBackend(r)
	if err != nil {
		return nil, nil, "", jobs.Runtime{}, err
	}
	return l, b, a.cfg.Sandbox.ReposDir, a.runtime(r), nil
}

// policyClient is the configured policy endpoint's client.
func (a *app) policyClient() (*agent.Client, error) {
	p := a.cfg.Policy
	if p.BaseURL == "" || p.Model == "" {
		return nil, usageError{errors.New("no policy endpoint: set policy.base_url and policy.model (e.g. --set policy.base_url=http://127.0.0.1:8000/v1 --set policy.model=Qwen/Qwen2.5-Coder-32B-Instruct), or run `swelake policy serve --scripted` for a dry run")}
	}
	return a.endpointClient("policy", p)
}

// endpointClient is a chat-completions client of an endpoint section
// (policy or verifier).
func (a *app) endpointClient(section string, p PolicyConfig) (*agent.Client, error) {
	timeout, err := time.ParseDuration(p.Timeout)
	if err != nil {
		return nil, usageError{fmt.Errorf("%s.timeout %q: %w", section, p.Timeout, err)}
	}
	cfg := agent.ClientConfig{BaseURL: p.BaseURL, Model: p.Model, MaxTokens: p.MaxTokens, Timeout: timeout, MaxRetries: p.MaxRetries}
	if p.APIKeyEnv != "" {
		cfg.APIKey = a.getenv(p.APIKeyEnv)
	}
	if p.Temperature >= 0 {
		t := p.Temperature
		cfg.Temperature = &t
	}
	return agent.NewClient(cfg, nil)
}

func newSynthTasksCmd(a *app) *cobra.Command {
	var repos []string
	var maxTasks int
	c := &cobra.Command{
		Use:   "synth-tasks",
		Short: "Inject bugs into repositories and keep those their tests catch, as tasks",
		Long: `Synthesises tasks (Self-Play SWE-RL / SWE-smith style): procedural
mutations of each repository's library code — remove a statement or a whole
block, invert a condition, swap an operator, off by one, change a return
value — for Go (go/ast) and Python. A candidate is kept only if running the
repository's tests in a sandbox shows at least one test going pass → fail
while every other test still runs (a build or collection error is not a
task); candidates that time out are dropped. The buggy tree becomes a
reproducible commit of the repository store (sandbox.repos_dir/<name>), the
gold patch is the inverse diff, FAIL_TO_PASS the broken tests and
PASS_TO_PASS the rest. Problem statements come from a template (the failing
tests and the assertion lines), or are written by the policy model with
--set synth_tasks.statements=policy (policy.base_url, policy.model).
Default repositories: the samples under examples/repos.`,
		Example: `  swelake run synth-tasks
  swelake run synth-tasks --repo ./myrepo --max-tasks 50 --json
  swelake run synth-tasks --set synth_tasks.kinds='["remove_block","invert_cond"]'`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg := a.cfg.SynthTasks
			if len(repos) > 0 {
				cfg.Repos = nil
				for _, r := range repos {
					cfg.Repos = append(cfg.Repos, synthtasks.Repo{Path: r})
				}
			}
			if cmd.Flags().Changed("max-tasks") {
				cfg.MaxTasks = maxTasks
			}
			l, backend, repos, rt, err := a.execEnv(cmd)
			if err != nil {
				return err
			}
			cfg.Backend, cfg.ReposDir, cfg.Runtime = backend, repos, rt
			switch cfg.Statements {
			case "", "template":
			case "policy":
				client, err := a.policyClient()
				if err != nil {
					return err
				}
				cfg.Writer = synthtasks.PolicyWriter{Client: client, Model: a.cfg.Policy.Model}
			default:
				return usageError{fmt.Errorf("synth_tasks.statements %q: template or policy", cfg.Statements)}
			}
			sum, err := synthtasks.Run(ctx, l, cfg)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(sum)
			}
			state := commitState("tasks", sum.Version, sum.Skipped)
			fmt.Fprintf(a.stdout, "synth-tasks (%s): %d tasks\n", state, sum.Tasks)
			for _, rs := range sum.Repos {
				fmt.Fprintf(a.stdout, "  %-12s %s  %d tests; %d candidates, %d kept (%s); dropped (%s)\n", rs.Repo, rs.Commit[:12], rs.Tests, rs.Candidates, rs.Kept, counts(rs.ByKind), counts(rs.Dropped))
			}
			return nil
		},
	}
	c.Flags().StringArrayVar(&repos, "repo", nil, "repository directory (repeatable; default: synth_tasks.repos)")
	c.Flags().IntVar(&maxTasks, "max-tasks", 0, "tasks to keep per repository")
	return c
}

// counts renders a count map for a summary line ("-" when empty).
func counts(m map[string]int) string { return orDefault(formatCounts(m), "-") }

func newRolloutCmd(a *app) *cobra.Command {
	var input, shard string
	var samples, concurrency int
	c := &cobra.Command{
		Use:   "rollout",
		Short: "Run a policy model on every task N times through the agent loop in sandboxes, graded",
		Long: `Drives a policy model behind an OpenAI-compatible chat-completions endpoint
(policy.base_url, policy.model, the API key from the variable named by
policy.api_key_env) through the agent loop: tools bash, str_replace_editor
(view, create, str_replace, insert, undo_edit) and submit, in a fresh
sandbox per rollout. Commands that read git history (rollout.banned, default
git log, git show, git reflog, git clone) are refused and recorded. A run
stops at rollout.max_steps (default 100), rollout.max_context_tokens (default
81,920) or rollout.wall_time; the diff at that point is recorded as a forced
submission. Each rollout is graded (reward, resolved, test_report) and
committed to rollouts in batches of rollout.batch_size.

The run is resumable: its run id depends only on the model, the tasks and
the configuration, so after a crash the same command skips the (task,
sample) pairs already committed and runs the rest.`,
		Example: `  swelake policy serve --scripted &          # a stand-in model for a dry run
  swelake run rollout --set policy.base_url=http://127.0.0.1:8642/v1 --set policy.model=scripted
  swelake run rollout --samples 8 --concurrency 16 \
      --set policy.base_url=http://gpu-node:8000/v1 --set policy.model=Qwen/Qwen2.5-Coder-32B-Instruct`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg := a.cfg.Rollout
			fl := cmd.Flags()
			if fl.Changed("input") {
				cfg.Input = input
			}
			if fl.Changed("samples") {
				cfg.Samples = samples
			}
			if fl.Changed("concurrency") {
				cfg.Concurrency = concurrency
			}
			client, err := a.policyClient()
			if err != nil {
				return err
			}
			l, backend, repos, rt, err := a.execEnv(cmd)
			if err != nil {
				return err
			}
			cfg.Client, cfg.Model, cfg.Endpoint = client, a.cfg.Policy.Model, a.cfg.Policy.BaseURL
			cfg.TokenizerDir = a.tokenizerDir(cmd, cfg.TokenizerDir)
			cfg.Backend, cfg.ReposDir, cfg.Runtime = backend, repos, rt
			if cfg.Shard, err = a.shard(shard); err != nil {
				return err
			}
			bar := progress.New(a.stderr, a.stderrIsTTY, "rollout", 0, a.now)
			cfg.Progress = func(done, total int) {
				bar.SetTotal(int64(total))
				bar.Set(int64(done))
			}
			sum, err := rollout.Run(ctx, l, cfg)
			bar.Finish()
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(sum)
			}
			fmt.Fprintf(a.stdout, "rollout %s of %s: %d tasks × %d samples; %d already committed, %d run now in %d commits (rollouts@%d)\n",
				sum.RunID, sum.Input, sum.Tasks, cfg.Samples, sum.Resumed, sum.Rollouts, sum.Commits, sum.Version)
			fmt.Fprintf(a.stdout, "  resolved %d of %d; exit reasons %s; %d steps (%.1f/s), %d API tokens, %d banned commands refused\n",
				sum.Resolved, sum.Rollouts, counts(sum.Exit), sum.Steps, sum.StepsPerS, sum.Tokens, sum.Banned)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&input, "input", "tasks", "tasks snapshot (table or table@version)")
	f.IntVar(&samples, "samples", 0, "rollouts per task (default rollout.samples, 4)")
	f.IntVar(&concurrency, "concurrency", 0, "rollouts at once (default rollout.concurrency, 2)")
	f.StringVar(&shard, "shard", "", stage.ShardUsage)
	return c
}

func newPolicyCmd(a *app) *cobra.Command {
	c := &cobra.Command{Use: "policy", Short: "A stand-in policy endpoint for dry runs"}
	var addr, tasksRef string
	var scripted bool
	var success float64
	serve := &cobra.Command{
		Use:   "serve --scripted",
		Short: "Serve the OpenAI chat-completions API on 127.0.0.1 with a scripted agent (a stand-in for a model)",
		Long: `Serves POST /v1/chat/completions and GET /v1/models on 127.0.0.1 with a
scripted agent instead of a model: it explores (ls, grep, view, runs the
tests), edits and submits. Per task it succeeds with a probability drawn
around --success (so Best-of-N pass rates come out mixed); failing samples
make a wrong edit and leave a reproduction script, loop on one command, never
submit (hitting the step cap) or submit nothing; some first try a banned git
command. Every choice is a deterministic function of the task and the
request's seed. It knows the tasks of --tasks (it reads their gold patches to
"solve" them): it exists to exercise the real HTTP client, tools and sandboxes
end to end. Real runs point policy.base_url at vLLM, SGLang or a provider.`,
		Example: `  swelake policy serve --scripted --addr 127.0.0.1:8642 &
  swelake run rollout --set policy.base_url=http://127.0.0.1:8642/v1 --set policy.model=scripted`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !scripted {
				return usageError{errors.New("policy serve: only --scripted is available (real models run on vLLM, SGLang or a provider)")}
			}
			ctx := cmd.Context()
			l, _, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			snap, err := jobs.Pin(ctx, l, tasksRef, schemas.Tasks.Name)
			if err != nil {
				return usageError{err}
			}
			pol, err := a.scriptedPolicy(ctx, l, snap, success)
			if err != nil {
				return err
			}
			host, _, err := net.SplitHostPort(addr)
			if err != nil || (host != "127.0.0.1" && host != "localhost" && host != "::1") {
				return usageError{fmt.Errorf("--addr %q: the scripted policy listens on the loopback interface only (127.0.0.1:<port>)", addr)}
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("policy serve: %w", err)
			}
			srv := &http.Server{Handler: pol, ReadHeaderTimeout: 10 * time.Second}
			url := "http://" + ln.Addr().String() + "/v1"
			if a.json {
				a.printJSON(map[string]any{"base_url": url, "model": "scripted", "tasks": len(pol.Tasks), "input": snap.Ref().String()})
			} else {
				fmt.Fprintf(a.stdout, "scripted policy for %d tasks of %s at %s (model \"scripted\"); Ctrl-C stops it\n", len(pol.Tasks), snap.Ref(), url)
			}
			if f, ok := a.stdout.(*os.File); ok {
				f.Sync()
			}
			go func() {
				<-ctx.Done()
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				srv.Shutdown(sctx)
			}()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			a.logger.Info("policy server stopped", "requests", pol.Requests())
			return nil
		},
	}
	f := serve.Flags()
	f.BoolVar(&scripted, "scripted", false, "serve the scripted stand-in agent (required)")
	f.StringVar(&addr, "addr", "127.0.0.1:8642", "listen address (loopback only; port 0 picks a free one)")
	f.StringVar(&tasksRef, "tasks", "tasks", "tasks snapshot whose tasks it knows")
	f.Float64Var(&success, "success", 0.5, "mean per-task success probability")
	c.AddCommand(serve)
	return c
}

// scriptedPolicy is the scripted stand-in policy (and verifier) for the
// tasks of snap.
func (a *app) scriptedPolicy(ctx context.Context, l *lake.Lake, snap *lake.Snapshot, success float64) (*agent.Scripted, error) {
	pol := &agent.Scripted{Tasks: map[string]agent.ScriptTask{}, Success: success}
	for t, err := range jobs.ReadRows[schemas.Task](ctx, l, snap, a.cfg.CacheDir) {
		if err != nil {
			return nil, err
		}
		pol.Tasks[t.TaskID] = agent.ScriptTask{TaskID: t.TaskID, Language: t.Language, GoldPatch: t.GoldPatch, FailToPass: t.FailToPass, TestCmd: t.TestCmd}
	}
	return pol, nil
}
