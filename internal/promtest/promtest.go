// Package promtest builds the pinned Prometheus node_exporter and runs it
// on 127.0.0.1 with only its textfile collector, so that tests check the
// metrics swelake writes with the collector that reads them in production.
// Nothing here is faked: it is the real exporter.
package promtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swelake/swelake/internal/miniotest"
)

// Module is the pinned node_exporter.
const Module = "github.com/prometheus/node_exporter@v1.10.1"

// Binary returns node_exporter: $SWELAKE_NODE_EXPORTER_BIN, else
// <repo>/bin/node_exporter, built there with `go install` if missing.
func Binary(ctx context.Context) (string, error) {
	if p := os.Getenv("SWELAKE_NODE_EXPORTER_BIN"); p != "" {
		return p, nil
	}
	root, err := miniotest.RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, "bin", "node_exporter")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	cmd := exec.CommandContext(ctx, "go", "install", Module)
	cmd.Env = append(os.Environ(), "GOBIN="+filepath.Join(root, "bin"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build node_exporter (go install %s into %s/bin; run `make deps`): %v\n%s", Module, root, err, out)
	}
	return bin, nil
}

// Textfile runs node_exporter with only the textfile collector reading dir
// and returns a function that scrapes its /metrics. The exporter stops with
// the test.
func Textfile(tb testing.TB, dir string) (scrape func() string) {
	tb.Helper()
	ctx := context.Background()
	bin, err := Binary(ctx)
	if err != nil {
		tb.Fatalf("node_exporter is needed to check the textfile metrics: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--web.listen-address="+addr, "--collector.disable-defaults", "--collector.textfile",
		"--collector.textfile.directory="+dir, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := "http://" + addr + "/metrics"
	scrape = func() string {
		resp, err := http.Get(url)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if strings.Contains(scrape(), "node_textfile_scrape_error") {
			return scrape
		}
	}
	tb.Fatalf("node_exporter on %s did not serve /metrics within 15 s", addr)
	return nil
}
