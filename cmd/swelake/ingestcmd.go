package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/jobs/ingest"
	"github.com/swelake/swelake/jobs/stage"
)

func newIngestCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "ingest tasks|rollouts|reports --format <fmt> <path...>",
		Short: "Import public task sets, trajectories and grading reports into tasks, rollouts and evaluations",
		Long: ingest.ReadsHelp + `A record that cannot be read goes to the quarantine table with its file,
line or offset, the reason and its raw bytes; the rest is ingested. Rows
already in the table are skipped (duplicates); a row whose id is in the table
with other content is quarantined as a conflict, never overwritten. The
summary counts read, ingested, duplicates, conflicts, quarantined and
repaired (invalid UTF-8 replaced with U+FFFD; raw keeps the original bytes).
The exit code is non-zero only with --strict.

Formats (docs/formats.md has an example for each):
` + ingest.FormatList(),
		Example: `  swelake ingest tasks --format auto swe-bench-verified.parquet swe-rebench.json
  swelake ingest rollouts --format swe-agent --run-id sweagent-gpt4 trajectories/
  swelake ingest reports --format auto logs/run_evaluation/ --json`,
	}
	for _, job := range ingest.Jobs() {
		c.AddCommand(newIngestKindCmd(a, job))
	}
	return c
}

// newIngestKindCmd is `swelake ingest <kind>`: the ingest-<kind> job of
// the registry, its paths the positional arguments.
func newIngestKindCmd(a *app, job stage.Job) *cobra.Command {
	c := newJobCmd(a, job)
	kind := strings.TrimPrefix(job.Describe().Name, "ingest-")
	c.Use = kind + " <path...>"
	c.Short = fmt.Sprintf("Ingest %s (see swelake ingest --help for the formats)", kind)
	c.Long += "\n\nIn a pipeline this is the stage job " + job.Describe().Name + " with config.paths."
	return c
}
