// Package stage is the one skeleton every swelake job runs on. A job is a
// Def: its name, the tables it reads and writes, a typed config with
// defaults and validation, and two functions — Plan pins the inputs, Run
// turns them into rows per output table. The driver (Def.Execute) does the
// rest for every job alike: validate → pin → canonical config hash → run id
// and run key → "already done?" → run → write → commit every output table
// → the run record last, which is what makes a run with several output
// tables visible all at once or not at all (lake.RunRecord).
package stage

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"github.com/swelake/swelake/jobs/taskexec"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/agent"
	"github.com/swelake/swelake/exec/taskenv"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// Env is what every stage gets besides its config: the lake, where remote
// files are cached, what provenance records, the injected logger and clock,
// and the services some stages need (a sandbox backend, a model endpoint).
type Env struct {
	Lake        *lake.Lake // it owns the cache of remote files (lake.Options.CacheDir)
	CodeVersion string
	Author      string
	Logger      *slog.Logger     // nil: discard
	Clock       func() time.Time // nil: time.Now
	Services    Services         // nil: a stage that needs one fails, saying so
	// Progress reports a long stage's progress (nil: none).
	Progress func(job string) Progress
	// OnDuplicate: what a stage's commit does with rows whose keys the
	// table already holds (default: refuse; --on-duplicate skip).
	OnDuplicate lake.OnDuplicate
	// PolicyModel, when set, is the model the policy endpoint is asked for
	// instead of its configured one (the RL loop's checkpoint of the
	// iteration, served at the same address).
	PolicyModel string
}

// Progress is a long-running stage's progress report.
type Progress interface {
	Set(done, total int)
	Finish()
}

// Services are the outside world some stages talk to; the CLI builds them
// from its configuration, lazily.
type Services interface {
	// Sandbox is the sandbox backend and the repository store.
	Sandbox(ctx context.Context) (exec.Backend, string, error)
	// Endpoint is a chat-completions endpoint: "policy" or "verifier".
	Endpoint(name string) (Endpoint, error)
	// Tokenizer resolves a job's tokenizer_dir ("" : the configured default).
	Tokenizer(jobValue string) string
}

// Endpoint is a model behind the chat-completions API.
type Endpoint struct {
	Client  agent.Chatter
	Model   string
	BaseURL string
}

// ErrConfig marks an invalid job configuration (the CLI's exit 2).
var ErrConfig = errors.New("invalid config")

// SoftError is an error a run returns with a complete summary (ingest
// --strict after quarantining rows: the rows are committed, the exit status
// is not 0). The driver records the run and returns the summary with it.
type SoftError struct{ Err error }

func (e *SoftError) Error() string { return e.Err.Error() }
func (e *SoftError) Unwrap() error { return e.Err }

// ErrNoService: a stage needs a service its environment does not have.
var ErrNoService = errors.New("service not configured")

func (e *Env) withDefaults() {
	if e.Logger == nil {
		e.Logger = slog.New(slog.DiscardHandler)
	}
	if e.Clock == nil {
		e.Clock = time.Now
	}
}

// Sandbox is the sandbox backend and repository store (ErrNoService when
// the environment has none).
func (e *Env) Sandbox(ctx context.Context) (exec.Backend, string, error) {
	if e.Services == nil {
		return nil, "", fmt.Errorf("sandbox: %w", ErrNoService)
	}
	return e.Services.Sandbox(ctx)
}

// Endpoint is the named model endpoint (ErrNoService when there is none);
// the policy endpoint asks for PolicyModel when it is set.
func (e *Env) Endpoint(name string) (Endpoint, error) {
	if e.Services == nil {
		return Endpoint{}, fmt.Errorf("%s endpoint: %w", name, ErrNoService)
	}
	ep, err := e.Services.Endpoint(name)
	if err != nil || name != "policy" || e.PolicyModel == "" {
		return ep, err
	}
	ep.Client, ep.Model = modelChatter{inner: ep.Client, model: e.PolicyModel}, e.PolicyModel
	return ep, nil
}

// modelChatter sends every request to one model.
type modelChatter struct {
	inner agent.Chatter
	model string
}

func (m modelChatter) Chat(ctx context.Context, req agent.ChatRequest) (agent.ChatResponse, error) {
	req.Model = m.model
	return m.inner.Chat(ctx, req)
}

// Tokenizer resolves a job's tokenizer directory.
func (e *Env) Tokenizer(jobValue string) string {
	if e.Services == nil {
		return jobValue
	}
	return e.Services.Tokenizer(jobValue)
}

// Plan is what a stage's Plan pinned: its input snapshots, anything else
// that is part of the run's identity (a tokenizer's, an input's content),
// the shard this process runs, and a prefix for the run id.
type Plan struct {
	Inputs   []*lake.Snapshot
	Identity []string
	Shard    Shard
	IDPrefix string // default: the job name
	// ByContent makes the inputs' content (their files' sha256s) part of
	// the run's identity besides their names, so that runs over different
	// lakes at the same versions never share an id (curate's ids).
	ByContent bool
	// State carries what Plan computed for Run (a loaded tokenizer, …).
	State any
}

// Refs are the pinned inputs' names ("table@version") and identities.
func (p Plan) Refs() []string {
	out := make([]string, 0, len(p.Inputs)+len(p.Identity))
	for _, s := range p.Inputs {
		out = append(out, s.Ref().String())
	}
	return append(out, p.Identity...)
}

// Outcome is what the driver says of a run; every summary embeds it.
type Outcome struct {
	ID      string           `json:"id"`
	RunKey  string           `json:"run_key"`
	Skipped bool             `json:"skipped"` // the run was complete already: its recorded summary
	Outputs map[string]int64 `json:"outputs,omitempty"`
}

// outcome lets the driver fill the embedded Outcome of any summary.
func (o *Outcome) outcome() *Outcome { return o }

type withOutcome interface{ outcome() *Outcome }

// Def is a job. C is its typed config, S its summary (embedding Outcome).
type Def[C any, S any] struct {
	Info
	// Defaults is the config a run starts from.
	Defaults func() C
	// Validate checks a config (nil: every config is valid).
	Validate func(*C) error
	// Plan pins the inputs (it may fill defaults the config left empty).
	Plan func(ctx context.Context, env *Env, cfg *C) (Plan, error)
	// Run does the work: rows for the output tables go through r.Emit.
	Run func(ctx context.Context, r *Run[C]) (S, error)
	// AlwaysRun: what the job does depends on more than its pinned inputs
	// and config (ingest deduplicates against the table as it is now; a
	// report writes files outside the lake), so a complete run with the
	// same key does not make it a no-op. Its record is still written once.
	AlwaysRun bool
	// After runs once the run is complete — committed now, or found
	// complete — for what lies outside the lake and outside the run's
	// identity: files for a trainer in a directory of the caller's choosing
	// (nil: nothing).
	After func(ctx context.Context, r *Run[C], s *S) error
	// Print renders a summary for people (--json prints it as JSON).
	Print func(w io.Writer, s *S) error
}

// Run is one run of a stage, handed to its Run function.
type Run[C any] struct {
	Env    *Env
	Config C
	Plan   Plan
	ID     string
	RunKey string
	Hash   string
	// Prov is filled into every commit's provenance (Sandbox, Endpoint).
	Prov    lake.Provenance
	info    Info
	outputs []output
	started time.Time
}

// output is one table's rows, emitted by Run, written by the driver.
type output struct {
	table string
	write func(ctx context.Context, t *lake.Table, opts lake.WriteOptions) (lake.Files, error)
	// version ≥ 0: the job committed the table itself (streaming jobs).
	version int64
}

// Emit hands the driver a table's rows; it writes and commits them after
// Run returns, with every other output of the run.
func Emit[T any, C any](r *Run[C], def schemas.Def[T], rows []T) {
	r.outputs = append(r.outputs, output{table: def.Name, version: -1,
		write: func(ctx context.Context, t *lake.Table, opts lake.WriteOptions) (lake.Files, error) {
			return lake.WriteFiles(ctx, t, tables.Spec(def), lake.Slice(rows), opts)
		}})
}

// EmitFiles hands the driver files already written to a table.
func (r *Run[C]) EmitFiles(table string, files lake.Files) {
	r.outputs = append(r.outputs, output{table: table, version: -1,
		write: func(context.Context, *lake.Table, lake.WriteOptions) (lake.Files, error) { return files, nil }})
}

// Committed tells the driver a table the job committed itself (a stage
// that commits in batches as it goes) and its latest version.
func (r *Run[C]) Committed(table string, version int64) {
	for i := range r.outputs {
		if r.outputs[i].table == table {
			r.outputs[i].version = max(r.outputs[i].version, version)
			return
		}
	}
	r.outputs = append(r.outputs, output{table: table, version: version})
}

// Provenance is a commit's provenance for this run.
func (r *Run[C]) Provenance() lake.Provenance {
	p := r.Prov
	p.Job, p.RunKey, p.ConfigHash, p.Inputs = r.Info().Name, r.RunKey, r.Hash, r.Plan.Refs()
	p.CodeVersion, p.Author, p.Time = r.Env.CodeVersion, r.Env.Author, r.Env.Clock().UTC()
	return p
}

// Info is a run's job description (set by the driver).
func (r *Run[C]) Info() Info { return r.info }

// Execute runs a stage on the driver (see the package comment) and returns
// its summary; a run whose record exists returns the recorded summary with
// Skipped set.
func (d *Def[C, S]) Execute(ctx context.Context, env *Env, cfg C) (S, error) {
	var zero S
	own := *env // the caller's Env is shared (shards of one run at once): never written
	env = &own
	env.withDefaults()
	if d.Validate != nil {
		if err := d.Validate(&cfg); err != nil {
			return zero, fmt.Errorf("%s: %w: %w", d.Name, ErrConfig, err)
		}
	}
	if err := tables.Init(ctx, env.Lake, lake.Provenance{CodeVersion: env.CodeVersion, Author: env.Author, Time: env.Clock().UTC()}); err != nil {
		return zero, err
	}
	plan, err := d.Plan(ctx, env, &cfg)
	if err != nil {
		return zero, err
	}
	var content []string
	if plan.ByContent {
		content = contentOf(plan.Inputs)
	}
	hash, err := Hash(struct {
		Job     string
		Config  C
		Inputs  []string
		Content []string
	}{d.Name, cfg, plan.Refs(), content})
	if err != nil {
		return zero, fmt.Errorf("%s: %w", d.Name, err)
	}
	r := &Run[C]{Env: env, Config: cfg, Plan: plan, Hash: hash, started: env.Clock()}
	r.info = d.Info
	r.ID = cmp.Or(plan.IDPrefix, d.Name) + "-" + hash[:12]
	r.RunKey = plan.Shard.RunKey(d.Name + "/" + r.ID)
	rec, err := env.Lake.Run(ctx, d.Name, d.Name+"/"+r.ID) // the whole run covers every shard
	if d.AlwaysRun {
		rec, err = nil, lake.ErrNoRun
	}
	if errors.Is(err, lake.ErrNoRun) && !plan.Shard.Whole() && !d.AlwaysRun {
		rec, err = env.Lake.Run(ctx, d.Name, r.RunKey)
	}
	if err == nil {
		sum, err := d.recorded(rec)
		if err == nil && d.After != nil {
			err = d.After(ctx, r, &sum)
		}
		return sum, err
	} else if !errors.Is(err, lake.ErrNoRun) {
		return zero, err
	}
	sum, err := d.Run(ctx, r)
	var soft *SoftError
	if err != nil && !errors.As(err, &soft) {
		return sum, err
	}
	o, ok := any(&sum).(withOutcome)
	if !ok {
		return sum, fmt.Errorf("%s: its summary does not embed stage.Outcome", d.Name)
	}
	out := o.outcome()
	out.ID, out.RunKey = r.ID, r.RunKey
	var cerr error
	if out.Outputs, cerr = r.commit(ctx); cerr != nil {
		return sum, cerr
	}
	if cerr := r.record(ctx, cfg, sum, out.Outputs); cerr != nil {
		return sum, cerr
	}
	if d.After != nil {
		if aerr := d.After(ctx, r, &sum); aerr != nil {
			return sum, aerr
		}
	}
	return sum, err // nil, or the run's SoftError
}

func contentOf(snaps []*lake.Snapshot) []string {
	out := make([]string, len(snaps))
	for i, s := range snaps {
		h := sha256.New()
		for _, f := range s.Files {
			fmt.Fprintf(h, "%s\x00", f.SHA256)
		}
		out[i] = hex.EncodeToString(h.Sum(nil))
	}
	return out
}

// recorded is the summary of a complete run, from its record.
func (d *Def[C, S]) recorded(rec *lake.RunRecord) (S, error) {
	var sum S
	if err := json.Unmarshal(rec.Summary, &sum); err != nil {
		return sum, fmt.Errorf("%s: run record %s: %w", d.Name, rec.RunKey, err)
	}
	if o, ok := any(&sum).(withOutcome); ok {
		out := o.outcome()
		out.ID, out.RunKey, out.Skipped, out.Outputs = rec.ID, rec.RunKey, true, rec.Outputs
	}
	return sum, nil
}

// commit writes and commits every emitted table, in the order emitted; a
// table that holds the run key already (an earlier attempt died after
// committing it) is not written again: the run rolls forward.
func (r *Run[C]) commit(ctx context.Context) (map[string]int64, error) {
	versions := map[string]int64{}
	for _, o := range r.outputs {
		if o.version >= 0 {
			versions[o.table] = o.version
			continue
		}
		t, err := r.Env.Lake.Table(o.table)
		if err != nil {
			return nil, err
		}
		if c, done, err := t.Committed(ctx, r.RunKey); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", r.info.Name, o.table, err)
		} else if done {
			versions[o.table] = c.Version
			continue
		}
		t0 := r.Env.Clock()
		opts := lake.WriteOptions{CodeVersion: r.Env.CodeVersion, OnDuplicate: r.Env.OnDuplicate}
		res, files, err := t.AppendKeyed(ctx, func(ctx context.Context) (lake.Files, error) { return o.write(ctx, t, opts) }, r.Provenance())
		if errors.Is(err, lake.ErrDuplicateKey) {
			return nil, fmt.Errorf("%s: %w", r.info.Name, err)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: commit %s: %w", r.info.Name, o.table, err)
		}
		if files.Skipped > 0 {
			r.Env.Logger.Info("skipped rows whose keys the table held", "job", r.info.Name, "table", o.table, "rows", files.Skipped)
		}
		versions[o.table] = res.Commit.Version
		r.Env.Logger.Debug("committed", "job", r.info.Name, "table", o.table, "version", res.Commit.Version, "elapsed", r.Env.Clock().Sub(t0))
	}
	return versions, nil
}

// record writes the run record: the run is complete.
func (r *Run[C]) record(ctx context.Context, cfg C, sum any, outputs map[string]int64) error {
	cj, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("%s: config: %w", r.info.Name, err)
	}
	sj, err := json.Marshal(sum)
	if err != nil {
		return fmt.Errorf("%s: summary: %w", r.info.Name, err)
	}
	rec := lake.RunRecord{Job: r.info.Name, ID: r.ID, RunKey: r.RunKey, Shard: r.Plan.Shard.String(), ConfigHash: r.Hash,
		Config: cj, Inputs: r.Plan.Refs(), Outputs: outputs, CodeVersion: r.Env.CodeVersion, Author: r.Env.Author,
		Time: r.Env.Clock().UTC(), Seconds: r.Env.Clock().Sub(r.started).Seconds(), Summary: sj}
	for _, t := range r.info.Outputs { // the first output the run wrote orders the job's runs
		if v, ok := outputs[t]; ok {
			rec.Seq = v + 1
			break
		}
	}
	if err := r.Env.Lake.PutRun(ctx, rec); err != nil {
		return fmt.Errorf("%s: %w", r.info.Name, err)
	}
	return nil
}

// Needs are the services a job uses.
type Needs struct {
	Sandbox  bool `json:"sandbox,omitempty"`
	Policy   bool `json:"policy,omitempty"`   // the policy endpoint
	Verifier bool `json:"verifier,omitempty"` // the verifier endpoint
}

// Flag is a command-line flag of `swelake run <job>` that sets a config key.
type Flag struct {
	Name  string // --name
	Key   string // the config key it sets (a dotted path below the job's section)
	Usage string
	// Short is a one-letter alias ("" for none).
	Short string
}

// Info describes a job for the registry, the CLI, the pipeline and the docs.
type Info struct {
	Name    string // swelake run <name>; a pipeline stage's job:
	Section string // its section of swelake.yaml (default: Name with _ for -)
	Short   string
	Long    string
	Example string
	Inputs  []string // tables it reads
	Outputs []string // tables it writes
	Needs   Needs
	Flags   []Flag
	// ArgsKey is the config key the command's positional arguments set
	// ("" : the command takes none).
	ArgsKey string
	// ReadsFiles: the job reads the files of its config's paths, whose
	// names, sizes and modification times are part of a pipeline's run key.
	ReadsFiles bool
}

// ConfigSection is the job's section of swelake.yaml.
func (i Info) ConfigSection() string {
	if i.Section != "" {
		return i.Section
	}
	b := []byte(i.Name)
	for k, c := range b {
		if c == '-' {
			b[k] = '_'
		}
	}
	return string(b)
}

// Job is a Def with its types erased: what the registry lists.
type Job interface {
	Describe() Info
	// NewConfig is a pointer to a config holding the defaults.
	NewConfig() any
	// Execute runs the job on cfg (a pointer NewConfig returned).
	ExecuteAny(ctx context.Context, env *Env, cfg any) (any, error)
	// PrintAny renders a summary ExecuteAny returned.
	PrintAny(w io.Writer, sum any) error
	// ValidateAny checks a config (a pointer NewConfig returned) as
	// Execute would, before any I/O.
	ValidateAny(cfg any) error
}

// ValidateAny implements Job.
func (d *Def[C, S]) ValidateAny(cfg any) error {
	c, ok := cfg.(*C)
	if !ok {
		return fmt.Errorf("%s: config is a %T, not a %T", d.Name, cfg, c)
	}
	if d.Validate == nil {
		return nil
	}
	v := *c // Validate fills defaults; the caller's config stays as decoded
	if err := d.Validate(&v); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// Describe implements Job.
func (d *Def[C, S]) Describe() Info { return d.Info }

// NewConfig implements Job.
func (d *Def[C, S]) NewConfig() any {
	c := d.Defaults()
	return &c
}

// ExecuteAny implements Job.
func (d *Def[C, S]) ExecuteAny(ctx context.Context, env *Env, cfg any) (any, error) {
	c, ok := cfg.(*C)
	if !ok {
		return nil, fmt.Errorf("%s: config is a %T, not a %T", d.Name, cfg, c)
	}
	s, err := d.Execute(ctx, env, *c)
	return &s, err
}

// PrintAny implements Job.
func (d *Def[C, S]) PrintAny(w io.Writer, sum any) error {
	s, ok := sum.(*S)
	if !ok {
		return fmt.Errorf("%s: summary is a %T", d.Name, sum)
	}
	if d.Print == nil {
		data, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
	}
	return d.Print(w, s)
}

// Find returns the job of a list by name.
func Find(all []Job, name string) (Job, bool) {
	i := slices.IndexFunc(all, func(j Job) bool { return j.Describe().Name == name })
	if i < 0 {
		return nil, false
	}
	return all[i], true
}

// Static is a fixed set of services: for tests, and for callers that build
// them once.
type Static struct {
	Backend   exec.Backend
	ReposDir  string
	Endpoints map[string]Endpoint
	// TokenizerDir is the default tokenizer ("" : none).
	TokenizerDir string
	// TaskSpecs say how tasks' tests run (zero: the built-in specs).
	TaskSpecs taskenv.Specs
}

// Specs implements SpecsService.
func (s Static) Specs() (taskenv.Specs, error) { return s.TaskSpecs, nil }

// SpecsService is a Services that says how tasks' tests run (a specs
// file); without it the built-in specs apply.
type SpecsService interface {
	Specs() (taskenv.Specs, error)
}

// Sandbox implements Services.
func (s Static) Sandbox(context.Context) (exec.Backend, string, error) {
	return s.Backend, s.ReposDir, nil // OpenSandbox says what is missing
}

// Endpoint implements Services.
func (s Static) Endpoint(name string) (Endpoint, error) {
	e, ok := s.Endpoints[name]
	if !ok {
		return Endpoint{}, fmt.Errorf("%s endpoint: %w", name, ErrNoService)
	}
	return e, nil
}

// Tokenizer implements Services.
func (s Static) Tokenizer(jobValue string) string { return cmp.Or(jobValue, s.TokenizerDir) }

// Each runs fn(i) for i in [0, n), at most limit at once; the first error
// cancels the rest and is returned. Progress, when the environment reports
// it, counts the finished calls.
func (e *Env) Each(ctx context.Context, job string, n, limit int, fn func(ctx context.Context, i int) error) error {
	var p Progress
	if e.Progress != nil && n > 0 {
		p = e.Progress(job)
		defer p.Finish()
		p.Set(0, n)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(limit, 1))
	var mu sync.Mutex
	done := 0
	for i := range n {
		g.Go(func() error {
			if err := fn(gctx, i); err != nil {
				return err
			}
			mu.Lock()
			done++
			if p != nil {
				p.Set(done, n)
			}
			mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

// ShardUsage is the help of a --shard flag.
const ShardUsage = "run only this worker's share of the tasks: i/N, or auto/N to take i from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID"

// Sandbox is a sandbox backend with its repository store, as the
// execution stages use it.
type Sandbox struct {
	Backend  exec.Backend
	ReposDir string
	Specs    taskenv.Specs
}

// TestEnv is how t's tests run in this sandbox: its specs resolved for
// the task.
func (s Sandbox) TestEnv(t *schemas.Task) taskenv.Env {
	return taskexec.TestEnv(s.Specs, t)
}

// OpenSandbox is the environment's sandbox.
func OpenSandbox(ctx context.Context, env *Env) (Sandbox, error) {
	b, repos, err := env.Sandbox(ctx)
	if err != nil {
		return Sandbox{}, err
	}
	if b == nil || repos == "" {
		return Sandbox{}, fmt.Errorf("sandbox: %w (no backend or repository store)", ErrNoService)
	}
	specs, err := taskenv.New(nil)
	if ss, ok := env.Services.(SpecsService); ok {
		specs, err = ss.Specs()
	}
	if err != nil {
		return Sandbox{}, fmt.Errorf("sandbox: %w", err)
	}
	return Sandbox{Backend: b, ReposDir: repos, Specs: specs}, nil
}

// Pool runs fn with a pool over the backend (exec.Pool: the items'
// workspaces opened ahead, up to ahead at a time, sandboxes closed in the
// background) and closes the pool before returning; a failed close (a
// container the engine would not remove) is logged.
func (s Sandbox) Pool(ctx context.Context, ahead int, log *slog.Logger, fn func(*exec.Pool) error) error {
	p := exec.NewPool(ctx, s.Backend, ahead, log)
	err := fn(p)
	if cerr := p.Close(context.WithoutCancel(ctx)); cerr != nil {
		log.Warn("sandboxes not all removed", "err", cerr)
	}
	return err
}

// Item is the sandbox of one item of a pool (Pool).
func (s Sandbox) Item(p *exec.Pool, item int) Sandbox {
	s.Backend = p.Item(item)
	return s
}

// Warm warms the backend's Go build cache once per repository of the
// tasks (a failure costs speed, and is logged).
func (s Sandbox) Warm(ctx context.Context, tasks []*schemas.Task, log *slog.Logger) {
	taskexec.WarmGoCaches(ctx, s.Backend, s.ReposDir, tasks, log)
}

// CommitState says where a run's first output is: committed now, or by an
// earlier run with the same run key.
func CommitState(o Outcome, table string) string {
	v, ok := o.Outputs[table]
	if !ok {
		return "nothing committed"
	}
	if o.Skipped {
		return fmt.Sprintf("already in %s@%d", table, v)
	}
	return fmt.Sprintf("committed %s@%d", table, v)
}

// Counts renders a count map for a summary line, keys sorted ("-" when
// empty).
func Counts(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// Pins reads "table@version" references into a pin map (every one must
// name a version).
func Pins(refs []string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, p := range refs {
		ref, err := lake.ParseRef(p)
		if err != nil {
			return nil, fmt.Errorf("pin %q: %w", p, err)
		}
		if ref.Version == lake.Latest {
			return nil, fmt.Errorf("pin %q: want table@version", p)
		}
		out[ref.Table] = ref.Version
	}
	return out, nil
}
