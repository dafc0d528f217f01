package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/swelake/swelake/internal/tokref"
)

// TestOtherReadersReadEveryExport: every Parquet file swelake hands to
// other tools — the SFT exports (tokenised, pre-tokenised and verl, packed
// and not), the verl RL files of both layouts and the published shards of
// sft_examples and rollouts — is read whole, with the same row count, by
// three readers that share no code with swelake: DuckDB (@duckdb/node-api),
// hyparquet and parquet-wasm (deps/npm/readers.mjs).
func TestOtherReadersReadEveryExport(t *testing.T) {
	c, dir, lk := trainingLake(t)
	out := filepath.Join(dir, "out")
	c.ok("run", "build-sft", lk, "--input", "rollouts", "--out", out, "--export", "parquet,pretokenized,verl")
	c.ok("run", "build-sft", lk, "--input", "rollouts", "--out", filepath.Join(dir, "packed"), "--export", "parquet,pretokenized", "--pack-length", "4096")
	c.ok("run", "build-rl", lk, "--k", "4", "--verl-out", filepath.Join(dir, "rl", "swelake.parquet"))
	c.ok("run", "build-rl", lk, "--k", "4", "--verl-out", filepath.Join(dir, "rl", "swe-master.parquet"), "--verl-layout", "swe-master")
	c.ok("lake", "publish", lk, "sft_examples", "--name", "sft")
	c.ok("lake", "publish", lk, "rollouts", "--name", "trajectories")
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".parquet") && (!strings.Contains(p, string(filepath.Separator)+"lake"+string(filepath.Separator)) || strings.Contains(p, "published")) {
			files = append(files, p)
		}
		return nil
	})
	slices.Sort(files)
	kinds := map[string]bool{}
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		kinds[strings.SplitN(rel, string(filepath.Separator), 2)[0]] = true
	}
	if len(files) < 9 || !kinds["out"] || !kinds["packed"] || !kinds["rl"] || !kinds["lake"] {
		t.Fatalf("files: %v", files)
	}
	lines, err := tokref.Script(context.Background(), "readers.mjs", files, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range lines {
		var got struct {
			File                           string
			DuckDB, Hyparquet, ParquetWasm any
		}
		var raw map[string]any
		json.Unmarshal(l, &raw)
		got.File, got.DuckDB, got.Hyparquet, got.ParquetWasm = raw["file"].(string), raw["duckdb"], raw["hyparquet"], raw["parquet_wasm"]
		fh, err := os.Open(files[i])
		if err != nil {
			t.Fatal(err)
		}
		st, _ := fh.Stat()
		pf, err := parquet.OpenFile(fh, st.Size())
		if err != nil {
			t.Fatal(err)
		}
		want := float64(pf.NumRows())
		fh.Close()
		if got.File != files[i] || got.DuckDB != want || got.Hyparquet != want || got.ParquetWasm != want || want == 0 {
			t.Errorf("%s: %d rows; DuckDB %v, hyparquet %v, parquet-wasm %v", files[i], int64(want), got.DuckDB, got.Hyparquet, got.ParquetWasm)
		}
	}
	t.Logf("%d Parquet files read whole by DuckDB, hyparquet and parquet-wasm with swelake's row counts", len(files))
}
