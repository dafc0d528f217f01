// Package progress reports long work: a one-line bar on a terminal (New;
// bytes, or items with Items), structured log lines every few seconds
// anywhere else (NewLines).
package progress

import (
	"fmt"
	"io"
	"log/slog"
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

	mu    sync.Mutex
	done  int64
	last  time.Time
	items bool // counts items, not bytes
}

// Items makes the bar count items (done/total, items per second, ETA)
// rather than bytes. It returns b.
func (b *Bar) Items() *Bar {
	if b != nil {
		b.items = true
	}
	return b
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
	if b.items {
		fmt.Fprintf(b.w, "\r\033[K%s", itemsLine(b.label, b.done, b.total, b.now().Sub(b.start)))
		return
	}
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

// itemsLine is "label [=====     ] 12/40 30% 0.8/s ETA 35s".
func itemsLine(label string, done, total int64, elapsed time.Duration) string {
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}
	if total <= 0 {
		return fmt.Sprintf("%s %d done %.1f/s", label, done, rate)
	}
	frac := min(float64(done)/float64(total), 1)
	const width = 30
	filled := int(frac * width)
	return fmt.Sprintf("%s [%s%s] %d/%d %3.0f%% %.2f/s ETA %s", label, strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		done, total, frac*100, rate, ETA(done, total, elapsed))
}

// ETA is the time left at the rate so far ("?" before the first item).
func ETA(done, total int64, elapsed time.Duration) string {
	if done <= 0 || elapsed <= 0 {
		return "?"
	}
	left := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
	return max(left, 0).Round(time.Second).String()
}

// Lines logs a long stage's progress as structured lines (msg "progress":
// label, done, total, rate per second, eta) every interval — from a
// ticker, so that a stage whose items each take minutes still says it is
// alive — and a last line when it finishes.
type Lines struct {
	log   *slog.Logger
	label string
	start time.Time
	now   func() time.Time

	mu          sync.Mutex
	done, total int64
	stop        chan struct{}
	finished    sync.WaitGroup
}

// NewLines starts logging every interval.
func NewLines(log *slog.Logger, label string, every time.Duration, now func() time.Time) *Lines {
	if now == nil {
		now = time.Now
	}
	l := &Lines{log: log, label: label, start: now(), now: now, stop: make(chan struct{})}
	l.finished.Add(1)
	go func() {
		defer l.finished.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				l.line("progress")
			}
		}
	}()
	return l
}

// Set records items done of total.
func (l *Lines) Set(done, total int64) {
	l.mu.Lock()
	l.done, l.total = done, total
	l.mu.Unlock()
}

// Finish stops the ticker and logs the final line.
func (l *Lines) Finish() {
	close(l.stop)
	l.finished.Wait()
	l.line("progress done")
}

func (l *Lines) line(msg string) {
	l.mu.Lock()
	done, total := l.done, l.total
	l.mu.Unlock()
	elapsed := l.now().Sub(l.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}
	l.log.Info(msg, "job", l.label, "done", done, "total", total, "per_s", fmt.Sprintf("%.2f", rate),
		"elapsed", elapsed.Round(time.Second).String(), "eta", ETA(done, total, elapsed))
}
