// Package promtest runs the Prometheus components swelake's metrics go to,
// on 127.0.0.1, so that tests check the metrics with what reads them in
// production: the pinned node_exporter (built with go install) with only
// its textfile collector, and Debian's Pushgateway. Nothing here is faked.
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
	_, scrape = serve(tb, "node_exporter", "node_textfile_scrape_error", bin, "--collector.disable-defaults", "--collector.textfile",
		"--collector.textfile.directory="+dir, "--log.level=warn")
	return scrape
}

// PushgatewayBinary is Debian's Pushgateway (apt-get install
// prometheus-pushgateway), or $SWELAKE_PUSHGATEWAY_BIN.
func PushgatewayBinary() (string, error) {
	if p := os.Getenv("SWELAKE_PUSHGATEWAY_BIN"); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("prometheus-pushgateway")
	if err != nil {
		return "", fmt.Errorf("prometheus-pushgateway not found: apt-get install prometheus-pushgateway (or set SWELAKE_PUSHGATEWAY_BIN)")
	}
	return p, nil
}

// Pushgateway runs a Pushgateway (in memory, no persistence) and returns
// its base URL and a function that scrapes its /metrics. It stops with the
// test.
func Pushgateway(tb testing.TB) (url string, scrape func() string) {
	tb.Helper()
	bin, err := PushgatewayBinary()
	if err != nil {
		tb.Fatalf("the Pushgateway is needed to check pushed metrics: %v", err)
	}
	return serve(tb, "pushgateway", "pushgateway_build_info", bin, "--log.level=warn")
}

// serve starts bin listening on a free port of 127.0.0.1 and waits until
// its /metrics shows ready; it is killed when the test ends.
func serve(tb testing.TB, name, ready, bin string, args ...string) (base string, scrape func() string) {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, append([]string{"--web.listen-address=" + addr}, args...)...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base = "http://" + addr
	scrape = func() string {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if strings.Contains(scrape(), ready) {
			return base, scrape
		}
	}
	tb.Fatalf("%s on %s did not serve /metrics within 15 s", name, addr)
	return "", nil
}
