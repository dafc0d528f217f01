// Package k8stest starts a real Kubernetes API server for tests — Debian's
// etcd and a kube-apiserver built from the Go module proxy (make
// kube-apiserver-bin), as controller-runtime's envtest does — so that
// manifests are checked by the server itself (server-side dry run, strict
// field validation), not by our reading of the schema. There is no
// scheduler, controller manager or kubelet: objects are stored and
// validated, nothing runs. Everything it writes is under one temporary
// directory; the processes are stopped by their pids.
package k8stest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/swelake/swelake/internal/miniotest"
)

// Install says what a machine without the server's programs needs.
const Install = "install Debian's etcd-server (apt-get install etcd-server) and build kube-apiserver from the module proxy (make kube-apiserver-bin); `make setup` does both"

// Server is a running API server.
type Server struct {
	URL   string // https://127.0.0.1:<port>
	Token string // a bearer token of system:masters
	Dir   string
	hc    *http.Client
	procs []proc // stopped in reverse order
}

type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when it has exited
}

// Binary is the kube-apiserver: $SWELAKE_KUBE_APISERVER_BIN, else the
// newest <repo>/bin/kube-apiserver-<version> (make kube-apiserver-bin).
func Binary() (string, error) {
	if p := os.Getenv("SWELAKE_KUBE_APISERVER_BIN"); p != "" {
		return p, nil
	}
	root, err := miniotest.RepoRoot()
	if err != nil {
		return "", err
	}
	bins, _ := filepath.Glob(filepath.Join(root, "bin", "kube-apiserver-v*"))
	if len(bins) == 0 {
		return "", fmt.Errorf("no kube-apiserver in %s/bin: %s", root, Install)
	}
	sort.Strings(bins)
	return bins[len(bins)-1], nil
}

// Start starts etcd and kube-apiserver on free ports of 127.0.0.1 and waits
// until the server is ready (/readyz).
func Start(ctx context.Context) (*Server, error) {
	apiserver, err := Binary()
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		return nil, fmt.Errorf("etcd not on PATH: %s", Install)
	}
	dir, err := os.MkdirTemp("", "k8stest-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, Token: "swelake-test-admin"}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	var ports [3]int
	for i := range ports {
		if ports[i], err = miniotest.FreePort(); err != nil {
			return nil, err
		}
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	if err := s.start(filepath.Join(dir, "etcd.log"), "etcd", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", ports[1]), "--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		"--initial-cluster", fmt.Sprintf("default=http://127.0.0.1:%d", ports[1])); err != nil {
		return nil, err
	}
	// The service-account signing key and a static token of system:masters.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	keyFile := filepath.Join(dir, "sa.key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return nil, err
	}
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(s.Token+",admin,admin-uid,system:masters\n"), 0o600); err != nil {
		return nil, err
	}
	certs := filepath.Join(dir, "certs")
	if err := s.start(filepath.Join(dir, "kube-apiserver.log"), apiserver, "--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", fmt.Sprint(ports[2]),
		"--cert-dir", certs, "--token-auth-file", tokens, "--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc", "--service-account-key-file", keyFile,
		"--service-account-signing-key-file", keyFile, "--service-cluster-ip-range", "10.0.0.0/24"); err != nil {
		return nil, err
	}
	s.URL = fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	// The server writes its self-signed serving certificate into cert-dir.
	deadline := time.Now().Add(90 * time.Second)
	var last string
	for {
		if s.hc == nil {
			if pemData, err := os.ReadFile(filepath.Join(certs, "apiserver.crt")); err == nil {
				pool := x509.NewCertPool()
				if pool.AppendCertsFromPEM(pemData) {
					s.hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
				}
			}
		}
		if s.hc != nil {
			code, body, err := s.Do(ctx, "GET", "/readyz", nil)
			if err == nil && code == 200 {
				break
			}
			last = fmt.Sprintf("readyz %d %v: %s", code, err, body)
		}
		for _, p := range s.procs {
			select {
			case <-p.done:
				return nil, fmt.Errorf("%s exited: %s", filepath.Base(p.cmd.Path), tail(p.log))
			default:
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("kube-apiserver not ready in 90s (%s): %s", last, tail(filepath.Join(dir, "kube-apiserver.log")))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	ok = true
	return s, nil
}

func (s *Server) start(logFile, bin string, args ...string) error {
	log, err := os.Create(logFile)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s: %w", bin, err)
	}
	p := proc{cmd: cmd, log: logFile, done: make(chan struct{})}
	s.procs = append(s.procs, p)
	go func() {
		cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return nil
}

func tail(path string) string {
	data, _ := os.ReadFile(path)
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return string(data)
}

// Do sends a request as the admin and returns the status and body.
func (s *Server) Do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	code, data, _, err := s.DoWarn(ctx, method, path, body)
	return code, data, err
}

// DoWarn is Do that also returns the server's Warning headers (deprecated
// fields and APIs, unknown fields under fieldValidation=Warn).
func (s *Server) DoWarn(ctx context.Context, method, path string, body []byte) (int, []byte, []string, error) {
	if s.hc == nil {
		return 0, nil, nil, errors.New("kube-apiserver not started")
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, data, resp.Header.Values("Warning"), err
}

// Version is the server's /version gitVersion.
func (s *Server) Version(ctx context.Context) string {
	_, body, _ := s.Do(ctx, "GET", "/version", nil)
	i := strings.Index(string(body), `"gitVersion": "`)
	if i < 0 {
		return ""
	}
	v := string(body[i+len(`"gitVersion": "`):])
	v, _, _ = strings.Cut(v, `"`)
	return v
}

// Stop stops the processes (SIGTERM, then SIGKILL) and removes the directory.
func (s *Server) Stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		pid := p.cmd.Process.Pid
		syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-pid, syscall.SIGKILL)
			<-p.done
		}
	}
	os.RemoveAll(s.Dir)
}
