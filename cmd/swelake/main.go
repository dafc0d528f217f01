// Command swelake is the data side of training software-engineering agents:
// a lake of Parquet tables with atomic commits on local disk or S3, queried
// with DuckDB. Run `swelake --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/trainer/tokenizer"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		getenv: os.Getenv, now: time.Now,
		stderrIsTTY: term.IsTerminal(int(os.Stderr.Fd())),
	})
	stop()
	os.Exit(code)
}

// env is everything the commands take from the process: injected, so that
// tests run the CLI in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time
	stderrIsTTY    bool
}

// app is the state shared by the commands of one invocation.
type app struct {
	env
	cfg    Config
	json   bool
	logger *slog.Logger
}

// usageError marks errors in the command line (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func run(ctx context.Context, args []string, e env) int {
	a := &app{env: e}
	root := newRoot(a)
	root.SetArgs(args)
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec) // a sandboxed command's own status: nothing to add
	}
	msg := oneLine(err.Error())
	if errors.Is(err, tokenizer.ErrNoTokenizer) {
		msg += " (pass --tokenizer <dir> or set SWELAKE_TOKENIZER to a directory holding the model's tokenizer.json and tokenizer_config.json; the default, Qwen2.5's, is installed by make deps in the swelake checkout)"
	}
	fmt.Fprintf(e.stderr, "swelake: %s\n", msg)
	var ue usageError
	// cobra reports an unknown subcommand with a plain error.
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") {
		return 2
	}
	return 1
}

// exitCode makes the process exit with a command's status (swelake
// sandbox run).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// usage wraps a positional-argument check so that its errors are usage errors.
func usage(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// strictGroups makes every command that only groups subcommands (lake,
// run, ingest, pipeline, …) refuse what is not one of them: exit 2 with
// the closest names ("unknown command "curat" for "swelake run"; did you
// mean curate?"), instead of printing help and exiting 0 as cobra does
// for a group without a Run. Without a subcommand it prints the help on
// stderr and exits 2.
func strictGroups(c *cobra.Command) {
	for _, sub := range c.Commands() {
		strictGroups(sub)
	}
	if !c.HasSubCommands() || c.Run != nil || c.RunE != nil {
		return
	}
	c.SuggestionsMinimumDistance = 2
	c.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		} else {
			msg += fmt.Sprintf(" (see %s --help)", cmd.CommandPath())
		}
		return usageError{errors.New(msg)}
	}
	c.RunE = func(cmd *cobra.Command, _ []string) error {
		cmd.SetOut(cmd.ErrOrStderr())
		cmd.Help()
		return usageError{fmt.Errorf("%s needs a subcommand", cmd.CommandPath())}
	}
}

// oneLine folds a multi-line error (DuckDB's, say) into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func codeVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// versionLine is what --version prints: the build and what it is made
// of, for bug reports and for reading a commit's code_version.
func versionLine() string {
	rev, when, dirty := "", "", false
	goVersion, duck := runtime.Version(), ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, st := range bi.Settings {
			switch st.Key {
			case "vcs.revision":
				rev = st.Value
			case "vcs.time":
				when = st.Value
			case "vcs.modified":
				dirty = st.Value == "true"
			}
		}
		for _, d := range bi.Deps {
			if d.Path == "github.com/duckdb/duckdb-go/v2" {
				duck = d.Version
			}
		}
	}
	var parts []string
	if rev != "" {
		c := "commit " + rev[:min(12, len(rev))]
		if dirty {
			c += "+changes"
		}
		if when != "" {
			c += " of " + when
		}
		parts = append(parts, c)
	}
	parts = append(parts, goVersion, fmt.Sprintf("lake format %d", lake.FormatVersion))
	if duck != "" {
		parts = append(parts, "duckdb-go "+duck)
	}
	return fmt.Sprintf("swelake %s (%s)\n", codeVersion(), strings.Join(parts, ", "))
}

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "swelake",
		Short: "The data side of training SWE agents: a Parquet lake with atomic commits, lineage and SQL",
		Long: `swelake keeps the data of SWE-agent training — tasks, rollouts, curated SFT
sets, RL batches — as Parquet tables in a lake on local disk or S3/MinIO, with
atomic commits, pinned snapshots (table@version), provenance and sha256 of
every file, and DuckDB SQL over any snapshot.

Configuration, in rising precedence: swelake.yaml (or --config), SWELAKE_*
environment variables (SWELAKE_LAKE, SWELAKE_S3_ENDPOINT, ...), flags.
S3 credentials fall back to AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_REGION and AWS_ENDPOINT_URL_S3.`,
		Version:       codeVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd.Flags(), a.getenv)
			if err != nil {
				return err
			}
			a.cfg = cfg
			if err := a.setMemoryLimit(); err != nil {
				return err
			}
			return a.initLogger()
		},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.String("lake", "./lake", "lake root: a directory, file://dir or s3://bucket/prefix (env SWELAKE_LAKE)")
	pf.String("config", "", "config file (default ./swelake.yaml if it exists)")
	pf.String("log-level", "info", "log level: debug, info, warn, error (env SWELAKE_LOG_LEVEL)")
	pf.BoolVar(&a.json, "json", false, "print machine-readable JSON on stdout")
	root.AddCommand(newLakeCmd(a), newSQLCmd(a), newIngestCmd(a), newRunCmd(a), newSandboxCmd(a), newEnvCmd(a), newPolicyCmd(a), newReportCmd(a), newRLCmd(a), newPipelineCmd(a), newExportCmd(a), newGradeCmd(a), newK8sCmd(a))
	strictGroups(root)
	root.SetVersionTemplate(versionLine())
	return root
}

// setMemoryLimit applies memory_limit as the runtime's soft limit, so that
// long ingests stay within it (the GC works harder near it) unless the
// environment already set GOMEMLIMIT.
func (a *app) setMemoryLimit() error {
	if a.getenv("GOMEMLIMIT") != "" || a.cfg.MemoryLimit == "" || a.cfg.MemoryLimit == "off" {
		return nil
	}
	n, err := parseBytes(a.cfg.MemoryLimit)
	if err != nil {
		return fmt.Errorf("config memory_limit: %w", err)
	}
	debug.SetMemoryLimit(n)
	return nil
}

func (a *app) initLogger() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.cfg.LogLevel)); err != nil {
		return fmt.Errorf("log level %q: want debug, info, warn or error", a.cfg.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch a.cfg.LogFormat {
	case "json":
		a.logger = slog.New(slog.NewJSONHandler(a.stderr, opts))
	case "text", "":
		a.logger = slog.New(slog.NewTextHandler(a.stderr, opts))
	default:
		return fmt.Errorf("log format %q: want text or json", a.cfg.LogFormat)
	}
	return nil
}

// openLake opens the configured lake; unless create, it must be initialized.
func (a *app) openLake(ctx context.Context, create bool) (*lake.Lake, root, error) {
	b, r, err := openBucket(a.cfg, create)
	if err != nil {
		return nil, r, err
	}
	// The cache directory is decided once, here, from the root, and the
	// lake owns it: every reader goes through the lake's verified cache,
	// never "" (which made readers cache into the working directory).
	a.cfg.CacheDir = cacheDir(a.cfg, r)
	l := lake.Open(b, lake.Options{Logger: a.logger, Clock: a.now, CodeVersion: codeVersion(), Author: a.cfg.Author, CacheDir: a.cfg.CacheDir})
	if !create {
		if err := l.CheckInitialized(ctx); err != nil {
			return nil, r, err
		}
	}
	return l, r, nil
}

// printJSON writes v as indented JSON on stdout.
func (a *app) printJSON(v any) error {
	enc := jsonEncoder(a.stdout)
	return enc.Encode(v)
}
