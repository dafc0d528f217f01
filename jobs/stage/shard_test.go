package stage

import (
	"errors"
	"fmt"
	"testing"
)

func TestShard(t *testing.T) {
	for _, bad := range []string{"1", "2/2", "-1/3", "a/b", "0/0", "1/"} {
		if _, err := ParseShard(bad); !errors.Is(err, ErrShard) {
			t.Errorf("ParseShard(%q) = %v, want ErrShard", bad, err)
		}
	}
	whole, err := ParseShard("")
	if err != nil || !whole.Whole() || !whole.Owns("x") || whole.RunKey("k") != "k" {
		t.Fatalf("whole run: %+v %v", whole, err)
	}
	// Every task belongs to exactly one of N shards, and the shares are even.
	const n = 4
	counts := make([]int, n)
	for i := range 4000 {
		id := fmt.Sprintf("synth/repo/%d", i)
		owners := 0
		for s := range n {
			if (Shard{Index: s, Count: n}).Owns(id) {
				owners++
				counts[s]++
			}
		}
		if owners != 1 {
			t.Fatalf("task %s has %d owners", id, owners)
		}
	}
	for s, c := range counts {
		if c < 800 || c > 1200 {
			t.Errorf("shard %d owns %d of 4000 tasks", s, c)
		}
	}
	s, _ := ParseShard("2/4")
	if s.String() != "2/4" || s.RunKey("verify/v-1") != "verify/v-1/shard-2-of-4" {
		t.Errorf("shard 2/4: %q %q", s.String(), s.RunKey("verify/v-1"))
	}
}
