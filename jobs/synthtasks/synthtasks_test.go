package synthtasks

import (
	"context"
	"errors"
	"github.com/swelake/swelake/jobs/taskexec"
	"slices"
	"strings"
	"testing"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/internal/exectest"
	"github.com/swelake/swelake/internal/laketest"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/jobs/tables"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

func TestSynthTasks(t *testing.T) {
	exectest.Need(t)
	ctx := context.Background()
	l := laketest.New(t)
	b := exectest.Backend(t)
	store := t.TempDir()
	cfg := Config{
		Repos:         []Repo{{Path: exectest.Example(t, "pytext")}, {Path: exectest.Example(t, "gointerval")}},
		MaxCandidates: 10, MaxTasks: 3, Timeout: "5s",
	}
	env := &stage.Env{Lake: l, Services: stage.Static{Backend: b, ReposDir: store}}
	sum, err := Job.Execute(ctx, env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", sum)
	if sum.Skipped || len(sum.Repos) != 2 {
		t.Fatalf("summary: %+v", sum)
	}
	for _, rs := range sum.Repos {
		dropped := 0
		for _, n := range rs.Dropped {
			dropped += n
		}
		if rs.Kept == 0 || rs.Kept+dropped != rs.Candidates || rs.Tests < 30 {
			t.Errorf("%s: %+v", rs.Repo, rs)
		}
	}
	tt, _ := l.Table(schemas.Tasks.Name)
	snap, err := tt.Snapshot(ctx, sum.Outputs[schemas.Tasks.Name])
	if err != nil {
		t.Fatal(err)
	}
	var tasks []schemas.Task
	for task, err := range lake.ReadRows[schemas.Task](ctx, l, snap) {
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, task)
	}
	if len(tasks) != sum.Tasks {
		t.Fatalf("%d tasks in the lake, summary says %d", len(tasks), sum.Tasks)
	}
	// Every task: the base commit fails its FAIL_TO_PASS tests, and its gold
	// patch resolves it in a fresh sandbox.
	for _, task := range tasks {
		if !strings.HasPrefix(task.TaskID, "synth/") || len(task.FailToPass) == 0 || len(task.PassToPass) == 0 || task.ContentHash != schemas.TaskHash(&task) ||
			!strings.Contains(task.ProblemStatement, task.FailToPass[0]) || task.BugPatch == "" {
			t.Errorf("task %s: %+v", task.TaskID, task)
		}
		ws, err := taskexec.TaskWorkspace(store, &task)
		if err != nil {
			t.Fatal(err)
		}
		g, err := exec.GradePatch(ctx, b, exec.GradeSpec{Workspace: ws, Patch: []byte(task.GoldPatch), TestCmd: task.TestCmd,
			Framework: taskexec.Framework(task.Language), FailToPass: task.FailToPass, PassToPass: task.PassToPass})
		if err != nil || g.Status != exec.StatusResolved {
			t.Errorf("task %s: the gold patch grades %s (%s), err %v", task.TaskID, g.Status, g.Reason, err)
		}
		g, err = exec.GradePatch(ctx, b, exec.GradeSpec{Workspace: ws, Patch: []byte("diff --git a/x b/x\nnew file mode 100644\n--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+x\n"), TestCmd: task.TestCmd,
			Framework: taskexec.Framework(task.Language), FailToPass: task.FailToPass, PassToPass: task.PassToPass})
		if err != nil || g.Status != exec.StatusUnresolved {
			t.Errorf("task %s: an unrelated patch grades %s, err %v", task.TaskID, g.Status, err)
		}
	}
	// Same repositories, same config: a no-op.
	again, err := Job.Execute(ctx, env, cfg)
	if err != nil || !again.Skipped || again.Outputs[schemas.Tasks.Name] != sum.Outputs[schemas.Tasks.Name] {
		t.Fatalf("rerun: %+v, %v", again, err)
	}
	// The base commits depend only on the trees: another store, same commits.
	env.Services = stage.Static{Backend: b, ReposDir: t.TempDir()}
	cfg.MaxCandidates, cfg.MaxTasks = 4, 1
	cfg.Repos = cfg.Repos[:1]
	// It makes a task the table holds (same id, same content): not added
	// again, and no version committed.
	other, err := Job.Execute(ctx, env, cfg)
	if err != nil || other.AlreadyHeld != 1 || other.Tasks != 0 {
		t.Fatalf("a rerun making a task the table holds: %+v %v", other, err)
	}
	if s, _ := tt.Snapshot(ctx, lake.Latest); s.Version != snap.Version {
		t.Fatalf("the rerun committed tasks@%d", s.Version)
	}
	// The same id with other content is a duplicate key: the lake refuses
	// it, naming the task (the lake, not the job, keeps keys unique).
	tbl, _ := l.Table(schemas.Tasks.Name)
	held, _ := tbl.Snapshot(ctx, lake.Latest)
	var first schemas.Task
	for row := range lake.ReadRows[schemas.Task](ctx, l, held) {
		first = row
		break
	}
	first.ProblemStatement += " (edited)"
	first.ContentHash = schemas.TaskHash(&first)
	_, _, werr := tbl.AppendKeyed(ctx, func(ctx context.Context) (lake.Files, error) {
		return lake.WriteFiles(ctx, tbl, tables.Spec(schemas.Tasks), lake.Slice([]schemas.Task{first}), lake.WriteOptions{})
	}, lake.Provenance{Job: "test"})
	if !errors.Is(werr, lake.ErrDuplicateKey) || !strings.Contains(werr.Error(), `task_id "`+first.TaskID+`" is already in tasks@`) {
		t.Fatalf("the same task id with other content: %v", werr)
	}
	if other.Repos[0].Commit != sum.Repos[0].Commit {
		t.Fatalf("clean commit %s in one store, %s in another", sum.Repos[0].Commit, other.Repos[0].Commit)
	}
	snap2, _ := tt.Snapshot(ctx, lake.Latest)
	var ids []string
	for task, err := range lake.ReadRows[schemas.Task](ctx, l, snap2) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, task.TaskID+"@"+task.BaseCommit)
	}
	slices.Sort(ids)
	if len(slices.Compact(slices.Clone(ids))) != len(ids) || int64(len(ids)) != snap.Rows() {
		t.Errorf("with --on-duplicate skip the second store's task (one of the first's, same id and commit) is not added again: %v", ids)
	}
}

// TestFailuresAreReproducible: what varies between two runs of the same
// failing tests (object addresses) is blanked, so the same bug gives the
// same problem statement and content hash.
func TestFailuresAreReproducible(t *testing.T) {
	runs := []string{
		"E       assert 0 == 1000\nE        +  where 0 = <bound method Book.balance of <ledger.book.Book object at 0x7fbd7de8ec10>>('cash')\n",
		"E       assert 0 == 1000\nE        +  where 0 = <bound method Book.balance of <ledger.book.Book object at 0x7f3932f88310>>('cash')\n",
	}
	a, b := failures([]byte(runs[0]), nil, nil), failures([]byte(runs[1]), nil, nil)
	if a != b || !strings.Contains(a, "Book object at 0x…>>('cash')") || !strings.Contains(a, "assert 0 == 1000") {
		t.Fatalf("two runs state the failure as\n%s\nand\n%s", a, b)
	}
}
