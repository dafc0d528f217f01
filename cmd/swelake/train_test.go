package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swelake/swelake/internal/tokref"
)

// trainingTools are the tool schemas the training rollouts were offered.
const trainingTools = `[{"type":"function","function":{"name":"bash","description":"Run a command","parameters":{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}}},{"type":"function","function":{"name":"submit","description":"Submit","parameters":{"type":"object","properties":{}}}}]`

// trainingRollouts writes OpenAI-chat rollouts: 3 tasks × 4 samples with
// mixed rewards (task c: all resolved), each ending with a bare submit; one
// loops, one uses git log.
func trainingRollouts(t *testing.T, dir string) string {
	var b strings.Builder
	tools := trainingTools
	for ti, task := range []string{"a", "b", "c"} {
		for s := range 4 {
			reward := 0
			if s < 2 || task == "c" {
				reward = 1
			}
			cmd := fmt.Sprintf("pytest tests/test_%s.py -k case%d", task, s)
			if task == "a" && s == 1 {
				cmd = "git log --oneline -3"
			}
			msgs := []map[string]any{
				{"role": "system", "content": "You are a software engineer."},
				{"role": "user", "content": fmt.Sprintf("Fix issue %s in the repository.", task)},
				{"role": "assistant", "content": "Let me run the tests.", "tool_calls": []any{map[string]any{"id": "c1", "type": "function", "function": map[string]any{"name": "bash", "arguments": fmt.Sprintf(`{"command": %q}`, cmd)}}}},
				{"role": "tool", "tool_call_id": "c1", "content": "1 failed, 3 passed"},
				{"role": "assistant", "content": "", "tool_calls": []any{map[string]any{"id": "c2", "type": "function", "function": map[string]any{"name": "submit", "arguments": "{}"}}}},
				{"role": "tool", "tool_call_id": "c2", "content": "submitted"},
			}
			row := map[string]any{"messages": msgs, "tools": json.RawMessage(tools), "task_id": "swe-gym/" + task, "rollout_id": fmt.Sprintf("r-%d-%d", ti, s),
				"run_id": "train-run", "policy": "qwen2.5", "reward": reward, "resolved": reward == 1, "exit_reason": "submitted", "patch": "diff --git a/x.py b/x.py\n"}
			line, _ := json.Marshal(row)
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	return writeFile(t, dir, "train.jsonl", b.String())
}

func trainingRoundTrip(t *testing.T, c *cli, lakeRoot string) {
	if err := tokref.Check(); err != nil {
		t.Fatal(err)
	}
	c.env["SWELAKE_TOKENIZER"] = tokref.DefaultTokenizerDir()
	lk := "--lake=" + lakeRoot
	c.ok("lake", "init", lk)
	c.ok("ingest", "rollouts", lk, "--format", "openai-chat", trainingRollouts(t, c.dir))

	type cacheStats struct{ Hits, Misses int64 }
	var cur struct {
		Input int64
		Kept  int64
		Rules []struct {
			Rule    string
			Dropped int64
		}
		TokenCache cacheStats `json:"token_cache"`
	}
	js := c.ok("run", "curate", lk, "--json")
	if err := json.Unmarshal([]byte(js), &cur); err != nil {
		t.Fatalf("curate --json: %v\n%s", err, js)
	}
	dropped := map[string]int64{}
	for _, r := range cur.Rules {
		dropped[r.Rule] = r.Dropped
	}
	// 12 rollouts: 4 unresolved, git log in 1, task c (all resolved) not mixed.
	if cur.Input != 12 || dropped["reward"] != 4 || dropped["git_hacking"] != 1 || dropped["difficulty"] != 4 || dropped["bare_submit"] != 0 || cur.Kept != 3 {
		t.Fatalf("curate summary: %s", js)
	}
	// No source token counts: curate tokenised all 12 rendered chats, once.
	if cur.TokenCache != (cacheStats{Misses: 12}) {
		t.Fatalf("curate token cache: %s", js)
	}
	if out := c.ok("run", "curate", lk); !strings.Contains(out, "already committed") {
		t.Fatalf("re-run: %s", out)
	}
	// The run's record names the version of each of its three tables.
	if runs := c.ok("lake", "runs", "curate", lk); !strings.Contains(runs, "curation@1, curation_drops@1, task_stats@1") || strings.Count(runs, "\ncurate ") != 1 {
		t.Fatalf("lake runs curate:\n%s", runs)
	}
	c.fails("not a job", 2, "lake", "runs", "no-such-job", lk)
	// In SQL, lake_runs leads to the latest run's rows.
	kept := c.ok("sql", lk, "--csv", "SELECT count(*) AS kept, any_value(r.outputs['task_stats']) AS stats FROM curation c JOIN (SELECT id, outputs FROM lake_runs WHERE job = 'curate' ORDER BY seq DESC LIMIT 1) r ON c.curation_id = r.id WHERE c.kept")
	if kept != "kept,stats\n3,1\n" {
		t.Fatalf("the latest curation through lake_runs:\n%s", kept)
	}
	drops := c.ok("sql", lk, "--csv", "SELECT rule, dropped FROM curation_drops WHERE rule IN ('reward','difficulty') ORDER BY rule")
	if drops != "rule,dropped\ndifficulty,4\nreward,4\n" {
		t.Fatalf("curation_drops:\n%s", drops)
	}

	out := filepath.Join(c.dir, "sft-out")
	sft := c.ok("run", "build-sft", lk, "--out", out, "--export", "parquet,openai,verl,axolotl,openrlhf,llamafactory", "--pack-length", "4096", "--json")
	var sum struct {
		SetID      string `json:"set_id"`
		Examples   int
		LossTokens int64 `json:"loss_tokens"`
		Exports    []string
		TokenCache cacheStats `json:"token_cache"`
	}
	if err := json.Unmarshal([]byte(sft), &sum); err != nil || sum.Examples != 3 || sum.LossTokens == 0 || len(sum.Exports) < 7 {
		t.Fatalf("build-sft: %v\n%s", err, sft)
	}
	// build-sft renders the same chats: every one's ids come from the cache.
	if sum.TokenCache != (cacheStats{Hits: 3}) {
		t.Fatalf("build-sft token cache: %s", sft)
	}
	q := c.ok("sql", lk, "--csv", "SELECT count(*) AS n, sum(num_loss_tokens) = "+fmt.Sprint(sum.LossTokens)+" AS same, min(len(input_ids) = num_tokens) AS lens FROM sft_examples")
	if q != "n,same,lens\n3,true,true\n" {
		t.Fatalf("sft_examples:\n%s", q)
	}
	// The tokenised export reads back in DuckDB with the same loss tokens.
	pq := filepath.Join(out, sum.SetID, "parquet", "train.parquet")
	if _, err := os.Stat(pq); err != nil {
		t.Fatalf("no parquet export: %v (%v)", err, sum.Exports)
	}
	back := c.ok("sql", lk, "--allow-host-files", "--csv", fmt.Sprintf("SELECT sum(list_sum(loss_mask)) AS loss, bool_and(len(position_ids) = len(input_ids)) AS ok FROM read_parquet('%s')", pq))
	if !strings.HasSuffix(back, ",true\n") {
		t.Fatalf("tokenised export:\n%s", back)
	}
	oa, err := os.ReadFile(filepath.Join(out, sum.SetID, "openai", "train.jsonl"))
	if err != nil || !strings.Contains(string(oa), `"weight":1`) || !strings.Contains(string(oa), `"tools":[{`) {
		t.Fatalf("openai export: %v\n%.400s", err, oa)
	}

	rl := c.ok("run", "build-rl", lk, "--iteration", "1", "--k", "4", "--verl-out", filepath.Join(c.dir, "rl.parquet"), "--json")
	var rls struct {
		Groups, Samples int
		Dropped         map[string]int `json:"dropped_groups"`
		VerlTasks       int            `json:"verl_tasks"`
		TokenCache      cacheStats     `json:"token_cache"`
	}
	if err := json.Unmarshal([]byte(rl), &rls); err != nil || rls.Groups != 2 || rls.Samples != 8 || rls.Dropped["all advantages zero"] != 1 {
		t.Fatalf("build-rl: %v\n%s", err, rl)
	}
	if rls.TokenCache != (cacheStats{Hits: 12}) {
		t.Fatalf("build-rl token cache: %s", rl)
	}
	adv := c.ok("sql", lk, "--csv", "SELECT group_id, round(sum(advantage), 9) AS s FROM rl_samples GROUP BY 1 ORDER BY 1")
	if adv != "group_id,s\nswe-gym/a|qwen2.5,0\nswe-gym/b|qwen2.5,0\n" {
		t.Fatalf("advantages:\n%s", adv)
	}
}

func TestTrainingLocal(t *testing.T) {
	dir := t.TempDir()
	trainingRoundTrip(t, &cli{t: t, dir: dir, env: map[string]string{}}, filepath.Join(dir, "lake"))
}

func TestTrainingMinIO(t *testing.T) {
	dir := t.TempDir()
	trainingRoundTrip(t, minioCLI(t, dir), "s3://training/lake")
}

// TestMissingTokenizer: a job without its tokenizer fails with one line
// naming the directory, the missing file and how to supply one — both for a
// --tokenizer given and for the default, which is not under this working
// directory nor beside the test binary.
func TestMissingTokenizer(t *testing.T) {
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, env: map[string]string{}}
	lk := "--lake=" + filepath.Join(dir, "lake")
	c.ok("lake", "init", lk)
	c.ok("ingest", "rollouts", lk, "--format", "openai-chat", trainingRollouts(t, dir))
	empty := t.TempDir()
	c.fails("load tokenizer "+empty+": no tokenizer: tokenizer.json is missing (pass --tokenizer <dir>", 1, "run", "build-sft", lk, "--input", "rollouts", "--tokenizer", empty)
	os.WriteFile(filepath.Join(empty, "tokenizer.json"), []byte("{}"), 0o644)
	c.fails("tokenizer_config.json is missing", 1, "run", "build-rl", lk, "--tokenizer", empty)
	c.fails("tokenizer "+DefaultTokenizerDir+": no tokenizer: tokenizer.json is missing (pass --tokenizer <dir> or set SWELAKE_TOKENIZER", 1, "run", "curate", lk)
}
