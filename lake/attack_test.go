package lake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/lake/objstore/objstoretest"
)

// TestAttackWriteFaultNeverHangs (docs/security.md, finding 2): a storage
// fault in the middle of a data file's upload — a disk that fills or turns
// read-only, a server killed mid-transfer — made WriteFiles block forever
// when it hit while a row group was being written. Every fault now surfaces
// once, as an error naming the file, within seconds; nothing is committed.
func TestAttackWriteFaultNeverHangs(t *testing.T) {
	for _, name := range []string{"local", "mem", "minio"} {
		newBucket := backends(t)[name]
		t.Run(name, func(t *testing.T) {
			// Small row groups: the failed upload is seen by a row-group
			// write (the path that hung), by a footer write, or by the wait.
			for _, cut := range []int64{0, 1, 4 << 10, 64 << 10, 256 << 10} {
				t.Run(fmt.Sprintf("after-%d-bytes", cut), func(t *testing.T) {
					ctx := context.Background()
					b := newBucket(t)
					_, tbl := newTable(t, b, lake.Options{})
					faulty := &objstoretest.Faulty{Bucket: b, When: objstoretest.Midway, MidwayBytes: cut}
					ftbl, err := lake.Open(faulty, lake.Options{}).Table("test_rows")
					if err != nil {
						t.Fatal(err)
					}
					// Calls before the first data file's upload: the snapshot
					// read is cached per handle, so probe the count once.
					probe := &objstoretest.Faulty{Bucket: b}
					ptbl, _ := lake.Open(probe, lake.Options{}).Table("test_rows")
					if _, err := ptbl.Snapshot(ctx, lake.Latest); err != nil {
						t.Fatal(err)
					}
					faulty.FailAt = probe.Calls() + 1
					rows := makeRows("w", 0, 600, "a", "b", "c")
					for i := range rows {
						rows[i].Payload = strings.Repeat(fmt.Sprintf("%07d", i), 4<<10) // 28 KiB: row groups reach the pipe
					}
					done := make(chan error, 1)
					go func() {
						_, err := lake.WriteFiles(ctx, ftbl, testSpec(), lake.Slice(rows), lake.WriteOptions{RowGroupRows: 50, Parallel: 2})
						done <- err
					}()
					select {
					case err := <-done:
						if err == nil {
							t.Fatalf("write survived a fault at call %d: %v", faulty.FailAt, faulty.Trace())
						}
						if !errors.Is(err, objstoretest.ErrInjected) || !strings.Contains(err.Error(), "part-") {
							t.Fatalf("error does not name the file and the storage's error: %v", err)
						}
					case <-time.After(20 * time.Second):
						t.Fatalf("WriteFiles hung after a storage fault at call %d (%v)", faulty.FailAt, faulty.Trace())
					}
					s, err := tbl.Snapshot(ctx, lake.Latest)
					if err != nil || s.Rows() != 0 {
						t.Fatalf("after a failed write: %v rows, %v", s.Rows(), err)
					}
				})
			}
		})
	}
}

// TestAttackDamagedLog (docs/security.md, finding 12): a truncated or
// deleted log entry that a checkpoint covers went unnoticed; one damaged
// newest entry, or a stray _log/…099.json, broke every command on the table
// and listing the lake's tables. Now lake verify reads every entry, the
// errors name the entry, the other tables stay readable, and Repair moves
// aside what no commit wrote (refusing what it cannot undo).
func TestAttackDamagedLog(t *testing.T) {
	ctx := context.Background()
	fresh := func(t *testing.T, commits int) (objstore.Bucket, *lake.Lake, *lake.Table) {
		b := backends(t)["local"](t)
		l, tbl := newTable(t, b, lake.Options{CheckpointInterval: 5})
		for i := range commits {
			if _, err := appendRows(ctx, tbl, makeRows("w", i*10, 10), fmt.Sprint("k", i)); err != nil {
				t.Fatal(err)
			}
		}
		other, _ := l.Table("other")
		if _, err := other.Create(ctx, testSchema, []string{"part"}, lake.Provenance{Job: "test"}); err != nil {
			t.Fatal(err)
		}
		return b, lake.Open(b, lake.Options{}), tbl
	}
	entry := func(v int64) string { return fmt.Sprintf("tables/test_rows/_log/%020d.json", v) }
	problemsOf := func(t *testing.T, l *lake.Lake) []string {
		tbl, _ := l.Table("test_rows")
		ps, err := tbl.VerifyLog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range ps {
			out = append(out, p.Path)
		}
		return out
	}
	otherReadable := func(t *testing.T, l *lake.Lake) {
		names, err := l.Tables(ctx)
		if err != nil || len(names) != 2 {
			t.Fatalf("tables: %v %v", names, err)
		}
		o, _ := l.Table("other")
		if _, err := o.Snapshot(ctx, lake.Latest); err != nil {
			t.Fatalf("another table broke too: %v", err)
		}
	}

	t.Run("TruncatedEntryUnderACheckpoint", func(t *testing.T) {
		b, l, _ := fresh(t, 7) // checkpoint at 5
		b.Put(ctx, entry(3), strings.NewReader(`{"format":1,"tab`), -1)
		if got := problemsOf(t, l); len(got) != 1 || !strings.HasSuffix(got[0], fmt.Sprintf("%020d.json", 3)) {
			t.Fatalf("verify found %v, want the truncated entry 3", got)
		}
		if _, err := l.Repair(ctx, "test_rows", false); err == nil || !strings.Contains(err.Error(), "backup") {
			t.Fatalf("repair of a damaged middle entry: %v, want a refusal", err)
		}
	})
	t.Run("CheckpointDisagrees", func(t *testing.T) {
		b, l, _ := fresh(t, 7) // checkpoint at 5
		data, err := objstore.ReadAll(ctx, b, "tables/test_rows/_log/_checkpoint.json")
		if err != nil {
			t.Fatal(err)
		}
		var cp map[string]any
		json.Unmarshal(data, &cp)
		cp["files"] = cp["files"].([]any)[:1]
		data, _ = json.Marshal(cp)
		b.Put(ctx, "tables/test_rows/_log/_checkpoint.json", bytes.NewReader(data), int64(len(data)))
		if got := problemsOf(t, l); len(got) != 1 || got[0] != "_log/_checkpoint.json" {
			t.Fatalf("verify found %v, want the checkpoint that disagrees with the log", got)
		}
	})
	t.Run("DeletedEntryUnderACheckpoint", func(t *testing.T) {
		b, l, _ := fresh(t, 7)
		b.Delete(ctx, entry(2))
		if got := problemsOf(t, l); len(got) < 5 {
			t.Fatalf("verify found %v, want entries 3..7 after the missing 2", got)
		}
		tbl, _ := l.Table("test_rows")
		if _, err := tbl.Snapshot(ctx, lake.Latest); !errors.Is(err, lake.ErrStrayLog) || !strings.Contains(err.Error(), "version 2 is missing") {
			t.Fatalf("reading a log with a hole: %v", err)
		}
		if _, err := l.Repair(ctx, "test_rows", false); err == nil || !strings.Contains(err.Error(), "restore version 2") {
			t.Fatalf("repair of a hole followed by commits: %v, want a refusal", err)
		}
		otherReadable(t, l)
	})
	t.Run("StrayEntry", func(t *testing.T) {
		b, l, _ := fresh(t, 3)
		b.Put(ctx, entry(99), strings.NewReader(`{"format":1,"table":"test_rows","version":99,"parent":98}`), -1)
		tbl, _ := l.Table("test_rows")
		_, err := tbl.Snapshot(ctx, lake.Latest)
		if !errors.Is(err, lake.ErrStrayLog) || !strings.Contains(err.Error(), entry(99)) || !strings.Contains(err.Error(), "lake repair") {
			t.Fatalf("a stray entry: %v, want ErrStrayLog naming it", err)
		}
		otherReadable(t, l)
		res, err := l.Repair(ctx, "test_rows", false)
		if err != nil || len(res.Moved) != 1 || res.Kept != 3 {
			t.Fatalf("repair: %+v %v", res, err)
		}
		if s, err := tbl.Snapshot(ctx, lake.Latest); err != nil || s.Version != 3 || s.Rows() != 30 {
			t.Fatalf("after repair: %v %v", s, err)
		}
		kept := 0
		for range b.List(ctx, "tables/test_rows/_log/_quarantine/") {
			kept++
		}
		if kept != 1 {
			t.Fatalf("%d entries kept aside, want 1", kept)
		}
	})
	t.Run("DamagedNewestEntry", func(t *testing.T) {
		b, l, tbl := fresh(t, 6) // checkpoint at 5, newest 6
		b.Put(ctx, entry(6), strings.NewReader("\x00garbage"), -1)
		l = lake.Open(b, lake.Options{})
		tbl, _ = l.Table("test_rows")
		_, err := tbl.Snapshot(ctx, lake.Latest)
		if !errors.Is(err, lake.ErrCorrupt) || !strings.Contains(err.Error(), entry(6)) {
			t.Fatalf("a damaged newest entry: %v", err)
		}
		otherReadable(t, l)
		if res, err := l.Repair(ctx, "test_rows", false); err != nil || res.Kept != 5 {
			t.Fatalf("repair: %+v %v", res, err)
		}
		if _, err := appendRows(ctx, tbl, makeRows("w", 1000, 10), "after-repair"); err != nil {
			t.Fatalf("append after repair: %v", err)
		}
		if s, err := tbl.Snapshot(ctx, lake.Latest); err != nil || s.Version != 6 || s.Rows() != 60 {
			t.Fatalf("after repair and an append: %v %v", s, err)
		}
		if got := problemsOf(t, l); len(got) != 0 {
			t.Fatalf("verify after repair: %v", got)
		}
	})
}

// TestAttackAbandonedUploads (docs/security.md, finding 13): a writer
// killed during a multipart upload leaves parts that no listing shows and
// `lake gc` could not see. gc now aborts unfinished uploads older than the
// grace period, and leaves younger ones (a writer may still be sending).
func TestAttackAbandonedUploads(t *testing.T) {
	ctx := context.Background()
	b := newS3(t, fmt.Sprintf("uploads-%d-%d", os.Getpid(), bucketSeq.Add(1)))
	l, tbl := newTable(t, b, lake.Options{})
	if _, err := appendRows(ctx, tbl, makeRows("w", 0, 10), "k"); err != nil {
		t.Fatal(err)
	}
	// A killed writer: a multipart upload begun, one part sent, never completed.
	bucket, _, _ := strings.Cut(strings.TrimPrefix(b.URL(), "s3://"), "/")
	cfg := s3Config(bucket)
	client, err := miniogo.New(cfg.Endpoint, &miniogo.Options{Creds: credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""), Secure: false})
	if err != nil {
		t.Fatal(err)
	}
	core := miniogo.Core{Client: client}
	object := cfg.Prefix + "/tables/test_rows/data/part=a/part-killed.parquet"
	id, err := core.NewMultipartUpload(ctx, cfg.Bucket, object, miniogo.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	part := bytes.Repeat([]byte("p"), 5<<20)
	if _, err := core.PutObjectPart(ctx, cfg.Bucket, object, id, 1, bytes.NewReader(part), int64(len(part)), miniogo.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := l.GC(ctx, time.Hour, false)
	if err != nil || len(res.Aborted) != 0 {
		t.Fatalf("gc within the grace period: %+v %v", res, err)
	}
	res, err = l.GC(ctx, 0, false)
	if err != nil || len(res.Aborted) != 1 || res.Aborted[0].Key != "tables/test_rows/data/part=a/part-killed.parquet" || res.Live != 1 {
		t.Fatalf("gc past the grace period: %+v %v", res, err)
	}
	for u := range client.ListIncompleteUploads(ctx, cfg.Bucket, cfg.Prefix+"/", true) {
		t.Fatalf("upload left after gc: %+v", u)
	}
}
