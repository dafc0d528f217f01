package exec

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// countingBackend records opens and closes; each open takes a moment, so
// that opens ahead are seen in flight.
type countingBackend struct {
	mu       sync.Mutex
	opened   []string
	open     int // sandboxes open now
	closeErr error
}

func (b *countingBackend) Name() string { return "counting" }

func (b *countingBackend) Open(ctx context.Context, ws Workspace) (Sandbox, error) {
	time.Sleep(20 * time.Millisecond)
	if ws.Commit == "bad" {
		return nil, infra("open", errors.New("no such commit"))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.opened = append(b.opened, ws.Commit)
	b.open++
	return &countingSandbox{b: b, ws: ws}, nil
}

func (b *countingBackend) state() ([]string, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.opened...), b.open
}

type countingSandbox struct {
	Sandbox
	b  *countingBackend
	ws Workspace
}

func (s *countingSandbox) Run(ctx context.Context, spec Spec) (Result, error) {
	return Result{Output: []byte(s.ws.Commit)}, nil
}

func (s *countingSandbox) Close(ctx context.Context) error {
	time.Sleep(20 * time.Millisecond)
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.open--
	return s.b.closeErr
}

// TestPoolOpensAheadAndClosesLater: the expected workspaces open ahead,
// at most Ahead at a time, in order; Open takes the one opened ahead; an
// unexpected workspace opens then; Close leaves nothing open and reports
// the background closes' errors.
func TestPoolOpensAheadAndClosesLater(t *testing.T) {
	ctx := context.Background()
	b := &countingBackend{}
	p := NewPool(ctx, b, 2, nil)
	for i, c := range []string{"a", "b", "c", "a"} {
		p.Expect(i, Workspace{Commit: c})
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		opened, _ := b.state()
		if len(opened) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("opened ahead: %v, want a and b", opened)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(60 * time.Millisecond)
	if opened, _ := b.state(); len(opened) != 2 || !slices.Contains(opened, "a") || !slices.Contains(opened, "b") {
		t.Fatalf("opened ahead: %v, want [a b] (Ahead 2)", opened)
	}
	for i, c := range []string{"a", "b", "z", "c"} {
		sb, err := p.Item(i).Open(ctx, Workspace{Commit: c})
		if err != nil {
			t.Fatal(err)
		}
		if res, _ := sb.Run(ctx, Spec{Argv: []string{"x"}}); string(res.Output) != c {
			t.Fatalf("open %s: got the sandbox of %s", c, res.Output)
		}
		if err := sb.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := sb.Run(ctx, Spec{Argv: []string{"x"}}); !errors.Is(err, ErrInfra) {
			t.Fatalf("run after close: %v, want an infrastructure error", err)
		}
	}
	// Item 2 was expected to open c, and opened z: its c, opened ahead,
	// is closed by Done; item 3's a by Close.
	p.Done(2)
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	opened, open := b.state()
	if open != 0 {
		t.Fatalf("%d sandboxes open after Close", open)
	}
	if len(opened) != 6 {
		t.Fatalf("opens: %v, want 6 (a b c a ahead, z and c then)", opened)
	}
	if _, err := p.Open(ctx, Workspace{}); !errors.Is(err, ErrInfra) {
		t.Fatalf("open after Close: %v", err)
	}

	// A failed open ahead is opened again, so the error is the caller's;
	// a close's error comes back from Close.
	b = &countingBackend{closeErr: errors.New("engine gone")}
	p = NewPool(ctx, b, 1, nil)
	p.Expect(0, Workspace{Commit: "bad"})
	if _, err := p.Item(0).Open(ctx, Workspace{Commit: "bad"}); !errors.Is(err, ErrInfra) {
		t.Fatalf("bad workspace: %v", err)
	}
	sb, err := p.Open(ctx, Workspace{Commit: "a"})
	if err != nil {
		t.Fatal(err)
	}
	sb.Close(ctx)
	if err := p.Close(ctx); err == nil || !errors.Is(err, b.closeErr) {
		t.Fatalf("Close: %v, want the background close's error", err)
	}
}
