package buildsft

import (
	"errors"
	"fmt"

	"github.com/swelake/swelake/internal/parquetfile"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/sft"
)

// IgnoreIndex is the label of a token without loss (PyTorch's
// CrossEntropyLoss ignore_index, which Hugging Face trainers use).
const IgnoreIndex = -100

// PretokenizedRow is a row of the pretokenized export, in the columns
// Hugging Face trainers take as already tokenised: input_ids,
// attention_mask, labels (IgnoreIndex where the loss is masked), and
// position_ids restarting at 0 for each example of a packed row. TRL's
// collator also reads assistant_masks (it rebuilds labels from input_ids
// in some versions) and seq_lengths (packed rows).
type PretokenizedRow struct {
	InputIDs       []int32  `parquet:"input_ids,list"`
	AttentionMask  []int32  `parquet:"attention_mask,list"`
	Labels         []int32  `parquet:"labels,list"`
	PositionIDs    []int32  `parquet:"position_ids,list"`
	AssistantMasks []int32  `parquet:"assistant_masks,list"`
	SeqLengths     []int32  `parquet:"seq_lengths,list"`
	ExampleIDs     []string `parquet:"example_ids,list"`
}

func writePretokenized(path string, rows []schemas.SFTExample, packLength int) (int, error) {
	seqs, err := sequences(rows, packLength)
	if err != nil {
		return 0, err
	}
	out := make([]PretokenizedRow, len(seqs))
	for i, s := range seqs {
		r := PretokenizedRow{InputIDs: s.InputIDs, AttentionMask: make([]int32, len(s.InputIDs)), Labels: make([]int32, len(s.InputIDs)),
			PositionIDs: s.PositionIDs, AssistantMasks: s.LossMask, SeqLengths: s.SeqLens, ExampleIDs: s.ExampleIDs}
		for j, id := range s.InputIDs {
			r.AttentionMask[j] = 1
			r.Labels[j] = IgnoreIndex
			if s.LossMask[j] == 1 {
				r.Labels[j] = id
			}
		}
		out[i] = r
	}
	return len(out), parquetfile.Write(path, out)
}

// sequences is the rows as token sequences: one per example, or packed
// (first-fit decreasing) into sequences of packLength tokens.
func sequences(rows []schemas.SFTExample, packLength int) ([]TokenisedRow, error) {
	var out []TokenisedRow
	if packLength <= 0 {
		for _, r := range rows {
			pos := make([]int32, len(r.InputIDs))
			for i := range pos {
				pos[i] = int32(i)
			}
			out = append(out, TokenisedRow{InputIDs: r.InputIDs, LossMask: r.LossMask, PositionIDs: pos,
				SeqLens: []int32{int32(len(r.InputIDs))}, ExampleIDs: []string{r.ExampleID}, RolloutIDs: r.RolloutIDs})
		}
		return out, nil
	}
	ids := make([]string, len(rows))
	exs := make(map[string]sft.Example, len(rows))
	rollouts := make(map[string][]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ExampleID
		exs[r.ExampleID] = sft.Example{InputIDs: r.InputIDs, LossMask: r.LossMask}
		rollouts[r.ExampleID] = r.RolloutIDs
	}
	bins, err := sft.Pack(ids, exs, packLength)
	if err != nil {
		return nil, fmt.Errorf("%w (set max_tokens ≤ pack_length)", err)
	}
	for _, b := range bins {
		row := TokenisedRow{InputIDs: b.InputIDs, LossMask: b.LossMask, PositionIDs: b.PositionIDs, SeqLens: b.SeqLens, ExampleIDs: b.ExampleIDs}
		for _, id := range b.ExampleIDs {
			row.RolloutIDs = append(row.RolloutIDs, rollouts[id]...)
		}
		out = append(out, row)
	}
	return out, nil
}

// SWEMasterRow is a row of SWE-Master's pre-tokenised OpenRLHF SFT input
// (RUCAIBox/SWE-Master, OpenRLHF_SFT/scripts_swe_master/
// sft_data_pre_tokenize.py at bc8904f, read back by its SFTDataset):
// prompt is the conversation up to the last assistant turn with the
// generation prompt, response that turn, prompt_ids_len the prompt's
// tokens, response_ranges the trained assistant turns as inclusive token
// spans [start, end] of the whole text.
type SWEMasterRow struct {
	Input          []oaMessage `json:"input"`
	Prompt         string      `json:"prompt"`
	Response       string      `json:"response"`
	PromptIDsLen   int         `json:"prompt_ids_len"`
	ResponseRanges [][2]int    `json:"response_ranges"`
	ExampleID      string      `json:"example_id"`
	RolloutIDs     []string    `json:"rollout_ids"`
}

// SWEMasterRowOf is an example in SWE-Master's pre-tokenised layout, from
// its own ids; it also returns the messages dropped after the last
// assistant turn (the format's prompt + response must end on one).
func (e Exporter) SWEMasterRowOf(r schemas.SFTExample) (SWEMasterRow, int, error) {
	if r.Truncated {
		return SWEMasterRow{}, 0, errors.New("truncated, and this format holds whole conversations (set build_sft.length_policy=drop or a larger max_tokens)")
	}
	loc, err := locator{enc: e.Enc, tmpl: e.Tmpl, cfg: e.Config}.locate(r)
	if err != nil {
		return SWEMasterRow{}, 0, err
	}
	last := loc.Last()
	kept := r
	kept.Messages = r.Messages[:last.Message+1]
	row := SWEMasterRow{Input: openAIMessages(kept, false), Prompt: r.Text[:last.ByteStart], Response: r.Text[last.ByteStart:last.ByteEnd],
		PromptIDsLen: last.Start, ResponseRanges: [][2]int{}, ExampleID: r.ExampleID, RolloutIDs: r.RolloutIDs}
	for _, t := range loc.Turns {
		if t.Trained {
			row.ResponseRanges = append(row.ResponseRanges, [2]int{t.Start, t.End - 1})
		}
	}
	return row, loc.Trailing, nil
}
