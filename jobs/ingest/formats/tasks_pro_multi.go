package formats

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	json "github.com/goccy/go-json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/swelake/swelake/schemas"
)

// parserLanguages maps the SWE-bench harness's log parsers to the language
// of the repositories they grade: PARSER_REGISTRY in
// swebench/harness/log_parsers/__init__.py (SWE-bench 5.0.2, commit
// 7a21e05), which groups them by language. SWE-bench Multilingual rows name
// no language; their parser does.
var parserLanguages = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	for lang, names := range map[string][]string{
		"python": {"pytest", "pytest_options", "django", "pytest_v2", "seaborn", "sympy", "matplotlib", "astroid", "flask",
			"marshmallow", "pvlib", "pyvista", "sqlfluff", "xarray", "pydicom", "requests", "pylint", "astropy", "scikit", "sphinx"},
		"javascript": {"calypso", "bpmn_js", "carbon", "eslint", "grommet", "highlightjs", "lighthouse", "next", "openlayers",
			"prismjs", "quarto_cli", "chart_js", "marked", "p5js", "react_pdf", "jest", "jest_json", "vitest", "karma", "tap", "immutable_js"},
		"c":    {"redis", "jq", "doctest", "micropython_test", "googletest"},
		"go":   {"gotest"},
		"java": {"maven", "ant", "gradle_custom"},
		"php":  {"phpunit"},
		"ruby": {"minitest", "cucumber", "ruby_unit", "rspec_transformed_json", "jekyll"},
		"rust": {"cargo"},
	} {
		for _, n := range names {
			m["parse_log_"+n] = lang
		}
	}
	return m
})

// LanguageOfParser is the language a SWE-bench harness log parser grades
// ("" for a parser this table does not know: no guess).
func LanguageOfParser(name string) string { return parserLanguages()[name] }

// pyStrList reads a list of strings given as a list, a JSON string, or a
// string holding a Python literal (SWE-bench Pro's fail_to_pass is
// "['a', 'b']", which its harness reads with eval).
func (o object) pyStrList(key string) ([]string, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	t := bytes.TrimSpace(raw)
	if t[0] == '[' {
		return o.strList(key)
	}
	s := rawString(t)
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	v, err := parsePythonLiteral(s)
	if err != nil {
		return nil, fmt.Errorf("%s: not a list literal: %w", key, err)
	}
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: a %T literal, want a list of strings", key, v)
	}
	out := make([]string, len(items))
	for i, it := range items {
		if out[i], ok = it.(string); !ok {
			return nil, fmt.Errorf("%s[%d]: a %T, want a string", key, i, it)
		}
	}
	return out, nil
}

// decodeProTask reads a SWE-bench Pro row. The problem statement is the
// one Pro's harness gives the agent: the issue, its requirements and the
// new interfaces (helper_code/create_problem_statement.py).
func decodeProTask(r *Record, o Options) (Rows, error) {
	obj, err := parseObject(r.Data)
	if err != nil {
		return Rows{}, err
	}
	var t schemas.Task
	var repaired bool
	t.Source = cmp.Or(o.Source, "swe-bench-pro")
	if t.InstanceID = text(obj.str("instance_id"), &repaired); t.InstanceID == "" {
		return Rows{}, fmt.Errorf("no instance_id")
	}
	t.TaskID = TaskID(t.Source, t.InstanceID)
	if t.FailToPass, err = obj.pyStrList("fail_to_pass"); err != nil {
		return Rows{}, err
	}
	if t.PassToPass, err = obj.pyStrList("pass_to_pass"); err != nil {
		return Rows{}, err
	}
	if t.TestFiles, err = obj.pyStrList("selected_test_files_to_run"); err != nil {
		return Rows{}, err
	}
	t.Repo = obj.str("repo")
	t.BaseCommit = obj.str("base_commit")
	ps := obj.str("problem_statement")
	if req, iface := obj.str("requirements"), obj.str("interface"); req != "" || iface != "" {
		ps = fmt.Sprintf("%s\n\nRequirements:\n%s\n\nNew interfaces introduced:\n%s", ps, req, iface)
	}
	t.ProblemStatement = text(ps, &repaired)
	t.GoldPatch = text(obj.str("patch"), &repaired)
	t.TestPatch = text(obj.str("test_patch"), &repaired)
	t.Language = strings.ToLower(obj.firstStr("repo_language", "language"))
	t.Image = obj.firstStr("dockerhub_tag", "image")
	t.SetupCmd = text(obj.str("before_repo_set_cmd"), &repaired)
	if t.CreatedAt, err = obj.when("created_at"); err != nil {
		return Rows{}, err
	}
	for _, l := range [][]string{t.FailToPass, t.PassToPass, t.TestFiles} {
		for i := range l {
			l[i] = text(l[i], &repaired)
		}
	}
	t.ContentHash = taskHash(&t)
	t.Raw = bytes.Clone(r.Data)
	return Rows{Tasks: []schemas.Task{t}, Repaired: repaired}, nil
}

// ProCompanions are the files of a run_scripts/<instance>/ directory read
// with its instance_info.txt.
var ProCompanions = []string{"run_script.sh", "parser.py"}

// decodeProInstance reads SWE-bench Pro's run_scripts/<instance>/: the
// instance_info.txt lines ("Key: value", lists as JSON) and, beside it,
// the run script and the parser that grade the instance.
func decodeProInstance(r *Record, o Options) (Rows, error) {
	var info []byte
	var t schemas.Task
	var repaired bool
	for _, f := range r.Group {
		switch filepath.Base(f.File) {
		case "run_script.sh":
			t.EvalScript = text(string(f.Data), &repaired)
		case "parser.py":
			t.ParserScript = text(string(f.Data), &repaired)
		default:
			if info != nil {
				return Rows{}, fmt.Errorf("%s: a second instance description in the directory (%s)", f.File, r.File)
			}
			info = f.Data
		}
	}
	if info == nil {
		return Rows{}, fmt.Errorf("%s: no instance_info.txt", r.File)
	}
	fields := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(info))
	sc.Buffer(nil, len(info)+1)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			return Rows{}, fmt.Errorf("instance_info line %d: not \"Key: value\": %.60q", n, line)
		}
		fields[k] = v
	}
	known := []string{"Instance ID", "Repository", "Base Commit", "Test Files", "FAIL_TO_PASS", "PASS_TO_PASS"}
	for k := range fields {
		if !slices.Contains(known, k) {
			return Rows{}, fmt.Errorf("instance_info: unknown key %q (known: %s)", k, strings.Join(known, ", "))
		}
	}
	list := func(k string) ([]string, error) {
		if fields[k] == "" {
			return nil, nil
		}
		var l []string
		if err := json.Unmarshal([]byte(fields[k]), &l); err != nil {
			return nil, fmt.Errorf("instance_info %s: want a JSON list of strings: %w", k, err)
		}
		return l, nil
	}
	var err error
	if t.InstanceID = fields["Instance ID"]; t.InstanceID == "" {
		return Rows{}, fmt.Errorf("instance_info: no Instance ID")
	}
	if t.TestFiles, err = list("Test Files"); err != nil {
		return Rows{}, err
	}
	if t.FailToPass, err = list("FAIL_TO_PASS"); err != nil {
		return Rows{}, err
	}
	if t.PassToPass, err = list("PASS_TO_PASS"); err != nil {
		return Rows{}, err
	}
	t.Source = cmp.Or(o.Source, "swe-bench-pro")
	t.TaskID = TaskID(t.Source, t.InstanceID)
	t.Repo = fields["Repository"]
	t.BaseCommit = fields["Base Commit"]
	t.ContentHash = taskHash(&t)
	t.Raw = bytes.Clone(info)
	return Rows{Tasks: []schemas.Task{t}, Repaired: repaired}, nil
}

// MultiInstanceID names a Multi-SWE-bench pull request the way its
// published rows do: <org>__<repo>-<number>.
func MultiInstanceID(org, repo, number string) string { return org + "__" + repo + "-" + number }

// numberString reads a pull request number given as an integer or a string.
func (o object) numberString(key string) (string, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return "", fmt.Errorf("no %s", key)
	}
	t := bytes.TrimSpace(raw)
	s := string(t)
	if t[0] == '"' {
		s = rawString(t)
	}
	if _, err := strconv.ParseUint(s, 10, 63); err != nil {
		return "", fmt.Errorf("%s: %s is not a pull request number", key, t)
	}
	return s, nil
}

// decodeMultiTask reads a Multi-SWE-bench row (harness/dataset.py's
// Dataset: a PullRequest with the report's test maps). Each test class is
// a map test name → {run, test, fix}; the class names the transition, so
// the names are what is kept.
func decodeMultiTask(r *Record, o Options) (Rows, error) {
	obj, err := parseObject(r.Data)
	if err != nil {
		return Rows{}, err
	}
	var t schemas.Task
	var repaired bool
	org, repo := obj.str("org"), obj.str("repo")
	num, err := obj.numberString("number")
	if err != nil {
		return Rows{}, err
	}
	if org == "" || repo == "" {
		return Rows{}, fmt.Errorf("no org or repo")
	}
	base, err := obj.obj("base")
	if err != nil {
		return Rows{}, err
	}
	if base == nil || base.str("sha") == "" {
		return Rows{}, fmt.Errorf("base: no sha")
	}
	t.Source = cmp.Or(o.Source, "multi-swe-bench")
	t.InstanceID = cmp.Or(obj.str("instance_id"), MultiInstanceID(org, repo, num))
	t.TaskID = TaskID(t.Source, t.InstanceID)
	t.Repo = org + "/" + repo
	t.BaseCommit = base.str("sha")
	t.GoldPatch = text(obj.str("fix_patch"), &repaired)
	t.TestPatch = text(obj.str("test_patch"), &repaired)
	t.Language = strings.ToLower(obj.firstStr("lang", "language"))
	// The problem: the issues the pull request resolves, else its own text.
	var issues []struct {
		Number int64  `json:"number"`
		Title  string `json:"title"`
		Body   string `json:"body"`
	}
	if raw, ok := obj["resolved_issues"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &issues); err != nil {
			return Rows{}, fmt.Errorf("resolved_issues: %w", err)
		}
	}
	var ps []string
	for _, is := range issues {
		ps = append(ps, strings.TrimSpace(is.Title+"\n"+is.Body))
	}
	if len(ps) == 0 {
		ps = append(ps, strings.TrimSpace(obj.str("title")+"\n"+obj.str("body")))
	}
	t.ProblemStatement = text(strings.Join(ps, "\n\n"), &repaired)
	for _, c := range []struct {
		key string
		dst *[]string
	}{{"f2p_tests", &t.FailToPass}, {"p2p_tests", &t.PassToPass}, {"s2p_tests", &t.SkipToPass}, {"n2p_tests", &t.NoneToPass}} {
		m, err := obj.obj(c.key)
		if err != nil {
			return Rows{}, err
		}
		for name := range m {
			*c.dst = append(*c.dst, text(name, &repaired))
		}
		slices.Sort(*c.dst)
	}
	if t.CreatedAt, err = obj.when("created_at"); err != nil {
		return Rows{}, err
	}
	t.ContentHash = taskHash(&t)
	t.Raw = bytes.Clone(r.Data)
	return Rows{Tasks: []schemas.Task{t}, Repaired: repaired}, nil
}
