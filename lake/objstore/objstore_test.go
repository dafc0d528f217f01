package objstore_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/swelake/swelake/internal/miniotest"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/lake/objstore/objstoretest"
)

func TestLocal(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
		b, err := objstore.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestMem(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket { return objstore.NewMem(nil) })
}

func TestS3MinIO(t *testing.T) {
	srv := miniotest.StartTB(t)
	var n atomic.Int64
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
		// A fresh bucket per subtest, with a prefix, exercising both.
		b, err := objstore.NewS3(objstore.S3Config{
			Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
			Bucket: fmt.Sprintf("acceptance-%d", n.Add(1)), Prefix: "some/prefix",
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.EnsureBucket(context.Background()); err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestLocalStagingIsHidden(t *testing.T) {
	dir := t.TempDir()
	b, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A temp file left by a killed writer.
	if err := os.MkdirAll(dir+"/.tmp", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/.tmp/abandoned", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for info := range b.List(context.Background(), "") {
		t.Fatalf("root listing shows staging file %s", info.Key)
	}
	var got []string
	for info, err := range b.List(context.Background(), objstore.TempPrefix) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, info.Key)
	}
	if len(got) != 1 || got[0] != ".tmp/abandoned" {
		t.Fatalf("staging listing = %v", got)
	}
}

func TestS3ConfigErrors(t *testing.T) {
	for _, cfg := range []objstore.S3Config{
		{Bucket: "b", AccessKey: "a", SecretKey: "s"},
		{Endpoint: "127.0.0.1:1", AccessKey: "a", SecretKey: "s"},
		{Endpoint: "127.0.0.1:1", Bucket: "b"},
	} {
		if _, err := objstore.NewS3(cfg); err == nil {
			t.Errorf("NewS3(%+v) accepted an incomplete config", cfg)
		}
	}
}
