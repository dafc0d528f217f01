package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/swelake/swelake/internal/units"
	"github.com/swelake/swelake/jobs/ingest/formats"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/schemas"
)

// JobConfig is the typed config of the ingest jobs (ingest-tasks,
// ingest-rollouts, ingest-reports).
type JobConfig struct {
	Format string   `json:"format" mapstructure:"format"` // a format name, or auto
	Paths  []string `json:"paths" mapstructure:"paths"`   // files, directories, globs
	// Options name what the input leaves unsaid.
	RunID      string `json:"run_id,omitempty" mapstructure:"run_id"`
	Policy     string `json:"policy,omitempty" mapstructure:"policy"`
	TaskSource string `json:"task_source,omitempty" mapstructure:"task_source"`
	Source     string `json:"source,omitempty" mapstructure:"source"`
	// Strict makes any quarantined row or conflict an error.
	Strict bool `json:"strict" mapstructure:"strict"`
	// MaxRecordSize bounds one record ("64MiB"): a larger one is
	// quarantined, never held in memory.
	MaxRecordSize string `json:"max_record_size,omitempty" mapstructure:"max_record_size"`
}

// JobSummary is what an ingest job prints.
type JobSummary struct {
	stage.Outcome
	Summary
}

// Jobs are the three ingest jobs, one per kind.
func Jobs() []stage.Job {
	return []stage.Job{TasksJob, RolloutsJob, ReportsJob}
}

// The ingest jobs.
var (
	TasksJob    = newJob(formats.Tasks, schemas.Tasks.Name)
	RolloutsJob = newJob(formats.Rollouts, schemas.Rollouts.Name)
	ReportsJob  = newJob(formats.Reports, schemas.Evaluations.Name)
)

// ReadsHelp says what ingest reads and how it picks a format (the help of
// swelake ingest and of each ingest job).
const ReadsHelp = `Reads files, directories (walked for .json, .jsonl, .ndjson, .parquet, .traj,
.log, .txt, optionally .gz/.zst, and .tar.gz/.tgz archives, streamed) and
globs in any supported format, maps them to one schema and commits them as
one append. Each format is known by its signature, the keys its records
always have and never have: auto scores every format against a file's first
record and refuses a file that matches two equally or one only in part,
naming the candidates and the keys; a named --format is held to the same
signature; a record of a shape its format does not describe is quarantined
with the reason, never read as a thinner row.

`

// FormatList lists the formats for --help.
func FormatList() string { return formatListOf("") }

// formatListOf lists the formats of one kind ("": every kind).
func formatListOf(kind formats.Kind) string {
	var b strings.Builder
	for _, f := range formats.All() {
		if kind != "" && f.Kind != kind {
			continue
		}
		auto := ""
		if !f.HasDetector() {
			auto = " (name it: not auto-detected)"
		}
		fmt.Fprintf(&b, "  %-9s %-27s %s%s\n", f.Kind, f.Name, firstSentence(f.Doc), auto)
	}
	return b.String()
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i > 0 {
		return s[:i]
	}
	return s
}

func newJob(kind formats.Kind, table string) *stage.Def[JobConfig, JobSummary] {
	name := "ingest-" + string(kind)
	return &stage.Def[JobConfig, JobSummary]{
		Info: stage.Info{Name: name,
			Short: fmt.Sprintf("Import %s in any supported public format into %s", kind, table),
			Long: ReadsHelp + `A record that cannot be read goes to the quarantine table with its file,
line or offset, the reason and its raw bytes; rows already in the table are
skipped (duplicates); a row whose id is in the table with other content is
quarantined as a conflict, never overwritten. It runs every time (it
deduplicates against the table as it is), and is the job behind swelake
ingest ` + string(kind) + `.

Formats (docs/formats.md has the datasets, and an example for each):
` + formatListOf(kind),
			Example:    "  swelake ingest " + string(kind) + " --format auto <path...>",
			Outputs:    []string{table, schemas.Quarantine.Name},
			ReadsFiles: true,
			ArgsKey:    "paths",
			Flags: []stage.Flag{
				{Name: "format", Key: "format", Usage: "input format, or auto to detect each file's"},
				{Name: "run-id", Key: "run_id", Usage: "run id of the rollouts or evaluations (default: from the input, else its directory)"},
				{Name: "policy", Key: "policy", Usage: "policy (model) of the rollouts (default: from the input where it says)"},
				{Name: "task-source", Key: "task_source", Usage: "namespace of the task ids rollouts and reports refer to, e.g. swe-bench (default: guessed from the instance id)"},
				{Name: "source", Key: "source", Usage: "tasks: namespace the task ids with this source instead of the format's"},
				{Name: "strict", Key: "strict", Usage: "exit non-zero if any row was quarantined"},
				{Name: "max-record-size", Key: "max_record_size", Usage: "largest record (a line, an array element, a whole file of a file format) read; a larger one is quarantined, never held in memory (default 64MiB)"},
			},
		},
		Defaults: func() JobConfig { return JobConfig{Format: "auto", MaxRecordSize: "64MiB"} },
		Validate: func(c *JobConfig) error {
			if _, err := units.ParseBytes(c.MaxRecordSize); err != nil {
				return fmt.Errorf("max_record_size: %w", err)
			}
			return c.engine(kind, 0).Validate()
		},
		Plan: func(ctx context.Context, env *stage.Env, c *JobConfig) (stage.Plan, error) {
			files, err := expand(c.Paths)
			if err != nil {
				return stage.Plan{}, fmt.Errorf("%s: %w", name, err)
			}
			p := stage.Plan{IDPrefix: name}
			for _, f := range files { // the files as they are now: names, sizes, modification times
				info, err := os.Stat(f.path)
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					return p, fmt.Errorf("%s: %w", name, err)
				}
				if err == nil {
					p.Identity = append(p.Identity, fmt.Sprintf("file:%s:%d:%d", f.path, info.Size(), info.ModTime().UnixNano()))
				}
			}
			slices.Sort(p.Identity)
			return p, nil
		},
		AlwaysRun: true,
		Run: func(ctx context.Context, r *stage.Run[JobConfig]) (JobSummary, error) {
			n, _ := units.ParseBytes(r.Config.MaxRecordSize)
			cfg := r.Config.engine(kind, n)
			cfg.Logger, cfg.Clock = r.Env.Logger, r.Env.Clock
			sum, err := Run(ctx, r.Env.Lake, cfg)
			if errors.Is(err, ErrStrict) {
				err = &stage.SoftError{Err: err}
			}
			if sum.Version >= 0 {
				r.Committed(table, sum.Version)
			}
			if sum.Quarantine >= 0 {
				r.Committed(schemas.Quarantine.Name, sum.Quarantine)
			}
			return JobSummary{Summary: sum}, err
		},
		Print: func(w io.Writer, s *JobSummary) error { return s.Print(w, kind) },
	}
}

// engine is the ingest engine's config of a job config.
func (c *JobConfig) engine(kind formats.Kind, maxRecord int64) Config {
	return Config{Kind: kind, Format: c.Format, Paths: c.Paths, Strict: c.Strict, MaxRecordBytes: maxRecord,
		Options: formats.Options{RunID: c.RunID, Policy: c.Policy, TaskSource: c.TaskSource, Source: c.Source}}
}

// Print renders a summary for people.
func (sum *Summary) Print(w io.Writer, kind formats.Kind) error {
	where := "nothing new to commit"
	if sum.Version >= 0 {
		where = fmt.Sprintf("committed %s@%d", sum.Table, sum.Version)
	}
	files := "files"
	if sum.Files == 1 {
		files = "file"
	}
	fmt.Fprintf(w, "%s: read %d, ingested %d, duplicates %d, conflicts %d, quarantined %d, repaired %d (%d %s: %s)\n",
		where, sum.Read, sum.Ingested, sum.Duplicates, sum.Conflicts, sum.Quarantined, sum.Repaired, sum.Files, files, stage.Counts(sum.Formats))
	for _, f := range sum.SkippedFiles {
		fmt.Fprintf(w, "skipped (not a %s format): %s\n", kind, f)
	}
	if len(sum.Statuses) > 0 {
		fmt.Fprintf(w, "statuses: %s\n", stage.Counts(sum.Statuses))
	}
	if sum.Quarantine >= 0 {
		fmt.Fprintf(w, "quarantine@%d holds the rejected rows: swelake sql \"SELECT source_file, line, reason FROM quarantine WHERE job = 'ingest-%s'\"\n", sum.Quarantine, kind)
	}
	return nil
}
