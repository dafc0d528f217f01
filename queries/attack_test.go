package queries_test

import (
	"context"
	"errors"
	"github.com/swelake/swelake/jobs/tables"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/queries"
)

// TestAttackFlippedByteLocal (docs/security.md, finding 12): one flipped
// byte in a local lake's data file changed a query's result without a
// word (only lake verify noticed); remote files were already checked. A
// local file is now hashed before DuckDB reads it, once per state of the
// file (size, modification time, inode), remembered in the cache.
func TestAttackFlippedByteLocal(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	b, err := objstore.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	l := fixtureLake(t, b)
	cacheDir := t.TempDir()
	e := openEngineCache(t, l, nil, cacheDir)
	res, err := e.Query(ctx, "SELECT count(*) FROM rollouts WHERE resolved")
	if err != nil {
		t.Fatal(err)
	}
	want := res.Rows[0][0]
	remembered, _ := filepath.Glob(filepath.Join(cacheDir, "verified", "*", "*"))
	if len(remembered) < 10 {
		t.Fatalf("%d verified files remembered", len(remembered))
	}
	// A second engine on the same cache reads without hashing again (the
	// markers stay as they are) and gets the same answer.
	e2 := openEngineCache(t, l, nil, cacheDir)
	if res, err := e2.Query(ctx, "SELECT count(*) FROM rollouts WHERE resolved"); err != nil || res.Rows[0][0] != want {
		t.Fatalf("second read: %v %v", res, err)
	}

	tbl, _ := l.Table("rollouts")
	s, _ := tbl.Snapshot(ctx, lake.Latest)
	p := filepath.Join(root, filepath.FromSlash(lake.FileKey("rollouts", s.Files[0].Path)))
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/3] ^= 0x20
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{cacheDir, t.TempDir()} { // the warm cache and a cold one
		e3, _ := queries.Open(ctx, queries.Options{})
		err = e3.Attach(ctx, lake.Open(b, lake.Options{CacheDir: dir}), nil, tables.ParquetSchema)
		e3.Close()
		if !errors.Is(err, lake.ErrChecksum) || !strings.Contains(err.Error(), s.Files[0].Path) {
			t.Fatalf("a flipped byte in a local file: %v, want ErrChecksum naming %s", err, s.Files[0].Path)
		}
	}
}
