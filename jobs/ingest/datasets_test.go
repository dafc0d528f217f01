package ingest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/swelake/swelake/jobs/ingest/formats"
)

// v1Event is an OpenHands V1 event as software-agent-sdk persists it.
func v1Event(i int, body string) string {
	return fmt.Sprintf(`{"id":"ev-%d","timestamp":"2026-06-16T05:39:%02d","source":%s}`, i, i, body)
}

// TestV1ConversationArchives: the OpenHands benchmarks save each
// instance's conversations as conversations/<instance_id>.tar.gz of
// workspace/conversations/<id>/{base_state.json, events/event-NNNNN-<id>.json}
// (benchmarks/utils/evaluation.py, 4e5469e). They are streamed, one
// rollout per conversation, the instance from the archive's name, events
// in their index order whatever the archive's order.
func TestV1ConversationArchives(t *testing.T) {
	ctx := context.Background()
	l := newLake(t)
	dir := t.TempDir()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	add := func(name, data string) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write([]byte(data))
	}
	conv := "workspace/conversations/0a1b2c3d4e5f/"
	add(conv+"base_state.json", `{"id":"0a1b2c3d-4e5f","agent":{"llm":{"model":"litellm_proxy/qwen3-coder"}},"execution_status":"finished","max_iterations":100}`)
	add(conv+"events/event-00001-aaaaaaaa-0001.json", v1Event(1, `"agent","kind":"ActionEvent","thought":[],"tool_name":"finish","tool_call_id":"c1","llm_response_id":"r1",
		"tool_call":{"id":"c1","name":"finish","arguments":"{}"},"action":{"kind":"FinishAction","message":"done"}`))
	add(conv+"events/event-00000-aaaaaaaa-0000.json", v1Event(0, `"user","kind":"MessageEvent","llm_message":{"role":"user","content":[{"type":"text","text":"Fix the bug"}]}`))
	tw.Close()
	zw.Close()
	write(t, dir, "conversations/django__django-11099.tar.gz", buf.Bytes())
	s, err := Run(ctx, l, Config{Kind: formats.Rollouts, Format: "auto", Paths: []string{filepath.Join(dir, "conversations")}, Strict: true})
	if err != nil || s.Ingested != 1 || s.Formats["openhands-v1-events"] != 1 {
		t.Fatalf("%+v %v", s, err)
	}
	res := query(t, l, `SELECT task_id, policy, exit_reason, submitted, messages[1].content, messages[2].tool_calls[1].name FROM rollouts`)
	if got := fmt.Sprint(res.Rows); got != "[[swe-bench/django__django-11099 litellm_proxy/qwen3-coder submitted true Fix the bug finish]]" {
		t.Fatalf("%s", got)
	}
}

// TestUnknownShapeIsQuarantined: a decoder that meets a row its format
// does not describe quarantines it with the reason, never a thinner row;
// the rows it knows are ingested.
func TestUnknownShapeIsQuarantined(t *testing.T) {
	ctx := context.Background()
	l := newLake(t)
	dir := t.TempDir()
	v0 := `{"instance_id":"a__b-1","history":[{"id":1,"source":"agent","action":"run","args":{"command":"ls"}},{"id":2,"source":"agent","observation":"run","content":"x","cause":1}],"test_result":{"git_patch":""}}`
	v1 := `{"instance_id":"a__b-2","history":[{"id":"e","timestamp":"t","source":"agent","kind":"MessageEvent","llm_message":{"role":"assistant","content":[]}}],"test_result":{}}`
	odd := `{"instance_id":"a__b-3","history":[{"id":3,"source":"agent","message":"?"}],"test_result":{}}`
	f := write(t, dir, "output.jsonl", []byte(v0+"\n"+v1+"\n"+odd+"\n"))
	s, err := Run(ctx, l, Config{Kind: formats.Rollouts, Format: "openhands", Paths: []string{f}})
	if err != nil || s.Ingested != 1 || s.Quarantined != 2 {
		t.Fatalf("%+v %v", s, err)
	}
	res := query(t, l, `SELECT list(reason ORDER BY line) FROM quarantine`)
	got := fmt.Sprint(res.Rows)
	if !strings.Contains(got, "history[0]: an OpenHands V1 event (kind MessageEvent): read the file as openhands-v1") ||
		!strings.Contains(got, "history[0]: an event with neither action nor observation (keys id, message, source)") {
		t.Fatalf("reasons: %s", got)
	}
}

// TestSplitShardsComplete: a directory holding part of a Hugging Face
// split's shards (a download that stopped) is refused naming the missing
// ones; shards named one by one are taken as named.
func TestSplitShardsComplete(t *testing.T) {
	ctx := context.Background()
	l := newLake(t)
	dir := t.TempDir()
	one := write(t, dir, "data/train-00000-of-00003.jsonl", []byte(rowsOf(2, 0)))
	write(t, dir, "data/train-00002-of-00003.jsonl", []byte(rowsOf(2, 2)))
	_, err := Run(ctx, l, Config{Kind: formats.Tasks, Format: "auto", Paths: []string{filepath.Join(dir, "data")}})
	if err == nil || !strings.Contains(err.Error(), "split train has 2 of its 3 shards (missing 00001)") {
		t.Fatalf("partial split: %v", err)
	}
	s, err := Run(ctx, l, Config{Kind: formats.Tasks, Format: "auto", Paths: []string{one}})
	if err != nil || s.Ingested != 2 {
		t.Fatalf("one named shard: %+v %v", s, err)
	}
	write(t, dir, "data/train-00001-of-00003.jsonl", []byte(rowsOf(2, 4)))
	if s, err = Run(ctx, l, Config{Kind: formats.Tasks, Format: "auto", Paths: []string{filepath.Join(dir, "data")}}); err != nil || s.Ingested != 4 || s.Duplicates != 2 {
		t.Fatalf("whole split: %+v %v", s, err)
	}
}

// TestHFParquetShards: a split downloaded from the hub as Parquet shards
// in the layout of nebius/SWE-rebench-openhands-trajectories' card
// (trajectory a list of structs whose absent fields are NULL, tools a list
// of structs, resolved int64, gen_tests_correct float64 or NULL), written
// by DuckDB as the hub's converter writes Parquet: the shards are read row
// by row and every row lands with its tool calls.
func TestHFParquetShards(t *testing.T) {
	ctx := context.Background()
	l := newLake(t)
	dir := t.TempDir()
	db := newDB(t)
	for shard := range 2 {
		p := filepath.Join(dir, "data", fmt.Sprintf("train-%05d-of-00002.parquet", shard))
		write(t, dir, filepath.Join("data", ".keep"), nil)
		_, err := db.Exec(fmt.Sprintf(`COPY (SELECT
			'chatcmpl-' || (%d * 10 + i) AS trajectory_id,
			'org__repo-' || (%d * 10 + i) AS instance_id,
			'org/repo' AS repo,
			[{'role': 'system', 'content': 'You are OpenHands agent', 'tool_calls': NULL::STRUCT(id VARCHAR, type VARCHAR, function STRUCT(name VARCHAR, arguments VARCHAR))[], 'name': NULL::VARCHAR, 'tool_call_id': NULL::VARCHAR},
			 {'role': 'assistant', 'content': 'look', 'tool_calls': [{'id': 'c' || i, 'type': 'function', 'function': {'name': 'execute_bash', 'arguments': '{"command": "ls"}'}}], 'name': NULL, 'tool_call_id': NULL},
			 {'role': 'tool', 'content': 'a.py', 'tool_calls': NULL, 'name': 'execute_bash', 'tool_call_id': 'c' || i}] AS trajectory,
			[{'type': 'function', 'function': {'name': 'execute_bash', 'description': 'Execute a bash command'}}] AS tools,
			'diff --git a/a.py b/a.py' AS model_patch, 'submit' AS exit_status, (i %% 2)::BIGINT AS resolved,
			CASE WHEN i = 0 THEN NULL ELSE 1.0 END AS gen_tests_correct, NULL::DOUBLE AS pred_passes_gen_tests
			FROM range(3) t(i)) TO '%s' (FORMAT parquet)`, shard, shard, p))
		if err != nil {
			t.Fatal(err)
		}
	}
	s, err := Run(ctx, l, Config{Kind: formats.Rollouts, Format: "auto", Paths: []string{filepath.Join(dir, "data")}, Strict: true})
	if err != nil || s.Ingested != 6 || s.Formats["trajectory-chat"] != 2 {
		t.Fatalf("%+v %v", s, err)
	}
	res := query(t, l, `SELECT count(*), sum(resolved::INT), bool_and(messages[2].tool_calls[1].name = 'execute_bash' AND messages[3].tool_call_id = messages[2].tool_calls[1].id),
		bool_and(rollout_id LIKE 'nebius-openhands/chatcmpl-%'), bool_and(tools LIKE '%execute_bash%'), sum(len(actions)) FROM rollouts`)
	if got := fmt.Sprint(res.Rows); got != "[[6 2 true true true 6]]" {
		t.Fatalf("%s", got)
	}
}

// TestArchiveMemberBound: an archive member larger than --max-record-size
// is quarantined with its first bytes and read past; the rest ingests.
func TestArchiveMemberBound(t *testing.T) {
	ctx := context.Background()
	l := newLake(t)
	dir := t.TempDir()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	add := func(name, data string) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write([]byte(data))
	}
	add("c1/events/event-00000-aaaaaaaa-0000.json", v1Event(0, `"user","kind":"MessageEvent","llm_message":{"role":"user","content":[{"type":"text","text":"`+strings.Repeat("x", 8<<10)+`"}]}`))
	add("c2/events/event-00000-bbbbbbbb-0000.json", v1Event(0, `"user","kind":"MessageEvent","llm_message":{"role":"user","content":[{"type":"text","text":"small"}]}`))
	tw.Close()
	zw.Close()
	f := write(t, dir, "a__b-1.tar.gz", buf.Bytes())
	s, err := Run(ctx, l, Config{Kind: formats.Rollouts, Format: "openhands-v1-events", Paths: []string{f}, MaxRecordBytes: 4 << 10})
	if err != nil || s.Ingested != 1 || s.Quarantined != 1 {
		t.Fatalf("%+v %v", s, err)
	}
	res := query(t, l, `SELECT reason FROM quarantine`)
	if got := fmt.Sprint(res.Rows); !strings.Contains(got, "record exceeds the maximum record size") {
		t.Fatalf("%s", got)
	}
}

func newDB(t *testing.T) *sql.DB {
	conn, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	return db
}
