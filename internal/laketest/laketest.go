// Package laketest builds in-memory lakes for the jobs' tests.
package laketest

import (
	"context"
	"github.com/swelake/swelake/jobs/tables"
	"testing"

	"github.com/swelake/swelake/internal/miniotest"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/schemas"
)

// New returns an initialised in-memory lake with every table of this version.
func New(tb testing.TB) *lake.Lake {
	tb.Helper()
	return On(tb, objstore.NewMem(nil))
}

// MinIO returns an initialised lake with every table in bucket of a MinIO
// server started for the test.
func MinIO(tb testing.TB, bucket string) *lake.Lake {
	tb.Helper()
	srv := miniotest.StartTB(tb)
	b, err := objstore.NewS3(objstore.S3Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Bucket: bucket, Prefix: "lake"})
	if err != nil {
		tb.Fatal(err)
	}
	if err := b.EnsureBucket(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return On(tb, b)
}

// On initialises a lake with every table of this version in b.
func On(tb testing.TB, b objstore.Bucket) *lake.Lake {
	tb.Helper()
	ctx := context.Background()
	l := lake.Open(b, lake.Options{CacheDir: tb.TempDir()})
	if err := l.Init(ctx); err != nil {
		tb.Fatal(err)
	}
	if _, err := tables.CreateTables(ctx, l, lake.Provenance{Job: "test"}); err != nil {
		tb.Fatal(err)
	}
	return l
}

// Append writes rows to the table of def and commits them as one append.
func Append[T any](tb testing.TB, l *lake.Lake, def schemas.Def[T], rows []T) {
	tb.Helper()
	ctx := context.Background()
	tbl, err := l.Table(def.Name)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range rows {
		if r, ok := any(&rows[i]).(*schemas.Rollout); ok {
			FillRollout(r)
		}
	}
	files, err := lake.WriteFiles(ctx, tbl, tables.Spec(def), lake.Slice(rows), lake.WriteOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := tbl.Append(ctx, files, lake.Provenance{Job: "test"}); err != nil {
		tb.Fatal(err)
	}
}

// FillRollout fills a test row's derived columns as every writer does
// (schemas.FinishRollout). A test that set exit_reason and not
// exit_reason_raw gave the source's string: it is normalised. A forced
// the test set stays; actions and format_errors the test set stay.
func FillRollout(r *schemas.Rollout) {
	given := *r
	if r.ExitReasonRaw == "" && r.ExitReason != schemas.ExitUnknown { // (idempotent)
		r.ExitReasonRaw = r.ExitReason
	}
	schemas.FinishRollout(r)
	r.Forced = r.Forced || given.Forced
	if given.Actions != nil {
		r.Actions = given.Actions
	}
	if given.FormatErrors != nil {
		r.FormatErrors = given.FormatErrors
	}
}

// Ptr returns a pointer to v (optional columns).
func Ptr[T any](v T) *T { return &v }

// Rows reads every row of a table at a version (lake.Latest: the latest).
func Rows[T any](tb testing.TB, l *lake.Lake, table string, version int64) []T {
	tb.Helper()
	tbl, err := l.Table(table)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := tbl.Snapshot(context.Background(), version)
	if err != nil {
		tb.Fatal(err)
	}
	var out []T
	for r, err := range lake.ReadRows[T](context.Background(), l, s) {
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}
