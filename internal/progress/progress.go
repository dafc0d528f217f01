// Package progress draws a one-line progress bar on a terminal. On anything
// else it draws nothing: callers log structured lines instead.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Bar is a progress bar. A nil *Bar is valid and does nothing.
type Bar struct {
	w     io.Writer
	label string
	total int64
	start time.Time
	now   func() time.Time

	mu   sync.Mutex
	done int64
	last time.Time
}

// New returns a bar writing to w, or nil when enabled is false (w is not a
// terminal). total is in bytes; 0 means unknown.
func New(w io.Writer, enabled bool, label string, total int64, now func() time.Time) *Bar {
	if !enabled {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &Bar{w: w, label: label, total: total, start: now(), now: now}
}

// Set records the bytes done so far and redraws at most 10 times a second.
func (b *Bar) Set(done int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = done
	if t := b.now(); t.Sub(b.last) >= 100*time.Millisecond {
		b.last = t
		b.draw()
	}
}

// SetTotal sets the total, once it is known.
func (b *Bar) SetTotal(total int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.total = total
	b.mu.Unlock()
}

// Label changes the label (a new phase).
func (b *Bar) Label(label string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.label = label
	b.mu.Unlock()
}

// Finish draws the final state and ends the line.
func (b *Bar) Finish() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.draw()
	fmt.Fprintln(b.w)
}

func (b *Bar) draw() {
	elapsed := b.now().Sub(b.start).Seconds()
	rate := ""
	if elapsed > 0 {
		rate = fmt.Sprintf(" %s/s", Bytes(int64(float64(b.done)/elapsed)))
	}
	if b.total <= 0 {
		fmt.Fprintf(b.w, "\r\033[K%s %s%s", b.label, Bytes(b.done), rate)
		return
	}
	frac := min(float64(b.done)/float64(b.total), 1)
	const width = 30
	filled := int(frac * width)
	fmt.Fprintf(b.w, "\r\033[K%s [%s%s] %3.0f%% %s/%s%s", b.label,
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100, Bytes(b.done), Bytes(b.total), rate)
}

// Bytes formats a byte count: 1.5 MiB.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
