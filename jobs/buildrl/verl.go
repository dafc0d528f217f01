package buildrl

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/swelake/swelake/internal/parquetfile"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/jobs/tables"
	"github.com/swelake/swelake/jobs/taskexec"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// Layouts of the verl RL Parquet.
const (
	LayoutSwelake   = "swelake"
	LayoutSWEMaster = "swe-master"
)

// verlMessage is a prompt message of verl's RL Parquet (RLHFDataset
// renders the prompt column with the chat template).
type verlMessage struct {
	Role    string `parquet:"role"`
	Content string `parquet:"content"`
}

type verlReward struct {
	Style       string  `parquet:"style"`
	GroundTruth *string `parquet:"ground_truth,optional"` // JSON: FAIL_TO_PASS, PASS_TO_PASS, gold patch; null in SWE-Master's layout
}

// VerlSample is one rollout of the batch on the row's task: its shaped
// reward and advantage, for offline RL on the file alone.
type VerlSample struct {
	RolloutID    string  `parquet:"rollout_id" json:"rollout_id"`
	SampleIdx    int32   `parquet:"sample_idx" json:"sample_idx"`
	Policy       string  `parquet:"policy" json:"policy"`
	RewardRaw    float64 `parquet:"reward_raw" json:"reward_raw"`
	RewardShaped float64 `parquet:"reward_shaped" json:"reward_shaped"`
	Advantage    float64 `parquet:"advantage" json:"advantage"`
	MaskRule     string  `parquet:"mask_rule" json:"mask_rule"`
}

// VerlTask is a task in the SWE-bench dataset's column names, as SWE-Master's
// rLLM rows and swelake's ingest (--format verl) read it back; task_id is
// what swelake grade takes.
type VerlTask struct {
	InstanceID       string   `parquet:"instance_id" json:"instance_id"`
	Repo             string   `parquet:"repo" json:"repo"`
	BaseCommit       string   `parquet:"base_commit" json:"base_commit"`
	ProblemStatement string   `parquet:"problem_statement" json:"problem_statement"`
	HintsText        string   `parquet:"hints_text" json:"hints_text"`
	Patch            string   `parquet:"patch" json:"patch"` // the gold patch (SWE-smith: the bug patch, as its rows have it)
	TestPatch        string   `parquet:"test_patch" json:"test_patch"`
	FailToPass       []string `parquet:"FAIL_TO_PASS,list" json:"FAIL_TO_PASS"`
	PassToPass       []string `parquet:"PASS_TO_PASS,list" json:"PASS_TO_PASS"`
	Version          string   `parquet:"version" json:"version"`
	CreatedAt        string   `parquet:"created_at" json:"created_at"`
	DockerImage      string   `parquet:"docker_image" json:"docker_image"`
	ImageName        string   `parquet:"image_name" json:"image_name"`
	TestCmd          string   `parquet:"test_cmd" json:"test_cmd"`
	Language         string   `parquet:"language" json:"language"`
	Difficulty       string   `parquet:"difficulty" json:"difficulty"`
	TaskID           string   `parquet:"task_id" json:"task_id"`
}

// verlExtra is extra_info of swelake's layout: the task, where the row is
// (split, index), the tools the rollouts were offered, and the batch's
// samples of the task.
type verlExtra struct {
	VerlTask
	Split   string       `parquet:"split"`
	Index   int64        `parquet:"index"`
	BatchID string       `parquet:"batch_id"`
	Tools   string       `parquet:"tools"` // JSON tool schemas, or ""
	Samples []VerlSample `parquet:"samples,list"`
}

type verlRow struct {
	DataSource  string        `parquet:"data_source"`
	Prompt      []verlMessage `parquet:"prompt,list"`
	Ability     string        `parquet:"ability"`
	RewardModel verlReward    `parquet:"reward_model"`
	ExtraInfo   verlExtra     `parquet:"extra_info"`
}

// sweMasterRow is SWE-Master's rLLM RL row (RUCAIBox/SWE-Master@bc8904f
// DeepSWE_RL/rllm/rllm/data/dataset.py apply_verl_postprocessing): a
// placeholder prompt, a rule reward without ground truth, and the task row
// as extra_info, which its SWEEnv.from_dict hands to R2E-Gym's DockerRuntime
// (docker_image, instance_id, repo, ...).
type sweMasterRow struct {
	Prompt      []verlMessage `parquet:"prompt,list"`
	RewardModel verlReward    `parquet:"reward_model"`
	ExtraInfo   VerlTask      `parquet:"extra_info"`
}

// opening is how a rollout began: the messages before its first assistant
// turn, the tools it was offered, and its sample index.
type opening struct {
	prompt []verlMessage
	tools  string
	sample int32
}

func openingOf(r schemas.Rollout) opening {
	o := opening{tools: r.Tools, sample: r.SampleIdx}
	for _, m := range r.Messages {
		if m.Role == "assistant" {
			break
		}
		o.prompt = append(o.prompt, verlMessage{Role: m.Role, Content: m.Content})
	}
	return o
}

// keepForVerl keeps what the verl file needs of a run's batch (its samples
// and how their rollouts began), so that writeVerl need not read them back.
func keepForVerl(st *state, samples []schemas.RLSample, groups map[string][]schemas.Rollout) {
	if st.verlOut == "" {
		return
	}
	in := map[string]bool{}
	for _, s := range samples {
		in[s.RolloutID] = true
	}
	st.samples, st.openings = samples, map[string]opening{}
	for _, g := range groups {
		for _, r := range g {
			if in[r.RolloutID] {
				st.openings[r.RolloutID] = openingOf(r)
			}
		}
	}
}

// batchFromLake reads a batch that was complete already: its samples from
// rl_samples@version and how their rollouts began from the input snapshot.
func batchFromLake(ctx context.Context, l *lake.Lake, snap *lake.Snapshot, batchID string, version int64) ([]schemas.RLSample, map[string]opening, error) {
	t, err := l.Table(schemas.RLSamples.Name)
	if err != nil {
		return nil, nil, err
	}
	s, err := t.Snapshot(ctx, version)
	if err != nil {
		return nil, nil, err
	}
	var samples []schemas.RLSample
	openings := map[string]opening{}
	for row, err := range lake.ReadRows[schemas.RLSample](ctx, l, s) {
		if err != nil {
			return nil, nil, err
		}
		if row.BatchID == batchID {
			row.InputIDs, row.LossMask = nil, nil
			samples = append(samples, row)
			openings[row.RolloutID] = opening{}
		}
	}
	for ro, err := range lake.ReadRows[schemas.Rollout](ctx, l, snap) {
		if err != nil {
			return nil, nil, err
		}
		if _, ok := openings[ro.RolloutID]; ok {
			openings[ro.RolloutID] = openingOf(ro)
		}
	}
	return samples, openings, nil
}

// writeVerl writes the batch's tasks as a verl RL Parquet, when asked.
func writeVerl(ctx context.Context, r *stage.Run[Config], sum *Summary) error {
	st := r.Plan.State.(*state)
	sum.Version = sum.Outputs[schemas.RLSamples.Name]
	if st.verlOut == "" {
		return nil
	}
	l := r.Env.Lake
	samples, openings := st.samples, st.openings
	if openings == nil {
		var err error
		if samples, openings, err = batchFromLake(ctx, l, st.snap, sum.BatchID, sum.Version); err != nil {
			return err
		}
	}
	// Per task: its samples, and the prompt its lowest sample began with.
	byTask := map[string][]VerlSample{}
	starts := map[string]opening{}
	for _, row := range samples {
		o := openings[row.RolloutID]
		byTask[row.TaskID] = append(byTask[row.TaskID], VerlSample{RolloutID: row.RolloutID, SampleIdx: o.sample, Policy: row.Policy,
			RewardRaw: row.RewardRaw, RewardShaped: row.RewardShaped, Advantage: row.Advantage, MaskRule: row.MaskRule})
		if old, ok := starts[row.TaskID]; !ok || o.sample < old.sample {
			starts[row.TaskID] = o
		}
	}
	tasks, err := latestTasks(ctx, l, byTask)
	if err != nil {
		return err
	}
	ids := slices.Sorted(maps.Keys(byTask))
	var rows []verlRow
	var master []sweMasterRow
	for i, id := range ids {
		task, known := tasks[id]
		if !known {
			sum.VerlUnknownTasks++
			task = &schemas.Task{TaskID: id}
		}
		vt := verlTaskOf(task)
		samples := byTask[id]
		slices.SortFunc(samples, func(a, b VerlSample) int {
			return cmp.Or(cmp.Compare(a.SampleIdx, b.SampleIdx), cmp.Compare(a.RolloutID, b.RolloutID))
		})
		if st.verlLayout == LayoutSWEMaster {
			master = append(master, sweMasterRow{Prompt: []verlMessage{{Role: "user", Content: "placeholder"}},
				RewardModel: verlReward{Style: "rule"}, ExtraInfo: vt})
			continue
		}
		gt, _ := json.Marshal(map[string]any{"FAIL_TO_PASS": task.FailToPass, "PASS_TO_PASS": task.PassToPass, "gold_patch": task.GoldPatch})
		gts := string(gt)
		prompt := starts[id].prompt
		if len(prompt) == 0 {
			prompt = []verlMessage{{Role: "user", Content: task.ProblemStatement}}
		}
		rows = append(rows, verlRow{DataSource: cmp.Or(task.Source, "swelake"), Prompt: prompt, Ability: "swe",
			RewardModel: verlReward{Style: "rule", GroundTruth: &gts},
			ExtraInfo:   verlExtra{VerlTask: vt, Split: "train", Index: int64(i), BatchID: sum.BatchID, Tools: starts[id].tools, Samples: samples}})
	}
	if err := os.MkdirAll(filepath.Dir(st.verlOut), 0o755); err != nil {
		return err
	}
	if st.verlLayout == LayoutSWEMaster {
		err = parquetfile.Write(st.verlOut, master)
	} else {
		err = parquetfile.Write(st.verlOut, rows)
	}
	sum.VerlFile, sum.VerlTasks = st.verlOut, len(ids)
	if err != nil {
		return fmt.Errorf("build-rl: verl output %s: %w", st.verlOut, err)
	}
	return nil
}

// verlTaskOf is a task in SWE-bench's column names.
func verlTaskOf(t *schemas.Task) VerlTask {
	patch := t.GoldPatch
	if t.BugPatch != "" { // SWE-smith rows carry the bug; ingest inverts it back
		patch = t.BugPatch
	}
	created := ""
	if t.CreatedAt != nil {
		created = t.CreatedAt.UTC().Format(time.RFC3339Nano)
	}
	return VerlTask{InstanceID: t.InstanceID, Repo: t.Repo, BaseCommit: t.BaseCommit, ProblemStatement: t.ProblemStatement,
		HintsText: t.Hints, Patch: patch, TestPatch: t.TestPatch, FailToPass: nonNil(t.FailToPass), PassToPass: nonNil(t.PassToPass),
		Version: t.Version, CreatedAt: created, DockerImage: t.Image, ImageName: t.Image, TestCmd: t.TestCmd,
		Language: t.Language, Difficulty: t.Difficulty, TaskID: t.TaskID}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// latestTasks reads the batch's tasks from the latest tasks snapshot (none
// when the lake has no tasks table yet: the rows carry the task id only).
func latestTasks(ctx context.Context, l *lake.Lake, want map[string][]VerlSample) (map[string]*schemas.Task, error) {
	s, err := tables.Pin(ctx, l, schemas.Tasks.Name, schemas.Tasks.Name)
	if errors.Is(err, lake.ErrNoTable) {
		return map[string]*schemas.Task{}, nil
	}
	if err != nil {
		return nil, err
	}
	return taskexec.TasksByID(ctx, l, s, func(id string) bool { _, ok := want[id]; return ok })
}
