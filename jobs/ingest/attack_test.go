package ingest

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swelake/swelake/internal/miniotest"
	"github.com/swelake/swelake/jobs/ingest/formats"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
)

// peakHeap runs fn while sampling the Go heap, and returns its peak.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	<-done
	return peak.Load()
}

// TestAttackIngestHugeRecord (docs/security.md, finding 5): one 100 MB JSON
// line took 2.9 GB; a 200 MB line, or a 10 MB .gz expanding to 10 GB
// without a newline, passed 4 GB and was killed — as rollouts, as
// openai-chat, as a .log.gz report. Every record is now bounded by
// max_record_size: an oversize one is quarantined with its file, line and
// offset and its first 64 KiB, read past without being held, and the heap
// stays far below the input's size.
func TestAttackIngestHugeRecord(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	small := func(i int) string {
		return `{"id":"r` + itoa(i) + `","task_id":"t` + itoa(i) + `","messages":[{"role":"user","content":"fix it"},{"role":"assistant","content":"done"}]}` + "\n"
	}
	// 200 MB on one line, between two good rows.
	huge := filepath.Join(dir, "huge.jsonl")
	f, _ := os.Create(huge)
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(small(1))
	w.WriteString(`{"id":"big","messages":[{"role":"user","content":"`)
	chunk := strings.Repeat("x", 1<<20)
	for range 200 {
		w.WriteString(chunk)
	}
	w.WriteString(`"}]}` + "\n")
	w.WriteString(small(2))
	w.Flush()
	f.Close()
	// 1 GiB of one byte, gzipped (about 1 MB), no newline.
	bomb := filepath.Join(dir, "bomb.jsonl.gz")
	f, _ = os.Create(bomb)
	gz, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	for range 1024 {
		gz.Write([]byte(chunk))
	}
	gz.Close()
	f.Close()
	// A JSON array whose second element is 100 MB.
	arr := filepath.Join(dir, "array.json")
	f, _ = os.Create(arr)
	w = bufio.NewWriterSize(f, 1<<20)
	w.WriteString("[" + strings.TrimSpace(small(3)) + `, {"id":"big2","messages":[{"role":"user","content":"`)
	for range 100 {
		w.WriteString(chunk)
	}
	w.WriteString(`"}]}, ` + strings.TrimSpace(small(4)) + "]")
	w.Flush()
	f.Close()

	l := newLake(t)
	var sum Summary
	var err error
	peak := peakHeap(func() {
		sum, err = Run(ctx, l, Config{Kind: formats.Rollouts, Format: "openai-chat", Paths: []string{huge, bomb, arr}, Options: formats.Options{RunID: "r"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("1.3 GiB of input, peak Go heap %d MiB: %+v", peak>>20, sum)
	if sum.Ingested != 4 || sum.Quarantined != 3 {
		t.Fatalf("summary %+v, want 4 ingested and 3 quarantined", sum)
	}
	if peak > 768<<20 {
		t.Fatalf("peak heap %d MiB for records bounded at 64 MiB", peak>>20)
	}
	res := query(t, l, "SELECT source_file, line, \"offset\", reason, octet_length(raw) FROM quarantine ORDER BY source_file")
	if len(res.Rows) != 3 {
		t.Fatalf("quarantine: %v", res.Rows)
	}
	for _, r := range res.Rows {
		if !strings.Contains(r[3].(string), "exceeds the maximum record size") || r[4].(int64) > 64<<10 {
			t.Fatalf("quarantine row %v", r)
		}
	}
	if r := res.Rows[2]; !strings.HasSuffix(r[0].(string), "huge.jsonl") || r[1].(int64) != 2 || r[2].(int64) != int64(len(small(1))) {
		t.Fatalf("the huge line is not named by file, line and offset: %v", r)
	}

	// A .log.gz report that expands without end: quarantined, bounded.
	f, _ = os.Create(filepath.Join(dir, "big.log.gz"))
	gz, _ = gzip.NewWriterLevel(f, gzip.BestSpeed)
	for range 512 {
		gz.Write([]byte(chunk))
	}
	gz.Close()
	f.Close()
	peak = peakHeap(func() {
		sum, err = Run(ctx, l, Config{Kind: formats.Reports, Format: "openhands-eval-log", Paths: []string{filepath.Join(dir, "big.log.gz")}, MaxRecordBytes: 16 << 20})
	})
	if err != nil || sum.Quarantined != 1 || peak > 512<<20 {
		t.Fatalf("a 512 MiB log: %+v, %v, peak heap %d MiB", sum, err, peak>>20)
	}
}

// TestAttackIngestOutOfRangeNumbers (docs/security.md, finding 10): an
// OpenRLHF token_usage_total of 1e30 was stored as -9223372036854775808
// and a step_count of -7 was accepted. A number that does not fit its
// column is quarantined with the key, the value and the range.
func TestAttackIngestOutOfRangeNumbers(t *testing.T) {
	ctx := context.Background()
	row := func(id, extra string) string {
		return `{"task_id":"t/` + id + `","input":[{"role":"user","content":"fix"},{"role":"assistant","content":"ok"}],"reward":1` + extra + "}\n"
	}
	in := row("ok", `,"token_usage_total":1200,"step_count":3`) +
		row("huge-tokens", `,"token_usage_total":1e30`) +
		row("neg-tokens", `,"token_usage_total":-5`) +
		row("frac-tokens", `,"token_usage_total":12.5`) +
		row("neg-steps", `,"step_count":-7`) +
		row("huge-steps", `,"step_count":3000000000`) +
		strings.Replace(row("nan-reward", ""), `"reward":1`, `"reward":"NaN"`, 1)
	f := write(t, t.TempDir(), "openrlhf.jsonl", []byte(in))
	l := newLake(t)
	sum, err := Run(ctx, l, Config{Kind: formats.Rollouts, Format: "openrlhf", Paths: []string{f}, Options: formats.Options{RunID: "r"}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Ingested != 1 || sum.Quarantined != 6 {
		t.Fatalf("summary %+v, want 1 ingested, 6 quarantined", sum)
	}
	res := query(t, l, "SELECT line, reason FROM quarantine ORDER BY line")
	want := []string{"token_usage_total: 1e30 is out of range", "token_usage_total: -5 is out of range", "token_usage_total: 12.5 is not a whole number",
		"step_count: -7 is out of range", "step_count: 3000000000 is out of range", `reward: "NaN" is not a finite number`}
	for i, w := range want {
		if !strings.Contains(res.Rows[i][1].(string), w) {
			t.Errorf("line %v: %q, want it to say %q", res.Rows[i][0], res.Rows[i][1], w)
		}
	}
	if res := query(t, l, "SELECT tokens, num_turns FROM rollouts"); fmt.Sprint(res.Rows) != "[[1200 3]]" {
		t.Fatalf("ingested %v", res.Rows)
	}
}

// TestAttackIngestUnnamedChatRows (docs/security.md, finding 11): chat rows
// without an id were keyed by their messages alone — 1,000 rows of
// different tasks with the same conversation became 1 row and 999
// "conflicts" — and the id's prefix came from the directory, not --run-id.
func TestAttackIngestUnnamedChatRows(t *testing.T) {
	ctx := context.Background()
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, `{"task_id":"t/%04d","messages":[{"role":"user","content":"fix the bug"},{"role":"assistant","content":"done"}],"reward":1}`+"\n", i)
	}
	f := write(t, filepath.Join(t.TempDir(), "some-dir"), "chat.jsonl", []byte(b.String()))
	l := newLake(t)
	sum, err := Run(ctx, l, Config{Kind: formats.Rollouts, Format: "openai-chat", Paths: []string{f}, Options: formats.Options{RunID: "run-7"}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Ingested != 1000 || sum.Quarantined != 0 || sum.Conflicts != 0 {
		t.Fatalf("summary %+v, want 1000 ingested", sum)
	}
	res := query(t, l, "SELECT count(DISTINCT rollout_id), count(*) FILTER (WHERE rollout_id LIKE 'run-7/%' AND run_id = 'run-7') FROM rollouts")
	if fmt.Sprint(res.Rows) != "[[1000 1000]]" {
		t.Fatalf("ids: %v", res.Rows)
	}
	// The same rows again: duplicates, nothing new.
	if sum, err := Run(ctx, l, Config{Kind: formats.Rollouts, Format: "openai-chat", Paths: []string{f}, Options: formats.Options{RunID: "run-7"}}); err != nil || sum.Duplicates != 1000 || sum.Version != -1 {
		t.Fatalf("re-ingest: %+v, %v", sum, err)
	}
}

// TestAttackConcurrentOverlappingIngests (docs/security.md, finding 6): two
// ingests of overlapping files at once each deduplicated against the
// snapshot they started from, and appends never conflicted: 2,001 rows,
// 1,001 distinct ids, 4 trials of 4, on a local lake and on MinIO. The
// loser now finds the winner's keys among its own, and decides again.
func TestAttackConcurrentOverlappingIngests(t *testing.T) {
	srv := miniotest.StartTB(t)
	n := 0
	for _, backend := range []string{"local", "minio"} {
		t.Run(backend, func(t *testing.T) {
			for trial := range 4 {
				ctx := context.Background()
				var b objstore.Bucket
				if backend == "local" {
					lb, err := objstore.NewLocal(t.TempDir())
					if err != nil {
						t.Fatal(err)
					}
					b = lb
				} else {
					n++
					sb, err := objstore.NewS3(objstore.S3Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
						Bucket: fmt.Sprintf("ingest-race-%d-%d", os.Getpid(), n), Prefix: "lake"})
					if err != nil {
						t.Fatal(err)
					}
					if err := sb.EnsureBucket(ctx); err != nil {
						t.Fatal(err)
					}
					b = sb
				}
				first := lake.Open(b, lake.Options{CacheDir: t.TempDir()})
				first.Init(ctx)
				tables.CreateTables(ctx, first, lake.Provenance{Job: "test"})
				dir := t.TempDir()
				// 1,000 shared rows, and one of each file's own.
				fa := write(t, dir, "a.jsonl", []byte(rowsOf(1000, 0)+rowsOf(1, 5000)))
				fb := write(t, dir, "b.jsonl", []byte(rowsOf(1000, 0)+rowsOf(1, 6000)))
				errs := make(chan error, 2)
				for _, f := range []string{fa, fb} {
					go func() {
						_, err := Run(ctx, lake.Open(b, lake.Options{CacheDir: t.TempDir()}), Config{Kind: formats.Tasks, Format: "swe-bench", Paths: []string{f}})
						errs <- err
					}()
				}
				for range 2 {
					if err := <-errs; err != nil {
						t.Fatal(err)
					}
				}
				res := query(t, first, "SELECT count(*), count(DISTINCT task_id) FROM tasks")
				if fmt.Sprint(res.Rows) != "[[1002 1002]]" {
					t.Fatalf("trial %d: rows and distinct ids after two racing overlapping ingests: %v, want [[1002 1002]]", trial, res.Rows)
				}
				// The loser's refused files were deleted, not left to gc.
				if gc, err := first.GC(ctx, 0, true); err != nil || len(gc.Removed) != 0 {
					t.Fatalf("trial %d: %v orphans after the race (%v)", trial, gc.Removed, err)
				}
			}
		})
	}
}
