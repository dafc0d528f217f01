package buildsft

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/internal/tokref"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// BenchmarkTokenCache: build-sft over rollouts whose tool outputs are real
// code (this repository's Go files), first with an empty token cache (every
// chat rendered and tokenised), then again with another seed — a new set,
// so nothing is skipped — over the same cache, in the same run. Reports
// both wall times and their ratio.
func BenchmarkTokenCache(b *testing.B) {
	if err := tokref.Check(); err != nil {
		b.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(tokref.Root(), "*", "*", "*.go"))
	if err != nil || len(files) < 20 {
		b.Fatalf("source files: %v (%d)", err, len(files))
	}
	var rows []schemas.Rollout
	for i := range 1500 {
		src, err := os.ReadFile(files[i%len(files)])
		if err != nil {
			b.Fatal(err)
		}
		text := string(src)
		if len(text) > 12000 {
			text = text[:12000]
		}
		call := []schemas.ToolCall{{ID: "c1", Name: "bash", Arguments: fmt.Sprintf(`{"command": "cat %s"}`, filepath.Base(files[i%len(files)]))}}
		rows = append(rows, schemas.Rollout{RolloutID: fmt.Sprintf("r-%04d", i), TaskID: fmt.Sprintf("t/%d", i), RunID: "run", Policy: "p", Reward: laketest.Ptr(1.0),
			Messages: []schemas.Message{{Role: "system", Content: "You are a careful software engineer."},
				{Role: "user", Content: fmt.Sprintf("Issue %d: the reader loses the last row of a file.", i)},
				{Role: "assistant", Content: "Let me read the code.", ToolCalls: call}, {Role: "tool", Content: text, ToolCallID: "c1"},
				{Role: "assistant", Content: "The loop stops one row early; here is the fix.\n" + text[:min(len(text), 2000)]}}})
	}
	l := laketest.New(b)
	laketest.Append(b, l, schemas.Rollouts, rows)
	ctx := context.Background()
	var cold, warm time.Duration
	var tokens int64
	b.ResetTimer()
	for i := range b.N {
		cfg := Config{Input: "rollouts", TokenizerDir: tokref.DefaultTokenizerDir(), ValidationFrac: -1, Seed: uint64(2 * i)}
		// A handle with a new cache: cold for the first run, warm for the second.
		cl := lake.Open(l.Bucket(), lake.Options{CacheDir: b.TempDir()})
		t0 := time.Now()
		first, err := Job.Execute(ctx, &stage.Env{Lake: cl}, cfg)
		if err != nil || first.TokenCache.Misses != int64(len(rows)) {
			b.Fatalf("cold: %+v %v", first.TokenCache, err)
		}
		t1 := time.Now()
		cfg.Seed++
		second, err := Job.Execute(ctx, &stage.Env{Lake: cl}, cfg)
		if err != nil || second.TokenCache.Hits != int64(len(rows)) || second.Tokens != first.Tokens {
			b.Fatalf("warm: %+v %v", second.TokenCache, err)
		}
		t2 := time.Now()
		cold += t1.Sub(t0)
		warm += t2.Sub(t1)
		tokens = first.Tokens
	}
	b.ReportMetric(float64(tokens), "tokens")
	b.ReportMetric(cold.Seconds()/float64(b.N), "cold_s")
	b.ReportMetric(warm.Seconds()/float64(b.N), "warm_s")
	b.ReportMetric(cold.Seconds()/warm.Seconds(), "speedup")
}
