package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swelake/swelake/internal/exectest"
)

// TestEnvCommands: env build makes the base, an environment and an
// instance image for a task of the lake (offline, on a real engine), the
// task's sandbox then runs in its instance image (a shallow repository at
// its base commit, not the copy from repos_dir), a second build reuses all
// three, env list shows them, env prune --all removes them; a job leaves
// no container behind.
func TestEnvCommands(t *testing.T) {
	exectest.Need(t)
	d, e := exectest.Docker(t)
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, env: map[string]string{}}
	repo := filepath.Join(dir, "repos", "acme", "calc")
	os.MkdirAll(repo, 0o755)
	git := exectest.Git(t, repo)
	git("init", "-q")
	writeFile(t, repo, "calc.py", "import iniconfig\ndef add(a, b):\n    return a - b\n")
	git("add", ".")
	git("commit", "-qm", "buggy")
	base := git("rev-parse", "HEAD")
	writeFile(t, repo, "calc.py", "def add(a, b):\n    return a + b\n")
	git("commit", "-qam", "fixed")
	row, _ := json.Marshal(map[string]any{"instance_id": "acme__calc-2", "repo": "acme/calc", "base_commit": base, "version": "1.0",
		"problem_statement": "add() subtracts", "FAIL_TO_PASS": []string{"t"}, "PASS_TO_PASS": []string{}, "patch": "", "test_patch": "",
		"created_at": "2024-01-01T00:00:00Z", "environment_setup_commit": base})
	writeFile(t, dir, "tasks.jsonl", string(row)+"\n")
	writeFile(t, dir, "specs.yaml", "specs:\n  - repo: acme/calc\n    packages: [python3-iniconfig]\n")
	writeFile(t, dir, "swelake.yaml", "sandbox:\n  backend: docker\n  docker_host: "+d.Host+"\n  specs: specs.yaml\n  image_cache: "+exectest.ImageCache(t)+"\n")
	c.ok("lake", "init")
	c.ok("ingest", "tasks", "--format", "auto", filepath.Join(dir, "tasks.jsonl"))

	type built struct {
		Base struct {
			Ref   string `json:"ref"`
			Built bool   `json:"built"`
		} `json:"base"`
		Tasks []envResult `json:"tasks"`
	}
	var b1 built
	json.Unmarshal([]byte(c.ok("--config", "swelake.yaml", "env", "build", "--json")), &b1)
	if len(b1.Tasks) != 1 || b1.Tasks[0].Instance != "sweb.eval.x86_64.acme__calc-2:latest" || !b1.Tasks[0].Built || !strings.HasPrefix(b1.Tasks[0].Env, "sweb.env.py.x86_64.") {
		t.Fatalf("env build: %+v", b1)
	}
	out := c.ok("--config", "swelake.yaml", "sandbox", "run", "--task", b1.Tasks[0].TaskID, "--",
		"sh", "-c", "git rev-parse HEAD; git rev-parse --is-shallow-repository; python3 -c 'import calc; print(calc.add(2, 2))'")
	if out != base+"\ntrue\n0\n" {
		t.Fatalf("the task's sandbox is not its instance image at the base commit: %q", out)
	}
	// A job through the sandbox pool: the task's sandboxes are opened
	// ahead, and those it does not use (the task has no test command)
	// are removed before the job ends (NoLeftovers below).
	if out := c.ok("--config", "swelake.yaml", "run", "validate-tasks"); !strings.Contains(out, "1 tasks (invalid 1)") {
		t.Fatalf("validate-tasks: %q", out)
	}
	var b2 built
	json.Unmarshal([]byte(c.ok("--config", "swelake.yaml", "env", "build", "--json")), &b2)
	if b2.Base.Built || len(b2.Tasks) != 1 || b2.Tasks[0].Built {
		t.Fatalf("second build rebuilt: %+v", b2)
	}
	var list []struct {
		Tags   []string          `json:"tags"`
		Labels map[string]string `json:"labels"`
	}
	json.Unmarshal([]byte(c.ok("--config", "swelake.yaml", "env", "list", "--json")), &list)
	kinds := map[string]int{}
	for _, im := range list {
		kinds[im.Labels["swelake.kind"]]++
	}
	if kinds["base"] != 1 || kinds["env"] != 1 || kinds["instance"] != 1 {
		t.Fatalf("env list: %v", kinds)
	}
	var pruned struct {
		Images int `json:"images_removed"`
	}
	json.Unmarshal([]byte(c.ok("--config", "swelake.yaml", "env", "prune", "--all", "--json")), &pruned)
	if pruned.Images != 3 {
		t.Fatalf("env prune --all removed %d images", pruned.Images)
	}
	if out := strings.TrimSpace(c.ok("--config", "swelake.yaml", "env", "list", "--json")); out != "[]" && out != "null" {
		t.Fatalf("env list after prune: %s", out)
	}
	exectest.NoLeftovers(t, d, e)
}
