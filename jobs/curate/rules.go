package curate

import (
	"embed"
	"fmt"
	"io/fs"
	"math"
	"reflect"
	"regexp"
	"strings"

	"github.com/swelake/swelake/schemas"
)

// The curation SQL lives beside its job: sql/input.sql builds the tables
// the rules read (cur_input, actions), sql/task_stats.sql
// the Best-of-N statistics, and every rules/<name>.sql is one rule
// returning (rollout_id, reason) for the rollouts it rejects, reading its
// parameters — the fields of its struct in Params — as
// getvariable('<rule>_<param>'). Adding a rule is adding its SQL file and
// its test file, testdata/rules/<name> (TestRules), and its parameters'
// struct here if it has any.
//
//go:embed sql/*.sql rules/*.sql
var sqlFiles embed.FS

// Rule is one embedded curation rule.
type Rule struct {
	Name        string
	Description string // the file's leading comment
	SQL         string
}

// Rules returns every embedded rule, by name.
func Rules() ([]Rule, error) {
	entries, err := fs.ReadDir(sqlFiles, "rules")
	if err != nil {
		return nil, err
	}
	var out []Rule
	for _, e := range entries {
		r, err := RuleNamed(strings.TrimSuffix(e.Name(), ".sql"))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// RuleNamed returns the embedded rule rules/<name>.sql.
func RuleNamed(name string) (Rule, error) {
	data, err := sqlFiles.ReadFile("rules/" + name + ".sql")
	if err != nil {
		return Rule{}, fmt.Errorf("%w %q (rules are the files in jobs/curate/rules)", ErrUnknownRule, name)
	}
	var desc []string
	for _, line := range strings.Split(string(data), "\n") {
		c, ok := strings.CutPrefix(line, "--")
		if !ok {
			break
		}
		desc = append(desc, strings.TrimSpace(c))
	}
	return Rule{Name: name, Description: strings.Join(desc, " "), SQL: string(data)}, nil
}

// buildingBlock returns sql/<name>.sql: "input" or "task_stats".
func buildingBlock(name string) (string, error) {
	data, err := sqlFiles.ReadFile("sql/" + name + ".sql")
	if err != nil {
		return "", fmt.Errorf("curation sql %q: %w", name, err)
	}
	return string(data), nil
}

// Params are every rule's parameters, typed: a key the struct does not
// have is an error when the config is read, never a NULL in SQL.
type Params struct {
	Reward        RewardParams        `json:"reward" mapstructure:"reward"`
	FormatHint    struct{}            `json:"format_hint" mapstructure:"format_hint"`
	StepCap       StepCapParams       `json:"step_cap" mapstructure:"step_cap"`
	TokenCap      TokenCapParams      `json:"token_cap" mapstructure:"token_cap"`
	BareSubmit    struct{}            `json:"bare_submit" mapstructure:"bare_submit"`
	GitHacking    struct{}            `json:"git_hacking" mapstructure:"git_hacking"`
	PatchHygiene  PatchHygieneParams  `json:"patch_hygiene" mapstructure:"patch_hygiene"`
	TestTampering TestTamperingParams `json:"test_tampering" mapstructure:"test_tampering"`
	Loop          LoopParams          `json:"loop" mapstructure:"loop"`
	Dedup         struct{}            `json:"dedup" mapstructure:"dedup"`
	Decontam      DecontamParams      `json:"decontam" mapstructure:"decontam"`
}

// check refuses values no rule can mean, before any SQL runs: the rules
// would otherwise keep or drop everything, or fail inside DuckDB.
func (p Params) check() error {
	for _, c := range []struct {
		key string
		v   int64
		min int64
	}{{"step_cap.max_turns", p.StepCap.MaxTurns, 1}, {"token_cap.max_tokens", p.TokenCap.MaxTokens, 1},
		{"loop.max_repeats", p.Loop.MaxRepeats, 2}, {"decontam.ngram", p.Decontam.NGram, 1}} {
		if c.v < c.min {
			return fmt.Errorf("params.%s: want an integer ≥ %d, got %d", c.key, c.min, c.v)
		}
	}
	if o := p.Decontam.MinOverlap; o < 0 || o > 1 || math.IsNaN(o) {
		return fmt.Errorf("params.decontam.min_overlap: want a fraction between 0 and 1, got %v", o)
	}
	if r := p.Reward.MinReward; math.IsNaN(r) || math.IsInf(r, 0) {
		return fmt.Errorf("params.reward.min_reward: want a number, got %v", r)
	}
	for _, c := range []struct{ key, re string }{{"patch_hygiene.stray_regex", p.PatchHygiene.StrayRegex},
		{"test_tampering.infra_regex", p.TestTampering.InfraRegex}, {"test_tampering.test_regex", p.TestTampering.TestRegex},
		{"test_tampering.config_regex", p.TestTampering.ConfigRegex}, {"test_tampering.config_lines_regex", p.TestTampering.ConfigLinesRegex}} {
		if _, err := regexp.Compile(c.re); err != nil { // DuckDB's regexps are RE2, as Go's
			return fmt.Errorf("params.%s: not a regular expression: %v", c.key, err)
		}
	}
	return nil
}

// RewardParams: the least reward a kept rollout has.
type RewardParams struct {
	MinReward float64 `json:"min_reward" mapstructure:"min_reward"`
}

// StepCapParams: a turn cap and the (normalised) exit reasons that mean
// "cut off".
type StepCapParams struct {
	MaxTurns    int64    `json:"max_turns" mapstructure:"max_turns"`
	ExitReasons []string `json:"exit_reasons" mapstructure:"exit_reasons"`
}

// TokenCapParams: the context cap.
type TokenCapParams struct {
	MaxTokens int64 `json:"max_tokens" mapstructure:"max_tokens"`
}

// PatchHygieneParams: stray new files, dropped or (Strip) stripped.
type PatchHygieneParams struct {
	StrayRegex string `json:"stray_regex" mapstructure:"stray_regex"`
	Strip      bool   `json:"strip" mapstructure:"strip" sql:"-"` // read by the job, not the SQL
}

// TestTamperingParams: the files and lines that change how tests run.
type TestTamperingParams struct {
	InfraRegex       string `json:"infra_regex" mapstructure:"infra_regex"`
	TestRegex        string `json:"test_regex" mapstructure:"test_regex"`
	ConfigRegex      string `json:"config_regex" mapstructure:"config_regex"`
	ConfigLinesRegex string `json:"config_lines_regex" mapstructure:"config_lines_regex"`
}

// LoopParams: identical actions in a row that make a loop.
type LoopParams struct {
	MaxRepeats int64 `json:"max_repeats" mapstructure:"max_repeats"`
}

// DecontamParams: the evaluation set a training rollout must not touch.
type DecontamParams struct {
	InstanceIDs []string `json:"instance_ids" mapstructure:"instance_ids"`
	Repos       []string `json:"repos" mapstructure:"repos"`
	EvalSource  string   `json:"eval_source" mapstructure:"eval_source"`
	NGram       int64    `json:"ngram" mapstructure:"ngram"`
	MinOverlap  float64  `json:"min_overlap" mapstructure:"min_overlap"`
}

// DefaultParams are the recipe's parameters (the token cap and the forced
// exit reasons are the shared definitions, not copies). What a submit, a
// git-history lookup and a format hint are is decided when a rollout is
// written (schemas/actions.go: SubmitTools, the submit and git-history patterns,
// FormatHints): bare_submit, git_hacking and format_hint read the flags.
func DefaultParams() Params {
	return Params{
		Reward:   RewardParams{MinReward: 1},
		StepCap:  StepCapParams{MaxTurns: 150, ExitReasons: schemas.ForcedExits()},
		TokenCap: TokenCapParams{MaxTokens: schemas.MaxContextTokens},
		PatchHygiene: PatchHygieneParams{
			StrayRegex: `(?i)(^|/)([^/]*(repro|debug|scratch)[^/]*\.(py|sh|js|ts|go|rb)|(issue|notes?|summary|changes|fix|solution|todo|plan)[^/]*\.(md|txt|rst))$`},
		TestTampering: TestTamperingParams{
			InfraRegex:       `(^|/)(conftest\.py|sitecustomize\.py|usercustomize\.py|pytest\.ini|[^/]*\.pth)$`,
			TestRegex:        `(^|/)(tests?|testing)/|(^|/)test_[^/]*\.py$|_test\.(py|go)$`,
			ConfigRegex:      `(^|/)(setup\.cfg|tox\.ini|pyproject\.toml)$`,
			ConfigLinesRegex: `(?m)^[+-]([^+-].*)?(pytest|addopts|testpaths|python_files|python_classes|python_functions|norecursedirs|filterwarnings)`,
		},
		Loop:     LoopParams{MaxRepeats: 5},
		Decontam: DecontamParams{InstanceIDs: []string{}, Repos: []string{}, NGram: 13, MinOverlap: 0.5},
	}
}

// variable is one rule parameter as the SQL reads it.
type variable struct {
	rule, name string
	value      any
}

// variables lists the parameters of the given rules as SQL variables
// (<rule>_<param>), from the typed struct.
func (p Params) variables() []variable {
	var out []variable
	v := reflect.ValueOf(p)
	for i := range v.NumField() {
		rf := v.Type().Field(i)
		rule := strings.Split(rf.Tag.Get("mapstructure"), ",")[0]
		rv := v.Field(i)
		for j := range rv.NumField() {
			pf := rv.Type().Field(j)
			if pf.Tag.Get("sql") == "-" {
				continue
			}
			out = append(out, variable{rule, strings.Split(pf.Tag.Get("mapstructure"), ",")[0], rv.Field(j).Interface()})
		}
	}
	return out
}

// of returns one rule's parameters (for curation_drops.params).
func (p Params) of(rule string) any {
	v := reflect.ValueOf(p)
	for i := range v.NumField() {
		if strings.Split(v.Type().Field(i).Tag.Get("mapstructure"), ",")[0] == rule {
			return v.Field(i).Interface()
		}
	}
	return nil
}

var getvariable = regexp.MustCompile(`getvariable\('([a-z0-9_]+)'\)`)

// checkVariables: every getvariable a rule's SQL reads is a parameter of
// its struct (a misspelt name would read NULL and drop nothing).
func checkVariables(r Rule, p Params) error {
	have := map[string]bool{}
	for _, v := range p.variables() {
		have[v.rule+"_"+v.name] = true
	}
	for _, m := range getvariable.FindAllStringSubmatch(r.SQL, -1) {
		if !have[m[1]] || !strings.HasPrefix(m[1], r.Name+"_") {
			return fmt.Errorf("rule %s reads getvariable('%s'), which is not one of its parameters (Params.%s)", r.Name, m[1], r.Name)
		}
	}
	return nil
}
