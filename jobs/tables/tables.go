// Package tables makes the tables of package schemas lake tables (row
// specs, schemas, creation) and pins snapshots of them: the glue between
// schemas, which knows no storage, and lake, which knows no swelake table.
package tables

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/parquet-go/parquet-go"

	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// Spec is the lake.RowSpec of a table definition.
func Spec[T any](def schemas.Def[T]) lake.RowSpec[T] {
	return lake.RowSpec[T]{
		Schema: Schema(def),
		Partition: func(r *T) lake.Partition {
			if def.PartitionBy == "" {
				return lake.Partition{}
			}
			return lake.Partition{def.PartitionBy: def.Partition(r)}
		},
		SizeOf: def.SizeOf,
		Key:    def.Key,
		RawOf: func(r *T) string {
			if ro, ok := any(r).(*schemas.Rollout); ok {
				return ro.RawRef.SHA256
			}
			return ""
		},
	}
}

// Schema is the lake schema of a table definition.
func Schema[T any](def schemas.Def[T]) lake.Schema { return lake.SchemaFor[T](def.Name, def.Version) }

func partitionBy[T any](def schemas.Def[T]) []string {
	if def.PartitionBy == "" {
		return nil
	}
	return []string{def.PartitionBy}
}

// CreateResult is what CreateTables did for one table.
type CreateResult struct {
	Table   string `json:"table"`
	Created bool   `json:"created"` // false: it existed with this schema
}

// table is one table of this version, type-erased for the lists below.
type table struct {
	name   string
	schema func() *parquet.Schema
	create func(ctx context.Context, l *lake.Lake, prov lake.Provenance) (lake.Result, error)
	dedupe func(ctx context.Context, l *lake.Lake, prov lake.Provenance, dryRun bool) (lake.DedupeResult, error)
	key    []string
}

func entry[T any](def schemas.Def[T]) table {
	return table{name: def.Name, schema: def.ParquetSchema, key: def.Key,
		create: func(ctx context.Context, l *lake.Lake, prov lake.Provenance) (lake.Result, error) {
			return create(ctx, l, def, prov)
		},
		dedupe: func(ctx context.Context, l *lake.Lake, prov lake.Provenance, dryRun bool) (lake.DedupeResult, error) {
			t, err := l.Table(def.Name)
			if err != nil {
				return lake.DedupeResult{}, err
			}
			return lake.Dedupe(ctx, t, Spec(def), lake.WriteOptions{CodeVersion: prov.CodeVersion}, prov, dryRun)
		}}
}

// tables lists the tables of this version: the one place a new table is added.
func tables() []table {
	return []table{entry(schemas.Tasks), entry(schemas.Rollouts), entry(schemas.Evaluations), entry(schemas.TaskValidations), entry(schemas.Quarantine),
		entry(schemas.Curations), entry(schemas.CurationDrops), entry(schemas.TaskStats), entry(schemas.SFTExamples), entry(schemas.RLSamples),
		entry(schemas.VerifierScores), entry(schemas.Checkpoints), entry(schemas.RLIterations), entry(schemas.Injections), entry(schemas.GeneratedTests)}
}

// CreateTables creates every table of this version that does not exist yet.
// A table that exists with an earlier schema does not stop the others from
// being created; the error names it (and says to migrate it).
func CreateTables(ctx context.Context, l *lake.Lake, prov lake.Provenance) ([]CreateResult, error) {
	var out []CreateResult
	var mismatched []error
	for _, t := range tables() {
		res, err := t.create(ctx, l, prov)
		if errors.Is(err, lake.ErrSchemaMismatch) {
			mismatched = append(mismatched, err)
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, CreateResult{Table: t.name, Created: !res.AlreadyCommitted})
	}
	return out, errors.Join(mismatched...)
}

func create[T any](ctx context.Context, l *lake.Lake, def schemas.Def[T], prov lake.Provenance) (lake.Result, error) {
	t, err := l.Table(def.Name)
	if err != nil {
		return lake.Result{}, err
	}
	return t.Create(ctx, Schema(def), partitionBy(def), prov)
}

// Key returns a table's key columns (nil: not a table of this version).
func Key(name string) []string {
	for _, t := range tables() {
		if t.name == name {
			return t.key
		}
	}
	return nil
}

// Dedupe drops the later copies of every key of a table of this version
// (lake.Dedupe), or with dryRun says how many there are.
func Dedupe(ctx context.Context, l *lake.Lake, name string, prov lake.Provenance, dryRun bool) (lake.DedupeResult, error) {
	for _, t := range tables() {
		if t.name == name {
			prov.Job = "dedupe"
			return t.dedupe(ctx, l, prov, dryRun)
		}
	}
	return lake.DedupeResult{}, fmt.Errorf("dedupe %s: not a table of this swelake (%w)", name, lake.ErrNoTable)
}

// ParquetSchema returns the Parquet schema of a table of this version, or nil.
func ParquetSchema(name string) *parquet.Schema {
	for _, t := range tables() {
		if t.name == name {
			return t.schema()
		}
	}
	return nil
}

// FileRefs names input files in provenance: file:// URLs of absolute paths.
func FileRefs(files []string) []string {
	out := make([]string, len(files))
	for i, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			abs = f
		}
		out[i] = "file://" + abs
	}
	return out
}

// ConfigHash is the sha256 of a config's canonical JSON, for provenance.
func ConfigHash(cfg any) (string, error) {
	data, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("hash config: %w", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// Pin resolves a snapshot reference ("table" or "table@v") of the table
// want.
func Pin(ctx context.Context, l *lake.Lake, ref, want string) (*lake.Snapshot, error) {
	r, err := lake.ParseRef(ref)
	if err != nil || r.Table != want {
		return nil, fmt.Errorf("input %q: want a %s snapshot (%s or %s@<version>)", ref, want, want, want)
	}
	t, err := l.Table(r.Table)
	if err != nil {
		return nil, err
	}
	s, err := t.Snapshot(ctx, r.Version)
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", ref, err)
	}
	return s, nil
}

// Init creates every table of this version that does not exist yet, as
// every job does before it reads or writes (prov names who asked).
func Init(ctx context.Context, l *lake.Lake, prov lake.Provenance) error {
	prov.Job = "init"
	_, err := CreateTables(ctx, l, prov)
	return err
}
