// Package miniotest builds the pinned MinIO server and runs it on 127.0.0.1
// for tests and for `make minio`. Nothing here is faked: it is the real server.
package miniotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Module is the pinned MinIO server (DESIGN.md, "Dependencies").
const Module = "github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"

// Server is a running MinIO server.
type Server struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	Dir       string
	cmd       *exec.Cmd
	done      chan struct{}
}

// RepoRoot finds the directory holding go.mod, walking up from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Binary returns the MinIO binary: $SWELAKE_MINIO_BIN, else <repo>/bin/minio,
// building it there with `go install` if it is missing.
func Binary(ctx context.Context) (string, error) {
	if p := os.Getenv("SWELAKE_MINIO_BIN"); p != "" {
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, "bin", "minio")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	cmd := exec.CommandContext(ctx, "go", "install", Module)
	cmd.Env = append(os.Environ(), "GOBIN="+filepath.Join(root, "bin"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build MinIO (go install %s into %s/bin; run `make minio-bin`): %v\n%s", Module, root, err, out)
	}
	return bin, nil
}

// FreePort is a TCP port free on 127.0.0.1 now (for a server the test starts).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Options configures Start.
type Options struct {
	Dir  string // data directory (required)
	Port int    // 0: a free port
	// Stdout/Stderr receive the server's output (default: discarded).
	Stdout, Stderr *os.File
}

// Start runs a MinIO server on 127.0.0.1 and waits until it is ready.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := Binary(ctx)
	if err != nil {
		return nil, err
	}
	var s *Server
	// A free port may be taken between probing and binding: try a few.
	for attempt := 0; attempt < 5; attempt++ {
		s, err = start(ctx, bin, opts)
		if err == nil {
			return s, nil
		}
		if opts.Port != 0 {
			break
		}
	}
	return nil, err
}

func start(ctx context.Context, bin string, opts Options) (*Server, error) {
	port, console := opts.Port, 0
	var err error
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if console, err = FreePort(); err != nil {
		return nil, err
	}
	var secret [12]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, err
	}
	s := &Server{
		Endpoint:  "127.0.0.1:" + strconv.Itoa(port),
		AccessKey: "swelake",
		SecretKey: hex.EncodeToString(secret[:]),
		Dir:       opts.Dir,
		done:      make(chan struct{}),
	}
	cmd := exec.Command(bin, "server", "--quiet", "--address", s.Endpoint,
		"--console-address", "127.0.0.1:"+strconv.Itoa(console), opts.Dir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	cmd.Stdout, cmd.Stderr = opts.Stdout, opts.Stderr
	// The server dies with its parent even if the parent is killed -9.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start MinIO %s: %w", bin, err)
	}
	s.cmd = cmd
	go func() { cmd.Wait(); close(s.done) }()

	deadline := time.Now().Add(60 * time.Second)
	url := "http://" + s.Endpoint + "/minio/health/live"
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("MinIO on %s exited during start-up: %v", s.Endpoint, cmd.ProcessState)
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("MinIO on %s not ready after 60s: %v", s.Endpoint, err)
		}
	}
}

// Stop kills the server and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

// Env is the environment that points swelake at this server.
func (s *Server) Env() []string {
	return []string{
		"SWELAKE_S3_ENDPOINT=" + s.Endpoint,
		"SWELAKE_S3_ACCESS_KEY=" + s.AccessKey,
		"SWELAKE_S3_SECRET_KEY=" + s.SecretKey,
		"SWELAKE_S3_SECURE=false",
	}
}

// StartTB starts a server for a test (or a TestMain via a *testing.M-less
// caller: see StartMain) and stops it when the test ends. A server that
// cannot be started fails the test, saying what to install.
func StartTB(tb testing.TB) *Server {
	tb.Helper()
	s, err := Start(context.Background(), Options{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("MinIO is required for the S3 tests (run `make minio-bin`, or set SWELAKE_MINIO_BIN): %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}
