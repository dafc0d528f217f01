package progress

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBar(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	b := New(&buf, true, "verify", 1000, func() time.Time { return now })
	now = now.Add(time.Second)
	b.Set(500)
	b.Finish()
	out := buf.String()
	if !strings.Contains(out, "verify [===============               ]  50% 500 B/1000 B 500 B/s") || !strings.HasSuffix(out, "\n") {
		t.Fatalf("bar drew %q", out)
	}
	buf.Reset()
	u := New(&buf, true, "append", 0, func() time.Time { return now })
	u.Set(10)
	u.Finish()
	if !strings.Contains(buf.String(), "append 10 B") || strings.Contains(buf.String(), "%") {
		t.Fatalf("bar without a total drew %q", buf.String())
	}
	buf.Reset()
	u.SetTotal(20)
	u.Finish()
	if !strings.Contains(buf.String(), " 50% 10 B/20 B") {
		t.Fatalf("bar after SetTotal drew %q", buf.String())
	}
	var nilBar *Bar
	nilBar.SetTotal(1)
	nilBar.Label("x")
	nilBar.Set(1) // a disabled bar is a nil bar, and does nothing
	nilBar.Finish()
	if New(&buf, false, "x", 1, nil) != nil {
		t.Fatal("disabled bar is not nil")
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestItemsAndLines(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := itemsLine("verify", 10, 40, 20*time.Second); got != "verify [=======                       ] 10/40  25% 0.50/s ETA 1m0s" {
		t.Errorf("items line %q", got)
	}
	if got := ETA(0, 40, time.Second); got != "?" {
		t.Errorf("ETA before the first item %q", got)
	}
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil))
	now := start
	var nowMu sync.Mutex
	clock := func() time.Time { nowMu.Lock(); defer nowMu.Unlock(); return now }
	l := NewLines(log, "evaluate", 20*time.Millisecond, clock)
	l.Set(3, 12)
	nowMu.Lock()
	now = start.Add(6 * time.Second)
	nowMu.Unlock()
	time.Sleep(120 * time.Millisecond) // a stage whose items are slow still logs
	l.Set(12, 12)
	l.Finish()
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "msg=progress job=evaluate done=3 total=12 per_s=0.50 elapsed=6s eta=18s") {
		t.Errorf("no periodic line while items are slow:\n%s", out)
	}
	if !strings.Contains(out, `msg="progress done" job=evaluate done=12 total=12`) {
		t.Errorf("no final line:\n%s", out)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
