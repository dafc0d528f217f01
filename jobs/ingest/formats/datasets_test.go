package formats

import (
	"errors"
	"strings"
	"testing"
)

// Rows of the public sets without a sample in ../shared/realdata, written
// here after each set's published layout (its dataset card's features,
// its producer's code — cited per test). Each was mis-decoded, or refused,
// before issue 21: the comment says how.

// TestSWELegoRowsAreNotSWESmith: a SWE-Lego row (instance_id, messages,
// patch, FAIL_TO_PASS…) was detected as swe-smith and stored the task's
// gold patch as the agent's patch.
func TestSWELegoRowsAreNotSWESmith(t *testing.T) {
	row := `{"instance_id":"pallets__flask-4045","messages":[{"role":"system","content":"s"},{"role":"user","content":"fix it"},{"role":"assistant","content":"done"}],
		"patch":"diff --git a/src/flask/blueprints.py b/src/flask/blueprints.py\n","FAIL_TO_PASS":["tests/test_blueprints.py::test_dotted_name"],
		"PASS_TO_PASS":[],"problem_statement":"Raise error when blueprint name contains a dot","repo":"pallets/flask","base_commit":"d8c37f4","resolved":true}`
	f, rows := decodeAuto(t, Rollouts, "swe-lego.jsonl", []byte(row))
	r := rows.Rollouts[0]
	if f.Name != "swe-lego" || r.Patch != "" || r.Resolved == nil || !*r.Resolved || r.TaskID != "swe-lego/pallets__flask-4045" || len(r.Messages) != 3 ||
		!strings.HasPrefix(r.RolloutID, "swe-lego/") {
		t.Fatalf("%s: %+v", f.Name, r)
	}
	// As a task: the gold patch is the task's.
	f, rows = decodeAuto(t, Tasks, "swe-lego.jsonl", []byte(row))
	if task := rows.Tasks[0]; f.Name != "swe-lego" || !strings.Contains(task.GoldPatch, "blueprints.py") || task.Language != "python" || len(task.FailToPass) != 1 {
		t.Fatalf("%s: %+v", f.Name, task)
	}
}

// TestSWEBench5Rows: SWE-bench 5 rows (make_test_spec in
// swebench/harness/utils.py, 7a21e05: image, eval_script, log_parser,
// eval_type) got language python whatever the repository, and the
// runner spec stayed in raw only.
func TestSWEBench5Rows(t *testing.T) {
	row := `{"instance_id":"jqlang__jq-2681","repo":"jqlang/jq","base_commit":"c","patch":"P","test_patch":"T","problem_statement":"S","version":"1.7",
		"FAIL_TO_PASS":"[\"tests/jqtest\"]","PASS_TO_PASS":[],"image":"swebench/sweb.eval.x86_64.jqlang_1776_jq-2681:latest",
		"eval_script":"#!/bin/bash\nset -uxo pipefail\nmake check\n","log_parser":"parse_log_jq","eval_type":"pass_and_fail"}`
	f, rows := decodeAuto(t, Tasks, "multilingual.jsonl", []byte(row))
	task := rows.Tasks[0]
	if f.Name != "swe-bench" || task.Language != "c" || task.LogParser != "parse_log_jq" || task.EvalType != "pass_and_fail" ||
		!strings.Contains(task.EvalScript, "make check") || !strings.HasPrefix(task.Image, "swebench/") {
		t.Fatalf("%+v", task)
	}
	// A parser this table does not know: no language, rather than a wrong one.
	row = strings.Replace(row, "parse_log_jq", "parse_log_new_runner", 1)
	if _, rows = decodeAuto(t, Tasks, "x.jsonl", []byte(row)); rows.Tasks[0].Language != "" {
		t.Fatalf("unknown parser guessed %q", rows.Tasks[0].Language)
	}
}

// TestNebiusRowsRefuseSWEAgent: --format swe-agent on nebius/SWE-agent-
// trajectories rows wrote a rollout with no messages; now the forced
// format is held to its signature and refused, naming what the row lacks.
func TestNebiusRowsRefuseSWEAgent(t *testing.T) {
	row := []byte(`{"instance_id":"a__b-1","model_name":"m","target":false,"trajectory":[{"role":"system","text":null,"system_prompt":"s","mask":false,"cutoff_date":"01.01.2023"},{"role":"user","text":"u"},{"role":"ai","text":"t","mask":true}],"exit_status":"submitted (exit_cost)","generated_patch":"","eval_logs":"x"}`)
	p := NewProbe("data.json", row)
	sa, _ := Lookup(Rollouts, "swe-agent")
	if sa.Fits(p) || !strings.Contains(sa.Misfit(p), "no info") {
		t.Fatalf("swe-agent fits a nebius row: %s", sa.Misfit(p))
	}
	f, rows := decodeAuto(t, Rollouts, "data.json", row)
	r := rows.Rollouts[0]
	if f.Name != "nebius-swe-agent" || len(r.Messages) != 3 || r.Messages[0].Content != "s" || r.Messages[2].Role != "assistant" || *r.Resolved ||
		r.ExitReason != "cost_cap" || !r.Forced {
		t.Fatalf("%s %+v", f.Name, r)
	}
}

// TestTrajectoryChatSets: nebius/SWE-rebench-openhands-trajectories and
// NVIDIA's SWE-Zero / SWE-Hero rows (their cards' features) were refused.
func TestTrajectoryChatSets(t *testing.T) {
	nebius := `{"trajectory_id":"chatcmpl-27dd","instance_id":"PlasmaFAIR__sdf-xarray-24","repo":"PlasmaFAIR/sdf-xarray",
		"trajectory":[{"role":"system","content":"You are OpenHands agent","tool_calls":null,"name":null,"tool_call_id":null},
		{"role":"assistant","content":"look","tool_calls":[{"id":"c1","type":"function","function":{"name":"execute_bash","arguments":"{\"command\": \"ls\"}"}}],"name":null,"tool_call_id":null},
		{"role":"tool","content":"a.py","tool_calls":null,"name":"execute_bash","tool_call_id":"c1"}],
		"tools":[{"type":"function","function":{"name":"execute_bash","description":"Execute a bash command"}}],
		"model_patch":"diff --git a/x b/x\n","exit_status":"submit","resolved":0,"gen_tests_correct":null,"pred_passes_gen_tests":null}`
	f, rows := decodeAuto(t, Rollouts, "train-00000-of-00004.parquet", []byte(nebius))
	r := rows.Rollouts[0]
	if f.Name != "trajectory-chat" || r.Source != "nebius-openhands" || r.RolloutID != "nebius-openhands/chatcmpl-27dd" || r.TaskID != "swe-rebench/PlasmaFAIR__sdf-xarray-24" ||
		*r.Resolved || r.ExitReason != "submitted" || !strings.Contains(r.Tools, "execute_bash") || r.Messages[1].ToolCalls[0].Arguments != `{"command": "ls"}` ||
		r.Messages[2].ToolCallID != "c1" || r.NumTurns != 1 {
		t.Fatalf("%s %+v", f.Name, r)
	}
	nvidia := `{"instance_id":"getmoto__moto-1","repo":"getmoto/moto","license":"Apache-2.0","trajectory_id":"t-9",
		"trajectory":[{"content":"fix","role":"user","tool_calls":null},{"content":"ok","role":"assistant","tool_calls":[{"function":{"arguments":"{}","name":"finish"},"id":"f1","type":"function"}]}],
		"model_patch":"diff --git a/y b/y\n","dataset":"SWE-Gym"}`
	f, rows = decodeAuto(t, Rollouts, "part-0.parquet", []byte(nvidia))
	r = rows.Rollouts[0]
	if f.Name != "trajectory-chat" || r.Source != "nvidia" || r.RolloutID != "nvidia/t-9" || r.TaskID != "swe-gym/getmoto__moto-1" || r.Resolved != nil || !r.Submitted {
		t.Fatalf("%s %+v", f.Name, r)
	}
}

// TestSWEGymOpenHandsRows: SWE-Gym/OpenHands-Sampled-Trajectories rows were
// detected as swe-smith, losing test_result.git_patch, with swe-bench/ ids.
func TestSWEGymOpenHandsRows(t *testing.T) {
	row := `{"instance_id":"getmoto__moto-5752","messages":[{"role":"user","content":"u"},{"role":"assistant","content":"a"}],
		"test_result":{"git_patch":"diff --git a/moto/x.py b/moto/x.py\n"},"resolved":true}`
	f, rows := decodeAuto(t, Rollouts, "train.jsonl", []byte(row))
	r := rows.Rollouts[0]
	if f.Name != "swe-gym-openhands" || r.TaskID != "swe-gym/getmoto__moto-5752" || !strings.Contains(r.Patch, "moto/x.py") || !*r.Resolved {
		t.Fatalf("%s %+v", f.Name, r)
	}
}

// TestDeepSWEVerlRows: rLLM's DeepSWE rows carry an R2E-Gym row in
// extra_info ("extra_info: no instance_id" before).
func TestDeepSWEVerlRows(t *testing.T) {
	row := `{"data_source":"R2E-Gym/R2E-Gym-Subset","prompt":[{"role":"user","content":"fix"}],
		"extra_info":{"repo_name":"pandas","commit_hash":"abc","docker_image":"namanjain12/pandas_final:abc","problem_statement":"S",
		"expected_output_json":"{\"t::a\": \"PASSED\", \"t::b\": \"FAILED\"}"}}`
	f, rows := decodeAuto(t, Tasks, "train.parquet", []byte(row))
	task := rows.Tasks[0]
	if f.Name != "verl" || task.TaskID != "r2e-gym/namanjain12/pandas_final:abc" || len(task.ExpectedPass) != 1 || task.ExpectedPass[0] != "t::a" {
		t.Fatalf("%+v", task)
	}
}

// TestSWEBenchProRows: ScaleAI/SWE-bench_Pro rows (swe_bench_pro_eval.py
// reads fail_to_pass with eval: Python literals) had no decoder.
func TestSWEBenchProRows(t *testing.T) {
	row := `{"repo":"NodeBB/NodeBB","instance_id":"instance_NodeBB__NodeBB-04998908-vnan","base_commit":"c","patch":"P","test_patch":"T",
		"problem_statement":"Issue","requirements":"Req","interface":"No new interfaces","repo_language":"js",
		"fail_to_pass":"['test/a.js | it works', \"test/b.js | it's fine\"]","pass_to_pass":"[]",
		"issue_specificity":"['major_bug']","before_repo_set_cmd":"git reset --hard c\ngit checkout c -- test/a.js",
		"selected_test_files_to_run":"['test/a.js', 'test/b.js']","dockerhub_tag":"nodebb.nodebb-04998908"}`
	f, rows := decodeAuto(t, Tasks, "test-00000-of-00001.parquet", []byte(row))
	task := rows.Tasks[0]
	if f.Name != "swe-bench-pro" || task.TaskID != "swe-bench-pro/instance_NodeBB__NodeBB-04998908-vnan" || len(task.FailToPass) != 2 ||
		task.FailToPass[1] != "test/b.js | it's fine" || len(task.TestFiles) != 2 || task.Language != "js" || !strings.Contains(task.ProblemStatement, "Requirements:\nReq") ||
		!strings.Contains(task.SetupCmd, "git checkout") || task.Image != "nodebb.nodebb-04998908" {
		t.Fatalf("%s %+v", f.Name, task)
	}
	// Its patch files: [{instance_id, patch, prefix}] (gather_patches.py).
	f, rows = decodeAuto(t, Reports, "patches.json", []byte(`{"instance_id":"instance_NodeBB__NodeBB-04998908-vnan","patch":"diff","prefix":"gpt-4o"}`))
	if e := rows.Evaluations[0]; f.Name != "predictions" || e.Candidate != "gpt-4o" || e.Patch != "diff" {
		t.Fatalf("%s %+v", f.Name, e)
	}
}

// TestMultiSWEBenchRows: Multi-SWE-bench rows with their test maps
// (harness/dataset.py) and final_report.json (harness/report.py) had no
// decoder.
func TestMultiSWEBenchRows(t *testing.T) {
	row := `{"org":"ponylang","repo":"ponyc","number":4595,"state":"closed","title":"T","body":"B","base":{"label":"x","ref":"main","sha":"f8a2"},
		"resolved_issues":[{"number":4594,"title":"segfault","body":"on match"}],"fix_patch":"F","test_patch":"T","lang":"C",
		"f2p_tests":{"a":{"run":"NONE","test":"FAIL","fix":"PASS"}},"p2p_tests":{"b":{"run":"PASS","test":"PASS","fix":"PASS"}},
		"s2p_tests":{"c":{"run":"SKIP","test":"SKIP","fix":"PASS"}},"n2p_tests":{"d":{"run":"NONE","test":"NONE","fix":"PASS"}},
		"run_result":{},"test_patch_result":{},"fix_patch_result":{}}`
	f, rows := decodeAuto(t, Tasks, "ponyc.jsonl", []byte(row))
	task := rows.Tasks[0]
	if f.Name != "multi-swe-bench" || task.TaskID != "multi-swe-bench/ponylang__ponyc-4595" || task.BaseCommit != "f8a2" || task.Language != "c" ||
		task.FailToPass[0] != "a" || task.PassToPass[0] != "b" || task.SkipToPass[0] != "c" || task.NoneToPass[0] != "d" || task.ProblemStatement != "segfault\non match" {
		t.Fatalf("%s %+v", f.Name, task)
	}
	report := `{"total_instances":3,"submitted_instances":3,"completed_instances":2,"incomplete_instances":1,"resolved_instances":1,"unresolved_instances":1,
		"empty_patch_instances":0,"error_instances":1,"submitted_ids":[],"completed_ids":[],"incomplete_ids":[],
		"resolved_ids":["ponylang/ponyc:pr-4595"],"unresolved_ids":["ponylang/ponyc:pr-4593"],"empty_patch_ids":[],"error_ids":["ponylang/ponyc:pr-4588"]}`
	f, rows = decodeAuto(t, Reports, "final_report.json", []byte(report))
	var got []string
	for _, e := range rows.Evaluations {
		got = append(got, e.TaskID+"="+e.Status)
	}
	if f.Name != "multi-swe-bench-report" || strings.Join(got, " ") !=
		"multi-swe-bench/ponylang__ponyc-4595=resolved multi-swe-bench/ponylang__ponyc-4593=unresolved multi-swe-bench/ponylang__ponyc-4588=infra_error" {
		t.Fatalf("%s %v", f.Name, got)
	}
}

// TestMiniSWEAgent2Responses: a mini-swe-agent 2 run with a Responses-API
// model (litellm_response_model.py, actions_toolcall_response.py at
// a83fcae) was quarantined whole: role-less response objects,
// function_call_output items, input_text parts.
func TestMiniSWEAgent2Responses(t *testing.T) {
	traj := `{"trajectory_format":"mini-swe-agent-1.1","info":{"exit_status":"Submitted","submission":"diff --git a/x b/x\n","mini_version":"2.0.0",
		"config":{"model":{"model_name":"openai/gpt-5"}}},"messages":[
		{"role":"system","content":"You are a helpful assistant"},
		{"type":"message","role":"user","content":[{"type":"input_text","text":"Please solve this issue"}]},
		{"object":"response","output":[{"type":"reasoning","summary":[]},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Let me look"}]},
			{"type":"function_call","call_id":"call_1","name":"bash","arguments":"{\"command\": \"ls\"}"}],"extra":{"actions":[{"command":"ls","tool_call_id":"call_1"}]}},
		{"type":"function_call_output","call_id":"call_1","output":"<returncode>0</returncode>","extra":{"returncode":0}},
		{"role":"exit","content":"","extra":{"exit_status":"Submitted","submission":"diff"}}]}`
	f, rows := decodeAuto(t, Rollouts, "a__b-1.traj.json", []byte(traj))
	r := rows.Rollouts[0]
	m := r.Messages
	if f.Name != "mini-swe-agent" || len(m) != 4 || m[1].Content != "Please solve this issue" || m[2].Content != "Let me look" ||
		m[2].ToolCalls[0].ID != "call_1" || m[2].ToolCalls[0].Name != "bash" || m[3].Role != "tool" || m[3].ToolCallID != "call_1" ||
		r.ExitReason != "submitted" || r.Policy != "openai/gpt-5" || len(r.Actions) != 1 {
		t.Fatalf("%s %+v", f.Name, r)
	}
	// An item of no known kind is refused, not skipped.
	bad := strings.Replace(traj, `{"type":"reasoning","summary":[]}`, `{"type":"web_search_call","id":"w"}`, 1)
	if _, err := f.Decode(&Record{File: "x.traj.json", Data: []byte(bad)}, Options{}); err == nil || !strings.Contains(err.Error(), `unknown Responses-API item type "web_search_call"`) {
		t.Fatalf("unknown item: %v", err)
	}
}

// TestOpenHandsV1OutputIsNotV0: a V1 output.jsonl row was detected as
// openhands and read with V0 rules — messages and the system prompt
// dropped, tool names the serialised action, observations empty, call ids
// made up, never finished.
func TestOpenHandsV1OutputIsNotV0(t *testing.T) {
	row := `{"instance_id":"django__django-11099","attempt":1,"test_result":{"git_patch":"diff --git a/django/x.py b/django/x.py\n"},"instruction":"Fix it",
		"metadata":{"llm":{"model":"litellm_proxy/claude"},"dataset":"princeton-nlp/SWE-bench_Verified","eval_output_dir":"/out/claude-run"},
		"history":[
		{"id":"e0","timestamp":"t","source":"agent","kind":"SystemPromptEvent","system_prompt":{"type":"text","text":"You are OpenHands"},"tools":[{"type":"function","function":{"name":"terminal"}}]},
		{"id":"e1","timestamp":"t","source":"user","kind":"MessageEvent","llm_message":{"role":"user","content":[{"type":"text","text":"Fix it"}]}},
		{"id":"e2","timestamp":"t","source":"agent","kind":"ActionEvent","thought":[{"type":"text","text":"list"}],"tool_name":"terminal","tool_call_id":"t1","llm_response_id":"r1",
			"tool_call":{"id":"t1","name":"terminal","arguments":"{\"command\": \"ls\"}"},"action":{"kind":"TerminalAction","command":"ls"}},
		{"id":"e3","timestamp":"t","source":"agent","kind":"ActionEvent","thought":[],"tool_name":"terminal","tool_call_id":"t2","llm_response_id":"r1",
			"tool_call":{"id":"t2","name":"terminal","arguments":"{\"command\": \"pwd\"}"},"action":{"kind":"TerminalAction","command":"pwd"}},
		{"id":"e4","timestamp":"t","source":"environment","kind":"ObservationEvent","tool_name":"terminal","tool_call_id":"t1","action_id":"e2","observation":{"kind":"TerminalObservation","content":[{"type":"text","text":"a.py"}]}},
		{"id":"e5","timestamp":"t","source":"environment","kind":"ObservationEvent","tool_name":"terminal","tool_call_id":"t2","action_id":"e3","observation":{"kind":"TerminalObservation","content":[{"type":"text","text":"/w"}]}},
		{"id":"e6","timestamp":"t","source":"agent","kind":"ActionEvent","thought":[],"tool_name":"finish","tool_call_id":"t3","llm_response_id":"r2",
			"tool_call":{"id":"t3","name":"finish","arguments":"{\"message\": \"done\"}"},"action":{"kind":"FinishAction","message":"done"}},
		{"id":"e7","timestamp":"t","source":"environment","kind":"ConversationStateUpdateEvent","key":"execution_status","value":"finished"}],
		"metrics":{},"error":null}`
	f, rows := decodeAuto(t, Rollouts, "output.jsonl", []byte(row))
	r := rows.Rollouts[0]
	m := r.Messages
	if f.Name != "openhands-v1" || len(m) != 6 || m[0].Role != "system" || m[1].Content != "Fix it" || len(m[2].ToolCalls) != 2 || m[2].ToolCalls[1].ID != "t2" ||
		m[3].Content != "a.py" || m[4].ToolCallID != "t2" || !r.Submitted || r.ExitReason != "submitted" || r.Policy != "litellm_proxy/claude" ||
		r.RunID != "claude-run" || !strings.Contains(r.Tools, "terminal") {
		t.Fatalf("%s %+v", f.Name, r)
	}
	// The V0 decoder forced onto it refuses: its signature check passes
	// (same keys), its events are not V0's.
	v0, _ := Lookup(Rollouts, "openhands")
	if _, err := v0.Decode(&Record{File: "output.jsonl", Data: []byte(row)}, Options{}); err == nil || !strings.Contains(err.Error(), "OpenHands V1 event") {
		t.Fatalf("V0 decoder on a V1 row: %v", err)
	}
	// A kind the reader does not know is refused, not dropped.
	bad := strings.Replace(row, `"kind":"ObservationEvent"`, `"kind":"BrowserScreenshotEvent"`, 1)
	if _, err := f.Decode(&Record{File: "output.jsonl", Data: []byte(bad)}, Options{}); err == nil || !strings.Contains(err.Error(), `unknown event kind "BrowserScreenshotEvent"`) {
		t.Fatalf("unknown kind: %v", err)
	}
}

// TestDetectionRefusesAmbiguousAndPartial: with two full matches neither
// more specific, or only a partial one, detection names the candidates
// and the keys instead of picking.
func TestDetectionRefusesAmbiguousAndPartial(t *testing.T) {
	// SWE-smith trajectory keys and swe-gym-openhands' and SWE-Lego's at once.
	both := `{"instance_id":"a","messages":[],"test_result":{},"FAIL_TO_PASS":[]}`
	_, err := Detect(Rollouts, NewProbe("x.jsonl", []byte(both)))
	if !errors.Is(err, ErrAmbiguous) || !strings.Contains(err.Error(), "swe-lego (by instance_id, messages, FAIL_TO_PASS)") ||
		!strings.Contains(err.Error(), "swe-gym-openhands (by instance_id, messages, test_result)") {
		t.Fatalf("ambiguous: %v", err)
	}
	// A Multi-SWE-bench row without its base.
	_, err = Detect(Tasks, NewProbe("x.jsonl", []byte(`{"org":"o","repo":"r","number":1,"fix_patch":"P"}`)))
	if !errors.Is(err, ErrPartial) || !strings.Contains(err.Error(), "closest tasks format is multi-swe-bench (has org, repo, number, fix_patch; no base)") {
		t.Fatalf("partial: %v", err)
	}
	// The more specific of two full matches wins: a SWE-Lego row has a
	// SWE-smith trajectory row's keys and more (swe-smith excludes them).
	f, err := Detect(Rollouts, NewProbe("x.jsonl", []byte(`{"instance_id":"a","messages":[],"FAIL_TO_PASS":[]}`)))
	if err != nil || f.Name != "swe-lego" {
		t.Fatalf("specific: %v %v", f, err)
	}
}
