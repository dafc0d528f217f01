// Package registry lists swelake's jobs: the one place a job is added. The
// CLI's `swelake run <job>` commands, `swelake pipeline run`, --help and
// docs/cli.md's job sections are all read from this list.
package registry

import (
	"github.com/swelake/swelake/jobs/analysis"
	"github.com/swelake/swelake/jobs/buildrl"
	"github.com/swelake/swelake/jobs/buildsft"
	"github.com/swelake/swelake/jobs/curate"
	"github.com/swelake/swelake/jobs/evaluate"
	"github.com/swelake/swelake/jobs/ingest"
	"github.com/swelake/swelake/jobs/publish"
	"github.com/swelake/swelake/jobs/report"
	"github.com/swelake/swelake/jobs/rliterate"
	"github.com/swelake/swelake/jobs/rollout"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/jobs/synthtasks"
	"github.com/swelake/swelake/jobs/validatetasks"
	"github.com/swelake/swelake/jobs/verify"
)

// Jobs are the jobs, in pipeline order.
func Jobs() []stage.Job {
	return append(ingest.Jobs(),
		synthtasks.Job,
		validatetasks.Job,
		rollout.Job,
		evaluate.Job,
		curate.Job,
		buildsft.Job,
		buildrl.Job,
		rliterate.Job,
		verify.Job,
		analysis.Job,
		report.Job,
		publish.Job,
	)
}

// Find returns a job by name.
func Find(name string) (stage.Job, bool) { return stage.Find(Jobs(), name) }
