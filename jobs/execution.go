package jobs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/schemas"
)

// TaskWorkspace is where a task's sandbox starts: its repository under
// reposDir (<reposDir>/<repo>, a git repository) at its base commit.
func TaskWorkspace(reposDir string, t *schemas.Task) (exec.Workspace, error) {
	src := filepath.Join(reposDir, filepath.FromSlash(t.Repo))
	if _, err := os.Stat(filepath.Join(src, ".git")); err != nil {
		return exec.Workspace{}, fmt.Errorf("task %s: repository %s not found at %s (config sandbox.repos_dir)", t.TaskID, t.Repo, src)
	}
	return exec.Workspace{Source: src, Commit: t.BaseCommit}, nil
}

// Framework is the test-log parser for a task's language ("auto" when the
// language says nothing).
func Framework(language string) string {
	switch strings.ToLower(language) {
	case "go", "golang":
		return "go"
	case "python", "py":
		return "pytest"
	}
	return "auto"
}

// goCacheWarmer is a backend that keeps a warmed Go build cache.
type goCacheWarmer interface {
	WarmGoCache(ctx context.Context, ws exec.Workspace) error
}

// WarmGoCache warms the backend's Go build cache with a workspace's
// packages when the backend keeps one and the language is Go; warming
// failures only cost speed and are logged by the caller.
func WarmGoCache(ctx context.Context, b exec.Backend, language string, ws exec.Workspace) error {
	w, ok := b.(goCacheWarmer)
	if !ok || Framework(language) != "go" {
		return nil
	}
	return w.WarmGoCache(ctx, ws)
}
