package rlsamplesv1

import (
	"fmt"
	"os"
	"testing"
)

// TestSchemaIsV1: the type's Parquet schema is, byte for byte, the golden
// schema v1 recorded (schemas/testdata/rl_samples.schema before v2): its
// fingerprint is the one every v1 lake's log holds.
func TestSchemaIsV1(t *testing.T) {
	want, err := os.ReadFile("testdata/rl_samples-v1.schema")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("# table %s, schema version %d\n%s\n", Def.Name, Def.Version, Def.ParquetSchema()); got != string(want) {
		t.Fatalf("rl_samples v1 schema drifted:\n--- got\n%s--- want\n%s", got, want)
	}
}
