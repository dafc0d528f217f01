// Package lease keeps two runs of one long job apart — a pipeline, an RL
// loop — across machines: an object in the lake replaced only with
// If-Match on the version its holder last wrote, renewed in the background,
// taken over when its holder stopped renewing for longer than its TTL.
package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/swelake/swelake/lake/objstore"
)

// ErrHeld: another run holds the lease.
var ErrHeld = errors.New("already running elsewhere")

// ErrLost: the lease was taken over while this run held it (it had
// stopped renewing for longer than the lease's TTL).
var ErrLost = errors.New("lease lost")

// Record is the lease object's content.
type Record struct {
	Owner    string    `json:"owner"` // host/pid/random
	Acquired time.Time `json:"acquired"`
	Expires  time.Time `json:"expires"`
	Released bool      `json:"released,omitempty"`
	TakeOver string    `json:"took_over_from,omitempty"` // the stale owner this run replaced
}

// Lease is a held lease: an object replaced only with If-Match on
// the version its holder last wrote, renewed in the background.
type Lease struct {
	b      objstore.Bucket
	key    string
	ttl    time.Duration
	now    func() time.Time
	log    *slog.Logger
	mu     sync.Mutex
	tag    string
	rec    Record
	stop   chan struct{}
	done   chan struct{}
	lost   chan struct{}
	closed bool
}

// Acquire takes the lease at key: absent, released or expired (a killed
// run's: taken over, and logged), it becomes ours; held and live, the
// error wraps ErrHeld and names the holder.
func Acquire(ctx context.Context, b objstore.Bucket, key, owner string, ttl time.Duration, now func() time.Time, log *slog.Logger) (*Lease, error) {
	for attempt := 0; ; attempt++ {
		data, tag, err := b.GetTagged(ctx, key)
		var old Record
		switch {
		case errors.Is(err, objstore.ErrNotExist):
			tag = ""
		case err != nil:
			return nil, fmt.Errorf("lease %s: %w", key, err)
		default:
			if err := json.Unmarshal(data, &old); err != nil {
				return nil, fmt.Errorf("lease %s: unreadable (%v); remove it if no run is active", key, err)
			}
			if !old.Released && now().Before(old.Expires) {
				return nil, fmt.Errorf("%w: %s holds %s until %s (acquired %s)", ErrHeld, old.Owner, key,
					old.Expires.UTC().Format(time.RFC3339), old.Acquired.UTC().Format(time.RFC3339))
			}
		}
		rec := Record{Owner: owner, Acquired: now().UTC(), Expires: now().Add(ttl).UTC()}
		if tag != "" && !old.Released {
			rec.TakeOver = old.Owner
		}
		body, _ := json.Marshal(rec)
		newTag, err := b.PutIfMatch(ctx, key, body, tag)
		if errors.Is(err, objstore.ErrChanged) && attempt < 3 {
			continue // raced with another starter: look again
		}
		if errors.Is(err, objstore.ErrChanged) {
			return nil, fmt.Errorf("%w: lost the race for %s", ErrHeld, key)
		}
		if err != nil {
			return nil, fmt.Errorf("lease %s: %w", key, err)
		}
		if rec.TakeOver != "" {
			log.Warn("took over a stale lease", "key", key, "stale_owner", old.Owner, "expired", old.Expires)
		}
		l := &Lease{b: b, key: key, ttl: ttl, now: now, log: log, tag: newTag, rec: rec,
			stop: make(chan struct{}), done: make(chan struct{}), lost: make(chan struct{})}
		go l.renew()
		return l, nil
	}
}

// Guard is ctx cancelled when the lease is lost (taken over mid-run), so
// that the holder stops; call the CancelFunc when done.
func (l *Lease) Guard(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-l.lost:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// Lost is closed when a renewal finds the lease taken over.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// TookOver names the stale holder this lease replaced ("" : none).
func (l *Lease) TookOver() string { return l.rec.TakeOver }

func (l *Lease) renew() {
	defer close(l.done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		l.mu.Lock()
		rec := l.rec
		rec.Expires = l.now().Add(l.ttl).UTC()
		body, _ := json.Marshal(rec)
		ctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
		tag, err := l.b.PutIfMatch(ctx, l.key, body, l.tag)
		cancel()
		if err == nil {
			l.tag, l.rec = tag, rec
		}
		l.mu.Unlock()
		if errors.Is(err, objstore.ErrChanged) {
			l.log.Error("lease taken over; stopping", "key", l.key)
			close(l.lost)
			return
		}
		if err != nil {
			l.log.Warn("lease renewal failed; retrying", "key", l.key, "err", err)
		}
	}
}

// Release stops renewing and marks the lease released (If-Match, so a
// lease taken over meanwhile is left alone).
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	select {
	case <-l.lost:
		return fmt.Errorf("%w: %s", ErrLost, l.key)
	default:
	}
	rec := l.rec
	rec.Released, rec.Expires = true, l.now().UTC()
	body, _ := json.Marshal(rec)
	if _, err := l.b.PutIfMatch(ctx, l.key, body, l.tag); err != nil {
		return fmt.Errorf("release %s: %w", l.key, err)
	}
	return nil
}
