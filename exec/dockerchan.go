package exec

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
)

// The command channel: every container's main process is a small shell
// server reading requests on its stdin, and the client holds one attached
// (hijacked) connection to it for the sandbox's life. A command costs a
// fork and exec inside the container instead of an engine exec session
// (podman: a conmon helper and a runc exec, ~120 ms here; docs/execution.md,
// "Per-command time").
//
// A request is one line — a random end token, the length of the script
// that follows the line and the length of the payload after the script
// (the command's stdin: a patch, a file's bytes; -1 for none) — then the
// script (cd, env, the wrapper of commandScript with the command's argv)
// and the payload. The server copies exactly those many bytes into the
// control directory (head -c never reads past them; should a copy fail,
// the server exits rather than read the rest as requests, and the channel
// is dead), runs the script with stdin from /dev/null — its output is the
// container's, so it arrives on the attached stream, ending with the
// wrapper's trailer (the nonce, the exit status) — and then prints the
// end token. The token exists only in the request line and the server's
// memory: a command can read its own script, and so its trailer's nonce,
// but not the token, so it cannot end its run early; the trailer the
// client takes is the last one before the token, printed after the
// command and all its processes are gone. The token goes to both streams:
// the engine forwards each in order but not the two in step, so the run
// is over when both have delivered it. Each request costs five processes
// in the container (head, the script's shell, timeout, the command's
// shell and the command): everything else is a shell builtin.
const serverScript = `echo $$ > ` + mainPIDFile + `; ` +
	`while IFS=' ' read -r end ns n; do ` +
	`head -c "$ns" > ` + cmdFile + ` || exit 1; ` +
	`if [ "$n" -ge 0 ]; then head -c "$n" > ` + stdinFile + ` || exit 1; fi; ` +
	`sh ` + cmdFile + ` < /dev/null; ` +
	`printf '\000swelake-done %s\n' "$end"; printf '\000swelake-done %s\n' "$end" >&2; ` +
	`done`

// channel is the attached connection to a container's server.
type channel struct {
	conn io.ReadWriteCloser

	mu   sync.Mutex // one command at a time
	cur  *pending   // the running command's sinks (nil: none)
	dead error      // the stream ended: every later command fails with it
	done chan struct{}
}

// pending is one command's output sinks and completion.
type pending struct {
	marker []byte // "\x00swelake-done <end token>\n"
	stdout io.Writer
	stderr io.Writer
	buf    []byte // stdout not yet passed on: may hold the trailer and the token's start
	errBuf []byte // stderr not yet passed on: may hold the token's start
	trail  []byte // the trailer, once the token is seen on stdout
	errEnd bool   // the token was seen on stderr
	over   chan struct{}
}

// attach opens the channel to container id (before it starts: nothing the
// server prints is missed).
func (d *Docker) attach(ctx context.Context, id string) (*channel, error) {
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost,
		d.base+"/"+d.APIVersion+"/containers/"+id+"/attach?stream=1&stdin=1&stdout=1&stderr=1", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "tcp")
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	rw, ok := resp.Body.(io.ReadWriteCloser)
	if resp.StatusCode != http.StatusSwitchingProtocols || !ok {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("attach: HTTP %d (want 101, a hijacked connection): %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	c := &channel{conn: rw, done: make(chan struct{})}
	go c.read()
	return c, nil
}

// read demultiplexes the stream into the running command's sinks until
// the stream ends.
func (c *channel) read() {
	err := demux(bufio.NewReaderSize(c.conn, 64<<10), chanWriter{c, 1}, chanWriter{c, 2})
	if err == nil {
		err = errors.New("the container's stream ended (its main process exited)")
	}
	c.mu.Lock()
	c.dead = err
	if c.cur != nil {
		close(c.cur.over)
		c.cur = nil
	}
	c.mu.Unlock()
	close(c.done)
}

type chanWriter struct {
	c      *channel
	stream int
}

func (w chanWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	cur := w.c.cur
	if cur == nil {
		return len(p), nil // no command running: nothing of ours (leftovers are reaped)
	}
	if w.stream == 2 {
		if cur.errEnd {
			return len(p), nil
		}
		cur.errBuf = append(cur.errBuf, p...)
		if i := bytes.Index(cur.errBuf, cur.marker); i >= 0 {
			cur.stderr.Write(cur.errBuf[:i])
			cur.errBuf, cur.errEnd = nil, true
			w.c.finish(cur)
		} else if k := len(cur.errBuf) - (len(cur.marker) - 1); k > 0 {
			cur.stderr.Write(cur.errBuf[:k])
			cur.errBuf = cur.errBuf[:copy(cur.errBuf, cur.errBuf[k:])]
		}
		return len(p), nil
	}
	if cur.trail != nil {
		return len(p), nil
	}
	cur.buf = append(cur.buf, p...)
	if i := bytes.Index(cur.buf, cur.marker); i >= 0 {
		// The trailer is the trailerLen bytes before the end token (held
		// back below); the rest is the command's.
		t := max(0, i-trailerLen)
		cur.stdout.Write(cur.buf[:t])
		cur.trail = cur.buf[t:i:i]
		w.c.finish(cur)
		return len(p), nil
	}
	// Pass on all but what could be the trailer and the token's beginning.
	if k := len(cur.buf) - (trailerLen + len(cur.marker) - 1); k > 0 {
		cur.stdout.Write(cur.buf[:k])
		cur.buf = cur.buf[:copy(cur.buf, cur.buf[k:])]
	}
	return len(p), nil
}

// finish ends the running command once both streams delivered the token
// (c.mu held).
func (c *channel) finish(p *pending) {
	if p.trail != nil && p.errEnd {
		close(p.over)
		c.cur = nil
	}
}

// run sends one request (its script, and payload as the command's stdin
// file) and waits for its trailer. A nil trailer with a nil error cannot
// happen; a cancelled ctx leaves the command running (the next command's
// reaping ends it) and the channel unusable.
func (c *channel) run(ctx context.Context, script string, payload []byte, stdout, stderr io.Writer) ([]byte, error) {
	c.mu.Lock()
	if c.dead != nil {
		c.mu.Unlock()
		return nil, c.dead
	}
	if c.cur != nil {
		c.mu.Unlock()
		return nil, errors.New("the channel is still busy with a cancelled command")
	}
	end := rand.Text()
	p := &pending{marker: []byte("\x00swelake-done " + end + "\n"), stdout: stdout, stderr: stderr, over: make(chan struct{})}
	c.cur = p
	c.mu.Unlock()
	n := len(payload)
	if payload == nil {
		n = -1 // no stdin file
	}
	req := fmt.Appendf(nil, "%s %d %d\n%s", end, len(script), n, script)
	bufs := net.Buffers{req, payload} // the payload (up to 48 MiB) not copied
	if _, err := bufs.WriteTo(c.conn); err != nil {
		c.mu.Lock()
		c.cur = nil
		c.mu.Unlock()
		return nil, fmt.Errorf("send the command: %w", err)
	}
	select {
	case <-p.over:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.trail == nil {
		stdout.Write(p.buf)
		return nil, c.dead
	}
	return p.trail, nil
}

func (c *channel) close() {
	c.conn.Close()
	<-c.done
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
