package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swelake/swelake/internal/modeltest"
	"github.com/swelake/swelake/internal/tokref"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/chattemplate"
)

// verlTasks writes SWE-Gym task rows for the training rollouts' tasks a, b
// and c, every column the verl RL file carries filled in.
func verlTasks(t *testing.T, dir string) string {
	var b strings.Builder
	for i, id := range []string{"a", "b", "c"} {
		row, _ := json.Marshal(map[string]any{"instance_id": id, "repo": "acme/calc", "base_commit": fmt.Sprintf("%040d", i),
			"problem_statement": "Fix issue " + id + " in the repository.", "hints_text": "look at calc.py",
			"patch":      "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1 +1 @@\n-a - b\n+a + b\n",
			"test_patch": "diff --git a/test_calc.py b/test_calc.py\n", "FAIL_TO_PASS": []string{"test_calc.py::test_" + id},
			"PASS_TO_PASS": []string{"test_calc.py::test_ok", "test_calc.py::test_" + id + "[x]"}, "version": "1.0",
			"created_at": "2024-01-0" + fmt.Sprint(i+1) + "T10:00:00Z", "docker_image": "xingyaoww/sweb.eval.x86_64.acme_s_calc-" + id})
		b.Write(row)
		b.WriteByte('\n')
	}
	return writeFile(t, dir, "gym.jsonl", b.String())
}

// trainingLake is a lake in a new directory with the training rollouts and
// their SWE-Gym tasks; it returns the CLI, the directory and the --lake flag.
func trainingLake(t *testing.T) (*cli, string, string) {
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, env: map[string]string{"SWELAKE_TOKENIZER": tokref.DefaultTokenizerDir()}}
	lk := "--lake=" + filepath.Join(dir, "lake")
	c.ok("lake", "init", lk)
	c.ok("ingest", "tasks", lk, "--format", "swe-gym", verlTasks(t, dir))
	c.ok("ingest", "rollouts", lk, "--format", "openai-chat", trainingRollouts(t, dir))
	return c, dir, lk
}

// TestVerlRL: build-rl's verl RL Parquet carries the prompt the rollouts
// started from (system, user), the task in SWE-bench's column names with
// its task_id, split and index, the tools and each sample's shaped reward
// and advantage; --verl-layout swe-master writes SWE-Master's rLLM rows
// (placeholder prompt, extra_info = the task row with docker_image); both
// re-ingest into the same tasks, field for field.
func TestVerlRL(t *testing.T) {
	c, dir, lk := trainingLake(t)
	file := filepath.Join(dir, "rl", "iter-1.parquet")
	var sum struct {
		VerlTasks int `json:"verl_tasks"`
		Samples   int
	}
	out := c.ok("run", "build-rl", lk, "--k", "4", "--verl-out", file, "--json")
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.VerlTasks != 2 || sum.Samples != 8 {
		t.Fatalf("build-rl: %v\n%s", err, out)
	}
	q := func(sql string) string { return c.ok("sql", lk, "--allow-host-files", "--csv", sql) }
	got := q(fmt.Sprintf(`SELECT data_source, len(prompt) AS n, prompt[1].role AS r1, prompt[2].content AS user, ability,
		reward_model.style AS style, json_extract_string(reward_model.ground_truth, '$.FAIL_TO_PASS[0]') AS f2p,
		extra_info.task_id, extra_info.split, extra_info.index, extra_info.docker_image, len(extra_info.samples) AS samples,
		round(list_sum(list_transform(extra_info.samples, s -> s.advantage)), 9) AS adv, extra_info.samples[1].reward_shaped AS r0,
		json_array_length(extra_info.tools) AS tools
		FROM read_parquet('%s') ORDER BY extra_info.index`, file))
	want := "data_source,n,r1,user,ability,style,f2p,task_id,split,index,docker_image,samples,adv,r0,tools\n" +
		"swe-gym,2,system,Fix issue a in the repository.,swe,rule,test_calc.py::test_a,swe-gym/a,train,0,xingyaoww/sweb.eval.x86_64.acme_s_calc-a,4,0,1,2\n" +
		"swe-gym,2,system,Fix issue b in the repository.,swe,rule,test_calc.py::test_b,swe-gym/b,train,1,xingyaoww/sweb.eval.x86_64.acme_s_calc-b,4,0,1,2\n"
	if got != want {
		t.Fatalf("verl RL rows:\n%s\nwant\n%s", got, want)
	}

	// verl's RLHFDataset (deps/npm/consumers.mjs verl-rl) renders each
	// prompt, with the tools, into how the task's rollouts began.
	lines, err := tokref.Script(context.Background(), "consumers.mjs", []string{"verl-rl", tokref.DefaultTokenizerDir(), file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, tmpl := modeltest.Qwen(t)
	tools, _ := chattemplate.ParseJSON([]byte(trainingTools))
	for _, l := range lines {
		var r struct {
			Text   string `json:"text"`
			TaskID string `json:"task_id"`
			Error  string `json:"error"`
		}
		json.Unmarshal(l, &r)
		id := strings.TrimPrefix(r.TaskID, "swe-gym/")
		want, err := tmpl.RenderChat(chattemplate.Chat{Messages: []schemas.Message{{Role: "system", Content: "You are a software engineer."},
			{Role: "user", Content: "Fix issue " + id + " in the repository."}}, Tools: tools, AddGenerationPrompt: true})
		if err != nil || r.Error != "" || r.Text != want {
			t.Fatalf("verl renders the prompt of %s as\n%q\nnot as its rollouts began:\n%q (%v %s)", r.TaskID, r.Text, want, err, r.Error)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("verl-rl rows: %d", len(lines))
	}

	// The same batch, complete already, read back from the lake: the same
	// bytes.
	again := filepath.Join(dir, "rl", "again.parquet")
	c.ok("run", "build-rl", lk, "--k", "4", "--verl-out", again)
	if a, b := readFile(t, file), readFile(t, again); !bytes.Equal(a, b) {
		t.Fatalf("the verl file of a batch read back from the lake differs from the run's (%d vs %d bytes)", len(b), len(a))
	}

	// SWE-Master's layout, from the batch already in the lake.
	master := filepath.Join(dir, "rl", "swe-master.parquet")
	c.ok("run", "build-rl", lk, "--k", "4", "--verl-out", master, "--verl-layout", "swe-master")
	got = q(fmt.Sprintf(`SELECT prompt[1].content AS p, reward_model.style AS s, reward_model.ground_truth IS NULL AS gt_null,
		extra_info.instance_id, extra_info.repo, extra_info.docker_image FROM read_parquet('%s') ORDER BY 4`, master))
	if got != "p,s,gt_null,instance_id,repo,docker_image\nplaceholder,rule,true,a,acme/calc,xingyaoww/sweb.eval.x86_64.acme_s_calc-a\nplaceholder,rule,true,b,acme/calc,xingyaoww/sweb.eval.x86_64.acme_s_calc-b\n" {
		t.Fatalf("swe-master rows:\n%s", got)
	}
	// SWE-Master's SWEEnv.from_dict(extra_info) builds R2E-Gym's
	// DockerRuntime(ds=extra_info) (R2E-Gym/src/r2egym/agenthub/runtime/
	// docker.py at bc8904f), which needs docker_image (or image_name) and
	// reads instance_id; "xingyaoww" in the image selects SWE-Gym's specs.
	if n := q(fmt.Sprintf(`SELECT count(*) FILTER (WHERE coalesce(extra_info.docker_image, extra_info.image_name, '') <> '' AND extra_info.instance_id <> '') AS ok FROM read_parquet('%s')`, master)); n != "ok\n2\n" {
		t.Fatalf("rows SWEEnv.from_dict cannot start:\n%s", n)
	}

	// Round trip: both files re-ingest into the same tasks, field for field.
	tasks := "SELECT task_id, content_hash, gold_patch = (SELECT gold_patch FROM tasks LIMIT 1) AS g, len(fail_to_pass) AS f, len(pass_to_pass) AS p, test_patch <> '' AS tp, hints, version, created_at, image FROM tasks WHERE task_id IN ('swe-gym/a', 'swe-gym/b') ORDER BY 1"
	orig := c.ok("sql", lk, "--csv", tasks)
	for _, f := range []string{file, master} {
		lk2 := "--lake=" + filepath.Join(dir, "back-"+filepath.Base(f))
		c.ok("lake", "init", lk2)
		c.ok("ingest", "tasks", lk2, "--format", "verl", f)
		if back := c.ok("sql", lk2, "--csv", tasks); back != orig {
			t.Fatalf("%s re-ingested:\n%s\nwas\n%s", filepath.Base(f), back, orig)
		}
	}
	c.fails("verl_layout \"other\"", 2, "run", "build-rl", lk, "--verl-out", file, "--verl-layout", "other")
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
