// Package report is `swelake report <out-dir>`: the analysis queries run
// over pinned snapshots of the lake, rendered as one self-contained
// index.html (tables, and charts inlined as SVG) with every chart also
// written as PNG and SVG under charts/.
package report

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"html/template"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/queries"
	"github.com/swelake/swelake/schemas"
	"gonum.org/v1/plot"
)

// Config is what the report reads and where it writes.
type Config struct {
	Out   string   `json:"out" mapstructure:"out"`     // the directory index.html goes to
	Title string   `json:"title" mapstructure:"title"` // the page title (default "swelake report")
	At    []string `json:"at" mapstructure:"at"`       // tables pinned to a version (table@version); others at their latest
}

// Job is the report stage: its output is a directory outside the lake, so
// it runs every time; its record names the snapshots it read.
var Job = &stage.Def[Config, Summary]{
	Info: stage.Info{Name: "report",
		Short: "Write the analysis report: index.html with tables and charts (also as PNG and SVG)",
		Long: `Runs the analysis queries (swelake sql --list) over pinned snapshots of the
lake and writes <out-dir>/index.html — self-contained: styles and charts
inlined, no network — with every chart also as charts/<name>.png and .svg:

  pass_at_k             pass@k per policy, unbiased estimator, 95% bootstrap CI
  tts_at_k              TTS@k (the verifier's pick) against pass@k
  difficulty_histogram  Best-of-N pass rate per task (the bimodal shape)
  turns_distribution    turns per rollout by exit reason
  drop_counts           rows each curation rule drops on its own
  rl_iterations         the RL loop's resolve rate (95% Wilson CI) and mean
                        reward per iteration (swelake rl iterate)
  data_scaling          resolve rate against training samples — SFT sets
                        and the RL loop's samples — each fitted a + b·ln n

and tables of rollouts per run, turns and tokens by exit reason, tasks per
band of every curriculum, and the lineage of every table read (job, run
key, config hash, inputs). A chart
with no data yet says which command produces it.`,
		Example: `  swelake report report/ && xdg-open report/index.html
  swelake report report-v3/ --at rollouts@12 --at verifier_scores@3 --json`,
		Inputs:  []string{"rollouts", "evaluations", "task_stats", "curation_drops", "verifier_scores", "sft_examples", "checkpoints", "rl_iterations"},
		ArgsKey: "out",
		Flags: []stage.Flag{
			{Name: "at", Key: "at", Usage: "pin a table to a version (table@version), repeatable"},
			{Name: "title", Key: "title", Usage: "the page title (default \"swelake report\")"},
		},
	},
	Defaults: func() Config { return Config{Out: "report"} },
	Validate: func(c *Config) error {
		if c.Out == "" {
			return errors.New("no output directory")
		}
		_, err := stage.Pins(c.At)
		return err
	},
	Plan: func(ctx context.Context, env *stage.Env, c *Config) (stage.Plan, error) {
		return stage.Plan{Identity: append([]string{"out:" + c.Out}, c.At...)}, nil
	},
	AlwaysRun: true,
	Run: func(ctx context.Context, r *stage.Run[Config]) (Summary, error) {
		pins, _ := stage.Pins(r.Config.At)
		return render(ctx, r.Env, r.Config, pins)
	},
	Print: func(w io.Writer, sum *Summary) error {
		fmt.Fprintf(w, "report %s: %d charts (%s)\n", sum.Index, len(sum.Charts), strings.Join(sum.Charts, ", "))
		if len(sum.Missing) > 0 {
			fmt.Fprintf(w, "  no data yet for: %s\n", strings.Join(sum.Missing, ", "))
		}
		return nil
	},
}

// Summary is what the report holds.
type Summary struct {
	stage.Outcome
	Index   string   `json:"index"`
	Charts  []string `json:"charts"`  // drawn, as charts/<name>.{png,svg}
	Missing []string `json:"missing"` // charts with no data yet
	Tables  []string `json:"tables"`  // the queries shown
	Inputs  []string `json:"inputs"`  // the snapshots read
}

// section is one part of the page.
type section struct {
	ID, Title, Note string
	Chart           string        // chart name ("" : none)
	SVG             template.HTML // the chart, inlined
	Empty           string        // why the chart is missing
	Query           string        // the query behind the table
	Columns         []string
	Rows            [][]string
	params          map[string]any // the query's parameters (nil: its defaults)
}

//go:embed index.html.tmpl
var pageTemplate string

// render renders the report.
func render(ctx context.Context, env *stage.Env, cfg Config, pins map[string]int64) (Summary, error) {
	var sum Summary
	l := env.Lake
	chartsDir := filepath.Join(cfg.Out, "charts")
	if err := os.MkdirAll(chartsDir, 0o755); err != nil {
		return sum, fmt.Errorf("report: %w", err)
	}
	e, err := queries.Open(ctx, queries.Options{Logger: env.Logger})
	if err != nil {
		return sum, err
	}
	defer e.Close()
	if err := e.Attach(ctx, l, pins, tables.ParquetSchema); err != nil {
		return sum, fmt.Errorf("report: %w", err)
	}
	if err := e.AttachCommits(ctx, l, pins); err != nil {
		return sum, fmt.Errorf("report: %w", err)
	}
	for _, ref := range e.Views() {
		sum.Inputs = append(sum.Inputs, ref.String())
	}
	slices.Sort(sum.Inputs)
	run := func(name string, params map[string]any) (*queries.Result, string, error) {
		q, err := queries.Load(name)
		if err != nil {
			return nil, "", err
		}
		res, err := e.Run(ctx, q, params)
		if err != nil {
			return nil, "", fmt.Errorf("report: query %s: %w", name, err)
		}
		sum.Tables = append(sum.Tables, name)
		return res, q.Description, nil
	}
	var sections []section
	add := func(s section, res *queries.Result, chart func(*queries.Result) ([]byte, error)) error {
		s.Columns, s.Rows = res.Columns, cells(res)
		switch {
		case s.Chart == "":
		case len(res.Rows) == 0:
			sum.Missing = append(sum.Missing, s.Chart)
		default:
			svg, err := chart(res)
			if err != nil {
				return err
			}
			s.SVG = template.HTML(stripXMLHeader(svg))
			sum.Charts = append(sum.Charts, s.Chart)
		}
		sections = append(sections, s)
		return nil
	}
	specs := reportSpecs(chartsDir)
	for _, sp := range specs {
		res, desc, err := run(sp.query, sp.s.params)
		if err != nil {
			return sum, err
		}
		sp.s.Note, sp.s.Query = desc, sp.query
		if err := add(sp.s, res, sp.chart); err != nil {
			return sum, err
		}
	}
	cur, err := curricula(ctx, e, &sum)
	if err != nil {
		return sum, err
	}
	lineage, err := lineageSection(ctx, e)
	if err != nil {
		return sum, err
	}
	sections = append(sections, cur, lineage)
	sum.Index = filepath.Join(cfg.Out, "index.html")
	return sum, writePage(sum.Index, map[string]any{"Title": cmp.Or(cfg.Title, "swelake report"), "Lake": l.URL(), "Inputs": sum.Inputs,
		"Sections": sections, "Generated": env.Clock().UTC().Format("2006-01-02 15:04 UTC"), "Version": env.CodeVersion})
}

// spec is a section of the report: its query and chart.
type spec struct {
	query string
	s     section
	chart func(*queries.Result) ([]byte, error)
}

// reportSpecs are the report's sections, in order.
func reportSpecs(chartsDir string) []spec {
	return []spec{
		{"rollout_summary", section{ID: "rollouts", Title: "Rollouts by run and policy"}, nil},
		{"pass_at_k", section{ID: "pass-at-k", Title: "pass@k", Chart: "pass_at_k", Empty: "no graded rollouts yet (swelake run rollout, or ingest trajectories with outcomes)"},
			func(r *queries.Result) ([]byte, error) { return passAtK(r, chartsDir) }},
		{"tts_at_k", section{ID: "tts-at-k", Title: "Test-time scaling: TTS@k of each verify run against pass@k", Chart: "tts_at_k", Empty: "no verifier scores yet (swelake run verify)",
			params: map[string]any{"runs": "all"}},
			func(r *queries.Result) ([]byte, error) { return ttsAtK(r, chartsDir) }},
		{"difficulty_histogram", section{ID: "difficulty", Title: "Best-of-N difficulty", Chart: "difficulty_histogram", Empty: "no task statistics yet (swelake run curate)"},
			func(r *queries.Result) ([]byte, error) { return difficulty(r, chartsDir) }},
		{"turns_histogram", section{ID: "turns", Title: "Turns per rollout", Chart: "turns_distribution", Empty: "no rollouts yet"},
			func(r *queries.Result) ([]byte, error) { return turns(r, chartsDir) }},
		{"turns_by_exit", section{ID: "exit", Title: "Turns and tokens by exit reason"}, nil},
		{"drop_counts", section{ID: "drops", Title: "Curation: what each rule drops", Chart: "drop_counts", Empty: "no curation yet (swelake run curate)"},
			func(r *queries.Result) ([]byte, error) { return drops(r, chartsDir) }},
		{"self_play", section{ID: "self-play", Title: "Self-play: solve rate on self-made tasks and on the others", Chart: "self_play",
			Empty: "no graded rollouts of tasks yet"},
			func(r *queries.Result) ([]byte, error) { return selfPlay(r, chartsDir) }},
		{"rl_iterations", section{ID: "rl", Title: "The RL loop, iteration by iteration", Chart: "rl_iterations",
			Empty: "no RL loop yet (swelake rl iterate)"},
			func(r *queries.Result) ([]byte, error) { return rlIterations(r, chartsDir) }},
		{"data_scaling", section{ID: "scaling", Title: "Data scaling: resolve rate against training samples", Chart: "data_scaling",
			Empty: "no checkpoints with outcomes yet (swelake rl iterate adds its checkpoints; for SFT checkpoints, swelake lake append checkpoints: model, sft_set_id; then evaluate each checkpoint)"},
			func(r *queries.Result) ([]byte, error) { return scaling(r, chartsDir) }},
	}
}

// curricula is the table of every curriculum query's bands and how many
// tasks each holds, with the queries' default parameters.
func curricula(ctx context.Context, e *queries.Engine, sum *Summary) (section, error) {
	s := section{ID: "curricula", Title: "Curricula: tasks per band", Columns: []string{"curriculum", "band", "tasks"},
		Note: "Each curriculum_* query with its default parameters (swelake sql --query <name> --param …; swelake rl iterate selects " +
			"each iteration's tasks with one, keeping curriculum.bands): pass-rate bands (SWE-Master, DeepSWE), interaction-turn bands " +
			"(SWE-Lego), NEBIUS' stage-2 selection."}
	all, err := queries.List()
	if err != nil {
		return s, err
	}
	for _, q := range all {
		if !strings.HasPrefix(q.Name, "curriculum_") {
			continue
		}
		res, err := e.Run(ctx, q, nil)
		if err != nil {
			return s, fmt.Errorf("report: query %s: %w", q.Name, err)
		}
		sum.Tables = append(sum.Tables, q.Name)
		band := column(res, "band")
		counts := map[string]int{}
		for _, row := range res.Rows {
			counts[cell(row[band])]++
		}
		if len(counts) == 0 {
			s.Rows = append(s.Rows, []string{q.Name, "(no tasks)", "0"})
		}
		for _, b := range slices.Sorted(maps.Keys(counts)) {
			s.Rows = append(s.Rows, []string{q.Name, b, fmt.Sprint(counts[b])})
		}
	}
	return s, nil
}

// lineageSection is the table of the last commit of every table read.
func lineageSection(ctx context.Context, e *queries.Engine) (section, error) {
	lineage, err := e.Query(ctx, `SELECT table_name, max(version) AS version, arg_max(job, version) AS job, arg_max(run_key, version) AS run_key,
		arg_max(config_hash, version) AS config_hash, arg_max(inputs, version) AS inputs, arg_max(code_version, version) AS code_version
		FROM lake_commits GROUP BY table_name ORDER BY table_name`)
	if err != nil {
		return section{}, fmt.Errorf("report: lineage: %w", err)
	}
	return section{ID: "lineage", Title: "Lineage: the snapshots this report read",
		Note:    "The last commit of every table read: its job, run key, config hash and input snapshots. swelake sql --query lineage traces each SFT example to its rollouts, tasks, curation and configs.",
		Columns: lineage.Columns, Rows: cells(lineage)}, nil
}

// writePage renders index.html.
func writePage(path string, data map[string]any) error {
	tmpl, err := template.New("report").Parse(pageTemplate)
	if err != nil {
		return err
	}
	var page bytes.Buffer
	if err := tmpl.Execute(&page, data); err != nil {
		return fmt.Errorf("report: render: %w", err)
	}
	if err := os.WriteFile(path, page.Bytes(), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

func stripXMLHeader(svg []byte) []byte {
	if i := bytes.Index(svg, []byte("<svg")); i > 0 {
		return svg[i:]
	}
	return svg
}

// cells renders a result's values for HTML.
func cells(res *queries.Result) [][]string {
	out := make([][]string, len(res.Rows))
	for i, row := range res.Rows {
		out[i] = make([]string, len(row))
		for j, v := range row {
			out[i][j] = cell(v)
		}
	}
	return out
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "—"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		return x
	case []byte:
		return string(x)
	case fmt.Stringer:
		return x.String()
	case []any, map[string]any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

// column returns a column's index in a result.
func column(res *queries.Result, name string) int { return slices.Index(res.Columns, name) }

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	case int32:
		return float64(x)
	case uint64:
		return float64(x)
	}
	return math.NaN()
}

// grouped splits a result's rows by a column, in first-seen order.
func grouped(res *queries.Result, col string) ([]string, map[string][][]any) {
	i := column(res, col)
	var order []string
	groups := map[string][][]any{}
	for _, row := range res.Rows {
		k := cell(row[i])
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], row)
	}
	return order, groups
}

func passAtK(res *queries.Result, dir string) ([]byte, error) {
	order, groups := grouped(res, "policy")
	k, p, lo, hi := column(res, "k"), column(res, "pass_at_k"), column(res, "ci_low"), column(res, "ci_high")
	var ss []series
	for _, pol := range order {
		s := series{name: pol}
		for _, row := range groups[pol] {
			s.xs, s.ys = append(s.xs, num(row[k])), append(s.ys, num(row[p]))
			s.lo, s.hi = append(s.lo, num(row[lo])), append(s.hi, num(row[hi]))
		}
		ss = append(ss, s)
	}
	pl, err := lineChart("pass@k (95% bootstrap CI)", "k", "pass@k", ss, true)
	if err != nil {
		return nil, err
	}
	return save(pl, dir, "pass_at_k")
}

func ttsAtK(res *queries.Result, dir string) ([]byte, error) {
	order, groups := grouped(res, "verify_id")
	k, tts, pass, oracle, ver := column(res, "k"), column(res, "tts_at_k"), column(res, "pass_at_k"), column(res, "oracle_at_k"), column(res, "verifier")
	if len(order) == 1 {
		rows := groups[order[0]]
		t := series{name: "TTS@k, " + cell(rows[0][ver]) + "'s pick"}
		p := series{name: "pass@k", dashed: true}
		o := series{name: "oracle@k, same candidates", dashed: true}
		for _, row := range rows {
			t.xs, t.ys = append(t.xs, num(row[k])), append(t.ys, num(row[tts]))
			p.xs, p.ys = append(p.xs, num(row[k])), append(p.ys, num(row[pass]))
			o.xs, o.ys = append(o.xs, num(row[k])), append(o.ys, num(row[oracle]))
		}
		pl, err := lineChart("TTS@k (verifier's pick) vs pass@k — "+order[0], "k (candidates per task)", "resolved", []series{t, p, o}, true)
		if err != nil {
			return nil, err
		}
		return save(pl, dir, "tts_at_k")
	}
	// Several verify runs (one per mode, say): a TTS@k line each, and
	// pass@k and oracle@k once, from the run with the most candidates per
	// task (pass@k depends on the candidates, not on the verifier).
	widest := order[0]
	for _, id := range order {
		if len(groups[id]) > len(groups[widest]) {
			widest = id
		}
	}
	var ss []series
	for _, id := range order {
		rows := groups[id]
		t := series{name: fmt.Sprintf("TTS@k, %s (%s)", cell(rows[0][ver]), id)}
		for _, row := range rows {
			t.xs, t.ys = append(t.xs, num(row[k])), append(t.ys, num(row[tts]))
		}
		ss = append(ss, t)
	}
	p := series{name: fmt.Sprintf("pass@k (%s's candidates)", widest), dashed: true}
	o := series{name: "oracle@k, same candidates", dashed: true}
	for _, row := range groups[widest] {
		p.xs, p.ys = append(p.xs, num(row[k])), append(p.ys, num(row[pass]))
		o.xs, o.ys = append(o.xs, num(row[k])), append(o.ys, num(row[oracle]))
	}
	pl, err := lineChart("TTS@k of each verifier vs pass@k", "k (candidates per task)", "resolved", append(ss, p, o), true)
	if err != nil {
		return nil, err
	}
	return save(pl, dir, "tts_at_k")
}

// bucketOrder sorts pass-rate buckets by their lower bound: "0" < "(0,0.1)"
// < "[0.1,0.2)" < … < "1".
func bucketOrder(a, b string) int {
	lo := func(s string) float64 {
		t := strings.TrimLeft(s, "[(")
		t, _, _ = strings.Cut(t, ",")
		v, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return math.Inf(1)
		}
		if strings.HasPrefix(s, "(") { // open at its lower bound: after the point bucket
			v = math.Nextafter(v, 2)
		}
		return v
	}
	return cmp.Or(cmp.Compare(lo(a), lo(b)), strings.Compare(a, b))
}

func difficulty(res *queries.Result, dir string) ([]byte, error) {
	policies, groups := grouped(res, "policy")
	b, n := column(res, "bucket"), column(res, "tasks")
	labels := schemas.PassRateBuckets() // every bucket, empty ones too: a proportional axis
	for _, row := range res.Rows {
		if !slices.Contains(labels, cell(row[b])) { // another scheme's bucket
			labels = append(labels, cell(row[b]))
		}
	}
	slices.SortStableFunc(labels, bucketOrder)
	var values [][]float64
	for _, pol := range policies {
		vals := make([]float64, len(labels))
		for _, row := range groups[pol] {
			vals[slices.Index(labels, cell(row[b]))] = num(row[n])
		}
		values = append(values, vals)
	}
	pl, err := barChart("Best-of-N pass rate per task", "pass-rate bucket", "tasks", labels, policies, values, false)
	if err != nil {
		return nil, err
	}
	return save(pl, dir, "difficulty_histogram")
}

// turnsBin is the width of turns_histogram.sql's bins.
const turnsBin = 5

func turns(res *queries.Result, dir string) ([]byte, error) {
	reasons, groups := grouped(res, "exit_reason")
	from, n := column(res, "turns_from"), column(res, "rollouts")
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, row := range res.Rows {
		lo, hi = math.Min(lo, num(row[from])), math.Max(hi, num(row[from]))
	}
	var bins []float64 // every bin from the first to the last, empty ones too
	for b := lo; b <= hi; b += turnsBin {
		bins = append(bins, b)
	}
	labels := make([]string, len(bins))
	for i, b := range bins {
		labels[i] = fmt.Sprintf("%g–%g", b, b+turnsBin-1)
	}
	var values [][]float64
	for _, r := range reasons {
		vals := make([]float64, len(bins))
		for _, row := range groups[r] {
			vals[int((num(row[from])-lo)/turnsBin)] = num(row[n])
		}
		values = append(values, vals)
	}
	pl, err := barChart("Turns per rollout, by exit reason", "turns", "rollouts", labels, reasons, values, false)
	if err != nil {
		return nil, err
	}
	return save(pl, dir, "turns_distribution")
}

func drops(res *queries.Result, dir string) ([]byte, error) {
	// The curation run with the largest input.
	id, in, rule, dropped := column(res, "curation_id"), column(res, "input"), column(res, "rule"), column(res, "dropped")
	best, bestIn := "", -1.0
	for _, row := range res.Rows {
		if num(row[in]) > bestIn {
			best, bestIn = cell(row[id]), num(row[in])
		}
	}
	var labels []string
	var vals []float64
	for _, row := range slices.Backward(res.Rows) { // largest at the top
		if cell(row[id]) == best {
			labels, vals = append(labels, cell(row[rule])), append(vals, num(row[dropped]))
		}
	}
	pl, err := barChart(fmt.Sprintf("Rollouts each rule rejects (curation %s of %g rollouts; a rollout may be rejected by several)", best, bestIn), "rollouts dropped", "", labels, nil, [][]float64{vals}, true)
	if err != nil {
		return nil, err
	}
	return save(pl, dir, "drop_counts")
}

func scaling(res *queries.Result, dir string) ([]byte, error) {
	order, groups := grouped(res, "kind")
	n, rate, a, b, model := column(res, "n_samples"), column(res, "resolve_rate"), column(res, "a"), column(res, "b"), column(res, "model")
	var ss []scalingSeries
	for _, kind := range order {
		s := scalingSeries{kind: kind}
		for _, row := range groups[kind] {
			s.ns, s.rates, s.labels = append(s.ns, num(row[n])), append(s.rates, num(row[rate])), append(s.labels, cell(row[model]))
		}
		s.a, s.b = num(groups[kind][0][a]), num(groups[kind][0][b])
		if math.IsNaN(s.a) || math.IsNaN(s.b) { // one point: no fit
			s.a, s.b, s.noFit = s.rates[0], 0, true
		}
		ss = append(ss, s)
	}
	pl, err := scalingChart("Resolve rate against training samples (SFT set; RL samples of the loop so far)", ss)
	if err != nil {
		return nil, err
	}
	return save(pl, dir, "data_scaling")
}

// rlIterations charts the RL loop's resolve rate per iteration (95%
// Wilson interval) and the batch's mean shaped reward, for the latest loop.
func rlIterations(res *queries.Result, dir string) ([]byte, error) {
	it, rate, graded, resolved, reward, loop := column(res, "iteration"), column(res, "resolve_rate"), column(res, "graded"),
		column(res, "resolved"), column(res, "reward_mean"), column(res, "loop_id")
	rs := series{name: "resolve rate of the iteration's checkpoint (95% Wilson CI)"}
	rw := series{name: "mean shaped reward of the batch", dashed: true}
	for _, row := range res.Rows {
		x := num(row[it])
		lo, hi := wilson(num(row[resolved]), num(row[graded]))
		rs.xs, rs.ys, rs.lo, rs.hi = append(rs.xs, x), append(rs.ys, num(row[rate])), append(rs.lo, lo), append(rs.hi, hi)
		rw.xs, rw.ys = append(rw.xs, x), append(rw.ys, num(row[reward]))
	}
	pl, err := lineChart(fmt.Sprintf("RL loop %s: per iteration", cell(res.Rows[0][loop])), "iteration", "rate", []series{rs, rw}, true)
	if err != nil {
		return nil, err
	}
	return save(pl, dir, "rl_iterations")
}

// selfPlay charts each policy's solve rate by the origin of the tasks:
// those it wrote itself, those other policies wrote, procedural synthetic
// tasks and real ones (bars; an origin a policy has no rollouts of is 0 —
// the table beside says so by its absence).
func selfPlay(res *queries.Result, dir string) ([]byte, error) {
	pol, origin, rate, n := column(res, "policy"), column(res, "origin"), column(res, "solve_rate"), column(res, "rollouts")
	var policies, origins []string
	for _, row := range res.Rows {
		if p := cell(row[pol]); !slices.Contains(policies, p) {
			policies = append(policies, p)
		}
	}
	for _, o := range []string{"self-made", "other policy", "procedural", "real"} {
		if slices.ContainsFunc(res.Rows, func(row []any) bool { return cell(row[origin]) == o }) {
			origins = append(origins, o)
		}
	}
	values := make([][]float64, len(origins))
	total := 0.0
	for gi, o := range origins {
		values[gi] = make([]float64, len(policies))
		for _, row := range res.Rows {
			if cell(row[origin]) == o {
				values[gi][slices.Index(policies, cell(row[pol]))] = num(row[rate])
				total += num(row[n])
			}
		}
	}
	pl, err := barChart(fmt.Sprintf("Solve rate by who wrote the task (%g graded rollouts)", total), "policy (checkpoint)", "solve rate", policies, origins, values, false)
	if err != nil {
		return nil, err
	}
	pl.p.Y.Tick.Marker = plot.DefaultTicks{}
	pl.p.Y.Min, pl.p.Y.Max = 0, 1
	return save(pl, dir, "self_play")
}

// wilson is the 95% Wilson score interval of k successes in n trials.
func wilson(k, n float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	const z = 1.959963984540054
	p := k / n
	d := 1 + z*z/n
	c := (p + z*z/(2*n)) / d
	h := z * math.Sqrt(p*(1-p)/n+z*z/(4*n*n)) / d
	return math.Max(0, c-h), math.Min(1, c+h)
}

// Charts is every chart a full report draws.
func Charts() []string {
	return []string{"pass_at_k", "tts_at_k", "difficulty_histogram", "turns_distribution", "drop_counts", "self_play", "rl_iterations", "data_scaling"}
}
