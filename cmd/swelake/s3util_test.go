package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swelake/swelake/lake/objstore"
)

// corruptRemote flips one byte of the first object under prefix in bucket.
func corruptRemote(t *testing.T, c *cli, bucket, prefix string) {
	t.Helper()
	ctx := context.Background()
	b, err := objstore.NewS3(objstore.S3Config{Endpoint: minio.Endpoint, AccessKey: minio.AccessKey, SecretKey: minio.SecretKey, Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	for info, err := range b.List(ctx, prefix) {
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(info.Key, ".parquet") {
			continue
		}
		data, err := objstore.ReadAll(ctx, b, info.Key)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 1
		if err := b.Put(ctx, info.Key, strings.NewReader(string(data)), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("no parquet file under %s", prefix)
}

// putObject writes a local file to key in bucket of the test MinIO server.
func putObject(t *testing.T, bucket, key, file string) {
	t.Helper()
	b, err := objstore.NewS3(objstore.S3Config{Endpoint: minio.Endpoint, AccessKey: minio.AccessKey, SecretKey: minio.SecretKey, Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(context.Background(), key, strings.NewReader(string(data)), int64(len(data))); err != nil {
		t.Fatal(err)
	}
}

// minioEnv points a child swelake process at the test MinIO server.
func minioEnv(dir string) []string {
	return []string{"SWELAKE_S3_ENDPOINT=" + minio.Endpoint, "SWELAKE_S3_ACCESS_KEY=" + minio.AccessKey,
		"SWELAKE_S3_SECRET_KEY=" + minio.SecretKey, "SWELAKE_S3_SECURE=false", "SWELAKE_CACHE_DIR=" + filepath.Join(dir, "cache")}
}
