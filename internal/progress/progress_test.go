package progress

import (
	"bytes"
	"strings"
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
