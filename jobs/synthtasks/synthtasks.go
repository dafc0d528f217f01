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
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	"github.com/swelake/swelake/exec/agent"
	"github.com/swelake/swelake/exec/mutate"
	"github.com/swelake/swelake/exec/testlog"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
	"github.com/swelake/swelake/trainer/diff"
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
	// Statements: "template" or "policy" (the policy endpoint writes them
	// from the failing tests; the writer, the policy model's name, is part
	// of the run's identity). Default: template for the procedural method,
	// policy for the others.
	Statements string `json:"statements" mapstructure:"statements"`
	// Method: procedural (default; the mutation operators), policy (the
	// policy model writes the bugs through the agent loop in the sandbox)
	// or mixed (the two interleaved, candidate by candidate).
	Method string `json:"method" mapstructure:"method"`
	// Modes are what the policy is asked, in turn: inject, feature,
	// rewrite (default all three; docs/execution.md).
	Modes []string `json:"modes" mapstructure:"modes"`
	// SizeLines is the size of bug the inject mode asks for (default 5).
	SizeLines int `json:"size_lines" mapstructure:"size_lines"`
	// MaxSteps caps one synthesis episode's model calls (default 20).
	MaxSteps int `json:"max_steps" mapstructure:"max_steps"`
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
	ByKind     map[string]int `json:"by_kind"` // kept per mutation kind (policy:<mode> for policy-written bugs)
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
	// Policy-written candidates only.
	DropNoChange  = "the policy changed nothing"
	DropEditTests = "the policy edited tests"
	DropSameBug   = "the same bug as an earlier candidate"
)

// Methods of synthesis.
const (
	MethodProcedural = "procedural"
	MethodPolicy     = "policy"
	MethodMixed      = "mixed"
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

--method policy lets the policy write the bugs: one agent episode per
candidate in the sandbox (bash, editor, submit), asked in turn to inject a
bug of about size_lines lines (Self-Play SWE-RL), implement a feature and
keep what it breaks (BugPilot), or rewrite a function from its docstring
(SWE-smith); the same execution check keeps or drops the result, a change
to test files is refused, and the policy writes the problem statement. The
injections table records every attempt — mode, model, seed, trajectory,
verdict and the task it became. --method mixed interleaves policy and
procedural candidates.
Default repositories: the samples under examples/repos.`,
		Example: `  swelake run synth-tasks
  swelake run synth-tasks --repo ./myrepo --max-tasks 50 --json
  swelake run synth-tasks --set synth_tasks.kinds='["remove_block","invert_cond"]'
  swelake run synth-tasks --method policy --set synth_tasks.modes='["inject","feature"]' --set synth_tasks.size_lines=8`,
		Outputs: []string{schemas.Tasks.Name, schemas.Injections.Name},
		Needs:   stage.Needs{Sandbox: true, Policy: true}, // the policy: with --method policy|mixed or statements policy
		Flags: []stage.Flag{
			{Name: "repo", Key: "repo_paths", Usage: "repository directory (repeatable or comma-separated; default: synth_tasks.repos)"},
			{Name: "max-tasks", Key: "max_tasks", Usage: "tasks to keep per repository"},
			{Name: "method", Key: "method", Usage: "procedural (mutation operators), policy (the policy model writes the bugs) or mixed"},
		},
	},
	Defaults: func() Config {
		return Config{Repos: DefaultRepos(), MaxCandidates: 40, MaxTasks: 12, Seed: 1}
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
	c.Method = cmp.Or(c.Method, MethodProcedural)
	if !slices.Contains([]string{MethodProcedural, MethodPolicy, MethodMixed}, c.Method) {
		return fmt.Errorf("method %q: procedural, policy or mixed", c.Method)
	}
	if c.Statements == "" {
		c.Statements = "template"
		if c.Method != MethodProcedural {
			c.Statements = "policy"
		}
	}
	if c.Statements != "template" && c.Statements != "policy" {
		return fmt.Errorf("statements %q: template or policy", c.Statements)
	}
	if c.Method == MethodProcedural {
		c.Modes, c.SizeLines, c.MaxSteps = nil, 0, 0 // not part of a procedural run's identity
	} else {
		if len(c.Modes) == 0 {
			c.Modes = agent.SynthModes()
		}
		for _, m := range c.Modes {
			if !slices.Contains(agent.SynthModes(), m) {
				return fmt.Errorf("modes: %q: one of %s", m, strings.Join(agent.SynthModes(), ", "))
			}
		}
		c.SizeLines, c.MaxSteps = cmp.Or(c.SizeLines, 5), cmp.Or(c.MaxSteps, 20)
		if c.SizeLines < 1 || c.MaxSteps < 3 {
			return fmt.Errorf("size_lines %d, max_steps %d: want ≥ 1 and ≥ 3", c.SizeLines, c.MaxSteps)
		}
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
	policy  agent.Chatter   // the injector (policy and mixed methods)
	model   string
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
	if cfg.Statements == "policy" || cfg.Method != MethodProcedural {
		ep, err := env.Endpoint("policy")
		if err != nil {
			return p, fmt.Errorf("synth-tasks: method %s, statements %s: %w", cfg.Method, cfg.Statements, err)
		}
		if cfg.Statements == "policy" {
			j.writer = PolicyWriter{Client: ep.Client, Model: ep.Model}
			p.Identity = append(p.Identity, "writer:"+j.writer.Name())
		}
		if cfg.Method != MethodProcedural {
			j.policy, j.model = ep.Client, ep.Model
			p.Identity = append(p.Identity, "injector:"+ep.Model)
		}
	}
	return p, nil
}

func run(ctx context.Context, r *stage.Run[Config]) (Summary, error) {
	j := r.Plan.State.(*job)
	var sum Summary
	var tasks []schemas.Task
	var injections []schemas.Injection
	for i, repo := range j.Repos {
		rs, ts, inj, err := synthRepo(ctx, j, repo, j.commits[i])
		if err != nil {
			return sum, err
		}
		sum.Repos = append(sum.Repos, rs)
		tasks = append(tasks, ts...)
		injections = append(injections, inj...)
	}
	policyTasks, sameBug := map[string]bool{}, map[string]bool{}
	for _, in := range injections {
		policyTasks[in.TaskID] = in.Kept
	}
	tasks, err := notHeld(ctx, r.Env.Lake, tasks, &sum, policyTasks, sameBug)
	if err != nil {
		return sum, err
	}
	sum.Tasks = len(tasks)
	r.Prov.Sandbox = exec.Isolation(j.sandbox.Backend)
	stage.Emit(r, schemas.Tasks, tasks)
	for i := range injections {
		if in := &injections[i]; sameBug[in.TaskID] {
			in.Kept, in.TaskID, in.DropReason = false, "", DropSameBug
			rs := &sum.Repos[slices.IndexFunc(sum.Repos, func(rs RepoSummary) bool { return rs.Repo == in.Repo })]
			rs.Kept--
			if rs.ByKind["policy:"+in.Mode]--; rs.ByKind["policy:"+in.Mode] == 0 {
				delete(rs.ByKind, "policy:"+in.Mode)
			}
			rs.Dropped[DropSameBug]++
		}
	}
	if len(injections) > 0 {
		held, err := heldInjections(ctx, r.Env.Lake, injections)
		if err != nil {
			return sum, err
		}
		injections = slices.DeleteFunc(injections, func(in schemas.Injection) bool { return held[in.InjectionID] })
		if len(injections) > 0 {
			stage.Emit(r, schemas.Injections, injections)
		}
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
// A policy-written task (policyTasks) whose id the table holds with other
// content is the same bug another seed or model wrote: it goes to sameBug.
func notHeld(ctx context.Context, l *lake.Lake, tasks []schemas.Task, sum *Summary, policyTasks, sameBug map[string]bool) ([]schemas.Task, error) {
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
	same, otherContent := map[string]bool{}, map[string]bool{}
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
			} else if ok {
				otherContent[row.TaskID] = true
			}
		}
	}
	out := tasks[:0:0]
	for _, t := range tasks {
		switch {
		case same[t.TaskID]:
			sum.AlreadyHeld++
		case otherContent[t.TaskID] && policyTasks[t.TaskID]:
			// Another seed or model wrote the same bug: its task is
			// there (a procedural task's id names its mutation, so the
			// same id with other content is a conflict the lake reports).
			sameBug[t.TaskID] = true
		default:
			out = append(out, t)
		}
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
// the clean tree between candidates: procedural mutations, policy-written
// bugs, or the two interleaved (method mixed).
func synthRepo(ctx context.Context, cfg *job, r Repo, commit string) (RepoSummary, []schemas.Task, []schemas.Injection, error) {
	rs := RepoSummary{Repo: r.Name, Commit: commit, Dropped: map[string]int{}, ByKind: map[string]int{}}
	store := filepath.Join(cfg.sandbox.ReposDir, r.Name)
	ws := exec.Workspace{Source: store, Commit: commit}
	if err := taskexec.WarmGoCache(ctx, cfg.sandbox.Backend, r.Language, ws); err != nil {
		cfg.log.Warn("synth-tasks: Go build cache not warmed", "repo", r.Name, "err", err)
	}
	sb, err := cfg.sandbox.Backend.Open(ctx, ws)
	if err != nil {
		return rs, nil, nil, fmt.Errorf("synth-tasks %s: %w", r.Name, err)
	}
	defer sb.Close(context.WithoutCancel(ctx))
	framework := taskexec.Framework(r.Language)
	res, baseline, err := exec.RunTests(ctx, sb, r.TestCmd, framework, nil, exec.Limits{Timeout: 5 * time.Minute})
	if err != nil {
		return rs, nil, nil, fmt.Errorf("synth-tasks %s: baseline tests: %w", r.Name, err)
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
		return rs, nil, nil, fmt.Errorf("synth-tasks %s: no test passes at %s (exit %d, timed out %v): %s", r.Name, commit[:12], res.ExitCode, res.TimedOut, tail(res.Output, 400))
	}
	lim := exec.Limits{Timeout: min(max(10*res.Duration, 20*time.Second), 5*time.Minute)}
	if cfg.Timeout != "" {
		lim.Timeout, _ = time.ParseDuration(cfg.Timeout)
	}
	var cands []mutate.Mutation
	var sources map[string][]byte
	if cfg.Method != MethodPolicy {
		if cands, sources, err = candidates(ctx, cfg, sb, store, commit, r); err != nil {
			return rs, nil, nil, err
		}
	}
	jr := judging{cfg: cfg, sb: sb, repo: r, commit: commit, passing: passing, framework: framework, lim: lim}
	var tasks []schemas.Task
	var injections []schemas.Injection
	seen := map[string]bool{}
	keep := func(t schemas.Task, kind string) {
		rs.Kept++
		rs.ByKind[kind]++
		seen[t.TaskID] = true
		tasks = append(tasks, t)
		cfg.log.Info("synth-tasks: kept", "task", t.TaskID, "kind", kind, "fail_to_pass", len(t.FailToPass))
	}
	drop := func(reason, desc string) {
		rs.Dropped[reason]++
		cfg.log.Debug("synth-tasks: dropped", "repo", r.Name, "candidate", desc, "reason", reason)
	}
	procedural, policy := 0, 0
	for rs.Candidates < cfg.MaxCandidates && len(tasks) < cfg.MaxTasks {
		// mixed: policy and procedural candidates take turns
		usePolicy := cfg.Method == MethodPolicy || (cfg.Method == MethodMixed && (rs.Candidates%2 == 1 || procedural >= len(cands)))
		if !usePolicy && procedural >= len(cands) {
			break
		}
		rs.Candidates++
		if !usePolicy {
			m := cands[procedural]
			procedural++
			t, reason, err := try(ctx, &jr, m, sources[m.File])
			if err != nil {
				return rs, nil, nil, fmt.Errorf("synth-tasks %s: candidate %s (%s:%d %s): %w", r.Name, m.ID(), m.File, m.Line, m.Kind, err)
			}
			switch {
			case reason != "":
				drop(reason, m.Desc)
			case seen[t.TaskID]:
				drop(DropSameBug, m.Desc)
			default:
				keep(t, m.Kind)
			}
			continue
		}
		mode := cfg.Modes[policy%len(cfg.Modes)]
		seed := int64(cfg.Seed)<<20 + int64(policy)
		policy++
		t, inj, err := tryPolicy(ctx, &jr, mode, seed)
		if err != nil {
			return rs, nil, nil, fmt.Errorf("synth-tasks %s: policy candidate %d (%s, seed %d): %w", r.Name, policy, mode, seed, err)
		}
		if inj.Kept && seen[t.TaskID] {
			inj.Kept, inj.TaskID, inj.DropReason = false, "", DropSameBug
		}
		injections = append(injections, inj)
		if !inj.Kept {
			drop(inj.DropReason, "policy "+mode)
			continue
		}
		keep(t, "policy:"+mode)
	}
	return rs, tasks, injections, nil
}

// judging is what judging a candidate needs: the sandbox at the clean
// commit and the tests that pass there.
type judging struct {
	cfg       *job
	sb        exec.Sandbox
	repo      Repo
	commit    string
	passing   []string
	framework string
	lim       exec.Limits
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
func try(ctx context.Context, jr *judging, m mutate.Mutation, src []byte) (t schemas.Task, reason string, err error) {
	mutated, err := m.Apply(src)
	if err != nil {
		return t, "", err
	}
	if err := jr.sb.WriteFile(ctx, m.File, mutated); err != nil {
		return t, "", err
	}
	defer func() {
		if rerr := restore(ctx, jr.sb); rerr != nil && err == nil {
			err = rerr
		}
	}()
	id := m.ID()
	t, reason, res, results, err := judge(ctx, jr, Source+"/"+jr.repo.Name+"/"+id)
	if err != nil || reason != "" {
		return t, reason, err
	}
	t.InstanceID = jr.repo.Name + "." + m.Kind + "." + id
	base, err := exec.CommitPatch(ctx, filepath.Join(jr.cfg.sandbox.ReposDir, jr.repo.Name), jr.commit, []byte(t.BugPatch), "swelake/bug/"+id,
		fmt.Sprintf("synth-tasks: %s in %s (%s:%d)", m.Kind, cmp.Or(m.Func, "?"), m.File, m.Line))
	if err != nil {
		return t, "", err
	}
	t.BaseCommit = base
	t.Raw = fmt.Appendf(nil, `{"mutation":{"file":%q,"kind":%q,"line":%d,"func":%q,"desc":%q},"clean_commit":%q}`,
		m.File, m.Kind, m.Line, m.Func, m.Desc, jr.commit)
	if err := state(ctx, jr, &t, res, results); err != nil {
		return t, "", err
	}
	return t, "", nil
}

// tryPolicy asks the policy to write a bug (one agent episode in the
// sandbox), judges it as a procedural candidate and restores the clean
// tree. The injection records the attempt, kept or not.
func tryPolicy(ctx context.Context, jr *judging, mode string, seed int64) (t schemas.Task, inj schemas.Injection, err error) {
	cfg, r := jr.cfg, jr.repo
	inj = schemas.Injection{Repo: r.Name, CleanCommit: jr.commit, Mode: mode, Model: cfg.model, Seed: seed, SizeLines: int32(cfg.SizeLines)}
	if mode != agent.SynthInject {
		inj.SizeLines = 0
	}
	inj.InjectionID = hashOf(inj.Repo, inj.CleanCommit, inj.Mode, inj.Model, fmt.Sprint(inj.Seed), fmt.Sprint(inj.SizeLines))[:16]
	defer func() {
		if rerr := restore(ctx, jr.sb); rerr != nil && err == nil {
			err = rerr
		}
	}()
	system, user := agent.SynthesisPrompt(agent.SynthSpec{Mode: mode, Repo: r.Name, Language: r.Language, SizeLines: cfg.SizeLines})
	tr, err := agent.Run(ctx, cfg.policy, jr.sb, agent.Episode{System: system, User: user, Seed: &seed,
		Limits: agent.Limits{MaxSteps: cfg.MaxSteps, WallTime: 10 * time.Minute, CommandTimeout: jr.lim.Timeout}})
	if err != nil {
		return t, inj, err
	}
	msgs, err := json.Marshal(tr.Messages)
	if err != nil {
		return t, inj, err
	}
	inj.Patch, inj.ExitReason, inj.Steps, inj.Messages = tr.Patch, tr.ExitReason, int32(tr.Steps), string(msgs)
	inj.LinesChanged = int32(diff.LinesChanged(tr.Patch))
	switch {
	case tr.ExitReason == agent.ExitInfraError:
		return t, inj, fmt.Errorf("the sandbox failed during the episode: %s", tr.Error)
	case strings.TrimSpace(tr.Patch) == "":
		inj.DropReason = DropNoChange
		return t, inj, nil
	case slices.ContainsFunc(diff.Paths(tr.Patch), mutate.IsTestFile):
		inj.DropReason = DropEditTests
		return t, inj, nil
	}
	id := "p" + hashOf(tr.Patch)[:10]
	t, reason, res, results, err := judge(ctx, jr, Source+"/"+r.Name+"/"+id)
	if err != nil {
		return t, inj, err
	}
	if reason != "" {
		inj.DropReason = reason
		return t, inj, nil
	}
	t.InstanceID = r.Name + ".policy-" + mode + "." + id
	base, err := exec.CommitPatch(ctx, filepath.Join(cfg.sandbox.ReposDir, r.Name), jr.commit, []byte(t.BugPatch), "swelake/bug/"+id,
		fmt.Sprintf("synth-tasks: policy %s bug by %s (seed %d)", mode, cfg.model, seed))
	if err != nil {
		return t, inj, err
	}
	t.BaseCommit = base
	t.Raw, err = json.Marshal(map[string]any{"policy": map[string]any{"mode": mode, "model": cfg.model, "seed": seed,
		"injection_id": inj.InjectionID, "size_lines": inj.SizeLines}, "clean_commit": jr.commit})
	if err != nil {
		return t, inj, err
	}
	if err := state(ctx, jr, &t, res, results); err != nil {
		return t, inj, err
	}
	inj.Kept, inj.TaskID, inj.FailToPass = true, t.TaskID, int32(len(t.FailToPass))
	return t, inj, nil
}

// judge runs the tests on the sandbox's changed tree: the candidate is a
// task when ≥ 1 passing test now fails and every other still runs. The
// task it returns has its tests and patches (the bug: the change, staged
// or not; the gold patch: its inverse); the caller names and commits it.
func judge(ctx context.Context, jr *judging, id string) (t schemas.Task, reason string, res exec.Result, results testlog.Results, err error) {
	res, results, err = exec.RunTests(ctx, jr.sb, jr.repo.TestCmd, jr.framework, nil, jr.lim)
	if err != nil {
		return t, "", res, nil, err
	}
	if res.TimedOut {
		return t, DropTimeout, res, nil, nil
	}
	var f2p, p2p []string
	for _, name := range jr.passing {
		st, ran := results[name]
		switch {
		case !ran:
			return t, DropBroken, res, nil, nil
		case st.Pass():
			p2p = append(p2p, name)
		default:
			f2p = append(f2p, name)
		}
	}
	if len(f2p) == 0 {
		return t, DropNoFailure, res, nil, nil
	}
	// The diff of the tree and of the index against HEAD: a procedural
	// mutation is unstaged, the agent loop stages what the policy did.
	bug, err := gitOut(ctx, jr.sb, "diff", "--binary", "HEAD")
	if err != nil {
		return t, "", res, nil, err
	}
	gold, err := gitOut(ctx, jr.sb, "diff", "--binary", "-R", "--src-prefix=a/", "--dst-prefix=b/", "HEAD")
	if err != nil {
		return t, "", res, nil, err
	}
	r := jr.repo
	t = schemas.Task{TaskID: id, Source: Source, Repo: r.Name, GoldPatch: string(gold), BugPatch: string(bug),
		FailToPass: f2p, PassToPass: p2p, Language: r.Language, TestCmd: r.TestCmd, Version: jr.commit[:12]}
	return t, "", res, results, nil
}

// state writes the task's problem statement (the template, or the
// policy from what a user would see) and its content hash.
func state(ctx context.Context, jr *judging, t *schemas.Task, res exec.Result, results testlog.Results) error {
	report := BugReport{Repo: t.Repo, Language: t.Language, FailingTest: t.FailToPass, Failures: failures(res.Output, results, t.FailToPass)}
	report.Template = templateStatement(report)
	t.ProblemStatement = report.Template
	if jr.cfg.writer != nil {
		s, err := jr.cfg.writer.WriteStatement(ctx, report)
		if err != nil {
			return fmt.Errorf("write the problem statement: %w", err)
		}
		t.ProblemStatement = s
	}
	t.ContentHash = schemas.TaskHash(t)
	return nil
}

// hashOf is the hex SHA-256 of its parts.
func hashOf(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:])
}

// heldInjections are the injections the table holds already (a rerun
// with another config makes the same attempts).
func heldInjections(ctx context.Context, l *lake.Lake, injections []schemas.Injection) (map[string]bool, error) {
	mine := map[string]bool{}
	for _, in := range injections {
		mine[in.InjectionID] = true
	}
	t, err := l.Table(schemas.Injections.Name)
	if err != nil {
		return nil, err
	}
	snap, err := t.Snapshot(ctx, lake.Latest)
	if err != nil {
		return nil, fmt.Errorf("synth-tasks: %w", err)
	}
	held := map[string]bool{}
	for _, f := range snap.Files {
		for row, err := range lake.ReadFileRows[injectionKey](ctx, l, snap, f) {
			if err != nil {
				return nil, fmt.Errorf("synth-tasks: %w", err)
			}
			if mine[row.InjectionID] {
				held[row.InjectionID] = true
			}
		}
	}
	return held, nil
}

type injectionKey struct {
	InjectionID string `parquet:"injection_id"`
}

func restore(ctx context.Context, sb exec.Sandbox) error {
	res, err := sb.Run(ctx, exec.Spec{Argv: []string{"sh", "-c", "git reset --quiet --hard && git clean -fdxq"}, Limits: exec.Limits{Timeout: time.Minute}})
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
