package schemas

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

var update = flag.Bool("update", false, "rewrite the golden schema files")

// TestGoldenSchemas pins every table's Parquet schema: a change of columns
// shows up as a diff of testdata/<table>.schema, and must come with a bump of
// the table's Version.
func TestGoldenSchemas(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version int
		schema  *parquet.Schema
	}{
		{Tasks.Name, Tasks.Version, Tasks.ParquetSchema()},
		{Rollouts.Name, Rollouts.Version, Rollouts.ParquetSchema()},
		{Evaluations.Name, Evaluations.Version, Evaluations.ParquetSchema()},
		{TaskValidations.Name, TaskValidations.Version, TaskValidations.ParquetSchema()},
		{Quarantine.Name, Quarantine.Version, Quarantine.ParquetSchema()},
		{Curations.Name, Curations.Version, Curations.ParquetSchema()},
		{CurationDrops.Name, CurationDrops.Version, CurationDrops.ParquetSchema()},
		{TaskStats.Name, TaskStats.Version, TaskStats.ParquetSchema()},
		{SFTExamples.Name, SFTExamples.Version, SFTExamples.ParquetSchema()},
		{RLSamples.Name, RLSamples.Version, RLSamples.ParquetSchema()},
		{VerifierScores.Name, VerifierScores.Version, VerifierScores.ParquetSchema()},
		{Checkpoints.Name, Checkpoints.Version, Checkpoints.ParquetSchema()},
		{RLIterations.Name, RLIterations.Version, RLIterations.ParquetSchema()},
		{Injections.Name, Injections.Version, Injections.ParquetSchema()},
		{GeneratedTests.Name, GeneratedTests.Version, GeneratedTests.ParquetSchema()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fmt.Sprintf("# table %s, schema version %d\n%s\n", tc.name, tc.version, tc.schema)
			path := filepath.Join("testdata", tc.name+".schema")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./schemas -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("schema of %s changed; if intended, bump its Version and run go test ./schemas -update\n--- got\n%s\n--- want\n%s", tc.name, got, want)
			}
		})
	}
}

func TestMessagesAreListOfStructs(t *testing.T) {
	f, ok := Rollouts.ParquetSchema().Lookup("messages", "list", "element", "tool_calls", "list", "element", "arguments")
	if !ok {
		t.Fatal("rollouts.messages is not a LIST of structs holding a LIST of tool_call structs")
	}
	if f.Node.Type().Kind() != parquet.ByteArray {
		t.Fatalf("messages[].tool_calls[].arguments is %v", f.Node.Type())
	}
}

func TestDecodeJSONL(t *testing.T) {
	in := `{"task_id":"swe-bench/a-1","source":"swe-bench","fail_to_pass":["t1","t2"],"created_at":"2024-01-02T03:04:05Z"}

{"task_id":"swe-bench/a-2","source":"swe-bench"}
`
	var rows []Task
	var lines []int64
	err := DecodeJSONL(strings.NewReader(in), "in.jsonl", Tasks, func(line int64, r Task) error {
		rows, lines = append(rows, r), append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || fmt.Sprint(lines) != "[1 3]" || len(rows[0].FailToPass) != 2 || rows[0].CreatedAt == nil || rows[1].Repo != "" {
		t.Fatalf("rows %+v lines %v", rows, lines)
	}
}

func TestDecodeJSONLErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"task_id":"a","source":"s"}` + "\n" + `{"task_id":"b"}`, `in.jsonl:line 2: required column "source" is empty`},
		{`{"task_id":"a","source":"s","colour":1}`, `in.jsonl:line 1: json: unknown field "colour"`},
		{`{"task_id":"a","source":"s","fail_to_pass":"x"}`, `in.jsonl:line 1: json: cannot unmarshal string`},
		{`[1,2]`, `in.jsonl:line 1: not a JSON object`},
		{`{"task_id":"a","source":"s"} {}`, `in.jsonl:line 1: more than one JSON value`},
		{`{"task_id":"a",`, `in.jsonl:line 1: unexpected EOF`},
	} {
		err := DecodeJSONL(strings.NewReader(tc.in), "in.jsonl", Tasks, func(int64, Task) error { return nil })
		var re *RowError
		if !errors.As(err, &re) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("decode %q: %v, want %q...", tc.in, err, tc.want)
		}
	}
}

func TestReadParquetSubsetOfColumns(t *testing.T) {
	type partial struct {
		RolloutID string  `parquet:"rollout_id"`
		TaskID    string  `parquet:"task_id"`
		RunID     string  `parquet:"run_id"`
		Reward    float64 `parquet:"reward"`
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[partial](&buf)
	if _, err := w.Write([]partial{{"r1", "t1", "run", 1}, {"r2", "t1", "run", 0}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "p.parquet")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []Rollout
	if err := ReadParquet(path, Rollouts, func(_ int64, r Rollout) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].RolloutID != "r2" || got[0].Reward == nil || *got[0].Reward != 1 {
		t.Fatalf("rows %+v", got)
	}

	// A column the table does not have is refused.
	type alien struct {
		RolloutID string `parquet:"rollout_id"`
		Colour    string `parquet:"colour"`
	}
	buf.Reset()
	w2 := parquet.NewGenericWriter[alien](&buf)
	w2.Write([]alien{{"r", "red"}})
	w2.Close()
	os.WriteFile(path, buf.Bytes(), 0o644)
	err := ReadParquet(path, Rollouts, func(int64, Rollout) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `column "colour" is not in table rollouts`) {
		t.Fatalf("alien column: %v", err)
	}
}

func TestRequiredColumnsExist(t *testing.T) {
	for _, tc := range []struct {
		name     string
		required []string
		idx      int
	}{
		{Tasks.Name, Tasks.Required, len(Tasks.requiredIdx)},
		{Rollouts.Name, Rollouts.Required, len(Rollouts.requiredIdx)},
		{Evaluations.Name, Evaluations.Required, len(Evaluations.requiredIdx)},
		{Quarantine.Name, Quarantine.Required, len(Quarantine.requiredIdx)},
	} {
		if tc.idx != len(tc.required) || tc.idx == 0 {
			t.Errorf("%s: %d required columns resolved of %v", tc.name, tc.idx, tc.required)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("a required column the row type lacks did not panic")
		}
	}()
	newDef(Def[Task]{Name: "x", Required: []string{"nope"}})
}

func TestEveryTableHasAKey(t *testing.T) {
	for _, name := range Names() {
		if len(KeyOf(name)) == 0 {
			t.Errorf("table %s has no key columns", name)
		}
	}
}
