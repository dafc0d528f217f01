package report

import (
	"context"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// analysisLake holds data for every chart: two policies' rollouts (four
// samples per task), task statistics, a curation's drop counts, a verify
// run, and checkpoints trained on SFT sets of three sizes.
func analysisLake(t *testing.T) *lake.Lake {
	l := laketest.New(t)
	var rollouts []schemas.Rollout
	var stats []schemas.TaskStat
	exits := []string{"submitted", "submitted", "step_cap", "token_cap"}
	for pi, pol := range []string{"qwen-7b", "qwen-32b"} {
		for task := range 10 {
			solved := 0
			for s := range 4 {
				ok := (task+s+pi)%3 == 0 || task < 2+pi
				if ok {
					solved++
				}
				rollouts = append(rollouts, schemas.Rollout{RolloutID: fmt.Sprintf("%s/%d/%d", pol, task, s), TaskID: fmt.Sprint("t-", task),
					RunID: "run-" + pol, Policy: pol, SampleIdx: int32(s), NumTurns: int32(5 + 7*s + task), Tokens: laketest.Ptr(int64(2000 * (s + 1))),
					Resolved: laketest.Ptr(ok), ExitReason: exits[(task+s)%4]})
			}
			p := float64(solved) / 4
			stats = append(stats, schemas.TaskStat{CurationID: "cur-1", TaskID: fmt.Sprint("t-", task), Policy: pol, N: 4, NResolved: int64(solved), PassRate: p,
				Bucket: schemas.PassRateBucket(p), Mixed: p > 0 && p < 1})
		}
	}
	for i, n := range []int{3, 5} { // checkpoints' own outcomes
		for j := range 8 {
			rollouts = append(rollouts, schemas.Rollout{RolloutID: fmt.Sprintf("ck%d/%d", i, j), TaskID: fmt.Sprint("t-", j), RunID: fmt.Sprint("eval-ck", i),
				Policy: fmt.Sprint("ckpt-", i), NumTurns: 20, Resolved: laketest.Ptr(j < n), ExitReason: "submitted"})
		}
	}
	for i, n := range []int{2, 6} { // the RL loop's checkpoints 1 and 2, as iterations 2 and 3 rolled them out
		for j := range 8 {
			rollouts = append(rollouts, schemas.Rollout{RolloutID: fmt.Sprintf("rl%d/%d", i, j), TaskID: fmt.Sprint("t-", j), RunID: fmt.Sprint("rl-run-", i+2),
				Policy: fmt.Sprint("rl-ckpt-", i+1), NumTurns: 12, Resolved: laketest.Ptr(j < n), ExitReason: "submitted"})
		}
	}
	laketest.Append(t, l, schemas.Rollouts, rollouts)
	laketest.Append(t, l, schemas.TaskStats, stats)
	// Who wrote the tasks: t-0..t-2 are real, qwen-32b wrote t-3..t-5 (a
	// kept injection each), t-6..t-9 are procedural synthetic tasks.
	var tasks []schemas.Task
	var injections []schemas.Injection
	for i := range 10 {
		source := "swe-bench"
		if i >= 3 {
			source = "synth"
		}
		tasks = append(tasks, schemas.Task{TaskID: fmt.Sprint("t-", i), Source: source})
		if i >= 3 && i <= 5 {
			injections = append(injections, schemas.Injection{InjectionID: fmt.Sprint("inj-", i), Repo: "pytext", Mode: "inject", Model: "qwen-32b", Kept: true, TaskID: fmt.Sprint("t-", i)})
		}
	}
	laketest.Append(t, l, schemas.Tasks, tasks)
	laketest.Append(t, l, schemas.Injections, injections)
	var iters []schemas.RLIteration
	for i, resolved := range []int64{1, 2, 6} {
		iters = append(iters, schemas.RLIteration{LoopID: "rl-loop-1", Iteration: int64(i + 1), CheckpointIn: fmt.Sprint("rl-ckpt-", i), CheckpointOut: fmt.Sprint("rl-ckpt-", i+1),
			Rollouts: 8, Graded: 8, Resolved: resolved, ResolveRate: float64(resolved) / 8, Samples: 8, CumSamples: int64(8 * (i + 1)), RewardMean: float64(resolved) / 8 * 0.9})
	}
	laketest.Append(t, l, schemas.RLIterations, iters)
	laketest.Append(t, l, schemas.CurationDrops, []schemas.CurationDrop{
		{CurationID: "cur-1", Rule: "reward", Dropped: 40, DroppedOnly: 20, Input: 88}, {CurationID: "cur-1", Rule: "step_cap", Dropped: 22, DroppedOnly: 4, Input: 88},
		{CurationID: "cur-1", Rule: "loop", Dropped: 9, DroppedOnly: 1, Input: 88}, {CurationID: "cur-1", Rule: "git_hacking", Dropped: 3, DroppedOnly: 0, Input: 88},
	})
	var scores []schemas.VerifierScore
	for _, r := range rollouts[:40] {
		score := 0.3
		if *r.Resolved {
			score = 0.8
		}
		scores = append(scores, schemas.VerifierScore{VerifyID: "verify-1", Verifier: "model:scripted", TaskID: r.TaskID, RolloutID: r.RolloutID, RunID: r.RunID,
			SampleIdx: r.SampleIdx, Score: score - 0.01*float64(r.SampleIdx), Draw: 0.5, Resolved: r.Resolved})
	}
	laketest.Append(t, l, schemas.VerifierScores, scores)
	var ex []schemas.SFTExample
	for set, n := range map[string]int{"sft-a": 4, "sft-b": 16} {
		for i := range n {
			ex = append(ex, schemas.SFTExample{SetID: set, ExampleID: fmt.Sprintf("%s-%d", set, i), Split: "train", RolloutIDs: []string{rollouts[i].RolloutID}})
		}
	}
	laketest.Append(t, l, schemas.SFTExamples, ex)
	laketest.Append(t, l, schemas.Checkpoints, []schemas.Checkpoint{{Model: "ckpt-0", SFTSetID: "sft-a"}, {Model: "ckpt-1", SFTSetID: "sft-b"},
		{Model: "rl-ckpt-1", BaseModel: "rl-ckpt-0", LoopID: "rl-loop-1", Iteration: 1, RLSamples: 8},
		{Model: "rl-ckpt-2", BaseModel: "rl-ckpt-1", LoopID: "rl-loop-1", Iteration: 2, RLSamples: 16}})
	return l
}

// TestReportInChromium renders the report and has headless Chromium load
// it: every chart must be drawn (a non-empty SVG with marks), and each
// chart's PNG and SVG files exist.
func TestReportInChromium(t *testing.T) {
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Fatal("headless Chromium is needed to check the report: apt-get install chromium")
	}
	l := analysisLake(t)
	out := t.TempDir()
	sum, err := Job.Execute(context.Background(), &stage.Env{Lake: l}, Config{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Missing) != 0 || len(sum.Charts) != len(Charts()) {
		t.Fatalf("charts drawn %v, missing %v; want all of %v", sum.Charts, sum.Missing, Charts())
	}
	for _, c := range Charts() {
		for _, ext := range []string{".png", ".svg"} {
			st, err := os.Stat(filepath.Join(out, "charts", c+ext))
			if err != nil || st.Size() < 2000 {
				t.Errorf("chart file %s%s: %v", c, ext, err)
			}
		}
	}
	dom, err := exec.Command(browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=5000", "--dump-dom", "file://"+sum.Index).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	page := string(dom)
	want := fmt.Sprintf(`data-charts-rendered="%d/%d"`, len(Charts()), len(Charts()))
	if !strings.Contains(page, want) {
		m := regexp.MustCompile(`data-charts-rendered="[^"]*"`).FindString(page)
		t.Fatalf("chromium rendered %q, want %s", m, want)
	}
	for _, c := range Charts() {
		if !strings.Contains(page, fmt.Sprintf(`data-chart="%s" data-rendered="yes"`, c)) {
			t.Errorf("chart %s not drawn in Chromium", c)
		}
	}
	for _, text := range []string{"pass@k", "TTS@k", "Best-of-N", "Lineage", "verify-1", "sft-b"} {
		if !strings.Contains(page, text) {
			t.Errorf("the page does not show %q", text)
		}
	}
	// The screenshot is not blank.
	shot := filepath.Join(t.TempDir(), "shot.png")
	if out, err := exec.Command(browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--window-size=1280,2400", "--screenshot="+shot, "file://"+sum.Index).CombinedOutput(); err != nil {
		t.Fatalf("chromium screenshot: %v\n%s", err, out)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 50_000 {
		t.Errorf("screenshot %v: %v (a blank page is small)", st, err)
	}
}

// TestReportEmptyLake: a lake with no data yet gives a page that says what
// to run, not an error.
func TestReportEmptyLake(t *testing.T) {
	l := laketest.New(t)
	if err := tables.Init(context.Background(), l, lake.Provenance{}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	sum, err := Job.Execute(context.Background(), &stage.Env{Lake: l}, Config{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Charts) != 0 || len(sum.Missing) != len(Charts()) {
		t.Fatalf("empty lake: drawn %v, missing %v", sum.Charts, sum.Missing)
	}
	page, _ := os.ReadFile(sum.Index)
	if !strings.Contains(string(page), "No chart yet: no verifier scores yet (swelake run verify)") {
		t.Errorf("the empty page does not say what to run")
	}
}
