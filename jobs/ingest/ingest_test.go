package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/klauspost/compress/zstd"

	"github.com/swelake/swelake/jobs/ingest/formats"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/queries"
	"github.com/swelake/swelake/schemas"
)

func newLake(t testing.TB) *lake.Lake {
	t.Helper()
	b, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l := lake.Open(b, lake.Options{CacheDir: t.TempDir()})
	if err := l.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := tables.CreateTables(context.Background(), l, lake.Provenance{Job: "test"}); err != nil {
		t.Fatal(err)
	}
	return l
}

func write(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func query(t testing.TB, l *lake.Lake, q string) *queries.Result {
	t.Helper()
	e, err := queries.Open(context.Background(), queries.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Attach(context.Background(), l, nil, tables.ParquetSchema); err != nil {
		t.Fatal(err)
	}
	res, err := e.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res
}

const taskRow = `{"instance_id":"a__b-%d","repo":"a/b","base_commit":"c","patch":"P%d","problem_statement":"S","FAIL_TO_PASS":["t"],"PASS_TO_PASS":[]}`

// rowsOf makes n SWE-bench task rows a__b-<start>..., as JSONL.
func rowsOf(n int, start int) string {
	var b strings.Builder
	for i := start; i < start+n; i++ {
		b.WriteString(strings.ReplaceAll(taskRow, "%d", itoa(i)))
		b.WriteByte('\n')
	}
	return b.String()
}

func itoa(i int) string { return fmt.Sprintf("%03d", i) }

func TestBadRowsAreQuarantinedAndTheRestIngested(t *testing.T) {
	ctx := context.Background()
	l := newLake(t)
	dir := t.TempDir()
	in := rowsOf(3, 0) + "this is not json\n" + `{"instance_id":"","FAIL_TO_PASS":[],"problem_statement":"x","repo":"r"}` + "\n" + rowsOf(2, 3)
	f := write(t, dir, "tasks.jsonl", []byte(in))
	sum, err := Run(ctx, l, Config{Kind: formats.Tasks, Format: "swe-bench", Paths: []string{f}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Read != 7 || sum.Ingested != 5 || sum.Quarantined != 2 || sum.Version != 1 || sum.Quarantine != 1 {
		t.Fatalf("summary %+v", sum)
	}
	res := query(t, l, "SELECT line, reason, raw::VARCHAR FROM quarantine ORDER BY line")
	if len(res.Rows) != 2 || res.Rows[0][0].(int64) != 4 || res.Rows[0][2] != "this is not json" || !strings.Contains(res.Rows[1][1].(string), "no instance_id") {
		t.Fatalf("quarantine %v", res.Rows)
	}
	// Strict: the same input is ingested (nothing new) and the run fails.
	if _, err := Run(ctx, l, Config{Kind: formats.Tasks, Format: "swe-bench", Paths: []string{f}, Strict: true}); !errors.Is(err, ErrStrict) {
		t.Fatalf("strict: %v", err)
	}
	// Re-running the same input quarantines nothing twice.
	if res := query(t, l, "SELECT count(*) FROM quarantine"); res.Rows[0][0].(int64) != 2 {
		t.Fatalf("after a re-run the quarantine holds %v rows, want 2", res.Rows[0][0])
	}
}

func TestReingestIsANoOpAndConflictsAreReported(t *testing.T) {
	ctx := context.Background()
	l := newLake(t)
	dir := t.TempDir()
	f := write(t, dir, "a.jsonl", []byte(rowsOf(4, 0)))
	cfg := Config{Kind: formats.Tasks, Format: "auto", Paths: []string{f}}
	if s, err := Run(ctx, l, cfg); err != nil || s.Ingested != 4 {
		t.Fatalf("first: %+v %v", s, err)
	}
	// The same rows in another file (another export spelling F2P as a string).
	again := strings.ReplaceAll(rowsOf(4, 0), `"FAIL_TO_PASS":["t"]`, `"FAIL_TO_PASS":"[\"t\"]"`)
	g := write(t, dir, "b.json", []byte(again))
	s, err := Run(ctx, l, Config{Kind: formats.Tasks, Format: "auto", Paths: []string{g}})
	if err != nil || s.Duplicates != 4 || s.Ingested != 0 || s.Version != -1 {
		t.Fatalf("re-ingest: %+v %v", s, err)
	}
	// Same id, other content: reported, quarantined, not overwritten.
	changed := strings.Replace(rowsOf(1, 2), `"P002"`, `"a different gold patch"`, 1) + rowsOf(1, 9)
	h := write(t, dir, "c.jsonl", []byte(changed))
	s, err = Run(ctx, l, Config{Kind: formats.Tasks, Format: "auto", Paths: []string{h}})
	if err != nil || s.Conflicts != 1 || s.Ingested != 1 || s.Quarantined != 1 {
		t.Fatalf("conflict: %+v %v", s, err)
	}
	res := query(t, l, "SELECT gold_patch FROM tasks WHERE task_id = 'swe-bench/a__b-002'")
	if len(res.Rows) != 1 || res.Rows[0][0] != "P002" {
		t.Fatalf("the conflicting row overwrote the task: %v", res.Rows)
	}
	res = query(t, l, "SELECT reason FROM quarantine")
	if len(res.Rows) != 1 || !strings.Contains(res.Rows[0][0].(string), `conflict: task_id "swe-bench/a__b-002" is already in tasks`) {
		t.Fatalf("quarantine %v", res.Rows)
	}
}

func TestCompressedGlobsAndDirectories(t *testing.T) {
	ctx := context.Background()
	l := newLake(t)
	dir := t.TempDir()
	var gz, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write([]byte(rowsOf(2, 0)))
	gw.Close()
	zw, _ := zstd.NewWriter(&zs)
	zw.Write([]byte(rowsOf(3, 10)))
	zw.Close()
	write(t, dir, "sets/one.jsonl.gz", gz.Bytes())
	write(t, dir, "sets/two.jsonl.zst", zs.Bytes())
	write(t, dir, "sets/nested/three.json", []byte("["+strings.ReplaceAll(strings.TrimSpace(rowsOf(2, 20)), "\n", ",")+"]"))
	write(t, dir, "sets/README.md", []byte("not an input"))
	s, err := Run(ctx, l, Config{Kind: formats.Tasks, Format: "auto", Paths: []string{filepath.Join(dir, "sets")}})
	if err != nil || s.Ingested != 7 || s.Files != 3 {
		t.Fatalf("directory: %+v %v", s, err)
	}
	l2 := newLake(t)
	s, err = Run(ctx, l2, Config{Kind: formats.Tasks, Format: "auto", Paths: []string{filepath.Join(dir, "sets", "*.jsonl.*")}})
	if err != nil || s.Ingested != 5 || s.Files != 2 {
		t.Fatalf("glob: %+v %v", s, err)
	}
}

func TestWrongFormatIsAnErrorNamingTheFile(t *testing.T) {
	ctx := context.Background()
	l := newLake(t)
	dir := t.TempDir()
	f := write(t, dir, "tasks.jsonl", []byte(rowsOf(2, 0)))
	_, err := Run(ctx, l, Config{Kind: formats.Tasks, Format: "swe-rebench", Paths: []string{f}})
	if err == nil || !strings.Contains(err.Error(), f+": not swe-rebench (no install_config); it looks like swe-bench (--format swe-bench)") {
		t.Fatalf("declared format: %v", err)
	}
	u := write(t, dir, "other.json", []byte(`{"something":"else"}`))
	_, err = Run(ctx, l, Config{Kind: formats.Tasks, Format: "auto", Paths: []string{u}})
	if err == nil || !strings.Contains(err.Error(), "other.json") || !strings.Contains(err.Error(), "candidates: swe-bench") {
		t.Fatalf("unknown format: %v", err)
	}
	if v, _ := mustTable(t, l, "tasks").Latest(ctx); v != 0 {
		t.Fatalf("a failed ingest committed version %d", v)
	}
}

func mustTable(t testing.TB, l *lake.Lake, name string) *lake.Table {
	tbl, err := l.Table(name)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// TestVerlParquetWithNullColumns: verl/rLLM Parquet rows carry the task in
// extra_info, and real files have NULL-typed columns. DuckDB writes one here.
func TestVerlParquetWithNullColumns(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "train.parquet")
	conn, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	_, err = db.Exec(`COPY (SELECT 'SWE-Gym' AS data_source, NULL AS ability, [{'role': 'user', 'content': 'fix'}] AS prompt,
		{'instance_id': 'g__p-' || i, 'repo': 'g/p', 'base_commit': 'c', 'problem_statement': 'S', 'FAIL_TO_PASS': '["t"]', 'PASS_TO_PASS': NULL, 'patch': 'P'} AS extra_info
		FROM range(3) t(i)) TO '` + path + `' (FORMAT parquet)`)
	if err != nil {
		t.Fatal(err)
	}
	var typ string
	db.QueryRow(`SELECT type FROM parquet_schema('` + path + `') WHERE name = 'ability'`).Scan(&typ)
	l := newLake(t)
	s, err := Run(ctx, l, Config{Kind: formats.Tasks, Format: "auto", Paths: []string{path}})
	if err != nil || s.Ingested != 3 || s.Formats["verl"] != 1 {
		t.Fatalf("verl parquet (ability column type %q): %+v %v", typ, s, err)
	}
	res := query(t, l, "SELECT task_id, fail_to_pass FROM tasks ORDER BY 1")
	if len(res.Rows) != 3 || res.Rows[0][0] != "swe-gym/g__p-0" {
		t.Fatalf("%v", res.Rows)
	}
}

// TestInvalidUTF8: repaired in the text columns (DuckDB can query them),
// counted, and kept byte for byte in raw.
func TestInvalidUTF8(t *testing.T) {
	ctx := context.Background()
	l := newLake(t)
	dir := t.TempDir()
	row := []byte("{\"messages\":[{\"role\":\"user\",\"content\":\"fix\"},{\"role\":\"tool\",\"content\":\"log \xc3\x28 here\"}],\"task_id\":\"swe-bench/x-1\",\"run_id\":\"r\"}\n")
	f := write(t, dir, "chat.jsonl", append(row, []byte(`{"messages":[{"role":"user","content":"ok"}],"task_id":"swe-bench/x-2","run_id":"r"}`+"\n")...))
	s, err := Run(ctx, l, Config{Kind: formats.Rollouts, Format: "openai-chat", Paths: []string{f}})
	if err != nil || s.Ingested != 2 || s.Repaired != 1 {
		t.Fatalf("%+v %v", s, err)
	}
	res := query(t, l, "SELECT messages[2].content, raw_ref.sha256, raw_ref.offset, raw_ref.length FROM rollouts WHERE task_id = 'swe-bench/x-1'")
	if res.Rows[0][0] != "log \ufffd( here" || res.Rows[0][3].(int64) != int64(len(bytes.TrimSpace(row))) {
		t.Fatalf("%v", res.Rows)
	}
	// The original bytes are in the raw source: the file itself.
	raw, err := l.ReadRaw(ctx, res.Rows[0][1].(string), res.Rows[0][2].(int64), res.Rows[0][3].(int64))
	if err != nil || !bytes.Equal(raw, bytes.TrimSpace(row)) {
		t.Fatalf("raw = %q, %v", raw, err)
	}
}

// TestRawSourcesStoredOnce: a rollouts file's bytes are stored once,
// named by the file's own sha256, every row pointing at exactly its line
// (leading blanks and blank lines included in the file, not in the row);
// re-ingesting, or ingesting a gzipped copy, stores nothing new; lake
// verify checks the source and finds a damaged one.
func TestRawSourcesStoredOnce(t *testing.T) {
	ctx := context.Background()
	l := newLake(t)
	dir := t.TempDir()
	lines := []string{`{"messages":[{"role":"user","content":"a"}],"task_id":"t-1","run_id":"r","exit_reason":"max_steps"}`,
		`   {"messages":[{"role":"user","content":"b"}],"task_id":"t-2","run_id":"r","tools":[{"type":"function","function":{"name":"bash"}}]}`}
	content := []byte(lines[0] + "\n\n" + lines[1] + "\n")
	f := write(t, dir, "chat.jsonl", content)
	s, err := Run(ctx, l, Config{Kind: formats.Rollouts, Format: "openai-chat", Paths: []string{f}})
	if err != nil || s.Ingested != 2 || s.RawStored != 1 {
		t.Fatalf("%+v %v", s, err)
	}
	sum := sha256.Sum256(content)
	res := query(t, l, "SELECT raw_ref.sha256, raw_ref.offset, raw_ref.length, exit_reason, exit_reason_raw, tools FROM rollouts ORDER BY task_id")
	for i, r := range res.Rows {
		if r[0] != hex.EncodeToString(sum[:]) {
			t.Fatalf("row %d: source %v, want the file's sha256 %x", i, r[0], sum)
		}
		got, err := l.ReadRaw(ctx, r[0].(string), r[1].(int64), r[2].(int64))
		if err != nil || string(got) != strings.TrimSpace(lines[i]) {
			t.Fatalf("row %d: raw %q, %v", i, got, err)
		}
	}
	if fmt.Sprint(res.Rows[0][3:5]) != "[step_cap max_steps]" || res.Rows[1][5] != `[{"type":"function","function":{"name":"bash"}}]` {
		t.Fatalf("exit reasons / tools: %v", res.Rows)
	}
	again, err := Run(ctx, l, Config{Kind: formats.Rollouts, Format: "openai-chat", Paths: []string{f}})
	if err != nil || again.Ingested != 0 || again.RawStored != 0 {
		t.Fatalf("re-ingest: %+v %v", again, err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(content)
	zw.Close()
	g := write(t, dir, "copy.jsonl.gz", gz.Bytes())
	if s, err := Run(ctx, l, Config{Kind: formats.Rollouts, Format: "openai-chat", Paths: []string{g}}); err != nil || s.RawStored != 0 || s.Duplicates != 2 {
		t.Fatalf("gzipped copy: %+v %v", s, err)
	}
	tbl, _ := l.Table(schemas.Rollouts.Name)
	snap, _ := tbl.Snapshot(ctx, lake.Latest)
	if probs, err := tbl.Verify(ctx, snap, nil); err != nil || len(probs) != 0 || len(snap.RawSources()) != 1 {
		t.Fatalf("verify: %v %v, sources %v", probs, err, snap.RawSources())
	}
	// Damage the stored source: verify names it.
	key := lake.RawKey(hex.EncodeToString(sum[:]))
	if err := l.Bucket().Put(ctx, key, strings.NewReader("not zstd"), -1); err != nil {
		t.Fatal(err)
	}
	probs, err := tbl.Verify(ctx, snap, nil)
	if err != nil || len(probs) != 1 || probs[0].Path != key {
		t.Fatalf("verify after damage: %v %v", probs, err)
	}
}

func TestCompletionsDirectory(t *testing.T) {
	ctx := context.Background()
	l := newLake(t)
	dir := t.TempDir()
	for _, inst := range []string{"a__b-1", "a__b-2"} {
		for i, ts := range []string{"99.5", "100.25"} {
			data := `{"messages":[{"role":"system","content":"s"},{"role":"user","content":"u` + itoa(i) + `"}],"timestamp":` + ts +
				`,"response":{"model":"m","choices":[{"message":{"role":"assistant","content":"at ` + ts + `"}}]}}`
			write(t, dir, "llm_completions/"+inst+"/claude-"+ts+".json", []byte(data))
		}
	}
	s, err := Run(ctx, l, Config{Kind: formats.Rollouts, Format: "auto", Paths: []string{filepath.Join(dir, "llm_completions")}, Options: formats.Options{RunID: "oh"}})
	if err != nil || s.Ingested != 2 || s.Read != 2 {
		t.Fatalf("%+v %v", s, err)
	}
	res := query(t, l, "SELECT task_id, messages[-1].content FROM rollouts ORDER BY 1")
	if res.Rows[0][0] != "swe-bench/a__b-1" || res.Rows[0][1] != "at 100.25" {
		t.Fatalf("%v", res.Rows)
	}
}

func TestPredictionsAsListAndJSONL(t *testing.T) {
	ctx := context.Background()
	l := newLake(t)
	dir := t.TempDir()
	list := write(t, dir, "preds.json", []byte(`[{"instance_id":"a__b-1","model_name_or_path":"m","model_patch":"diff"},{"instance_id":"a__b-2","model_name_or_path":"m","model_patch":""}]`))
	jsonl := write(t, dir, "preds.jsonl", []byte(`{"instance_id":"a__b-3","model_name_or_path":"m","model_patch":"diff"}`+"\n"))
	s, err := Run(ctx, l, Config{Kind: formats.Reports, Format: "auto", Paths: []string{list, jsonl}, Options: formats.Options{RunID: "preds"}})
	if err != nil || s.Ingested != 3 || s.Statuses["no_result"] != 2 || s.Statuses["empty_patch"] != 1 || s.Formats["predictions"] != 2 {
		t.Fatalf("%+v %v", s, err)
	}
}

// TestConcurrentIdenticalIngestsCommitOnce: two ingests of the same input,
// racing on separate handles, both may find the rows new; the run key (a hash
// of what each decided) makes the second commit a no-op.
func TestConcurrentIdenticalIngestsCommitOnce(t *testing.T) {
	ctx := context.Background()
	b, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	first := lake.Open(b, lake.Options{CacheDir: t.TempDir()})
	first.Init(ctx)
	tables.CreateTables(ctx, first, lake.Provenance{Job: "test"})
	f := write(t, t.TempDir(), "tasks.jsonl", []byte(rowsOf(50, 0)+"not json\n"))
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := Run(ctx, lake.Open(b, lake.Options{CacheDir: t.TempDir()}), Config{Kind: formats.Tasks, Format: "auto", Paths: []string{f}})
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	res := query(t, first, "SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM quarantine)")
	if fmt.Sprint(res.Rows) != "[[50 1]]" {
		t.Fatalf("tasks and quarantine rows after two racing ingests: %v, want [[50 1]]", res.Rows)
	}
}
