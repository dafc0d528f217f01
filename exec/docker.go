package exec

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Docker runs sandboxes as containers of a Docker Engine through its HTTP
// API (no docker CLI needed): SWE-bench-style images named by the task row
// (Workspace.Image), the repository at WorkDir in the image, no network,
// memory/CPU/PID limits, and the container removed by Close.
type Docker struct {
	// Host is the engine's address: unix:///var/run/docker.sock (default)
	// or tcp://host:port.
	Host string
	// WorkDir is where images hold the repository (default /testbed, as
	// SWE-bench's images).
	WorkDir string
	// Memory (bytes), CPUs and Pids bound each container (0: 4 GiB, no
	// CPU limit, 1024 processes; negative: no limit).
	Memory int64
	CPUs   float64
	Pids   int64
	// Limits bound every command that does not set its own (zero fields:
	// DefaultLimits()); Limits.Tmp sizes the container's /tmp tmpfs.
	Limits Limits
	// APIVersion is the Engine API version prefix (default v1.41).
	APIVersion string

	once   sync.Once
	client *http.Client
	base   string
}

// Name is "docker".
func (d *Docker) Name() string { return "docker" }

// ErrNoEngine: no Docker engine answers at the configured host.
var ErrNoEngine = errors.New("no Docker engine")

func (d *Docker) init() {
	d.once.Do(func() {
		host := d.Host
		if host == "" {
			host = "unix:///var/run/docker.sock"
		}
		tr := &http.Transport{}
		d.base = "http://docker"
		if sock, ok := strings.CutPrefix(host, "unix://"); ok {
			tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
				var dl net.Dialer
				return dl.DialContext(ctx, "unix", sock)
			}
		} else {
			d.base = "http://" + strings.TrimPrefix(host, "tcp://")
		}
		d.client = &http.Client{Transport: tr}
		if d.APIVersion == "" {
			d.APIVersion = "v1.41"
		}
		if d.WorkDir == "" {
			d.WorkDir = "/testbed"
		}
	})
}

// Ping checks that the engine answers.
func (d *Docker) Ping(ctx context.Context) error {
	d.init()
	resp, err := d.do(ctx, http.MethodGet, "/_ping", nil, nil)
	if err != nil {
		return fmt.Errorf("%w at %s: %v", ErrNoEngine, cmp.Or(d.Host, "unix:///var/run/docker.sock"), err)
	}
	resp.Body.Close()
	return nil
}

// do sends one API request; a non-2xx answer is an error with the
// engine's message.
func (d *Docker) do(ctx context.Context, method, p string, body io.Reader, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, d.base+"/"+d.APIVersion+p, body)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(msg, &e) == nil && e.Message != "" {
			msg = []byte(e.Message)
		}
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, p, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return resp, nil
}

func (d *Docker) doJSON(ctx context.Context, method, p string, in, out any) error {
	var body io.Reader
	h := http.Header{}
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
		h.Set("Content-Type", "application/json")
	}
	resp, err := d.do(ctx, method, p, body, h)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Open starts a container of ws.Image that sleeps until Close; commands
// run in it with exec. With ws.Commit set, the repository in WorkDir is
// checked out at it first.
func (d *Docker) Open(ctx context.Context, ws Workspace) (Sandbox, error) {
	d.init()
	if ws.Image == "" {
		return nil, infra("open", errors.New("the docker backend needs an image (the task's image column)"))
	}
	env := []string{}
	for k, v := range SandboxEnv() {
		if k != "PATH" && k != "HOME" && k != "TMPDIR" { // the image's own
			env = append(env, k+"="+v)
		}
	}
	cfg := map[string]any{
		"Image": ws.Image, "Cmd": []string{"sh", "-c", "echo $$ > " + mainPIDFile + "; exec sleep infinity"}, "Entrypoint": []string{}, "WorkingDir": d.WorkDir,
		"Env": env, "NetworkDisabled": true, "Labels": map[string]string{"swelake.sandbox": "1"},
		"HostConfig": d.hostConfig(),
	}
	var created struct {
		ID string `json:"Id"`
	}
	if err := d.doJSON(ctx, http.MethodPost, "/containers/create", cfg, &created); err != nil {
		return nil, infra("create container of "+ws.Image, err)
	}
	s := &dockerSandbox{d: d, id: created.ID}
	if err := d.doJSON(ctx, http.MethodPost, "/containers/"+created.ID+"/start", nil, nil); err != nil {
		s.Close(context.WithoutCancel(ctx))
		return nil, infra("start container of "+ws.Image, err)
	}
	if ws.Commit != "" {
		res, err := s.Run(ctx, Spec{Argv: []string{"git", "checkout", "--quiet", "--force", ws.Commit}, Limits: Limits{Timeout: 5 * time.Minute}})
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("git checkout %s: exit %d: %s", ws.Commit, res.ExitCode, firstLine(res.Output))
		}
		if err != nil {
			s.Close(context.WithoutCancel(ctx))
			return nil, infra("prepare workspace in "+ws.Image, err)
		}
	}
	return s, nil
}

// hostConfig is what every container is created with: no network, every
// capability dropped but the few a test suite running as the image's root
// needs to own its files, no privilege gain through setuid binaries,
// bounded memory, processes and /tmp (docs/security.md).
func (d *Docker) hostConfig() map[string]any {
	lim := d.Limits.withDefaults()
	memory, pids := d.Memory, d.Pids
	if memory == 0 {
		memory = 4 << 30
	}
	if pids == 0 {
		pids = 1024
	}
	hc := map[string]any{"NetworkMode": "none", "NanoCpus": int64(d.CPUs * 1e9), "Init": true,
		"CapDrop":     []string{"ALL"},
		"CapAdd":      []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL"},
		"SecurityOpt": []string{"no-new-privileges"},
	}
	if memory > 0 {
		hc["Memory"], hc["MemorySwap"] = memory, memory // tmpfs pages count: /tmp is inside the bound
	}
	if pids > 0 {
		hc["PidsLimit"] = pids
	}
	if lim.Tmp > 0 {
		hc["Tmpfs"] = map[string]string{"/tmp": fmt.Sprintf("rw,nosuid,nodev,size=%d", lim.Tmp)}
	}
	return hc
}

type dockerSandbox struct {
	d  *Docker
	id string
	lifecycle
}

func (s *dockerSandbox) Isolated() bool { return true }

// Run executes the command in the container. The wall-time limit is
// enforced inside (coreutils timeout, the whole process group killed), so
// that the container survives for the next command; stdin is written to
// a file first (exec's attach protocol needs a hijacked connection).
func (s *dockerSandbox) Run(ctx context.Context, spec Spec) (Result, error) {
	if err := s.start(spec); err != nil {
		return Result{}, err
	}
	lim := spec.Limits.Or(s.d.Limits).withDefaults()
	script := limitScript(lim)
	if spec.Stdin != nil {
		data, err := io.ReadAll(spec.Stdin)
		if err != nil {
			return Result{}, err
		}
		if err := s.writeAbs(ctx, "/tmp/.swelake-stdin", data); err != nil {
			return Result{}, err
		}
		script = strings.Replace(script, `exec "$@"`, `"$@" < /tmp/.swelake-stdin; `+reapScript, 1)
	} else {
		script = strings.Replace(script, `exec "$@"`, `"$@" < /dev/null; `+reapScript, 1)
	}
	if lim.Disk > 0 {
		// The workspace's size, sampled every second inside the container:
		// over the limit, a marker is left and the command's process group
		// (timeout's: the command and this sampler) is killed.
		// It ends with the command's shell and holds none of its output.
		script = fmt.Sprintf(`rm -f %[3]s; (while sleep 1 && kill -0 $$ 2>/dev/null; do u=$(du -sxk %[1]s 2>/dev/null | cut -f1); if [ "${u:-0}" -gt %[2]d ]; then echo "$u" > %[3]s; kill -KILL 0; fi; done) >/dev/null 2>&1 & `,
			s.d.WorkDir, lim.Disk/1024, diskMarker) + script
	}
	secs := max(1, int(lim.Timeout.Round(time.Second).Seconds()))
	argv := append([]string{"timeout", "--signal=KILL", fmt.Sprint(secs), "sh", "-c", script, "sh"}, spec.Argv...)
	var env []string
	for k, v := range spec.Env {
		env = append(env, k+"="+v)
	}
	dir := s.d.WorkDir
	if spec.Dir != "" {
		dir = path.Join(dir, path.Clean("/"+spec.Dir))
	}
	var ex struct {
		ID string `json:"Id"`
	}
	if err := s.d.doJSON(ctx, http.MethodPost, "/containers/"+s.id+"/exec", map[string]any{
		"Cmd": argv, "Env": env, "WorkingDir": dir, "AttachStdout": true, "AttachStderr": true}, &ex); err != nil {
		return Result{}, infra("exec "+spec.Argv[0], err)
	}
	start := time.Now()
	resp, err := s.d.do(ctx, http.MethodPost, "/exec/"+ex.ID+"/start", strings.NewReader(`{"Detach":false,"Tty":false}`), http.Header{"Content-Type": {"application/json"}})
	if err != nil {
		return Result{}, infra("start exec "+spec.Argv[0], err)
	}
	out := &lockedCapped{c: capped{n: lim.Output}}
	derr := demux(resp.Body, writers(out, spec.Stdout), writers(out, spec.Stderr))
	resp.Body.Close()
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	if derr != nil {
		return Result{}, infra("read the output of "+spec.Argv[0], derr)
	}
	var insp struct {
		ExitCode int  `json:"ExitCode"`
		Running  bool `json:"Running"`
	}
	if err := s.d.doJSON(ctx, http.MethodGet, "/exec/"+ex.ID+"/json", nil, &insp); err != nil {
		return Result{}, infra("inspect exec "+spec.Argv[0], err)
	}
	res := Result{ExitCode: insp.ExitCode, Duration: time.Since(start)}
	res.Output, res.Truncated = out.bytes()
	if res.ExitCode == 137 && res.Duration >= lim.Timeout {
		res.ExitCode, res.TimedOut = TimeoutExitCode, true
	}
	if res.ExitCode == 137 && !res.TimedOut && lim.Disk > 0 {
		if used, err := s.readAbs(ctx, diskMarker); err == nil {
			res.LimitHit = "disk"
			kib, _ := strconv.ParseInt(strings.TrimSpace(string(used)), 10, 64)
			out.Write(fmt.Appendf(nil, "\nswelake: killed: the workspace grew to %d bytes, over the sandbox's disk limit of %d\n", kib*1024, lim.Disk))
			res.Output, res.Truncated = out.bytes()
		}
	}
	return res, nil
}

// mainPIDFile holds the pid of the container's main process (it sleeps
// until Close); reapScript, run after every command in the same shell,
// kills every process but init, that one and its own two (the shell and
// timeout above it): nothing a command starts — double forks, setsid,
// nohup, daemons — outlives it or fills the container's process limit
// for the next command. A command killed at its timeout is reaped by the
// next Run's script. It reaps only inside a PID namespace of its own (the
// exec's timeout has no parent there, PPid 0) and only with the main pid
// known: an engine that runs commands on its host (a test fake) is never
// swept.
const (
	mainPIDFile = "/tmp/.swelake-main"
	reapScript  = `rc=$?; m=$(cat ` + mainPIDFile + ` 2>/dev/null); ` +
		`if [ -n "$m" ] && [ "$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$PPID/status 2>/dev/null)" = 0 ]; then ` +
		`for p in /proc/[0-9]*; do p=${p#/proc/}; case $p in 1|$$|$PPID|"$m") ;; *) kill -KILL $p 2>/dev/null;; esac; done; fi; exit $rc`
)

// diskMarker is where the in-container sampler says the disk limit was hit.
const diskMarker = "/tmp/.swelake-disk-hit"

// readAbs reads a file of the container by absolute path.
func (s *dockerSandbox) readAbs(ctx context.Context, a string) ([]byte, error) {
	resp, err := s.d.do(ctx, http.MethodGet, "/containers/"+s.id+"/archive?path="+url.QueryEscape(a), nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return untarFile(resp.Body, path.Base(a))
}

// demux splits the engine's multiplexed stream: frames of an 8-byte
// header (stream 1 stdout, 2 stderr; big-endian size) and the payload.
func demux(r io.Reader, stdout, stderr io.Writer) error {
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		n := int64(binary.BigEndian.Uint32(hdr[4:]))
		w := stdout
		if hdr[0] == 2 {
			w = stderr
		}
		if _, err := io.CopyN(w, r, n); err != nil {
			return err
		}
	}
}

func (s *dockerSandbox) abs(p string) (string, error) {
	rel, err := clean(p)
	if err != nil {
		return "", err
	}
	return path.Join(s.d.WorkDir, rel), nil
}

// confined resolves a's symlinks inside the container and refuses a path
// that leaves the workspace (as the local backend's os.Root does): the
// engine's archive API would follow them anywhere in the container.
func (s *dockerSandbox) confined(ctx context.Context, a string) error {
	rel := strings.TrimPrefix(a, s.d.WorkDir+"/")
	res, err := s.Run(ctx, Spec{Argv: []string{"realpath", "-m", "--relative-base=.", "--", "./" + rel}, Limits: Limits{Timeout: time.Minute}})
	if err != nil {
		return err
	}
	real := strings.TrimSpace(string(res.Output))
	if res.ExitCode != 0 || strings.HasPrefix(real, "/") || real == ".." || strings.HasPrefix(real, "../") {
		return fmt.Errorf("path %s: resolves to %s, outside the workspace", rel, real)
	}
	return nil
}

func (s *dockerSandbox) ReadFile(ctx context.Context, p string) ([]byte, error) {
	a, err := s.abs(p)
	if err != nil {
		return nil, err
	}
	if err := s.confined(ctx, a); err != nil {
		return nil, err
	}
	data, err := s.readAbs(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return data, nil
}

func (s *dockerSandbox) WriteFile(ctx context.Context, p string, data []byte) error {
	a, err := s.abs(p)
	if err != nil {
		return err
	}
	if err := s.confined(ctx, a); err != nil {
		return err
	}
	if dir := path.Dir(a); dir != s.d.WorkDir {
		if res, err := s.Run(ctx, Spec{Argv: []string{"mkdir", "-p", dir}, Limits: Limits{Timeout: time.Minute}}); err != nil || res.ExitCode != 0 {
			return fmt.Errorf("write %s: mkdir %s: %v (exit %d)", p, dir, err, res.ExitCode)
		}
	}
	return s.writeAbs(ctx, a, data)
}

func (s *dockerSandbox) writeAbs(ctx context.Context, a string, data []byte) error {
	body, err := tarFile(path.Base(a), data)
	if err != nil {
		return err
	}
	resp, err := s.d.do(ctx, http.MethodPut, "/containers/"+s.id+"/archive?path="+url.QueryEscape(path.Dir(a)), bytes.NewReader(body),
		http.Header{"Content-Type": {"application/x-tar"}})
	if err != nil {
		return infra("write "+a, err)
	}
	resp.Body.Close()
	return nil
}

func (s *dockerSandbox) Close(ctx context.Context) error {
	return s.close(func() error {
		if err := s.d.doJSON(ctx, http.MethodDelete, "/containers/"+s.id+"?force=true&v=true", nil, nil); err != nil {
			return infra("remove container "+s.id, err)
		}
		return nil
	})
}

// tarFile is a one-file tar archive.
func tarFile(name string, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0)}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// untarFile reads the regular file name from a tar stream.
func untarFile(r io.Reader, name string) ([]byte, error) {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%s: not a regular file in the archive", name)
			}
			return nil, err
		}
		if path.Base(h.Name) == name && h.Typeflag == tar.TypeReg {
			return io.ReadAll(tr)
		}
	}
}
