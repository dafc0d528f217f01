//go:build realtasks

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swelake/swelake/internal/exectest"
	"github.com/swelake/swelake/internal/realsamples"
)

// TestRealTasks (make realtasks) runs the real SWE-bench instances of
// ../shared/realdata/swe-tasks (and $SWELAKE_REALTASKS_EXTRA's, same
// layout) on real checkouts ($SWELAKE_REALTASKS_REPOS/<owner>/<name>, git
// repositories holding each base commit) on both backends: the images
// built offline from each instance's environment.json (its packages, env,
// setup and test command as a specs file), validate-tasks (every instance
// valid), and evaluate on a predictions file with the gold patch, an empty
// patch and a wrong patch per instance.
func TestRealTasks(t *testing.T) {
	repos := os.Getenv("SWELAKE_REALTASKS_REPOS")
	if repos == "" {
		t.Fatal("SWELAKE_REALTASKS_REPOS is not set: point it at a directory of checkouts <dir>/<owner>/<name> (git repositories holding each instance's base_commit; docs/execution.md, \"Real tasks\")")
	}
	dirs, _ := filepath.Glob(filepath.Join(realsamples.Dir(t), "swe-tasks", "*", "environment.json"))
	if extra := os.Getenv("SWELAKE_REALTASKS_EXTRA"); extra != "" {
		more, _ := filepath.Glob(filepath.Join(extra, "*", "environment.json"))
		dirs = append(dirs, more...)
	}
	dir := t.TempDir()
	var specs strings.Builder
	preds := map[string]*strings.Builder{"swe-bench": {}, "swe-rebench": {}} // by the task id's namespace
	specs.WriteString("specs:\n")
	var rows []string
	for _, envPath := range dirs {
		inst := filepath.Dir(envPath)
		var row struct {
			Repo       string `json:"repo"`
			InstanceID string `json:"instance_id"`
			Version    string `json:"version"`
			Patch      string `json:"patch"`
			BaseCommit string `json:"base_commit"`
			Install    any    `json:"install_config"`
		}
		realsamples.ReadJSON(t, filepath.Join(inst, "row.json"), &row)
		if _, err := os.Stat(filepath.Join(repos, row.Repo, ".git")); err != nil {
			t.Fatalf("%s: no checkout of %s under %s: %v", row.InstanceID, row.Repo, repos, err)
		}
		var env struct {
			TestCmd   string            `json:"test_cmd"`
			Env       map[string]string `json:"env"`
			Setup     *string           `json:"setup"`
			Packages  []string          `json:"debian_packages"`
			LogFormat string            `json:"log_format"`
		}
		realsamples.ReadJSON(t, envPath, &env)
		spec := map[string]any{"repo": row.Repo, "version": row.Version, "test_cmd": env.TestCmd, "log_parser": env.LogFormat, "packages": env.Packages}
		if len(env.Env) > 0 {
			abs := map[string]string{}
			for k, v := range env.Env { // relative to the repository root: made absolute
				abs[k] = strings.TrimSuffix("$PWD/"+strings.TrimPrefix(v, "./"), "/.")
			}
			spec["env"] = abs
		}
		if env.Setup != nil {
			spec["setup"] = *env.Setup
		}
		// One spec per instance: the two flask instances differ in version.
		js, _ := json.Marshal(spec)
		fmt.Fprintf(&specs, "  - %s\n", js)
		rows = append(rows, filepath.Join(inst, "row.json"))
		for _, p := range []struct{ model, patch string }{{"gold", row.Patch}, {"empty", ""},
			{"wrong", "diff --git a/SWELAKE_WRONG.txt b/SWELAKE_WRONG.txt\nnew file mode 100644\n--- /dev/null\n+++ b/SWELAKE_WRONG.txt\n@@ -0,0 +1 @@\n+not a fix\n"}} {
			line, _ := json.Marshal(map[string]string{"instance_id": row.InstanceID, "model_name_or_path": p.model, "model_patch": p.patch})
			src := "swe-bench"
			if row.Install != nil {
				src = "swe-rebench"
			}
			preds[src].Write(append(line, '\n'))
		}
	}
	os.WriteFile(filepath.Join(dir, "specs.yaml"), []byte(specs.String()), 0o644)
	for src, b := range preds {
		os.WriteFile(filepath.Join(dir, src+".jsonl"), []byte(b.String()), 0o644)
	}
	n := len(rows)

	d, e := exectest.Docker(t)
	for _, backend := range []string{"local", "docker"} {
		t.Run(backend, func(t *testing.T) {
			bdir := filepath.Join(dir, backend)
			os.MkdirAll(bdir, 0o755)
			cfg := fmt.Sprintf("sandbox:\n  backend: %s\n  repos_dir: %s\n  specs: %s\n  docker_host: %s\n  memory: 4GiB\n",
				backend, repos, filepath.Join(dir, "specs.yaml"), d.Host)
			os.WriteFile(filepath.Join(bdir, "swelake.yaml"), []byte(cfg), 0o644)
			c := &cli{t: t, dir: bdir, env: map[string]string{}}
			c.ok("lake", "init")
			c.ok(append([]string{"ingest", "tasks", "--format", "auto"}, rows...)...)
			if backend == "docker" {
				var built struct {
					Tasks []envResult `json:"tasks"`
				}
				json.Unmarshal([]byte(c.ok("--config", "swelake.yaml", "env", "build", "--json")), &built)
				if len(built.Tasks) != n {
					t.Fatalf("env build: %d tasks of %d", len(built.Tasks), n)
				}
				for _, r := range built.Tasks {
					if r.Instance == "" {
						t.Fatalf("env build: %+v", r)
					}
				}
			}
			var val struct {
				Status map[string]int `json:"status"`
			}
			out := c.ok("--config", "swelake.yaml", "run", "validate-tasks", "--json", "--set", "validate_tasks.runs=1")
			json.Unmarshal([]byte(out), &val)
			t.Logf("%s validate-tasks: %v", backend, val.Status)
			if val.Status["valid"] != n {
				t.Errorf("validate-tasks on %s: %v, want %d valid\n%s", backend, val.Status, n,
					c.ok("sql", "SELECT task_id, status, reason, f2p_failed, p2p_failed FROM task_validations WHERE status <> 'valid'"))
			}
			for src := range preds {
				c.ok("ingest", "reports", "--format", "predictions", "--task-source", src, filepath.Join(dir, src+".jsonl"))
			}
			var ev struct {
				Status map[string]int `json:"status"`
			}
			out = c.ok("--config", "swelake.yaml", "run", "evaluate", "--input", "evaluations", "--json", "--set", "evaluate.reruns=0")
			json.Unmarshal([]byte(out), &ev)
			t.Logf("%s evaluate: %v", backend, ev.Status)
			if ev.Status["resolved"] != n || ev.Status["empty_patch"] != n || ev.Status["unresolved"] != n {
				t.Errorf("evaluate on %s: %v, want %d resolved, %d empty_patch, %d unresolved", backend, ev.Status, n, n, n)
			}
			realRollouts(t, c, bdir, n)
		})
	}
	exectest.NoLeftovers(t, d, e)
}

// realRollouts runs 4 scripted-policy rollouts per task (the policy a
// real HTTP server in its own process), graded in the backend's sandboxes:
// every one graded, none an infrastructure error, and both outcomes seen.
func realRollouts(t *testing.T, c *cli, dir string, n int) {
	served := scriptedPolicy(t, dir)
	var sum struct {
		Rollouts int `json:"rollouts"`
		Resolved int `json:"resolved"`
	}
	out := c.ok("--config", "swelake.yaml", "run", "rollout", "--json", "--samples", "4", "--concurrency", "2",
		"--set", "policy.base_url="+served.BaseURL, "--set", "policy.model=scripted", "--set", "rollout.max_steps=20", "--set", "rollout.reruns=0")
	json.Unmarshal([]byte(out), &sum)
	graded := strings.TrimSpace(c.ok("sql", "--csv", "SELECT count(*) FILTER (WHERE resolved IS NOT NULL) || ',' || count(*) FILTER (WHERE infra_error) AS n FROM rollouts"))
	graded = strings.Trim(strings.TrimSpace(strings.TrimPrefix(graded, "n")), `"`)
	t.Logf("rollouts: %d, resolved %d; graded,infra_errors = %s", sum.Rollouts, sum.Resolved, graded)
	if sum.Rollouts != 4*n || graded != fmt.Sprintf("%d,0", 4*n) || sum.Resolved == 0 || sum.Resolved == 4*n {
		t.Errorf("rollouts: %+v, graded,infra_errors %s; want %d rollouts all graded, none infra, mixed outcomes", sum, graded, 4*n)
	}
}
