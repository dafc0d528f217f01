package rliterate

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/jobs/tables"
	"github.com/swelake/swelake/queries"
)

// loadCurriculum is a curriculum query: an embedded one by name, or a .sql
// file.
func loadCurriculum(q string) (queries.Named, error) {
	if strings.HasSuffix(q, ".sql") {
		text, err := os.ReadFile(q)
		if err != nil {
			return queries.Named{}, fmt.Errorf("curriculum.query: %w", err)
		}
		return queries.FromText(strings.TrimSuffix(filepath.Base(q), ".sql"), string(text)), nil
	}
	n, err := queries.Load(q)
	if err != nil {
		return n, fmt.Errorf("curriculum.query: %w", err)
	}
	return n, nil
}

// curriculum runs the loop's curriculum query over the lake as it is now
// and keeps the rows in its bands. Without a query every task is rolled
// out (Tasks nil).
func (lp *loop) curriculum(ctx context.Context, iteration int64) (curriculumStep, error) {
	cfg, env := lp.r.Config, lp.r.Env
	c := cfg.Curriculum
	if c.Query == "" {
		return curriculumStep{Name: "all", Inputs: []string{lp.st.tasks.Ref().String()}}, nil
	}
	q, err := loadCurriculum(c.Query)
	if err != nil {
		return curriculumStep{}, err
	}
	set := maps.Clone(c.Params)
	if set == nil {
		set = map[string]any{}
	}
	for _, p := range q.Params { // the loop's own, where the query asks and the config is silent
		if _, ok := set[p.Name]; !ok {
			switch p.Name {
			case "loop_id":
				set[p.Name] = lp.r.ID
			case "iteration":
				set[p.Name] = iteration
			}
		}
	}
	if _, err := q.Args(set); err != nil { // before the engine opens
		return curriculumStep{}, err
	}
	e, err := queries.Open(ctx, queries.Options{Logger: env.Logger})
	if err != nil {
		return curriculumStep{}, err
	}
	defer e.Close()
	if err := e.Attach(ctx, env.Lake, nil, tables.ParquetSchema); err != nil {
		return curriculumStep{}, err
	}
	if err := e.Seal(ctx); err != nil {
		return curriculumStep{}, err
	}
	res, err := e.Run(ctx, q, set)
	if err != nil {
		return curriculumStep{}, fmt.Errorf("query %s: %w", q.Name, err)
	}
	id, band := slices.Index(res.Columns, "task_id"), slices.Index(res.Columns, "band")
	if id < 0 || (band < 0 && len(c.Bands) > 0) {
		return curriculumStep{}, fmt.Errorf("query %s: its rows need a task_id column and (to keep bands) a band column; it has %s", q.Name, strings.Join(res.Columns, ", "))
	}
	step := curriculumStep{Tasks: []string{}}
	counts := map[string]int{}
	for _, row := range res.Rows {
		b := ""
		if band >= 0 {
			b = fmt.Sprint(row[band])
		}
		counts[b]++
		if len(c.Bands) == 0 || slices.Contains(c.Bands, b) {
			step.Tasks = append(step.Tasks, fmt.Sprint(row[id]))
		}
	}
	slices.Sort(step.Tasks)
	step.Tasks = slices.Compact(step.Tasks)
	var ps []string
	for _, k := range slices.Sorted(maps.Keys(set)) {
		ps = append(ps, fmt.Sprintf("%s=%v", k, set[k]))
	}
	step.Name = fmt.Sprintf("%s(%s)", q.Name, strings.Join(ps, ", "))
	if len(c.Bands) > 0 {
		step.Name += " bands " + strings.Join(c.Bands, ",")
	}
	for _, ref := range e.Views() {
		step.Inputs = append(step.Inputs, ref.String())
	}
	slices.Sort(step.Inputs)
	if len(step.Tasks) == 0 {
		return step, fmt.Errorf("%s selected no task (tasks per band: %s)", step.Name, stage.Counts(counts))
	}
	env.Logger.Info("rl loop: curriculum bands", "curriculum", step.Name, "bands", stage.Counts(counts))
	return step, nil
}
