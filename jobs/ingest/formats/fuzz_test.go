package formats

import (
	"reflect"
	"testing"
	"unicode/utf8"
)

// Seeds per format: one well-formed record each, plus trap spellings.
var fuzzSeeds = map[string][]string{
	"swe-bench":                   {`{"instance_id":"a__b-1","repo":"a/b","base_commit":"c","patch":"P","problem_statement":"S","FAIL_TO_PASS":["x"],"PASS_TO_PASS":"[\"y\"]","created_at":"2022-11-04T13:49:40Z"}`},
	"swe-gym":                     {`{"instance_id":"a__b-1","FAIL_TO_PASS":"[]","problem_statement":"S"}`},
	"swe-rebench":                 {`{"instance_id":"a__b-1","install_config":{"test_cmd":["make"]},"created_at":1609298073000,"FAIL_TO_PASS":[],"meta":{"llm_score":{"difficulty_score":1}}}`},
	"swe-smith":                   {`{"instance_id":"o__r.1234abcd.pr_1","image_name":"swesmith.x","patch":"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n","FAIL_TO_PASS":["t"]}`},
	"r2e-gym":                     {`{"docker_image":"i","repo_name":"r","commit_hash":"c","expected_output_json":"{\"t\":\"PASSED\"}","parsed_commit_content":"{}"}`},
	"verl":                        {`{"data_source":"x","extra_info":{"instance_id":"a","FAIL_TO_PASS":null}}`},
	"swe-agent":                   {`{"trajectory":[{"query":[{"role":"user","content":"u"}],"response":"r"}],"info":{"exit_status":"submitted (exit_cost)"},"history":[{"role":"user","content":[{"type":"text","text":"t"}]}]}`},
	"mini-swe-agent":              {`[{"role":"system","content":"s"}]`, `{"trajectory_format":"mini-swe-agent-1.1","messages":[],"info":{}}`},
	"openhands":                   {`{"instance_id":"a","history":[{"id":1,"source":"agent","action":"run","args":{"command":"ls"}},{"observation":"run","content":"x"}],"test_result":{"git_patch":""}}`},
	"r2e-gym-traj":                {`{"trajectory_steps":[{"thought":"t","action":"a","observation":"o","token_usage_prompt":1,"token_usage_completion":2}],"ds":{"instance_id":"a"},"reward":1}`},
	"swe-smith-traj":              {`{"instance_id":"a","messages":"[{\"role\":\"user\",\"content\":\"x\"}]"}`},
	"openrlhf":                    {`{"input":[{"role":"user","content":"u"}],"step_count":1,"reward":0}`},
	"openai-chat":                 {`{"messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":{"a":1}}}]}],"reward":"true"}`},
	"swe-bench-report":            {`{"a__b-1":{"resolved":true,"tests_status":{"FAIL_TO_PASS":{"success":["t"],"failure":[]}}}}`},
	"swe-rebench-v2-report":       {`{"resolved":false,"tests_status":{}}`},
	"swe-smith-report":            {`{"patch_is_None":false,"patch_exists":true,"patch_successfully_applied":false,"resolved":true,"tests_status":{}}`},
	"swe-smith-validation":        {`{"FAIL_TO_PASS":["a"],"PASS_TO_PASS":[],"PASS_TO_FAIL":["b"]}`},
	"swe-bench-run-report":        {`{"schema_version":2,"resolved_ids":["a"],"error_ids":["a","b"]}`},
	"swe-smith-run-report":        {`{"resolved":1,"unresolved":1,"total":3,"ids_resolved":["a"],"ids_unresolved":["b","a"]}`},
	"openhands-eval-log":          {"x - INFO - [a__b-1] report: {'resolved': True, 'tests_status': {'FAIL_TO_PASS': {'success': ['t\\'s'], 'failure': []}}}\n", "no report here \xff"},
	"predictions":                 {`{"a":{"model_patch":"","model_name_or_path":"m"}}`, `{"instance_id":"a","model_patch":"d"}`},
	"openhands-completions":       {`{"messages":[{"role":"user","content":"u"}],"response":{"choices":[{"message":{"role":"assistant","content":"a"}}]},"timestamp":1.5}`},
	"swe-bench-pro":               {`{"instance_id":"instance_a__b-1","fail_to_pass":"['t1', \"t2\"]","pass_to_pass":"[]","selected_test_files_to_run":"['x.js']","repo_language":"js"}`},
	"swe-bench-pro-instance":      {"Instance ID: instance_a\nRepository: a/b\nBase Commit: c\nTest Files: [\"t.js\"]\nFAIL_TO_PASS: [\"t\"]\nPASS_TO_PASS: []\n"},
	"multi-swe-bench":             {`{"org":"o","repo":"r","number":7,"base":{"sha":"s"},"fix_patch":"P","test_patch":"T","f2p_tests":{"t":{"run":"FAIL","test":"FAIL","fix":"PASS"}},"s2p_tests":{},"n2p_tests":{"n":{}}}`},
	"swe-lego":                    {`{"instance_id":"a__b-1","messages":[{"role":"user","content":"u"}],"patch":"G","FAIL_TO_PASS":["t"],"problem_statement":"S"}`},
	"openhands-v1":                {`{"instance_id":"a","attempt":1,"history":[{"id":"1","timestamp":"t","source":"agent","kind":"ActionEvent","tool_call":{"id":"c","name":"terminal","arguments":"{}"},"thought":[{"type":"text","text":"x"}],"action":{"kind":"FinishAction"}}],"test_result":{"git_patch":"d"}}`},
	"openhands-v1-events":         {`{"id":"1","timestamp":"t","source":"user","kind":"MessageEvent","llm_message":{"role":"user","content":[{"type":"text","text":"hi"}]}}`},
	"openhands-feedback":          {`{"version":"1.0","feedback":"positive","id":"7","trajectory":[{"action":"message","source":"user","content":"hi"},{"action":"run","source":"agent","id":2,"extras":{"command":"ls"}},{"observation":"run","source":"agent","content":"x"}]}`},
	"nebius-swe-agent":            {`{"instance_id":"a__b-1","model_name":"m","target":true,"trajectory":[{"role":"system","text":null,"system_prompt":"s"},{"role":"ai","text":"t"}],"exit_status":"submitted","generated_patch":"d"}`},
	"trajectory-chat":             {`{"trajectory_id":"x","instance_id":"a__b-1","trajectory":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]}],"resolved":1,"model_patch":"d"}`},
	"swe-lego-traj":               {`{"instance_id":"a__b-1","messages":[{"role":"user","content":"u"}],"patch":"G","FAIL_TO_PASS":["t"],"resolved":true}`},
	"swe-gym-openhands":           {`{"instance_id":"a__b-1","messages":[{"role":"user","content":"u"}],"test_result":{"git_patch":"d"},"resolved":false}`},
	"swe-bench-pro-results":       {`{"instance_a":true,"instance_b":false}`},
	"multi-swe-bench-predictions": {`{"org":"o","repo":"r","number":"7","fix_patch":"d"}`},
	"multi-swe-bench-report":      {`{"total_instances":2,"resolved_ids":["o/r:pr-1"],"unresolved_ids":[],"error_ids":["o/r:pr-2"]}`},
}

// formatFor maps the seed names above to registered formats (the rollout
// variants of shared names carry a suffix here only).
func formatFor(t testing.TB, name string) *Format {
	kind := Tasks
	switch name {
	case "swe-agent", "mini-swe-agent", "openhands", "openrlhf", "openai-chat", "openhands-completions", "openhands-v1", "openhands-v1-events",
		"openhands-feedback", "nebius-swe-agent", "trajectory-chat", "swe-gym-openhands":
		kind = Rollouts
	case "swe-lego-traj":
		kind, name = Rollouts, "swe-lego"
	case "r2e-gym-traj":
		kind, name = Rollouts, "r2e-gym"
	case "swe-smith-traj":
		kind, name = Rollouts, "swe-smith"
	case "swe-bench-report", "swe-rebench-v2-report", "swe-smith-report", "swe-smith-validation", "swe-bench-run-report", "swe-smith-run-report", "openhands-eval-log", "predictions",
		"swe-bench-pro-results", "multi-swe-bench-predictions", "multi-swe-bench-report":
		kind = Reports
	}
	f, err := Lookup(kind, name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// fuzzFormat: a decoder never panics, and every string it outputs is valid
// UTF-8 (DuckDB fails every query touching a column that is not).
func fuzzFormat(f *testing.F, name string) {
	format := formatFor(f, name)
	for _, s := range fuzzSeeds[name] {
		f.Add([]byte(s))
	}
	f.Add([]byte("{}"))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec := &Record{File: "/r/run/a__b-1.json", Data: data}
		if format.Unit == UnitDir {
			rec = &Record{File: "/r/run/a__b-1", Group: []Record{{File: "/r/run/a__b-1/m-1.5.json", Data: data}}}
		}
		NewProbe("x.json", data) // detection must not panic either
		format.Detect(NewProbe("x.json", data))
		rows, err := format.Decode(rec, Options{})
		if err != nil {
			return
		}
		checkUTF8(t, reflect.ValueOf(rows.Tasks), "tasks")
		checkUTF8(t, reflect.ValueOf(rows.Rollouts), "rollouts")
		checkUTF8(t, reflect.ValueOf(rows.Evaluations), "evaluations")
	})
}

func checkUTF8(t *testing.T, v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.String:
		if !utf8.ValidString(v.String()) {
			t.Fatalf("%s is not valid UTF-8: %q", path, v.String())
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // raw bytes may be anything
		}
		for i := range v.Len() {
			checkUTF8(t, v.Index(i), path)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			checkUTF8(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			checkUTF8(t, v.Elem(), path)
		}
	}
}

func FuzzSWEBench(f *testing.F)             { fuzzFormat(f, "swe-bench") }
func FuzzSWEGym(f *testing.F)               { fuzzFormat(f, "swe-gym") }
func FuzzSWERebench(f *testing.F)           { fuzzFormat(f, "swe-rebench") }
func FuzzSWESmithTask(f *testing.F)         { fuzzFormat(f, "swe-smith") }
func FuzzR2EGymTask(f *testing.F)           { fuzzFormat(f, "r2e-gym") }
func FuzzVerl(f *testing.F)                 { fuzzFormat(f, "verl") }
func FuzzSWEAgent(f *testing.F)             { fuzzFormat(f, "swe-agent") }
func FuzzMiniSWEAgent(f *testing.F)         { fuzzFormat(f, "mini-swe-agent") }
func FuzzOpenHands(f *testing.F)            { fuzzFormat(f, "openhands") }
func FuzzOpenHandsCompletions(f *testing.F) { fuzzFormat(f, "openhands-completions") }
func FuzzR2EGymTrajectory(f *testing.F)     { fuzzFormat(f, "r2e-gym-traj") }
func FuzzSWESmithTrajectory(f *testing.F)   { fuzzFormat(f, "swe-smith-traj") }
func FuzzOpenRLHF(f *testing.F)             { fuzzFormat(f, "openrlhf") }
func FuzzOpenAIChat(f *testing.F)           { fuzzFormat(f, "openai-chat") }
func FuzzSWEBenchReport(f *testing.F)       { fuzzFormat(f, "swe-bench-report") }
func FuzzSWERebenchV2Report(f *testing.F)   { fuzzFormat(f, "swe-rebench-v2-report") }
func FuzzSWESmithReport(f *testing.F)       { fuzzFormat(f, "swe-smith-report") }
func FuzzSWESmithValidation(f *testing.F)   { fuzzFormat(f, "swe-smith-validation") }
func FuzzSWEBenchRunReport(f *testing.F)    { fuzzFormat(f, "swe-bench-run-report") }
func FuzzSWESmithRunReport(f *testing.F)    { fuzzFormat(f, "swe-smith-run-report") }
func FuzzOpenHandsEvalLog(f *testing.F)     { fuzzFormat(f, "openhands-eval-log") }
func FuzzPredictions(f *testing.F)          { fuzzFormat(f, "predictions") }
func FuzzSWEBenchPro(f *testing.F)          { fuzzFormat(f, "swe-bench-pro") }
func FuzzSWEBenchProInstance(f *testing.F)  { fuzzFormat(f, "swe-bench-pro-instance") }
func FuzzMultiSWEBench(f *testing.F)        { fuzzFormat(f, "multi-swe-bench") }
func FuzzSWELegoTask(f *testing.F)          { fuzzFormat(f, "swe-lego") }
func FuzzOpenHandsV1(f *testing.F)          { fuzzFormat(f, "openhands-v1") }
func FuzzOpenHandsV1Events(f *testing.F)    { fuzzFormat(f, "openhands-v1-events") }
func FuzzOpenHandsFeedback(f *testing.F)    { fuzzFormat(f, "openhands-feedback") }
func FuzzNebiusSWEAgent(f *testing.F)       { fuzzFormat(f, "nebius-swe-agent") }
func FuzzTrajectoryChat(f *testing.F)       { fuzzFormat(f, "trajectory-chat") }
func FuzzSWELegoTrajectory(f *testing.F)    { fuzzFormat(f, "swe-lego-traj") }
func FuzzSWEGymOpenHands(f *testing.F)      { fuzzFormat(f, "swe-gym-openhands") }
func FuzzSWEBenchProResults(f *testing.F)   { fuzzFormat(f, "swe-bench-pro-results") }
func FuzzMultiPredictions(f *testing.F)     { fuzzFormat(f, "multi-swe-bench-predictions") }
func FuzzMultiReport(f *testing.F)          { fuzzFormat(f, "multi-swe-bench-report") }

func FuzzPythonLiteral(f *testing.F) {
	for _, s := range []string{`{'a': [1, 2.5, None, True], "b": ('x',)}`, `'\x41\u00e9\101'`, `"""a"b"""`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { parsePythonLiteral(s) })
}

func FuzzReverseDiff(f *testing.F) {
	f.Add("diff --git a/x b/x\nindex 1..2 100644\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-a\n+b\n c\n")
	f.Add("diff --git a/n b/n\nnew file mode 100644\n--- /dev/null\n+++ b/n\n@@ -0,0 +1 @@\n+x\n")
	f.Fuzz(func(t *testing.T, d string) {
		// Reversing twice gives back a well-formed diff (hunks with removals
		// first, as git prints them) unchanged.
		once, err := reverseDiff(d)
		if err != nil {
			return
		}
		twice, err := reverseDiff(once)
		if err != nil {
			t.Fatalf("reversed diff cannot be reversed: %v", err)
		}
		thrice, _ := reverseDiff(twice)
		if thrice != once {
			t.Fatalf("reverse is not an involution on its own output:\n%q\n%q", once, thrice)
		}
	})
}

// TestEveryFormatHasAFuzzTarget keeps the list above complete.
func TestEveryFormatHasAFuzzTarget(t *testing.T) {
	covered := map[string]bool{}
	for name := range fuzzSeeds {
		f := formatFor(t, name)
		covered[string(f.Kind)+"/"+f.Name] = true
	}
	for _, f := range All() {
		if !covered[string(f.Kind)+"/"+f.Name] {
			t.Errorf("format %s/%s has no fuzz target", f.Kind, f.Name)
		}
	}
}
