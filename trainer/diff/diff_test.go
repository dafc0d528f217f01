package diff

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/swelake/swelake/internal/realsamples"
)

// gitApplyPaths are the files git itself says a patch changes
// (`git apply --numstat`, which reads the patch without applying it).
func gitApplyPaths(t *testing.T, patch string) []string {
	t.Helper()
	cmd := exec.Command("git", "apply", "--numstat", "-")
	cmd.Stdin = strings.NewReader(patch)
	cmd.Dir = t.TempDir()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git apply --numstat (git is needed): %v", err)
	}
	var paths []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Split(line, "\t"); len(f) == 3 {
			paths = append(paths, f[2])
		}
	}
	return paths
}

// TestPathsOnRealPatches: the files of the real SWE-bench gold and
// test patches are the ones git names, and the dataset's own
// patch_files/test_patch_files where the row has them.
func TestPathsOnRealPatches(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(realsamples.Dir(t), "swe-tasks", "*", "row.json"))
	if len(files) != 9 {
		t.Fatalf("%d SWE-bench rows in realdata/swe-tasks, want 9", len(files))
	}
	listed := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var row struct {
			ID        string   `json:"instance_id"`
			Patch     string   `json:"patch"`
			TestPatch string   `json:"test_patch"`
			Files     []string `json:"patch_files"`
			TestFiles []string `json:"test_patch_files"`
		}
		if err := json.Unmarshal(data, &row); err != nil {
			t.Fatal(err)
		}
		for _, p := range []struct {
			patch string
			own   []string
		}{{row.Patch, row.Files}, {row.TestPatch, row.TestFiles}} {
			got := Paths(p.patch)
			if want := gitApplyPaths(t, p.patch); !slices.Equal(got, want) {
				t.Errorf("%s: Paths %v, git apply --numstat %v", row.ID, got, want)
			}
			if p.own != nil {
				listed++
				if !slices.Equal(got, p.own) {
					t.Errorf("%s: Paths %v, the row's own list %v", row.ID, got, p.own)
				}
			}
		}
	}
	t.Logf("%d patches checked against git; %d against the rows' own file lists", 2*len(files), listed)
}

const createDelete = `diff --git a/docs/new.md b/docs/new.md
new file mode 100644
--- /dev/null
+++ b/docs/new.md
@@ -0,0 +1 @@
+new
diff --git a/docs/old.md b/docs/old.md
deleted file mode 100644
--- a/docs/old.md
+++ /dev/null
@@ -1 +0,0 @@
-old
`

// TestPaths: a created and a deleted file, as git names them;
// the created one is Created.
func TestPaths(t *testing.T) {
	if got, want := Paths(createDelete), []string{"docs/new.md", "docs/old.md"}; !slices.Equal(got, want) {
		t.Fatalf("Paths: %v, want %v", got, want)
	}
	if got := gitApplyPaths(t, createDelete); !slices.Equal(got, Paths(createDelete)) {
		t.Fatalf("git names %v", got)
	}
	if c := Created(createDelete); len(c) != 1 || !c["docs/new.md"] {
		t.Fatalf("Created: %v", c)
	}
	for line, want := range map[string]string{"a/src/x.py": "src/x.py", "b/src/x.py\t2026-01-01 00:00:00": "src/x.py", "/dev/null": "", "plain.txt": "plain.txt"} {
		if got := HeaderPath(strings.ReplaceAll(line, "\\t", "\t")); got != want {
			t.Errorf("HeaderPath(%q) = %q, want %q", line, got, want)
		}
	}
}

func TestLinesChanged(t *testing.T) {
	patch := "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,2 @@\n a\n-b\n-c\n+d\n"
	if n := LinesChanged(patch); n != 3 {
		t.Fatalf("LinesChanged = %d, want 3 (two removed, one added; headers excluded)", n)
	}
	if n := LinesChanged(""); n != 0 {
		t.Fatalf("LinesChanged of no patch = %d", n)
	}
}
