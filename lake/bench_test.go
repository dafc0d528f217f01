package lake_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/schemas"
)

// rolloutRows makes n rollouts of 100 messages of 200–4000 characters of
// code-and-log-like text, and returns their content size in bytes.
func rolloutRows(n int, seed uint64) ([]schemas.Rollout, int64) {
	r := rand.New(rand.NewPCG(seed, 7))
	words := strings.Fields(`def return self import from the test assert error Traceback File line
		raise ValueError None True False if else for in range len print git diff --- +++ @@ func err nil
		package main fmt Errorf context ctx string int64 bool PASSED FAILED tests/test_models.py::Test ok`)
	text := func(size int) string {
		var b strings.Builder
		for b.Len() < size {
			b.WriteString(words[r.IntN(len(words))])
			if r.IntN(9) == 0 {
				b.WriteString("\n    ")
			} else {
				b.WriteByte(' ')
			}
			if r.IntN(40) == 0 {
				fmt.Fprintf(&b, "%x ", r.Uint64())
			}
		}
		return b.String()[:size]
	}
	roles := []string{"assistant", "tool"}
	rows := make([]schemas.Rollout, n)
	var content int64
	for i := range rows {
		msgs := make([]schemas.Message, 100)
		for j := range msgs {
			msgs[j] = schemas.Message{Role: roles[j%2], Content: text(200 + r.IntN(3801))}
			content += int64(len(msgs[j].Content))
		}
		rows[i] = schemas.Rollout{RolloutID: fmt.Sprintf("r%06d", i), TaskID: fmt.Sprintf("t%04d", i/4), RunID: "bench", Policy: "p",
			SampleIdx: int32(i % 4), Messages: msgs, NumTurns: 50}
	}
	return rows, content
}

func rolloutSpec() lake.RowSpec[schemas.Rollout] {
	return lake.RowSpec[schemas.Rollout]{
		Schema:    lake.SchemaFor[schemas.Rollout]("rollouts", 1),
		Partition: func(r *schemas.Rollout) lake.Partition { return lake.Partition{"run_id": r.RunID} },
		SizeOf:    schemas.Rollouts.SizeOf,
	}
}

// rawWrite is the baseline: parquet-go's typed writer, zstd, one file, one
// goroutine, the same row-group bound, fsynced like the lake's files.
func rawWrite(b *testing.B, dir string, rows []schemas.Rollout) {
	f, err := os.Create(filepath.Join(dir, "raw.parquet"))
	if err != nil {
		b.Fatal(err)
	}
	w := parquet.NewGenericWriter[schemas.Rollout](f, parquet.Compression(&parquet.Zstd), parquet.MaxRowsPerRowGroup(1024))
	if _, err := w.Write(rows); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	f.Close()
}

func newRolloutTable(b *testing.B, bucket objstore.Bucket) *lake.Table {
	ctx := context.Background()
	l := lake.Open(bucket, lake.Options{})
	l.Init(ctx)
	t, _ := l.Table("rollouts")
	if _, err := t.Create(ctx, rolloutSpec().Schema, []string{"run_id"}, lake.Provenance{}); err != nil {
		b.Fatal(err)
	}
	return t
}

// BenchmarkAppendRollouts compares appending rollouts to a lake (write +
// sha256 + commit, files in parallel) with parquet-go's raw writer on the
// same rows, interleaved in every iteration so both see the same machine.
func BenchmarkAppendRollouts(b *testing.B) {
	rows, content := rolloutRows(600, 1)
	for _, backend := range []string{"local", "minio"} {
		b.Run(backend, func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			var bucket objstore.Bucket
			if backend == "local" {
				bucket, _ = objstore.NewLocal(filepath.Join(dir, "lake"))
			} else {
				bucket = newS3(b, fmt.Sprintf("bench-append-%d", bucketSeq.Add(1)))
			}
			tbl := newRolloutTable(b, bucket)
			var rawTime, lakeTime time.Duration
			var stored int64
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				rawWrite(b, dir, rows)
				t1 := time.Now()
				files, err := lake.WriteFiles(ctx, tbl, rolloutSpec(), lake.Slice(rows), lake.WriteOptions{})
				if err != nil {
					b.Fatal(err)
				}
				res, err := tbl.Append(ctx, files, lake.Provenance{Job: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				rawTime += t1.Sub(t0)
				lakeTime += t2.Sub(t1)
				stored = res.Commit.Summary.AddedBytes
			}
			mb := float64(content) * float64(b.N) / 1e6
			b.ReportMetric(mb/rawTime.Seconds(), "raw_MB/s")
			b.ReportMetric(mb/lakeTime.Seconds(), "lake_MB/s")
			b.ReportMetric(rawTime.Seconds()/lakeTime.Seconds(), "lake/raw")
			b.ReportMetric(float64(content)/float64(stored), "compression")
		})
	}
}

// BenchmarkCommit measures the latency of one small append: one data file
// written and one log entry created.
func BenchmarkCommit(b *testing.B) {
	rows := makeRows("bench", 0, 10)
	for _, backend := range []string{"mem", "local", "minio"} {
		b.Run(backend, func(b *testing.B) {
			ctx := context.Background()
			bucket := backends(b)[backend](b)
			_, tbl := newTable(b, bucket, lake.Options{})
			var commitTime time.Duration
			b.ResetTimer()
			for i := range b.N {
				files, err := lake.WriteFiles(ctx, tbl, testSpec(), lake.Slice(rows), lake.WriteOptions{})
				if err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				if _, err := tbl.Append(ctx, files, lake.Provenance{Job: "bench", RunKey: fmt.Sprint(i)}); err != nil {
					b.Fatal(err)
				}
				commitTime += time.Since(t0)
			}
			b.ReportMetric(float64(commitTime.Microseconds())/float64(b.N)/1000, "ms/commit")
		})
	}
}
