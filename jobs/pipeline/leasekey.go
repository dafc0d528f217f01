package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/swelake/swelake/jobs/lease"
	"github.com/swelake/swelake/lake/objstore"
)

// ErrLeaseHeld: another run of the pipeline holds its lease.
var ErrLeaseHeld = lease.ErrHeld

// ErrLeaseLost: the pipeline's lease was taken over while this run held it.
var ErrLeaseLost = lease.ErrLost

// LeaseKey is where a pipeline's lease lives.
func LeaseKey(pipeline string) string { return "pipelines/" + pipeline + "/lease.json" }

// Acquire takes the pipeline's lease (lease.Acquire at LeaseKey).
func Acquire(ctx context.Context, b objstore.Bucket, pipeline, owner string, ttl time.Duration, now func() time.Time, log *slog.Logger) (*lease.Lease, error) {
	return lease.Acquire(ctx, b, LeaseKey(pipeline), owner, ttl, now, log)
}
