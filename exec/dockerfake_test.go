package exec

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeEngine serves the part of the Docker Engine API the docker backend
// uses, with "containers" that are directories of this machine (/testbed
// and /tmp mapped into them) and exec processes run by os/exec. It checks
// the client's side of the protocol — endpoints, JSON shapes, the
// multiplexed stream, tar archives — where no real engine exists; it is
// not a sandbox and proves nothing about isolation (TestDockerEngine does,
// against a real engine).
type fakeEngine struct {
	t          *testing.T
	mu         sync.Mutex
	root       string
	containers map[string]string // id → root dir
	execs      map[string]*fakeExec
	removed    []string
	n          int
}

type fakeExec struct {
	container  string
	Cmd        []string
	Env        []string
	WorkingDir string
	exit       int
}

func (f *fakeEngine) path(id, p string) (string, error) {
	root, ok := f.containers[id]
	if !ok {
		return "", errors.New("no such container")
	}
	for _, mount := range []string{"/testbed", "/tmp"} {
		if p == mount || strings.HasPrefix(p, mount+"/") {
			return filepath.Join(root, mount, strings.TrimPrefix(p, mount)), nil
		}
	}
	return "", fmt.Errorf("path %s outside the fake container", p)
}

// rewrite maps container paths in a command to the fake's directories.
func (f *fakeEngine) rewrite(id, s string) string {
	root := f.containers[id]
	return strings.NewReplacer("/testbed", filepath.Join(root, "testbed"), "/tmp/", filepath.Join(root, "tmp")+"/").Replace(s)
}

func (f *fakeEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := strings.TrimPrefix(r.URL.Path, "/v1.41")
	parts := strings.Split(strings.Trim(p, "/"), "/")
	jsonOut := func(v any) { w.Header().Set("Content-Type", "application/json"); json.NewEncoder(w).Encode(v) }
	fail := func(code int, msg string) { w.WriteHeader(code); jsonOut(map[string]string{"message": msg}) }
	switch {
	case p == "/_ping":
		w.Write([]byte("OK"))
	case r.Method == http.MethodPost && p == "/containers/create":
		var cfg struct {
			Image      string
			HostConfig struct {
				NetworkMode string
				CapDrop     []string
				SecurityOpt []string
				Memory      int64
				PidsLimit   int64
				Tmpfs       map[string]string
			}
		}
		json.NewDecoder(r.Body).Decode(&cfg)
		// The hardening every container gets (docs/security.md): no
		// capability but the listed few, no privilege gain, bounded memory,
		// processes and /tmp.
		if hc := cfg.HostConfig; !slices.Equal(hc.CapDrop, []string{"ALL"}) || !slices.Contains(hc.SecurityOpt, "no-new-privileges") ||
			hc.Memory <= 0 || hc.PidsLimit <= 0 || !strings.Contains(hc.Tmpfs["/tmp"], "size=") {
			fail(400, fmt.Sprintf("the fake wants a hardened container, got %+v", hc))
			return
		}
		if cfg.Image != "swelake/fake:latest" {
			fail(404, "No such image: "+cfg.Image)
			return
		}
		if cfg.HostConfig.NetworkMode != "none" {
			fail(400, "the fake wants network mode none")
			return
		}
		f.n++
		id := fmt.Sprintf("c%d", f.n)
		root := filepath.Join(f.root, id)
		os.MkdirAll(filepath.Join(root, "tmp"), 0o755)
		src := filepath.Join(f.root, "image")
		if out, err := osexec.Command("cp", "-a", src, filepath.Join(root, "testbed")).CombinedOutput(); err != nil {
			fail(500, string(out))
			return
		}
		f.containers[id] = root
		w.WriteHeader(201)
		jsonOut(map[string]string{"Id": id})
	case r.Method == http.MethodPost && len(parts) == 3 && parts[0] == "containers" && parts[2] == "start":
		w.WriteHeader(204)
	case r.Method == http.MethodPost && len(parts) == 3 && parts[0] == "containers" && parts[2] == "exec":
		var e fakeExec
		json.NewDecoder(r.Body).Decode(&e)
		e.container = parts[1]
		f.n++
		id := fmt.Sprintf("e%d", f.n)
		f.execs[id] = &e
		w.WriteHeader(201)
		jsonOut(map[string]string{"Id": id})
	case r.Method == http.MethodPost && len(parts) == 3 && parts[0] == "exec" && parts[2] == "start":
		e := f.execs[parts[1]]
		argv := make([]string, len(e.Cmd))
		for i, a := range e.Cmd {
			argv[i] = f.rewrite(e.container, a)
		}
		cmd := osexec.Command(argv[0], argv[1:]...)
		cmd.Dir = f.rewrite(e.container, e.WorkingDir)
		cmd.Env = append(os.Environ(), e.Env...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *osexec.ExitError
		if errors.As(err, &ee) {
			e.exit = ee.ExitCode()
			if e.exit < 0 {
				e.exit = 137
			}
		}
		w.Header().Set("Content-Type", "application/vnd.docker.raw-stream")
		for _, fr := range []struct {
			stream byte
			data   []byte
		}{{1, out.Bytes()}, {2, errb.Bytes()}} {
			for len(fr.data) > 0 {
				n := min(len(fr.data), 1000) // several frames per stream
				hdr := make([]byte, 8)
				hdr[0] = fr.stream
				binary.BigEndian.PutUint32(hdr[4:], uint32(n))
				w.Write(hdr)
				w.Write(fr.data[:n])
				fr.data = fr.data[n:]
			}
		}
	case r.Method == http.MethodGet && len(parts) == 3 && parts[0] == "exec" && parts[2] == "json":
		jsonOut(map[string]any{"ExitCode": f.execs[parts[1]].exit, "Running": false})
	case len(parts) == 3 && parts[0] == "containers" && parts[2] == "archive":
		dst, err := f.path(parts[1], r.URL.Query().Get("path"))
		if err != nil {
			fail(404, err.Error())
			return
		}
		if r.Method == http.MethodPut {
			tr := tar.NewReader(r.Body)
			for {
				h, err := tr.Next()
				if err != nil {
					break
				}
				data, _ := io.ReadAll(tr)
				os.WriteFile(filepath.Join(dst, h.Name), data, 0o644)
			}
			return
		}
		data, err := os.ReadFile(dst)
		if err != nil {
			fail(404, "Could not find the file "+r.URL.Query().Get("path"))
			return
		}
		tw := tar.NewWriter(w)
		tw.WriteHeader(&tar.Header{Name: filepath.Base(dst), Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write(data)
		tw.Close()
	case r.Method == http.MethodDelete && len(parts) == 2 && parts[0] == "containers":
		if r.URL.Query().Get("force") != "true" {
			fail(409, "container is running: force needed")
			return
		}
		os.RemoveAll(f.containers[parts[1]])
		delete(f.containers, parts[1])
		f.removed = append(f.removed, parts[1])
		w.WriteHeader(204)
	default:
		fail(404, "fake engine: unexpected "+r.Method+" "+r.URL.Path)
		f.t.Errorf("unexpected request %s %s", r.Method, r.URL)
	}
}

// TestDockerProtocol drives the docker backend against the fake engine
// on a unix socket: the client's protocol, not isolation.
func TestDockerProtocol(t *testing.T) {
	root := t.TempDir()
	image := filepath.Join(root, "image")
	os.MkdirAll(image, 0o755)
	os.WriteFile(filepath.Join(image, "hello.txt"), []byte("hi\n"), 0o644)
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	eng := &fakeEngine{t: t, root: root, containers: map[string]string{}, execs: map[string]*fakeExec{}}
	srv := &http.Server{Handler: eng}
	go srv.Serve(ln)
	defer srv.Close()

	ctx := context.Background()
	d := &Docker{Host: "unix://" + sock}
	if err := d.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(ctx, Workspace{Image: "missing:1"}); !errors.Is(err, ErrInfra) || !strings.Contains(err.Error(), "No such image") {
		t.Fatalf("missing image: %v", err)
	}
	sb, err := d.Open(ctx, Workspace{Image: "swelake/fake:latest"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := sb.Run(ctx, Spec{Argv: []string{"sh", "-c", "cat hello.txt; echo to-stderr >&2; head -c 5000 /dev/zero | tr '\\0' x; exit 3"}})
	if err != nil || res.ExitCode != 3 || !bytes.HasPrefix(res.Output, []byte("hi\n")) || !bytes.Contains(res.Output, []byte("to-stderr")) ||
		bytes.Count(res.Output, []byte("x")) != 5000 {
		t.Fatalf("run: exit %d, %d bytes, %v", res.ExitCode, len(res.Output), err)
	}
	var streamed bytes.Buffer
	res, err = sb.Run(ctx, Spec{Argv: []string{"cat"}, Stdin: strings.NewReader("piped through a file"), Stdout: &streamed})
	if err != nil || string(res.Output) != "piped through a file" || streamed.String() != "piped through a file" {
		t.Fatalf("stdin: %q / %q, %v", res.Output, streamed.String(), err)
	}
	if err := sb.WriteFile(ctx, "dir/blob.bin", []byte{0, 1, 255}); err != nil {
		t.Fatal(err)
	}
	if got, err := sb.ReadFile(ctx, "dir/blob.bin"); err != nil || !bytes.Equal(got, []byte{0, 1, 255}) {
		t.Fatalf("read back %v, %v", got, err)
	}
	if _, err := sb.ReadFile(ctx, "../../etc/passwd"); err == nil || strings.Contains(err.Error(), "root:") {
		t.Fatalf("escape: %v", err)
	}
	start := time.Now()
	res, err = sb.Run(ctx, Spec{Argv: []string{"sleep", "30"}, Limits: Limits{Timeout: time.Second}})
	if err != nil || res.ExitCode != TimeoutExitCode || !res.TimedOut || time.Since(start) > 10*time.Second {
		t.Fatalf("timeout: %+v, %v", res, err)
	}
	if err := sb.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(eng.removed) != 1 || len(eng.containers) != 0 {
		t.Fatalf("containers left: %v (removed %v)", eng.containers, eng.removed)
	}
	if _, err := sb.Run(ctx, Spec{Argv: []string{"true"}}); !errors.Is(err, ErrInfra) {
		t.Fatalf("run after close: %v", err)
	}
}
