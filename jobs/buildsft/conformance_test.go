//go:build conformance

package buildsft

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/internal/realsamples"
	"github.com/swelake/swelake/internal/tokref"
	"github.com/swelake/swelake/jobs/ingest/formats"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/schemas"
)

// TestConformanceSWEMasterPretokenized: SWE-Master's own OpenRLHF SFT demo
// row (../shared/realdata/sft/openrlhf-input-1.jsonl: 154 messages, two
// system prompts, 76 assistant turns), ingested and built into a set, comes
// out of `--export openrlhf-pretokenized` with the prompt, response,
// prompt_ids_len and response_ranges that SWE-Master's pre-tokenise script
// gives it (deps/npm/consumers.mjs openrlhf-process, ported from the script),
// and SWE-Master's training loader (openrlhf-item, ported from its
// sft_dataset.py) reading the exported row trains exactly the tokens
// swelake's loss mask trains.
func TestConformanceSWEMasterPretokenized(t *testing.T) {
	ctx := context.Background()
	src := realsamples.Path(t, "sft", "openrlhf-input-1.jsonl")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	format, err := formats.Lookup(formats.Rollouts, "openrlhf")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := format.Decode(&formats.Record{File: src, Line: 1, Data: line}, formats.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := laketest.New(t)
	laketest.Append(t, l, schemas.Rollouts, rows.Rollouts)
	cfg := config(t)
	cfg.Export.Exports = []string{"openrlhf-pretokenized", "pretokenized"}
	sum, err := Job.Execute(ctx, &stage.Env{Lake: l}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Examples != 1 {
		t.Fatalf("examples: %+v", sum)
	}
	exportedFile := filepath.Join(cfg.Export.OutDir, sum.SetID, "openrlhf-pretokenized", "train.jsonl")
	exported, err := os.ReadFile(exportedFile)
	if err != nil {
		t.Fatal(err)
	}
	var got SWEMasterRow
	if err := json.Unmarshal(exported, &got); err != nil {
		t.Fatal(err)
	}

	out, err := tokref.Script(ctx, "consumers.mjs", []string{"openrlhf-process", tokref.DefaultTokenizerDir(), src}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Prompt         string   `json:"prompt"`
		Response       string   `json:"response"`
		PromptIDsLen   int      `json:"prompt_ids_len"`
		ResponseRanges [][2]int `json:"response_ranges"`
		Error          string   `json:"error"`
	}
	if err := json.Unmarshal(out[0], &want); err != nil || want.Error != "" {
		t.Fatalf("reference: %v %s", err, want.Error)
	}
	if got.Prompt != want.Prompt || got.Response != want.Response {
		t.Fatalf("prompt/response differ from SWE-Master's: %d/%d bytes vs %d/%d", len(got.Prompt), len(got.Response), len(want.Prompt), len(want.Response))
	}
	if got.PromptIDsLen != want.PromptIDsLen || !slices.Equal(got.ResponseRanges, want.ResponseRanges) {
		t.Fatalf("prompt_ids_len %d, %d ranges; SWE-Master's script: %d, %d ranges\n got %v\nwant %v", got.PromptIDsLen, len(got.ResponseRanges), want.PromptIDsLen, len(want.ResponseRanges), got.ResponseRanges, want.ResponseRanges)
	}
	t.Logf("SWE-Master demo row: prompt_ids_len %d, %d response ranges (first %v, last %v), equal to SWE-Master's pre-tokenise script",
		got.PromptIDsLen, len(got.ResponseRanges), got.ResponseRanges[0], got.ResponseRanges[len(got.ResponseRanges)-1])

	// What SWE-Master's trainer makes of the exported row.
	loaded, err := tokref.Script(ctx, "consumers.mjs", []string{"openrlhf-item", tokref.DefaultTokenizerDir(), exportedFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var train struct {
		IDs     []int32 `json:"ids"`
		Trained []int   `json:"trained"`
		Error   string  `json:"error"`
	}
	if err := json.Unmarshal(loaded[0], &train); err != nil || train.Error != "" {
		t.Fatalf("loader: %v %s", err, train.Error)
	}
	ex := exampleRows(t, l, sum)[0]
	// The loader strips the text's final newline (after the last <|im_end|>).
	ids := ex.InputIDs[:len(train.IDs)]
	if len(train.IDs) != len(ex.InputIDs)-1 || !slices.Equal(train.IDs, ids) {
		t.Fatalf("the trainer's ids (%d) are not swelake's (%d) less the final newline", len(train.IDs), len(ex.InputIDs))
	}
	var trained []int
	for i, m := range ex.LossMask[:len(ids)] {
		if m == 1 {
			trained = append(trained, i)
		}
	}
	if !slices.Equal(train.Trained, trained) {
		t.Fatalf("the trainer computes loss on %d tokens, swelake's mask has %d", len(train.Trained), len(trained))
	}
	t.Logf("SWE-Master's loader: %d tokens, loss on %d, equal to swelake's ids and mask", len(train.IDs), len(train.Trained))
}
