package ingest

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/swelake/swelake/internal/miniotest"
	"github.com/swelake/swelake/internal/realsamples"
	"github.com/swelake/swelake/jobs/ingest/formats"
)

// corpus names the text the benchmark trajectories are made of:
//   - "words": random words of a 40-word code-and-log vocabulary, the worst
//     case for a compressor (short matches everywhere; zstd's fastest level
//     runs at ~200 MB/s per core on it);
//   - "real": slices of real text — every string of the trajectories in
//     ../shared/realdata and this repository's Go sources — which is what
//     agent trajectories are made of (code, diffs, logs, tool output).
type corpus string

const (
	wordsCorpus corpus = "words"
	realCorpus  corpus = "real"
)

// textSource returns a generator of n-byte texts of the corpus.
func textSource(tb testing.TB, c corpus, r *rand.Rand) func(n int) string {
	tb.Helper()
	if c == realCorpus {
		texts := realTexts(tb)
		return func(n int) string {
			var b strings.Builder
			for b.Len() < n {
				t := texts[r.IntN(len(texts))]
				off := r.IntN(len(t))
				b.WriteString(t[off:min(len(t), off+n-b.Len())])
			}
			return strings.ToValidUTF8(b.String(), "\uFFFD")
		}
	}
	words := strings.Fields(`def return self import from the test assert error Traceback File line raise ValueError None True
		if else for in range len print git diff --- +++ @@ func err nil PASSED FAILED tests/test_models.py::Test ok "quoted" \path`)
	return func(n int) string {
		var b strings.Builder
		for b.Len() < n {
			b.WriteString(words[r.IntN(len(words))])
			if r.IntN(9) == 0 {
				b.WriteString("\n    ")
			} else {
				b.WriteByte(' ')
			}
		}
		return b.String()[:n]
	}
}

// realTexts reads every string of 200 bytes or more in the trajectories of
// ../shared/realdata (in place) and the repository's Go sources.
func realTexts(tb testing.TB) []string {
	tb.Helper()
	root, err := miniotest.RepoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	var texts []string
	trajs, _ := filepath.Glob(realsamples.Path(tb, "trajectories", "*"))
	for _, f := range trajs {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for _, s := range realsamples.Strings(data) {
			if len(s) >= 200 {
				texts = append(texts, s)
			}
		}
	}
	sources, _ := filepath.Glob(filepath.Join(root, "*", "*", "*.go"))
	for _, f := range sources {
		if data, err := os.ReadFile(f); err == nil {
			texts = append(texts, string(data))
		}
	}
	if len(trajs) == 0 || len(texts) < 100 {
		tb.Fatalf("real corpus: %d trajectory files and %d texts", len(trajs), len(texts))
	}
	return texts
}

// writeTrajectories writes OpenAI-chat trajectory rows (100 messages of
// 200–4000 bytes of the corpus's text, tool calls included) until the file
// holds about size bytes.
func writeTrajectories(tb testing.TB, path string, size int64, seed uint64, c corpus) int64 {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 11))
	text := textSource(tb, c, r)
	return writeRows(tb, path, size, func(i int) []map[string]any {
		msgs := make([]map[string]any, 100)
		for j := range msgs {
			switch {
			case j == 0:
				msgs[j] = map[string]any{"role": "system", "content": text(200 + r.IntN(3801))}
			case j%2 == 1:
				msgs[j] = map[string]any{"role": "assistant", "content": text(200 + r.IntN(3801)),
					"tool_calls": []any{map[string]any{"id": fmt.Sprint("call_", j), "type": "function",
						"function": map[string]any{"name": "execute_bash", "arguments": `{"command": "ls -la"}`}}}}
			default:
				msgs[j] = map[string]any{"role": "tool", "tool_call_id": fmt.Sprint("call_", j-1), "content": text(200 + r.IntN(3801))}
			}
		}
		return msgs
	}, func() map[string]any { return map[string]any{"reward": float64(r.IntN(2)), "patch": text(500)} })
}

// writeRows writes OpenAI-chat trajectory rows, the messages of row i from
// msgs and its reward and patch from extra, until the file holds about size
// bytes; it returns the bytes written.
func writeRows(tb testing.TB, path string, size int64, msgs func(i int) []map[string]any, extra func() map[string]any) int64 {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	var written int64
	for i := 0; written < size; i++ {
		row := map[string]any{"messages": msgs(i), "task_id": fmt.Sprintf("swe-bench/t__t-%d", i/4), "run_id": "bench",
			"rollout_id": fmt.Sprint("r", i), "exit_reason": "submitted"}
		for k, v := range extra() {
			row[k] = v
		}
		data, _ := json.Marshal(row)
		n, _ := w.Write(append(data, '\n'))
		written += int64(n)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	return written
}

// BenchmarkIngestTrajectories: JSONL → rollouts, against DuckDB's own
// COPY (SELECT * FROM read_json(...)) TO ... (FORMAT parquet) of the same
// file, interleaved in every iteration, on each corpus.
func BenchmarkIngestTrajectories(b *testing.B) {
	for _, c := range []corpus{wordsCorpus, realCorpus} {
		b.Run(string(c), func(b *testing.B) { benchIngestVsDuckDB(b, c) })
	}
}

func benchIngestVsDuckDB(b *testing.B, c corpus) {
	ctx := context.Background()
	dir := b.TempDir()
	in := filepath.Join(dir, "traj.jsonl")
	size := writeTrajectories(b, in, benchSize(), 1, c)
	conn, err := duckdb.NewConnector("", nil)
	if err != nil {
		b.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	var oursTime, duckTime time.Duration
	b.ResetTimer()
	for i := range b.N {
		l := newLake(b)
		t0 := time.Now()
		s, err := Run(ctx, l, Config{Kind: formats.Rollouts, Format: "openai-chat", Paths: []string{in}})
		if err != nil || s.Quarantined != 0 {
			b.Fatalf("%+v %v", s, err)
		}
		t1 := time.Now()
		out := filepath.Join(dir, fmt.Sprintf("duck-%d.parquet", i))
		if _, err := db.Exec(fmt.Sprintf(`COPY (SELECT * FROM read_json('%s', format = 'newline_delimited', maximum_object_size = 1073741824)) TO '%s' (FORMAT parquet, COMPRESSION zstd)`, in, out)); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		oursTime += t1.Sub(t0)
		duckTime += t2.Sub(t1)
		os.Remove(out)
	}
	mb := float64(size) * float64(b.N) / 1e6
	b.ReportMetric(mb/oursTime.Seconds(), "swelake_MB/s")
	b.ReportMetric(mb/duckTime.Seconds(), "duckdb_MB/s")
	b.ReportMetric(duckTime.Seconds()/oursTime.Seconds(), "swelake/duckdb")
}

// benchSize is the input size (SWELAKE_BENCH_MB, default 256 MB).
func benchSize() int64 {
	var mb int64 = 256
	fmt.Sscan(os.Getenv("SWELAKE_BENCH_MB"), &mb)
	return mb << 20
}

// BenchmarkIngestOnly is the swelake side alone, for profiling.
func BenchmarkIngestOnly(b *testing.B) {
	for _, c := range []corpus{wordsCorpus, realCorpus} {
		b.Run(string(c), func(b *testing.B) { benchIngestOnly(b, c) })
	}
}

func benchIngestOnly(b *testing.B, c corpus) {
	dir := b.TempDir()
	in := filepath.Join(dir, "traj.jsonl")
	size := writeTrajectories(b, in, benchSize(), 1, c)
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		if _, err := Run(context.Background(), newLake(b), Config{Kind: formats.Rollouts, Format: "openai-chat", Paths: []string{in}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngestPeakRSS runs `swelake ingest rollouts` on a large JSONL file
// (SWELAKE_BENCH_RSS_MB, default 2048) in a child process and reports its
// peak RSS: memory must be bounded by batches, not by the file.
func BenchmarkIngestPeakRSS(b *testing.B) {
	mb := int64(2048)
	fmt.Sscan(os.Getenv("SWELAKE_BENCH_RSS_MB"), &mb)
	dir := b.TempDir()
	bin := filepath.Join(dir, "swelake")
	build := exec.Command("go", "build", "-o", bin, "github.com/swelake/swelake/cmd/swelake")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	in := filepath.Join(dir, "big.jsonl")
	size := writeTrajectories(b, in, mb<<20, 3, wordsCorpus)
	lakeDir := filepath.Join(dir, "lake")
	if out, err := exec.Command(bin, "lake", "init", "--lake", lakeDir).CombinedOutput(); err != nil {
		b.Fatalf("init: %v\n%s", err, out)
	}
	b.ResetTimer()
	var peak int64
	var elapsed time.Duration
	for i := range b.N {
		cmd := exec.Command(bin, "ingest", "rollouts", "--lake", lakeDir, "--format", "openai-chat", "--run-id", fmt.Sprint("rss-", i), "--log-level", "warn", in)
		cmd.Env = append(os.Environ(), os.Getenv("SWELAKE_BENCH_CHILD_ENV"))
		t0 := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("ingest: %v\n%s", err, out)
		}
		elapsed += time.Since(t0)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			peak = max(peak, ru.Maxrss*1024)
		}
	}
	b.ReportMetric(float64(size)/1e6, "input_MB")
	b.ReportMetric(float64(peak)/1e6, "peak_RSS_MB")
	b.ReportMetric(float64(peak)/float64(size), "RSS/input")
	b.ReportMetric(float64(size)*float64(b.N)/1e6/elapsed.Seconds(), "MB/s")
}
