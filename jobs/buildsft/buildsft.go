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
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/swelake/swelake/jobs/curate"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/jobs/tokcache"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/chattemplate"
	"github.com/swelake/swelake/trainer/sft"
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
	// (the latest curation at or before that version, or CurationID), or a
	// rollouts snapshot ("rollouts", "rollouts@12": every row as it is).
	Input      string `json:"input" mapstructure:"input"`
	CurationID string `json:"curation_id" mapstructure:"curation_id"`
	// TokenizerDir holds tokenizer.json and tokenizer_config.json; its
	// identity, not its path, keys the set.
	TokenizerDir   string   `json:"tokenizer_dir,omitempty" mapstructure:"tokenizer_dir"`
	Mask           string   `json:"mask" mapstructure:"mask"` // assistant (default) or last_turn
	MaskErrorTurns bool     `json:"mask_error_turns" mapstructure:"mask_error_turns"`
	ErrorMarkers   []string `json:"error_markers" mapstructure:"error_markers"`
	// MaskFailed keeps trajectories with failed actions and takes exactly
	// those assistant turns out of the loss: malformed_tool_call,
	// format_hint, edit_not_applied, command_not_found (sft.FailedKinds).
	MaskFailed     []string `json:"mask_failed" mapstructure:"mask_failed"`
	MaxTokens      int      `json:"max_tokens" mapstructure:"max_tokens"`       // default schemas.MaxContextTokens
	LengthPolicy   string   `json:"length_policy" mapstructure:"length_policy"` // drop (default) or truncate
	Seed           uint64   `json:"seed" mapstructure:"seed"`
	ValidationFrac float64  `json:"validation_frac" mapstructure:"validation_frac"` // default 0.05; negative: none
	// Tasks adds examples built from tasks (SWE-Swiss, Kimi-Dev: the
	// Agentless skills): localize (the issue → the files the gold patch
	// changes), repair (the issue and those files at the base commit → the
	// gold patch), testgen (the issue and the code → the task's test patch,
	// for tasks whose validation showed it fails at the base commit and
	// passes with the fix).
	Tasks []string `json:"tasks,omitempty" mapstructure:"tasks"`
	// TasksInput is the tasks snapshot they come from (default tasks).
	TasksInput string `json:"tasks_input,omitempty" mapstructure:"tasks_input"`
	// Mix weights the kinds (trajectory and those of Tasks): the set keeps
	// the most examples whose counts are in these ratios, a seeded draw of
	// each kind (nil: every example; a kind left out or weighted 0: none).
	Mix map[string]float64 `json:"mix,omitempty" mapstructure:"mix"`
	// Export says where the set's files for trainers go: not part of the
	// set's identity (the same set exported twice is one set).
	Export Outputs `json:"-" mapstructure:",squash"`
}

// Outputs is where and how build-sft writes trainer files.
type Outputs struct {
	// PackLength packs the tokenised export into sequences of this many
	// tokens (0: one example per row).
	PackLength int `json:"pack_length,omitempty" mapstructure:"pack_length"`
	// Exports to write into OutDir/<set_id>/ (see Formats()).
	Exports []string `json:"exports,omitempty" mapstructure:"exports"`
	OutDir  string   `json:"out_dir,omitempty" mapstructure:"out_dir"`
}

// Summary is what the job did.
type Summary struct {
	stage.Outcome
	SetID      string         `json:"set_id"`
	Input      string         `json:"input"`
	CurationID string         `json:"curation_id,omitempty"`
	Rollouts   int            `json:"rollouts"`
	Examples   int            `json:"examples"`
	Train      int            `json:"train"`
	Validation int            `json:"validation"`
	Dropped    map[string]int `json:"dropped"` // reason → rollouts (or tasks) not turned into examples
	Kinds      map[string]int `json:"kinds"`   // examples of each kind (trajectory, localize, repair, testgen)
	// TestGenFromGenerated counts the testgen targets that are generated
	// tests execution kept (verify --mode generated-tests), not the task's
	// own test patch.
	TestGenFromGenerated int   `json:"testgen_from_generated,omitempty"`
	Truncated            int   `json:"truncated"`
	Tokens               int64 `json:"tokens"`
	LossTokens           int64 `json:"loss_tokens"`
	Straddling           int   `json:"straddling_tokens"`
	// FailedTurns counts the assistant turns kept out of the loss as
	// failed actions, by kind (mask_failed).
	FailedTurns map[string]int `json:"failed_turns,omitempty"`
	PackedSeqs  int            `json:"packed_sequences,omitempty"`
	// TrimmedTurns counts, per export, the messages after a conversation's
	// last assistant turn left out of formats that must end on one.
	TrimmedTurns    map[string]int `json:"trimmed_turns,omitempty"`
	Version         int64          `json:"version"`
	Exports         []string       `json:"exports,omitempty"` // files written
	TokenizerID     string         `json:"tokenizer"`
	TokensPerSecond float64        `json:"tokens_per_second"`
	// TokenCache counts the rendered chats whose ids came from the token
	// cache (hits) and those tokenised by this run (misses).
	TokenCache tokcache.Stats `json:"token_cache"`
}

// Job is the build-sft stage.
var Job = &stage.Def[Config, Summary]{
	Info: stage.Info{Name: JobName,
		Short: "Tokenise curated rollouts with the model's chat template into sft_examples and trainer exports",
		Long: `Renders each kept rollout of the latest curation (or --input rollouts[@v] for
every row as it is) with the tokenizer's own chat template, tokenises it
exactly as the model's reference tokenizer does, and masks the loss to the
assistant turns (OpenRLHF multi-turn convention: from the first content token
through the end-of-turn token and its newline). Examples above max_tokens
(default 81,920) are dropped or truncated; a seeded split assigns train and
validation. Rows go to sft_examples (num_tokens and num_loss_tokens make a
set's composition one SQL query away); --export writes files for the
trainers under <out>/<set_id>/: ` + strings.Join(Formats(), ", ") + `.

--tasks localize,repair,testgen adds examples built from tasks (SWE-Swiss,
Kimi-Dev's Agentless skills): localize (the issue → the files the gold patch
changes), repair (the issue and those files as at the base commit, read in a
sandbox → the gold patch), testgen (the issue and the code → the task's test
patch, only for tasks validate-tasks found valid: the test fails at the base
commit and passes with the fix; else a test file the policy wrote that
verify --mode generated-tests kept by the same rule). Every example carries its kind
(sft_examples.kind); build_sft.mix weights the kinds (e.g. {trajectory: 2,
localize: 1, repair: 1}) and the set keeps the most examples in those ratios.`,
		Example: `  swelake run build-sft --out sft-out --export openai,parquet
  swelake run build-sft --input rollouts@3 --tokenizer ./qwen3 --set build_sft.mask=last_turn
  swelake run build-sft --tasks localize,repair,testgen --set build_sft.mix='{"trajectory":2,"localize":1,"repair":1,"testgen":1}'
  swelake sql "SELECT kind, count(*), sum(num_loss_tokens) FROM latest_sft_examples GROUP BY kind"
  swelake sql "SELECT split, count(*), sum(num_tokens), sum(num_loss_tokens) FROM latest_sft_examples GROUP BY split"`,
		Inputs:  []string{schemas.Curations.Name, schemas.Rollouts.Name, schemas.Tasks.Name, schemas.TaskValidations.Name, schemas.GeneratedTests.Name},
		Outputs: []string{schemas.SFTExamples.Name},
		Flags: []stage.Flag{
			{Name: "input", Key: "input", Usage: "curation[@v] (default: the latest curation's kept rollouts) or rollouts[@v] (every row)"},
			{Name: "out", Key: "out_dir", Usage: "directory for the exports"},
			{Name: "export", Key: "exports", Usage: "comma-separated exports: " + strings.Join(Formats(), ", ")},
			{Name: "tasks", Key: "tasks", Usage: "also build examples from tasks: comma-separated localize, repair, testgen"},
			{Name: "pack-length", Key: "pack_length", Usage: "pack the parquet export into sequences of this many tokens (first-fit decreasing)"},
		},
	},
	Defaults: func() Config {
		return Config{MaxTokens: schemas.MaxContextTokens, LengthPolicy: LengthDrop, Mask: sft.MaskAssistant, ValidationFrac: 0.05}
	},
	Validate: func(c *Config) error { return c.Validate() },
	Plan:     plan,
	Run:      run,
	After:    export,
	Print:    print,
}

// state is what plan hands to run and export.
type state struct {
	snap   *lake.Snapshot
	keep   map[string]bool
	input  string
	tok    *tokenizer.Tokenizer
	tmpl   *chattemplate.Template
	export Outputs
	rows   []schemas.SFTExample // what run built (nil when the set was complete already)
	tasks  *taskSource          // the task examples' inputs (nil: none)
}

func plan(ctx context.Context, env *stage.Env, cfg *Config) (stage.Plan, error) {
	dir := env.Tokenizer(cfg.TokenizerDir)
	if dir == "" {
		return stage.Plan{}, errors.New("build-sft: no tokenizer directory (make deps installs Qwen2.5's; or --tokenizer <dir>)")
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return stage.Plan{}, fmt.Errorf("build-sft: %w", err)
	}
	tmpl, err := chattemplate.Parse(tok.Config().ChatTemplate)
	if err != nil {
		return stage.Plan{}, fmt.Errorf("build-sft: chat template of %s: %w", dir, err)
	}
	st := &state{tok: tok, tmpl: tmpl, export: cfg.Export}
	var curationID string
	if st.snap, st.keep, st.input, curationID, err = source(ctx, env.Lake, *cfg, env.Lake.CacheDir()); err != nil {
		return stage.Plan{}, err
	}
	cfg.CurationID, cfg.TokenizerDir, cfg.Export = curationID, "", Outputs{}
	p := stage.Plan{Inputs: []*lake.Snapshot{st.snap}, Identity: []string{"tokenizer:" + tok.Identity()}, IDPrefix: "sft", State: st}
	var pinned []*lake.Snapshot
	if st.tasks, pinned, err = planTasks(ctx, env, cfg); err != nil {
		return stage.Plan{}, err
	}
	p.Inputs = append(p.Inputs, pinned...)
	cfg.TasksInput = ""
	if st.input != st.snap.Ref().String() {
		p.Identity = append(p.Identity, st.input)
	}
	return p, nil
}

func run(ctx context.Context, r *stage.Run[Config]) (Summary, error) {
	st, cfg := r.Plan.State.(*state), r.Config
	sum := Summary{SetID: r.ID, Input: st.input, CurationID: cfg.CurationID, TokenizerID: st.tok.Identity(), Dropped: map[string]int{}, Kinds: map[string]int{}}
	start := r.Env.Clock()
	cache, err := tokcache.Open(r.Env.Lake.CacheDir(), st.tok)
	if err != nil {
		return sum, fmt.Errorf("build-sft: %w", err)
	}
	rows, err := build(ctx, r.Env, st, cfg, cache, &sum)
	if err == nil && st.tasks != nil {
		var more []schemas.SFTExample
		more, err = buildTasks(ctx, r.Env, st.tasks, st, cfg, cache, &sum)
		rows = append(rows, more...)
	}
	sum.TokenCache = cache.Finish(r.Env.Logger)
	if err != nil {
		return sum, err
	}
	rows = split(mix(rows, cfg.Mix, cfg.Seed, &sum), cfg)
	for i := range rows {
		sum.Kinds[rows[i].Kind]++
		rows[i].SetID = r.ID
		sum.Examples++
		sum.Tokens += rows[i].NumTokens
		sum.LossTokens += rows[i].NumLossTokens
		if rows[i].Split == "train" {
			sum.Train++
		} else {
			sum.Validation++
		}
		if rows[i].Truncated {
			sum.Truncated++
		}
	}
	if el := r.Env.Clock().Sub(start).Seconds(); el > 0 {
		sum.TokensPerSecond = float64(sum.Tokens) / el
	}
	st.rows = rows
	stage.Emit(r, schemas.SFTExamples, rows)
	r.Env.Logger.Info("built sft set", "set_id", r.ID, "examples", sum.Examples, "tokens", sum.Tokens, "loss_tokens", sum.LossTokens)
	return sum, nil
}

// export writes the trainer files of a complete set (read back from the
// lake when an earlier run built it).
func export(ctx context.Context, r *stage.Run[Config], sum *Summary) error {
	st := r.Plan.State.(*state)
	sum.Version = sum.Outputs[schemas.SFTExamples.Name]
	if len(st.export.Exports) == 0 {
		return nil
	}
	rows := st.rows
	if sum.Skipped {
		t, err := r.Env.Lake.Table(schemas.SFTExamples.Name)
		if err != nil {
			return err
		}
		es, err := t.Snapshot(ctx, sum.Version)
		if err != nil {
			return err
		}
		for row, err := range lake.ReadRows[schemas.SFTExample](ctx, r.Env.Lake, es) {
			if err != nil {
				return err
			}
			if row.SetID == sum.SetID {
				rows = append(rows, row)
			}
		}
		slices.SortFunc(rows, func(a, b schemas.SFTExample) int { return cmp.Compare(a.ExampleID, b.ExampleID) })
	}
	ex := Exporter{Enc: st.tok, Tmpl: st.tmpl, Config: st.tok.Config(), PackLength: st.export.PackLength}
	res, err := ex.Export(st.export.OutDir, sum.SetID, rows, st.export.Exports)
	sum.Exports, sum.PackedSeqs, sum.TrimmedTurns = res.Files, res.Packed, res.Trimmed
	return err
}

func print(w io.Writer, sum *Summary) error {
	state := fmt.Sprintf("committed %s@%d", schemas.SFTExamples.Name, sum.Version)
	if sum.Skipped {
		state = fmt.Sprintf("already in %s@%d", schemas.SFTExamples.Name, sum.Version)
	}
	fmt.Fprintf(w, "sft set %s from %s (%s): %d examples (train %d, validation %d) from %d rollouts, %d tokens, %d with loss, %d truncated\n",
		sum.SetID, sum.Input, state, sum.Examples, sum.Train, sum.Validation, sum.Rollouts, sum.Tokens, sum.LossTokens, sum.Truncated)
	if len(sum.Kinds) > 1 || sum.Kinds[sft.KindTrajectory] != sum.Examples {
		fmt.Fprintf(w, "examples by kind: %s\n", stage.Counts(sum.Kinds))
	}
	for _, reason := range slices.Sorted(maps.Keys(sum.Dropped)) {
		fmt.Fprintf(w, "not an example: %d (%s)\n", sum.Dropped[reason], reason)
	}
	for _, kind := range slices.Sorted(maps.Keys(sum.FailedTurns)) {
		fmt.Fprintf(w, "failed actions kept out of the loss: %d turns (%s)\n", sum.FailedTurns[kind], kind)
	}
	for _, f := range sum.Exports {
		fmt.Fprintf(w, "wrote %s\n", f)
	}
	for _, e := range slices.Sorted(maps.Keys(sum.TrimmedTurns)) {
		if n := sum.TrimmedTurns[e]; n > 0 {
			fmt.Fprintf(w, "%s: %d messages after the last assistant turn left out (the format ends on an assistant turn)\n", e, n)
		}
	}
	return nil
}

// Validate fills the defaults and checks the config before any I/O.
func (c *Config) Validate() error {
	if c.MaxTokens <= 0 {
		c.MaxTokens = schemas.MaxContextTokens
	}
	c.LengthPolicy = cmp.Or(c.LengthPolicy, LengthDrop)
	c.Mask = cmp.Or(c.Mask, sft.MaskAssistant)
	for _, k := range c.MaskFailed {
		if !slices.Contains(sft.FailedKinds(), k) {
			return fmt.Errorf("mask_failed %q: want some of %s", k, strings.Join(sft.FailedKinds(), ", "))
		}
	}
	if c.ValidationFrac < 0 {
		c.ValidationFrac = 0
	}
	if err := c.validateTasks(); err != nil {
		return err
	}
	if c.LengthPolicy != LengthDrop && c.LengthPolicy != LengthTruncate {
		return fmt.Errorf("length_policy %q: drop or truncate", c.LengthPolicy)
	}
	if c.Mask != sft.MaskAssistant && c.Mask != sft.MaskLastTurn {
		return fmt.Errorf("mask %q: %s or %s", c.Mask, sft.MaskAssistant, sft.MaskLastTurn)
	}
	for _, e := range c.Export.Exports {
		if !slices.Contains(Formats(), e) {
			return fmt.Errorf("export %q: one of %s", e, strings.Join(Formats(), ", "))
		}
	}
	if len(c.Export.Exports) > 0 && c.Export.OutDir == "" {
		return errors.New("exports need an output directory (--out)")
	}
	if c.Export.PackLength < 0 || (c.Export.PackLength > 0 && c.Export.PackLength < 16) {
		return fmt.Errorf("pack_length %d: 0 (no packing) or a sequence length", c.Export.PackLength)
	}
	return nil
}

// source resolves the input to a rollouts snapshot and the rollouts to keep
// (nil: all).
func source(ctx context.Context, l *lake.Lake, cfg Config, cacheDir string) (*lake.Snapshot, map[string]bool, string, string, error) {
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
	// The latest complete curation (at or before the version asked for):
	// its run record names its rows' versions and the rollouts it read.
	rec, err := l.LatestRun(ctx, curate.JobName, func(r *lake.RunRecord) bool {
		v, ok := r.Outputs[schemas.Curations.Name]
		return ok && (ref.Version == lake.Latest || v <= ref.Version) && (cfg.CurationID == "" || r.ID == cfg.CurationID)
	})
	if err != nil {
		return nil, nil, "", "", fmt.Errorf("build-sft: input %s: curation %q: %w (run swelake run curate first, or --input rollouts)", in, cmp.Or(cfg.CurationID, "(latest)"), err)
	}
	id := rec.ID
	var inputRef string
	for _, r := range rec.Inputs {
		if strings.HasPrefix(r, schemas.Rollouts.Name+"@") {
			inputRef = r
		}
	}
	ct, err := l.Table(schemas.Curations.Name)
	if err != nil {
		return nil, nil, "", "", err
	}
	cs, err := ct.Snapshot(ctx, rec.Outputs[schemas.Curations.Name])
	if err != nil {
		return nil, nil, "", "", fmt.Errorf("build-sft: curation %s: %w", id, err)
	}
	keep := map[string]bool{}
	for c, err := range lake.ReadRows[schemas.Curation](ctx, l, cs) {
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

func build(ctx context.Context, env *stage.Env, st *state, cfg Config, tok *tokcache.Cache, sum *Summary) ([]schemas.SFTExample, error) {
	keep, tmpl := st.keep, st.tmpl
	opts := sft.Options{Mask: cfg.Mask, MaskErrorTurns: cfg.MaskErrorTurns, ErrorMarkers: cfg.ErrorMarkers, MaskFailed: cfg.MaskFailed}
	var rows []schemas.SFTExample
	err := lake.MapRows(ctx, env.Lake, st.snap,
		func(r *schemas.Rollout) bool { return keep == nil || keep[r.RolloutID] },
		func(r schemas.Rollout) (built, error) { return buildOne(r, tok, tmpl, opts, cfg), nil },
		func(b built) {
			sum.Rollouts++
			if b.err != "" {
				sum.Dropped[b.err]++
				return
			}
			sum.Straddling += b.ex.Straddling
			for kind, n := range b.ex.Failed {
				if sum.FailedTurns == nil {
					sum.FailedTurns = map[string]int{}
				}
				sum.FailedTurns[kind] += n
			}
			rows = append(rows, b.row)
		})
	return rows, err
}

// split assigns train and validation by a seeded draw and orders the rows
// by a seeded shuffle.
func split(rows []schemas.SFTExample, cfg Config) []schemas.SFTExample {
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
	return rows
}

func buildOne(r schemas.Rollout, tok *tokcache.Cache, tmpl *chattemplate.Template, opts sft.Options, cfg Config) built {
	h := sha256.Sum256([]byte(r.RolloutID + "\x00" + tok.Identity()))
	return tokenise("ex-"+hex.EncodeToString(h[:])[:20], []string{r.RolloutID}, r.TaskID, sft.KindTrajectory, r, tok, tmpl, opts, cfg)
}

// tokenise renders a chat (a rollout's messages and tools) with the chat
// template, masks and caps it: one example of a kind.
func tokenise(id string, rolloutIDs []string, taskID, kind string, r schemas.Rollout, tok *tokcache.Cache, tmpl *chattemplate.Template, opts sft.Options, cfg Config) built {
	chat := chattemplate.ChatOf(r, tok.Config())
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
	toolsJSON := ""
	if tools != nil {
		toolsJSON = string(chattemplate.JSONValue(tools))
	}
	return built{ex: ex, row: schemas.SFTExample{
		ExampleID: id, RolloutIDs: rolloutIDs, TaskID: taskID, Kind: kind,
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
