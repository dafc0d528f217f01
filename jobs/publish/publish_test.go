package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/schemas"
)

// examples are SFT rows in two splits, appended in two commits in an
// order unlike their keys.
func examples(t *testing.T, l *lake.Lake) {
	var rows []schemas.SFTExample
	for i := range 60 {
		split := "train"
		if i%5 == 0 {
			split = "validation"
		}
		rows = append(rows, schemas.SFTExample{SetID: "set-1", ExampleID: fmt.Sprintf("ex-%03d", (i*37)%60), Split: split, TaskID: "t",
			RolloutIDs: []string{fmt.Sprint("r", i)}, InputIDs: []int32{1, 2, int32(i)}, LossMask: []int32{0, 1, 1}, NumTokens: 3, NumLossTokens: 2,
			Text: strings.Repeat("token ", 200+i), Messages: []schemas.Message{{Role: "user", Content: "fix it"},
				{Role: "assistant", ToolCalls: []schemas.ToolCall{{ID: "c1", Name: "bash", Arguments: `{"command": "ls"}`}}},
				{Role: "tool", Content: "a.py", ToolCallID: "c1", Name: "bash"}, {Role: "assistant", Content: fmt.Sprint("done ", i)}},
			Weights: []int32{0, 1, 0, 1}})
	}
	laketest.Append(t, l, schemas.SFTExamples, rows[:30])
	laketest.Append(t, l, schemas.SFTExamples, rows[30:])
}

// publishedMessages reads the messages of a publication, OpenAI's shape.
type publishedMessages struct {
	Messages []struct {
		Role      string `parquet:"role"`
		ToolCalls []struct {
			ID       string `parquet:"id"`
			Type     string `parquet:"type"`
			Function struct {
				Name      string `parquet:"name"`
				Arguments string `parquet:"arguments"`
			} `parquet:"function"`
		} `parquet:"tool_calls,list"`
		ToolCallID string `parquet:"tool_call_id"`
	} `parquet:"messages,list"`
}

func read(t *testing.T, l *lake.Lake, key string) []byte {
	data, err := objstore.ReadAll(context.Background(), l.Bucket(), key)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestPublish(t *testing.T) {
	ctx := context.Background()
	l := laketest.New(t)
	examples(t, l)
	cfg := Config{Input: "sft_examples", Name: "swe-sft-demo", SplitBy: "split"}
	sum, err := Job.Execute(ctx, &stage.Env{Lake: l}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Prefix != "published/swe-sft-demo/v1" || sum.Rows != 60 || sum.AlreadyPublished {
		t.Fatalf("summary: %+v", sum)
	}
	var m Manifest
	if err := json.Unmarshal(read(t, l, sum.Prefix+"/MANIFEST.json"), &m); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range m.Files {
		paths = append(paths, f.Path)
		data := read(t, l, sum.Prefix+"/"+f.Path)
		h := sha256.Sum256(data)
		if hex.EncodeToString(h[:]) != f.SHA256 || int64(len(data)) != f.Bytes {
			t.Errorf("%s: manifest sha256/size do not match the file", f.Path)
		}
		if strings.HasSuffix(f.Path, ".parquet") {
			pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatalf("%s is not Parquet: %v", f.Path, err)
			}
			// Tool calls in OpenAI's shape.
			calls := parquet.NewGenericReader[publishedMessages](pf)
			pm := make([]publishedMessages, 1)
			if _, err := calls.Read(pm); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if c := pm[0].Messages[1].ToolCalls; len(c) != 1 || c[0].ID != "c1" || c[0].Type != "function" || c[0].Function.Name != "bash" || c[0].Function.Arguments != `{"command": "ls"}` || pm[0].Messages[2].ToolCallID != "c1" {
				t.Fatalf("%s: published tool calls: %+v", f.Path, pm[0].Messages)
			}
			rows := parquet.NewGenericReader[schemas.SFTExample](pf)
			got := make([]schemas.SFTExample, pf.NumRows())
			n, _ := rows.Read(got)
			prev := ""
			for _, r := range got[:n] {
				if r.ExampleID <= prev || !strings.HasPrefix(f.Path, "data/"+r.Split+"-") {
					t.Errorf("%s: row %s (split %s) out of key order or in the wrong split", f.Path, r.ExampleID, r.Split)
				}
				prev = r.ExampleID
			}
			if int64(n) != f.Rows {
				t.Errorf("%s: %d rows, manifest says %d", f.Path, n, f.Rows)
			}
		}
	}
	want := []string{"data/train-00000-of-00001.parquet", "data/validation-00000-of-00001.parquet", "README.md"}
	if fmt.Sprint(paths) != fmt.Sprint(want) || m.Splits["train"] != 48 || m.Splits["validation"] != 12 || m.Source != "sft_examples@2" {
		t.Fatalf("manifest: %+v", m)
	}
	card := string(read(t, l, sum.Prefix+"/README.md"))
	for _, s := range []string{"configs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*\n",
		"  - name: example_id\n    dtype: string\n", "  - name: input_ids\n    sequence: int32\n", "  - name: messages\n    list:\n    - name: role\n      dtype: string\n",
		"  - name: validation\n    num_examples: 12\n", "  download_size: ", "| `sft_examples@2` | test |"} {
		if !strings.Contains(card, s) {
			t.Errorf("dataset card lacks %q:\n%s", s, card)
		}
	}
	// Twice: nothing new, same bytes.
	again, err := Job.Execute(ctx, &stage.Env{Lake: l}, cfg)
	if err != nil || !again.AlreadyPublished {
		t.Fatalf("second publish: %+v %v", again, err)
	}
	// Other rows under the same name: its next version; v1 stays as it was.
	cfg2 := cfg
	cfg2.SplitBy, cfg2.Where = "", "split = 'train'"
	v2, err := Job.Execute(ctx, &stage.Env{Lake: l}, cfg2)
	if err != nil || v2.Prefix != "published/swe-sft-demo/v2" || v2.AlreadyPublished || v2.Rows >= sum.Rows || v2.Manifest.Splits["train"] != v2.Rows {
		t.Fatalf("a subset under the same name: %+v %v", v2, err)
	}
	if !strings.Contains(string(read(t, l, v2.Prefix+"/README.md")), "the rows where `split = 'train'`") {
		t.Errorf("the card does not say which rows")
	}
	for _, c := range []Config{cfg, cfg2} { // each set of rows: the version that has them
		if again, err := Job.Execute(ctx, &stage.Env{Lake: l}, c); err != nil || !again.AlreadyPublished {
			t.Fatalf("republish %+v: %+v %v", c, again, err)
		}
	}
	if again, _ := Job.Execute(ctx, &stage.Env{Lake: l}, cfg); again.Prefix != sum.Prefix {
		t.Fatalf("republishing v1's rows found %s", again.Prefix)
	}
	// The latest run's rows: here every row (one SFT set), so v1 has them.
	latest := cfg
	latest.LatestRun = true
	if again, err := Job.Execute(ctx, &stage.Env{Lake: l}, latest); err != nil || again.Prefix != sum.Prefix || !again.AlreadyPublished {
		t.Fatalf("--latest-run of a one-set table: %+v %v", again, err)
	}
	// A predicate no row holds, or that is not SQL: a clear error.
	for where, want := range map[string]string{"split = 'nope'": `no row holds for --where "split = 'nope'"`, "splt = 1": `--where "splt = 1"`} {
		c := cfg
		c.Where, c.SplitBy = where, ""
		if _, err := Job.Execute(ctx, &stage.Env{Lake: l}, c); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--where %q: %v, want an error containing %q", where, err, want)
		}
	}
	// The same rows in a MinIO lake publish to identical bytes.
	l2 := laketest.MinIO(t, "publish")
	examples(t, l2)
	sum2, err := Job.Execute(ctx, &stage.Env{Lake: l2}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// (The dataset cards differ only in the lineage's commit times.)
	for _, f := range m.Files {
		if f.Split != "" && !bytes.Equal(read(t, l, sum.Prefix+"/"+f.Path), read(t, l2, sum2.Prefix+"/"+f.Path)) {
			t.Errorf("%s differs between the local and the MinIO publication", f.Path)
		}
	}
}

// TestPublishShards: a snapshot larger than a shard is cut into
// data/train-0000i-of-0000N files, each within its row-group bound, and
// a local lake's publication is a directory the datasets library reads.
func TestPublishShards(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	l := laketest.On(t, b)
	examples(t, l)
	sum, err := Job.Execute(ctx, &stage.Env{Lake: l}, Config{Input: "sft_examples@1", Name: "sharded", ShardBytes: 4 << 10, RowGroupBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var shards []string
	var rows int64
	for _, f := range sum.Manifest.Files {
		if f.Split == "train" {
			shards = append(shards, f.Path)
			rows += f.Rows
		}
	}
	if len(shards) < 2 || rows != 30 || !strings.HasSuffix(shards[len(shards)-1], fmt.Sprintf("-of-%05d.parquet", len(shards))) {
		t.Fatalf("shards %v with %d rows", shards, rows)
	}
	f, err := os.Open(filepath.Join(dir, sum.Prefix, shards[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if len(pf.RowGroups()) < 2 {
		t.Errorf("%s: %d row group(s) under a 4 KiB bound", shards[0], len(pf.RowGroups()))
	}
}
