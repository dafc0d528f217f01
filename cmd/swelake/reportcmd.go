package main

import (
	"github.com/spf13/cobra"

	"github.com/swelake/swelake/jobs/report"
)

// newReportCmd is `swelake report <out-dir>`: the report job.
func newReportCmd(a *app) *cobra.Command {
	c := newJobCmd(a, report.Job)
	c.Use = "report <out-dir>"
	return c
}
