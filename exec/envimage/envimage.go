// Package envimage builds task images offline, the SWE-bench way: a base
// image from Debian packages (mmdebstrap, imported into the engine), an
// environment layer per repository and version (more Debian packages,
// downloaded on the host and installed with dpkg in a build with no
// network), and an instance layer (the repository at its base commit at
// /testbed). Images are named as SWE-bench names them (sweb.base.*,
// sweb.env.*, sweb.eval.x86_64.<instance>) and carry the hash of what went
// into them (label swelake.inputs): an image whose hash matches is reused,
// never rebuilt.
package envimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/swelake/swelake/exec"
)

// Labels every image of ours carries.
const (
	LabelInputs = "swelake.inputs" // sha256 of what went into the image
	LabelKind   = "swelake.kind"   // base, env or instance
	LabelKey    = "swelake.key"    // what it is for: the package list, repo@version, the instance id
)

// DefaultMirror and DefaultSuite are where base images come from.
const (
	DefaultMirror = "http://deb.debian.org/debian"
	DefaultSuite  = "bookworm"
)

// BasePackages are in every base image: what the sandbox and SWE-bench's
// eval scripts use (sh, coreutils' timeout, git, patch) and Python with
// pytest.
var BasePackages = []string{"git", "patch", "python3", "python3-pytest", "python3-setuptools", "ca-certificates"}

// Builder builds images into an engine.
type Builder struct {
	Docker   *exec.Docker
	CacheDir string // root filesystems and downloaded packages
	Mirror   string // Debian mirror (DefaultMirror)
	Suite    string // Debian suite (DefaultSuite)
	Logger   *slog.Logger
}

// Image is one image this package built or found.
type Image struct {
	Ref    string `json:"ref"`
	Kind   string `json:"kind"`
	Key    string `json:"key"`
	Inputs string `json:"inputs"`
	Built  bool   `json:"built"` // false: reused
}

func (b *Builder) log() *slog.Logger {
	if b.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Logger
}

func (b *Builder) mirror() string { return strings.TrimRight(cmpOr(b.Mirror, DefaultMirror), "/") }
func (b *Builder) suite() string  { return cmpOr(b.Suite, DefaultSuite) }

func cmpOr(a, def string) string {
	if a == "" {
		return def
	}
	return a
}

func hashOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func normPackages(pkgs []string) []string {
	out := slices.Clone(pkgs)
	slices.Sort(out)
	return slices.Compact(out)
}

// current reports whether ref exists with the inputs hash.
func (b *Builder) current(ctx context.Context, ref, inputs string) (bool, error) {
	info, err := b.Docker.InspectImage(ctx, ref)
	if errors.Is(err, exec.ErrNoImage) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return info.Labels[LabelInputs] == inputs, nil
}

// BaseRef is the base image's name.
const BaseRef = "sweb.base.py.x86_64:latest"

// Base makes sure the base image holds BasePackages and extra (packages
// every environment shares) and returns it.
func (b *Builder) Base(ctx context.Context, extra []string) (Image, error) {
	pkgs := normPackages(append(slices.Clone(BasePackages), extra...))
	inputs := hashOf("base", b.suite(), b.mirror(), strings.Join(pkgs, ","))
	img := Image{Ref: BaseRef, Kind: "base", Key: strings.Join(pkgs, ","), Inputs: inputs}
	if ok, err := b.current(ctx, img.Ref, inputs); err != nil || ok {
		return img, err
	}
	tarPath, err := b.rootfs(ctx, pkgs, inputs)
	if err != nil {
		return img, err
	}
	f, err := os.Open(tarPath)
	if err != nil {
		return img, err
	}
	defer f.Close()
	start := time.Now()
	if err := b.Docker.ImportImage(ctx, img.Ref, f, map[string]string{LabelInputs: inputs, LabelKind: "base", LabelKey: img.Key}); err != nil {
		return img, err
	}
	b.log().Info("env: base image imported", "ref", img.Ref, "seconds", time.Since(start).Seconds())
	img.Built = true
	return img, nil
}

// rootfs is the base root filesystem (a tar archive in the cache, built
// by mmdebstrap once per inputs hash, under a lock so that concurrent
// builders wait for one build).
func (b *Builder) rootfs(ctx context.Context, pkgs []string, inputs string) (string, error) {
	dir := filepath.Join(b.CacheDir, "rootfs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, inputs[:32]+".tar")
	unlock, err := lockFile(ctx, path+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if _, err := osexec.LookPath("mmdebstrap"); err != nil {
		return "", errors.New("mmdebstrap not found: install the Debian package mmdebstrap (apt-get install mmdebstrap)")
	}
	tmp := path + ".part"
	start := time.Now()
	b.log().Info("env: building the base root filesystem", "packages", strings.Join(pkgs, ","), "mirror", b.mirror())
	cmd := osexec.CommandContext(ctx, "mmdebstrap", "--variant=minbase", "--include="+strings.Join(pkgs, ","),
		"--format=tar", b.suite(), tmp, b.mirror())
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("mmdebstrap %s: %v: %s", b.suite(), err, lastLines(out, 5))
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	b.log().Info("env: base root filesystem built", "path", path, "seconds", time.Since(start).Seconds())
	return path, nil
}

// lockFile takes an exclusive flock on path, polling so that ctx can stop
// the wait.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// dpkgStatus reads /var/lib/dpkg/status out of a root filesystem archive.
func dpkgStatus(tarPath string) ([]byte, error) {
	f, err := os.Open(tarPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("%s: no var/lib/dpkg/status: %w", tarPath, err)
		}
		if strings.TrimPrefix(h.Name, "./") == "var/lib/dpkg/status" {
			return io.ReadAll(tr)
		}
	}
}

var _ = bytes.NewReader
