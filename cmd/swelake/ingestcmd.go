package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/jobs/ingest"
	"github.com/swelake/swelake/jobs/ingest/formats"
)

func newIngestCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "ingest tasks|rollouts|reports --format <fmt> <path...>",
		Short: "Import public task sets, trajectories and grading reports into tasks, rollouts and evaluations",
		Long: `Reads files, directories (walked for .json, .jsonl, .ndjson, .parquet, .traj,
.log, optionally .gz/.zst) and globs in any supported format, maps them to one
schema and commits them as one append. --format auto detects each file's
format from its content; a file that matches no format, or several, is an
error naming the candidates.

A record that cannot be read goes to the quarantine table with its file,
line or offset, the reason and its raw bytes; the rest is ingested. Rows
already in the table are skipped (duplicates); a row whose id is in the table
with other content is quarantined as a conflict, never overwritten. The
summary counts read, ingested, duplicates, conflicts, quarantined and
repaired (invalid UTF-8 replaced with U+FFFD; raw keeps the original bytes).
The exit code is non-zero only with --strict.

Formats (docs/formats.md has an example for each):
` + formatList(),
		Example: `  swelake ingest tasks --format auto swe-bench-verified.parquet swe-rebench.json
  swelake ingest rollouts --format swe-agent --run-id sweagent-gpt4 trajectories/
  swelake ingest reports --format auto logs/run_evaluation/ --json`,
	}
	for _, kind := range []formats.Kind{formats.Tasks, formats.Rollouts, formats.Reports} {
		c.AddCommand(newIngestKindCmd(a, kind))
	}
	return c
}

func formatList() string {
	var b strings.Builder
	for _, f := range formats.All() {
		auto := ""
		if !f.HasDetector() {
			auto = " (name it: not auto-detected)"
		}
		fmt.Fprintf(&b, "  %-9s %-22s %s%s\n", f.Kind, f.Name, firstSentence(f.Doc), auto)
	}
	return b.String()
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i > 0 {
		return s[:i]
	}
	return s
}

func newIngestKindCmd(a *app, kind formats.Kind) *cobra.Command {
	var cfg ingest.Config
	c := &cobra.Command{
		Use:   string(kind) + " <path...>",
		Short: fmt.Sprintf("Ingest %s (see swelake ingest --help for the formats)", kind),
		Args:  usage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg.Kind, cfg.Paths = kind, args
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			l, r, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			cfg.CacheDir = cacheDir(a.cfg, r)
			cfg.Logger, cfg.Clock = a.logger, a.now
			start := a.now()
			sum, err := ingest.Run(ctx, l, cfg)
			if err != nil && !errors.Is(err, ingest.ErrStrict) {
				return err
			}
			a.logger.Info("ingested", "table", sum.Table, "version", sum.Version, "read", sum.Read, "ingested", sum.Ingested,
				"duplicates", sum.Duplicates, "conflicts", sum.Conflicts, "quarantined", sum.Quarantined,
				"repaired", sum.Repaired, "elapsed", a.now().Sub(start).Round(time.Millisecond))
			if a.json {
				if perr := a.printJSON(sum); perr != nil {
					return perr
				}
			} else {
				where := "nothing new to commit"
				if sum.Version >= 0 {
					where = fmt.Sprintf("committed %s@%d", sum.Table, sum.Version)
				}
				fmt.Fprintf(a.stdout, "%s: read %d, ingested %d, duplicates %d, conflicts %d, quarantined %d, repaired %d (%d %s: %s)\n",
					where, sum.Read, sum.Ingested, sum.Duplicates, sum.Conflicts, sum.Quarantined, sum.Repaired, sum.Files, plural(sum.Files, "file"), formatCounts(sum.Formats))
				for _, f := range sum.Skipped {
					fmt.Fprintf(a.stdout, "skipped (not a %s format): %s\n", kind, f)
				}
				if len(sum.Statuses) > 0 {
					fmt.Fprintf(a.stdout, "statuses: %s\n", formatCounts(sum.Statuses))
				}
				if sum.Quarantine >= 0 {
					fmt.Fprintf(a.stdout, "quarantine@%d holds the rejected rows: swelake sql \"SELECT source_file, line, reason FROM quarantine WHERE job = 'ingest-%s'\"\n", sum.Quarantine, kind)
				}
			}
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Format, "format", "auto", "input format, or auto to detect each file's")
	f.StringVar(&cfg.Options.RunID, "run-id", "", "run id of the rollouts or evaluations (default: from the input, else its directory)")
	f.StringVar(&cfg.Options.Policy, "policy", "", "policy (model) of the rollouts (default: from the input where it says)")
	f.StringVar(&cfg.Options.TaskSource, "task-source", "", "namespace of the task ids rollouts and reports refer to, e.g. swe-bench (default: guessed from the instance id)")
	f.StringVar(&cfg.Options.Source, "source", "", "tasks: namespace the task ids with this source instead of the format's")
	f.BoolVar(&cfg.Strict, "strict", false, "exit non-zero if any row was quarantined")
	var maxRecord string
	f.StringVar(&maxRecord, "max-record-size", "64MiB", "largest record (a line, an array element, a whole file of a file format) read; a larger one is quarantined, never held in memory")
	c.PreRunE = func(cmd *cobra.Command, args []string) error {
		n, err := parseBytes(maxRecord)
		if err != nil {
			return usageError{fmt.Errorf("--max-record-size: %w", err)}
		}
		cfg.MaxRecordBytes = n
		return nil
	}
	return c
}

func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// plural is noun, with an s unless n is 1.
func plural[N int | int64](n N, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}
