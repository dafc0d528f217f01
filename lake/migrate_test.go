package lake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
)

// rowV2 is the test table's row at schema v2: a new column, and a pointer
// into a raw source.
type rowV2 struct {
	ID      int64  `parquet:"id"`
	Part    string `parquet:"part"`
	Writer  string `parquet:"writer"`
	Payload string `parquet:"payload"`
	Upper   string `parquet:"upper"`
	Source  string `parquet:"source"`
}

var testSchemaV2 = lake.SchemaFor[rowV2]("test_rows", 2)

func testSpecV2() lake.RowSpec[rowV2] {
	return lake.RowSpec[rowV2]{
		Schema:    testSchemaV2,
		Partition: func(r *rowV2) lake.Partition { return lake.Partition{"part": r.Part} },
		RawOf:     func(r *rowV2) string { return r.Source },
	}
}

// TestMigrate: a migrate commit moves a table to a later schema version
// whole: it conflicts with a commit that landed after its base (its files
// deleted), the latest version has the new schema and only the new files,
// the earlier versions keep theirs, writers of the old schema are refused
// after it, its log entry is format 2 (every other entry 1), and gc keeps
// the raw sources its files point at while removing an unreferenced one.
func TestMigrate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b objstore.Bucket) {
		ctx := context.Background()
		var now atomic.Pointer[time.Time]
		start := time.Now()
		now.Store(&start)
		l, tbl := newTable(t, b, lake.Options{Clock: func() time.Time { return *now.Load() }, CacheDir: t.TempDir()})
		if _, err := appendRows(ctx, tbl, makeRows("w", 0, 6, "a", "b"), "r1"); err != nil {
			t.Fatal(err)
		}
		if _, err := appendRows(ctx, tbl, makeRows("w", 6, 4, "a"), "r2"); err != nil {
			t.Fatal(err)
		}
		base, _ := tbl.Snapshot(ctx, lake.Latest)
		source, _, err := l.PutRaw(ctx, strings.NewReader("the old rows' source\n"), "")
		if err != nil {
			t.Fatal(err)
		}
		orphanSource, _, err := l.PutRaw(ctx, strings.NewReader("never pointed at\n"), "")
		if err != nil {
			t.Fatal(err)
		}
		var v2 []rowV2
		for _, r := range readRows(t, b, base) {
			v2 = append(v2, rowV2{ID: r.ID, Part: r.Part, Writer: r.Writer, Payload: r.Payload, Upper: strings.ToUpper(r.Payload), Source: source})
		}
		if _, err := lake.WriteFiles(ctx, tbl, testSpecV2(), lake.Slice(v2), lake.WriteOptions{}); !errors.Is(err, lake.ErrSchemaMismatch) {
			t.Fatalf("v2 rows written as an append: %v", err)
		}
		write := func() lake.Files {
			files, err := lake.WriteMigrationFiles(ctx, tbl, testSpecV2(), lake.Slice(v2), lake.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return files
		}
		// An append lands after the migration's base: the migration fails.
		lost := write()
		if _, err := appendRows(ctx, tbl, makeRows("late", 100, 1, "c"), "late"); err != nil {
			t.Fatal(err)
		}
		if _, err := tbl.Migrate(ctx, base, testSchemaV2, lost, lake.Provenance{Job: "migrate"}); !errors.Is(err, lake.ErrConflict) {
			t.Fatalf("migrate after a concurrent append: %v", err)
		}
		if _, err := b.Stat(ctx, lake.FileKey("test_rows", lost.Files[0].Path)); !errors.Is(err, objstore.ErrNotExist) {
			t.Fatalf("the refused migration's files were left: %v", err)
		}
		// Again from the newer base.
		base, _ = tbl.Snapshot(ctx, lake.Latest)
		v2 = append(v2, rowV2{ID: 100, Part: "c", Writer: "late", Upper: "", Source: source})
		res, err := tbl.Migrate(ctx, base, testSchemaV2, write(), lake.Provenance{Job: "migrate"})
		if err != nil {
			t.Fatal(err)
		}
		latest, _ := tbl.Snapshot(ctx, lake.Latest)
		if latest.Schema.Version != 2 || latest.Rows() != 11 || res.Commit.Format != 2 || len(res.Commit.Removed) != len(base.Files) {
			t.Fatalf("after the migration: schema v%d, %d rows, format %d, removed %d of %d", latest.Schema.Version, latest.Rows(), res.Commit.Format, len(res.Commit.Removed), len(base.Files))
		}
		if src := latest.RawSources(); len(src) != 1 || src[0] != source {
			t.Fatalf("raw sources of the migrated files: %v", src)
		}
		before, _ := tbl.Snapshot(ctx, base.Version)
		if before.Schema.Version != 1 || len(readRows(t, b, before)) != 11 {
			t.Fatalf("the version before the migration: schema v%d", before.Schema.Version)
		}
		if _, err := appendRows(ctx, tbl, makeRows("old-writer", 200, 1), "old"); !errors.Is(err, lake.ErrSchemaMismatch) {
			t.Fatalf("a v1 writer after the migration: %v", err)
		}
		files, err := lake.WriteFiles(ctx, tbl, testSpecV2(), lake.Slice([]rowV2{{ID: 300, Part: "a"}}), lake.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tbl.Append(ctx, files, lake.Provenance{Job: "new-writer"}); err != nil {
			t.Fatal(err)
		}
		// Only the migrate entry needs format 2.
		log, _ := tbl.Log(ctx, 0, lake.Latest)
		for _, c := range log {
			if want := map[bool]int{true: 2, false: 1}[c.Operation == lake.OpMigrate]; c.Format != want {
				data, _ := json.Marshal(c)
				t.Fatalf("entry %d has format %d, want %d: %s", c.Version, c.Format, want, data)
			}
		}
		// gc: the migrated-away files and the pointed-at source stay; the
		// source nothing points at goes once past the grace period.
		later := start.Add(2 * time.Hour)
		now.Store(&later)
		gc, err := l.GC(ctx, time.Hour, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range gc.Removed {
			if o.Key != lake.RawKey(orphanSource) {
				t.Errorf("gc removed %s", o.Key)
			}
		}
		if len(gc.Removed) != 1 {
			t.Fatalf("gc removed %d objects, want the orphan source", len(gc.Removed))
		}
		for v := int64(0); v <= latest.Version+1; v++ {
			s, _ := tbl.Snapshot(ctx, v)
			if probs, err := tbl.Verify(ctx, s, nil); err != nil || len(probs) != 0 {
				t.Fatalf("verify @%d: %v %v", v, probs, err)
			}
		}
		if got, err := l.ReadRaw(ctx, source, 4, 3); err != nil || !bytes.Equal(got, []byte("old")) {
			t.Fatalf("raw source after gc: %q %v", got, err)
		}
	})
}
