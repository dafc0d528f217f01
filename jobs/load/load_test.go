package load

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"github.com/swelake/swelake/jobs/tables"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"

	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/schemas"
)

func newLake(t *testing.T) (*lake.Lake, objstore.Bucket) {
	t.Helper()
	b, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l := lake.Open(b, lake.Options{})
	ctx := context.Background()
	if err := l.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tables.CreateTables(ctx, l, lake.Provenance{Job: "test"}); err != nil {
		t.Fatal(err)
	}
	return l, b
}

func write(t *testing.T, name string, data []byte) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const rows = `{"rollout_id":"r1","task_id":"t1","run_id":"a"}
{"rollout_id":"r2","task_id":"t1","run_id":"b","reward":1}
`

func TestAppendFormats(t *testing.T) {
	ctx := context.Background()
	l, _ := newLake(t)
	var gz, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write([]byte(strings.NewReplacer("r1", "g1", "r2", "g2").Replace(rows)))
	gw.Close()
	zw, _ := zstd.NewWriter(&zs)
	zw.Write([]byte(strings.NewReplacer("r1", "z1", "r2", "z2").Replace(rows)))
	zw.Close()
	var pq bytes.Buffer
	pw := parquet.NewGenericWriter[schemas.Rollout](&pq)
	pw.Write([]schemas.Rollout{{RolloutID: "p1", TaskID: "t2", RunID: "a"}})
	pw.Close()
	files := []string{
		write(t, "a.jsonl", []byte(rows)),
		write(t, "b.jsonl.gz", gz.Bytes()),
		write(t, "c.ndjson.zst", zs.Bytes()),
		write(t, "d.parquet", pq.Bytes()),
	}
	var passes []string
	sum, err := Run(ctx, l, Config{Table: "rollouts", Files: files}, func(pass string, done, total int64) {
		if len(passes) == 0 || passes[len(passes)-1] != pass {
			passes = append(passes, pass)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Version != 1 || sum.Rows != 7 || sum.AlreadyCommitted || sum.Files != 2 {
		t.Fatalf("summary %+v", sum)
	}
	if strings.Join(passes, ",") != "validate,write" {
		t.Fatalf("progress passes %v", passes)
	}
	tbl, _ := l.Table("rollouts")
	s, _ := tbl.Snapshot(ctx, lake.Latest)
	c := s.Commit
	if c.Provenance.Job != JobName || !strings.HasPrefix(c.Provenance.RunKey, JobName+":") || len(c.Provenance.Inputs) != 4 ||
		!strings.HasPrefix(c.Provenance.Inputs[0], "file:///") || len(c.Provenance.ConfigHash) != 64 {
		t.Fatalf("provenance %+v", c.Provenance)
	}

	// The same files again: a no-op.
	again, err := Run(ctx, l, Config{Table: "rollouts", Files: files}, nil)
	if err != nil || !again.AlreadyCommitted || again.Version != 1 {
		t.Fatalf("rerun %+v %v", again, err)
	}
	// A changed file is new content (a new run key) with keys the table
	// holds: refused, naming the key; with skip, only the new row lands.
	changed := write(t, "a.jsonl", []byte(strings.ReplaceAll(rows, "r2", "r3")))
	if _, err := Run(ctx, l, Config{Table: "rollouts", Files: []string{changed}}, nil); !errors.Is(err, lake.ErrDuplicateKey) ||
		!strings.Contains(err.Error(), `rollout_id "r1" is already in rollouts@1`) {
		t.Fatalf("keys the table holds: %v", err)
	}
	if s, err := Run(ctx, l, Config{Table: "rollouts", Files: []string{changed}, OnDuplicate: "skip"}, nil); err != nil || s.Version != 2 || s.Rows != 1 || s.Skipped != 1 {
		t.Fatalf("changed content, skip: %+v %v", s, err)
	}
	// Nothing new at all: no empty version.
	if s, err := Run(ctx, l, Config{Table: "rollouts", Files: []string{changed}, OnDuplicate: "skip", RunKey: "again"}, nil); err != nil || s.Version != 2 || s.Rows != 0 || s.Skipped != 2 {
		t.Fatalf("nothing new, skip: %+v %v", s, err)
	}
}

func TestBadRowRefusesEverything(t *testing.T) {
	ctx := context.Background()
	l, b := newLake(t)
	good := write(t, "good.jsonl", []byte(rows))
	bad := write(t, "bad.jsonl", []byte(rows+`{"rollout_id":"r9","task_id":"t1","run_id":"a","num_turns":"many"}`+"\n"))
	_, err := Run(ctx, l, Config{Table: "rollouts", Files: []string{good, bad}}, nil)
	var re *schemas.RowError
	if !errors.As(err, &re) || re.Line != 3 || !strings.Contains(err.Error(), "bad.jsonl:line 3") || !strings.Contains(err.Error(), "num_turns") {
		t.Fatalf("error %v, want one naming bad.jsonl line 3 and num_turns", err)
	}
	tbl, _ := l.Table("rollouts")
	if v, _ := tbl.Latest(ctx); v != 0 {
		t.Fatalf("a refused append committed version %d", v)
	}
	for info := range b.List(ctx, "tables/rollouts/data/") {
		t.Fatalf("a refused append wrote %s", info.Key)
	}
}

func TestConfigErrors(t *testing.T) {
	ctx := context.Background()
	l, _ := newLake(t)
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Table: "rollouts"}, "no input files"},
		{Config{Table: "rollouts", Files: []string{"x.csv"}}, "unknown input format"},
		{Config{Table: "Bad", Files: []string{"x.jsonl"}}, "want [a-z]"},
		{Config{Table: "task_stats", Files: []string{"x.jsonl"}}, "no such table"},
		{Config{Table: "tasks", Files: []string{"/nonexistent/x.jsonl"}}, "no such file"},
	} {
		if _, err := Run(ctx, l, tc.cfg, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	uninit := lake.Open(objstore.NewMem(nil), lake.Options{})
	if _, err := Run(ctx, uninit, Config{Table: "tasks", Files: []string{write(t, "t.jsonl", []byte(`{"task_id":"a","source":"s"}`))}}, nil); !errors.Is(err, lake.ErrNoTable) {
		t.Fatalf("append to a lake without tables: %v", err)
	}
}
