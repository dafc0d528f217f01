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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/agent"
	"github.com/swelake/swelake/jobs"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// Env is what every stage gets besides its config: the lake, where remote
// files are cached, what provenance records, the injected logger and clock,
// and the services some stages need (a sandbox backend, a model endpoint).
type Env struct {
	Lake        *lake.Lake
	CacheDir    string
	CodeVersion string
	Author      string
	Logger      *slog.Logger     // nil: discard
	Clock       func() time.Time // nil: time.Now
	Services    Services         // nil: a stage that needs one fails, saying so
	// Progress reports a long stage's progress (nil: none).
	Progress func(job string) Progress
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
	Client  *agent.Client
	Model   string
	BaseURL string
}

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

// Runtime is the environment as the older job helpers take it.
func (e *Env) Runtime() jobs.Runtime {
	return jobs.Runtime{CacheDir: e.CacheDir, CodeVersion: e.CodeVersion, Author: e.Author, Logger: e.Logger, Clock: e.Clock}
}

// Sandbox is the sandbox backend and repository store (ErrNoService when
// the environment has none).
func (e *Env) Sandbox(ctx context.Context) (exec.Backend, string, error) {
	if e.Services == nil {
		return nil, "", fmt.Errorf("sandbox: %w", ErrNoService)
	}
	return e.Services.Sandbox(ctx)
}

// Endpoint is the named model endpoint (ErrNoService when there is none).
func (e *Env) Endpoint(name string) (Endpoint, error) {
	if e.Services == nil {
		return Endpoint{}, fmt.Errorf("%s endpoint: %w", name, ErrNoService)
	}
	return e.Services.Endpoint(name)
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
	Shard    jobs.Shard
	IDPrefix string // default: the job name
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
	write func(ctx context.Context, t *lake.Table, codeVersion string) (lake.Files, error)
	// version ≥ 0: the job committed the table itself (streaming jobs).
	version int64
}

// Emit hands the driver a table's rows; it writes and commits them after
// Run returns, with every other output of the run.
func Emit[T any, C any](r *Run[C], def schemas.Def[T], rows []T) {
	r.outputs = append(r.outputs, output{table: def.Name, version: -1,
		write: func(ctx context.Context, t *lake.Table, codeVersion string) (lake.Files, error) {
			return lake.WriteFiles(ctx, t, jobs.Spec(def), lake.Slice(rows), lake.WriteOptions{CodeVersion: codeVersion})
		}})
}

// EmitFiles hands the driver files already written to a table.
func (r *Run[C]) EmitFiles(table string, files lake.Files) {
	r.outputs = append(r.outputs, output{table: table, version: -1,
		write: func(context.Context, *lake.Table, string) (lake.Files, error) { return files, nil }})
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
	env.withDefaults()
	if d.Validate != nil {
		if err := d.Validate(&cfg); err != nil {
			return zero, fmt.Errorf("%s: %w", d.Name, err)
		}
	}
	if err := env.Runtime().InitTables(ctx, env.Lake); err != nil {
		return zero, err
	}
	plan, err := d.Plan(ctx, env, &cfg)
	if err != nil {
		return zero, err
	}
	hash, err := Hash(struct {
		Job    string
		Config C
		Inputs []string
	}{d.Name, cfg, plan.Refs()})
	if err != nil {
		return zero, fmt.Errorf("%s: %w", d.Name, err)
	}
	r := &Run[C]{Env: env, Config: cfg, Plan: plan, Hash: hash, started: env.Clock()}
	r.info = d.Info
	r.ID = cmp.Or(plan.IDPrefix, d.Name) + "-" + hash[:12]
	r.RunKey = plan.Shard.RunKey(d.Name + "/" + r.ID)
	if rec, err := env.Lake.Run(ctx, d.Name, r.RunKey); err == nil {
		return d.recorded(rec)
	} else if !errors.Is(err, lake.ErrNoRun) {
		return zero, err
	}
	sum, err := d.Run(ctx, r)
	if err != nil {
		return sum, err
	}
	o, ok := any(&sum).(withOutcome)
	if !ok {
		return sum, fmt.Errorf("%s: its summary does not embed stage.Outcome", d.Name)
	}
	out := o.outcome()
	out.ID, out.RunKey = r.ID, r.RunKey
	if out.Outputs, err = r.commit(ctx); err != nil {
		return sum, err
	}
	return sum, r.record(ctx, cfg, sum, out.Outputs)
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
		files, err := o.write(ctx, t, r.Env.CodeVersion)
		if err != nil {
			return nil, fmt.Errorf("%s: write %s: %w", r.info.Name, o.table, err)
		}
		res, err := t.Append(ctx, files, r.Provenance())
		if err != nil {
			return nil, fmt.Errorf("%s: commit %s: %w", r.info.Name, o.table, err)
		}
		versions[o.table] = res.Commit.Version
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
