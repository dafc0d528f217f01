package tokenizer_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkoukk/tiktoken-go"
	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"

	"github.com/swelake/swelake/internal/tokref"
)

// benchCorpus is code and logs: the repository's Go sources and the real
// trajectories' strings, split into chunks of about 4 KB (the size of a
// message), each text once (no repetition that would flatter the piece
// cache).
func benchCorpus(b *testing.B) []string {
	b.Helper()
	var texts []string
	files, _ := filepath.Glob(filepath.Join(tokref.Root(), "*", "*", "*.go"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err == nil {
			texts = append(texts, string(data))
		}
	}
	texts = append(texts, realdataStrings(b)...)
	var chunks []string
	for _, t := range texts {
		for len(t) > 4096 {
			cut := strings.LastIndexByte(t[:4096], '\n')
			if cut <= 0 {
				cut = 4096
			}
			chunks = append(chunks, t[:cut])
			t = t[cut:]
		}
		if t != "" {
			chunks = append(chunks, t)
		}
	}
	return chunks
}

// parallelTokens encodes every text on GOMAXPROCS goroutines and returns the
// number of tokens and the wall time.
func parallelTokens(texts []string, workers int, encode func(string) int) (int, time.Duration) {
	var wg sync.WaitGroup
	counts := make([]int, workers)
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(texts); i += workers {
				counts[w] += encode(texts[i])
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	total := 0
	for _, c := range counts {
		total += c
	}
	return total, el
}

// BenchmarkTokenizerVsTiktoken: exact Qwen2.5 ids (this package) against
// tiktoken-go's cl100k_base on the same code and log text, both on every
// core, interleaved in each iteration. Target: ≥ 0.75× tiktoken-go's
// tokens per second.
func BenchmarkTokenizerVsTiktoken(b *testing.B) {
	tok := loadQwen(b)
	tiktoken.SetBpeLoader(tiktokenloader.NewOfflineLoader())
	tk, err := tiktoken.GetEncoding("cl100k_base")
	if err != nil {
		b.Fatal(err)
	}
	texts := benchCorpus(b)
	workers := max(1, min(2, len(texts)))
	var ours, theirs time.Duration
	var oursTok, theirsTok int
	b.ResetTimer()
	for range b.N {
		n, el := parallelTokens(texts, workers, func(s string) int { return len(tok.Encode(s)) })
		oursTok, ours = oursTok+n, ours+el
		n, el = parallelTokens(texts, workers, func(s string) int { return len(tk.Encode(s, nil, nil)) })
		theirsTok, theirs = theirsTok+n, theirs+el
	}
	b.ReportMetric(float64(oursTok)/ours.Seconds()/1e6, "qwen_Mtok/s")
	b.ReportMetric(float64(theirsTok)/theirs.Seconds()/1e6, "tiktoken_Mtok/s")
	b.ReportMetric((float64(oursTok)/ours.Seconds())/(float64(theirsTok)/theirs.Seconds()), "ratio")
}
