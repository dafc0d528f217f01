package lake_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/swelake/swelake/internal/miniotest"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/lake/objstore/objstoretest"
)

// row is the test table's row type.
type row struct {
	ID      int64  `parquet:"id"`
	Part    string `parquet:"part"`
	Writer  string `parquet:"writer"`
	Payload string `parquet:"payload"`
}

var testSchema = lake.SchemaFor[row]("test_rows", 1)

func testSpec() lake.RowSpec[row] {
	return lake.RowSpec[row]{
		Schema:    testSchema,
		Partition: func(r *row) lake.Partition { return lake.Partition{"part": r.Part} },
		SizeOf:    func(r *row) int { return len(r.Payload) + 32 },
	}
}

// minio is the package's MinIO server, started once in TestMain.
var minio *miniotest.Server

func TestMain(m *testing.M) {
	if helper := os.Getenv(helperEnv); helper != "" {
		os.Exit(runHelper(helper))
	}
	dir, err := os.MkdirTemp("", "swelake-minio-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	minio, err = miniotest.Start(context.Background(), miniotest.Options{Dir: dir})
	if err != nil {
		fmt.Fprintf(os.Stderr, "MinIO is required for the lake tests (run `make minio-bin`, or set SWELAKE_MINIO_BIN): %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	minio.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

var bucketSeq atomic.Int64

// backends returns a fresh, empty bucket of each kind.
func backends(t testing.TB) map[string]func(testing.TB) objstore.Bucket {
	return map[string]func(testing.TB) objstore.Bucket{
		"local": func(tb testing.TB) objstore.Bucket {
			b, err := objstore.NewLocal(tb.TempDir())
			if err != nil {
				tb.Fatal(err)
			}
			return b
		},
		"mem": func(testing.TB) objstore.Bucket { return objstore.NewMem(nil) },
		"minio": func(tb testing.TB) objstore.Bucket {
			return newS3(tb, fmt.Sprintf("lake-%d-%d", os.Getpid(), bucketSeq.Add(1)))
		},
	}
}

func s3Config(bucket string) objstore.S3Config {
	return objstore.S3Config{Endpoint: minio.Endpoint, AccessKey: minio.AccessKey, SecretKey: minio.SecretKey, Bucket: bucket, Prefix: "lake"}
}

func newS3(tb testing.TB, bucket string) *objstore.S3 {
	b, err := objstore.NewS3(s3Config(bucket))
	if err != nil {
		tb.Fatal(err)
	}
	if err := b.EnsureBucket(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return b
}

func forEachBackend(t *testing.T, fn func(t *testing.T, b objstore.Bucket)) {
	for _, name := range []string{"local", "mem", "minio"} {
		t.Run(name, func(t *testing.T) { fn(t, backends(t)[name](t)) })
	}
}

func newTable(t testing.TB, b objstore.Bucket, opts lake.Options) (*lake.Lake, *lake.Table) {
	t.Helper()
	ctx := context.Background()
	l := lake.Open(b, opts)
	if err := l.Init(ctx); err != nil {
		t.Fatal(err)
	}
	tbl, err := l.Table("test_rows")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Create(ctx, testSchema, []string{"part"}, lake.Provenance{Job: "test"}); err != nil {
		t.Fatal(err)
	}
	return l, tbl
}

func makeRows(writer string, first, n int, parts ...string) []row {
	if len(parts) == 0 {
		parts = []string{"a"}
	}
	rows := make([]row, n)
	for i := range rows {
		rows[i] = row{ID: int64(first + i), Part: parts[i%len(parts)], Writer: writer, Payload: strings.Repeat("x", 50+i%7)}
	}
	return rows
}

func appendRows(ctx context.Context, tbl *lake.Table, rows []row, runKey string) (lake.Result, error) {
	files, err := lake.WriteFiles(ctx, tbl, testSpec(), lake.Slice(rows), lake.WriteOptions{})
	if err != nil {
		return lake.Result{}, err
	}
	return tbl.Append(ctx, files, lake.Provenance{Job: "test-append", RunKey: runKey, Inputs: []string{"src@1"}, ConfigHash: "cfg"})
}

// readRows reads every row of a snapshot through the bucket.
func readRows(t testing.TB, b objstore.Bucket, s *lake.Snapshot) []row {
	t.Helper()
	var out []row
	for _, f := range s.Files {
		data, err := objstore.ReadAll(context.Background(), b, lake.FileKey(s.Table, f.Path))
		if err != nil {
			t.Fatalf("read %s: %v", f.Path, err)
		}
		rows, err := parquet.Read[row](strings.NewReader(string(data)), int64(len(data)))
		if err != nil {
			t.Fatalf("parse %s: %v", f.Path, err)
		}
		if int64(len(rows)) != f.Rows {
			t.Fatalf("%s has %d rows, log says %d", f.Path, len(rows), f.Rows)
		}
		out = append(out, rows...)
	}
	return out
}

func TestCommitsAndSnapshots(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b objstore.Bucket) {
		ctx := context.Background()
		l, tbl := newTable(t, b, lake.Options{Author: "tester", CodeVersion: "v-test"})
		for i := range 3 {
			res, err := appendRows(ctx, tbl, makeRows("w", i*100, 10, "a", "b"), fmt.Sprintf("run-%d", i))
			if err != nil {
				t.Fatal(err)
			}
			if res.AlreadyCommitted || res.Commit.Version != int64(i+1) {
				t.Fatalf("append %d: %+v", i, res)
			}
		}
		s, err := tbl.Snapshot(ctx, lake.Latest)
		if err != nil {
			t.Fatal(err)
		}
		if s.Version != 3 || s.Rows() != 30 || len(s.Files) != 6 {
			t.Fatalf("latest: version %d rows %d files %d", s.Version, s.Rows(), len(s.Files))
		}
		if got := len(readRows(t, b, s)); got != 30 {
			t.Fatalf("read %d rows", got)
		}
		s1, err := tbl.Snapshot(ctx, 1)
		if err != nil || s1.Rows() != 10 {
			t.Fatalf("@1: %v rows %d", err, s1.Rows())
		}
		s0, err := tbl.Snapshot(ctx, 0)
		if err != nil || s0.Rows() != 0 || s0.Schema.Fingerprint != testSchema.Fingerprint {
			t.Fatalf("@0: %v %+v", err, s0)
		}
		if _, err := tbl.Snapshot(ctx, 4); !errors.Is(err, lake.ErrNoVersion) {
			t.Fatalf("@4: %v, want ErrNoVersion", err)
		}
		missing, _ := l.Table("missing")
		if _, err := missing.Snapshot(ctx, lake.Latest); !errors.Is(err, lake.ErrNoTable) {
			t.Fatalf("missing table: %v, want ErrNoTable", err)
		}
		tables, err := l.Tables(ctx)
		if err != nil || fmt.Sprint(tables) != "[test_rows]" {
			t.Fatalf("tables = %v, %v", tables, err)
		}

		// Every commit carries provenance and per-file hashes.
		log, err := tbl.Log(ctx, 0, lake.Latest)
		if err != nil || len(log) != 4 {
			t.Fatalf("log: %d entries, %v", len(log), err)
		}
		c := log[2]
		p := c.Provenance
		if c.Parent != 1 || c.Operation != lake.OpAppend || p.Job != "test-append" || p.RunKey != "run-1" ||
			p.ConfigHash != "cfg" || fmt.Sprint(p.Inputs) != "[src@1]" || p.CodeVersion != "v-test" || p.Author != "tester" || p.Time.IsZero() {
			t.Fatalf("commit 2: %+v", c)
		}
		if c.Summary.AddedRows != 10 || c.Summary.TotalRows != 20 || c.Summary.TotalFiles != 4 {
			t.Fatalf("summary: %+v", c.Summary)
		}
		for _, f := range c.Added {
			if len(f.SHA256) != 64 || f.Bytes == 0 || f.Rows != 5 || !strings.HasPrefix(f.Path, "data/part="+f.Partition["part"]+"/part-") {
				t.Fatalf("file entry %+v", f)
			}
		}

		// A second handle (a reader in another process) sees the same.
		other, _ := lake.Open(b, lake.Options{}).Table("test_rows")
		s2, err := other.Snapshot(ctx, lake.Latest)
		if err != nil || s2.Version != 3 || s2.Rows() != 30 {
			t.Fatalf("second handle: %v %d", err, s2.Rows())
		}
	})
}

func TestNotInitialized(t *testing.T) {
	l := lake.Open(objstore.NewMem(nil), lake.Options{})
	if err := l.CheckInitialized(context.Background()); !errors.Is(err, lake.ErrNotInitialized) {
		t.Fatalf("%v, want ErrNotInitialized", err)
	}
}

func TestRunKeyIdempotent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b objstore.Bucket) {
		ctx := context.Background()
		_, tbl := newTable(t, b, lake.Options{})
		first, err := appendRows(ctx, tbl, makeRows("w", 0, 5), "job-x")
		if err != nil {
			t.Fatal(err)
		}
		again, err := appendRows(ctx, tbl, makeRows("w", 0, 5), "job-x")
		if err != nil {
			t.Fatal(err)
		}
		if !again.AlreadyCommitted || again.Commit.Version != first.Commit.Version || again.Commit.CommitID != first.Commit.CommitID {
			t.Fatalf("rerun of job-x: %+v", again)
		}
		s, _ := tbl.Snapshot(ctx, lake.Latest)
		if s.Version != 1 || s.Rows() != 5 {
			t.Fatalf("after rerun: version %d rows %d", s.Version, s.Rows())
		}
	})
}

func TestCreateIsIdempotentAndChecksSchema(t *testing.T) {
	ctx := context.Background()
	_, tbl := newTable(t, objstore.NewMem(nil), lake.Options{})
	res, err := tbl.Create(ctx, testSchema, []string{"part"}, lake.Provenance{})
	if err != nil || !res.AlreadyCommitted {
		t.Fatalf("re-create: %+v %v", res, err)
	}
	other := lake.SchemaFor[struct {
		X int `parquet:"x"`
	}]("test_rows", 2)
	if _, err := tbl.Create(ctx, other, []string{"part"}, lake.Provenance{}); !errors.Is(err, lake.ErrSchemaMismatch) {
		t.Fatalf("create with another schema: %v", err)
	}
	// A version 0 without a schema is reported as corrupt, not a crash.
	mem := objstore.NewMem(nil)
	mem.Put(ctx, "tables/broken/_log/00000000000000000000.json", strings.NewReader(`{"format":1,"table":"broken","version":0,"parent":-1,"operation":"create"}`), -1)
	broken, _ := lake.Open(mem, lake.Options{}).Table("broken")
	if _, err := broken.Create(ctx, testSchema, nil, lake.Provenance{}); !errors.Is(err, lake.ErrCorrupt) {
		t.Fatalf("create over a schema-less version 0: %v", err)
	}
	// Files of another schema are refused.
	type wrong struct {
		Part string `parquet:"part"`
	}
	_, err = lake.WriteFiles(ctx, tbl, lake.RowSpec[wrong]{Schema: lake.SchemaFor[wrong]("test_rows", 9),
		Partition: func(w *wrong) lake.Partition { return lake.Partition{"part": w.Part} }}, lake.Slice([]wrong{{"a"}}), lake.WriteOptions{})
	if !errors.Is(err, lake.ErrSchemaMismatch) {
		t.Fatalf("write with another schema: %v", err)
	}
}

func TestOverwriteConflicts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b objstore.Bucket) {
		ctx := context.Background()
		_, tbl := newTable(t, b, lake.Options{})
		if _, err := appendRows(ctx, tbl, makeRows("w", 0, 10, "a", "b"), ""); err != nil {
			t.Fatal(err)
		}
		base, _ := tbl.Snapshot(ctx, lake.Latest)
		write := func(rows []row) lake.Files {
			f, err := lake.WriteFiles(ctx, tbl, testSpec(), lake.Slice(rows), lake.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
		pa := []lake.Partition{{"part": "a"}}
		// Two overwrites of partition a from the same base: the second loses.
		if _, err := tbl.OverwritePartitions(ctx, base, pa, write(makeRows("o1", 100, 3, "a")), lake.Provenance{Job: "o1"}); err != nil {
			t.Fatal(err)
		}
		_, err := tbl.OverwritePartitions(ctx, base, pa, write(makeRows("o2", 200, 4, "a")), lake.Provenance{Job: "o2"})
		var ce *lake.ConflictError
		if !errors.Is(err, lake.ErrConflict) || !errors.As(err, &ce) || ce.Partition != "part=a" || ce.Version != 2 {
			t.Fatalf("second overwrite: %v, want a ConflictError on part=a at version 2", err)
		}
		// An overwrite of another partition from the same base, and an
		// append to partition a, do not conflict.
		if _, err := tbl.OverwritePartitions(ctx, base, []lake.Partition{{"part": "b"}}, write(makeRows("o3", 300, 2, "b")), lake.Provenance{}); err != nil {
			t.Fatalf("overwrite of b: %v", err)
		}
		if _, err := appendRows(ctx, tbl, makeRows("late", 400, 1, "a"), ""); err != nil {
			t.Fatal(err)
		}
		s, _ := tbl.Snapshot(ctx, lake.Latest)
		var writers []string
		for _, r := range readRows(t, b, s) {
			if !slices.Contains(writers, r.Writer) {
				writers = append(writers, r.Writer)
			}
		}
		slices.Sort(writers)
		if s.Rows() != 3+2+1 || fmt.Sprint(writers) != "[late o1 o3]" {
			t.Fatalf("after overwrites: rows %d writers %v", s.Rows(), writers)
		}
		// The old version is still readable: time travel.
		old, _ := tbl.Snapshot(ctx, base.Version)
		if got := len(readRows(t, b, old)); got != 10 {
			t.Fatalf("@%d has %d rows", base.Version, got)
		}
		// Delete a partition.
		latest, _ := tbl.Snapshot(ctx, lake.Latest)
		if _, err := tbl.DeletePartitions(ctx, latest, []lake.Partition{{"part": "b"}}, lake.Provenance{}); err != nil {
			t.Fatal(err)
		}
		s, _ = tbl.Snapshot(ctx, lake.Latest)
		if s.Rows() != 4 {
			t.Fatalf("after delete of b: %d rows", s.Rows())
		}
	})
}

// TestFaultInjection fails every storage call of a write+commit, once before
// the call and once after it succeeded (a lost acknowledgement), and checks
// that the commit is then visible exactly once or not at all, that what is
// visible verifies, and that rerunning the job completes it exactly once.
func TestFaultInjection(t *testing.T) {
	for _, name := range []string{"local", "mem", "minio"} {
		newBucket := backends(t)[name]
		t.Run(name, func(t *testing.T) { testFaultInjection(t, newBucket) })
	}
}

func testFaultInjection(t *testing.T, newBucket func(testing.TB) objstore.Bucket) {
	ctx := context.Background()
	rows := makeRows("f", 0, 20, "a", "b")
	// Count the calls of a clean run.
	b := newBucket(t)
	_, tbl := newTable(t, b, lake.Options{})
	if _, err := appendRows(ctx, tbl, makeRows("pre", 1000, 3), "pre"); err != nil {
		t.Fatal(err)
	}
	probe := &objstoretest.Faulty{Bucket: b}
	ptbl, _ := lake.Open(probe, lake.Options{}).Table("test_rows")
	if _, err := appendRows(ctx, ptbl, rows, "probe"); err != nil {
		t.Fatal(err)
	}
	calls := probe.Calls()
	t.Logf("a write+commit makes %d storage calls: %v", calls, probe.Trace())
	outcomes := map[string]int{}
	for _, when := range []objstoretest.When{objstoretest.Before, objstoretest.After} {
		for at := 1; at <= calls; at++ {
			name := fmt.Sprintf("%s-%d", when, at)
			fb := newBucket(t)
			_, clean := newTable(t, fb, lake.Options{})
			if _, err := appendRows(ctx, clean, makeRows("pre", 1000, 3), "pre"); err != nil {
				t.Fatal(err)
			}
			faulty := &objstoretest.Faulty{Bucket: fb, FailAt: at, When: when}
			ftbl, _ := lake.Open(faulty, lake.Options{Backoff: time.Millisecond}).Table("test_rows")
			_, jobErr := appendRows(ctx, ftbl, rows, "job")

			// A fresh reader: no caches from the faulty handle.
			rtbl, _ := lake.Open(fb, lake.Options{}).Table("test_rows")
			count := runKeyCount(t, rtbl, "job")
			if count > 1 || jobErr == nil && count != 1 {
				t.Fatalf("%s: job error %v, run key committed %d times", name, jobErr, count)
			}
			checkSnapshot(t, fb, rtbl, 3+20*int64(count))
			outcomes[fmt.Sprintf("%s: err=%t visible=%d", when, jobErr != nil, count)]++

			// Rerun without faults: exactly once.
			if _, err := appendRows(ctx, rtbl, rows, "job"); err != nil {
				t.Fatalf("%s: rerun: %v", name, err)
			}
			if n := runKeyCount(t, rtbl, "job"); n != 1 {
				t.Fatalf("%s: after rerun the run key is committed %d times", name, n)
			}
			checkSnapshot(t, fb, rtbl, 23)
		}
	}
	t.Logf("outcomes over %d injected faults: %v", 2*calls, outcomes)
}

func runKeyCount(t testing.TB, tbl *lake.Table, key string) int {
	t.Helper()
	log, err := tbl.Log(context.Background(), 0, lake.Latest)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, c := range log {
		if c.Version != int64(i) {
			t.Fatalf("log versions not contiguous at %d: %d", i, c.Version)
		}
		if c.Provenance.RunKey == key {
			n++
		}
	}
	return n
}

// checkSnapshot: the latest snapshot has the rows it should, all of its files
// verify, and they hold exactly the rows the log says.
func checkSnapshot(t testing.TB, b objstore.Bucket, tbl *lake.Table, wantRows int64) {
	t.Helper()
	ctx := context.Background()
	s, err := tbl.Snapshot(ctx, lake.Latest)
	if err != nil {
		t.Fatal(err)
	}
	if s.Rows() != wantRows {
		t.Fatalf("snapshot @%d has %d rows, want %d", s.Version, s.Rows(), wantRows)
	}
	problems, err := tbl.Verify(ctx, s, nil)
	if err != nil || len(problems) > 0 {
		t.Fatalf("verify @%d: %v %v", s.Version, problems, err)
	}
	if got := int64(len(readRows(t, b, s))); got != wantRows {
		t.Fatalf("read %d rows", got)
	}
}

func TestCheckpoint(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b objstore.Bucket) {
		ctx := context.Background()
		_, tbl := newTable(t, b, lake.Options{CheckpointInterval: 4})
		for i := range 10 {
			if _, err := appendRows(ctx, tbl, makeRows("w", i*10, 2), fmt.Sprint("k", i)); err != nil {
				t.Fatal(err)
			}
		}
		if ok, _ := objstore.Exists(ctx, b, "tables/test_rows/_log/_checkpoint.json"); !ok {
			t.Fatal("no checkpoint after 10 commits with interval 4")
		}
		// A fresh reader starts from the checkpoint (version 8): it reads
		// entries 8, 9 and 10 only.
		probe := &objstoretest.Faulty{Bucket: b}
		rt, _ := lake.Open(probe, lake.Options{}).Table("test_rows")
		s, err := rt.Snapshot(ctx, lake.Latest)
		if err != nil || s.Version != 10 || s.Rows() != 20 {
			t.Fatalf("snapshot via checkpoint: %v v%d rows %d", err, s.Version, s.Rows())
		}
		gets := 0
		for _, c := range probe.Trace() {
			if strings.HasPrefix(c, "get tables/test_rows/_log/0") {
				gets++
			}
		}
		if gets != 3 {
			t.Fatalf("read %d log entries, want 3: %v", gets, probe.Trace())
		}
		if _, ok := s.RunKeyVersion("k0"); !ok {
			t.Fatal("run keys from before the checkpoint are lost")
		}
		// An old version is still resolved by replay.
		if s3, err := rt.Snapshot(ctx, 3); err != nil || s3.Rows() != 6 {
			t.Fatalf("@3: %v", err)
		}
		// A corrupt checkpoint is ignored.
		if err := b.Put(ctx, "tables/test_rows/_log/_checkpoint.json", strings.NewReader("{garbage"), -1); err != nil {
			t.Fatal(err)
		}
		rt2, _ := lake.Open(b, lake.Options{}).Table("test_rows")
		if s, err := rt2.Snapshot(ctx, lake.Latest); err != nil || s.Rows() != 20 {
			t.Fatalf("with a corrupt checkpoint: %v", err)
		}
	})
}

func TestVerifyDetectsCorruption(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b objstore.Bucket) {
		ctx := context.Background()
		_, tbl := newTable(t, b, lake.Options{})
		if _, err := appendRows(ctx, tbl, makeRows("w", 0, 10, "a", "b"), ""); err != nil {
			t.Fatal(err)
		}
		s, _ := tbl.Snapshot(ctx, lake.Latest)
		victim := s.Files[1]
		key := lake.FileKey("test_rows", victim.Path)
		data, _ := objstore.ReadAll(ctx, b, key)
		data[len(data)/2] ^= 0x01
		if err := b.Put(ctx, key, strings.NewReader(string(data)), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		problems, err := tbl.Verify(ctx, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(problems) != 1 || problems[0].Path != victim.Path || !strings.Contains(problems[0].Reason, "sha256") {
			t.Fatalf("problems = %v", problems)
		}
		if err := b.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		problems, _ = tbl.Verify(ctx, s, nil)
		if len(problems) != 1 || problems[0].Reason != "missing" {
			t.Fatalf("problems after delete = %v", problems)
		}
	})
}

func TestGC(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b objstore.Bucket) {
		ctx := context.Background()
		var now atomic.Pointer[time.Time]
		start := time.Now()
		now.Store(&start)
		clock := func() time.Time { return *now.Load() }
		l, tbl := newTable(t, b, lake.Options{Clock: clock})
		if _, err := appendRows(ctx, tbl, makeRows("w", 0, 10, "a", "b"), ""); err != nil {
			t.Fatal(err)
		}
		base, _ := tbl.Snapshot(ctx, lake.Latest)
		// Overwrite a: the old files of a leave the latest snapshot but stay
		// named by version 1, so gc must keep them.
		files, _ := lake.WriteFiles(ctx, tbl, testSpec(), lake.Slice(makeRows("o", 100, 2, "a")), lake.WriteOptions{})
		if _, err := tbl.OverwritePartitions(ctx, base, []lake.Partition{{"part": "a"}}, files, lake.Provenance{}); err != nil {
			t.Fatal(err)
		}
		// Orphans: files written but never committed.
		orphans, _ := lake.WriteFiles(ctx, tbl, testSpec(), lake.Slice(makeRows("orphan", 200, 4, "a", "c")), lake.WriteOptions{})
		if len(orphans.Files) != 2 {
			t.Fatalf("orphans: %+v", orphans)
		}
		res, err := l.GC(ctx, time.Hour, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Removed) != 0 || res.Kept != 2 || res.Live != 3 {
			t.Fatalf("gc within the grace period: %+v", res)
		}
		later := start.Add(2 * time.Hour)
		now.Store(&later)
		dry, err := l.GC(ctx, time.Hour, true)
		if err != nil || len(dry.Removed) != 2 {
			t.Fatalf("dry run: %+v %v", dry, err)
		}
		if _, err := b.Stat(ctx, lake.FileKey("test_rows", orphans.Files[0].Path)); err != nil {
			t.Fatalf("dry run removed a file: %v", err)
		}
		// MinIO and local disk stamp real modification times: gc compares
		// them with the lake's clock, moved two hours ahead.
		res, err = l.GC(ctx, time.Hour, false)
		if err != nil {
			t.Fatal(err)
		}
		var removed []string
		for _, o := range res.Removed {
			removed = append(removed, o.Key)
		}
		slices.Sort(removed)
		want := []string{lake.FileKey("test_rows", orphans.Files[0].Path), lake.FileKey("test_rows", orphans.Files[1].Path)}
		slices.Sort(want)
		if fmt.Sprint(removed) != fmt.Sprint(want) || res.Live != 3 {
			t.Fatalf("gc removed %v (live %d), want %v", removed, res.Live, want)
		}
		for v := int64(0); v <= 2; v++ {
			s, _ := tbl.Snapshot(ctx, v)
			if problems, err := tbl.Verify(ctx, s, nil); err != nil || len(problems) > 0 {
				t.Fatalf("@%d after gc: %v %v", v, problems, err)
			}
		}
	})
}

func TestConcurrentGoroutineAppends(t *testing.T) {
	ctx := context.Background()
	_, tbl := newTable(t, objstore.NewMem(nil), lake.Options{Backoff: time.Millisecond})
	errs := make(chan error, 40)
	for w := range 8 {
		go func() {
			for i := range 5 {
				_, err := appendRows(ctx, tbl, makeRows(fmt.Sprint(w), w*100+i*10, 3), fmt.Sprintf("%d-%d", w, i))
				errs <- err
			}
		}()
	}
	for range 40 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	s, _ := tbl.Snapshot(ctx, lake.Latest)
	if s.Version != 40 || s.Rows() != 120 {
		t.Fatalf("version %d rows %d", s.Version, s.Rows())
	}
}
