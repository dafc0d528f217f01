package formats

import (
	"fmt"
	"regexp"
	"strings"
)

var hunkHeader = regexp.MustCompile(`^@@ -(\d+(?:,\d+)?) \+(\d+(?:,\d+)?) @@(.*)$`)

// reverseDiff inverts a unified git diff: applying the result undoes the
// original. SWE-smith task rows carry the patch that introduces the bug; the
// task's gold patch is its inverse.
func reverseDiff(diff string) (string, error) {
	if diff == "" {
		return "", nil
	}
	lines := strings.SplitAfter(diff, "\n")
	out := make([]string, 0, len(lines))
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		body := strings.TrimRight(l, "\n")
		nl := l[len(body):]
		switch {
		case strings.HasPrefix(body, "diff --git "):
			parts := strings.SplitN(strings.TrimPrefix(body, "diff --git "), " b/", 2)
			if len(parts) != 2 || !strings.HasPrefix(parts[0], "a/") {
				return "", fmt.Errorf("reverse diff: line %d: cannot parse %q", i+1, body)
			}
			out = append(out, "diff --git a/"+parts[1]+" b/"+strings.TrimPrefix(parts[0], "a/")+nl)
		case strings.HasPrefix(body, "--- ") && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "+++ "):
			from := strings.TrimPrefix(body, "--- ")
			to := strings.TrimPrefix(strings.TrimRight(lines[i+1], "\n"), "+++ ")
			swap := func(s, fromPrefix, toPrefix string) string {
				if strings.HasPrefix(s, fromPrefix) {
					return toPrefix + strings.TrimPrefix(s, fromPrefix)
				}
				return s
			}
			out = append(out, "--- "+swap(to, "b/", "a/")+nl, "+++ "+swap(from, "a/", "b/")+lines[i+1][len(strings.TrimRight(lines[i+1], "\n")):])
			i++
		case strings.HasPrefix(body, "new file mode "):
			out = append(out, "deleted file mode "+strings.TrimPrefix(body, "new file mode ")+nl)
		case strings.HasPrefix(body, "deleted file mode "):
			out = append(out, "new file mode "+strings.TrimPrefix(body, "deleted file mode ")+nl)
		case strings.HasPrefix(body, "index "):
			fields := strings.Fields(strings.TrimPrefix(body, "index "))
			hashes := strings.SplitN(fields[0], "..", 2)
			if len(hashes) != 2 {
				return "", fmt.Errorf("reverse diff: line %d: cannot parse %q", i+1, body)
			}
			rest := ""
			if len(fields) > 1 {
				rest = " " + strings.Join(fields[1:], " ")
			}
			out = append(out, "index "+hashes[1]+".."+hashes[0]+rest+nl)
		case strings.HasPrefix(body, "rename from "):
			out = append(out, "rename to "+strings.TrimPrefix(body, "rename from ")+nl)
		case strings.HasPrefix(body, "rename to "):
			out = append(out, "rename from "+strings.TrimPrefix(body, "rename to ")+nl)
		case hunkHeader.MatchString(body):
			m := hunkHeader.FindStringSubmatch(body)
			out = append(out, "@@ -"+m[2]+" +"+m[1]+" @@"+m[3]+nl)
		case strings.HasPrefix(body, "+") && !strings.HasPrefix(body, "+++ "):
			out = append(out, "-"+l[1:])
		case strings.HasPrefix(body, "-") && !strings.HasPrefix(body, "--- "):
			out = append(out, "+"+l[1:])
		default: // context lines, "\ No newline at end of file", mode lines
			out = append(out, l)
		}
	}
	// Within a hunk, git expects removals before additions of a change; after
	// swapping signs, a "-a +b" block became "+a -b": reorder each run.
	return reorderRuns(out), nil
}

// reorderRuns puts, in each run of consecutive +/- lines, every '-' line
// before the '+' lines, keeping their order (what git diff prints).
func reorderRuns(lines []string) string {
	var b strings.Builder
	var minus, plus []string
	flush := func() {
		for _, l := range minus {
			b.WriteString(l)
		}
		for _, l := range plus {
			b.WriteString(l)
		}
		minus, plus = minus[:0], plus[:0]
	}
	inHunk := false
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "@@ "):
			flush()
			inHunk = true
			b.WriteString(l)
		case strings.HasPrefix(l, "diff --git "):
			flush()
			inHunk = false
			b.WriteString(l)
		case inHunk && strings.HasPrefix(l, "-"):
			minus = append(minus, l)
		case inHunk && strings.HasPrefix(l, "+"):
			plus = append(plus, l)
		default:
			flush()
			b.WriteString(l)
		}
	}
	flush()
	return b.String()
}
