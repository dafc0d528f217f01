package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

// Runtime is what every job gets from its caller besides its configuration:
// where remote files are cached, what to record in provenance, and the
// injected logger and clock.
type Runtime struct {
	CacheDir    string // DuckDB's and the readers' cache of remote files
	CodeVersion string
	Author      string
	Logger      *slog.Logger     // nil: discard
	Clock       func() time.Time // nil: time.Now
}

// WithDefaults fills the logger and the clock.
func (r Runtime) WithDefaults() Runtime {
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.Clock == nil {
		r.Clock = time.Now
	}
	return r
}

// Provenance is a commit's provenance for a job of this runtime: prov with
// the code version, author and time filled in.
func (r Runtime) Provenance(prov lake.Provenance) lake.Provenance {
	prov.CodeVersion, prov.Author, prov.Time = r.CodeVersion, r.Author, r.WithDefaults().Clock().UTC()
	return prov
}

// InitTables creates the tables of this version that do not exist yet, as
// every job does before it reads or writes.
func (r Runtime) InitTables(ctx context.Context, l *lake.Lake) error {
	_, err := CreateTables(ctx, l, r.Provenance(lake.Provenance{Job: "init"}))
	return err
}

// Commit writes rows as new files of t and commits them as one append
// with prov (completed by Provenance); it returns the new version.
func Commit[T any](ctx context.Context, t *lake.Table, def schemas.Def[T], rows []T, r Runtime, prov lake.Provenance) (int64, error) {
	files, err := lake.WriteFiles(ctx, t, Spec(def), lake.Slice(rows), lake.WriteOptions{CodeVersion: r.CodeVersion})
	if err != nil {
		return -1, fmt.Errorf("write %s: %w", def.Name, err)
	}
	res, err := t.Append(ctx, files, r.Provenance(prov))
	if err != nil {
		return -1, fmt.Errorf("commit %s: %w", def.Name, err)
	}
	return res.Commit.Version, nil
}
