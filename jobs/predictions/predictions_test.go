package predictions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/jobs/verify"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// harnessLoader is the SWE-bench harness's reading of a predictions file,
// ported from SWE-bench/SWE-bench@7a21e05: swebench/harness/utils.py
// get_predictions_from_file (the .json / .jsonl branches and the
// validation) and run_evaluation.py main (predictions keyed by instance_id,
// empty patches set apart, log directories from model_name_or_path with /
// as __). It prints what the harness would evaluate as JSON.
const harnessLoader = `
import json, sys
predictions_path = sys.argv[1]
if predictions_path.endswith(".json"):
    with open(predictions_path, "r") as f:
        predictions = json.load(f)
        if isinstance(predictions, dict):
            predictions = list(predictions.values())
        if not isinstance(predictions, list):
            raise ValueError("Predictions must be a list[prediction] or a dictionary[instance_id: prediction]")
elif predictions_path.endswith(".jsonl"):
    with open(predictions_path, "r") as f:
        predictions = [json.loads(line) for line in f]
else:
    raise ValueError("Predictions path must be .json or .jsonl")
for pred in predictions:
    if not isinstance(pred, dict):
        raise ValueError(f"Each prediction must be a dictionary, got {type(pred)}")
    if "instance_id" not in pred:
        raise ValueError("Each prediction must contain 'instance_id'")
n = len(predictions)
predictions = {pred["instance_id"]: pred for pred in predictions}
empty = sorted(k for k, v in predictions.items() if v["model_patch"] == "" or v["model_patch"] is None)
print(json.dumps({"read": n, "keyed": {k: v["model_patch"] for k, v in predictions.items()}, "empty": empty,
    "log_dirs": sorted({"logs/run_evaluation/RUN/" + v.get("model_name_or_path", "None").replace("/", "__") for v in predictions.values()})}))
`

type harnessView struct {
	Read    int               `json:"read"`
	Keyed   map[string]string `json:"keyed"`
	Empty   []string          `json:"empty"`
	LogDirs []string          `json:"log_dirs"`
}

func harnessRead(t *testing.T, path string) harnessView {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("Debian's python3 (%s) runs the harness's loader: apt-get install python3", py)
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command(py, "-c", harnessLoader, path)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the harness's loader refused %s: %v\n%s", path, err, stderr.String())
	}
	var v harnessView
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func fixture(t *testing.T) *lake.Lake {
	t.Helper()
	l := laketest.New(t)
	laketest.Append(t, l, schemas.Tasks, []schemas.Task{
		{TaskID: "swe-bench/astropy__astropy-12907", Source: "swe-bench", InstanceID: "astropy__astropy-12907"},
		{TaskID: "swe-bench/django__django-11099", Source: "swe-bench", InstanceID: "django__django-11099"},
	})
	var rows []schemas.Rollout
	for i, task := range []string{"swe-bench/astropy__astropy-12907", "swe-bench/django__django-11099"} {
		for s := range 3 {
			patch := "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+" + strings.Repeat("b", i+s+1) + " \"ü\" <&>\n"
			if i == 1 && s == 2 {
				patch = ""
			}
			rows = append(rows, schemas.Rollout{RolloutID: task + "#" + string(rune('0'+s)), TaskID: task, RunID: "run-1",
				Policy: "org/agent-7b", SampleIdx: int32(s), Patch: patch, Messages: []schemas.Message{{Role: "user", Content: "fix"}}})
		}
	}
	rows = append(rows, schemas.Rollout{RolloutID: "other", TaskID: "swe-bench/django__django-11099", RunID: "run-2", Policy: "base", Patch: "p\n",
		Messages: []schemas.Message{{Role: "user", Content: "fix"}}})
	laketest.Append(t, l, schemas.Rollouts, rows)
	return l
}

func TestPredictionsTheHarnessReads(t *testing.T) {
	ctx := context.Background()
	l := fixture(t)
	dir := t.TempDir()
	for _, ext := range []string{".jsonl", ".json"} {
		path := filepath.Join(dir, "preds"+ext)
		res, err := Write(ctx, l, Options{RunID: "run-1", Sample: 1}, path)
		if err != nil {
			t.Fatal(err)
		}
		if res.Predictions != 2 || res.Model != "org/agent-7b" || res.LogDir != "logs/run_evaluation/<run_id>/org__agent-7b" {
			t.Fatalf("%s: %+v", ext, res)
		}
		h := harnessRead(t, path)
		if h.Read != 2 || len(h.Keyed) != 2 || len(h.Empty) != 0 || h.LogDirs[0] != "logs/run_evaluation/RUN/org__agent-7b" {
			t.Fatalf("%s: the harness read %+v", ext, h)
		}
		if !strings.HasSuffix(h.Keyed["astropy__astropy-12907"], "+bb \"ü\" <&>\n") || !strings.HasSuffix(h.Keyed["django__django-11099"], "+bbb \"ü\" <&>\n") {
			t.Fatalf("%s: patches not byte for byte: %q", ext, h.Keyed)
		}
	}
	// Sample 2 has one empty patch: written, and the harness sets it apart.
	path := filepath.Join(dir, "s2.jsonl")
	res, err := Write(ctx, l, Options{RunID: "run-1", Sample: 2}, path)
	if err != nil || res.EmptyPatch != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if h := harnessRead(t, path); len(h.Empty) != 1 || h.Empty[0] != "django__django-11099" {
		t.Fatalf("empty: %+v", h)
	}
}

// TestPredictionsRefuse: what the harness would silently collapse or
// misname is refused, as a usage error, with nothing written.
func TestPredictionsRefuse(t *testing.T) {
	ctx := context.Background()
	l := fixture(t)
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		o    Options
		file string
		want string
	}{
		{"several samples", Options{RunID: "run-1", Sample: -1}, "a.jsonl", "2 instances have several rollouts (astropy__astropy-12907: 3, samples 0 and 1)"},
		{"several policies", Options{Sample: 0}, "a.jsonl", "rollouts of 2 policies (base, org/agent-7b)"},
		{"extension", Options{Sample: 0, RunID: "run-1"}, "a.txt", "the harness reads .json or .jsonl"},
		{"upper-case extension", Options{Sample: 0, RunID: "run-1"}, "a.JSONL", "the harness reads .json or .jsonl"},
		{"sample and verify", Options{Sample: 0, Verify: "latest"}, "a.jsonl", "--sample and --verify"},
	} {
		path := filepath.Join(dir, c.file)
		_, err := Write(ctx, l, c.o, path)
		if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: %v", c.name, err)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("%s: %s written", c.name, path)
		}
	}
	if _, err := Write(ctx, l, Options{Sample: -1, Verify: "latest"}, filepath.Join(dir, "v.jsonl")); err == nil || !strings.Contains(err.Error(), "run swelake run verify first") {
		t.Fatalf("no verify run: %v", err)
	}
}

// TestPredictionsFromVerify: --verify takes each task's selected candidate.
func TestPredictionsFromVerify(t *testing.T) {
	ctx := context.Background()
	l := fixture(t)
	laketest.Append(t, l, schemas.VerifierScores, []schemas.VerifierScore{
		{VerifyID: "ver-1", TaskID: "swe-bench/astropy__astropy-12907", RolloutID: "swe-bench/astropy__astropy-12907#2", Selected: true},
		{VerifyID: "ver-1", TaskID: "swe-bench/astropy__astropy-12907", RolloutID: "swe-bench/astropy__astropy-12907#0"},
		{VerifyID: "ver-1", TaskID: "swe-bench/django__django-11099", RolloutID: "swe-bench/django__django-11099#0", Selected: true},
	})
	tb, err := l.Table(schemas.VerifierScores.Name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := tb.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.PutRun(ctx, lake.RunRecord{Job: verify.JobName, ID: "ver-1", RunKey: "verify/ver-1", Outputs: map[string]int64{schemas.VerifierScores.Name: v}, Time: time.Unix(1, 0)}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "v.json")
	res, err := Write(ctx, l, Options{Sample: -1, Verify: "latest", Model: "agent+verifier"}, path)
	if err != nil || res.VerifyID != "ver-1" || res.Predictions != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	h := harnessRead(t, path)
	if !strings.HasSuffix(h.Keyed["astropy__astropy-12907"], "+bbb \"ü\" <&>\n") || !strings.HasSuffix(h.Keyed["django__django-11099"], "+bb \"ü\" <&>\n") {
		t.Fatalf("not the selected candidates: %q", h.Keyed)
	}
}
