package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrPatch: no method could apply a patch. The patch's fault, not the
// sandbox's: grading records the task as unresolved with patch_applied false.
var ErrPatch = errors.New("patch does not apply")

// How a patch was applied, in the order they are tried (SWE-bench's
// harness: git apply, then a looser git apply, then GNU patch with fuzz).
const (
	ApplyGit       = "git_apply"       // git apply, exact
	ApplyGitLoose  = "git_apply_loose" // git apply --recount --ignore-whitespace
	ApplyPatchFuzz = "patch_fuzz"      // patch --fuzz=5 (after a clean dry run)
)

// applyAttempts are the commands tried in turn; the patch arrives on stdin,
// so its size is never bound by the command line, and its bytes are passed
// through untouched (binary git patches included).
var applyAttempts = []struct {
	method string
	argvs  [][]string // all must succeed; the first may be a dry run
}{
	{ApplyGit, [][]string{{"git", "apply", "--verbose", "--whitespace=nowarn", "-"}}},
	{ApplyGitLoose, [][]string{{"git", "apply", "--verbose", "--recount", "--ignore-whitespace", "--whitespace=nowarn", "-"}}},
	{ApplyPatchFuzz, [][]string{
		{"patch", "--batch", "--forward", "--fuzz=5", "-p1", "--dry-run", "--reject-file=-"},
		{"patch", "--batch", "--forward", "--fuzz=5", "-p1", "--no-backup-if-mismatch", "--reject-file=-"},
	}},
}

// ApplyResult is how ApplyPatch went.
type ApplyResult struct {
	Method string // one of the Apply* constants; "" when nothing applied
	Log    string // the output of every attempt, for the evaluation's log
}

// ApplyPatch applies a unified diff to the sandbox's workspace, trying git
// apply, a looser git apply, then patch with fuzz, and reports which worked.
// A patch no method applies returns ErrPatch (the workspace is unchanged:
// git apply is atomic and patch runs only after a clean dry run).
func ApplyPatch(ctx context.Context, sb Sandbox, patch []byte) (ApplyResult, error) {
	var res ApplyResult
	if len(bytes.TrimSpace(patch)) == 0 {
		return res, fmt.Errorf("apply patch: %w: the patch is empty", ErrPatch)
	}
	var log strings.Builder
	for _, a := range applyAttempts {
		ok := true
		for _, argv := range a.argvs {
			r, err := sb.Run(ctx, Spec{Argv: argv, Stdin: bytes.NewReader(patch), Limits: Limits{Timeout: 2 * time.Minute}})
			if err != nil {
				res.Log = log.String()
				return res, fmt.Errorf("apply patch (%s): %w", a.method, err)
			}
			fmt.Fprintf(&log, "$ %s\n%s", strings.Join(argv, " "), r.Output)
			if r.ExitCode != 0 {
				fmt.Fprintf(&log, "(exit %d)\n", r.ExitCode)
				ok = false
				break
			}
		}
		if ok {
			res.Method, res.Log = a.method, log.String()
			return res, nil
		}
	}
	res.Log = log.String()
	return res, fmt.Errorf("apply patch: %w (tried %s, %s, %s)", ErrPatch, ApplyGit, ApplyGitLoose, ApplyPatchFuzz)
}
