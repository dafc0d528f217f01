//go:build demo

package buildsft

import (
	"context"
	"encoding/json"
	"flag"
	"slices"
	"strings"
	"testing"

	"github.com/swelake/swelake/internal/tokref"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/chattemplate"
)

var (
	demoLake = flag.String("lake", "", "the lake make demo built (a directory)")
	demoRL   = flag.String("rl", "", "the verl RL Parquet make demo wrote")
)

// TestConsumersOnLake (make demo runs it on the demo's lake): the latest
// SFT set, exported in every text format, replayed with each consumer's
// loading code as TestConsumersTrainAsRendered does; and the demo's verl
// RL file's prompts, rendered as verl's RLHFDataset renders them, are the
// text the rollouts started from.
func TestConsumersOnLake(t *testing.T) {
	if *demoLake == "" || *demoRL == "" {
		t.Fatal("run with -args -lake <dir> -rl <file> (make demo does)")
	}
	ctx := context.Background()
	b, err := objstore.NewLocal(*demoLake)
	if err != nil {
		t.Fatal(err)
	}
	l := lake.Open(b, lake.Options{CacheDir: t.TempDir()})
	rec, err := l.LatestRun(ctx, JobName, nil)
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := l.Table(schemas.SFTExamples.Name)
	snap, err := tb.Snapshot(ctx, rec.Outputs[schemas.SFTExamples.Name])
	if err != nil {
		t.Fatal(err)
	}
	var rows []schemas.SFTExample
	byID := map[string]schemas.SFTExample{}
	for r, err := range lake.ReadRows[schemas.SFTExample](ctx, l, snap) {
		if err != nil {
			t.Fatal(err)
		}
		if r.SetID == rec.ID {
			r.Split = "train" // one file per format
			rows = append(rows, r)
			byID[r.ExampleID] = r
		}
	}
	if len(rows) == 0 {
		t.Fatalf("set %s has no rows", rec.ID)
	}
	lc := testLocator(t)
	out := t.TempDir()
	ex := Exporter{Enc: lc.enc, Tmpl: lc.tmpl, Config: lc.cfg}
	if _, err := ex.Export(out, rec.ID, rows, []string{"openrlhf", "verl", "llamafactory", "axolotl"}); err != nil {
		t.Fatal(err)
	}
	checkConsumers(t, byID, out+"/"+rec.ID)

	// The RL file: each prompt as verl renders it is how a rollout of
	// the task began (the rollout's text up to its first assistant turn).
	lines, err := tokref.Script(ctx, "consumers.mjs", []string{"verl-rl", tokref.DefaultTokenizerDir(), *demoRL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := l.Table(schemas.Rollouts.Name)
	rs, err := rt.Snapshot(ctx, lake.Latest)
	if err != nil {
		t.Fatal(err)
	}
	opening := map[string][]string{} // task → the texts its rollouts began with
	for r, err := range lake.ReadRows[schemas.Rollout](ctx, l, rs) {
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(r.Messages, func(m schemas.Message) bool { return m.Role == "assistant" })
		if i < 0 {
			continue
		}
		chat := chattemplate.ChatOf(r, lc.cfg)
		chat.Messages, chat.AddGenerationPrompt = r.Messages[:i], true
		text, err := lc.tmpl.RenderChat(chat)
		if err != nil {
			t.Fatal(err)
		}
		opening[r.TaskID] = append(opening[r.TaskID], text)
	}
	for i, l := range lines {
		var r struct {
			Text   string `json:"text"`
			TaskID string `json:"task_id"`
			Error  string `json:"error"`
		}
		if err := json.Unmarshal(l, &r); err != nil || r.Error != "" {
			t.Fatalf("verl-rl row %d: %v %s", i, err, r.Error)
		}
		if !slices.Contains(opening[r.TaskID], r.Text) {
			t.Fatalf("verl-rl %s: the prompt verl renders (%d bytes) is not how the task's rollouts began:\n%.300s", r.TaskID, len(r.Text), r.Text)
		}
	}
	if len(lines) == 0 || !strings.HasSuffix(*demoRL, ".parquet") {
		t.Fatalf("no RL rows in %s", *demoRL)
	}
	t.Logf("demo lake: %d SFT examples through every consumer; %d verl RL prompts are the rollouts' openings", len(rows), len(lines))
}
