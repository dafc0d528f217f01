package curate

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/internal/tokref"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// TestRules runs each rule on its own data-driven file,
// testdata/rules/<rule>.txt (Pebble's datadriven format): input rows, the
// parameters, and the decision for every rollout. Commands:
//
//	rollouts          one rollout per line, JSON (the rollouts table's json names)
//	tasks             one task per line, JSON
//	curate [k=v ...]  run the file's rule alone with parameters k=v (JSON
//	                  values, else strings): one line per rollout, "id: kept"
//	                  or "id: <the rule's reason>"
//
// Rewrite the expected output with go test ./jobs/curate -run TestRules -rewrite.
func TestRules(t *testing.T) {
	files, _ := filepath.Glob("testdata/rules/*.txt")
	rules, _ := Rules()
	for _, r := range rules {
		if !slices.Contains(files, filepath.Join("testdata", "rules", r.Name+".txt")) {
			t.Errorf("rule %s has no data-driven test file testdata/rules/%s.txt", r.Name, r.Name)
		}
	}
	for _, path := range files {
		rule := strings.TrimSuffix(filepath.Base(path), ".txt")
		t.Run(rule, func(t *testing.T) {
			var rollouts []schemas.Rollout
			var tasks []schemas.Task
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				switch d.Cmd {
				case "rollouts":
					rollouts = decodeLines[schemas.Rollout](t, d)
					return ""
				case "tasks":
					tasks = decodeLines[schemas.Task](t, d)
					return ""
				case "curate":
					return decisions(t, rule, rollouts, tasks, d.CmdArgs)
				}
				d.Fatalf(t, "unknown command %s", d.Cmd)
				return ""
			})
		})
	}
}

func decodeLines[T any](t *testing.T, d *datadriven.TestData) []T {
	var out []T
	for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var row T
		dec := json.NewDecoder(bytes.NewReader([]byte(line)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&row); err != nil {
			d.Fatalf(t, "%s: %v", line, err)
		}
		out = append(out, row)
	}
	return out
}

// decisions curates the rows with one rule and renders its decisions.
func decisions(t *testing.T, rule string, rollouts []schemas.Rollout, tasks []schemas.Task, args []datadriven.CmdArg) string {
	cfg := Job.Defaults()
	mixed := false
	cfg.Rules, cfg.Difficulty.Mixed = []string{rule}, &mixed
	params := map[string]any{}
	for _, a := range args {
		var v any = a.Vals // key=(a, b): a list
		if len(a.Vals) == 1 && json.Unmarshal([]byte(a.Vals[0]), &v) != nil {
			v = a.Vals[0] // not JSON: a string
		}
		params[a.Key] = v
	}
	if err := stage.Decode(map[string]any{"params": map[string]any{rule: params}}, &cfg); err != nil {
		t.Fatalf("parameters %v: %v", args, err)
	}
	if rule == "token_cap" {
		cfg.TokenizerDir = tokref.DefaultTokenizerDir()
	}
	l := laketest.New(t)
	for i := range rollouts {
		rollouts[i].RunID = cmp.Or(rollouts[i].RunID, "run")
		if rollouts[i].ContentHash == "" {
			rollouts[i].ContentHash = "h-" + rollouts[i].RolloutID
		}
	}
	laketest.Append(t, l, schemas.Rollouts, rollouts)
	if len(tasks) > 0 {
		laketest.Append(t, l, schemas.Tasks, tasks)
	}
	sum, err := Job.Execute(context.Background(), &stage.Env{Lake: l}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := l.Table(schemas.Curations.Name)
	s, err := ct.Snapshot(context.Background(), sum.Outputs[schemas.Curations.Name])
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for c, err := range lake.ReadRows[schemas.Curation](context.Background(), l, s) {
		if err != nil {
			t.Fatal(err)
		}
		line := c.RolloutID + ": kept"
		for i, by := range c.DroppedBy {
			if by == rule {
				line = c.RolloutID + ": " + c.Reasons[i]
			}
		}
		lines = append(lines, line)
	}
	slices.Sort(lines)
	return fmt.Sprintln(strings.Join(lines, "\n"))
}
