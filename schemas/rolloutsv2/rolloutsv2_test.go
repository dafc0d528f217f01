package rolloutsv2

import (
	"fmt"
	"os"
	"testing"
)

// TestSchemaIsV2: the type's Parquet schema is, byte for byte, the golden
// schema v2 recorded (schemas/testdata/rollouts.schema at 4434e1b): its
// fingerprint is the one every v2 lake's log holds.
func TestSchemaIsV2(t *testing.T) {
	want, err := os.ReadFile("testdata/rollouts-v2.schema")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("# table %s, schema version %d\n%s\n", Def.Name, Def.Version, Def.ParquetSchema()); got != string(want) {
		t.Fatalf("rollouts v2 schema drifted:\n--- got\n%s--- want\n%s", got, want)
	}
}
