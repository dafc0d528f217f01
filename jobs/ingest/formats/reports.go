package formats

import (
	"bytes"
	"cmp"
	"fmt"
	json "github.com/goccy/go-json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/swelake/swelake/schemas"
)

func reportFormats() []*Format {
	return []*Format{
		{
			Name: "swe-bench-report", Kind: Reports, Unit: UnitFile,
			Doc:     "SWE-bench per-instance report.json, keyed by instance id ({id: {resolved, tests_status, ...}}; infra_failure: true is infra_error with its infra_failure_reason); also SWE-rebench-V2's eval_report.json in this layout",
			Example: "swelake ingest reports --format swe-bench-report logs/run_evaluation/",
			detect: func(p *Probe) bool {
				if p.obj == nil || len(p.obj) == 0 {
					return false
				}
				for _, v := range p.obj {
					inner, err := parseObject(v)
					if err != nil || !inner.has("resolved") && !inner.has("tests_status") {
						return false
					}
				}
				return true
			},
			decode: decodeKeyedReport("swe-bench-report"),
		},
		{
			Name: "swe-rebench-v2-report", Kind: Reports, Unit: UnitFile,
			Doc:     "SWE-rebench-V2 eval_report.json (read as a keyed or flat SWE-bench-style report). Not auto-detected: same layout as swe-bench-report",
			Example: "swelake ingest reports --format swe-rebench-v2-report eval_report.json",
			Manual:  true,
			shape: func(p *Probe) bool {
				o := p.obj
				if o == nil {
					return false
				}
				if o.has("resolved") || o.has("tests_status") { // flat: one instance
					r := string(bytes.TrimSpace(o["resolved"]))
					return o.has("tests_status") || r == "true" || r == "false"
				}
				for _, v := range o {
					inner, err := parseObject(v)
					if err != nil || !inner.has("resolved") && !inner.has("tests_status") {
						return false
					}
				}
				return len(o) > 0
			},
			decode: func(r *Record, o Options) (Rows, error) {
				obj, err := parseObject(r.Data)
				if err != nil {
					return Rows{}, err
				}
				if obj.has("tests_status") || obj.has("resolved") {
					return decodeFlatReport("swe-rebench-v2-report")(r, o)
				}
				return decodeKeyedReport("swe-rebench-v2-report")(r, o)
			},
		},
		{
			Name: "swe-smith-report", Kind: Reports, Unit: UnitFile,
			Doc:     "SWE-smith flat per-instance report ({patch_successfully_applied, resolved, tests_status}); the instance id comes from the path",
			Example: "swelake ingest reports --format swe-smith-report logs/run_evaluation/",
			sig:     []string{"resolved"},
			detect: func(p *Probe) bool {
				o := p.obj
				return o.has("tests_status") || o.has("patch_is_None") || o.has("patch_exists")
			},
			decode: decodeFlatReport("swe-smith-report"),
		},
		{
			Name: "swe-smith-run-report", Kind: Reports, Unit: UnitFile,
			Doc:     "SWE-smith run-level report.json (logs/run_evaluation/<run_id>/report.json: resolved, unresolved, total, ids_resolved, ids_unresolved): one evaluation per listed id, the run from the directory; instances counted in total but in neither list had no report and are not named",
			Example: "swelake ingest reports --format swe-smith-run-report logs/run_evaluation/run1/report.json",
			sig:     []string{"ids_resolved", "ids_unresolved"},
			not:     []string{"schema_version"},
			decode:  decodeSmithRunReport,
		},
		{
			Name: "swe-smith-validation", Kind: Reports, Unit: UnitFile,
			Doc:     "SWE-smith run_validation report.json ({FAIL_TO_PASS, PASS_TO_PASS, FAIL_TO_FAIL, PASS_TO_FAIL} lists): the gold patch's validation",
			Example: "swelake ingest reports --format swe-smith-validation logs/run_validation/",
			sig:     []string{"FAIL_TO_PASS", "PASS_TO_PASS"},
			not:     []string{"instance_id", "tests_status"},
			decode:  decodeValidation,
		},
		{
			Name: "swe-bench-run-report", Kind: Reports, Unit: UnitFile,
			Doc:     "SWE-bench run-level report (schema_version 2: resolved_ids, unresolved_ids, empty_patch_ids, error_ids, ...; infra_failure_ids are infra_error, ambiguous_failure_ids keep their status, both with their failure_reasons)",
			Example: "swelake ingest reports --format swe-bench-run-report model.run_id.json",
			sig:     []string{"schema_version", "resolved_ids"},
			decode:  decodeRunReport,
		},
		{
			Name: "openhands-eval-log", Kind: Reports, Unit: UnitFile,
			Doc:     "OpenHands SWE-bench eval logs (instance_<id>.log): the `report:` line is a Python dict repr; a log without one is no_result",
			Example: "swelake ingest reports --format openhands-eval-log output.swebench_eval.logs/",
			detect: func(p *Probe) bool {
				return p.obj == nil && p.arr == nil && (strings.HasSuffix(p.Name, ".log") || bytes.Contains(p.First, []byte(" - INFO - [")))
			},
			decode: decodeOpenHandsLog,
		},
		{
			Name: "predictions", Kind: Reports, Unit: UnitRows,
			Doc:     "SWE-bench predictions (preds.json as a dict keyed by instance id, a list, or JSONL of {instance_id, model_name_or_path, model_patch}) and SWE-bench Pro's patch files ([{instance_id, patch, prefix}], the prefix the candidate): patches not graded yet (no_result, or empty_patch)",
			Example: "swelake ingest reports --format predictions preds.json",
			detect: func(p *Probe) bool {
				o := p.obj
				if o == nil {
					return false
				}
				if o.has("model_patch") || o.has("model_name_or_path") && o.has("instance_id") || o.has("instance_id") && o.has("patch") && o.has("prefix") {
					return true
				}
				for _, v := range o { // dict keyed by instance id
					inner, err := parseObject(v)
					return err == nil && inner.has("model_patch")
				}
				return false
			},
			decode: decodePredictions,
		},
		{
			Name: "swe-bench-pro-results", Kind: Reports, Unit: UnitFile,
			Doc:     "SWE-bench Pro eval_results.json ({instance_id: true|false}, what swe_bench_pro_eval.py writes): resolved or unresolved per instance; an instance whose evaluation failed is false there too, so the statuses are the harness's",
			Example: "swelake ingest reports --format swe-bench-pro-results --run-id gpt-4o eval_results.json",
			detect:  func(p *Probe) bool { return isProResults(p.obj) },
			decode:  decodeProResults,
		},
		{
			Name: "multi-swe-bench-predictions", Kind: Reports, Unit: UnitRows,
			Doc:     "Multi-SWE-bench predictions JSONL ({org, repo, number, fix_patch}): patches not graded yet, for tasks multi-swe-bench/<org>__<repo>-<number>",
			Example: "swelake ingest reports --format multi-swe-bench-predictions patch.jsonl",
			sig:     []string{"org", "repo", "number", "fix_patch"},
			not:     []string{"base", "test_patch"},
			decode:  decodeMultiPredictions,
		},
		{
			Name: "multi-swe-bench-report", Kind: Reports, Unit: UnitFile,
			Doc:     "Multi-SWE-bench final_report.json (resolved_ids, unresolved_ids, empty_patch_ids, error_ids, incomplete_ids of org/repo:pr-N): one evaluation per id, tasks multi-swe-bench/<org>__<repo>-<number>",
			Example: "swelake ingest reports --format multi-swe-bench-report --run-id my-run final_report.json",
			sig:     []string{"total_instances", "resolved_ids", "unresolved_ids", "error_ids"},
			not:     []string{"schema_version"},
			decode:  decodeMultiReport,
		},
	}
}

// testsStatus reads {"FAIL_TO_PASS": {"success": [...], "failure": [...]}, ...}.
func testsStatus(raw json.RawMessage, repaired *bool) ([]schemas.TestResult, error) {
	if isNull(raw) {
		return nil, nil
	}
	var cats map[string]map[string][]string
	if err := json.Unmarshal(raw, &cats); err != nil {
		return nil, fmt.Errorf("tests_status: %w", err)
	}
	return testsFromCategories(cats, repaired), nil
}

func testsFromCategories(cats map[string]map[string][]string, repaired *bool) []schemas.TestResult {
	var out []schemas.TestResult
	for _, cat := range sortedKeys(cats) {
		for _, outcome := range sortedKeys(cats[cat]) {
			status := map[string]string{"success": "passed", "failure": "failed"}[outcome]
			if status == "" {
				status = outcome
			}
			for _, name := range cats[cat][outcome] {
				out = append(out, schemas.TestResult{Name: text(name, repaired), Category: cat, Status: status})
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// reportEval reads one instance's SWE-bench-style report.
func reportEval(o object, iid string, repaired *bool) (schemas.Evaluation, error) {
	var e schemas.Evaluation
	var err error
	e.InstanceID = iid
	if e.Resolved, err = o.boolean("resolved"); err != nil {
		return e, err
	}
	applied, err := o.boolean("patch_successfully_applied")
	if err != nil {
		return e, err
	}
	// SWE-smith reports say patch_successfully_applied=false even when the
	// instance resolved: a resolved patch was applied.
	if e.Resolved != nil && *e.Resolved {
		applied = ptr(true)
	}
	e.PatchApplied = applied
	if e.Tests, err = testsStatus(o["tests_status"], repaired); err != nil {
		return e, err
	}
	isNone, _ := o.boolean("patch_is_None")
	exists, _ := o.boolean("patch_exists")
	infraFailure, _ := o.boolean("infra_failure")
	switch {
	case isNone != nil && *isNone || exists != nil && !*exists:
		e.Status = schemas.StatusEmptyPatch
	case infraFailure != nil && *infraFailure && (e.Resolved == nil || !*e.Resolved):
		// The harness classified the failure as its environment's
		// (grading.py, infra_failure and infra_failure_reason): not the
		// patch's, so no verdict.
		e.Status, e.Resolved = schemas.StatusInfraError, nil
		e.Reason = failure("infra failure", o.str("infra_failure_reason"))
	case e.Resolved != nil && *e.Resolved:
		e.Status = schemas.StatusResolved
	case e.Resolved != nil:
		e.Status = schemas.StatusUnresolved
	default:
		e.Status = schemas.StatusNoResult
	}
	e.Candidate = o.str("model_name_or_path")
	return e, nil
}

func finishEval(e *schemas.Evaluation, source string, r *Record, o Options, raw []byte) {
	e.Source = source
	if e.TaskID == "" {
		e.TaskID = taskIDFor(o, e.InstanceID)
	}
	if run, model, ok := harnessLogPath(r.File); ok {
		// logs/run_evaluation/<run_id>/<model>/<instance_id>/report.json
		e.RunID = cmp.Or(e.RunID, run)
		e.Candidate = cmp.Or(e.Candidate, model)
	}
	if e.RunID == "" {
		e.RunID = runIDFromPath(r.File)
	}
	if o.RunID != "" {
		e.RunID = o.RunID
	}
	if e.Candidate == "" {
		e.Candidate = "unknown"
	}
	if e.Attempts == 0 && e.Status != schemas.StatusNoResult {
		e.Attempts = 1
	}
	e.LogRef = r.File
	e.EvaluationID = e.RunID + "/" + e.TaskID + "/" + e.Candidate
	e.ContentHash = hashJSON([]any{e.EvaluationID, e.Status, e.Resolved, e.PatchApplied, e.Patch, e.Tests})
	e.Raw = bytes.Clone(raw)
}

func decodeKeyedReport(source string) func(r *Record, o Options) (Rows, error) {
	return func(r *Record, o Options) (Rows, error) {
		obj, err := parseObject(r.Data)
		if err != nil {
			return Rows{}, err
		}
		var rows Rows
		for _, iid := range sortedKeys(obj) {
			inner, err := parseObject(obj[iid])
			if err != nil {
				return Rows{}, fmt.Errorf("%s: %w", iid, err)
			}
			e, err := reportEval(inner, text(iid, &rows.Repaired), &rows.Repaired)
			if err != nil {
				return Rows{}, fmt.Errorf("%s: %w", iid, err)
			}
			finishEval(&e, source, r, o, obj[iid])
			rows.Evaluations = append(rows.Evaluations, e)
		}
		return rows, nil
	}
}

// failure is an evaluation's reason: the harness's kind of failure, and
// its reason when it gives one.
func failure(kind, reason string) string {
	if reason == "" {
		return kind
	}
	return kind + ": " + reason
}

// harnessLogPath reads the run and the model from the SWE-bench harness's
// log layout, run_evaluation/<run_id>/<model>/<instance_id>/<file> (the
// model's "/" written "__": run_evaluation.py).
func harnessLogPath(file string) (run, model string, ok bool) {
	parts := strings.Split(filepath.ToSlash(filepath.Clean(file)), "/")
	n := len(parts)
	if n < 5 || parts[n-5] != "run_evaluation" {
		return "", "", false
	}
	return parts[n-4], strings.ReplaceAll(parts[n-3], "__", "/"), true
}

// harnessRunReport reads the model and the run from a run-level report's
// name, <model>.<run_id>.json (reporting.py; the model's "/" written
// "__"). The run id is the part after the last dot, or runID when the
// caller names it (a run id with a dot in it).
func harnessRunReport(file, runID string) (model, run string) {
	base := strings.TrimSuffix(filepath.Base(file), ".json")
	if runID != "" && strings.HasSuffix(base, "."+runID) {
		return strings.ReplaceAll(strings.TrimSuffix(base, "."+runID), "__", "/"), runID
	}
	i := strings.LastIndexByte(base, '.')
	if i <= 0 {
		return strings.ReplaceAll(base, "__", "/"), ""
	}
	return strings.ReplaceAll(base[:i], "__", "/"), base[i+1:]
}

// instanceFromPath: run_evaluation/<run>/<model>/<instance>/report.json, or
// <instance>.report.json.
func instanceFromPath(file string) string {
	if b := filepath.Base(file); b == "report.json" || b == "eval_report.json" {
		return filepath.Base(filepath.Dir(file))
	}
	return baseName(file)
}

func decodeFlatReport(source string) func(r *Record, o Options) (Rows, error) {
	return func(r *Record, o Options) (Rows, error) {
		obj, err := parseObject(r.Data)
		if err != nil {
			return Rows{}, err
		}
		var rows Rows
		iid := obj.str("instance_id")
		if iid == "" {
			iid = instanceFromPath(r.File)
		}
		e, err := reportEval(obj, iid, &rows.Repaired)
		if err != nil {
			return Rows{}, err
		}
		finishEval(&e, source, r, o, r.Data)
		rows.Evaluations = append(rows.Evaluations, e)
		return rows, nil
	}
}

func decodeValidation(r *Record, o Options) (Rows, error) {
	var lists map[string][]string
	if err := json.Unmarshal(r.Data, &lists); err != nil {
		return Rows{}, err
	}
	var rows Rows
	cats := map[string]map[string][]string{}
	for cat, tests := range lists {
		// Validation lists name what each test did from the buggy to the
		// fixed code: X_TO_PASS tests pass with the gold patch.
		status := "failure"
		if strings.HasSuffix(cat, "_TO_PASS") {
			status = "success"
		}
		cats[cat] = map[string][]string{status: tests}
	}
	e := schemas.Evaluation{InstanceID: instanceFromPath(r.File), Candidate: "gold", Tests: testsFromCategories(cats, &rows.Repaired)}
	// A validated task: at least one FAIL_TO_PASS and nothing broken.
	ok := len(lists["FAIL_TO_PASS"]) > 0 && len(lists["PASS_TO_FAIL"]) == 0
	e.Resolved, e.PatchApplied = ptr(ok), ptr(true)
	e.Status = schemas.StatusUnresolved
	if ok {
		e.Status = schemas.StatusResolved
	}
	finishEval(&e, "swe-smith-validation", r, o, r.Data)
	rows.Evaluations = append(rows.Evaluations, e)
	return rows, nil
}

// outcomeList is a run-level report's list of ids with one outcome.
type outcomeList struct{ key, status string }

// outcomeLists are the lists SWE-bench's run report and Multi-SWE-bench's
// final report share, most final first (an id listed twice keeps the
// first).
var outcomeLists = []outcomeList{
	{"resolved_ids", schemas.StatusResolved},
	{"unresolved_ids", schemas.StatusUnresolved},
	{"empty_patch_ids", schemas.StatusEmptyPatch},
	{"error_ids", schemas.StatusInfraError},
	{"incomplete_ids", schemas.StatusNoResult},
}

// outcome is the evaluation a run-level list says: resolved set for the
// graded outcomes.
func outcome(iid, status string) schemas.Evaluation {
	e := schemas.Evaluation{InstanceID: iid, Status: status}
	switch status {
	case schemas.StatusResolved:
		e.Resolved = ptr(true)
	case schemas.StatusUnresolved:
		e.Resolved = ptr(false)
	}
	return e
}

func decodeRunReport(r *Record, o Options) (Rows, error) {
	obj, err := parseObject(r.Data)
	if err != nil {
		return Rows{}, err
	}
	if v := obj.str("schema_version"); v != "2" && v != "2.0" {
		return Rows{}, fmt.Errorf("run report schema_version %q: want 2", v)
	}
	// <model>.<run_id>.json is how the harness names it.
	model, run := harnessRunReport(r.File, o.RunID)
	candidate := cmp.Or(obj.firstStr("model_name_or_path", "model_name"), model)
	var rows Rows
	seen := map[string]bool{}
	// failure_reasons: why the harness thinks an unresolved or errored
	// instance failed; infra_failure_ids are those it blames on its
	// environment (a subset of unresolved_ids and error_ids: listed first
	// here, so they are infra_error), ambiguous_failure_ids keep their
	// status with the reason noted (reporting.py, harness 7a21e05).
	var reasons object
	if fr, ok := obj["failure_reasons"]; ok {
		if reasons, err = parseObject(fr); err != nil {
			return Rows{}, fmt.Errorf("failure_reasons: %w", err)
		}
	}
	ambiguous, err := obj.strList("ambiguous_failure_ids")
	if err != nil {
		return Rows{}, err
	}
	isAmbiguous := map[string]bool{}
	for _, id := range ambiguous {
		isAmbiguous[id] = true
	}
	for _, c := range append([]outcomeList{{"infra_failure_ids", schemas.StatusInfraError}}, outcomeLists...) {
		ids, err := obj.strList(c.key)
		if err != nil {
			return Rows{}, err
		}
		for _, iid := range ids {
			if seen[iid] {
				continue // an id listed twice keeps its first (most final) status
			}
			seen[iid] = true
			e := outcome(iid, c.status)
			e.Candidate, e.RunID = candidate, run
			switch {
			case c.key == "infra_failure_ids":
				e.Reason = failure("infra failure", reasons.str(iid))
			case isAmbiguous[iid]:
				e.Reason = failure("ambiguous failure", reasons.str(iid))
			}
			raw, _ := json.Marshal(map[string]string{"instance_id": iid, "list": c.key})
			finishEval(&e, "swe-bench-run-report", r, o, raw)
			rows.Evaluations = append(rows.Evaluations, e)
		}
	}
	return rows, nil
}

// decodeSmithRunReport reads SWE-smith's run-level report
// (swesmith/harness/eval.py at cf2e649 writes it after a run): the ids its
// per-instance reports call resolved and unresolved.
func decodeSmithRunReport(r *Record, o Options) (Rows, error) {
	obj, err := parseObject(r.Data)
	if err != nil {
		return Rows{}, err
	}
	var rows Rows
	seen := map[string]bool{}
	for _, c := range []struct {
		key      string
		resolved bool
	}{{"ids_resolved", true}, {"ids_unresolved", false}} {
		ids, err := obj.strList(c.key)
		if err != nil {
			return Rows{}, err
		}
		for _, iid := range ids {
			if iid == "" || seen[iid] {
				continue
			}
			seen[iid] = true
			e := schemas.Evaluation{InstanceID: iid, Status: schemas.StatusUnresolved, Resolved: ptr(c.resolved)}
			if c.resolved {
				e.Status = schemas.StatusResolved
			}
			raw, _ := json.Marshal(map[string]string{"instance_id": iid, "list": c.key})
			finishEval(&e, "swe-smith-run-report", r, o, raw)
			rows.Evaluations = append(rows.Evaluations, e)
		}
	}
	return rows, nil
}

var (
	reportLine = regexp.MustCompile(`(?m)^.*?\breport: (\{.*\})\s*$`)
	logID      = regexp.MustCompile(`\[([A-Za-z0-9_.\-]+__[A-Za-z0-9_.\-]+)\]`)
)

func decodeOpenHandsLog(r *Record, o Options) (Rows, error) {
	var rows Rows
	logText := text(string(r.Data), &rows.Repaired)
	iid := strings.TrimPrefix(baseName(r.File), "instance_")
	if m := logID.FindStringSubmatch(logText); m != nil {
		iid = m[1]
	}
	e := schemas.Evaluation{InstanceID: iid}
	m := reportLine.FindAllStringSubmatch(logText, -1)
	if m == nil {
		// No report: the evaluation never produced a result. That is not
		// "unresolved".
		e.Status = schemas.StatusNoResult
		if strings.Contains(logText, "Traceback") || strings.Contains(logText, " - ERROR - ") {
			e.Status = schemas.StatusInfraError
		}
		finishEval(&e, "openhands-eval-log", r, o, r.Data)
		rows.Evaluations = append(rows.Evaluations, e)
		return rows, nil
	}
	v, err := parsePythonLiteral(m[len(m)-1][1])
	if err != nil {
		return Rows{}, fmt.Errorf("report line: %w", err)
	}
	asJSON, err := json.Marshal(v)
	if err != nil {
		return Rows{}, err
	}
	obj, err := parseObject(asJSON)
	if err != nil {
		return Rows{}, err
	}
	if e, err = reportEval(obj, iid, &rows.Repaired); err != nil {
		return Rows{}, err
	}
	finishEval(&e, "openhands-eval-log", r, o, r.Data)
	rows.Evaluations = append(rows.Evaluations, e)
	return rows, nil
}

func decodePredictions(r *Record, o Options) (Rows, error) {
	obj, err := parseObject(r.Data)
	if err != nil {
		return Rows{}, err
	}
	var preds []object
	var raws [][]byte
	if obj.has("model_patch") || obj.has("instance_id") {
		preds, raws = []object{obj}, [][]byte{r.Data}
	} else { // a dict keyed by instance id
		for _, iid := range sortedKeys(obj) {
			p, err := parseObject(obj[iid])
			if err != nil {
				return Rows{}, fmt.Errorf("%s: %w", iid, err)
			}
			if !p.has("instance_id") {
				p["instance_id"], _ = json.Marshal(iid)
			}
			preds, raws = append(preds, p), append(raws, obj[iid])
		}
	}
	var rows Rows
	for i, p := range preds {
		iid := p.str("instance_id")
		if iid == "" {
			return Rows{}, fmt.Errorf("prediction without instance_id")
		}
		// SWE-bench Pro's patch files say patch and prefix (gather_patches.py).
		e := schemas.Evaluation{InstanceID: iid, Candidate: cmp.Or(p.str("model_name_or_path"), p.str("prefix")),
			Patch: text(cmp.Or(p.str("model_patch"), p.str("patch")), &rows.Repaired)}
		e.Status = schemas.StatusNoResult
		if strings.TrimSpace(e.Patch) == "" {
			e.Status = schemas.StatusEmptyPatch
		}
		finishEval(&e, "predictions", r, o, raws[i])
		rows.Evaluations = append(rows.Evaluations, e)
	}
	return rows, nil
}

// isProResults: SWE-bench Pro's eval_results.json, {instance_…: bool}.
func isProResults(o object) bool {
	if len(o) == 0 {
		return false
	}
	for k, v := range o {
		b := string(bytes.TrimSpace(v))
		if !strings.HasPrefix(k, "instance_") || b != "true" && b != "false" {
			return false
		}
	}
	return true
}

func decodeProResults(r *Record, o Options) (Rows, error) {
	obj, err := parseObject(r.Data)
	if err != nil {
		return Rows{}, err
	}
	taskOpts := o
	taskOpts.TaskSource = cmp.Or(o.TaskSource, "swe-bench-pro")
	var rows Rows
	for _, iid := range sortedKeys(obj) {
		ok, err := obj.boolean(iid)
		if err != nil || ok == nil {
			return Rows{}, fmt.Errorf("%s: want true or false", iid)
		}
		e := schemas.Evaluation{InstanceID: iid, Resolved: ok, Status: schemas.StatusUnresolved}
		if *ok {
			e.Status = schemas.StatusResolved
		}
		raw, _ := json.Marshal(map[string]bool{iid: *ok})
		finishEval(&e, "swe-bench-pro-results", r, taskOpts, raw)
		rows.Evaluations = append(rows.Evaluations, e)
	}
	return rows, nil
}

func decodeMultiPredictions(r *Record, o Options) (Rows, error) {
	obj, err := parseObject(r.Data)
	if err != nil {
		return Rows{}, err
	}
	num, err := obj.numberString("number")
	if err != nil {
		return Rows{}, err
	}
	org, repo := obj.str("org"), obj.str("repo")
	if org == "" || repo == "" {
		return Rows{}, fmt.Errorf("no org or repo")
	}
	taskOpts := o
	taskOpts.TaskSource = cmp.Or(o.TaskSource, "multi-swe-bench")
	var rows Rows
	e := schemas.Evaluation{InstanceID: MultiInstanceID(org, repo, num), Candidate: obj.firstStr("model_name_or_path", "model"),
		Patch: text(obj.str("fix_patch"), &rows.Repaired), Status: schemas.StatusNoResult}
	if strings.TrimSpace(e.Patch) == "" {
		e.Status = schemas.StatusEmptyPatch
	}
	finishEval(&e, "multi-swe-bench-predictions", r, taskOpts, r.Data)
	rows.Evaluations = append(rows.Evaluations, e)
	return rows, nil
}

// multiReportID reads a Multi-SWE-bench report id, "<org>/<repo>:pr-<n>"
// (PullRequest.id in harness/pull_request.py).
var multiReportID = regexp.MustCompile(`^([^/\s]+)/([^:\s]+):pr-(\d+)$`)

// decodeMultiReport reads Multi-SWE-bench's final_report.json
// (harness/report.py's FinalReport): ids per outcome, as SWE-bench's run
// report lists them, without its schema_version.
func decodeMultiReport(r *Record, o Options) (Rows, error) {
	obj, err := parseObject(r.Data)
	if err != nil {
		return Rows{}, err
	}
	taskOpts := o
	taskOpts.TaskSource = cmp.Or(o.TaskSource, "multi-swe-bench")
	var rows Rows
	seen := map[string]bool{}
	for _, c := range outcomeLists {
		ids, err := obj.strList(c.key)
		if err != nil {
			return Rows{}, err
		}
		for _, id := range ids {
			m := multiReportID.FindStringSubmatch(id)
			if m == nil {
				return Rows{}, fmt.Errorf("%s: %q is not <org>/<repo>:pr-<number>", c.key, id)
			}
			iid := MultiInstanceID(m[1], m[2], m[3])
			if seen[iid] {
				continue
			}
			seen[iid] = true
			e := outcome(iid, c.status)
			raw, _ := json.Marshal(map[string]string{"id": id, "list": c.key})
			finishEval(&e, "multi-swe-bench-report", r, taskOpts, raw)
			rows.Evaluations = append(rows.Evaluations, e)
		}
	}
	return rows, nil
}
