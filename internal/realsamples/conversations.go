package realsamples

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swelake/swelake/jobs/ingest/formats"
	"github.com/swelake/swelake/schemas"
)

// Conversations decodes every trajectory and SFT row of the real data
// (trajectories/ and sft/: nine conversations from SWE-agent,
// mini-swe-agent, R2E-Gym, SWE-smith and SWE-Master) with the importers.
func Conversations(tb testing.TB) []schemas.Rollout {
	tb.Helper()
	root := Dir(tb)
	var out []schemas.Rollout
	for _, dir := range []string{"trajectories", "sft"} {
		files, _ := filepath.Glob(filepath.Join(root, dir, "*"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				tb.Fatal(err)
			}
			records := [][]byte{data}
			if strings.HasSuffix(f, ".jsonl") {
				records = nil
				sc := bufio.NewScanner(bytes.NewReader(data))
				sc.Buffer(nil, 1<<30)
				for sc.Scan() {
					records = append(records, bytes.Clone(sc.Bytes()))
				}
			}
			format, err := formats.Detect(formats.Rollouts, formats.NewProbe(filepath.Base(f), records[0]))
			if err != nil {
				tb.Fatalf("%s: %v", f, err)
			}
			for i, rec := range records {
				rows, err := format.Decode(&formats.Record{File: f, Line: int64(i + 1), Data: rec}, formats.Options{})
				if err != nil {
					tb.Fatalf("%s:%d: %v", f, i+1, err)
				}
				out = append(out, rows.Rollouts...)
			}
		}
	}
	if len(out) < 5 {
		tb.Fatalf("only %d conversations in %s", len(out), root)
	}
	return out
}
