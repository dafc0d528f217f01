// Package synthtasks is the job behind `swelake run synth-tasks`: bugs
// injected into a repository (Self-Play SWE-RL / SWE-smith style), kept
// only when running the repository's tests shows at least one test going
// from pass to fail while everything else still builds and runs. Each kept
// bug becomes a task: its base commit is the buggy tree (a reproducible
// commit in the repository store), its gold patch the inverse diff, its
// FAIL_TO_PASS the tests the bug breaks and its PASS_TO_PASS the tests that
// still pass.
package synthtasks

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/swelake/swelake/jobs/taskexec"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/mutate"
	"github.com/swelake/swelake/exec/testlog"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// JobName is recorded in the provenance of every commit of this job.
const JobName = "synth-tasks"

// Source is the tasks' source column (their partition).
const Source = "synth"

// Repo is one repository to inject bugs into.
type Repo struct {
	Path     string `json:"path" mapstructure:"path"`         // a directory (a git repository or plain files)
	Name     string `json:"name" mapstructure:"name"`         // the tasks' repo column ("" : the directory's name)
	Language string `json:"language" mapstructure:"language"` // go or python ("" : detected)
	TestCmd  string `json:"test_cmd" mapstructure:"test_cmd"` // ("" : by language)
}

// Config is the job's typed configuration.
type Config struct {
	Repos []Repo `json:"repos" mapstructure:"repos"`
	// MaxCandidates mutations are tried per repository (default 40);
	// MaxTasks are kept at most (default 12).
	MaxCandidates int      `json:"max_candidates" mapstructure:"max_candidates"`
	MaxTasks      int      `json:"max_tasks" mapstructure:"max_tasks"`
	Kinds         []string `json:"kinds" mapstructure:"kinds"` // mutation kinds (default: all)
	Seed          uint64   `json:"seed" mapstructure:"seed"`   // orders the candidates
	// Timeout bounds one run of the test suite; a candidate that hits it is
	// dropped ("" : 10× the clean run's time, at least 20s, at most 5m).
	Timeout string `json:"timeout" mapstructure:"timeout"`
	// Statements: "template" (default) or "policy" (the policy endpoint
	// writes them; the caller sets Writer).
	// The writer (the policy model's name) is part of the run's identity.
	Statements string `json:"statements" mapstructure:"statements"`
	// RepoPaths, when set (--repo), replaces Repos with these directories.
	RepoPaths []string `json:"repo_paths,omitempty" mapstructure:"repo_paths"`
}

// StatementWriter writes a problem statement for a synthesised bug.
type StatementWriter interface {
	// Name identifies the writer in the run key (e.g. the model).
	Name() string
	WriteStatement(ctx context.Context, b BugReport) (string, error)
}

// BugReport is what a statement is written from: never the mutation or
// the gold patch, only what a user would see.
type BugReport struct {
	Repo        string   `json:"repo"`
	Language    string   `json:"language"`
	FailingTest []string `json:"failing_tests"`
	Failures    string   `json:"failures"` // assertion lines from the test log
	Template    string   `json:"template"` // the template's statement
}

// RepoSummary is what the job did with one repository.
type RepoSummary struct {
	Repo       string         `json:"repo"`
	Commit     string         `json:"commit"`
	Tests      int            `json:"tests"` // passing at the clean commit
	Candidates int            `json:"candidates"`
	Kept       int            `json:"kept"`
	Dropped    map[string]int `json:"dropped"` // reason → candidates
	ByKind     map[string]int `json:"by_kind"` // kept per mutation kind
}

// Summary is what the job did.
type Summary struct {
	stage.Outcome
	Repos []RepoSummary `json:"repos"`
	Tasks int           `json:"tasks"`
	// AlreadyHeld counts tasks the tasks table holds already with the same
	// content (same id, same content hash): not added again. A task whose
	// id the table holds with other content is a duplicate key the lake
	// refuses.
	AlreadyHeld int `json:"already_held"`
}

// Drop reasons.
const (
	DropNoFailure = "no test fails"
	DropTimeout   = "tests timed out"
	DropBroken    = "tests no longer run (build or collection error)"
)

// Job is the synth-tasks stage.
var Job = &stage.Def[Config, Summary]{
	Info: stage.Info{Name: JobName,
		Short: "Inject bugs into repositories and keep those their tests catch, as tasks",
		Long: `Synthesises tasks (Self-Play SWE-RL / SWE-smith style): procedural
mutations of each repository's library code — remove a statement or a whole
block, invert a condition, swap an operator, off by one, change a return
value — for Go (go/ast) and Python. A candidate is kept only if running the
repository's tests in a sandbox shows at least one test going pass → fail
while every other test still runs (a build or collection error is not a
task); candidates that time out are dropped. The buggy tree becomes a
reproducible commit of the repository store (sandbox.repos_dir/<name>), the
gold patch is the inverse diff, FAIL_TO_PASS the broken tests and
PASS_TO_PASS the rest. Problem statements come from a template (the failing
tests and the assertion lines), or are written by the policy model with
--set synth_tasks.statements=policy (policy.base_url, policy.model).
Default repositories: the samples under examples/repos.`,
		Example: `  swelake run synth-tasks
  swelake run synth-tasks --repo ./myrepo --max-tasks 50 --json
  swelake run synth-tasks --set synth_tasks.kinds='["remove_block","invert_cond"]'`,
		Outputs: []string{schemas.Tasks.Name},
		Needs:   stage.Needs{Sandbox: true},
		Flags: []stage.Flag{
			{Name: "repo", Key: "repo_paths", Usage: "repository directory (repeatable or comma-separated; default: synth_tasks.repos)"},
			{Name: "max-tasks", Key: "max_tasks", Usage: "tasks to keep per repository"},
		},
	},
	Defaults: func() Config {
		return Config{Repos: DefaultRepos(), MaxCandidates: 40, MaxTasks: 12, Seed: 1, Statements: "template"}
	},
	Validate: func(c *Config) error { return c.validate() },
	Plan:     plan,
	Run:      run,
	Print: func(w io.Writer, sum *Summary) error {
		held := ""
		if sum.AlreadyHeld > 0 {
			held = fmt.Sprintf(" (and %d the tasks table holds already, same content: not added again)", sum.AlreadyHeld)
		}
		fmt.Fprintf(w, "synth-tasks (%s): %d tasks%s\n", stage.CommitState(sum.Outcome, schemas.Tasks.Name), sum.Tasks, held)
		for _, rs := range sum.Repos {
			fmt.Fprintf(w, "  %-12s %s  %d tests; %d candidates, %d kept (%s); dropped (%s)\n", rs.Repo, rs.Commit[:min(12, len(rs.Commit))], rs.Tests,
				rs.Candidates, rs.Kept, stage.Counts(rs.ByKind), stage.Counts(rs.Dropped))
		}
		return nil
	},
}

// DefaultRepos are the sample repositories under examples/repos: the
// embedded default (run from the repository root).
func DefaultRepos() []Repo {
	return []Repo{{Path: "examples/repos/pytext"}, {Path: "examples/repos/pyledger"}, {Path: "examples/repos/gointerval"}}
}

func (c *Config) validate() error {
	if len(c.RepoPaths) > 0 { // --repo replaces the configured list
		c.Repos = nil
		for _, p := range c.RepoPaths {
			c.Repos = append(c.Repos, Repo{Path: p})
		}
		c.RepoPaths = nil
	}
	if len(c.Repos) == 0 {
		return errors.New("no repositories (config synth_tasks.repos)")
	}
	c.MaxCandidates, c.MaxTasks, c.Seed = cmp.Or(c.MaxCandidates, 40), cmp.Or(c.MaxTasks, 12), cmp.Or(c.Seed, 1)
	if c.Timeout != "" {
		if _, err := time.ParseDuration(c.Timeout); err != nil {
			return fmt.Errorf("timeout %q: %w", c.Timeout, err)
		}
	}
	if c.Statements != "" && c.Statements != "template" && c.Statements != "policy" {
		return fmt.Errorf("statements %q: template or policy", c.Statements)
	}
	if len(c.Kinds) == 0 {
		c.Kinds = mutate.Kinds()
	}
	for _, k := range c.Kinds {
		if !slices.Contains(mutate.Kinds(), k) {
			return fmt.Errorf("kind %q: one of %s", k, strings.Join(mutate.Kinds(), ", "))
		}
	}
	for i := range c.Repos {
		r := &c.Repos[i]
		if r.Path == "" {
			return fmt.Errorf("repos[%d]: no path", i)
		}
		r.Name = cmp.Or(r.Name, filepath.Base(filepath.Clean(r.Path)))
		if r.Language == "" {
			r.Language = detectLanguage(r.Path)
		}
		if r.Language == "" {
			return fmt.Errorf("repository %s: no go.mod and no Python files; set language", r.Path)
		}
		r.TestCmd = cmp.Or(r.TestCmd, DefaultTestCmd(r.Language))
	}
	return nil
}

// job is a run's config with the services it uses.
type job struct {
	Config
	sandbox stage.Sandbox
	writer  StatementWriter // nil: the template
	log     *slog.Logger
	commits []string // the clean commit of each repository
}

// plan imports each repository's tree into the store as a reproducible
// commit: the commits, not the paths' contents at some moment, are the
// run's inputs.
func plan(ctx context.Context, env *stage.Env, cfg *Config) (stage.Plan, error) {
	j := &job{Config: *cfg, log: env.Logger}
	var err error
	if j.sandbox, err = stage.OpenSandbox(ctx, env); err != nil {
		return stage.Plan{}, fmt.Errorf("synth-tasks: %w", err)
	}
	p := stage.Plan{IDPrefix: "synth", State: j}
	for _, r := range cfg.Repos {
		c, err := exec.ImportTree(ctx, r.Path, filepath.Join(j.sandbox.ReposDir, r.Name), "main")
		if err != nil {
			return p, fmt.Errorf("synth-tasks: %w", err)
		}
		j.commits = append(j.commits, c)
		p.Identity = append(p.Identity, "repo:"+r.Name+"@"+c)
	}
	if cfg.Statements == "policy" {
		ep, err := env.Endpoint("policy")
		if err != nil {
			return p, fmt.Errorf("synth-tasks: statements: policy: %w", err)
		}
		j.writer = PolicyWriter{Client: ep.Client, Model: ep.Model}
		p.Identity = append(p.Identity, "writer:"+j.writer.Name())
	}
	return p, nil
}

func run(ctx context.Context, r *stage.Run[Config]) (Summary, error) {
	j := r.Plan.State.(*job)
	var sum Summary
	var tasks []schemas.Task
	for i, repo := range j.Repos {
		rs, ts, err := synthRepo(ctx, j, repo, j.commits[i])
		if err != nil {
			return sum, err
		}
		sum.Repos = append(sum.Repos, rs)
		tasks = append(tasks, ts...)
	}
	if tasks, err := notHeld(ctx, r.Env.Lake, tasks, &sum); err != nil {
		return sum, err
	} else {
		sum.Tasks = len(tasks)
		r.Prov.Sandbox = exec.Isolation(j.sandbox.Backend)
		stage.Emit(r, schemas.Tasks, tasks)
	}
	return sum, nil
}

// taskHash is the two columns notHeld reads of a tasks file (only those
// column chunks are read, not the tasks' text).
type taskHash struct {
	TaskID      string `parquet:"task_id"`
	ContentHash string `parquet:"content_hash"`
}

// notHeld drops the tasks the tasks table holds already with the same
// content: synthesising from the same repositories again (another config,
// after make demo) makes the same tasks, which are there.
func notHeld(ctx context.Context, l *lake.Lake, tasks []schemas.Task, sum *Summary) ([]schemas.Task, error) {
	mine := map[string]string{}
	for _, t := range tasks {
		mine[t.TaskID] = t.ContentHash
	}
	t, err := l.Table(schemas.Tasks.Name)
	if err != nil {
		return nil, err
	}
	snap, err := t.Snapshot(ctx, lake.Latest)
	if err != nil {
		return nil, fmt.Errorf("synth-tasks: %w", err)
	}
	same := map[string]bool{}
	for _, f := range snap.Files {
		if f.Partition["source"] != "" && f.Partition["source"] != Source {
			continue // another source's partition holds no synth task
		}
		for row, err := range lake.ReadFileRows[taskHash](ctx, l, snap, f) {
			if err != nil {
				return nil, fmt.Errorf("synth-tasks: %w", err)
			}
			if h, ok := mine[row.TaskID]; ok && h == row.ContentHash {
				same[row.TaskID] = true
			}
		}
	}
	out := tasks[:0:0]
	for _, t := range tasks {
		if same[t.TaskID] {
			sum.AlreadyHeld++
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

// DefaultTestCmd is the test command of a language's repositories.
func DefaultTestCmd(language string) string {
	if language == "go" {
		return "go test -json ./..."
	}
	return "python3 -m pytest -rA -p no:cacheprovider"
}

func detectLanguage(dir string) string {
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
		return "go"
	}
	found := ""
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".py") {
			found = "python"
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

// synthRepo tries candidates on one repository in one sandbox, restoring
// the clean tree between candidates.
func synthRepo(ctx context.Context, cfg *job, r Repo, commit string) (RepoSummary, []schemas.Task, error) {
	rs := RepoSummary{Repo: r.Name, Commit: commit, Dropped: map[string]int{}, ByKind: map[string]int{}}
	store := filepath.Join(cfg.sandbox.ReposDir, r.Name)
	ws := exec.Workspace{Source: store, Commit: commit}
	if err := taskexec.WarmGoCache(ctx, cfg.sandbox.Backend, r.Language, ws); err != nil {
		cfg.log.Warn("synth-tasks: Go build cache not warmed", "repo", r.Name, "err", err)
	}
	sb, err := cfg.sandbox.Backend.Open(ctx, ws)
	if err != nil {
		return rs, nil, fmt.Errorf("synth-tasks %s: %w", r.Name, err)
	}
	defer sb.Close(context.WithoutCancel(ctx))
	framework := taskexec.Framework(r.Language)
	res, baseline, err := exec.RunTests(ctx, sb, r.TestCmd, framework, nil, exec.Limits{Timeout: 5 * time.Minute})
	if err != nil {
		return rs, nil, fmt.Errorf("synth-tasks %s: baseline tests: %w", r.Name, err)
	}
	var passing []string
	for name, st := range baseline {
		if st.Pass() {
			passing = append(passing, name)
		}
	}
	slices.Sort(passing)
	rs.Tests = len(passing)
	if len(passing) == 0 {
		return rs, nil, fmt.Errorf("synth-tasks %s: no test passes at %s (exit %d, timed out %v): %s", r.Name, commit[:12], res.ExitCode, res.TimedOut, tail(res.Output, 400))
	}
	lim := exec.Limits{Timeout: min(max(10*res.Duration, 20*time.Second), 5*time.Minute)}
	if cfg.Timeout != "" {
		lim.Timeout, _ = time.ParseDuration(cfg.Timeout)
	}
	cands, sources, err := candidates(ctx, cfg, sb, store, commit, r)
	if err != nil {
		return rs, nil, err
	}
	var tasks []schemas.Task
	for _, m := range cands {
		if rs.Candidates >= cfg.MaxCandidates || len(tasks) >= cfg.MaxTasks {
			break
		}
		rs.Candidates++
		t, reason, err := try(ctx, cfg, sb, r, commit, m, sources[m.File], passing, framework, lim)
		if err != nil {
			return rs, nil, fmt.Errorf("synth-tasks %s: candidate %s (%s:%d %s): %w", r.Name, m.ID(), m.File, m.Line, m.Kind, err)
		}
		if reason != "" {
			rs.Dropped[reason]++
			cfg.log.Debug("synth-tasks: dropped", "repo", r.Name, "mutation", m.Desc, "reason", reason)
			continue
		}
		rs.Kept++
		rs.ByKind[m.Kind]++
		tasks = append(tasks, t)
		cfg.log.Info("synth-tasks: kept", "task", t.TaskID, "kind", m.Kind, "fail_to_pass", len(t.FailToPass))
	}
	return rs, tasks, nil
}

// candidates lists the repository's mutations in a seeded order that
// interleaves the kinds, so that a few candidates already cover them all.
func candidates(ctx context.Context, cfg *job, sb exec.Sandbox, store, commit string, r Repo) ([]mutate.Mutation, map[string][]byte, error) {
	files, err := exec.ListFiles(ctx, store, commit)
	if err != nil {
		return nil, nil, fmt.Errorf("synth-tasks %s: %w", r.Name, err)
	}
	byKind := map[string][]mutate.Mutation{}
	sources := map[string][]byte{}
	for _, f := range files {
		if !mutate.IsSource(f) || mutate.Language(f) != r.Language {
			continue
		}
		src, err := sb.ReadFile(ctx, f)
		if err != nil {
			return nil, nil, fmt.Errorf("synth-tasks %s: read %s: %w", r.Name, f, err)
		}
		ms, err := mutate.Find(f, src)
		if err != nil {
			cfg.log.Warn("synth-tasks: file skipped", "repo", r.Name, "file", f, "err", err)
			continue
		}
		sources[f] = src
		for _, m := range ms {
			if slices.Contains(cfg.Kinds, m.Kind) {
				byKind[m.Kind] = append(byKind[m.Kind], m)
			}
		}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5e1a4e))
	for _, k := range cfg.Kinds {
		ms := byKind[k]
		rng.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	}
	var out []mutate.Mutation
	for i := 0; ; i++ {
		added := false
		for _, k := range cfg.Kinds {
			if i < len(byKind[k]) {
				out = append(out, byKind[k][i])
				added = true
			}
		}
		if !added {
			return out, sources, nil
		}
	}
}

// try applies one mutation, runs the tests and restores the clean tree.
// reason is why the candidate is not a task ("" : it is).
func try(ctx context.Context, cfg *job, sb exec.Sandbox, r Repo, commit string, m mutate.Mutation, src []byte,
	passing []string, framework string, lim exec.Limits) (t schemas.Task, reason string, err error) {
	mutated, err := m.Apply(src)
	if err != nil {
		return t, "", err
	}
	if err := sb.WriteFile(ctx, m.File, mutated); err != nil {
		return t, "", err
	}
	defer func() {
		if rerr := restore(ctx, sb); rerr != nil && err == nil {
			err = rerr
		}
	}()
	res, results, err := exec.RunTests(ctx, sb, r.TestCmd, framework, nil, lim)
	if err != nil {
		return t, "", err
	}
	if res.TimedOut {
		return t, DropTimeout, nil
	}
	var f2p, p2p []string
	for _, name := range passing {
		st, ran := results[name]
		switch {
		case !ran:
			return t, DropBroken, nil
		case st.Pass():
			p2p = append(p2p, name)
		default:
			f2p = append(f2p, name)
		}
	}
	if len(f2p) == 0 {
		return t, DropNoFailure, nil
	}
	bug, err := gitOut(ctx, sb, "diff", "--binary")
	if err != nil {
		return t, "", err
	}
	gold, err := gitOut(ctx, sb, "diff", "--binary", "-R", "--src-prefix=a/", "--dst-prefix=b/")
	if err != nil {
		return t, "", err
	}
	id := m.ID()
	store := filepath.Join(cfg.sandbox.ReposDir, r.Name)
	base, err := exec.CommitPatch(ctx, store, commit, bug, "swelake/bug/"+id, fmt.Sprintf("synth-tasks: %s in %s (%s:%d)", m.Kind, cmp.Or(m.Func, "?"), m.File, m.Line))
	if err != nil {
		return t, "", err
	}
	t = schemas.Task{
		TaskID: Source + "/" + r.Name + "/" + id, Source: Source, InstanceID: r.Name + "." + m.Kind + "." + id,
		Repo: r.Name, BaseCommit: base, GoldPatch: string(gold), BugPatch: string(bug),
		FailToPass: f2p, PassToPass: p2p, Language: r.Language, TestCmd: r.TestCmd, Version: commit[:12],
	}
	report := BugReport{Repo: r.Name, Language: r.Language, FailingTest: f2p, Failures: failures(res.Output, results, f2p)}
	report.Template = templateStatement(report)
	t.ProblemStatement = report.Template
	if cfg.writer != nil {
		s, err := cfg.writer.WriteStatement(ctx, report)
		if err != nil {
			return t, "", fmt.Errorf("write the problem statement: %w", err)
		}
		t.ProblemStatement = s
	}
	t.Raw = fmt.Appendf(nil, `{"mutation":{"file":%q,"kind":%q,"line":%d,"func":%q,"desc":%q},"clean_commit":%q}`,
		m.File, m.Kind, m.Line, m.Func, m.Desc, commit)
	t.ContentHash = schemas.TaskHash(&t)
	return t, "", nil
}

func restore(ctx context.Context, sb exec.Sandbox) error {
	res, err := sb.Run(ctx, exec.Spec{Argv: []string{"sh", "-c", "git checkout --quiet -- . && git clean -fdxq"}, Limits: exec.Limits{Timeout: time.Minute}})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("restore the clean tree: exit %d: %s", res.ExitCode, tail(res.Output, 300))
	}
	return nil
}

func gitOut(ctx context.Context, sb exec.Sandbox, args ...string) ([]byte, error) {
	var out bytes.Buffer
	res, err := sb.Run(ctx, exec.Spec{Argv: append([]string{"git"}, args...), Stdout: &out, Limits: exec.Limits{Timeout: time.Minute, Output: 1}})
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("git %s: exit %d: %s", strings.Join(args, " "), res.ExitCode, tail(res.Output, 300))
	}
	return out.Bytes(), nil
}

var failureLine = regexp.MustCompile(`(?m)^(E +.+|\s*\S+_test\.go:\d+: .+)$`)

// failures picks what a user would paste into an issue: assertion lines.
// runVarying are the parts of a test log that change from run to run —
// Python's object addresses (<Book object at 0x7fbd7de8ec10>), Go's
// pointers and goroutine ids — blanked so that the same bug states the
// same problem every time (a task's content, and so its hash, is
// reproducible).
var runVarying = regexp.MustCompile(`0x[0-9a-fA-F]{6,16}\b|\bgoroutine \d+\b`)

func failures(log []byte, results testlog.Results, f2p []string) string {
	var lines []string
	for _, m := range failureLine.FindAll(log, -1) {
		line := runVarying.ReplaceAllStringFunc(strings.TrimSpace(string(m)), func(s string) string {
			if strings.HasPrefix(s, "goroutine") {
				return "goroutine N"
			}
			return "0x…"
		})
		if !slices.Contains(lines, line) {
			lines = append(lines, line)
		}
		if len(lines) == 8 {
			break
		}
	}
	if len(lines) == 0 {
		for _, t := range f2p {
			lines = append(lines, fmt.Sprintf("%s: %s", t, results[t]))
		}
	}
	return strings.Join(lines, "\n")
}

func templateStatement(b BugReport) string {
	var s strings.Builder
	fmt.Fprintf(&s, "Some behaviour of %s regressed: ", b.Repo)
	if len(b.FailingTest) == 1 {
		s.WriteString("a test that used to pass now fails.\n\n")
	} else {
		fmt.Fprintf(&s, "%d tests that used to pass now fail.\n\n", len(b.FailingTest))
	}
	s.WriteString("Failing tests:\n")
	for i, t := range b.FailingTest {
		if i == 10 {
			fmt.Fprintf(&s, "- … and %d more\n", len(b.FailingTest)-10)
			break
		}
		fmt.Fprintf(&s, "- %s\n", t)
	}
	if b.Failures != "" {
		s.WriteString("\nWhat the test run reports:\n```\n" + b.Failures + "\n```\n")
	}
	s.WriteString("\nFix the library code (not the tests) so that these tests pass again without breaking the others.\n")
	return s.String()
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
