//go:build conformance

package curate

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"

	"github.com/swelake/swelake/internal/realsamples"
	"github.com/swelake/swelake/schemas"
)

// TestConformanceBestOfNHistogram buckets the real SWE-smith Best-of-N pass
// rates (../shared/realdata/curation) as task_stats does and applies the
// mixed-results filter: the histogram is bimodal (most tasks at 0 or 1) and
// the filter keeps exactly the tasks with 0 < p < 1.
func TestConformanceBestOfNHistogram(t *testing.T) {
	f, err := os.Open(realsamples.Path(t, "curation", "bon-stats-smith-200.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hist := map[string]int{}
	kept, n := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var row struct {
			ID         string  `json:"instance_id_or_commit_hash"`
			RewardMean float64 `json:"reward_mean"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		n++
		s := schemas.TaskStat{TaskID: row.ID, PassRate: row.RewardMean, Bucket: Bucket(row.RewardMean), Mixed: row.RewardMean > 0 && row.RewardMean < 1}
		hist[s.Bucket]++
		if difficultyReason(s, true, Difficulty{}) == "" {
			kept++
		}
	}
	t.Logf("Best-of-N histogram of %d SWE-smith tasks: %v; mixed-results filter keeps %d", n, hist, kept)
	if n != 200 || hist["0"] != 39 || hist["1"] != 119 || kept != 42 {
		t.Fatalf("n %d, histogram %v, kept %d", n, hist, kept)
	}
	if mid := n - hist["0"] - hist["1"]; mid >= hist["0"]+hist["1"] {
		t.Fatalf("not bimodal: %d in the middle", mid)
	}
}
