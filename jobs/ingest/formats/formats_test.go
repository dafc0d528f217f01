package formats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/swelake/swelake/schemas"
)

// decodeAuto detects the format of data (as the first record of a file
// named name) and decodes it.
func decodeAuto(t *testing.T, kind Kind, name string, data []byte) (*Format, Rows) {
	t.Helper()
	f, err := Detect(kind, NewProbe(name, data))
	if err != nil {
		t.Fatalf("detect %s: %v", name, err)
	}
	rows, err := f.Decode(&Record{File: "/runs/run-7/" + name, Data: data}, Options{})
	if err != nil {
		t.Fatalf("decode %s as %s: %v", name, f.Name, err)
	}
	return f, rows
}

func TestTaskFormats(t *testing.T) {
	for _, tc := range []struct {
		name, format, data string
		check              func(t *testing.T, task schemas.Task)
	}{
		{"f2p as lists", "swe-bench",
			`{"repo":"django/django","instance_id":"django__django-1","base_commit":"abc","patch":"P","test_patch":"T","problem_statement":"S","created_at":"2022-11-04T13:49:40Z","version":"4.2","FAIL_TO_PASS":["a","b"],"PASS_TO_PASS":["c"]}`,
			func(t *testing.T, task schemas.Task) {
				if task.TaskID != "swe-bench/django__django-1" || len(task.FailToPass) != 2 || task.GoldPatch != "P" || task.Version != "4.2" || task.Language != "python" {
					t.Fatalf("%+v", task)
				}
			}},
		{"f2p as JSON strings, Verified difficulty", "swe-bench",
			`{"repo":"astropy/astropy","instance_id":"astropy__astropy-1","base_commit":"abc","patch":"P","problem_statement":"S","FAIL_TO_PASS":"[\"x\", \"y\"]","PASS_TO_PASS":"[]","difficulty":"15 min - 1 hour"}`,
			func(t *testing.T, task schemas.Task) {
				if fmt.Sprint(task.FailToPass) != "[x y]" || len(task.PassToPass) != 0 || task.Difficulty != "15 min - 1 hour" {
					t.Fatalf("%+v", task)
				}
			}},
		{"rebench v1: string created_at, string test_cmd", "swe-rebench",
			`{"instance_id":"o__r-1","repo":"o/r","base_commit":"c","patch":"P","problem_statement":"S","created_at":"2021-08-09 12:18:26","install_config":{"test_cmd":"pytest -rA","python":"3.9"},"meta":{"llm_score":{"difficulty_score":2}},"FAIL_TO_PASS":["t"],"PASS_TO_PASS":[],"docker_image":"img:1"}`,
			func(t *testing.T, task schemas.Task) {
				if task.TaskID != "swe-rebench/o__r-1" || task.TestCmd != "pytest -rA" || task.CreatedAt.Format("2006-01-02 15:04:05") != "2021-08-09 12:18:26" ||
					task.Image != "img:1" || task.Difficulty != "2" || task.Language != "python" {
					t.Fatalf("%+v", task)
				}
			}},
		{"rebench V2: int ms created_at, list test_cmd", "swe-rebench",
			`{"instance_id":"u__n-2","repo":"U/n","base_commit":"c","patch":"P","problem_statement":"S","created_at":1609298073000,"language":"c","install_config":{"test_cmd":["make check","make test"]},"FAIL_TO_PASS":["t"],"PASS_TO_PASS":["p"],"image_name":"docker.io/x"}`,
			func(t *testing.T, task schemas.Task) {
				if task.TestCmd != "make check\nmake test" || task.CreatedAt.UnixMilli() != 1609298073000 || task.Language != "c" || task.Image != "docker.io/x" {
					t.Fatalf("%+v", task)
				}
			}},
		{"swe-smith: the patch introduces the bug", "swe-smith",
			`{"instance_id":"o__r.1234abcd.pr_1","repo":"swesmith/o__r.1234abcd","patch":"diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-good\n+bad\n","FAIL_TO_PASS":["t"],"PASS_TO_PASS":[],"image_name":"swesmith.x86_64.o__r.1234abcd","base_commit":"c","problem_statement":"S"}`,
			func(t *testing.T, task schemas.Task) {
				if task.TaskID != "swe-smith/o__r.1234abcd.pr_1" || !strings.Contains(task.BugPatch, "+bad") || !strings.Contains(task.GoldPatch, "-bad\n+good") {
					t.Fatalf("%+v", task)
				}
			}},
		{"r2e-gym: JSON-string columns, expected_output_json", "r2e-gym",
			`{"repo_name":"orange3","docker_image":"r2e/orange3:abc","commit_hash":"abc","problem_statement":"S","parsed_commit_content":"{\"patch\": \"P\"}","expected_output_json":"{\"test_a\": \"PASSED\", \"test_b\": \"FAILED\", \"test_c\": \"PASSED\"}"}`,
			func(t *testing.T, task schemas.Task) {
				if task.TaskID != "r2e-gym/r2e/orange3:abc" || fmt.Sprint(task.ExpectedPass) != "[test_a test_c]" || len(task.FailToPass) != 0 || task.GoldPatch != "P" {
					t.Fatalf("%+v", task)
				}
			}},
		{"verl: the task row inside extra_info, NULL-typed columns", "verl",
			`{"data_source":"SWE-Gym","prompt":[{"role":"user","content":"fix"}],"ability":null,"extra_info":{"instance_id":"g__p-9","repo":"g/p","base_commit":"c","problem_statement":"S","FAIL_TO_PASS":"[\"t\"]","PASS_TO_PASS":null,"patch":"P"}}`,
			func(t *testing.T, task schemas.Task) {
				if task.TaskID != "swe-gym/g__p-9" || fmt.Sprint(task.FailToPass) != "[t]" {
					t.Fatalf("%+v", task)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, rows := decodeAuto(t, Tasks, "rows.json", []byte(tc.data))
			if f.Name != tc.format || len(rows.Tasks) != 1 {
				t.Fatalf("format %s rows %d, want %s", f.Name, len(rows.Tasks), tc.format)
			}
			task := rows.Tasks[0]
			if !bytes.Equal(task.Raw, []byte(tc.data)) || len(task.ContentHash) != 64 {
				t.Fatalf("raw or hash not kept: %q %q", task.Raw, task.ContentHash)
			}
			tc.check(t, task)
		})
	}
}

func TestContentHashIgnoresSpelling(t *testing.T) {
	asList := `{"instance_id":"a__b-1","repo":"a/b","base_commit":"c","patch":"P","problem_statement":"S","FAIL_TO_PASS":["x"],"PASS_TO_PASS":[]}`
	asString := `{"instance_id":"a__b-1","repo":"a/b","base_commit":"c","patch":"P","problem_statement":"S","FAIL_TO_PASS":"[\"x\"]","PASS_TO_PASS":"[]","hints_text":"other export"}`
	changed := strings.Replace(asList, `"P"`, `"P2"`, 1)
	_, a := decodeAuto(t, Tasks, "a.json", []byte(asList))
	_, b := decodeAuto(t, Tasks, "b.json", []byte(asString))
	_, c := decodeAuto(t, Tasks, "c.json", []byte(changed))
	if a.Tasks[0].ContentHash != b.Tasks[0].ContentHash {
		t.Error("the same task spelled two ways hashes differently")
	}
	if a.Tasks[0].ContentHash == c.Tasks[0].ContentHash {
		t.Error("a changed gold patch does not change the hash")
	}
}

func TestSWEAgentVersions(t *testing.T) {
	legacy := `{"environment":"swe_main","trajectory":[{"action":"ls\n","observation":"a.py","response":"r","thought":"t","state":"{}"}],
		"history":[{"role":"system","content":"SETTING"},{"role":"user","content":"issue","agent":"primary"},{"role":"assistant","content":"ls","thought":"t","action":"ls\n"},{"role":"user","content":"a.py"}],
		"info":{"exit_status":"submitted (exit_cost)","submission":"diff","model_stats":{"tokens_sent":10,"tokens_received":2,"api_calls":1}}}`
	v10 := `{"environment":"o__r.1234abcd.pr_5","trajectory":[{"action":"ls","observation":"x","response":"r","thought":"t","messages":[{"role":"system","content":"sys"}]}],
		"history":[{"role":"system","content":"sys","message_type":"system_prompt"},{"role":"user","content":[{"type":"text","text":"issue"}]},
		{"role":"assistant","content":"look","tool_calls":[{"id":"call_1","type":"function","function":{"name":"bash","arguments":"{\"command\":\"ls\"}"}}]},
		{"role":"tool","content":[{"type":"text","text":"OBSERVATION: x"}],"tool_call_ids":["call_1"]}],
		"info":{"swe_agent_version":"1.0.1","exit_status":"submitted","submission":"diff2"},
		"replay_config":"{\"agent\":{\"model\":{\"name\":\"claude-3-7\"}}}"}`
	v11 := `{"trajectory":[{"action":"ls","observation":"x","response":"final answer","query":[{"role":"system","content":"sys"},{"role":"user","content":"issue"}]}],
		"info":{"swe_agent_version":"1.1.0","exit_status":"exit_context"}}`
	for _, tc := range []struct{ name, data string }{{"legacy", legacy}, {"1.0.1", v10}, {"1.1", v11}} {
		t.Run(tc.name, func(t *testing.T) {
			f, rows := decodeAuto(t, Rollouts, "inst__x-1.traj", []byte(tc.data))
			if f.Name != "swe-agent" || len(rows.Rollouts) != 1 {
				t.Fatalf("%s %d", f.Name, len(rows.Rollouts))
			}
			r := rows.Rollouts[0]
			switch tc.name {
			case "legacy":
				if r.TaskID != "swe-bench/inst__x-1" || r.RunID != "run-7" || len(r.Messages) != 4 || !r.Submitted || !r.Forced || r.Patch != "diff" || r.NumTurns != 1 {
					t.Fatalf("%+v", r)
				}
			case "1.0.1":
				m := r.Messages
				if r.TaskID != "swe-smith/o__r.1234abcd.pr_5" || len(m) != 4 || m[1].Content != "issue" || m[2].ToolCalls[0].Name != "bash" ||
					m[2].ToolCalls[0].Arguments != `{"command":"ls"}` || m[3].ToolCallID != "call_1" || r.Forced || !r.Submitted || r.Policy != "claude-3-7" {
					t.Fatalf("%+v", r)
				}
			case "1.1":
				if len(r.Messages) != 3 || r.Messages[2].Content != "final answer" || r.Submitted || r.ExitReasonRaw != "exit_context" || r.ExitReason != schemas.ExitContextOverflow || !r.Forced {
					t.Fatalf("%+v", r)
				}
			}
		})
	}
}

func TestMiniSWEAgent(t *testing.T) {
	legacy := `[{"role":"system","content":"You are"},{"role":"user","content":"task"},{"role":"assistant","content":"THOUGHT\n` + "```bash\\nls\\n```" + `"},{"role":"user","content":"COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"}]`
	f, rows := decodeAuto(t, Rollouts, "o__r-1.traj.json", []byte(legacy))
	r := rows.Rollouts[0]
	if f.Name != "mini-swe-agent" || len(r.Messages) != 4 || r.TaskID != "swe-bench/o__r-1" || !r.Submitted || r.NumTurns != 1 {
		t.Fatalf("%s %+v", f.Name, r)
	}
	v11 := `{"info":{"exit_status":"Submitted","submission":"diff","config":{"model":{"model_name":"gpt-5"}}},"messages":[{"role":"system","content":"s"},{"role":"assistant","content":"a"}],"trajectory_format":"mini-swe-agent-1.1","instance_id":"o__r-2"}`
	f, rows = decodeAuto(t, Rollouts, "x.traj.json", []byte(v11))
	r = rows.Rollouts[0]
	if f.Name != "mini-swe-agent" || r.Policy != "gpt-5" || r.TaskID != "swe-bench/o__r-2" || r.Patch != "diff" || !r.Submitted {
		t.Fatalf("%s %+v", f.Name, r)
	}
}

func TestOpenHandsOutput(t *testing.T) {
	row := `{"instance_id":"django__django-1","instruction":"Fix the bug","metadata":{"llm_config":{"model":"claude"},"eval_output_dir":"/out/CodeActAgent/run_1"},
		"history":[{"id":0,"source":"user","action":"message","message":"Fix the bug","args":{"content":"Fix the bug"}},
		{"id":1,"source":"agent","action":"run","args":{"command":"ls","thought":"look around"},"tool_call_metadata":{"tool_call_id":"toolu_1","function_name":"execute_bash"}},
		{"id":2,"source":"agent","observation":"run","content":"a.py","cause":1,"tool_call_metadata":{"tool_call_id":"toolu_1","function_name":"execute_bash"}},
		{"id":3,"source":"agent","observation":"agent_state_changed","content":""},
		{"id":4,"source":"agent","action":"finish","args":{"thought":"done"}}],
		"test_result":{"git_patch":"diff --git a/a.py b/a.py"},"error":null}`
	f, rows := decodeAuto(t, Rollouts, "output.jsonl", []byte(row))
	r := rows.Rollouts[0]
	m := r.Messages
	if f.Name != "openhands" || r.RunID != "run_1" || r.Policy != "claude" || !r.Submitted || r.Patch == "" {
		t.Fatalf("%s %+v", f.Name, r)
	}
	// The user message (the instruction is not repeated), run call, its
	// observation, finish call.
	if len(m) != 4 || m[0].Role != "user" || m[1].ToolCalls[0].ID != "toolu_1" || m[1].ToolCalls[0].Name != "execute_bash" || m[1].Content != "look around" ||
		m[2].Role != "tool" || m[2].ToolCallID != "toolu_1" || m[3].ToolCalls[0].Name != "finish" {
		t.Fatalf("messages %+v", m)
	}
}

func TestOpenHandsCompletionsOrderByFloat(t *testing.T) {
	mk := func(ts string, n int) Record {
		msgs := make([]map[string]any, n)
		for i := range msgs {
			msgs[i] = map[string]any{"role": []string{"system", "user", "assistant", "tool"}[min(i, 3)], "content": fmt.Sprint("m", i)}
		}
		data, _ := json.Marshal(map[string]any{"messages": msgs, "timestamp": ts,
			"response": map[string]any{"model": "claude", "choices": []any{map[string]any{"finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": "last " + ts}}},
				"usage": map[string]any{"prompt_tokens": 100 * n, "completion_tokens": 7}}})
		return Record{File: "/c/llm_completions/o__r-3/litellm__claude-" + ts + ".json", Data: data}
	}
	// Lexically "1000.25" < "999.5"; by the float, 999.5 comes first.
	group := []Record{mk("1000.25", 4), mk("999.5", 2)}
	f, _ := Lookup(Rollouts, "openhands-completions")
	rows, err := f.Decode(&Record{File: "/c/llm_completions/o__r-3", Group: group}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := rows.Rollouts[0]
	if last := r.Messages[len(r.Messages)-1].Content; last != "last 1000.25" || len(r.Messages) != 5 || *r.Tokens != 407 || r.TaskID != "swe-bench/o__r-3" {
		t.Fatalf("%+v (last %q)", r, last)
	}
	if err := SortCompletions([]Record{{File: "x-notanumber.json"}}); err == nil {
		t.Fatal("a name without a timestamp sorted")
	}
}

func TestChatRows(t *testing.T) {
	smith := `{"instance_id":"o__r.1234abcd.pr_1","messages":"[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"assistant\",\"content\":\"<function=bash><parameter=command>ls</parameter></function>\"}]"}`
	f, rows := decodeAuto(t, Rollouts, "ft.jsonl", []byte(smith))
	if f.Name != "swe-smith" || len(rows.Rollouts[0].Messages) != 2 || rows.Rollouts[0].TaskID != "swe-smith/o__r.1234abcd.pr_1" {
		t.Fatalf("%s %+v", f.Name, rows.Rollouts[0])
	}
	chat := `{"messages":[{"role":"user","content":"fix"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"bash","arguments":{"cmd":"ls"}}}]},{"role":"tool","tool_call_id":"c1","content":"ok"}],
		"tools":[{"type":"function","function":{"name":"bash"}}],"task_id":"swe-gym/x-1","reward":0.5,"resolved":false,"exit_reason":"step_cap","patch":"diff"}`
	f, rows = decodeAuto(t, Rollouts, "chat.jsonl", []byte(chat))
	r := rows.Rollouts[0]
	if f.Name != "openai-chat" || r.TaskID != "swe-gym/x-1" || *r.Reward != 0.5 || *r.Resolved || r.ExitReason != "step_cap" || r.Patch != "diff" ||
		r.Messages[1].ToolCalls[0].Arguments != `{"cmd":"ls"}` || r.Messages[2].ToolCallID != "c1" {
		t.Fatalf("%s %+v", f.Name, r)
	}
	rlhf := `{"input":[{"role":"system","content":"s"},{"role":"user","content":"u"},{"role":"assistant","content":"a"}],"step_count":1,"token_usage_total":900,"reward":1}`
	f, rows = decodeAuto(t, Rollouts, "sft.jsonl", []byte(rlhf))
	r = rows.Rollouts[0]
	if f.Name != "openrlhf" || r.NumTurns != 1 || *r.Tokens != 900 || !*r.Resolved || r.TaskID != "" {
		t.Fatalf("%s %+v", f.Name, r)
	}
}

func TestR2ETrajectory(t *testing.T) {
	row := `{"trajectory_steps":[{"thought":"<think>hm</think>","action":"<function=execute_bash>\n<parameter=command>ls</parameter>\n</function>","observation":"a.py","token_usage_prompt":100,"token_usage_completion":20},
		{"thought":"done","action":"<function=finish></function>","observation":"","token_usage_prompt":150,"token_usage_completion":5}],
		"problem_statement":"bug","docker_image":"x/swerebench/y","exp_name":"exp1","agent_args":{"system_prompt":"sys","llm_name":"glm"},"ds":{"instance_id":"a__b-1"},
		"exit_reason":"agent","output_patch":"diff","reward":1.0,"test_output":"1 passed"}`
	f, rows := decodeAuto(t, Rollouts, "traj.jsonl", []byte(row))
	r := rows.Rollouts[0]
	if f.Name != "r2e-gym" || r.TaskID != "swe-rebench/a__b-1" || r.RunID != "exp1" || *r.Tokens != 155 || r.NumTurns != 2 || !r.Submitted || !*r.Resolved ||
		len(r.Messages) != 5 || !strings.Contains(r.Messages[2].Content, "<function=execute_bash>") || r.Policy != "glm" {
		t.Fatalf("%s %+v", f.Name, r)
	}
	// Issue 15, bug 4: where a step says token_usage_total, that is the
	// run's figure (SWE-Master's filter reads it), not prompt + completion.
	withTotal := strings.Replace(row, `"token_usage_prompt":150,"token_usage_completion":5}`, `"token_usage_prompt":150,"token_usage_completion":5,"token_usage_total":9000}`, 1)
	if _, rows := decodeAuto(t, Rollouts, "traj.jsonl", []byte(withTotal)); *rows.Rollouts[0].Tokens != 9000 {
		t.Fatalf("tokens %d, want the step's token_usage_total 9000", *rows.Rollouts[0].Tokens)
	}
}

func TestReports(t *testing.T) {
	keyed := `{"django__django-1":{"patch_is_None":false,"patch_exists":true,"patch_successfully_applied":true,"resolved":true,"tests_status":{"FAIL_TO_PASS":{"success":["a"],"failure":[]},"PASS_TO_PASS":{"success":["b","c"],"failure":["d"]}}}}`
	f, rows := decodeAuto(t, Reports, "report.json", []byte(keyed))
	e := rows.Evaluations[0]
	failed := slices.IndexFunc(e.Tests, func(r schemas.TestResult) bool { return r.Name == "d" })
	if f.Name != "swe-bench-report" || e.Status != "resolved" || len(e.Tests) != 4 || e.TaskID != "swe-bench/django__django-1" ||
		failed < 0 || e.Tests[failed].Status != "failed" || e.Tests[failed].Category != "PASS_TO_PASS" {
		t.Fatalf("%s %+v", f.Name, e)
	}
	// SWE-smith: patch_successfully_applied=false although resolved.
	flat := `{"patch_is_None":false,"patch_exists":true,"patch_successfully_applied":false,"resolved":true,"tests_status":{},"model_name_or_path":"m"}`
	f, rows = decodeAuto(t, Reports, "report.json", []byte(flat))
	e = rows.Evaluations[0]
	if f.Name != "swe-smith-report" || e.Status != "resolved" || !*e.PatchApplied || e.InstanceID != "run-7" || e.Candidate != "m" {
		t.Fatalf("%s %+v", f.Name, e)
	}
	empty := `{"patch_is_None":true,"patch_exists":false,"patch_successfully_applied":false,"resolved":false}`
	_, rows = decodeAuto(t, Reports, "o__r.1234abcd.pr_2.report.json", []byte(empty))
	if e := rows.Evaluations[0]; e.Status != "empty_patch" || e.InstanceID != "o__r.1234abcd.pr_2" {
		t.Fatalf("%+v", e)
	}
	run := `{"total_instances":5,"resolved_ids":["a__b-1"],"unresolved_ids":["a__b-2"],"empty_patch_ids":["a__b-3"],"error_ids":["a__b-4"],"incomplete_ids":["a__b-5"],"schema_version":2}`
	f, rows = decodeAuto(t, Reports, "gpt4.run1.json", []byte(run))
	var statuses []string
	for _, e := range rows.Evaluations {
		statuses = append(statuses, e.InstanceID+"="+e.Status)
		if e.Candidate != "gpt4" {
			t.Fatalf("candidate %q", e.Candidate)
		}
	}
	if f.Name != "swe-bench-run-report" || fmt.Sprint(statuses) != "[a__b-1=resolved a__b-2=unresolved a__b-3=empty_patch a__b-4=infra_error a__b-5=no_result]" {
		t.Fatalf("%s %v", f.Name, statuses)
	}
	// The harness's infrastructure-failure classification (reporting.py
	// and grading.py at SWE-bench 7a21e05): infra_failure_ids, a subset of
	// unresolved_ids and error_ids, are infra_error with their reason, an
	// instance listed only there is kept, ambiguous ones keep their status
	// with the reason noted.
	run = `{"resolved_ids":["a__b-1"],"unresolved_ids":["a__b-2","a__b-3"],"error_ids":["a__b-4"],"infra_failure_ids":["a__b-2","a__b-6"],` +
		`"ambiguous_failure_ids":["a__b-3"],"failure_reasons":{"a__b-2":"OOM killed","a__b-3":"timeout"},"schema_version":2}`
	_, rows = decodeAuto(t, Reports, "gpt4.run1.json", []byte(run))
	statuses = nil
	for _, e := range rows.Evaluations {
		statuses = append(statuses, e.InstanceID+"="+e.Status+"("+e.Reason+")")
		if e.Status == "infra_error" && e.Resolved != nil {
			t.Fatalf("an infra failure carries a verdict: %+v", e)
		}
	}
	if fmt.Sprint(statuses) != "[a__b-2=infra_error(infra failure: OOM killed) a__b-6=infra_error(infra failure) a__b-1=resolved() a__b-3=unresolved(ambiguous failure: timeout) a__b-4=infra_error()]" {
		t.Fatalf("%v", statuses)
	}
	infra := `{"a__b-7":{"patch_is_None":false,"patch_exists":true,"patch_successfully_applied":true,"resolved":false,"infra_failure":true,"infra_failure_reason":"docker daemon unreachable","tests_status":{}}}`
	_, rows = decodeAuto(t, Reports, "report.json", []byte(infra))
	if e := rows.Evaluations[0]; e.Status != "infra_error" || e.Resolved != nil || e.Reason != "infra failure: docker daemon unreachable" {
		t.Fatalf("report.json with infra_failure: %+v", e)
	}
	val := `{"FAIL_TO_PASS":["t1"],"PASS_TO_PASS":["t2"],"FAIL_TO_FAIL":[],"PASS_TO_FAIL":[]}`
	f, rows = decodeAuto(t, Reports, "report.json", []byte(val))
	if e := rows.Evaluations[0]; f.Name != "swe-smith-validation" || e.Status != "resolved" || e.Candidate != "gold" || len(e.Tests) != 2 {
		t.Fatalf("%s %+v", f.Name, e)
	}
}

func TestOpenHandsEvalLog(t *testing.T) {
	withReport := "2024-12-04 15:15:29,173 - INFO - [django__django-11099] Grading answer...\n" +
		`2024-12-04 15:15:29,183 - INFO - [django__django-11099] report: {'patch_is_None': False, 'patch_exists': True, 'patch_successfully_applied': True, 'resolved': False, 'tests_status': {'FAIL_TO_PASS': {'success': [], 'failure': ["test_it's (x.Y)"]}, 'PASS_TO_PASS': {'success': ['a\'b', 'c'], 'failure': []}}}` + "\n" +
		"Result for django__django-11099: resolved: False\n"
	f, rows := decodeAuto(t, Reports, "instance_django__django-11099.log", []byte(withReport))
	e := rows.Evaluations[0]
	if f.Name != "openhands-eval-log" || e.Status != "unresolved" || len(e.Tests) != 3 || e.Tests[0].Name != "test_it's (x.Y)" || e.Tests[1].Name != "a'b" {
		t.Fatalf("%s %+v", f.Name, e)
	}
	noReport := "2024-12-04 15:15:29,173 - INFO - [django__django-2] Starting evaluation\n2024-12-04 15:15:30,000 - INFO - [django__django-2] Evaluation still running, waiting...\n"
	_, rows = decodeAuto(t, Reports, "instance_django__django-2.log", []byte(noReport))
	if e := rows.Evaluations[0]; e.Status != "no_result" || e.Resolved != nil || e.TaskID != "swe-bench/django__django-2" {
		t.Fatalf("a log without a report: %+v (must be no_result, never unresolved)", e)
	}
}

func TestPredictions(t *testing.T) {
	f, _ := Lookup(Reports, "predictions")
	dict := `{"a__b-1":{"model_name_or_path":"m","model_patch":"diff"},"a__b-2":{"model_name_or_path":"m","model_patch":""}}`
	rows, err := f.Decode(&Record{File: "preds.json", Data: []byte(dict)}, Options{RunID: "r"})
	if err != nil || len(rows.Evaluations) != 2 || rows.Evaluations[0].Status != "no_result" || rows.Evaluations[1].Status != "empty_patch" || rows.Evaluations[0].Patch != "diff" {
		t.Fatalf("dict: %+v %v", rows, err)
	}
	one := `{"instance_id":"a__b-3","model_name_or_path":"m","model_patch":"diff"}` // a list element or a JSONL line
	if !f.Detect(NewProbe("preds.jsonl", []byte(one))) || !f.Detect(NewProbe("preds.json", []byte(dict))) {
		t.Fatal("predictions not detected")
	}
}

func TestInvalidUTF8IsRepaired(t *testing.T) {
	bad := []byte("{\"messages\":[{\"role\":\"tool\",\"content\":\"log \xff\xfe bytes\"}],\"task_id\":\"t\"}")
	f, _ := Lookup(Rollouts, "openai-chat")
	rows, err := f.Decode(&Record{File: "x.jsonl", Data: bad}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := rows.Rollouts[0]
	if r.Messages[0].Content != "log \ufffd\ufffd bytes" {
		t.Fatalf("content %q", r.Messages[0].Content)
	}
	// Text formats: the log itself.
	lf, _ := Lookup(Reports, "openhands-eval-log")
	rows, err = lf.Decode(&Record{File: "instance_a__b-1.log", Data: []byte("x \xff y [a__b-1] starting\n")}, Options{})
	if err != nil || !rows.Repaired || !bytes.Contains(rows.Evaluations[0].Raw, []byte{0xff}) {
		t.Fatalf("%+v %v", rows, err)
	}
}

func TestDetectErrors(t *testing.T) {
	if _, err := Detect(Tasks, NewProbe("x.json", []byte(`{"hello":1}`))); err == nil || !strings.Contains(err.Error(), "candidates: swe-bench, swe-gym") {
		t.Fatalf("unknown: %v", err)
	}
	// A row that carries both a SWE-bench layout and extra_info matches verl only.
	if f, err := Detect(Tasks, NewProbe("x.json", []byte(`{"instance_id":"a","FAIL_TO_PASS":[],"problem_statement":"s","extra_info":{}}`))); err != nil || f.Name != "verl" {
		t.Fatalf("verl: %v %v", f, err)
	}
	if _, err := Lookup(Tasks, "nope"); err == nil || !strings.Contains(err.Error(), "known: swe-bench") {
		t.Fatalf("lookup: %v", err)
	}
}

func TestEveryFormatHasDocAndExample(t *testing.T) {
	names := map[string]bool{}
	for _, f := range All() {
		key := string(f.Kind) + "/" + f.Name
		if names[key] {
			t.Errorf("%s listed twice", key)
		}
		names[key] = true
		if f.Doc == "" || !strings.HasPrefix(f.Example, "swelake ingest "+string(f.Kind)+" --format "+f.Name+" ") {
			t.Errorf("%s: doc %q example %q", key, f.Doc, f.Example)
		}
	}
}

func TestPythonLiteral(t *testing.T) {
	for in, want := range map[string]string{
		`{'a': True, 'b': None, "c": [1, 2.5, -3], 'd': ('x', 'y')}`: `{"a":true,"b":null,"c":[1,2.5,-3],"d":["x","y"]}`,
		`'it\'s \\ \n \x41 \u00e9'`:                                  `"it's \\ \n A é"`,
		`"""tri"ple"""`:                                              `"tri\"ple"`,
		`{}`:                                                         `{}`,
	} {
		v, err := parsePythonLiteral(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		got, _ := json.Marshal(v)
		if string(got) != want {
			t.Errorf("%s = %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{`{'a': }`, `'open`, `{'a' 1}`, `[1, 2`, `Truth`, strings.Repeat("[", 600)} {
		if _, err := parsePythonLiteral(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestReverseDiffAppliesWithGit: the inverse of a SWE-smith bug patch,
// applied with git to the buggy tree, gives back the original tree.
func TestReverseDiffAppliesWithGit(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	git("init", "-q")
	orig := "def f(x):\n    if x > 0:\n        return 1\n    return 0\n\n\ndef g():\n    pass\n"
	os.WriteFile(filepath.Join(dir, "m.py"), []byte(orig), 0o644)
	os.WriteFile(filepath.Join(dir, "gone.py"), []byte("x = 1\n"), 0o644)
	git("add", ".")
	git("commit", "-qm", "orig")
	// The bug: a changed condition, a removed block, a deleted file, a new file.
	os.WriteFile(filepath.Join(dir, "m.py"), []byte("def f(x):\n    if x >= 0:\n        return 1\n    return 0\n"), 0o644)
	os.Remove(filepath.Join(dir, "gone.py"))
	os.WriteFile(filepath.Join(dir, "new.py"), []byte("y = 2\n"), 0o644)
	git("add", "-A")
	bug := git("diff", "--cached")
	git("commit", "-qm", "bug")
	gold, err := reverseDiff(bug)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "gold.patch"), []byte(gold), 0o644)
	git("apply", "gold.patch")
	os.Remove(filepath.Join(dir, "gold.patch"))
	got, _ := os.ReadFile(filepath.Join(dir, "m.py"))
	if string(got) != orig {
		t.Fatalf("after the gold patch m.py =\n%s\nwant\n%s", got, orig)
	}
	if _, err := os.Stat(filepath.Join(dir, "gone.py")); err != nil {
		t.Fatal("the deleted file was not restored")
	}
	if _, err := os.Stat(filepath.Join(dir, "new.py")); err == nil {
		t.Fatal("the added file was not removed")
	}
	if back, _ := reverseDiff(gold); back != bug {
		t.Fatalf("reversing twice does not give the bug patch back:\n%s\nvs\n%s", back, bug)
	}
}

// TestHarnessNaming: the SWE-bench harness's own names say the run and the
// model (run_evaluation.py and reporting.py at 7a21e05): per-instance logs
// under logs/run_evaluation/<run_id>/<model>/<instance_id>/, the run-level
// report as <model>.<run_id>.json, the model's "/" written "__".
func TestHarnessNaming(t *testing.T) {
	data := []byte(`{"a__b-9":{"patch_is_None":false,"patch_exists":true,"patch_successfully_applied":true,"resolved":true,"tests_status":{}}}`)
	f, err := Detect(Reports, NewProbe("report.json", data))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.Decode(&Record{File: "/x/logs/run_evaluation/run.7/Qwen__Qwen2.5-Coder-32B/a__b-9/report.json", Data: data}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e := rows.Evaluations[0]; e.RunID != "run.7" || e.Candidate != "Qwen/Qwen2.5-Coder-32B" || e.InstanceID != "a__b-9" || e.Status != "resolved" {
		t.Fatalf("report.json in the harness's layout: run %q candidate %q instance %q %s", e.RunID, e.Candidate, e.InstanceID, e.Status)
	}
	run := []byte(`{"resolved_ids":["a__b-1"],"schema_version":2}`)
	f, rows = decodeAuto(t, Reports, "Qwen__Qwen2.5-Coder-32B.eval-2026.json", run)
	if e := rows.Evaluations[0]; f.Name != "swe-bench-run-report" || e.RunID != "eval-2026" || e.Candidate != "Qwen/Qwen2.5-Coder-32B" {
		t.Fatalf("run report name: run %q candidate %q", e.RunID, e.Candidate)
	}
	for _, c := range []struct{ file, runID, model, run string }{
		{"gpt-4.1.run1.json", "", "gpt-4.1", "run1"},
		{"gpt-4.1.v1.2.json", "v1.2", "gpt-4.1", "v1.2"}, // a run id with a dot: named by --run-id
		{"gold.json", "", "gold", ""},
	} {
		if m, r := harnessRunReport(c.file, c.runID); m != c.model || r != c.run {
			t.Errorf("%s (run id %q): model %q run %q, want %q %q", c.file, c.runID, m, r, c.model, c.run)
		}
	}
}

// TestSmithRunReport: SWE-smith's run-level report (swesmith/harness/eval.py
// at cf2e649) is one evaluation per listed id, the run from its directory;
// forced into a format of another layout it is refused, naming the file,
// and no row is made up.
func TestSmithRunReport(t *testing.T) {
	data := []byte(`{
    "resolved": 2,
    "unresolved": 1,
    "total": 4,
    "ids_resolved": ["oauthlib__oauthlib.1fd52536.combine_file__09vlzwgc", "pandas-dev__pandas.95280573.pr_53652"],
    "ids_unresolved": ["pygments__pygments.27649ebb.func_pm_ctrl_shuffle__rb5tefyy"]
}`)
	file := "/x/logs/run_evaluation/smith-eval-3/report.json"
	f, err := Detect(Reports, NewProbe("report.json", data))
	if err != nil || f.Name != "swe-smith-run-report" {
		t.Fatalf("detect: %v %v", f, err)
	}
	rows, err := f.Decode(&Record{File: file, Data: data}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range rows.Evaluations {
		if e.RunID != "smith-eval-3" || e.Source != "swe-smith-run-report" || e.Resolved == nil || *e.Resolved != (e.Status == "resolved") {
			t.Fatalf("%+v", e)
		}
		got[e.InstanceID] = e.Status
	}
	if len(got) != 3 || got["pandas-dev__pandas.95280573.pr_53652"] != "resolved" || got["pygments__pygments.27649ebb.func_pm_ctrl_shuffle__rb5tefyy"] != "unresolved" {
		t.Fatalf("evaluations: %v", got)
	}
	for _, name := range []string{"swe-rebench-v2-report", "swe-bench-report", "swe-smith-report", "swe-bench-run-report", "swe-smith-validation"} {
		g, err := Lookup(Reports, name)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := g.Decode(&Record{File: file, Data: data}, Options{})
		if err == nil || rows.Len() != 0 || !strings.Contains(err.Error(), file+" is not a "+name+" file: it has the layout of swe-smith-run-report") {
			t.Errorf("--format %s on a SWE-smith run report: %d rows, %v", name, rows.Len(), err)
		}
	}
	// The layouts the importers do take still decode when named.
	flat := []byte(`{"resolved": true, "tests_status": {}}`)
	if rows, err := mustLookup(t, "swe-rebench-v2-report").Decode(&Record{File: "/r/a__b-1/eval_report.json", Data: flat}, Options{}); err != nil || len(rows.Evaluations) != 1 {
		t.Fatalf("flat SWE-rebench-V2 report: %v", err)
	}
}

func mustLookup(t *testing.T, name string) *Format {
	t.Helper()
	f, err := Lookup(Reports, name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
