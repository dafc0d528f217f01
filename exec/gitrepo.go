package exec

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
)

// gitEnv makes commits reproducible: a fixed identity and date, and none
// of the user's or the system's git configuration.
var gitEnv = []string{
	"GIT_AUTHOR_NAME=swelake", "GIT_AUTHOR_EMAIL=synth@swelake.invalid", "GIT_AUTHOR_DATE=2000-01-01T00:00:00Z",
	"GIT_COMMITTER_NAME=swelake", "GIT_COMMITTER_EMAIL=synth@swelake.invalid", "GIT_COMMITTER_DATE=2000-01-01T00:00:00Z",
	"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
}

// git runs git on the host with the reproducible environment.
func git(ctx context.Context, stdin io.Reader, extraEnv []string, args ...string) (string, error) {
	cmd := osexec.CommandContext(ctx, "git", args...)
	cmd.Env = append(append(append([]string{}, os.Environ()...), gitEnv...), extraEnv...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// ImportTree records the files of src as a commit of the git repository
// repo (created if missing) on branch refs/heads/<branch>, and returns the
// commit. The commit depends only on the files: importing the same tree
// twice gives the same commit, on any machine. When src is itself a git
// repository its HEAD is fetched instead (history kept).
func ImportTree(ctx context.Context, src, repo, branch string) (string, error) {
	if err := os.MkdirAll(repo, 0o755); err != nil {
		return "", fmt.Errorf("import %s: %w", src, err)
	}
	gitDir := filepath.Join(repo, ".git")
	if _, err := os.Stat(gitDir); err != nil {
		if _, err := git(ctx, nil, nil, "init", "--quiet", repo); err != nil {
			return "", fmt.Errorf("import %s: %w", src, err)
		}
	}
	ref := "refs/heads/" + branch
	if _, err := os.Stat(filepath.Join(src, ".git")); err == nil {
		if _, err := git(ctx, nil, nil, "-C", repo, "fetch", "--quiet", "--no-tags", src, "+HEAD:"+ref); err != nil {
			return "", fmt.Errorf("import %s: %w", src, err)
		}
		return git(ctx, nil, nil, "-C", repo, "rev-parse", ref)
	}
	index, err := os.CreateTemp("", "swelake-index-")
	if err != nil {
		return "", err
	}
	index.Close()
	os.Remove(index.Name()) // git creates it
	defer os.Remove(index.Name())
	env := []string{"GIT_DIR=" + gitDir, "GIT_WORK_TREE=" + src, "GIT_INDEX_FILE=" + index.Name()}
	if _, err := git(ctx, nil, env, "add", "--all", "."); err != nil {
		return "", fmt.Errorf("import %s: %w", src, err)
	}
	tree, err := git(ctx, nil, env, "write-tree")
	if err != nil {
		return "", fmt.Errorf("import %s: %w", src, err)
	}
	commit, err := git(ctx, nil, []string{"GIT_DIR=" + gitDir}, "commit-tree", tree, "-m", "import "+filepath.Base(src))
	if err != nil {
		return "", fmt.Errorf("import %s: %w", src, err)
	}
	if _, err := git(ctx, nil, []string{"GIT_DIR=" + gitDir}, "update-ref", ref, commit); err != nil {
		return "", fmt.Errorf("import %s: %w", src, err)
	}
	return commit, nil
}

// CommitPatch applies patch to the tree of parent in repo (no working tree
// is touched) and records the result as a commit on refs/heads/<branch>.
// The same parent, patch and message give the same commit.
func CommitPatch(ctx context.Context, repo, parent string, patch []byte, branch, message string) (string, error) {
	gitDir := filepath.Join(repo, ".git")
	index, err := os.CreateTemp("", "swelake-index-")
	if err != nil {
		return "", err
	}
	index.Close()
	defer os.Remove(index.Name())
	env := []string{"GIT_DIR=" + gitDir, "GIT_INDEX_FILE=" + index.Name()}
	if _, err := git(ctx, nil, env, "read-tree", parent); err != nil {
		return "", fmt.Errorf("commit patch on %s: %w", parent, err)
	}
	if _, err := git(ctx, bytes.NewReader(patch), env, "apply", "--cached", "--binary", "-"); err != nil {
		return "", fmt.Errorf("commit patch on %s: %w", parent, err)
	}
	tree, err := git(ctx, nil, env, "write-tree")
	if err != nil {
		return "", fmt.Errorf("commit patch on %s: %w", parent, err)
	}
	commit, err := git(ctx, nil, env, "commit-tree", tree, "-p", parent, "-m", message)
	if err != nil {
		return "", fmt.Errorf("commit patch on %s: %w", parent, err)
	}
	if _, err := git(ctx, nil, env, "update-ref", "refs/heads/"+branch, commit); err != nil {
		return "", fmt.Errorf("commit patch on %s: %w", parent, err)
	}
	return commit, nil
}

// ListFiles lists the files of a commit of repo.
func ListFiles(ctx context.Context, repo, commit string) ([]string, error) {
	out, err := git(ctx, nil, nil, "-C", repo, "ls-tree", "-r", "--name-only", commit)
	if err != nil {
		return nil, err
	}
	if out == "" {
		return nil, nil
	}
	return strings.Split(out, "\n"), nil
}
