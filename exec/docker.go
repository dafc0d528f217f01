package exec

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
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
	// Image is the image of a workspace that names none (Workspace.Image
	// empty): a sandbox for a repository copied in from the host
	// (Workspace.Source), or an empty one.
	Image string
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
		return nil, &APIError{Method: method, Path: p, Status: resp.StatusCode, Message: string(bytes.TrimSpace(msg))}
	}
	return resp, nil
}

// APIError is an engine's answer other than 2xx.
type APIError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Message)
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

// Open starts a container whose main process serves commands over one
// attached connection (dockerchan.go) until Close. The image is the first
// of the workspace's the engine has (its repository at WorkDir checked out
// at ws.Commit), else Docker.Image with a copy of the host repository
// ws.Source (cloned at ws.Commit) put at WorkDir. The root filesystem is
// read-only: WorkDir (an anonymous volume holding the image's copy), /tmp
// and swelake's control directory are the only writable places.
func (d *Docker) Open(ctx context.Context, ws Workspace) (Sandbox, error) {
	d.init()
	image, err := d.workspaceImage(ctx, ws)
	if err != nil {
		return nil, infra("open", err)
	}
	fromImage := image != ""
	image = cmp.Or(image, d.Image)
	if image == "" {
		return nil, infra("open", errors.New("the docker backend needs an image (the task's image column, or sandbox.docker_image)"))
	}
	upload := ""
	if ws.Source != "" && !fromImage {
		// Prepared on the host as the local backend does (a clone at
		// ws.Commit, or a copy), then streamed into the container.
		tmp, err := os.MkdirTemp("", "swelake-upload-")
		if err != nil {
			return nil, infra(workspaceOp(ws), err)
		}
		defer removeAll(tmp)
		upload = filepath.Join(tmp, "ws")
		if err := prepare(ctx, ws, upload); err != nil {
			return nil, infra(workspaceOp(ws), err)
		}
	}
	env := []string{}
	for k, v := range SandboxEnv() {
		if k != "PATH" { // the image's own: conda environments live there
			env = append(env, k+"="+v)
		}
	}
	cfg := map[string]any{
		"Image": image, "Cmd": []string{"sh", "-c", serverScript}, "Entrypoint": []string{}, "WorkingDir": d.WorkDir,
		"OpenStdin": true, "StdinOnce": false, "AttachStdin": true, "AttachStdout": true, "AttachStderr": true, "Tty": false,
		"Env": env, "NetworkDisabled": true, "Labels": map[string]string{SandboxLabel: "1"},
		"Volumes":    map[string]any{d.WorkDir: map[string]any{}},
		"HostConfig": d.hostConfig(),
	}
	var created struct {
		ID string `json:"Id"`
	}
	if err := d.doJSON(ctx, http.MethodPost, "/containers/create", cfg, &created); err != nil {
		return nil, infra("create container of "+image, err)
	}
	s := &dockerSandbox{d: d, id: created.ID}
	ch, err := d.attach(ctx, created.ID)
	if err != nil {
		s.Close(context.WithoutCancel(ctx))
		return nil, infra("attach to the container of "+image, err)
	}
	s.ch = ch
	if err := d.doJSON(ctx, http.MethodPost, "/containers/"+created.ID+"/start", nil, nil); err != nil {
		s.Close(context.WithoutCancel(ctx))
		return nil, infra("start container of "+image, err)
	}
	if err := s.prepare(ctx, ws, upload); err != nil {
		s.Close(context.WithoutCancel(ctx))
		return nil, infra("prepare workspace in "+image, err)
	}
	return s, nil
}

// workspaceImage is the first of the workspace's images the engine has
// (its repository at WorkDir): ws.Image, then ws.AltImages. None: ""
// when the repository can come from the host (ws.Source) or the workspace
// names no image, else an error naming them.
func (d *Docker) workspaceImage(ctx context.Context, ws Workspace) (string, error) {
	var tried []string
	for _, im := range append([]string{ws.Image}, ws.AltImages...) {
		if im == "" {
			continue
		}
		if ws.Source == "" && len(ws.AltImages) == 0 {
			return im, nil // the only choice: a missing one fails at create, naming it
		}
		_, err := d.InspectImage(ctx, im)
		if err == nil {
			return im, nil
		}
		if !errors.Is(err, ErrNoImage) {
			return "", err
		}
		tried = append(tried, im)
	}
	if len(tried) > 0 && ws.Source == "" {
		return "", fmt.Errorf("no image %s on the engine, and no repository to copy into %s (build it: swelake env build)", strings.Join(tried, " or "), cmp.Or(d.Image, "a default image"))
	}
	return "", nil
}

// SandboxLabel marks every container the docker backend creates (env
// prune and the tests' leftover count find them by it).
const SandboxLabel = "swelake.sandbox"

// prepare fills the workspace: the host copy replaces the image's
// repository, or the image's repository is checked out at ws.Commit.
func (s *dockerSandbox) prepare(ctx context.Context, ws Workspace, upload string) error {
	lim := Limits{Timeout: 5 * time.Minute}
	if upload != "" {
		res, err := s.Run(ctx, Spec{Argv: []string{"find", ".", "-mindepth", "1", "-delete"}, Limits: lim})
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("empty %s: exit %d: %s", s.d.WorkDir, res.ExitCode, firstLine(res.Output))
		}
		if err != nil {
			return err
		}
		r := TarDir(upload)
		defer r.Close()
		return s.putArchive(ctx, s.d.WorkDir, r)
	}
	// An image whose HEAD is the commit is used as it is (as the SWE-bench
	// harness does): a checkout would only stat every file.
	argv := []string{"sh", "-c", `set -- "$1" $(git rev-parse -q --verify HEAD "$1^{commit}"); [ -n "$2" ] && [ "$2" = "$3" ] || exec git checkout --quiet --force "$1"`, "sh", ws.Commit}
	if ws.Commit == "" {
		// Nothing to prepare: one command proves the container's server
		// answers (an engine may start a container whose process cannot
		// run, and say nothing).
		argv = []string{"true"}
	}
	res, err := s.Run(ctx, Spec{Argv: argv, Limits: lim})
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("%s: exit %d: %s", strings.Join(argv, " "), res.ExitCode, firstLine(res.Output))
	}
	return err
}

// TarDir streams the contents of dir (regular files, directories and
// symlinks, modes kept) as a tar archive.
func TarDir(dir string) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil || p == dir {
				return err
			}
			info, err := e.Info()
			if err != nil {
				return err
			}
			link := ""
			if info.Mode()&fs.ModeSymlink != 0 {
				if link, err = os.Readlink(p); err != nil {
					return err
				}
			} else if !info.Mode().IsRegular() && !info.IsDir() {
				return nil // sockets, fifos: nothing a repository needs
			}
			h, err := tar.FileInfoHeader(info, link)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			h.Name = filepath.ToSlash(rel)
			if info.IsDir() {
				h.Name += "/"
			}
			h.Uname, h.Gname = "", ""
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if !info.Mode().IsRegular() {
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		})
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// hostConfig is what every container is created with: no network, every
// capability dropped but the few a test suite running as the image's root
// needs to own its files, no privilege gain through setuid binaries,
// bounded memory, processes and /tmp, a read-only root filesystem
// (docs/security.md).
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
		// Output reaches the client on the attached stream; a log file
		// would be every command's output written a second time.
		"LogConfig":   map[string]any{"Type": "none"},
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
	tmpfs := map[string]string{controlDir: fmt.Sprintf("rw,nosuid,nodev,noexec,size=%d", controlDirSize)}
	if lim.Tmp > 0 {
		tmpfs["/tmp"] = fmt.Sprintf("rw,nosuid,nodev,size=%d", lim.Tmp)
	} else {
		tmpfs["/tmp"] = "rw,nosuid,nodev"
	}
	hc["Tmpfs"] = tmpfs
	hc["ReadonlyRootfs"] = true
	return hc
}

type dockerSandbox struct {
	d  *Docker
	id string
	ch *channel
	lifecycle
}

func (s *dockerSandbox) Isolated() bool { return true }

// Run executes the command in the container through its server. The
// wall-time limit is enforced inside (coreutils timeout, the whole process
// group killed), so that the container survives for the next command;
// stdin is written to a file first (the attached stream is the server's).
func (s *dockerSandbox) Run(ctx context.Context, spec Spec) (Result, error) {
	if err := s.start(spec); err != nil {
		return Result{}, err
	}
	lim := spec.Limits.Or(s.d.Limits).withDefaults()
	stdin, payload := "/dev/null", []byte(nil)
	if spec.Stdin != nil {
		data, err := io.ReadAll(io.LimitReader(spec.Stdin, MaxDockerStdin+1))
		if err != nil {
			return Result{}, err
		}
		if len(data) > MaxDockerStdin {
			return Result{}, fmt.Errorf("run %s: stdin over the docker backend's limit of %d bytes", spec.Argv[0], MaxDockerStdin)
		}
		stdin, payload = stdinFile, data
	}
	nonce := rand.Text()
	req := requestScript(spec, s.d.WorkDir, nonce, lim, stdin)
	start := time.Now()
	out := &lockedCapped{c: capped{n: lim.Output}}
	trail, err := s.ch.run(ctx, req, payload, writers(out, spec.Stdout), writers(out, spec.Stderr))
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	if err != nil {
		res := Result{Duration: time.Since(start)}
		res.Output, res.Truncated = out.bytes()
		return res, infra("run "+spec.Argv[0], err)
	}
	res := Result{Duration: time.Since(start)}
	tr, ok := parseTrailer(trail, nonce)
	if !ok {
		res.Output, res.Truncated = out.bytes()
		return res, infra("run "+spec.Argv[0], fmt.Errorf("the command's wrapper ended without its trailer: %s", cmp.Or(firstLine(res.Output), "no output")))
	}
	res.ExitCode = tr.exit
	res.Output, res.Truncated = out.bytes()
	if !tr.started {
		return res, infra("run "+spec.Argv[0], fmt.Errorf("the command never started (its limits refused, its directory missing, or its wrapper killed; exit %d): %s", tr.exit, firstLine(res.Output)))
	}
	if res.ExitCode == 137 && res.Duration >= lim.Timeout {
		res.ExitCode, res.TimedOut = TimeoutExitCode, true
	}
	if res.ExitCode == 137 && !res.TimedOut && tr.diskKiB > 0 {
		res.LimitHit = "disk"
		out.Write(fmt.Appendf(nil, "\nswelake: killed: the workspace grew to %d bytes, over the sandbox's disk limit of %d\n", tr.diskKiB*1024, lim.Disk))
		res.Output, res.Truncated = out.bytes()
	}
	return res, nil
}

// requestScript is what the container's server runs for one command: cd
// to its directory (else a trailer saying the command never started), then
// env with the command's variables, if any, and the wrapper of
// commandScript with the argv in its place. A wrapper that cannot start,
// or is killed, prints no trailer: an infrastructure error.
func requestScript(spec Spec, workDir, nonce string, lim Limits, stdin string) string {
	dir := workDir
	if spec.Dir != "" {
		dir = path.Join(dir, path.Clean("/"+spec.Dir))
	}
	never := `printf '` + trailerShell + `' ` + nonce + ` 125 0 0`
	var req strings.Builder
	fmt.Fprintf(&req, "cd %s 2>/dev/null || { echo 'swelake: no directory %s in the sandbox' >&2; %s; exit; }\n", shellQuote(dir), strings.ReplaceAll(spec.Dir, "'", ""), never)
	req.WriteString("exec")
	if len(spec.Env) > 0 {
		req.WriteString(" env")
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		req.WriteString(" " + shellQuote(k+"="+spec.Env[k]))
	}
	outer, inner := commandScript(lim, workDir, stdin, nonce)
	for _, a := range append([]string{"sh", "-c", outer, "sh", inner}, spec.Argv...) {
		req.WriteString(" " + shellQuote(a))
	}
	req.WriteString("\n")
	return req.String()
}

// controlDir is swelake's own directory in every container (a small
// tmpfs, as the root filesystem is read-only): the main process's pid, a
// command's stdin, the mark that a command started, the disk limit's
// marker.
const (
	controlDir  = "/run/swelake"
	stdinFile   = controlDir + "/stdin"
	cmdFile     = controlDir + "/cmd"
	mainPIDFile = controlDir + "/main"
	startedFile = controlDir + "/started"
	diskMarker  = controlDir + "/disk-hit"

	// controlDirSize bounds the control directory's tmpfs (its pages
	// count in the container's memory only once written).
	controlDirSize = 64 << 20
)

// MaxDockerStdin is the most a command's stdin (and a file WriteFile
// writes) may hold in the docker backend: it travels on the command
// channel into the control directory.
const MaxDockerStdin = 48 << 20

// maxReadFile is the largest file ReadFile returns.
const maxReadFile = 256 << 20

// The wrapper's last words, on stdout after everything the command wrote:
// the run's nonce, the command's exit status, whether it started, and the
// workspace size (KiB) when the disk limit killed it. Fixed length, so the
// client holds back exactly that many bytes of stdout; the engine's exit
// code is never read (podman's exec sessions may be gone by then, and its
// 125-127 are ambiguous).
const (
	// trailerShell is the trailer as a printf(1) format: the nonce, the
	// exit status, 1 if the command started, the disk limit's KiB.
	trailerShell = `\000swelake-end %s %03d %d %020d\n`
	trailerLen   = 1 + len("swelake-end ") + 26 + 1 + 3 + 1 + 1 + 1 + 20 + 1
)

// trailerFmt is trailerShell as Go reads it.
var trailerFmt = strings.NewReplacer(`\000`, "\x00", `\n`, "\n").Replace(trailerShell)

type trailer struct {
	exit    int
	started bool
	diskKiB int64
}

func parseTrailer(b []byte, nonce string) (trailer, bool) {
	var t trailer
	var got string
	var started int
	if len(b) != trailerLen {
		return t, false
	}
	if _, err := fmt.Sscanf(string(b), trailerFmt, &got, &t.exit, &started, &t.diskKiB); err != nil || got != nonce {
		return t, false
	}
	t.started = started == 1
	return t, true
}

// commandScript is the shell every command runs under (outer, with inner
// as its first argument and the command after it; the container's server
// starts it). The outer shell reaps what earlier commands left — every
// process but init, the server, the request's shell and itself, so that
// nothing a command started
// (double forks, setsid, nohup, daemons) outlives it or fills the
// container's process limit — empties /tmp (private to each command, as
// in the local backend), runs inner under coreutils timeout (the whole
// process group killed at the wall-time limit), reaps again and prints
// the trailer. The inner shell starts the disk sampler, sets the limits (a
// failure leaves the command unmarked: an infrastructure error), marks the
// command as started and runs it. Reaping happens only inside a PID
// namespace of the container's own (its init has no parent there, PPid 0,
// and is the server's parent) and only with the server's pid known.
func commandScript(lim Limits, workDir, stdin, nonce string) (outer, inner string) {
	// Builtins only (a fork and exec costs a few milliseconds in a
	// container): ppid reads a process's parent from /proc.
	ppid := `ppid() { p=; [ -n "$1" ] || return 0; while read -r k v; do [ "$k" = PPid: ] && { p=$v; return 0; }; done < /proc/$1/status; } 2>/dev/null; `
	reap := `m=; read -r m < ` + mainPIDFile + ` 2>/dev/null; ppid 1; a=$p; ppid "$m"; ` +
		`if [ -n "$m" ] && [ "$a" = 0 ] && [ "$p" = 1 ]; then ` +
		`for p in /proc/[0-9]*; do p=${p#/proc/}; case $p in 1|$$|$PPID|"$m") ;; *) kill -KILL $p 2>/dev/null;; esac; done; fi; `
	secs := max(1, int(lim.Timeout.Round(time.Second).Seconds()))
	outer = `inner=$1; shift; ` + ppid + reap +
		`for f in /tmp/* /tmp/.[!.]* /tmp/..?*; do if [ -e "$f" ] || [ -h "$f" ]; then find /tmp -mindepth 1 -delete 2>/dev/null; break; fi; done; ` +
		`: > ` + diskMarker + `; : > ` + startedFile + `; ` +
		fmt.Sprintf(`timeout --signal=KILL %d sh -c "$inner" sh "$@"; rc=$?; `, secs) + reap +
		`s=0; x=; read -r x < ` + startedFile + ` 2>/dev/null; [ "$x" = ` + nonce + ` ] && s=1; d=; read -r d < ` + diskMarker + ` 2>/dev/null; ` +
		`printf '` + trailerShell + `' ` + nonce + ` "$rc" "$s" "${d:-0}"`
	var b strings.Builder
	if lim.Disk > 0 {
		// The workspace's size, sampled every second, or less often when
		// a walk is slow (the pause is 20 times the walk, timed with
		// /proc/uptime's hundredths, as the local backend's: at most ~5%
		// of a core on a large repository): over the limit, a marker is
		// left and the command's process group (timeout's: the command
		// and this sampler) is killed. It ends with the command's shell
		// and holds none of its output.
		fmt.Fprintf(&b, `(w=1; while sleep $w && kill -0 $$ 2>/dev/null; do read a _ < /proc/uptime; u=$(du -sxk %[1]s 2>/dev/null | cut -f1); read z _ < /proc/uptime; `+
			`if [ "${u:-0}" -gt %[2]d ]; then echo "$u" > %[3]s; kill -KILL 0; fi; `+
			`w=$(( (${z%%.*} * 100 + 1${z#*.} - ${a%%.*} * 100 - 1${a#*.}) / 5 )); [ "$w" -ge 1 ] || w=1; done) >/dev/null 2>&1 & `,
			workDir, lim.Disk/1024, diskMarker)
	}
	b.WriteString(strings.Replace(limitScript(lim), `exec "$@"`, `exec < `+stdin+` || exit 125; echo `+nonce+` > `+startedFile+` || exit 125; exec "$@"`, 1))
	return outer, b.String()
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

// fileScript is the shell of ReadFile and WriteFile, run in the workspace
// with the file's path as $1: the path resolved inside the container must
// stay in the workspace (as the local backend's os.Root; the container's
// own root is read-only anyway), then the file is read (cat to stdout) or
// written (from stdin, its directories made). Its exit statuses above 90
// say what went wrong (fileStatus).
const fileScript = `r=$(realpath -m --relative-base=. -- "./$1") || exit 90
case $r in /*|..|../*) printf '%s' "$r" >&2; exit 91;; esac
case $0 in
read) [ -e "$1" ] || exit 92; [ -f "$1" ] || exit 93; exec cat -- "$1";;
write) mkdir -p -- "$(dirname -- "$1")" || exit 94; exec cat > "$1";;
esac`

// fileOp runs fileScript's op (read or write) on p with data as stdin, its
// stdout into w.
func (s *dockerSandbox) fileOp(ctx context.Context, op, p string, data []byte, w io.Writer) error {
	rel, err := clean(p)
	if err != nil {
		return err
	}
	spec := Spec{Argv: []string{"sh", "-c", fileScript, op, rel}, Stdout: w, Limits: Limits{Timeout: time.Minute, Output: 64 << 10}}
	if data != nil {
		spec.Stdin = bytes.NewReader(data)
	}
	res, err := s.Run(ctx, spec)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, p, err)
	}
	switch res.ExitCode {
	case 0:
		return nil
	case 91:
		return fmt.Errorf("path %s: resolves to %s, outside the workspace", rel, res.Output)
	case 92:
		return fmt.Errorf("%s %s: %w", op, p, fs.ErrNotExist)
	case 93:
		return fmt.Errorf("%s %s: not a regular file", op, p)
	}
	return fmt.Errorf("%s %s: exit %d: %s", op, p, res.ExitCode, firstLine(res.Output))
}

func (s *dockerSandbox) ReadFile(ctx context.Context, p string) ([]byte, error) {
	buf := &capped{n: maxReadFile}
	if err := s.fileOp(ctx, "read", p, nil, buf); err != nil {
		return nil, err
	}
	if buf.truncated {
		return nil, fmt.Errorf("read %s: larger than %d bytes", p, maxReadFile)
	}
	return buf.buf, nil
}

func (s *dockerSandbox) WriteFile(ctx context.Context, p string, data []byte) error {
	if data == nil {
		data = []byte{} // an empty file: stdin all the same
	}
	return s.fileOp(ctx, "write", p, data, nil)
}

// putArchive extracts a tar archive into the container's directory dir.
func (s *dockerSandbox) putArchive(ctx context.Context, dir string, body io.Reader) error {
	resp, err := s.d.do(ctx, http.MethodPut, "/containers/"+s.id+"/archive?path="+url.QueryEscape(dir), body,
		http.Header{"Content-Type": {"application/x-tar"}})
	if err != nil {
		return infra("write into "+dir, err)
	}
	resp.Body.Close()
	return nil
}

func (s *dockerSandbox) Close(ctx context.Context) error {
	return s.close(func() error {
		if s.ch != nil {
			defer s.ch.close() // the removal ends the stream
		}
		if err := s.d.doJSON(ctx, http.MethodDelete, "/containers/"+s.id+"?force=true&v=true", nil, nil); err != nil {
			return infra("remove container "+s.id, err)
		}
		return nil
	})
}
