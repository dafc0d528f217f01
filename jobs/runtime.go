package jobs

import (
	"log/slog"
	"time"
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
