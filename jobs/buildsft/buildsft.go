// Package buildsft is the job behind `swelake run build-sft`: the kept
// rollouts of a curation (or any rollouts snapshot) rendered with the
// model's own chat template, tokenised exactly, loss-masked, length-capped,
// split and written to sft_examples, then exported for the trainers.
package buildsft

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/swelake/swelake/jobs"
	"github.com/swelake/swelake/jobs/curate"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/chattemplate"
	"github.com/swelake/swelake/trainer/sft"
	"github.com/swelake/swelake/trainer/tokcache"
	"github.com/swelake/swelake/trainer/tokenizer"
)

// JobName is recorded in the provenance of every commit of this job.
const JobName = "build-sft"

// Length policies.
const (
	LengthDrop     = "drop"
	LengthTruncate = "truncate"
)

// Config is the job's typed configuration.
type Config struct {
	// Input: "" (the latest curation's kept rollouts), "curation@v"
	// (that snapshot's latest curation, or CurationID), or a rollouts
	// snapshot ("rollouts", "rollouts@12": every row as it is).
	Input      string `json:"input" mapstructure:"input"`
	CurationID string `json:"curation_id" mapstructure:"curation_id"`
	// TokenizerDir holds tokenizer.json and tokenizer_config.json.
	TokenizerDir   string   `json:"-" mapstructure:"tokenizer_dir"`
	Mask           string   `json:"mask" mapstructure:"mask"` // assistant (default) or last_turn
	MaskErrorTurns bool     `json:"mask_error_turns" mapstructure:"mask_error_turns"`
	ErrorMarkers   []string `json:"error_markers" mapstructure:"error_markers"`
	MaxTokens      int      `json:"max_tokens" mapstructure:"max_tokens"`       // default 81,920
	LengthPolicy   string   `json:"length_policy" mapstructure:"length_policy"` // drop (default) or truncate
	Seed           uint64   `json:"seed" mapstructure:"seed"`
	ValidationFrac float64  `json:"validation_frac" mapstructure:"validation_frac"` // default 0.05; negative: none
	// PackLength packs the tokenised export into sequences of this many
	// tokens (0: one example per row).
	PackLength int `json:"-" mapstructure:"pack_length"`
	// Exports to write into OutDir/<set_id>/ (see Formats()).
	Exports []string `json:"-" mapstructure:"exports"`
	OutDir  string   `json:"-" mapstructure:"out_dir"`

	jobs.Runtime `json:"-" mapstructure:"-"`
}

// Summary is what the job did.
type Summary struct {
	SetID           string         `json:"set_id"`
	Input           string         `json:"input"`
	CurationID      string         `json:"curation_id,omitempty"`
	Rollouts        int            `json:"rollouts"`
	Examples        int            `json:"examples"`
	Train           int            `json:"train"`
	Validation      int            `json:"validation"`
	Dropped         map[string]int `json:"dropped"` // reason → rollouts not turned into examples
	Truncated       int            `json:"truncated"`
	Tokens          int64          `json:"tokens"`
	LossTokens      int64          `json:"loss_tokens"`
	Straddling      int            `json:"straddling_tokens"`
	PackedSeqs      int            `json:"packed_sequences,omitempty"`
	Version         int64          `json:"version"`
	Skipped         bool           `json:"skipped"`
	Exports         []string       `json:"exports,omitempty"` // files written
	TokenizerID     string         `json:"tokenizer"`
	TokensPerSecond float64        `json:"tokens_per_second"`
	// TokenCache counts the rendered chats whose ids came from the token
	// cache (hits) and those tokenised by this run (misses).
	TokenCache tokcache.Stats `json:"token_cache"`
}

func (c *Config) defaults() {
	c.Runtime = c.Runtime.WithDefaults()
	if c.MaxTokens <= 0 {
		c.MaxTokens = 81920
	}
	if c.LengthPolicy == "" {
		c.LengthPolicy = LengthDrop
	}
	if c.Mask == "" {
		c.Mask = sft.MaskAssistant
	}
	if c.ValidationFrac == 0 {
		c.ValidationFrac = 0.05
	}
	if c.ValidationFrac < 0 {
		c.ValidationFrac = 0
	}
}

// Validate checks the config before any I/O.
func (c Config) Validate() error {
	if c.TokenizerDir == "" {
		return errors.New("build-sft: no tokenizer directory (make deps installs Qwen2.5's; or --tokenizer <dir>)")
	}
	if c.LengthPolicy != "" && c.LengthPolicy != LengthDrop && c.LengthPolicy != LengthTruncate {
		return fmt.Errorf("build-sft: length_policy %q: drop or truncate", c.LengthPolicy)
	}
	if c.Mask != "" && c.Mask != sft.MaskAssistant && c.Mask != sft.MaskLastTurn {
		return fmt.Errorf("build-sft: mask %q: %s or %s", c.Mask, sft.MaskAssistant, sft.MaskLastTurn)
	}
	for _, e := range c.Exports {
		if !slices.Contains(Formats(), e) {
			return fmt.Errorf("build-sft: export %q: one of %s", e, strings.Join(Formats(), ", "))
		}
	}
	if len(c.Exports) > 0 && c.OutDir == "" {
		return errors.New("build-sft: exports need an output directory (--out)")
	}
	if c.PackLength < 0 || (c.PackLength > 0 && c.PackLength < 16) {
		return fmt.Errorf("build-sft: pack_length %d: 0 (no packing) or a sequence length", c.PackLength)
	}
	return nil
}

// source resolves the input to a rollouts snapshot and the rollouts to keep
// (nil: all).
func source(ctx context.Context, l *lake.Lake, cfg Config) (*lake.Snapshot, map[string]bool, string, string, error) {
	in := cmp.Or(cfg.Input, schemas.Curations.Name)
	ref, err := lake.ParseRef(in)
	if err != nil {
		return nil, nil, "", "", fmt.Errorf("build-sft: input: %w", err)
	}
	switch ref.Table {
	case schemas.Rollouts.Name:
		t, err := l.Table(ref.Table)
		if err != nil {
			return nil, nil, "", "", err
		}
		s, err := t.Snapshot(ctx, ref.Version)
		if err != nil {
			return nil, nil, "", "", fmt.Errorf("build-sft: input %s: %w", in, err)
		}
		return s, nil, s.Ref().String(), "", nil
	case schemas.Curations.Name:
	default:
		return nil, nil, "", "", fmt.Errorf("build-sft: input %s: a rollouts or curation snapshot", in)
	}
	ct, err := l.Table(schemas.Curations.Name)
	if err != nil {
		return nil, nil, "", "", err
	}
	cs, err := ct.Snapshot(ctx, ref.Version)
	if err != nil {
		return nil, nil, "", "", fmt.Errorf("build-sft: input %s: %w (run swelake run curate first, or --input rollouts)", in, err)
	}
	if cs.Version == 0 || cs.Rows() == 0 {
		return nil, nil, "", "", fmt.Errorf("build-sft: %s holds no curation: run swelake run curate first, or use --input rollouts", cs.Ref())
	}
	// The curation and its input: from the commit that added it.
	log, err := ct.Log(ctx, 1, cs.Version)
	if err != nil {
		return nil, nil, "", "", err
	}
	id := cfg.CurationID
	var inputRef string
	for i := len(log) - 1; i >= 0; i-- {
		rk := log[i].Provenance.RunKey
		cid, ok := curate.IDFromRunKey(rk, schemas.Curations.Name)
		if !ok || (id != "" && cid != id) {
			continue
		}
		id = cid
		for _, r := range log[i].Provenance.Inputs {
			if strings.HasPrefix(r, schemas.Rollouts.Name+"@") {
				inputRef = r
			}
		}
		break
	}
	if inputRef == "" {
		return nil, nil, "", "", fmt.Errorf("build-sft: curation %q not found in %s", cmp.Or(cfg.CurationID, "(latest)"), cs.Ref())
	}
	keep := map[string]bool{}
	for c, err := range jobs.ReadRows[schemas.Curation](ctx, l, cs, cfg.CacheDir) {
		if err != nil {
			return nil, nil, "", "", err
		}
		if c.CurationID == id && c.Kept {
			keep[c.RolloutID] = true
		}
	}
	rref, err := lake.ParseRef(inputRef)
	if err != nil {
		return nil, nil, "", "", err
	}
	rt, err := l.Table(rref.Table)
	if err != nil {
		return nil, nil, "", "", err
	}
	rs, err := rt.Snapshot(ctx, rref.Version)
	if err != nil {
		return nil, nil, "", "", err
	}
	return rs, keep, cs.Ref().String(), id, nil
}

type built struct {
	row schemas.SFTExample
	ex  sft.Example
	err string // why it is not an example
}

// Run builds the SFT set.
func Run(ctx context.Context, l *lake.Lake, cfg Config) (Summary, error) {
	cfg.defaults()
	sum := Summary{Dropped: map[string]int{}, Version: -1}
	if err := cfg.Validate(); err != nil {
		return sum, err
	}
	tok, err := tokenizer.Load(cfg.TokenizerDir)
	if err != nil {
		return sum, fmt.Errorf("build-sft: %w", err)
	}
	tmpl, err := chattemplate.Parse(tok.Config().ChatTemplate)
	if err != nil {
		return sum, fmt.Errorf("build-sft: chat template of %s: %w", cfg.TokenizerDir, err)
	}
	sum.TokenizerID = tok.Identity()
	if err := cfg.InitTables(ctx, l); err != nil {
		return sum, err
	}
	snap, keep, inputRef, curationID, err := source(ctx, l, cfg)
	if err != nil {
		return sum, err
	}
	sum.Input, sum.CurationID = inputRef, curationID
	cfgHash, err := jobs.ConfigHash(struct {
		Cfg        Config
		Input      string
		Rollouts   string
		CurationID string
		Tokenizer  string
	}{cfg, inputRef, snap.Ref().String(), curationID, tok.Identity()})
	if err != nil {
		return sum, err
	}
	sum.SetID = "sft-" + cfgHash[:16]
	runKey := JobName + "/" + sum.SetID
	et, err := l.Table(schemas.SFTExamples.Name)
	if err != nil {
		return sum, err
	}
	start := cfg.Clock()
	var rows []schemas.SFTExample
	if c, done, err := et.Committed(ctx, runKey); err != nil {
		return sum, err
	} else if done {
		sum.Skipped, sum.Version = true, c.Version
		es, err := et.Snapshot(ctx, c.Version)
		if err != nil {
			return sum, err
		}
		for r, err := range jobs.ReadRows[schemas.SFTExample](ctx, l, es, cfg.CacheDir) {
			if err != nil {
				return sum, err
			}
			if r.SetID == sum.SetID {
				rows = append(rows, r)
			}
		}
		slices.SortFunc(rows, func(a, b schemas.SFTExample) int { return cmp.Compare(a.ExampleID, b.ExampleID) })
	} else {
		cache, err := tokcache.Open(cfg.CacheDir, tok)
		if err != nil {
			return sum, fmt.Errorf("build-sft: %w", err)
		}
		rows, err = build(ctx, l, snap, keep, cfg, cache, tmpl, &sum)
		sum.TokenCache = cache.Finish(cfg.Logger)
		if err != nil {
			return sum, err
		}
		for i := range rows {
			rows[i].SetID = sum.SetID
		}
		prov := lake.Provenance{Job: JobName, RunKey: runKey, ConfigHash: cfgHash, Inputs: uniq(inputRef, snap.Ref().String()),
			CodeVersion: cfg.CodeVersion, Author: cfg.Author, Time: cfg.Clock().UTC()}
		files, err := lake.WriteFiles(ctx, et, jobs.Spec(schemas.SFTExamples), lake.Slice(rows), lake.WriteOptions{CodeVersion: cfg.CodeVersion})
		if err != nil {
			return sum, fmt.Errorf("build-sft: write: %w", err)
		}
		res, err := et.Append(ctx, files, prov)
		if err != nil {
			return sum, fmt.Errorf("build-sft: commit %s: %w", schemas.SFTExamples.Name, err)
		}
		sum.Version = res.Commit.Version
	}
	for _, r := range rows {
		sum.Examples++
		sum.Tokens += r.NumTokens
		sum.LossTokens += r.NumLossTokens
		if r.Split == "train" {
			sum.Train++
		} else {
			sum.Validation++
		}
		if r.Truncated {
			sum.Truncated++
		}
	}
	if el := cfg.Clock().Sub(start).Seconds(); el > 0 && !sum.Skipped {
		sum.TokensPerSecond = float64(sum.Tokens) / el
	}
	if len(cfg.Exports) > 0 {
		files, packed, err := Export(cfg.OutDir, sum.SetID, rows, cfg.Exports, cfg.PackLength)
		if err != nil {
			return sum, err
		}
		sum.Exports, sum.PackedSeqs = files, packed
	}
	cfg.Logger.Info("built sft set", "set_id", sum.SetID, "examples", sum.Examples, "tokens", sum.Tokens, "loss_tokens", sum.LossTokens)
	return sum, nil
}

func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

func build(ctx context.Context, l *lake.Lake, snap *lake.Snapshot, keep map[string]bool, cfg Config,
	tok *tokcache.Cache, tmpl *chattemplate.Template, sum *Summary) ([]schemas.SFTExample, error) {
	opts := sft.Options{Mask: cfg.Mask, MaskErrorTurns: cfg.MaskErrorTurns, ErrorMarkers: cfg.ErrorMarkers}
	var rows []schemas.SFTExample
	err := jobs.MapRows(ctx, l, snap, cfg.CacheDir,
		func(r *schemas.Rollout) bool { return keep == nil || keep[r.RolloutID] },
		func(r schemas.Rollout) (built, error) { return buildOne(r, tok, tmpl, opts, cfg), nil },
		func(b built) {
			sum.Rollouts++
			if b.err != "" {
				sum.Dropped[b.err]++
				return
			}
			sum.Straddling += b.ex.Straddling
			rows = append(rows, b.row)
		})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ExampleID
	}
	split := sft.SplitOf(ids, cfg.Seed, cfg.ValidationFrac)
	order := sft.Shuffle(ids, cfg.Seed)
	pos := make(map[string]int, len(order))
	for i, id := range order {
		pos[id] = i
	}
	for i := range rows {
		rows[i].Split = split[rows[i].ExampleID]
	}
	// The stored order is the seeded shuffle: readers that take rows in
	// order train on a shuffled set.
	slices.SortFunc(rows, func(a, b schemas.SFTExample) int { return cmp.Compare(pos[a.ExampleID], pos[b.ExampleID]) })
	return rows, nil
}

func buildOne(r schemas.Rollout, tok *tokcache.Cache, tmpl *chattemplate.Template, opts sft.Options, cfg Config) built {
	chat := jobs.ChatOf(r, tok.Config())
	tools := chat.Tools
	ex, err := sft.Build(tok, tmpl, chat, opts)
	if errors.Is(err, sft.ErrNoAssistant) {
		return built{err: "no assistant turn"}
	}
	if err != nil {
		return built{err: "render: " + firstLine(err.Error())}
	}
	truncated := false
	if len(ex.InputIDs) > cfg.MaxTokens {
		if cfg.LengthPolicy == LengthDrop {
			return built{err: fmt.Sprintf("longer than %d tokens", cfg.MaxTokens)}
		}
		ex = sft.Truncate(ex, cfg.MaxTokens)
		truncated = true
	}
	if ex.NumLossTokens == 0 {
		return built{err: "no token with loss"}
	}
	h := sha256.Sum256([]byte(r.RolloutID + "\x00" + tok.Identity()))
	toolsJSON := ""
	if tools != nil {
		toolsJSON = string(chattemplate.JSONValue(tools))
	}
	return built{ex: ex, row: schemas.SFTExample{
		ExampleID: "ex-" + hex.EncodeToString(h[:])[:20], RolloutIDs: []string{r.RolloutID}, TaskID: r.TaskID,
		Tokenizer: tok.Identity(), InputIDs: ex.InputIDs, LossMask: ex.LossMask, NumTokens: int64(len(ex.InputIDs)),
		NumLossTokens: int64(ex.NumLossTokens), Truncated: truncated, Text: ex.Text, Messages: r.Messages,
		Weights: ex.Weights, Tools: toolsJSON,
	}}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
