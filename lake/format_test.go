package lake

import (
	"net/url"
	"strings"
	"testing"
)

// TestPartitionPathEscaping: partition values become key segments that
// contain no separator, no Hive or object-key metacharacter, and decode back
// to the value; safe values are kept as they are.
func TestPartitionPathEscaping(t *testing.T) {
	cases := map[string]string{
		"":                   EmptyPartitionValue,
		"run-1_a.b~c":        "run-1_a.b~c",
		"a=b":                "a%3Db",
		"x:y+z&w$v":          "x%3Ay%2Bz%26w%24v",
		"dir/with space":     "dir%2Fwith%20space",
		"caf\u00e9":          "caf%C3%A9",
		"50%":                "50%25",
		"qwen/Qwen2.5-7B@v2": "qwen%2FQwen2.5-7B@v2",
	}
	for in, want := range cases {
		got := escapePartitionValue(in)
		if got != want {
			t.Errorf("escape %q = %q, want %q", in, got, want)
		}
		if in == "" {
			continue
		}
		if strings.ContainsAny(got, "/=:+&$ ") {
			t.Errorf("escape %q = %q keeps a metacharacter", in, got)
		}
		back, err := url.PathUnescape(got)
		if err != nil || back != in {
			t.Errorf("unescape %q = %q, %v; want %q", got, back, err, in)
		}
	}
	if got := (Partition{"b": "2", "a": "x=y"}).String(); got != "a=x%3Dy/b=2" {
		t.Errorf("Partition.String = %q", got)
	}
}

func TestSnapshotInPartition(t *testing.T) {
	s := &Snapshot{Table: "rollouts", Version: 3, Files: []File{
		{Path: "a", Partition: Partition{"run_id": "r1"}}, {Path: "b", Partition: Partition{"run_id": "r2"}}, {Path: "c", Partition: Partition{"run_id": "r1"}}}}
	got := s.InPartition(Partition{"run_id": "r1"})
	if got.Version != 3 || len(got.Files) != 2 || got.Files[0].Path != "a" || got.Files[1].Path != "c" || len(s.Files) != 3 {
		t.Fatalf("InPartition: %+v (source now %d files)", got.Files, len(s.Files))
	}
	if n := len(s.InPartition(Partition{"run_id": "r9"}).Files); n != 0 {
		t.Fatalf("unknown partition: %d files", n)
	}
}
