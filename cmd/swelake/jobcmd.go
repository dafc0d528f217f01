package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/taskenv"
	"github.com/swelake/swelake/internal/progress"
	"github.com/swelake/swelake/jobs/lease"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
)

// newJobCmd is `swelake run <job>` for a registered job: its help from the
// job's Info, its flags from Info.Flags (typed by the config field each
// sets), its config from the job's section of swelake.yaml, --set and the
// flags, in rising precedence.
func newJobCmd(a *app, job stage.Job) *cobra.Command {
	info := job.Describe()
	c := &cobra.Command{
		Use:     info.Name,
		Short:   info.Short,
		Long:    info.Long + "\n\nConfiguration: the " + info.ConfigSection() + " section of swelake.yaml (docs/cli.md).",
		Example: info.Example,
		Args:    usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, err := a.jobConfig(job, cmd.Flags())
			if err != nil {
				return err
			}
			if info.ArgsKey != "" {
				var v any = args
				if f, _ := fieldAt(reflect.TypeOf(cfg).Elem(), info.ArgsKey); f.Kind() == reflect.String {
					v = args[0]
				}
				if err := stage.Decode(map[string]any{info.ArgsKey: v}, cfg); err != nil {
					return usageError{err}
				}
			}
			if err := job.ValidateAny(cfg); err != nil { // before the lake is opened
				return usageError{err}
			}
			env, err := a.jobEnv(ctx, cmd)
			if err != nil {
				return err
			}
			sum, err := job.ExecuteAny(ctx, env, cfg)
			if errors.Is(err, stage.ErrConfig) || errors.Is(err, stage.ErrNoService) {
				return usageError{err}
			}
			if errors.Is(err, lease.ErrHeld) { // another run of the loop: cron tells it apart
				fmt.Fprintf(a.stderr, "swelake: %s\n", oneLine(err.Error()))
				return exitCode(3)
			}
			var soft *stage.SoftError // the summary stands; the exit status says what went wrong
			if err != nil && !errors.As(err, &soft) {
				return err
			}
			if a.json {
				if perr := a.printJSON(sum); perr != nil {
					return perr
				}
			} else if perr := job.PrintAny(a.stdout, sum); perr != nil {
				return perr
			}
			return err
		},
	}
	proto := reflect.TypeOf(job.NewConfig()).Elem()
	if info.ArgsKey != "" {
		f, ok := fieldAt(proto, info.ArgsKey)
		switch {
		case !ok:
			panic(fmt.Sprintf("job %s: its arguments set %q, which its config does not have", info.Name, info.ArgsKey))
		case f.Kind() == reflect.String:
			c.Args = usage(cobra.ExactArgs(1))
		default:
			c.Args = usage(cobra.MinimumNArgs(1))
		}
	}
	for _, f := range info.Flags {
		field, ok := fieldAt(proto, f.Key)
		if !ok {
			panic(fmt.Sprintf("job %s: flag --%s sets %q, which its config does not have", info.Name, f.Name, f.Key))
		}
		fs := c.Flags()
		switch field.Kind() {
		case reflect.String:
			fs.StringP(f.Name, f.Short, "", f.Usage)
		case reflect.Int, reflect.Int32:
			fs.IntP(f.Name, f.Short, 0, f.Usage)
		case reflect.Int64:
			fs.Int64P(f.Name, f.Short, 0, f.Usage)
		case reflect.Float64:
			fs.Float64P(f.Name, f.Short, 0, f.Usage)
		case reflect.Bool:
			fs.BoolP(f.Name, f.Short, false, f.Usage)
		case reflect.Slice:
			fs.StringSliceP(f.Name, f.Short, nil, f.Usage)
		default:
			panic(fmt.Sprintf("job %s: flag --%s: a %s field can not be a flag", info.Name, f.Name, field))
		}
	}
	return c
}

// fieldAt is the type of the config field at a dotted key (mapstructure
// names; the fields of a ",squash" struct sit at its parent's level).
func fieldAt(t reflect.Type, key string) (reflect.Type, bool) {
	for _, part := range strings.Split(key, ".") {
		f, ok := fieldNamed(t, part)
		if !ok {
			return nil, false
		}
		t = f
	}
	return t, true
}

func fieldNamed(t reflect.Type, name string) (reflect.Type, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, false
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if strings.Contains(opts, "squash") {
			if ft, ok := fieldNamed(f.Type, name); ok {
				return ft, true
			}
			continue
		}
		if tag == "" {
			tag = strings.ToLower(f.Name)
		}
		if tag == name {
			return f.Type, true
		}
	}
	return nil, false
}

// jobConfig is a job's typed config: its defaults, then its section of
// the configuration (file, SWELAKE_* variables, --set), then its flags.
// An unknown key is a usage error naming the job and the key.
func (a *app) jobConfig(job stage.Job, flags *pflag.FlagSet) (any, error) {
	info := job.Describe()
	cfg := job.NewConfig()
	// --set of another job's key does nothing for this one: refuse it.
	if sets, err := flags.GetStringArray("set"); err == nil {
		for _, kv := range sets {
			sec, _, _ := strings.Cut(kv, ".")
			if other, ok := jobOfSection(sec); ok && sec != info.ConfigSection() {
				return nil, usageError{fmt.Errorf("--set %s: %s does not read %s.* (that is %s's section); its own keys are %s.*",
					kv, info.Name, sec, other.Describe().Name, info.ConfigSection())}
			}
		}
	}
	if m, ok := a.cfg.Jobs[info.ConfigSection()]; ok {
		if err := stage.Decode(m, cfg); err != nil {
			return nil, usageError{fmt.Errorf("config %s: %w", info.ConfigSection(), err)}
		}
	}
	for _, f := range info.Flags {
		fl := flags.Lookup(f.Name)
		if fl == nil || !fl.Changed {
			continue
		}
		var v any = fl.Value.String()
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			v = sv.GetSlice()
		}
		if f.Key == "shard" { // auto/N takes i from the scheduler's variables
			s, err := a.shard(fl.Value.String())
			if err != nil {
				return nil, err
			}
			v = s.String()
		}
		m := map[string]any{}
		cur := m
		parts := strings.Split(f.Key, ".")
		for _, p := range parts[:len(parts)-1] {
			next := map[string]any{}
			cur[p] = next
			cur = next
		}
		cur[parts[len(parts)-1]] = v
		if err := stage.Decode(m, cfg); err != nil {
			return nil, usageError{fmt.Errorf("--%s: %w", f.Name, err)}
		}
	}
	return cfg, nil
}

// jobEnv is the environment every job runs in from the CLI.
func (a *app) jobEnv(ctx context.Context, cmd *cobra.Command) (*stage.Env, error) {
	l, r, err := a.openLake(ctx, false)
	if err != nil {
		return nil, err
	}
	return a.stageEnv(l, r, cmd), nil
}

// stageEnv is the environment of a job on an open lake, with the services
// of a's configuration.
func (a *app) stageEnv(l *lake.Lake, r root, cmd *cobra.Command) *stage.Env {
	env := &stage.Env{Lake: l, CodeVersion: codeVersion(), Author: a.cfg.Author,
		Logger: a.logger, Clock: a.now, Services: &cliServices{a: a, r: r, cmd: cmd}}
	if f := cmd.Flags().Lookup("on-duplicate"); f != nil {
		if v, ok := f.Value.(*onDuplicateFlag); ok {
			env.OnDuplicate = v.mode
		}
	}
	env.Progress = func(job string) stage.Progress {
		if a.stderrIsTTY {
			return barProgress{progress.New(a.stderr, true, job, 0, a.now).Items()}
		}
		return lineProgress{progress.NewLines(a.logger, job, progressInterval(a.getenv), a.now)}
	}
	return env
}

// progressInterval is how often a long stage logs a progress line when
// stderr is not a terminal: SWELAKE_PROGRESS_INTERVAL (a duration), else
// 10s.
func progressInterval(getenv func(string) string) time.Duration {
	if d, err := time.ParseDuration(getenv("SWELAKE_PROGRESS_INTERVAL")); err == nil && d > 0 {
		return d
	}
	return 10 * time.Second
}

type barProgress struct{ b *progress.Bar }

func (p barProgress) Set(done, total int) {
	p.b.SetTotal(int64(total))
	p.b.Set(int64(done))
}
func (p barProgress) Finish() { p.b.Finish() }

type lineProgress struct{ l *progress.Lines }

func (p lineProgress) Set(done, total int) { p.l.Set(int64(done), int64(total)) }
func (p lineProgress) Finish()             { p.l.Finish() }

// cliServices are the sandbox backend and model endpoints of the CLI's
// configuration, built when a job first asks.
type cliServices struct {
	a   *app
	r   root
	cmd *cobra.Command

	once    sync.Once
	backend exec.Backend
	err     error
}

// Specs implements stage.SpecsService: the configured specs file.
func (s *cliServices) Specs() (taskenv.Specs, error) { return taskenv.Load(s.a.cfg.Sandbox.Specs) }

func (s *cliServices) Sandbox(ctx context.Context) (exec.Backend, string, error) {
	s.once.Do(func() { s.backend, s.err = s.a.execBackend(s.r) })
	return s.backend, s.a.cfg.Sandbox.ReposDir, s.err
}

func (s *cliServices) Endpoint(name string) (stage.Endpoint, error) {
	var p PolicyConfig
	switch name {
	case "policy":
		p = s.a.cfg.Policy
	case "verifier":
		p = s.a.cfg.Verifier
	default:
		return stage.Endpoint{}, fmt.Errorf("endpoint %q: %w", name, stage.ErrNoService)
	}
	if p.BaseURL == "" || p.Model == "" {
		return stage.Endpoint{}, fmt.Errorf("%w: no %s endpoint: set %s.base_url and %s.model (e.g. --set %s.base_url=http://127.0.0.1:8000/v1 --set %s.model=Qwen/Qwen2.5-Coder-32B-Instruct), or run `swelake policy serve --scripted` for a dry run", stage.ErrNoService, name, name, name, name, name)
	}
	c, err := s.a.endpointClient(name, p)
	if err != nil {
		return stage.Endpoint{}, err
	}
	return stage.Endpoint{Client: c, Model: p.Model, BaseURL: p.BaseURL}, nil
}

func (s *cliServices) Tokenizer(jobValue string) string { return s.a.tokenizerDir(s.cmd, jobValue) }

// onDuplicateFlag is --on-duplicate: what a commit does with rows whose keys
// the table already holds (refuse or skip); a bad value is a usage error.
type onDuplicateFlag struct{ mode lake.OnDuplicate }

func (f *onDuplicateFlag) String() string { return f.mode.String() }
func (f *onDuplicateFlag) Type() string   { return "refuse|skip" }
func (f *onDuplicateFlag) Set(s string) (err error) {
	f.mode, err = lake.ParseOnDuplicate(s)
	return err
}

const onDuplicateUsage = "rows whose keys the table already holds: refuse (fail the commit, the default) or skip (commit only new keys)"
