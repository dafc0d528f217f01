// Package analysis is the analysis stage: every embedded analysis query
// (swelake sql --list) run over the lake as it is, each result written as
// JSON and CSV for notebooks and dashboards.
package analysis

import (
	"bytes"
	"context"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/queries"
)

// Config says where the results go and what they read.
type Config struct {
	Out string   `json:"out" mapstructure:"out"` // directory of <query>.json and <query>.csv
	At  []string `json:"at" mapstructure:"at"`   // tables pinned to a version (table@version); others at their latest
}

// Summary names what was written.
type Summary struct {
	stage.Outcome
	Out  string         `json:"out"`
	Rows map[string]int `json:"rows"` // query → rows
}

// Job is the analysis stage. Its output is files outside the lake, so it
// runs every time.
var Job = &stage.Def[Config, Summary]{
	Info: stage.Info{Name: "analysis",
		Short: "Run every analysis query (pass@k, TTS@k, difficulty, drops, scaling, lineage) into JSON and CSV files",
		Long: `Runs the embedded analysis queries (swelake sql --list) over the lake as it
is (or with tables pinned by --at) and writes each result to
<out>/<query>.json and <out>/<query>.csv.`,
		Example: `  swelake run analysis --out analysis/
  swelake run analysis --out analysis-v3/ --at rollouts@12 --json`,
		Inputs: []string{"rollouts", "evaluations", "task_stats", "curation_drops", "verifier_scores", "sft_examples", "checkpoints", "rl_iterations"},
		Flags: []stage.Flag{
			{Name: "out", Key: "out", Usage: "directory of the results (default analysis)"},
			{Name: "at", Key: "at", Usage: "pin a table to a version (table@version), repeatable"},
		},
	},
	Defaults: func() Config { return Config{Out: "analysis"} },
	Validate: func(c *Config) error {
		_, err := stage.Pins(c.At)
		return err
	},
	Plan: func(ctx context.Context, env *stage.Env, c *Config) (stage.Plan, error) {
		return stage.Plan{Identity: append([]string{"out:" + c.Out}, c.At...)}, nil
	},
	AlwaysRun: true,
	Run:       run,
	Print: func(w io.Writer, s *Summary) error {
		names := slices.Sorted(func(yield func(string) bool) {
			for k := range s.Rows {
				if !yield(k) {
					return
				}
			}
		})
		_, err := fmt.Fprintf(w, "analysis: %d queries written to %s (%s)\n", len(s.Rows), s.Out, strings.Join(names, ", "))
		return err
	},
}

func run(ctx context.Context, r *stage.Run[Config]) (Summary, error) {
	sum := Summary{Out: r.Config.Out, Rows: map[string]int{}}
	if err := os.MkdirAll(sum.Out, 0o755); err != nil {
		return sum, fmt.Errorf("analysis: %w", err)
	}
	pins, _ := stage.Pins(r.Config.At)
	eng, err := queries.Open(ctx, queries.Options{Logger: r.Env.Logger})
	if err != nil {
		return sum, err
	}
	defer eng.Close()
	if err := eng.Attach(ctx, r.Env.Lake, pins, tables.ParquetSchema); err != nil {
		return sum, err
	}
	if err := eng.AttachCommits(ctx, r.Env.Lake, pins); err != nil {
		return sum, err
	}
	all, err := queries.List()
	if err != nil {
		return sum, err
	}
	for _, q := range all {
		res, err := eng.Run(ctx, q, nil)
		if err != nil {
			return sum, fmt.Errorf("analysis %s: %w", q.Name, err)
		}
		var js, cs bytes.Buffer
		if err := res.WriteJSON(&js); err != nil {
			return sum, err
		}
		if err := res.WriteCSV(&cs); err != nil {
			return sum, err
		}
		for ext, data := range map[string][]byte{".json": js.Bytes(), ".csv": cs.Bytes()} {
			if err := os.WriteFile(filepath.Join(sum.Out, q.Name+ext), data, 0o644); err != nil {
				return sum, fmt.Errorf("analysis: %w", err)
			}
		}
		sum.Rows[q.Name] = len(res.Rows)
	}
	return sum, nil
}
