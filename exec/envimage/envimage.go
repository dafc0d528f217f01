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
	"cmp"
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
	"time"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/internal/flock"
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

// DefaultCacheDir is where built root filesystems and downloaded packages
// are kept unless configured: the user cache directory's swelake/images.
func DefaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "swelake", "images")
	}
	return filepath.Join(os.TempDir(), "swelake-images")
}

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

func (b *Builder) mirror() string { return strings.TrimRight(cmp.Or(b.Mirror, DefaultMirror), "/") }
func (b *Builder) suite() string  { return cmp.Or(b.Suite, DefaultSuite) }

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

// lockFile takes an exclusive lock on path (created), waiting while ctx
// allows; the returned func releases it.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := flock.Lock(ctx, f, 200*time.Millisecond); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
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

// EnvSpec is an environment layer: the Debian packages a repository's
// version needs on top of the base.
type EnvSpec struct {
	Key      string   // repo@version, for people
	Packages []string // Debian packages
}

// EnvRef is SWE-bench's name for an environment image: the hash of what
// goes into it, 22 characters.
func EnvRef(inputs string) string { return "sweb.env.py.x86_64." + inputs[:22] + ":latest" }

// Env makes sure the environment layer of spec exists on base and
// returns it. Its packages are downloaded on the host (apt-get with the
// base's package database, so that only what the base lacks comes) and
// installed with dpkg in a build with no network.
func (b *Builder) Env(ctx context.Context, base Image, spec EnvSpec) (Image, error) {
	pkgs := normPackages(spec.Packages)
	inputs := hashOf("env", base.Inputs, strings.Join(pkgs, ","))
	img := Image{Ref: EnvRef(inputs), Kind: "env", Key: spec.Key, Inputs: inputs}
	if ok, err := b.current(ctx, img.Ref, inputs); err != nil || ok {
		return img, err
	}
	start := time.Now()
	dir, err := os.MkdirTemp("", "swelake-envbuild-")
	if err != nil {
		return img, err
	}
	defer os.RemoveAll(dir)
	dockerfile := "FROM " + base.Ref + "\n"
	if len(pkgs) > 0 {
		if err := b.download(ctx, base, pkgs, filepath.Join(dir, "debs")); err != nil {
			return img, fmt.Errorf("env %s: %w", spec.Key, err)
		}
		if debs, _ := filepath.Glob(filepath.Join(dir, "debs", "*.deb")); len(debs) > 0 {
			dockerfile += "COPY debs/ /var/cache/swelake-debs/\nRUN dpkg -i /var/cache/swelake-debs/*.deb && rm -rf /var/cache/swelake-debs\n"
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return img, err
	}
	if err := b.build(ctx, img, dir); err != nil {
		return img, err
	}
	b.log().Info("env: environment image built", "ref", img.Ref, "key", spec.Key, "packages", len(pkgs), "seconds", time.Since(start).Seconds())
	img.Built = true
	return img, nil
}

func (b *Builder) build(ctx context.Context, img Image, dir string) error {
	r := exec.TarDir(dir)
	defer r.Close()
	return b.Docker.BuildImage(ctx, img.Ref, r, map[string]string{LabelInputs: img.Inputs, LabelKind: img.Kind, LabelKey: img.Key})
}

// download fetches pkgs and what they need beyond base into dst, with a
// private apt configuration (its own sources list, lists and cache under
// the builder's cache directory; the host's apt state is not touched).
func (b *Builder) download(ctx context.Context, base Image, pkgs []string, dst string) error {
	tarPath := filepath.Join(b.CacheDir, "rootfs", base.Inputs[:32]+".tar")
	status, err := dpkgStatus(tarPath)
	if err != nil {
		return fmt.Errorf("the base image's package database (build the base here first): %w", err)
	}
	aptDir := filepath.Join(b.CacheDir, "apt")
	for _, d := range []string{filepath.Join(aptDir, "lists", "partial"), filepath.Join(aptDir, "cache"), filepath.Join(aptDir, "parts"), filepath.Join(dst, "partial")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	statusFile := filepath.Join(dst, "partial", "status")
	if err := os.WriteFile(statusFile, status, 0o644); err != nil {
		return err
	}
	sources := filepath.Join(aptDir, "sources.list")
	line := fmt.Sprintf("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n", b.mirror(), b.suite())
	if err := os.WriteFile(sources, []byte(line), 0o644); err != nil {
		return err
	}
	opts := []string{"-q", "-o", "Dir::Etc::SourceList=" + sources, "-o", "Dir::Etc::SourceParts=" + filepath.Join(aptDir, "parts"),
		"-o", "Dir::State::Lists=" + filepath.Join(aptDir, "lists"), "-o", "Dir::State::status=" + statusFile,
		"-o", "Dir::Cache=" + filepath.Join(aptDir, "cache"), "-o", "Dir::Cache::archives=" + dst,
		"-o", "Debug::NoLocking=1", "-o", "APT::Architecture=amd64", "-o", "APT::Install-Recommends=false"}
	unlock, err := lockFile(ctx, filepath.Join(aptDir, "lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if out, err := osexec.CommandContext(ctx, "apt-get", append(opts, "update")...).CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update (%s %s): %v: %s", b.mirror(), b.suite(), err, lastLines(out, 3))
	}
	if out, err := osexec.CommandContext(ctx, "apt-get", append(opts, append([]string{"install", "-y", "--download-only"}, pkgs...)...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get install --download-only %s: %v: %s", strings.Join(pkgs, " "), err, lastLines(out, 3))
	}
	return os.RemoveAll(filepath.Join(dst, "partial"))
}

// InstanceSpec is an instance layer: a repository at a commit.
type InstanceSpec struct {
	InstanceID string
	RepoDir    string // a git repository on the host holding Commit
	Commit     string
}

// InstanceRef is SWE-bench's name for an instance image.
func InstanceRef(instanceID string) string {
	return "sweb.eval.x86_64." + strings.ToLower(instanceID) + ":latest"
}

// Instance makes sure the instance layer (the repository at its commit at
// /testbed, a git repository holding that commit only) exists on env.
func (b *Builder) Instance(ctx context.Context, env Image, spec InstanceSpec) (Image, error) {
	inputs := hashOf("instance", env.Inputs, spec.InstanceID, spec.Commit)
	img := Image{Ref: InstanceRef(spec.InstanceID), Kind: "instance", Key: spec.InstanceID, Inputs: inputs}
	if ok, err := b.current(ctx, img.Ref, inputs); err != nil || ok {
		return img, err
	}
	start := time.Now()
	dir, err := os.MkdirTemp("", "swelake-instbuild-")
	if err != nil {
		return img, err
	}
	defer os.RemoveAll(dir)
	tb := filepath.Join(dir, "testbed")
	git := func(args ...string) error {
		cmd := osexec.CommandContext(ctx, "git", args...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("instance %s: git %s: %v: %s", spec.InstanceID, strings.Join(args, " "), err, lastLines(out, 2))
		}
		return nil
	}
	src, err := filepath.Abs(spec.RepoDir)
	if err != nil {
		return img, err
	}
	if err := git("init", "-q", tb); err != nil {
		return img, err
	}
	if err := git("-C", tb, "-c", "protocol.file.allow=always", "fetch", "-q", "--depth=1",
		"--upload-pack=git -c uploadpack.allowAnySHA1InWant=true upload-pack", "file://"+src, spec.Commit); err != nil {
		return img, err
	}
	if err := git("-C", tb, "-c", "advice.detachedHead=false", "checkout", "-q", spec.Commit); err != nil {
		return img, err
	}
	dockerfile := "FROM " + env.Ref + "\nCOPY testbed/ /testbed/\nWORKDIR /testbed\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return img, err
	}
	if err := b.build(ctx, img, dir); err != nil {
		return img, err
	}
	b.log().Info("env: instance image built", "ref", img.Ref, "commit", spec.Commit, "seconds", time.Since(start).Seconds())
	img.Built = true
	return img, nil
}

// Ours lists the images this package built (by their kind label).
func (b *Builder) Ours(ctx context.Context) ([]exec.ImageInfo, error) {
	return b.Docker.Images(ctx, LabelKind)
}
