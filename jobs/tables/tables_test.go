package tables

import (
	"context"
	"testing"

	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/schemas"
)

func TestCreateTablesIsIdempotent(t *testing.T) {
	ctx := context.Background()
	l := lake.Open(objstore.NewMem(nil), lake.Options{})
	first, err := CreateTables(ctx, l, lake.Provenance{Job: "init"})
	if err != nil || len(first) != len(schemas.Names()) || !first[0].Created {
		t.Fatalf("first: %+v %v", first, err)
	}
	second, err := CreateTables(ctx, l, lake.Provenance{Job: "init"})
	if err != nil || len(second) != len(first) {
		t.Fatalf("second: %+v %v", second, err)
	}
	for _, r := range second {
		if r.Created {
			t.Fatalf("second run created %s again", r.Table)
		}
	}
	tbl, _ := l.Table("rollouts")
	s, err := tbl.Snapshot(ctx, 0)
	if err != nil || s.Schema.Fingerprint != schemas.Rollouts.Fingerprint() || len(s.PartitionBy) != 1 || s.PartitionBy[0] != "run_id" {
		t.Fatalf("rollouts@0: %+v %v", s, err)
	}
	for _, name := range schemas.Names() {
		if ParquetSchema(name) == nil {
			t.Errorf("no Parquet schema for %s", name)
		}
	}
	if ParquetSchema("nope") != nil {
		t.Error("a schema for an unknown table")
	}
}

func TestConfigHash(t *testing.T) {
	type cfg struct{ A, B int }
	h1, _ := ConfigHash(cfg{1, 2})
	h2, _ := ConfigHash(cfg{1, 2})
	h3, _ := ConfigHash(cfg{2, 1})
	if h1 != h2 || h1 == h3 || len(h1) != 64 {
		t.Fatalf("hashes %s %s %s", h1, h2, h3)
	}
}

func TestSpecPartitions(t *testing.T) {
	spec := Spec(schemas.Tasks)
	task := schemas.Task{TaskID: "a", Source: "swe-gym"}
	if p := spec.Partition(&task); p["source"] != "swe-gym" || len(p) != 1 {
		t.Fatalf("partition %v", p)
	}
	if spec.Schema.Name != "tasks" || spec.Schema.Fingerprint != schemas.Tasks.Fingerprint() {
		t.Fatalf("schema %+v", spec.Schema)
	}
}
