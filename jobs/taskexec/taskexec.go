// Package taskexec turns tasks into sandbox workspaces and gradings into
// evaluation rows: what every execution stage shares.
package taskexec

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/envimage"
	"github.com/swelake/swelake/exec/taskenv"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// TaskWorkspace is where a task's sandbox starts: its repository under
// reposDir (<reposDir>/<repo>, a git repository) at its base commit for the
// local backend, its image for the docker backend.
func TaskWorkspace(reposDir string, t *schemas.Task) (exec.Workspace, error) {
	src, err := RepoDir(reposDir, t.Repo)
	if err != nil {
		return exec.Workspace{}, fmt.Errorf("task %s: %w", t.TaskID, err)
	}
	ws := exec.Workspace{Image: t.Image, Commit: t.BaseCommit}
	if t.InstanceID != "" {
		ws.AltImages = []string{InstanceImage(t), PublicImage(t)}
	}
	if ws.Image == "" && len(ws.AltImages) > 0 {
		ws.Image, ws.AltImages = ws.AltImages[0], ws.AltImages[1:]
	}
	if _, err := os.Stat(filepath.Join(src, ".git")); err != nil {
		if ws.Image != "" {
			return ws, nil
		}
		return exec.Workspace{}, fmt.Errorf("task %s: repository %s not found at %s (config sandbox.repos_dir) and no image", t.TaskID, t.Repo, src)
	}
	ws.Source = src
	return ws, nil
}

// rowLogParser finds install_config's log_parser in a SWE-rebench row as
// published: install_config is a JSON object or a Python literal (a
// string holding a dict), so the key is matched in either quoting.
var rowLogParser = regexp.MustCompile(`["']log_parser["']\s*:\s*["'](\w+)["']`)

// RowLogParser is the parser a task's source row names (SWE-rebench-V2's
// install_config.log_parser), "" when it names none.
func RowLogParser(t *schemas.Task) string {
	if t.Source != "swe-rebench" {
		return ""
	}
	if m := rowLogParser.FindSubmatch(t.Raw); m != nil {
		return string(m[1])
	}
	return ""
}

// InstanceImage is swelake env build's (SWE-bench's) name for the task's
// instance image ("" for a task with no instance id).
func InstanceImage(t *schemas.Task) string {
	if t.InstanceID == "" {
		return ""
	}
	return envimage.InstanceRef(t.InstanceID)
}

// PublicImage is the name SWE-bench publishes the task's image under on
// Docker Hub (swebench/sweb.eval.x86_64.<owner>_1776_<repo>-<n>:latest),
// for engines that pulled it.
func PublicImage(t *schemas.Task) string {
	if t.InstanceID == "" {
		return ""
	}
	return "swebench/sweb.eval.x86_64." + strings.ToLower(strings.ReplaceAll(t.InstanceID, "__", "_1776_")) + ":latest"
}

// ErrRepoPath: a task's repo column does not name a directory inside the
// repository store (it comes from ingested, untrusted rows).
var ErrRepoPath = errors.New("repository path outside the repository store")

// RepoDir is where a repository named by a task's repo column lives under
// reposDir. The name must be a relative path of plain segments ("owner/name":
// no "..", ".", empty or absolute segments, no backslash or NUL), and the
// directory must not resolve through a symlink to a place outside reposDir.
func RepoDir(reposDir, repo string) (string, error) {
	if repo == "" || strings.ContainsAny(repo, "\\\x00") || strings.HasPrefix(repo, "/") {
		return "", fmt.Errorf("repo %q: %w", repo, ErrRepoPath)
	}
	for _, seg := range strings.Split(repo, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("repo %q: %w", repo, ErrRepoPath)
		}
	}
	dir := filepath.Join(reposDir, filepath.FromSlash(repo))
	root, err := filepath.EvalSymlinks(reposDir)
	if err != nil {
		return dir, nil // no store yet: nothing to resolve, and nothing there
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return dir, nil // missing: the caller says so
	}
	if rel, err := filepath.Rel(root, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("repo %q resolves to %s: %w", repo, real, ErrRepoPath)
	}
	return dir, nil
}

// TestEnv is how t's tests run under specs: the row's test command, else
// its repository's spec (SWE-bench's test files from the test patch), the
// log parser, the environment and setup step (exec/taskenv).
func TestEnv(specs taskenv.Specs, t *schemas.Task) taskenv.Env {
	return specs.Resolve(taskenv.Task{Repo: t.Repo, Version: t.Version, TestCmd: t.TestCmd, TestPatch: t.TestPatch, Language: t.Language,
		AppendTests: t.Source == "swe-rebench", LogParser: RowLogParser(t)})
}

// Framework is the test-log parser for a task's language ("auto" when the
// language says nothing).
func Framework(language string) string {
	switch strings.ToLower(language) {
	case "go", "golang":
		return "go"
	case "python", "py":
		return "pytest"
	}
	return "auto"
}

// goCacheWarmer is a backend that keeps a warmed Go build cache.
type goCacheWarmer interface {
	WarmGoCache(ctx context.Context, ws exec.Workspace) error
}

// WarmGoCache warms the backend's Go build cache with a workspace's
// packages when the backend keeps one and the language is Go; warming
// failures only cost speed and are logged by the caller.
func WarmGoCache(ctx context.Context, b exec.Backend, language string, ws exec.Workspace) error {
	w, ok := b.(goCacheWarmer)
	if !ok || Framework(language) != "go" {
		return nil
	}
	return w.WarmGoCache(ctx, ws)
}

// WarmGoCaches warms the backend's Go build cache once per repository of
// the tasks, before a job's sandboxes start. A failure costs speed, not
// correctness: it is logged.
func WarmGoCaches(ctx context.Context, b exec.Backend, reposDir string, tasks []*schemas.Task, log *slog.Logger) {
	seen := map[string]bool{}
	for _, t := range tasks {
		if seen[t.Repo] {
			continue
		}
		seen[t.Repo] = true
		ws, err := TaskWorkspace(reposDir, t)
		if err != nil {
			continue // the job reports the missing repository per task
		}
		if err := WarmGoCache(ctx, b, t.Language, ws); err != nil {
			log.Warn("Go build cache not warmed", "repo", t.Repo, "err", err)
		}
	}
}

// EvaluationOf is the evaluations row of a grading.
func EvaluationOf(g exec.Grading, t *schemas.Task, runID, rolloutID, candidate, patch, source string) schemas.Evaluation {
	e := schemas.Evaluation{
		EvaluationID: runID + "/" + t.TaskID + "/" + cmp.Or(rolloutID, candidate),
		TaskID:       t.TaskID, InstanceID: t.InstanceID, RunID: runID, RolloutID: rolloutID, Candidate: candidate,
		Status: g.Status, Patch: patch, Attempts: int32(g.Runs), Source: source,
		ApplyMethod: g.ApplyMethod, Flaky: g.Flaky, Reason: g.Reason,
	}
	if g.Status != exec.StatusInfraError && g.Status != exec.StatusNoResult {
		resolved := g.Status == exec.StatusResolved
		e.Resolved = &resolved
		if g.Status != exec.StatusEmptyPatch {
			applied := g.PatchApplied
			e.PatchApplied = &applied
		}
	}
	isolated := g.Isolated
	if g.Status != exec.StatusEmptyPatch {
		e.Isolated = &isolated
	}
	env, _ := json.Marshal(g.Env)
	e.Env = string(env)
	add := func(names []string, category string, pass bool) {
		for _, n := range names {
			st := "failed"
			if pass {
				st = "passed"
			}
			e.Tests = append(e.Tests, schemas.TestResult{Name: n, Category: category, Status: st})
		}
	}
	add(g.Grade.F2PPassed, "FAIL_TO_PASS", true)
	add(g.Grade.F2PFailed, "FAIL_TO_PASS", false)
	add(g.Grade.P2PPassed, "PASS_TO_PASS", true)
	add(g.Grade.P2PFailed, "PASS_TO_PASS", false)
	report, _ := json.Marshal(g)
	e.Raw = report
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s", e.EvaluationID, e.Status, e.Patch, report))
	e.ContentHash = hex.EncodeToString(sum[:])
	return e
}

// PinnedRun is a per-task job's pinned input and tasks snapshots and the
// hash of its configuration with them (the run's id is derived from it).
type PinnedRun struct {
	Input, Tasks *lake.Snapshot
	ConfigHash   string
}

// PinRun pins input (default: the first of kinds; it must be a snapshot of
// one of them) and tasks (default tasks@latest), and hashes cfg with them.
func PinRun(ctx context.Context, l *lake.Lake, input, tasks string, cfg any, kinds ...string) (PinnedRun, error) {
	var p PinnedRun
	in := cmp.Or(input, kinds[0])
	ref, err := lake.ParseRef(in)
	if err != nil {
		return p, fmt.Errorf("input %q: %w", in, err)
	}
	if !slices.Contains(kinds, ref.Table) {
		return p, fmt.Errorf("input %q: want a %s snapshot", in, strings.Join(kinds, " or "))
	}
	if p.Input, err = tables.Pin(ctx, l, in, ref.Table); err != nil {
		return p, err
	}
	if p.Tasks, err = tables.Pin(ctx, l, cmp.Or(tasks, schemas.Tasks.Name), schemas.Tasks.Name); err != nil {
		return p, err
	}
	p.ConfigHash, err = tables.ConfigHash(struct {
		Cfg    any
		Inputs []string
	}{cfg, []string{p.Input.Ref().String(), p.Tasks.Ref().String()}})
	return p, err
}

// TasksByID reads the tasks of a pinned tasks snapshot that keep accepts
// (every task when keep is nil), by task id.
func TasksByID(ctx context.Context, l *lake.Lake, s *lake.Snapshot, keep func(taskID string) bool) (map[string]*schemas.Task, error) {
	tasks := map[string]*schemas.Task{}
	for t, err := range lake.ReadRows[schemas.Task](ctx, l, s) {
		if err != nil {
			return nil, err
		}
		if keep == nil || keep(t.TaskID) {
			tasks[t.TaskID] = &t
		}
	}
	return tasks, nil
}
