// Package migrate is `swelake lake migrate`: it rewrites a table written
// with an earlier schema version into the current one, as one commit
// (lake.Table.Migrate) — every row kept, the earlier versions still
// readable with their own schema. Rollouts v2 → v3 is the migration there
// is: each row's derived columns are computed (exit_reason normalised from
// the source's string, forced, actions, format_errors, tools) and its inline
// raw bytes move to a raw source stored once per v2 data file. rl_samples
// v1 → v2 (reward sources) and checkpoints v1 → v2 (the RL loop's columns)
// convert row by row.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"

	"github.com/swelake/swelake/jobs/tables"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/schemas/checkpointsv1"
	"github.com/swelake/swelake/schemas/rlsamplesv1"
	"github.com/swelake/swelake/schemas/rolloutsv2"
	"github.com/swelake/swelake/schemas/sftexamplesv1"
	"github.com/swelake/swelake/schemas/tasksv2"
	"github.com/swelake/swelake/schemas/verifierscoresv1"
	"github.com/swelake/swelake/trainer/sft"
)

// JobName is recorded in the provenance of a migration's commit.
const JobName = "lake-migrate"

// Summary is what `swelake lake migrate --json` prints for a table.
type Summary struct {
	Table   string `json:"table"`
	From    int    `json:"from_schema"`
	To      int    `json:"to_schema"`
	Base    int64  `json:"base_version"` // the version migrated
	Version int64  `json:"version"`      // the migration's commit (-1: nothing to do)
	Rows    int64  `json:"rows"`
	Files   int    `json:"files"`
	// RawStored counts the raw sources stored (one per v2 data file whose
	// rows kept raw bytes; fewer where two files hold the same bytes).
	RawStored int  `json:"raw_sources_stored"`
	Current   bool `json:"already_current"` // the table was at the current schema
}

// ErrNoMigration: the table's schema has no migration to the current one.
var ErrNoMigration = errors.New("no migration")

// Tables lists the tables a migration exists for.
func Tables() []string {
	return []string{schemas.Tasks.Name, schemas.Rollouts.Name, schemas.RLSamples.Name, schemas.Checkpoints.Name, schemas.SFTExamples.Name, schemas.VerifierScores.Name}
}

// Run migrates one table to its current schema (a no-op when it is
// current).
func Run(ctx context.Context, l *lake.Lake, table string, prov lake.Provenance, logger *slog.Logger) (Summary, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch table {
	case schemas.Rollouts.Name:
		// v2 → v3 derives columns and stores each data file's raw bytes
		// once as it goes.
		var m *migration
		sum, err := migrateTo(ctx, l, rolloutsv2.Def, schemas.Rollouts, func(snap *lake.Snapshot) iter.Seq2[schemas.Rollout, error] {
			m = &migration{l: l, snap: snap}
			return m.rows(ctx)
		}, prov, logger)
		if m != nil {
			sum.RawStored = m.stored
		}
		return sum, err
	case schemas.RLSamples.Name:
		// v1 → v2 adds the reward source columns (ConvertRLSample).
		return convert(ctx, l, rlsamplesv1.Def, schemas.RLSamples, ConvertRLSample, prov, logger)
	case schemas.Checkpoints.Name:
		// v1 → v2 adds the RL loop's columns (ConvertCheckpoint).
		return convert(ctx, l, checkpointsv1.Def, schemas.Checkpoints, ConvertCheckpoint, prov, logger)
	case schemas.SFTExamples.Name:
		// v1 → v2 adds the kind column: every v1 example is a trajectory.
		return convert(ctx, l, sftexamplesv1.Def, schemas.SFTExamples, ConvertSFTExample, prov, logger)
	case schemas.Tasks.Name:
		// v2 → v3 adds the test-runner spec and the extra test classes
		// (empty: v2 importers kept them only in raw).
		return convert(ctx, l, tasksv2.Def, schemas.Tasks, ConvertTask, prov, logger)
	case schemas.VerifierScores.Name:
		// v1 → v2 adds the generated-tests columns (null: none).
		return convert(ctx, l, verifierscoresv1.Def, schemas.VerifierScores, ConvertVerifierScore, prov, logger)
	}
	return Summary{Table: table}, fmt.Errorf("migrate %s: %w: migrations exist for %v", table, ErrNoMigration, Tables())
}

type migration struct {
	l      *lake.Lake
	snap   *lake.Snapshot
	stored int
}

// rows yields the v3 rows, data file by data file: a first pass stores the
// file's raw bytes as one raw source (each row's bytes and a newline), the
// second converts its rows and points them at their bytes.
func (m *migration) rows(ctx context.Context) iter.Seq2[schemas.Rollout, error] {
	return func(yield func(schemas.Rollout, error) bool) {
		for _, f := range m.snap.Files {
			sum, err := m.storeRaw(ctx, f)
			if err != nil {
				yield(schemas.Rollout{}, err)
				return
			}
			var off int64
			for r2, err := range lake.ReadFileRows[rolloutsv2.Rollout](ctx, m.l, m.snap, f) {
				if err != nil {
					yield(schemas.Rollout{}, err)
					return
				}
				ro := Convert(r2)
				if len(r2.Raw) > 0 {
					ro.RawRef = schemas.RawRef{SHA256: sum, Offset: off, Length: int64(len(r2.Raw))}
				}
				off += int64(len(r2.Raw)) + 1
				if !yield(ro, nil) {
					return
				}
			}
		}
	}
}

// rawColumn is the one column storeRaw reads of a v2 file.
type rawColumn struct {
	Raw []byte `parquet:"raw"`
}

// storeRaw stores one v2 file's raw bytes as a raw source ("" : none of
// its rows kept any), reading only that column.
func (m *migration) storeRaw(ctx context.Context, f lake.File) (string, error) {
	pr, pw := io.Pipe()
	kept := false
	go func() {
		for r2, err := range lake.ReadFileRows[rawColumn](ctx, m.l, m.snap, f) {
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			kept = kept || len(r2.Raw) > 0
			if _, err := pw.Write(append(r2.Raw, '\n')); err != nil {
				return
			}
		}
		pw.Close()
	}()
	sum, stored, err := m.l.PutRaw(ctx, pr, "")
	pr.Close()
	if err != nil {
		return "", fmt.Errorf("raw bytes of %s: %w", f.Path, err)
	}
	if !kept {
		return "", nil
	}
	if stored {
		m.stored++
	}
	return sum, nil
}

// Convert is a v2 row as v3: the same columns, exit_reason_raw the v2
// exit_reason, tools from the raw record, the derived columns computed by
// schemas.FinishRollout (forced included: a v2 row's forced was each
// importer's own guess). The content hash is unchanged (it covers the
// source's exit string), so re-ingesting a migrated file is a no-op.
func Convert(r rolloutsv2.Rollout) schemas.Rollout {
	ro := schemas.Rollout{RolloutID: r.RolloutID, TaskID: r.TaskID, RunID: r.RunID, Policy: r.Policy, SampleIdx: r.SampleIdx,
		Messages: r.Messages, Tools: schemas.ToolsOf(r.Raw), NumTurns: r.NumTurns, Tokens: r.Tokens, ExitReasonRaw: r.ExitReason,
		Patch: r.Patch, Submitted: r.Submitted, InfraError: r.InfraError, Reward: r.Reward, Resolved: r.Resolved,
		TestReport: r.TestReport, Source: r.Source, ContentHash: r.ContentHash}
	schemas.FinishRollout(&ro)
	return ro
}

// convert migrates a table whose rows change column by column: every row
// of the latest snapshot read as the old schema's type and converted.
func convert[Old, New any](ctx context.Context, l *lake.Lake, from schemas.Def[Old], to schemas.Def[New], conv func(Old) New,
	prov lake.Provenance, logger *slog.Logger) (Summary, error) {
	return migrateTo(ctx, l, from, to, func(snap *lake.Snapshot) iter.Seq2[New, error] {
		return func(yield func(New, error) bool) {
			for r, err := range lake.ReadRows[Old](ctx, l, snap) {
				if err != nil {
					var zero New
					yield(zero, err)
					return
				}
				if !yield(conv(r), nil) {
					return
				}
			}
		}
	}, prov, logger)
}

// migrateTo rewrites table to.Name from its latest snapshot, which must
// carry schema from (else ErrNoMigration; a table at to's schema is left
// alone), into to's schema: rows yields the snapshot's rows as the new
// type. Nothing is lost: the files must hold every row of the snapshot
// before anything is committed (else the written files are orphans gc
// removes), and the migration commits as one migrate entry.
func migrateTo[Old, New any](ctx context.Context, l *lake.Lake, from schemas.Def[Old], to schemas.Def[New],
	rows func(*lake.Snapshot) iter.Seq2[New, error], prov lake.Provenance, logger *slog.Logger) (Summary, error) {
	table := to.Name
	t, err := l.Table(table)
	if err != nil {
		return Summary{Table: table}, err
	}
	snap, err := t.Snapshot(ctx, lake.Latest)
	if err != nil {
		return Summary{Table: table}, fmt.Errorf("migrate %s: %w", table, err)
	}
	target := tables.Schema(to)
	sum := Summary{Table: table, From: snap.Schema.Version, To: target.Version, Base: snap.Version, Version: -1}
	switch {
	case snap.Schema.Fingerprint == target.Fingerprint:
		sum.Current = true
		return sum, nil
	case snap.Schema.Version != from.Version || snap.Schema.Fingerprint != tables.Schema(from).Fingerprint:
		return sum, fmt.Errorf("migrate %s: %w from schema v%d (fingerprint %.12s): this swelake migrates %s v%d to v%d",
			table, ErrNoMigration, snap.Schema.Version, snap.Schema.Fingerprint, table, from.Version, to.Version)
	}
	files, err := lake.WriteMigrationFiles(ctx, t, tables.Spec(to), rows(snap), lake.WriteOptions{CodeVersion: prov.CodeVersion})
	if err != nil {
		return sum, fmt.Errorf("migrate %s@%d: %w", table, snap.Version, err)
	}
	if sum.Rows = files.Rows(); sum.Rows != snap.Rows() {
		return sum, fmt.Errorf("migrate %s@%d: %d rows written of %d; nothing committed", table, snap.Version, sum.Rows, snap.Rows())
	}
	prov.Job = JobName
	prov.RunKey = fmt.Sprintf("%s:%s:v%d-v%d@%d", JobName, table, sum.From, sum.To, snap.Version)
	prov.Inputs = []string{snap.Ref().String()}
	res, err := t.Migrate(ctx, snap, target, files, prov)
	if err != nil {
		return sum, fmt.Errorf("migrate %s@%d: %w", table, snap.Version, err)
	}
	sum.Version, sum.Files = res.Commit.Version, len(files.Files)
	logger.Info("migrated", "table", table, "from", sum.From, "to", sum.To, "rows", sum.Rows, "version", sum.Version)
	return sum, nil
}

// ConvertCheckpoint is a v1 row as v2: an SFT checkpoint, no RL loop.
func ConvertCheckpoint(c checkpointsv1.Checkpoint) schemas.Checkpoint {
	return schemas.Checkpoint{Model: c.Model, SFTSetID: c.SFTSetID, BaseModel: c.BaseModel, Notes: c.Notes}
}

// ConvertSFTExample is a v1 row as v2: a trajectory example.
func ConvertSFTExample(e sftexamplesv1.SFTExample) schemas.SFTExample {
	return schemas.SFTExample{SetID: e.SetID, ExampleID: e.ExampleID, Split: e.Split, RolloutIDs: e.RolloutIDs, TaskID: e.TaskID,
		Tokenizer: e.Tokenizer, InputIDs: e.InputIDs, LossMask: e.LossMask, NumTokens: e.NumTokens, NumLossTokens: e.NumLossTokens,
		Truncated: e.Truncated, Text: e.Text, Messages: e.Messages, Weights: e.Weights, Tools: e.Tools, Kind: sft.KindTrajectory}
}

// ConvertTask is a v2 row as v3: every column kept, no test-runner spec;
// its content hash is unchanged (TaskHash adds v3's columns only where set).
func ConvertTask(t tasksv2.Task) schemas.Task {
	return schemas.Task{TaskID: t.TaskID, Source: t.Source, InstanceID: t.InstanceID, Repo: t.Repo, BaseCommit: t.BaseCommit,
		ProblemStatement: t.ProblemStatement, GoldPatch: t.GoldPatch, BugPatch: t.BugPatch, TestPatch: t.TestPatch,
		FailToPass: t.FailToPass, PassToPass: t.PassToPass, ExpectedPass: t.ExpectedPass, Image: t.Image, Language: t.Language,
		TestCmd: t.TestCmd, CreatedAt: t.CreatedAt, Difficulty: t.Difficulty, Version: t.Version, Hints: t.Hints,
		ContentHash: t.ContentHash, Raw: t.Raw}
}

// ConvertVerifierScore is a v1 row as v2: no generated tests.
func ConvertVerifierScore(v verifierscoresv1.VerifierScore) schemas.VerifierScore {
	return schemas.VerifierScore{VerifyID: v.VerifyID, Verifier: v.Verifier, TaskID: v.TaskID, RolloutID: v.RolloutID, RunID: v.RunID,
		Policy: v.Policy, SampleIdx: v.SampleIdx, PredictedReward: v.PredictedReward, PredictedTests: v.PredictedTests, ExecPassed: v.ExecPassed,
		ExecTotal: v.ExecTotal, ExecAdded: v.ExecAdded, Score: v.Score, Draw: v.Draw, Selected: v.Selected, Resolved: v.Resolved,
		Error: v.Error, Response: v.Response}
}

// ConvertRLSample is a v1 row as v2: every column kept, the reward's
// source execution.
func ConvertRLSample(r rlsamplesv1.RLSample) schemas.RLSample {
	reward := r.RewardRaw
	return schemas.RLSample{BatchID: r.BatchID, Iteration: r.Iteration, GroupID: r.GroupID, RolloutID: r.RolloutID, TaskID: r.TaskID,
		Policy: r.Policy, ExitReason: r.ExitReason, RewardRaw: r.RewardRaw, RewardSource: "execution", RewardExecution: &reward,
		RewardShaped: r.RewardShaped, Shaping: r.Shaping, Advantage: r.Advantage, Estimator: r.Estimator, MaskRule: r.MaskRule,
		InBaseline: r.InBaseline, NumTokens: r.NumTokens, LMax: r.LMax, PassRate: r.PassRate, InputIDs: r.InputIDs, LossMask: r.LossMask}
}
