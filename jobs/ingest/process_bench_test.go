package ingest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// BenchmarkIngestProcesses is ingest as a user meets it: whole processes
// side by side on the same JSONL file — `swelake ingest rollouts` (lake
// init excluded) against node running DuckDB's npm package
// (COPY (SELECT * FROM read_json(…)) TO … (FORMAT parquet, COMPRESSION
// zstd)) and Polars' (scanJson(…).collectSync().writeParquet(…, zstd)),
// both pinned in deps/npm — interleaved, four rounds, medians. Corpora:
// words, real text, and OpenAI-shaped native tool calls (several calls per
// turn with JSON arguments holding file edits, tool turns answering them).
// Ratios above 1 mean swelake is faster. SWELAKE_BENCH_MB sets the size
// (default 256).
func BenchmarkIngestProcesses(b *testing.B) {
	node, err := exec.LookPath("node")
	if err != nil {
		b.Fatal("node is not installed (apt-get install nodejs; make deps installs the DuckDB and Polars npm packages)")
	}
	npm, _ := filepath.Abs("../../deps/npm")
	for _, m := range []string{"@duckdb/node-api", "nodejs-polars"} {
		if _, err := os.Stat(filepath.Join(npm, "node_modules", m)); err != nil {
			b.Fatalf("%s is missing: run make deps", m)
		}
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "swelake")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/swelake").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	for _, c := range []corpus{wordsCorpus, realCorpus, toolsCorpus} {
		b.Run(string(c), func(b *testing.B) {
			in := filepath.Join(dir, string(c)+".jsonl")
			var size int64
			if c == toolsCorpus {
				size = writeToolCalls(b, in, benchSize(), 5)
			} else {
				size = writeTrajectories(b, in, benchSize(), 1, c)
			}
			tools := map[string]func(round int) *exec.Cmd{
				"swelake": func(round int) *exec.Cmd {
					lk := filepath.Join(dir, fmt.Sprintf("lake-%s-%d", c, round))
					if out, err := exec.Command(bin, "lake", "init", "--lake", lk).CombinedOutput(); err != nil {
						b.Fatalf("lake init: %v\n%s", err, out)
					}
					return exec.Command(bin, "ingest", "rollouts", "--format", "openai-chat", "--lake", lk, "--log-level", "warn", in)
				},
				"duckdb": func(round int) *exec.Cmd {
					return exec.Command(node, filepath.Join(npm, "bench", "duckdb.mjs"), in, filepath.Join(dir, fmt.Sprintf("duck-%d.parquet", round)))
				},
				"polars": func(round int) *exec.Cmd {
					return exec.Command(node, filepath.Join(npm, "bench", "polars.mjs"), in, filepath.Join(dir, fmt.Sprintf("polars-%d.parquet", round)))
				},
			}
			walls := map[string][]time.Duration{}
			rss := map[string]int64{}
			for round := range 4 {
				for _, name := range []string{"swelake", "duckdb", "polars"} {
					cmd := tools[name](round)
					cmd.Dir = npm
					t0 := time.Now()
					if out, err := cmd.CombinedOutput(); err != nil {
						b.Fatalf("%s: %v\n%s", name, err, out)
					}
					walls[name] = append(walls[name], time.Since(t0))
					if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
						rss[name] = max(rss[name], ru.Maxrss<<10)
					}
				}
			}
			med := func(name string) float64 {
				d := slices.Clone(walls[name])
				slices.Sort(d)
				return (d[1] + d[2]).Seconds() / 2
			}
			mb := float64(size) / 1e6
			for _, name := range []string{"swelake", "duckdb", "polars"} {
				b.ReportMetric(mb/med(name), name+"_MB/s")
				b.ReportMetric(float64(rss[name])/1e6, name+"_peak_MB")
			}
			b.ReportMetric(med("duckdb")/med("swelake"), "duckdb/swelake")
			b.ReportMetric(med("polars")/med("swelake"), "polars/swelake")
		})
	}
}

const toolsCorpus corpus = "tools"

// writeToolCalls writes OpenAI-chat trajectories of native tool calls:
// each assistant turn makes one to three calls (bash commands,
// str_replace_editor views and edits whose JSON arguments carry file text),
// each answered by a tool turn.
func writeToolCalls(tb testing.TB, path string, size int64, seed uint64) int64 {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 13))
	text := textSource(tb, realCorpus, r)
	return writeRows(tb, path, size, func(int) []map[string]any {
		msgs := []map[string]any{{"role": "system", "content": text(400)}, {"role": "user", "content": text(1500)}}
		for turn := 0; turn < 30; turn++ {
			var calls []any
			var answers []map[string]any
			for k := range 1 + r.IntN(3) {
				id := fmt.Sprintf("call_%d_%d", turn, k)
				var name string
				var args map[string]any
				switch r.IntN(3) {
				case 0:
					name, args = "execute_bash", map[string]any{"command": "cd /testbed && python -m pytest -x " + text(40)}
				case 1:
					name, args = "str_replace_editor", map[string]any{"command": "view", "path": fmt.Sprintf("/testbed/src/mod_%d.py", r.IntN(50))}
				default:
					name, args = "str_replace_editor", map[string]any{"command": "str_replace", "path": fmt.Sprintf("/testbed/src/mod_%d.py", r.IntN(50)),
						"old_str": text(300 + r.IntN(800)), "new_str": text(300 + r.IntN(800))}
				}
				a, _ := json.Marshal(args)
				calls = append(calls, map[string]any{"id": id, "type": "function", "function": map[string]any{"name": name, "arguments": string(a)}})
				answers = append(answers, map[string]any{"role": "tool", "tool_call_id": id, "name": name, "content": text(200 + r.IntN(2000))})
			}
			msgs = append(msgs, map[string]any{"role": "assistant", "content": text(100 + r.IntN(400)), "tool_calls": calls})
			msgs = append(msgs, answers...)
		}
		return msgs
	}, func() map[string]any { return map[string]any{"reward": float64(r.IntN(2)), "patch": text(500)} })
}
