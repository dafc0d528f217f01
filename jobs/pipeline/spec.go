// Package pipeline runs a pipeline file: stages (jobs of jobs/registry with
// their typed configs) in dependency order, incrementally — a stage whose
// run key (job, input snapshots, config hash, code version) already
// produced its outputs is skipped — under a lease that keeps two runs of one
// pipeline apart, with Prometheus metrics per run. How a stage's job is
// executed is the caller's Executor (the CLI runs each job in its own
// process's driver, in-process); this package plans, keys, records and
// measures.
package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/swelake/swelake/jobs/registry"
	"github.com/swelake/swelake/jobs/stage"
)

// Spec is a pipeline file.
type Spec struct {
	Name string `yaml:"name" json:"name"`
	// Set applies config keys to every stage (e.g. sandbox.repos_dir).
	Set map[string]any `yaml:"set" json:"set,omitempty"`
	// Policy "scripted" serves the scripted stand-in policy (and verifier)
	// on 127.0.0.1 for the stages that need one; "" uses policy.base_url.
	Policy string `yaml:"policy" json:"policy,omitempty"`
	// Slurm is how stages are submitted with --executor slurm (defaults
	// for every stage; a stage's slurm: overrides them key by key).
	Slurm SlurmResources `yaml:"slurm" json:"slurm,omitempty"`
	// Kubernetes is what swelake k8s manifests writes the pipeline's
	// objects with (flags override it).
	Kubernetes KubeSettings `yaml:"kubernetes" json:"kubernetes,omitempty"`
	Stages     []Stage      `yaml:"stages" json:"stages"`
}

// KubeSettings are the pipeline's Kubernetes objects' settings.
type KubeSettings struct {
	Image          string `yaml:"image" json:"image,omitempty"`
	Namespace      string `yaml:"namespace" json:"namespace,omitempty"`
	Schedule       string `yaml:"schedule" json:"schedule,omitempty"`   // the CronJob's (cron syntax); none: no CronJob
	TimeZone       string `yaml:"time_zone" json:"time_zone,omitempty"` // e.g. Europe/Paris (default the controller's, UTC)
	Secret         string `yaml:"secret" json:"secret,omitempty"`       // the Secret with the lake's access_key and secret_key (default swelake-s3)
	ServiceAccount string `yaml:"service_account" json:"service_account,omitempty"`
	KubeResources  `yaml:",inline" json:",inline"`
}

// KubeResources are a pod's requests (the pipeline's, or a stage's over them).
type KubeResources struct {
	CPU    string `yaml:"cpu" json:"cpu,omitempty"`       // e.g. "4"
	Memory string `yaml:"memory" json:"memory,omitempty"` // e.g. 8Gi
	// Parallelism: how many of a sharded stage's pods run at once (default all).
	Parallelism int `yaml:"parallelism" json:"parallelism,omitempty"`
}

// SlurmResources are a stage's sbatch resources under --executor slurm.
type SlurmResources struct {
	Partition   string   `yaml:"partition" json:"partition,omitempty"`
	CPUsPerTask int      `yaml:"cpus_per_task" json:"cpus_per_task,omitempty"`
	Mem         string   `yaml:"mem" json:"mem,omitempty"`   // e.g. 16G
	Time        string   `yaml:"time" json:"time,omitempty"` // e.g. 04:00:00
	Extra       []string `yaml:"sbatch_args" json:"sbatch_args,omitempty"`
}

// Merge is r with o's set keys over it.
func (r SlurmResources) Merge(o SlurmResources) SlurmResources {
	if o.Partition != "" {
		r.Partition = o.Partition
	}
	if o.CPUsPerTask > 0 {
		r.CPUsPerTask = o.CPUsPerTask
	}
	if o.Mem != "" {
		r.Mem = o.Mem
	}
	if o.Time != "" {
		r.Time = o.Time
	}
	r.Extra = append(append([]string(nil), r.Extra...), o.Extra...)
	return r
}

// Args are the sbatch flags of the resources.
func (r SlurmResources) Args() []string {
	var a []string
	if r.Partition != "" {
		a = append(a, "--partition="+r.Partition)
	}
	if r.CPUsPerTask > 0 {
		a = append(a, fmt.Sprintf("--cpus-per-task=%d", r.CPUsPerTask))
	}
	if r.Mem != "" {
		a = append(a, "--mem="+r.Mem)
	}
	if r.Time != "" {
		a = append(a, "--time="+r.Time)
	}
	return append(a, r.Extra...)
}

// Stage is one job of a pipeline.
type Stage struct {
	Name string `yaml:"name" json:"name"`
	Job  string `yaml:"job" json:"job"`
	// Config is the job's configuration (its keys as under its section of
	// swelake.yaml), decoded into the job's typed config; Set any other
	// keys of swelake.yaml (sandbox.repos_dir, policy.model, …).
	Config map[string]any `yaml:"config" json:"config,omitempty"`
	Set    map[string]any `yaml:"set" json:"set,omitempty"`
	// Args was a list of extra command-line flags when stages ran as
	// child processes; each is now a config key (an error says which).
	Args []string `yaml:"args" json:"-"`
	// Inputs and Outputs are the tables the stage reads and writes
	// (defaults per job); After adds explicit dependencies.
	Inputs  []string `yaml:"inputs" json:"inputs"`
	Outputs []string `yaml:"outputs" json:"outputs"`
	After   []string `yaml:"after" json:"after,omitempty"`
	// Shards splits a stage whose job shards (validate-tasks, rollout,
	// evaluate, verify) into this many shards (default 1: whole), each
	// recorded when done: in process they run one after another, with
	// --executor slurm as an array job, on Kubernetes as an indexed Job
	// (swelake k8s manifests); a rerun runs only the missing ones.
	// Slurm and Kubernetes: the stage's resources over the pipeline's.
	Shards     int            `yaml:"shards" json:"shards,omitempty"`
	Slurm      SlurmResources `yaml:"slurm" json:"slurm,omitempty"`
	Kubernetes KubeResources  `yaml:"kubernetes" json:"kubernetes,omitempty"`
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ErrSpec marks an invalid pipeline file.
var ErrSpec = errors.New("invalid pipeline")

// Load reads and checks a pipeline file.
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse reads a pipeline file's content (unknown keys are errors) and
// fills each stage's default inputs and outputs.
func Parse(name string, data []byte) (*Spec, error) {
	var s Spec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrSpec, name, err)
	}
	if !validName.MatchString(s.Name) {
		return nil, fmt.Errorf("%w %s: name %q: want lower-case letters, digits, - or _", ErrSpec, name, s.Name)
	}
	if s.Policy != "" && s.Policy != "scripted" {
		return nil, fmt.Errorf("%w %s: policy %q: want scripted or nothing (then policy.base_url is used)", ErrSpec, name, s.Policy)
	}
	if len(s.Stages) == 0 {
		return nil, fmt.Errorf("%w %s: no stages", ErrSpec, name)
	}
	seen := map[string]bool{}
	for i := range s.Stages {
		st := &s.Stages[i]
		if st.Name == "" {
			st.Name = st.Job
		}
		job, ok := registry.Find(st.Job)
		switch {
		case !ok:
			return nil, fmt.Errorf("%w %s: stage %q: unknown job %q (jobs: %s)", ErrSpec, name, st.Name, st.Job, strings.Join(jobNames(), ", "))
		case len(st.Args) > 0:
			return nil, fmt.Errorf("%w %s: stage %q: args: stages take config keys, not flags (e.g. build-sft: config: {out_dir: sft, exports: [openai], pack_length: 8192}; see swelake run %s --help)", ErrSpec, name, st.Name, st.Job)
		case !validName.MatchString(st.Name):
			return nil, fmt.Errorf("%w %s: stage name %q: want lower-case letters, digits, - or _", ErrSpec, name, st.Name)
		case seen[st.Name]:
			return nil, fmt.Errorf("%w %s: two stages named %q", ErrSpec, name, st.Name)
		}
		seen[st.Name] = true
		info := job.Describe()
		if st.Shards < 0 {
			return nil, fmt.Errorf("%w %s: stage %q (%s): shards: %d: want a count of 1 or more", ErrSpec, name, st.Name, st.Job, st.Shards)
		}
		if st.Shards > 1 && !Shardable(info) {
			return nil, fmt.Errorf("%w %s: stage %q (%s): shards: %d: only validate-tasks, rollout, evaluate and verify shard", ErrSpec, name, st.Name, st.Job, st.Shards)
		}
		if st.Inputs == nil {
			st.Inputs = info.Inputs
		}
		if st.Outputs == nil {
			st.Outputs = info.Outputs
		}
		if info.ReadsFiles && len(Paths(*st)) == 0 {
			return nil, fmt.Errorf("%w %s: stage %q (%s) needs config.paths: the files or directories to read", ErrSpec, name, st.Name, st.Job)
		}
		// The stage's config, decoded into the job's typed config now: an
		// unknown key or a bad value fails the file, before anything runs.
		cfg := job.NewConfig()
		if err := stage.Decode(st.Config, cfg); err != nil {
			return nil, fmt.Errorf("%w %s: stage %q (%s): config: %v", ErrSpec, name, st.Name, st.Job, err)
		}
		if err := job.ValidateAny(cfg); err != nil {
			msg := strings.TrimPrefix(err.Error(), st.Job+": ")
			return nil, fmt.Errorf("%w %s: stage %q (%s): config: %s", ErrSpec, name, st.Name, st.Job, strings.TrimPrefix(msg, stage.ErrConfig.Error()+": "))
		}
	}
	for _, st := range s.Stages {
		for _, a := range st.After {
			if !seen[a] {
				return nil, fmt.Errorf("%w %s: stage %q runs after %q, which is not a stage", ErrSpec, name, st.Name, a)
			}
		}
	}
	if _, err := s.Order(); err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrSpec, name, err)
	}
	return &s, nil
}

// Shardable: the job takes --shard (its work splits by task).
func Shardable(info stage.Info) bool {
	return slices.ContainsFunc(info.Flags, func(f stage.Flag) bool { return f.Name == "shard" })
}

// ShardCount is how many shards the stage runs as (1: whole).
func (st Stage) ShardCount() int {
	if job, ok := registry.Find(st.Job); ok && st.Shards > 1 && Shardable(job.Describe()) {
		return st.Shards
	}
	return 1
}

func jobNames() []string {
	var out []string
	for _, j := range registry.Jobs() {
		out = append(out, j.Describe().Name)
	}
	return out
}

// deps returns, per stage, the stages it depends on: the other stages that
// write a table it reads, and those named in After.
func (s *Spec) deps() map[string][]string {
	out := map[string][]string{}
	for _, st := range s.Stages {
		var d []string
		for _, prev := range s.Stages {
			if prev.Name == st.Name {
				continue
			}
			for _, in := range st.Inputs {
				if slices.Contains(prev.Outputs, in) && !slices.Contains(d, prev.Name) {
					d = append(d, prev.Name)
				}
			}
		}
		for _, a := range st.After {
			if !slices.Contains(d, a) {
				d = append(d, a)
			}
		}
		out[st.Name] = d
	}
	return out
}

// Order is the stages in dependency order (file order among independent
// stages); a cycle is an error.
func (s *Spec) Order() ([]Stage, error) {
	deps := s.deps()
	done := map[string]bool{}
	var out []Stage
	for len(out) < len(s.Stages) {
		progressed := false
		for _, st := range s.Stages {
			if done[st.Name] {
				continue
			}
			ready := true
			for _, d := range deps[st.Name] {
				ready = ready && done[d]
			}
			if ready { // the first ready stage in file order, then look again
				done[st.Name], progressed = true, true
				out = append(out, st)
				break
			}
		}
		if !progressed {
			var stuck []string
			for _, st := range s.Stages {
				if !done[st.Name] {
					stuck = append(stuck, st.Name)
				}
			}
			return nil, fmt.Errorf("dependency cycle among stages %s (each reads a table another writes; set inputs: explicitly)", strings.Join(stuck, ", "))
		}
	}
	return out, nil
}

// Select returns the ordered stages from `from` through `to` ("" : the
// first / the last).
func (s *Spec) Select(from, to string) ([]Stage, error) {
	order, err := s.Order()
	if err != nil {
		return nil, err
	}
	lo, hi := 0, len(order)-1
	find := func(name string) (int, error) {
		for i, st := range order {
			if st.Name == name {
				return i, nil
			}
		}
		var names []string
		for _, st := range order {
			names = append(names, st.Name)
		}
		return 0, fmt.Errorf("no stage %q (stages: %s)", name, strings.Join(names, ", "))
	}
	if from != "" {
		if lo, err = find(from); err != nil {
			return nil, err
		}
	}
	if to != "" {
		if hi, err = find(to); err != nil {
			return nil, err
		}
	}
	if lo > hi {
		return nil, fmt.Errorf("--from %s comes after --to %s", from, to)
	}
	return order[lo : hi+1], nil
}

// Paths is a file-reading stage's config.paths (a string or a list).
func Paths(st Stage) []string {
	switch v := st.Config["paths"].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, p := range v {
			out = append(out, fmt.Sprint(p))
		}
		return out
	}
	return nil
}
