package tables_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/jobs/tables"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

func tasks(source string, ids ...string) []schemas.Task {
	out := make([]schemas.Task, len(ids))
	for i, id := range ids {
		out[i] = schemas.Task{TaskID: id, Source: source}
	}
	return out
}

func appendTasks(ctx context.Context, l *lake.Lake, rows []schemas.Task, mode lake.OnDuplicate, spec lake.RowSpec[schemas.Task]) (lake.Result, lake.Files, error) {
	t, err := l.Table(schemas.Tasks.Name)
	if err != nil {
		return lake.Result{}, lake.Files{}, err
	}
	return t.AppendKeyed(ctx, func(ctx context.Context) (lake.Files, error) {
		return lake.WriteFiles(ctx, t, spec, lake.Slice(rows), lake.WriteOptions{OnDuplicate: mode})
	}, lake.Provenance{Job: "test"})
}

// readTasks is the latest tasks snapshot's rows, "id=source" in file order.
func readTasks(t *testing.T, l *lake.Lake) []string {
	t.Helper()
	ctx := context.Background()
	tt, _ := l.Table(schemas.Tasks.Name)
	s, err := tt.Snapshot(ctx, lake.Latest)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for r, err := range lake.ReadRows[schemas.Task](ctx, l, s) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.TaskID+"="+r.Source)
	}
	return out
}

func distinct(rows []string) int {
	seen := map[string]bool{}
	for _, r := range rows {
		id, _, _ := strings.Cut(r, "=")
		seen[id] = true
	}
	return len(seen)
}

func TestKeysEnforced(t *testing.T) {
	ctx := context.Background()
	for _, backend := range []string{"memory", "minio"} {
		t.Run(backend, func(t *testing.T) {
			l := laketest.New(t)
			if backend == "minio" {
				l = laketest.MinIO(t, "keys")
			}
			spec := tables.Spec(schemas.Tasks)
			if _, _, err := appendTasks(ctx, l, tasks("a", "t1", "t2"), lake.RefuseDuplicates, spec); err != nil {
				t.Fatal(err)
			}
			// A key the table holds: refused, naming it and the snapshot.
			_, _, err := appendTasks(ctx, l, tasks("b", "t3", "t2"), lake.RefuseDuplicates, spec)
			var de *lake.DuplicateKeyError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), `write tasks: duplicate key: task_id "t2" is already in tasks@1; nothing was committed`) {
				t.Fatalf("append of a held key: %v", err)
			}
			// A key repeated within the write: refused too.
			if _, _, err := appendTasks(ctx, l, tasks("b", "t4", "t4"), lake.RefuseDuplicates, spec); !errors.Is(err, lake.ErrDuplicateKey) ||
				!strings.Contains(err.Error(), `task_id "t4" appears twice in the rows being written`) {
				t.Fatalf("append repeating a key: %v", err)
			}
			if got := readTasks(t, l); strings.Join(got, " ") != "t1=a t2=a" {
				t.Fatalf("refused appends left rows: %v", got)
			}
			// Skip: only the new keys, the first of a repeated one.
			res, files, err := appendTasks(ctx, l, tasks("b", "t3", "t2", "t4", "t4"), lake.SkipDuplicates, spec)
			if err != nil || files.Skipped != 2 || res.Commit.Summary.AddedRows != 2 {
				t.Fatalf("skip: %+v %+v %v", res, files, err)
			}
			// Nothing new: no version.
			res, files, err = appendTasks(ctx, l, tasks("c", "t1", "t3"), lake.SkipDuplicates, spec)
			if err != nil || !res.Empty || res.Commit.Version != 2 || files.Skipped != 2 {
				t.Fatalf("nothing new: %+v %+v %v", res, files, err)
			}
			if got := readTasks(t, l); len(got) != 4 || distinct(got) != 4 {
				t.Fatalf("rows %v", got)
			}
		})
	}
}

// TestConcurrentAppendsOfTheSameKeys: writers appending overlapping keys at
// once never leave a key twice — the loser of each race writes again from
// the newer snapshot (on MinIO: the real conditional writes).
func TestConcurrentAppendsOfTheSameKeys(t *testing.T) {
	ctx := context.Background()
	for _, backend := range []string{"memory", "minio"} {
		t.Run(backend, func(t *testing.T) {
			l := laketest.New(t)
			if backend == "minio" {
				l = laketest.MinIO(t, "concurrent-keys")
			}
			const writers, keys = 6, 30
			var wg sync.WaitGroup
			errs := make([]error, writers)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var ids []string
					for k := range keys { // every writer: keys w..w+keys-1, overlapping its neighbours'
						ids = append(ids, fmt.Sprintf("t%03d", w*5+k))
					}
					_, _, errs[w] = appendTasks(ctx, l, tasks(fmt.Sprint(w), ids...), lake.SkipDuplicates, tables.Spec(schemas.Tasks))
				}()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			got := readTasks(t, l)
			if want := (writers-1)*5 + keys; len(got) != want || distinct(got) != want {
				t.Fatalf("%d rows, %d distinct keys, want %d of each", len(got), distinct(got), want)
			}
			tt, _ := l.Table(schemas.Tasks.Name)
			s, _ := tt.Snapshot(ctx, lake.Latest)
			if d, err := tt.DuplicateKeys(ctx, s, schemas.Tasks.Key); err != nil || d.Rows != 0 {
				t.Fatalf("duplicates %+v %v", d, err)
			}
		})
	}
}

// TestDedupe: a lake written before keys were enforced holds keys twice;
// DuplicateKeys reports them and Dedupe keeps the first copy of each.
func TestDedupe(t *testing.T) {
	ctx := context.Background()
	l := laketest.New(t)
	old := tables.Spec(schemas.Tasks)
	old.Key = nil // as an older swelake wrote
	for _, rows := range [][]schemas.Task{tasks("v1", "t1", "t2", "t2"), tasks("v2", "t2", "t3"), tasks("v3", "t1")} {
		if _, _, err := appendTasks(ctx, l, rows, lake.RefuseDuplicates, old); err != nil {
			t.Fatal(err)
		}
	}
	tt, _ := l.Table(schemas.Tasks.Name)
	s, _ := tt.Snapshot(ctx, lake.Latest)
	d, err := tt.DuplicateKeys(ctx, s, schemas.Tasks.Key)
	if err != nil || d.Rows != 3 || d.Keys != 2 || strings.Join(d.First, ",") != "t2" {
		t.Fatalf("duplicates %+v %v", d, err)
	}
	dry, err := tables.Dedupe(ctx, l, "tasks", lake.Provenance{}, true)
	if err != nil || dry.Version != -1 || dry.RowsAfter != 3 {
		t.Fatalf("dry run %+v %v", dry, err)
	}
	res, err := tables.Dedupe(ctx, l, "tasks", lake.Provenance{}, false)
	if err != nil || res.Version != 4 || res.RowsBefore != 6 || res.RowsAfter != 3 {
		t.Fatalf("dedupe %+v %v", res, err)
	}
	got := readTasks(t, l)
	slices.Sort(got)
	if strings.Join(got, " ") != "t1=v1 t2=v1 t3=v2" {
		t.Fatalf("after dedupe: %v, want the first copy of each key", got)
	}
	again, err := tables.Dedupe(ctx, l, "tasks", lake.Provenance{}, false)
	if err != nil || again.Version != -1 || again.Before.Rows != 0 {
		t.Fatalf("second dedupe %+v %v", again, err)
	}
	// The earlier version still holds its rows (time travel until gc).
	prev, _ := tt.Snapshot(ctx, 3)
	if prev.Rows() != 6 {
		t.Fatalf("tasks@3 has %d rows", prev.Rows())
	}
}
