package taskexec

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/swelake/swelake/schemas"
)

// TestAttackRepoTraversal (docs/security.md, finding 8): a task row with
// repo "../../../../tmp/x" made `sandbox run --task` clone a host repository
// from outside sandbox.repos_dir. Every path that leaves the store — by
// "..", as an absolute path, through a symlink — is refused.
func TestAttackRepoTraversal(t *testing.T) {
	root := t.TempDir()
	store := filepath.Join(root, "repos")
	outside := filepath.Join(root, "host-repo")
	for _, d := range []string{filepath.Join(store, "owner", "ok", ".git"), filepath.Join(outside, ".git")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(store, "owner", "link")); err != nil {
		t.Fatal(err)
	}
	for _, repo := range []string{"../host-repo", "../../../../" + outside, outside, "owner/../../host-repo", "owner/link", "owner//ok", "./owner/ok", "owner\\..\\..", "owner/ok\x00"} {
		_, err := TaskWorkspace(store, &schemas.Task{TaskID: "t", Repo: repo, BaseCommit: "abc"})
		if !errors.Is(err, ErrRepoPath) {
			t.Errorf("repo %q: %v, want ErrRepoPath", repo, err)
		}
	}
	ws, err := TaskWorkspace(store, &schemas.Task{TaskID: "t", Repo: "owner/ok", BaseCommit: "abc"})
	if err != nil || ws.Source != filepath.Join(store, "owner", "ok") {
		t.Fatalf("a plain repo: %+v, %v", ws, err)
	}
}
