// Package curate is the job behind `swelake run curate`: the recipe's rule
// filters, Best-of-N difficulty statistics, dedup and decontamination, all as
// SQL over a pinned rollouts snapshot (rules/*.sql beside it). It writes three
// tables: curation (one decision per rollout: kept, or which rules rejected
// it and why), curation_drops (per-rule counts) and task_stats. No source
// row is ever deleted: a curation is a selection over rollouts@v.
package curate

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"io"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/jobs/tokcache"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/queries"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/chattemplate"
	"github.com/swelake/swelake/trainer/tokenizer"
)

// JobName is recorded in the provenance of every commit of this job.
const JobName = "curate"

// DefaultRules are the recipe's rule filters, in the order they are reported.
func DefaultRules() []string {
	return []string{"reward", "format_hint", "step_cap", "token_cap", "bare_submit", "git_hacking", "patch_hygiene", "test_tampering", "loop"}
}

// Band is a curriculum band of Best-of-N pass rates: Min ≤ p < Max (Max 1
// includes p = 1 only when MaxInclusive).
type Band struct {
	Name         string  `json:"name" mapstructure:"name"`
	Min          float64 `json:"min" mapstructure:"min"`
	Max          float64 `json:"max" mapstructure:"max"`
	MaxInclusive bool    `json:"max_inclusive" mapstructure:"max_inclusive"`
}

// Difficulty configures the Best-of-N filter.
type Difficulty struct {
	// Mixed keeps only tasks with mixed results, 0 < p < 1 (the recipe's
	// difficulty filter; default on).
	Mixed *bool `json:"mixed" mapstructure:"mixed"`
	// DropAbove drops tasks with p > DropAbove (0: off).
	DropAbove float64 `json:"drop_above" mapstructure:"drop_above"`
	// Bands label tasks; KeepBands, when set, keeps only those bands.
	Bands     []Band   `json:"bands" mapstructure:"bands"`
	KeepBands []string `json:"keep_bands" mapstructure:"keep_bands"`
}

// Config is the job's typed configuration.
type Config struct {
	// Input is the rollouts snapshot ("rollouts" or "rollouts@12").
	Input string `json:"input" mapstructure:"input"`
	// Rules to apply (default DefaultRules(); add "dedup", "decontam").
	Rules []string `json:"rules" mapstructure:"rules"`
	// Params are the rules' parameters (default DefaultParams()), typed:
	// params.loop.max_repeat is an error naming the key.
	Params     Params     `json:"params" mapstructure:"params"`
	Difficulty Difficulty `json:"difficulty" mapstructure:"difficulty"`
	// TokenizerDir holds the model's tokenizer.json and tokenizer_config.json
	// (token counts of rollouts whose source did not record them); its
	// identity, not its path, keys the curation.
	TokenizerDir string `json:"tokenizer_dir,omitempty" mapstructure:"tokenizer_dir"`
}

// RuleCount is one rule's line of the summary.
type RuleCount struct {
	Rule        string `json:"rule"`
	Dropped     int64  `json:"dropped"`      // rows the rule rejects on its own
	DroppedOnly int64  `json:"dropped_only"` // rows no other rule rejects
}

// Summary is what `swelake run curate --json` prints.
type Summary struct {
	stage.Outcome
	CurationID string      `json:"curation_id"`
	Input      int64       `json:"input"`
	Kept       int64       `json:"kept"`
	Rules      []RuleCount `json:"rules"`
	Tasks      int64       `json:"tasks"`       // task_stats rows
	MixedTasks int64       `json:"mixed_tasks"` // 0 < p < 1
	Stripped   int64       `json:"stripped"`    // patches patch_hygiene stripped (strip on) instead of dropping
	// TokenCache counts the rollouts without a recorded token count whose
	// ids came from the token cache (hits) or were tokenised now (misses).
	TokenCache *tokcache.Stats `json:"token_cache,omitempty"`
	InputRef   string          `json:"input_ref"`
}

// ErrUnknownRule: a configured rule has no SQL file.
var ErrUnknownRule = errors.New("unknown curation rule")

// Job is the curate stage: one run writes curation, curation_drops and
// task_stats, visible together through its run record.
var Job = &stage.Def[Config, Summary]{
	Info: stage.Info{Name: JobName,
		Short: "Rule filters, Best-of-N difficulty, dedup and decontamination over a rollouts snapshot",
		Long: `Applies the curation rules (SQL files in jobs/curate/rules: reward,
format_hint, step_cap, token_cap, bare_submit, git_hacking, patch_hygiene,
test_tampering, loop; optionally dedup and decontam) and the Best-of-N
difficulty filter to a pinned rollouts snapshot. Writes the decisions to
curation (one row per rollout: kept, or the rules that reject it and why),
the per-rule counts to curation_drops and the per-task pass rates to
task_stats, all three visible together or not at all. Source rows are never
deleted. --json prints {"curation_id", "input", "kept", "rules": [{"rule",
"dropped", "dropped_only"}], ...} where dropped counts the rows each rule
rejects on its own.`,
		Example: `  swelake run curate
  swelake run curate --input rollouts@12 --json
  swelake run curate --set curate.rules='["reward","loop"]' --set curate.params.loop.max_repeats=3
  swelake sql "SELECT rule, dropped, dropped_only FROM latest_curation_drops ORDER BY dropped DESC"`,
		Inputs:  []string{schemas.Rollouts.Name},
		Outputs: []string{schemas.Curations.Name, schemas.CurationDrops.Name, schemas.TaskStats.Name},
		Flags:   []stage.Flag{{Name: "input", Key: "input", Usage: "rollouts snapshot to curate (table or table@version)"}},
	},
	Defaults: func() Config { return Config{Input: schemas.Rollouts.Name, Params: DefaultParams()} },
	Validate: validate,
	Plan:     plan,
	Run:      run,
	Print:    print,
}

// state is what plan hands to run.
type state struct {
	snap  *lake.Snapshot
	rules []Rule
	tok   string // the tokenizer directory ("" : no token_cap)
}

// validate fills the defaults and checks the rules: each is an embedded
// SQL file whose variables are parameters of its struct.
func validate(cfg *Config) error {
	cfg.Input = cmp.Or(cfg.Input, schemas.Rollouts.Name)
	if cfg.Rules == nil {
		cfg.Rules = DefaultRules()
	}
	if reflect.ValueOf(cfg.Params).IsZero() { // a Go caller that set none
		cfg.Params = DefaultParams()
	}
	for _, name := range cfg.Rules {
		r, err := RuleNamed(name)
		if err != nil {
			return err
		}
		if err := checkVariables(r, cfg.Params); err != nil {
			return err
		}
	}
	return cfg.Params.check()
}

func plan(ctx context.Context, env *stage.Env, cfg *Config) (stage.Plan, error) {
	st := &state{}
	for _, name := range cfg.Rules {
		r, _ := RuleNamed(name)
		st.rules = append(st.rules, r)
	}
	var err error
	if st.snap, err = tables.Pin(ctx, env.Lake, cfg.Input, schemas.Rollouts.Name); err != nil {
		return stage.Plan{}, fmt.Errorf("curate: %w", err)
	}
	p := stage.Plan{Inputs: []*lake.Snapshot{st.snap}, IDPrefix: "cur", ByContent: true, State: st}
	// The tokenizer is loaded only if some rollout has no recorded token
	// count; its identity, not its path, keys the curation either way.
	if dir := env.Tokenizer(cfg.TokenizerDir); slices.Contains(cfg.Rules, "token_cap") {
		if dir == "" {
			return p, errors.New("curate: the token_cap rule needs a tokenizer: set tokenizer_dir (make deps installs Qwen2.5's)")
		}
		id, err := tokenizer.IdentityOf(dir)
		if err != nil {
			return p, fmt.Errorf("curate: %w", err)
		}
		st.tok, p.Identity = dir, []string{"tokenizer:" + id}
	}
	cfg.TokenizerDir = ""
	return p, nil
}

func run(ctx context.Context, r *stage.Run[Config]) (Summary, error) {
	st, cfg, env := r.Plan.State.(*state), r.Config, r.Env
	sum := Summary{CurationID: r.ID, InputRef: st.snap.Ref().String()}
	eng, err := queries.Open(ctx, queries.Options{Logger: env.Logger})
	if err != nil {
		return sum, err
	}
	defer eng.Close()
	if sum.TokenCache, err = prepare(ctx, env, eng, st, cfg); err != nil {
		return sum, err
	}
	// Every rule's rejections go into one table, inside DuckDB: the rules'
	// results never cross into Go row by row, only the final decisions do.
	counts, err := runRules(ctx, env, eng, st.rules)
	if err != nil {
		return sum, err
	}
	stripped := map[string]stripResult{}
	if cfg.Params.PatchHygiene.Strip && slices.Contains(cfg.Rules, "patch_hygiene") {
		if stripped, err = stripStrays(ctx, eng, cfg.Params.PatchHygiene.StrayRegex); err != nil {
			return sum, err
		}
		for i := range counts {
			if counts[i].Rule == "patch_hygiene" {
				counts[i].Dropped -= int64(len(stripped))
			}
		}
		sum.Stripped = int64(len(stripped))
	}
	t0 := env.Clock()
	stats, err := taskStats(ctx, eng, r.ID, cfg.Difficulty)
	if err != nil {
		return sum, err
	}
	env.Logger.Debug("curation task stats", "tasks", len(stats), "elapsed", env.Clock().Sub(t0))
	statOf := map[[2]string]schemas.TaskStat{}
	for _, s := range stats {
		statOf[[2]string{s.TaskID, s.Policy}] = s
		if s.Mixed {
			sum.MixedTasks++
		}
	}
	sum.Tasks = int64(len(stats))
	t0 = env.Clock()
	decisions, err := decide(ctx, eng, r.ID, st.rules, statOf, cfg.Difficulty)
	if err != nil {
		return sum, err
	}
	env.Logger.Debug("curation decisions", "rows", len(decisions), "elapsed", env.Clock().Sub(t0))
	drops := tally(&sum, decisions, stripped, counts, cfg)
	stage.Emit(r, schemas.Curations, decisions)
	stage.Emit(r, schemas.CurationDrops, drops)
	stage.Emit(r, schemas.TaskStats, stats)
	env.Logger.Info("curated", "curation_id", r.ID, "input", sum.Input, "kept", sum.Kept)
	return sum, nil
}

// prepare attaches the pinned rollouts, counts the tokens the sources did
// not record, sets the rules' parameters and builds the tables they read.
func prepare(ctx context.Context, env *stage.Env, eng *queries.Engine, st *state, cfg Config) (*tokcache.Stats, error) {
	t0 := env.Clock()
	defer func() { env.Logger.Debug("curation prepared", "elapsed", env.Clock().Sub(t0)) }()
	if err := eng.Attach(ctx, env.Lake, map[string]int64{schemas.Rollouts.Name: st.snap.Version}, tables.ParquetSchema); err != nil {
		return nil, err
	}
	// Only rollouts whose source recorded no token count are rendered and
	// tokenised.
	var missing int64
	var tok *tokenizer.Tokenizer
	if st.tok != "" {
		if err := eng.DB().QueryRowContext(ctx, "SELECT count(*) FROM rollouts WHERE tokens IS NULL").Scan(&missing); err != nil {
			return nil, fmt.Errorf("curate: count rollouts without tokens: %w", err)
		}
	}
	if missing > 0 {
		var err error
		if tok, err = tokenizer.Load(st.tok); err != nil {
			return nil, fmt.Errorf("curate: %w", err)
		}
	}
	tokens, cacheStats, err := countTokens(ctx, env, st, tok)
	if err != nil {
		return nil, err
	}
	if err := loadTokens(ctx, eng, tokens); err != nil {
		return nil, err
	}
	if err := setParams(ctx, eng.DB(), cfg.Params); err != nil {
		return nil, err
	}
	return cacheStats, materialize(ctx, env, eng)
}

// tally fills the summary's counts from the decisions and returns the
// curation_drops rows.
func tally(sum *Summary, decisions []schemas.Curation, stripped map[string]stripResult, counts []RuleCount, cfg Config) []schemas.CurationDrop {
	only := map[string]int64{}
	diffCount := RuleCount{Rule: "difficulty"}
	for i := range decisions {
		d := &decisions[i]
		if st, ok := stripped[d.RolloutID]; ok {
			d.StrayFiles, d.Patch = st.files, st.patch
		}
		sum.Input++
		if d.Kept {
			sum.Kept++
		}
		if slices.Contains(d.DroppedBy, "difficulty") {
			diffCount.Dropped++
		}
		if len(d.DroppedBy) == 1 {
			only[d.DroppedBy[0]]++
		}
	}
	for i := range counts {
		counts[i].DroppedOnly = only[counts[i].Rule]
	}
	diffCount.DroppedOnly = only["difficulty"]
	sum.Rules = append(counts, diffCount)
	drops := make([]schemas.CurationDrop, 0, len(sum.Rules))
	for _, c := range sum.Rules {
		p, _ := json.Marshal(cfg.Params.of(c.Rule))
		if c.Rule == "difficulty" {
			p, _ = json.Marshal(cfg.Difficulty)
		}
		drops = append(drops, schemas.CurationDrop{CurationID: sum.CurationID, Rule: c.Rule, Params: string(p),
			Dropped: c.Dropped, DroppedOnly: c.DroppedOnly, Input: sum.Input, TopReasons: topReasons(decisions, c.Rule, 5)})
	}
	return drops
}

func print(w io.Writer, sum *Summary) error {
	state := "committed"
	if sum.Skipped {
		state = "already committed"
	}
	fmt.Fprintf(w, "curation %s of %s (%s): input %d, kept %d; %d tasks, %d with mixed results\n",
		sum.CurationID, sum.InputRef, state, sum.Input, sum.Kept, sum.Tasks, sum.MixedTasks)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "rule\tdropped\tdropped only by it")
	for _, rc := range sum.Rules {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", rc.Rule, rc.Dropped, rc.DroppedOnly)
	}
	return tw.Flush()
}

// Latest is the latest complete curation in the lake (lake.ErrNoRun when
// there is none), or the one whose id is id.
func Latest(ctx context.Context, l *lake.Lake, id string) (*lake.RunRecord, error) {
	return l.LatestRun(ctx, JobName, func(r *lake.RunRecord) bool { return id == "" || r.ID == id })
}

// materialize builds the table every rule reads: cur_input (the rollouts'
// small columns with their token counts; rollout_tokens must exist).
func materialize(ctx context.Context, env *stage.Env, eng *queries.Engine) error {
	for _, block := range []string{"input"} {
		q, err := buildingBlock(block)
		if err != nil {
			return err
		}
		t0 := env.Clock()
		if _, err := eng.DB().ExecContext(ctx, q); err != nil {
			return fmt.Errorf("curate: %s.sql: %w", block, err)
		}
		env.Logger.Debug("curation sql", "block", block, "elapsed", env.Clock().Sub(t0))
	}
	return nil
}

// setParams sets every rule parameter as a DuckDB variable.
func setParams(ctx context.Context, db *sql.DB, params Params) error {
	for _, v := range params.variables() {
		lit, err := queries.Literal(v.value)
		if err != nil {
			return fmt.Errorf("curate: parameter %s.%s: %w", v.rule, v.name, err)
		}
		if _, err := db.ExecContext(ctx, fmt.Sprintf("SET VARIABLE %s_%s = %s", v.rule, v.name, lit)); err != nil {
			return fmt.Errorf("curate: parameter %s.%s: %w", v.rule, v.name, err)
		}
	}
	return nil
}

// countTokens returns the rendered token count of every rollout whose source
// did not record one (tok nil: none are counted). The ids go through the
// token cache, where build-sft and build-rl find them again.
func countTokens(ctx context.Context, env *stage.Env, st *state, tok *tokenizer.Tokenizer) (map[string]int64, *tokcache.Stats, error) {
	out := map[string]int64{}
	if tok == nil {
		return out, nil, nil
	}
	tmpl, err := chattemplate.Parse(tok.Config().ChatTemplate)
	if err != nil {
		return nil, nil, fmt.Errorf("curate: chat template of %s: %w", st.tok, err)
	}
	cache, err := tokcache.Open(env.Lake.CacheDir(), tok)
	if err != nil {
		return nil, nil, fmt.Errorf("curate: %w", err)
	}
	defer cache.Close()
	type res struct {
		id string
		n  int64
	}
	err = lake.MapRows(ctx, env.Lake, st.snap,
		func(r *schemas.Rollout) bool { return r.Tokens == nil },
		func(r schemas.Rollout) (res, error) {
			text, err := tmpl.RenderChat(chattemplate.ChatOf(r, tok.Config()))
			if err != nil {
				return res{}, fmt.Errorf("curate: render rollout %s: %w", r.RolloutID, err)
			}
			return res{r.RolloutID, int64(len(cache.Encode(text)))}, nil
		},
		func(r res) { out[r.id] = r.n })
	if err != nil {
		return nil, nil, err
	}
	stats := cache.Finish(env.Logger)
	return out, &stats, nil
}

func loadTokens(ctx context.Context, eng *queries.Engine, tokens map[string]int64) error {
	if _, err := eng.DB().ExecContext(ctx, "CREATE OR REPLACE TEMP TABLE rollout_tokens (rollout_id VARCHAR, num_tokens BIGINT)"); err != nil {
		return fmt.Errorf("curate: token table: %w", err)
	}
	if len(tokens) == 0 {
		return nil
	}
	conn, err := eng.DB().Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		ddc, ok := dc.(*duckdb.Conn)
		if !ok {
			return fmt.Errorf("curate: not a DuckDB connection: %T", dc)
		}
		app, err := duckdb.NewAppender(ddc, "temp", "main", "rollout_tokens")
		if err != nil {
			return fmt.Errorf("curate: token appender: %w", err)
		}
		for id, n := range tokens {
			if err := app.AppendRow(id, n); err != nil {
				app.Close()
				return fmt.Errorf("curate: token appender: %w", err)
			}
		}
		return app.Close()
	})
}

// Bucket is the histogram bucket of a pass rate (schemas.PassRateBucket).
func Bucket(p float64) string { return schemas.PassRateBucket(p) }

func bandOf(p float64, bands []Band) string {
	for _, b := range bands {
		if p >= b.Min && (p < b.Max || (b.MaxInclusive && p <= b.Max)) {
			return b.Name
		}
	}
	return ""
}

func taskStats(ctx context.Context, eng *queries.Engine, id string, d Difficulty) ([]schemas.TaskStat, error) {
	q, err := buildingBlock("task_stats")
	if err != nil {
		return nil, err
	}
	rows, err := eng.DB().QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("curate: task_stats.sql: %w", err)
	}
	defer rows.Close()
	var out []schemas.TaskStat
	for rows.Next() {
		s := schemas.TaskStat{CurationID: id}
		if err := rows.Scan(&s.TaskID, &s.Policy, &s.N, &s.NResolved, &s.PassRate); err != nil {
			return nil, fmt.Errorf("curate: task_stats.sql: %w", err)
		}
		s.Bucket = Bucket(s.PassRate)
		s.Mixed = s.PassRate > 0 && s.PassRate < 1
		s.Band = bandOf(s.PassRate, d.Bands)
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b schemas.TaskStat) int {
		return cmp.Or(cmp.Compare(a.Policy, b.Policy), cmp.Compare(a.TaskID, b.TaskID))
	})
	return out, rows.Err()
}

// difficultyReason says why the task's difficulty drops a rollout, or "".
func difficultyReason(s schemas.TaskStat, known bool, d Difficulty) string {
	if !known {
		return ""
	}
	mixed := d.Mixed == nil || *d.Mixed
	switch {
	case mixed && !s.Mixed:
		return fmt.Sprintf("task pass rate %.3g (%d/%d) is not mixed", s.PassRate, s.NResolved, s.N)
	case d.DropAbove > 0 && s.PassRate > d.DropAbove:
		return fmt.Sprintf("task pass rate %.3g > %.3g", s.PassRate, d.DropAbove)
	case len(d.KeepBands) > 0 && !slices.Contains(d.KeepBands, s.Band):
		return fmt.Sprintf("task pass rate %.3g is in band %q, not in %v", s.PassRate, s.Band, d.KeepBands)
	}
	return ""
}

// runRules fills the rejections table (rule, rank, rollout, reason: one
// row per rule that rejects a rollout) and counts each rule's rows.
func runRules(ctx context.Context, env *stage.Env, eng *queries.Engine, rules []Rule) ([]RuleCount, error) {
	db := eng.DB()
	if _, err := db.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE rejections (rule VARCHAR, rank INTEGER, rollout_id VARCHAR, reason VARCHAR)`); err != nil {
		return nil, fmt.Errorf("curate: rejections table: %w", err)
	}
	counts := make([]RuleCount, len(rules))
	for i, r := range rules {
		t0 := env.Clock()
		body := strings.TrimRight(strings.TrimSpace(r.SQL), ";")
		name, err := queries.Literal(r.Name)
		if err != nil {
			return nil, err
		}
		// One reason per rollout and rule: the smallest, for a stable output.
		q := fmt.Sprintf("INSERT INTO rejections SELECT %s, %d, rollout_id, min(reason) FROM (\n%s\n) GROUP BY rollout_id", name, i, body)
		res, err := db.ExecContext(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("curate: rule %s: %w", r.Name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("curate: rule %s: %w", r.Name, err)
		}
		counts[i] = RuleCount{Rule: r.Name, Dropped: n}
		env.Logger.Debug("curation rule", "rule", r.Name, "dropped", n, "elapsed", env.Clock().Sub(t0))
	}
	return counts, nil
}

// decide reads one decision per input rollout, in rollout order: the rules
// that reject it (in configured order) with their reasons, then the task's
// difficulty.
func decide(ctx context.Context, eng *queries.Engine, id string, rules []Rule, statOf map[[2]string]schemas.TaskStat, d Difficulty) ([]schemas.Curation, error) {
	// One column per rule (its reason, or NULL): no ordered aggregates.
	pivot, sel := make([]string, len(rules)), make([]string, len(rules))
	for i := range rules {
		pivot[i] = fmt.Sprintf("max(reason) FILTER (WHERE rank = %d) AS r%d", i, i)
		sel[i] = fmt.Sprintf(", r.r%d", i)
	}
	q := "SELECT i.rollout_id, i.task_id, i.run_id, i.policy, coalesce(i.num_tokens, -1)" + strings.Join(sel, "") +
		" FROM cur_input i"
	if len(rules) > 0 {
		q += " LEFT JOIN (SELECT rollout_id, " + strings.Join(pivot, ", ") + " FROM rejections GROUP BY rollout_id) r USING (rollout_id)"
	}
	q += " ORDER BY i.rollout_id"
	rows, err := eng.DB().QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("curate: decisions: %w", err)
	}
	defer rows.Close()
	var out []schemas.Curation
	reasons := make([]sql.NullString, len(rules))
	dest := make([]any, 5+len(rules))
	for i := range reasons {
		dest[5+i] = &reasons[i]
	}
	for rows.Next() {
		c := schemas.Curation{CurationID: id, DroppedBy: []string{}, Reasons: []string{}}
		dest[0], dest[1], dest[2], dest[3], dest[4] = &c.RolloutID, &c.TaskID, &c.RunID, &c.Policy, &c.NumTokens
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("curate: decisions: %w", err)
		}
		for i, r := range reasons {
			if r.Valid {
				c.DroppedBy = append(c.DroppedBy, rules[i].Name)
				c.Reasons = append(c.Reasons, r.String)
			}
		}
		s, known := statOf[[2]string{c.TaskID, c.Policy}]
		if known {
			p := s.PassRate
			c.PassRate = &p
			c.Band = s.Band
		}
		if reason := difficultyReason(s, known, d); reason != "" {
			c.DroppedBy = append(c.DroppedBy, "difficulty")
			c.Reasons = append(c.Reasons, reason)
		}
		c.Kept = len(c.DroppedBy) == 0
		out = append(out, c)
	}
	return out, rows.Err()
}

func topReasons(ds []schemas.Curation, rule string, n int) []string {
	counts := map[string]int{}
	for _, d := range ds {
		for i, r := range d.DroppedBy {
			if r == rule {
				counts[generalize(d.Reasons[i])]++
			}
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	if len(keys) > n {
		keys = keys[:n]
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%d× %s", counts[k], k)
	}
	return out
}

// generalize folds numbers out of a reason so that similar reasons group.
func generalize(s string) string {
	var b strings.Builder
	prevDigit := false
	for _, r := range s {
		if r >= '0' && r <= '9' {
			if !prevDigit {
				b.WriteByte('N')
			}
			prevDigit = true
			continue
		}
		prevDigit = false
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) > 160 {
		out = out[:160] + "…"
	}
	return out
}

type stripResult struct {
	files []string
	patch string
}

// stripStrays removes the stray new files from the patches patch_hygiene
// rejected, and withdraws its rejection: with strip on, the rule flags and
// cleans instead of dropping.
func stripStrays(ctx context.Context, eng *queries.Engine, pattern any) (map[string]stripResult, error) {
	re, err := regexp.Compile(fmt.Sprint(pattern))
	if err != nil {
		return nil, fmt.Errorf("curate: patch_hygiene stray_regex: %w", err)
	}
	rows, err := eng.DB().QueryContext(ctx, `SELECT i.rollout_id, i.patch FROM rejections r JOIN rollouts i USING (rollout_id)
		WHERE r.rule = 'patch_hygiene'`)
	if err != nil {
		return nil, fmt.Errorf("curate: patch_hygiene strip: %w", err)
	}
	out := map[string]stripResult{}
	var ids []string
	for rows.Next() {
		var id, patch string
		if err := rows.Scan(&id, &patch); err != nil {
			rows.Close()
			return nil, fmt.Errorf("curate: patch_hygiene strip: %w", err)
		}
		files, clean := StripNewFiles(patch, re)
		if len(files) == 0 {
			continue
		}
		out[id] = stripResult{files: files, patch: clean}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("curate: patch_hygiene strip: %w", err)
	}
	if len(ids) == 0 {
		return out, nil
	}
	lit, err := queries.Literal(ids)
	if err != nil {
		return nil, err
	}
	if _, err := eng.DB().ExecContext(ctx, "DELETE FROM rejections WHERE rule = 'patch_hygiene' AND list_contains("+lit+", rollout_id)"); err != nil {
		return nil, fmt.Errorf("curate: patch_hygiene strip: %w", err)
	}
	return out, nil
}

// StripNewFiles removes from a unified git diff the sections that create a
// file whose path matches re; it returns the removed paths and the rest of
// the diff, byte for byte.
func StripNewFiles(patch string, re *regexp.Regexp) ([]string, string) {
	var sections []string
	for rest := patch; rest != ""; {
		next := strings.Index(rest[1:], "\ndiff --git ")
		if next < 0 {
			sections = append(sections, rest)
			break
		}
		sections = append(sections, rest[:next+2])
		rest = rest[next+2:]
	}
	var removed []string
	var b strings.Builder
	for _, sec := range sections {
		header, _, _ := strings.Cut(sec, "\n")
		if path, ok := strings.CutPrefix(header, "diff --git a/"); ok && strings.Contains(sec, "\nnew file mode") {
			if _, bpath, found := strings.Cut(path, " b/"); found && re.MatchString(bpath) {
				removed = append(removed, bpath)
				continue
			}
		}
		b.WriteString(sec)
	}
	return removed, b.String()
}
