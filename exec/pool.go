package exec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// Pool is a Backend that takes a sandbox's open and close off the path of
// the work done in it: it opens the workspaces a job says its items will
// use (Expect) ahead of their turn, in the items' order, at most Ahead at a
// time, and closes sandboxes in the background. A container's create,
// start and removal cost ~0.3-0.8 s of engine time (docs/execution.md,
// "Grading speed"); a job grading tasks one after another overlaps them
// with the tests of the task before. An item's backend (Item) returns a
// sandbox opened ahead for it when there is one (waiting for it when it is
// still opening), else opens one then; either way the sandbox is fresh: one
// opened ahead has run nothing. Done(item) closes what was opened ahead for
// an item that ended early (a task found invalid before its last grading).
//
// Close waits for everything: the sandboxes opened ahead and never used
// and the background closes; after it no sandbox of the pool is left. A
// job closes its pool before it ends.
type Pool struct {
	b     Backend
	ahead int
	log   *slog.Logger
	ctx   context.Context // of the opens ahead: never cancelled (an open cut short could leave a container behind)

	mu      sync.Mutex
	order   []*expected         // every expectation, in order; those before next are opening or gone
	next    int                 // the first not yet opening
	byItem  map[int][]*expected // an item's expectations
	warming int                 // expectations opening or open ahead, not taken
	closing chan struct{}       // a slot per background close (at most Ahead)
	wg      sync.WaitGroup      // opens ahead and background closes
	errs    []error             // of background closes
	closed  bool
}

// expected is a workspace an item will open.
type expected struct {
	key  string
	ws   Workspace
	w    *warmOpen // opened ahead (nil: not yet)
	gone bool      // taken, or its item is done
}

// warmOpen is one sandbox opened ahead.
type warmOpen struct {
	done chan struct{}
	sb   Sandbox
	err  error
}

// NewPool is a pool over b keeping up to ahead sandboxes opened ahead and
// as many closing in the background (ahead < 1: 1). The opens ahead run
// to their end even when ctx is cancelled, so that Close can remove what
// they made.
func NewPool(ctx context.Context, b Backend, ahead int, log *slog.Logger) *Pool {
	ahead = max(ahead, 1)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pool{b: b, ahead: ahead, log: log, ctx: context.WithoutCancel(ctx),
		byItem: map[int][]*expected{}, closing: make(chan struct{}, ahead)}
}

// Name is the pooled backend's.
func (p *Pool) Name() string { return p.b.Name() }

// Expect says that item will open these workspaces, in this order; items
// are expected in the order the job takes them. The pool starts opening
// the first ones.
func (p *Pool) Expect(item int, wss ...Workspace) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	for _, ws := range wss {
		e := &expected{key: workspaceKey(ws), ws: ws}
		p.order = append(p.order, e)
		p.byItem[item] = append(p.byItem[item], e)
	}
	p.fill()
}

// fill starts opens ahead up to the limit (p.mu held).
func (p *Pool) fill() {
	for p.warming < p.ahead && p.next < len(p.order) {
		e := p.order[p.next]
		p.order[p.next] = nil // the items' lists hold it from here
		p.next++
		if e.gone {
			continue
		}
		w := &warmOpen{done: make(chan struct{})}
		e.w = w
		p.warming++
		p.wg.Add(1)
		go func(ws Workspace) {
			defer p.wg.Done()
			w.sb, w.err = p.b.Open(p.ctx, ws)
			close(w.done)
		}(e.ws)
	}
}

// Item is the backend of one item: its Open takes what was opened ahead
// for the item.
func (p *Pool) Item(item int) Backend { return itemBackend{p, item} }

type itemBackend struct {
	p    *Pool
	item int
}

func (b itemBackend) Name() string { return b.p.Name() }

func (b itemBackend) Open(ctx context.Context, ws Workspace) (Sandbox, error) {
	return b.p.open(ctx, b.item, ws)
}

// Open opens a sandbox of no item (nothing opened ahead), closed in the
// background.
func (p *Pool) Open(ctx context.Context, ws Workspace) (Sandbox, error) {
	return p.open(ctx, -1, ws)
}

func (p *Pool) open(ctx context.Context, item int, ws Workspace) (Sandbox, error) {
	k := workspaceKey(ws)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, infra("open", errors.New("the sandbox pool is closed"))
	}
	var w *warmOpen
	for _, e := range p.byItem[item] {
		if !e.gone && e.key == k {
			e.gone, w = true, e.w
			if w != nil {
				p.warming--
			}
			break
		}
	}
	p.fill()
	p.mu.Unlock()
	if w != nil {
		select {
		case <-w.done:
		case <-ctx.Done():
			p.discard(w)
			return nil, ctx.Err()
		}
		if w.err == nil {
			return &pooled{Sandbox: w.sb, p: p}, nil
		}
		// Opened again below, so that the error is this call's.
		p.log.Debug("sandbox opened ahead failed; opening again", "err", w.err)
	}
	sb, err := p.b.Open(ctx, ws)
	if err != nil {
		return nil, err
	}
	return &pooled{Sandbox: sb, p: p}, nil
}

// Done says that item opens nothing more: what was opened ahead for it and
// not taken is closed.
func (p *Pool) Done(item int) {
	p.mu.Lock()
	var unused []*warmOpen
	for _, e := range p.byItem[item] {
		if !e.gone {
			e.gone = true
			if e.w != nil {
				unused = append(unused, e.w)
				p.warming--
			}
		}
	}
	delete(p.byItem, item)
	if !p.closed {
		p.fill()
	}
	p.mu.Unlock()
	for _, w := range unused {
		p.discard(w)
	}
}

// discard closes a sandbox opened ahead that nobody will use, once it is
// open: in the background, or at once when the pool is closed.
func (p *Pool) discard(w *warmOpen) {
	if !p.track() {
		p.closeWhenOpen(w)
		return
	}
	go func() { defer p.wg.Done(); p.closeWhenOpen(w) }()
}

// closeWhenOpen waits for an open ahead to end and closes what it opened.
func (p *Pool) closeWhenOpen(w *warmOpen) {
	<-w.done
	if w.err == nil {
		p.closeNow(w.sb)
	}
}

// track counts one more background task, unless the pool is closed (its
// Close may be waiting already).
func (p *Pool) track() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	return true
}

// closeNow closes sb and keeps its error for Close.
func (p *Pool) closeNow(sb Sandbox) {
	if err := sb.Close(context.WithoutCancel(p.ctx)); err != nil {
		p.log.Warn("sandbox close failed", "err", err)
		p.mu.Lock()
		p.errs = append(p.errs, err)
		p.mu.Unlock()
	}
}

// closeLater closes sb in the background, waiting for a slot when Ahead
// closes are already under way (so that removals keep up with opens); at
// once after the pool's Close (a caller that outlived it).
func (p *Pool) closeLater(ctx context.Context, sb Sandbox) error {
	select {
	case p.closing <- struct{}{}:
	case <-ctx.Done():
		return sb.Close(context.WithoutCancel(ctx))
	}
	if !p.track() {
		<-p.closing
		return sb.Close(ctx)
	}
	go func() {
		defer p.wg.Done()
		defer func() { <-p.closing }()
		p.closeNow(sb)
	}()
	return nil
}

// Close stops opening ahead, closes the sandboxes opened ahead and not
// used, and waits for every background close. Its error joins theirs.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	var unused []*warmOpen
	for _, es := range p.byItem {
		for _, e := range es {
			if !e.gone && e.w != nil {
				unused = append(unused, e.w)
			}
			e.gone = true
		}
	}
	p.byItem, p.order, p.warming = nil, nil, 0
	p.mu.Unlock()
	for _, w := range unused {
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.closeWhenOpen(w) }()
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("close the sandbox pool: %w", ctx.Err())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) > 0 {
		return fmt.Errorf("close the sandbox pool: %w", errors.Join(p.errs...))
	}
	return nil
}

// pooled is a sandbox of the pool: its Close hands it to the background.
type pooled struct {
	Sandbox
	p *Pool
	lifecycle
}

func (s *pooled) Run(ctx context.Context, spec Spec) (Result, error) {
	if err := s.open(); err != nil {
		return Result{}, err
	}
	return s.Sandbox.Run(ctx, spec)
}

func (s *pooled) ReadFile(ctx context.Context, p string) ([]byte, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	return s.Sandbox.ReadFile(ctx, p)
}

func (s *pooled) WriteFile(ctx context.Context, p string, data []byte) error {
	if err := s.open(); err != nil {
		return err
	}
	return s.Sandbox.WriteFile(ctx, p, data)
}

// Close ends the sandbox's use at once; the backend's close (a container's
// removal) happens in the background, and Pool.Close waits for it.
func (s *pooled) Close(ctx context.Context) error {
	return s.close(func() error { return s.p.closeLater(ctx, s.Sandbox) })
}

// workspaceKey identifies equal workspaces.
func workspaceKey(ws Workspace) string {
	b, _ := json.Marshal(ws)
	return string(b)
}
