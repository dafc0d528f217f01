package curate

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/swelake/swelake/internal/tokref"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/schemas"
)

// synthRollouts yields n rollouts of 8 messages (native tool calls, text
// and fenced actions mixed) over n/8 tasks, rewards mixed.
func synthRollouts(n int) func(yield func(schemas.Rollout, error) bool) {
	return func(yield func(schemas.Rollout, error) bool) {
		r := rand.New(rand.NewPCG(1, 2))
		cmds := []string{"ls -la", "pytest -x tests/", "cat src/app.py", "git diff", "python reproduce.py", "grep -rn foo .", "git log --oneline", "sed -n 1,40p a.py"}
		for i := range n {
			call := func(id string) []schemas.ToolCall {
				return []schemas.ToolCall{{ID: id, Name: "bash", Arguments: fmt.Sprintf(`{"command": %q}`, cmds[r.IntN(len(cmds))])}}
			}
			msgs := []schemas.Message{
				{Role: "system", Content: "You are a helpful software engineer working in a repository."},
				{Role: "user", Content: fmt.Sprintf("Fix issue %d: the parser drops the trailing field when the line ends with a separator.", i/8)},
				{Role: "assistant", Content: "Let me look around.", ToolCalls: call("c1")},
				{Role: "tool", Content: "src/\ntests/\nREADME.md", ToolCallID: "c1"},
				{Role: "assistant", Content: "<function=execute_bash>\n<parameter=command>" + cmds[r.IntN(len(cmds))] + "</parameter>\n</function>"},
				{Role: "tool", Content: "===== 1 failed, 12 passed in 0.31s ====="},
				{Role: "assistant", Content: "Now submit.\n```\nsubmit\n```"},
				{Role: "tool", Content: "submitted"},
			}
			reward := float64(r.IntN(2))
			row := schemas.Rollout{RolloutID: fmt.Sprintf("r%08d", i), TaskID: fmt.Sprintf("synth/t-%d", i/8), RunID: fmt.Sprintf("run-%d", i%4), Policy: "qwen",
				Messages: msgs, NumTurns: int32(len(msgs)), Tokens: new(int64), ExitReason: "submitted", Reward: &reward, Resolved: new(bool),
				Patch: "diff --git a/src/app.py b/src/app.py\n--- a/src/app.py\n+++ b/src/app.py\n@@ -1 +1 @@\n-x\n+y\n", ContentHash: fmt.Sprintf("h%d", i)}
			*row.Tokens = int64(1000 + r.IntN(90000))
			*row.Resolved = reward == 1
			row.ExitReasonRaw = row.ExitReason
			schemas.FinishRollout(&row) // as every writer does
			if !yield(row, nil) {
				return
			}
		}
	}
}

// BenchmarkCurate: `curate` (every default rule, task stats, decisions
// written back) over SWELAKE_BENCH_ROLLOUTS synthetic rollouts (default
// 1,000,000) on a local lake, against DuckDB scanning the columns the v2
// rules read (messages with their tool calls, patch, rewards, tokens, exit
// reason) from the same files, in the same run. Target ≤ 1.0×: curation
// reads the action columns written with each rollout, never the messages.
func BenchmarkCurate(b *testing.B) {
	n := 1_000_000
	fmt.Sscan(os.Getenv("SWELAKE_BENCH_ROLLOUTS"), &n)
	if err := tokref.Check(); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	dir := b.TempDir()
	bucket, err := objstore.NewLocal(filepath.Join(dir, "lake"))
	if err != nil {
		b.Fatal(err)
	}
	l := lake.Open(bucket, lake.Options{CacheDir: b.TempDir()})
	if err := l.Init(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := tables.CreateTables(ctx, l, lake.Provenance{Job: "bench"}); err != nil {
		b.Fatal(err)
	}
	tbl, _ := l.Table(schemas.Rollouts.Name)
	files, err := lake.WriteFiles(ctx, tbl, tables.Spec(schemas.Rollouts), synthRollouts(n), lake.WriteOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tbl.Append(ctx, files, lake.Provenance{Job: "bench"}); err != nil {
		b.Fatal(err)
	}
	snap, _ := tbl.Snapshot(ctx, lake.Latest)
	var paths []string
	for _, f := range snap.Files {
		p, _ := bucket.LocalPath(lake.FileKey(snap.Table, f.Path))
		paths = append(paths, "'"+p+"'")
	}
	conn, err := duckdb.NewConnector("", nil)
	if err != nil {
		b.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	scan := fmt.Sprintf(`SELECT count(*), count(DISTINCT task_id), count(DISTINCT content_hash), sum(length(patch)), sum(num_turns), sum(tokens),
		count(reward), count(resolved), count(exit_reason), count(DISTINCT policy),
		sum(list_sum(list_transform(messages, m -> length(m.role) + length(m.content) +
			coalesce(list_sum(list_transform(m.tool_calls, c -> length(c.name) + length(c.arguments))), 0))))
		FROM read_parquet([%s])`, strings.Join(paths, ", "))
	var ours, duck time.Duration
	b.ResetTimer()
	for i := range b.N {
		cfg := Job.Defaults()
		cfg.TokenizerDir, cfg.Params.Loop.MaxRepeats = tokref.DefaultTokenizerDir(), int64(5+i)
		t0 := time.Now()
		sum, err := Job.Execute(ctx, &stage.Env{Lake: l, Logger: benchLogger()}, cfg)
		if err != nil || sum.Input != int64(n) {
			b.Fatalf("%+v %v", sum, err)
		}
		t1 := time.Now()
		var cnt int64
		rows, err := db.Query(scan)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			var rest [10]any
			if err := rows.Scan(&cnt, &rest[0], &rest[1], &rest[2], &rest[3], &rest[4], &rest[5], &rest[6], &rest[7], &rest[8], &rest[9]); err != nil {
				b.Fatal(err)
			}
		}
		rows.Close()
		t2 := time.Now()
		ours += t1.Sub(t0)
		duck += t2.Sub(t1)
	}
	b.ReportMetric(float64(n), "rollouts")
	b.ReportMetric(ours.Seconds()/float64(b.N), "curate_s")
	b.ReportMetric(duck.Seconds()/float64(b.N), "duckdb_scan_s")
	b.ReportMetric(ours.Seconds()/duck.Seconds(), "ratio")
}

// benchLogger prints the job's stage timings when SWELAKE_BENCH_DEBUG is set.
func benchLogger() *slog.Logger {
	if os.Getenv("SWELAKE_BENCH_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
