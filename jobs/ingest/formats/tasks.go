package formats

import (
	"bytes"
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/swelake/swelake/schemas"
)

func taskFormats() []*Format {
	return []*Format{
		{
			Name: "swe-bench", Kind: Tasks, Unit: UnitRows,
			Doc:     "SWE-bench / Lite / Verified / Multilingual / Multimodal rows (FAIL_TO_PASS and PASS_TO_PASS as lists or JSON strings; Verified's difficulty; SWE-bench 5's image, eval_script, log_parser and eval_type kept as columns, the language from the log parser)",
			Example: "swelake ingest tasks --format swe-bench swe-bench-verified.parquet",
			sig:     []string{"instance_id", "FAIL_TO_PASS", "problem_statement"},
			not:     []string{"install_config", "extra_info", "messages"},
			detect:  func(p *Probe) bool { return !isSmithRow(p.obj) },
			decode:  func(r *Record, o Options) (Rows, error) { return decodeTask(r, o, "swe-bench") },
		},
		{
			Name: "swe-gym", Kind: Tasks, Unit: UnitRows, Manual: true,
			Doc:     "SWE-Gym rows (the SWE-bench layout; namespaced swe-gym/). Not auto-detected: the rows are indistinguishable from SWE-bench's",
			Example: "swelake ingest tasks --format swe-gym swe-gym.jsonl",
			sig:     []string{"instance_id", "FAIL_TO_PASS", "problem_statement"},
			not:     []string{"install_config", "extra_info", "messages"},
			detect:  func(p *Probe) bool { return !isSmithRow(p.obj) },
			decode:  func(r *Record, o Options) (Rows, error) { return decodeTask(r, o, "swe-gym") },
		},
		{
			Name: "swe-rebench", Kind: Tasks, Unit: UnitRows,
			Doc:     "SWE-rebench v1 and V2 rows (install_config.test_cmd as string or list; created_at as string or integer ms)",
			Example: "swelake ingest tasks --format swe-rebench swe-rebench-v2.json",
			sig:     []string{"instance_id", "install_config"},
			not:     []string{"extra_info"},
			decode:  func(r *Record, o Options) (Rows, error) { return decodeTask(r, o, "swe-rebench") },
		},
		{
			Name: "swe-smith", Kind: Tasks, Unit: UnitRows,
			Doc:     "SWE-smith task rows: patch introduces the bug (kept as bug_patch; the gold patch is its inverse), image_name",
			Example: "swelake ingest tasks --format swe-smith swe-smith.json",
			sig:     []string{"instance_id", "FAIL_TO_PASS"},
			not:     []string{"messages"},
			detect:  func(p *Probe) bool { return isSmithRow(p.obj) },
			decode:  func(r *Record, o Options) (Rows, error) { return decodeTask(r, o, "swe-smith") },
		},
		{
			Name: "r2e-gym", Kind: Tasks, Unit: UnitRows,
			Doc:     "R2E-Gym rows (JSON-string columns; expected_output_json instead of FAIL_TO_PASS lists)",
			Example: "swelake ingest tasks --format r2e-gym r2e-gym-subset.parquet",
			detect:  func(p *Probe) bool { return p.obj != nil && isR2ERow(p.obj) },
			decode:  decodeR2ETask,
		},
		{
			Name: "verl", Kind: Tasks, Unit: UnitRows,
			Doc:     "verl / rLLM RL Parquet rows carrying the task row in extra_info (a SWE-bench-family row, or an R2E-Gym row as rLLM's DeepSWE data has it; NULL-typed columns are read)",
			Example: "swelake ingest tasks --format verl train.parquet",
			sig:     []string{"extra_info"},
			decode:  decodeVerlTask,
		},
		{
			Name: "swe-bench-pro", Kind: Tasks, Unit: UnitRows,
			Doc:     "SWE-bench Pro rows (ScaleAI/SWE-bench_Pro: instance_-prefixed ids, lowercase fail_to_pass / pass_to_pass as Python-literal strings, repo_language, selected_test_files_to_run, before_repo_set_cmd, dockerhub_tag)",
			Example: "swelake ingest tasks --format swe-bench-pro swe-bench-pro/data/",
			sig:     []string{"instance_id", "fail_to_pass", "pass_to_pass"},
			not:     []string{"FAIL_TO_PASS"},
			decode:  decodeProTask,
		},
		{
			Name: "swe-bench-pro-instance", Kind: Tasks, Unit: UnitDir,
			Doc:     "SWE-bench Pro run_scripts/<instance>/: instance_info.txt (id, repository, base commit, test files, FAIL_TO_PASS, PASS_TO_PASS) with its run_script.sh and parser.py kept as eval_script and parser_script",
			Example: "swelake ingest tasks --format swe-bench-pro-instance SWE-bench_Pro-os/run_scripts/",
			detect: func(p *Probe) bool {
				return p.obj == nil && p.arr == nil && bytes.HasPrefix(bytes.TrimSpace(p.First), []byte("Instance ID: "))
			},
			decode:     decodeProInstance,
			companions: ProCompanions,
		},
		{
			Name: "multi-swe-bench", Kind: Tasks, Unit: UnitRows,
			Doc:     "Multi-SWE-bench / Multi-SWE-RL rows (org, repo, number, base.sha, fix_patch, test_patch, resolved_issues; f2p_tests / p2p_tests / s2p_tests / n2p_tests maps → fail_to_pass, pass_to_pass, skip_to_pass, none_to_pass); raw PR rows without the maps import with no tests",
			Example: "swelake ingest tasks --format multi-swe-bench multi_swe_bench/*.jsonl",
			sig:     []string{"org", "repo", "number", "base", "fix_patch"},
			decode:  decodeMultiTask,
		},
		{
			Name: "swe-lego", Kind: Tasks, Unit: UnitRows,
			Doc:     "SWE-Lego trajectory rows read for their task (instance_id, patch = the gold patch, FAIL_TO_PASS, PASS_TO_PASS, and the trajectory in messages, which ingest rollouts reads)",
			Example: "swelake ingest tasks --format swe-lego swe-lego/data/",
			sig:     []string{"instance_id", "messages", "FAIL_TO_PASS"},
			decode:  func(r *Record, o Options) (Rows, error) { return decodeTask(r, o, "swe-lego") },
		},
	}
}

var smithID = regexp.MustCompile(`\.[0-9a-f]{8}\.`)

func isSmithRow(o object) bool {
	return o != nil && (strings.HasPrefix(o.str("image_name"), "swesmith.") || strings.HasPrefix(o.str("repo"), "swesmith/"))
}

// isR2ERow: an R2E-Gym task row (no instance id; the docker image names it).
func isR2ERow(o object) bool {
	return o.has("expected_output_json") || o.has("repo_name") && o.has("commit_hash") && o.has("docker_image")
}

// GuessTaskSource namespaces an instance id whose source the input does not
// say: SWE-smith ids look like owner__repo.<8 hex>.<kind>.
func GuessTaskSource(instanceID string) string {
	if smithID.MatchString(instanceID) {
		return "swe-smith"
	}
	return "swe-bench"
}

// TaskID is the stable id of a task: its source's instance id namespaced by
// source (never the base commit: public tables collide on base commits).
func TaskID(source, instanceID string) string { return source + "/" + instanceID }

func decodeTask(r *Record, o Options, source string) (Rows, error) {
	obj, err := parseObject(r.Data)
	if err != nil {
		return Rows{}, err
	}
	if o.Source != "" {
		source = o.Source
	}
	t, repaired, err := taskFromObject(obj, source)
	if err != nil {
		return Rows{}, err
	}
	t.Raw = bytes.Clone(r.Data)
	return Rows{Tasks: []schemas.Task{t}, Repaired: repaired}, nil
}

// taskFromObject reads the SWE-bench family's columns, in every spelling.
func taskFromObject(o object, source string) (schemas.Task, bool, error) {
	var t schemas.Task
	var repaired bool
	iid := o.str("instance_id")
	if iid == "" {
		return t, false, fmt.Errorf("no instance_id")
	}
	var err error
	if t.FailToPass, err = o.strList("FAIL_TO_PASS"); err != nil {
		return t, false, err
	}
	if t.PassToPass, err = o.strList("PASS_TO_PASS"); err != nil {
		return t, false, err
	}
	if t.CreatedAt, err = o.when("created_at"); err != nil {
		return t, false, err
	}
	ic, err := o.obj("install_config")
	if err != nil {
		return t, false, err
	}
	if ic != nil {
		if t.TestCmd, err = ic.cmdList("test_cmd"); err != nil {
			return t, false, fmt.Errorf("install_config.%w", err)
		}
		if ic.has("python") && o.str("language") == "" {
			t.Language = "python"
		}
	}
	if t.TestCmd == "" {
		if t.TestCmd, err = o.cmdList("test_cmd"); err != nil {
			return t, false, err
		}
	}
	if t.TestCmd == "" {
		t.TestCmd = o.str("run_tests") // SWE-Master's rows carry the eval script
	}
	t.Source = source
	t.InstanceID = text(iid, &repaired)
	t.TaskID = TaskID(source, t.InstanceID)
	t.Repo = text(o.str("repo"), &repaired)
	t.BaseCommit = o.str("base_commit")
	t.ProblemStatement = text(o.str("problem_statement"), &repaired)
	t.TestPatch = text(o.str("test_patch"), &repaired)
	t.Image = o.firstStr("image_name", "docker_image", "image")
	if l := o.str("language"); l != "" {
		t.Language = l
	}
	t.Difficulty = o.str("difficulty")
	if t.Difficulty == "" {
		if meta, _ := o.obj("meta"); meta != nil {
			if ls, _ := meta.obj("llm_score"); ls != nil {
				t.Difficulty = ls.str("difficulty_score")
			}
		}
	}
	t.Version = o.str("version")
	t.Hints = text(o.str("hints_text"), &repaired)
	// SWE-bench 5's test-runner spec (make_test_spec reads these).
	t.EvalScript = text(o.str("eval_script"), &repaired)
	t.LogParser = o.str("log_parser")
	t.EvalType = o.str("eval_type")
	if t.Language == "" {
		t.Language = LanguageOfParser(t.LogParser)
	}
	patch := text(o.str("patch"), &repaired)
	if source == "swe-smith" || strings.HasPrefix(t.Image, "swesmith.") {
		t.BugPatch = patch
		if t.GoldPatch, err = reverseDiff(patch); err != nil {
			return t, false, err
		}
	} else {
		t.GoldPatch = patch
	}
	// Rows of the Python sets name no language; a row whose harness parser
	// is another language's (SWE-bench Multilingual) got it above, and a
	// parser this importer does not know leaves it empty rather than wrong.
	if t.Language == "" && t.LogParser == "" && (source == "swe-bench" || source == "swe-gym" || source == "swe-smith" || source == "swe-lego") {
		t.Language = "python"
	}
	for i := range t.FailToPass {
		t.FailToPass[i] = text(t.FailToPass[i], &repaired)
	}
	for i := range t.PassToPass {
		t.PassToPass[i] = text(t.PassToPass[i], &repaired)
	}
	t.ContentHash = taskHash(&t)
	return t, repaired, nil
}

// taskHash covers what defines a task, not how an export spelled it.
func taskHash(t *schemas.Task) string { return schemas.TaskHash(t) }

func decodeR2ETask(r *Record, o Options) (Rows, error) {
	obj, err := parseObject(r.Data)
	if err != nil {
		return Rows{}, err
	}
	t, repaired, err := r2eTask(obj, cmp.Or(o.Source, "r2e-gym"))
	if err != nil {
		return Rows{}, err
	}
	t.Raw = bytes.Clone(r.Data)
	return Rows{Tasks: []schemas.Task{t}, Repaired: repaired}, nil
}

func r2eTask(obj object, source string) (schemas.Task, bool, error) {
	var t schemas.Task
	var repaired bool
	t.Source = source
	// R2E-Gym rows have no instance id: the docker image names the task
	// (one image per commit of a repository).
	t.Image = obj.str("docker_image")
	t.Repo = obj.str("repo_name")
	t.BaseCommit = obj.str("commit_hash")
	t.InstanceID = t.Image
	if t.InstanceID == "" {
		if t.Repo == "" || t.BaseCommit == "" {
			return t, false, fmt.Errorf("no docker_image, and no repo_name+commit_hash to name the task")
		}
		t.InstanceID = t.Repo + "@" + t.BaseCommit
	}
	t.TaskID = TaskID(t.Source, t.InstanceID)
	t.ProblemStatement = text(obj.str("problem_statement"), &repaired)
	t.Language = "python"
	if pc, err := obj.obj("parsed_commit_content"); err == nil && pc != nil {
		t.GoldPatch = text(pc.firstStr("patch", "diff"), &repaired)
	}
	// expected_output_json: {test name: expected status after the fix}.
	// Without the status before the fix there is no F2P/P2P split: the tests
	// expected to pass go to expected_pass.
	if exp, err := obj.obj("expected_output_json"); err != nil {
		return t, false, err
	} else if exp != nil {
		for name, status := range exp {
			if s := strings.ToUpper(rawString(status)); s == "PASSED" || s == "PASS" {
				t.ExpectedPass = append(t.ExpectedPass, text(name, &repaired))
			}
		}
		slices.Sort(t.ExpectedPass)
	}
	t.ContentHash = taskHash(&t)
	return t, repaired, nil
}

func decodeVerlTask(r *Record, o Options) (Rows, error) {
	obj, err := parseObject(r.Data)
	if err != nil {
		return Rows{}, err
	}
	inner, err := obj.obj("extra_info")
	if err != nil {
		return Rows{}, err
	}
	if inner == nil {
		return Rows{}, fmt.Errorf("extra_info is null")
	}
	// Some pipelines nest the row once more.
	for _, k := range []string{"task", "instance", "row"} {
		if nested, _ := inner.obj(k); nested != nil && nested.has("instance_id") {
			inner = nested
		}
	}
	source := strings.ToLower(obj.str("data_source"))
	source = strings.NewReplacer("/", "-", "_", "-", " ", "-").Replace(source)
	// swelake's own files name the task: its namespace comes back with it.
	if id, iid := inner.str("task_id"), inner.str("instance_id"); iid != "" && strings.HasSuffix(id, "/"+iid) {
		source = strings.TrimSuffix(id, "/"+iid)
	}
	if source == "" {
		source = "verl"
	}
	if o.Source != "" {
		source = o.Source
	}
	if !inner.has("instance_id") && isR2ERow(inner) {
		// rLLM's DeepSWE rows carry an R2E-Gym row.
		if source == "verl" || o.Source == "" {
			source = "r2e-gym"
		}
		t, repaired, err := r2eTask(inner, source)
		if err != nil {
			return Rows{}, fmt.Errorf("extra_info (an R2E-Gym row): %w", err)
		}
		t.Raw = bytes.Clone(r.Data)
		return Rows{Tasks: []schemas.Task{t}, Repaired: repaired}, nil
	}
	t, repaired, err := taskFromObject(inner, source)
	if err != nil {
		return Rows{}, fmt.Errorf("extra_info: %w", err)
	}
	t.Raw = bytes.Clone(r.Data)
	return Rows{Tasks: []schemas.Task{t}, Repaired: repaired}, nil
}
