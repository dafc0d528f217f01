package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/agent"
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
			snap, err := tables.Pin(ctx, l, tasksRef, schemas.Tasks.Name)
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
// tasks of snap, and of the tasks table as it grows (a task written while
// it serves — an RL loop's self-play round — is looked up when first
// asked about).
func (a *app) scriptedPolicy(ctx context.Context, l *lake.Lake, snap *lake.Snapshot, success float64) (*agent.Scripted, error) {
	tasks, err := scriptTasks(ctx, l, snap)
	if err != nil {
		return nil, err
	}
	pol := &agent.Scripted{Tasks: tasks, Success: success}
	var mu sync.Mutex
	later := map[string]agent.ScriptTask{}
	seen := snap.Version
	pol.Lookup = func(id string) (agent.ScriptTask, bool) {
		mu.Lock()
		defer mu.Unlock()
		if t, ok := later[id]; ok {
			return t, true
		}
		latest, err := tables.Pin(context.WithoutCancel(ctx), l, schemas.Tasks.Name, schemas.Tasks.Name)
		if err != nil || latest.Version == seen {
			return agent.ScriptTask{}, false
		}
		more, err := scriptTasks(context.WithoutCancel(ctx), l, latest)
		if err != nil {
			a.logger.Warn("scripted policy: tasks not read", "tasks", latest.Ref(), "err", err)
			return agent.ScriptTask{}, false
		}
		later, seen = more, latest.Version
		t, ok := later[id]
		return t, ok
	}
	return pol, nil
}

func scriptTasks(ctx context.Context, l *lake.Lake, snap *lake.Snapshot) (map[string]agent.ScriptTask, error) {
	out := map[string]agent.ScriptTask{}
	for t, err := range lake.ReadRows[schemas.Task](ctx, l, snap) {
		if err != nil {
			return nil, err
		}
		out[t.TaskID] = agent.ScriptTask{TaskID: t.TaskID, Language: t.Language, GoldPatch: t.GoldPatch, FailToPass: t.FailToPass, PassToPass: t.PassToPass, TestCmd: t.TestCmd}
	}
	return out, nil
}
