package queries_test

import (
	"context"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"path/filepath"
	"testing"
	"time"

	"github.com/swelake/swelake/internal/miniotest"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/queries"
	"github.com/swelake/swelake/schemas"
)

func benchLake(b *testing.B, bucket objstore.Bucket) *lake.Lake {
	l := lake.Open(bucket, lake.Options{CacheDir: b.TempDir()})
	if err := l.Init(context.Background()); err != nil {
		b.Fatal(err)
	}
	rollouts := createTable(b, l, schemas.Rollouts)
	msgs := make([]schemas.Message, 40)
	for i := range msgs {
		msgs[i] = schemas.Message{Role: "assistant", Content: fmt.Sprintf("step %d: ran the tests, %d failed", i, i%3)}
	}
	// 20 commits of 500 rollouts each, over 4 runs.
	for c := range 20 {
		rows := make([]schemas.Rollout, 500)
		for i := range rows {
			n := c*500 + i
			rows[i] = schemas.Rollout{RolloutID: fmt.Sprint("r", n), TaskID: fmt.Sprint("t", n/8), RunID: fmt.Sprint("run-", n%4),
				Policy: "p", Messages: msgs, NumTurns: int32(n % 50), Resolved: ptr(n%3 == 0)}
		}
		appendRows(b, rollouts, schemas.Rollouts, rows)
	}
	return l
}

// sqlOnce is what `swelake sql` does: a fresh lake handle resolves the
// latest snapshot, the engine attaches it, the query runs.
func sqlOnce(b *testing.B, bucket objstore.Bucket, cacheDir string) {
	ctx := context.Background()
	l := lake.Open(bucket, lake.Options{CacheDir: cacheDir})
	e, err := queries.Open(ctx, queries.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	if err := e.Attach(ctx, l, nil, tables.ParquetSchema); err != nil {
		b.Fatal(err)
	}
	q, _ := queries.Load("rollout_summary")
	res, err := e.Query(ctx, q.SQL)
	if err != nil || len(res.Rows) != 4 {
		b.Fatalf("query: %v %v", res, err)
	}
}

// BenchmarkSQLMinIOvsLocal runs the same query over the same lake on MinIO
// (files already in the cache) and on local disk, interleaved.
func BenchmarkSQLMinIOvsLocal(b *testing.B) {
	srv := miniotest.StartTB(b)
	dir := b.TempDir()
	local, _ := objstore.NewLocal(filepath.Join(dir, "lake"))
	remote, err := objstore.NewS3(objstore.S3Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Bucket: "bench", Prefix: "lake"})
	if err != nil {
		b.Fatal(err)
	}
	remote.EnsureBucket(context.Background())
	benchLake(b, local)
	benchLake(b, remote)
	cache := filepath.Join(dir, "cache")
	t0 := time.Now()
	sqlOnce(b, remote, cache) // fills the cache
	cold := time.Since(t0)
	var localTime, remoteTime time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		sqlOnce(b, local, cache)
		t1 := time.Now()
		sqlOnce(b, remote, cache)
		localTime += t1.Sub(t0)
		remoteTime += time.Since(t1)
	}
	b.ReportMetric(float64(localTime.Milliseconds())/float64(b.N), "local_ms")
	b.ReportMetric(float64(remoteTime.Milliseconds())/float64(b.N), "minio_cached_ms")
	b.ReportMetric(float64(cold.Milliseconds()), "minio_cold_ms")
	b.ReportMetric(remoteTime.Seconds()/localTime.Seconds(), "minio/local")
}
