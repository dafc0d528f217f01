package exec

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func frame(stream byte, payload string) []byte {
	h := make([]byte, 8, 8+len(payload))
	h[0] = stream
	binary.BigEndian.PutUint32(h[4:], uint32(len(payload)))
	return append(h, payload...)
}

func TestDockerDemux(t *testing.T) {
	var in bytes.Buffer
	in.Write(frame(1, "out-1\n"))
	in.Write(frame(2, "err-1\n"))
	in.Write(frame(1, strings.Repeat("x", 70000)))
	var out, errs bytes.Buffer
	if err := demux(&in, &out, &errs); err != nil {
		t.Fatal(err)
	}
	if out.String() != "out-1\n"+strings.Repeat("x", 70000) || errs.String() != "err-1\n" {
		t.Fatalf("stdout %d bytes, stderr %q", out.Len(), errs.String())
	}
	// A frame cut short is an error, not silently shorter output.
	cut := frame(1, "abcdef")[:10]
	if err := demux(bytes.NewReader(cut), &out, &errs); err == nil {
		t.Fatal("truncated frame accepted")
	}
}

func TestDockerTar(t *testing.T) {
	data := []byte{0, 1, 2, 255, '\n'}
	ar, err := tarFile("blob.bin", data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := untarFile(bytes.NewReader(ar), "blob.bin")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("round trip: %v %v", got, err)
	}
	if _, err := untarFile(bytes.NewReader(ar), "other"); err == nil {
		t.Fatal("missing file found")
	}
}

// TestDockerEngine runs the docker backend against a real engine. These
// machines have none: the issue allows the skip, and it says why.
func TestDockerEngine(t *testing.T) {
	d := &Docker{Host: os.Getenv("DOCKER_HOST")}
	ctx := context.Background()
	if err := d.Ping(ctx); err != nil {
		t.Skipf("docker backend not exercised: %v (install a Docker engine, or set DOCKER_HOST, to run it)", err)
	}
	image := os.Getenv("SWELAKE_DOCKER_IMAGE")
	if image == "" {
		t.Skip("set SWELAKE_DOCKER_IMAGE to an image with sh, git and coreutils' timeout whose /testbed is a directory")
	}
	sb, err := d.Open(ctx, Workspace{Image: image})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(ctx)
	res, err := sb.Run(ctx, Spec{Argv: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}})
	if err != nil || res.ExitCode != 3 || !strings.Contains(string(res.Output), "out") || !strings.Contains(string(res.Output), "err") {
		t.Fatalf("run: %+v %v", res, err)
	}
	if err := sb.WriteFile(ctx, "sub/f.bin", []byte{0, 9}); err != nil {
		t.Fatal(err)
	}
	if got, err := sb.ReadFile(ctx, "sub/f.bin"); err != nil || !bytes.Equal(got, []byte{0, 9}) {
		t.Fatalf("read back %v %v", got, err)
	}
	res, err = sb.Run(ctx, Spec{Argv: []string{"cat"}, Stdin: strings.NewReader("piped")})
	if err != nil || string(res.Output) != "piped" {
		t.Fatalf("stdin: %q %v", res.Output, err)
	}
	res, err = sb.Run(ctx, Spec{Argv: []string{"sleep", "30"}, Limits: Limits{Timeout: time.Second}})
	if err != nil || res.ExitCode != TimeoutExitCode || !res.TimedOut {
		t.Fatalf("timeout: %+v %v", res, err)
	}
	res, _ = sb.Run(ctx, Spec{Argv: []string{"sh", "-c", "getent hosts example.com || wget -q -T 3 -O- http://1.1.1.1 || echo offline"}})
	if !strings.Contains(string(res.Output), "offline") {
		t.Fatalf("network reachable: %s", res.Output)
	}
	if _, err := d.Open(ctx, Workspace{Image: image, Commit: "0000000000000000000000000000000000000000"}); !errors.Is(err, ErrInfra) {
		t.Fatalf("unknown commit: %v", err)
	}
}
