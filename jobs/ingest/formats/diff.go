package formats

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	hunkHeader = regexp.MustCompile(`^@@ -(\d+(?:,\d+)?) \+(\d+(?:,\d+)?) @@(.*)$`)
	indexLine  = regexp.MustCompile(`^index ([0-9a-f]+)\.\.([0-9a-f]+)( [0-7]+)?$`)
)

// reverseDiff inverts a unified git diff: applying the result undoes the
// original. SWE-smith task rows carry the patch that introduces the bug; the
// task's gold patch is its inverse. It accepts only well-formed diffs: a
// line it does not understand is an error, never guessed at.
func reverseDiff(diff string) (string, error) {
	if diff == "" {
		return "", nil
	}
	var b strings.Builder
	var minus, plus []string // the current run of changed lines, reversed
	flush := func() {
		// Removals first, as git prints them; but the input's last line,
		// if it lacks its newline (a truncated diff), stays last, so that
		// no two lines run together and reversing twice is the identity.
		var open string
		for _, run := range [][]string{minus, plus} {
			for _, l := range run {
				if !strings.HasSuffix(l, "\n") {
					open = l
					continue
				}
				b.WriteString(l)
			}
		}
		b.WriteString(open)
		minus, plus = minus[:0], plus[:0]
	}
	lines := strings.SplitAfter(diff, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	inHunk := false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		body := strings.TrimSuffix(l, "\n")
		nl := l[len(body):]
		bad := func() (string, error) { return "", fmt.Errorf("reverse diff: line %d: unexpected %q", i+1, body) }
		if inHunk {
			switch {
			case strings.HasPrefix(body, "+"):
				minus = append(minus, "-"+l[1:])
				continue
			case strings.HasPrefix(body, "-"):
				plus = append(plus, "+"+l[1:])
				continue
			case strings.HasPrefix(body, " "), strings.HasPrefix(body, `\`), body == "":
				flush()
				b.WriteString(l)
				continue
			}
			flush()
			inHunk = false
		}
		switch {
		case strings.HasPrefix(body, "diff --git "):
			from, to, err := gitHeaderPaths(strings.TrimPrefix(body, "diff --git "))
			if err != nil {
				return "", fmt.Errorf("reverse diff: line %d: %w", i+1, err)
			}
			b.WriteString("diff --git a/" + to + " b/" + from + nl)
		case strings.HasPrefix(body, "--- ") && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "+++ "):
			next := strings.TrimSuffix(lines[i+1], "\n")
			from, to := strings.TrimPrefix(body, "--- "), strings.TrimPrefix(next, "+++ ")
			b.WriteString("--- " + swapPrefix(to, "b/", "a/") + nl)
			b.WriteString("+++ " + swapPrefix(from, "a/", "b/") + lines[i+1][len(next):])
			i++
		case hunkHeader.MatchString(body):
			m := hunkHeader.FindStringSubmatch(body)
			b.WriteString("@@ -" + m[2] + " +" + m[1] + " @@" + m[3] + nl)
			inHunk = true
		case indexLine.MatchString(body):
			m := indexLine.FindStringSubmatch(body)
			b.WriteString("index " + m[2] + ".." + m[1] + m[3] + nl)
		case strings.HasPrefix(body, "new file mode "):
			b.WriteString("deleted file mode " + strings.TrimPrefix(body, "new file mode ") + nl)
		case strings.HasPrefix(body, "deleted file mode "):
			b.WriteString("new file mode " + strings.TrimPrefix(body, "deleted file mode ") + nl)
		case strings.HasPrefix(body, "old mode "):
			// "old mode X" / "new mode Y" become "old mode Y" / "new mode X".
			if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "new mode ") {
				return bad()
			}
			next := strings.TrimSuffix(lines[i+1], "\n")
			b.WriteString("old mode " + strings.TrimPrefix(next, "new mode ") + nl)
			b.WriteString("new mode " + strings.TrimPrefix(body, "old mode ") + lines[i+1][len(next):])
			i++
		case strings.HasPrefix(body, "rename from ") && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "rename to "):
			next := strings.TrimSuffix(lines[i+1], "\n")
			b.WriteString("rename from " + strings.TrimPrefix(next, "rename to ") + nl)
			b.WriteString("rename to " + strings.TrimPrefix(body, "rename from ") + lines[i+1][len(next):])
			i++
		case strings.HasPrefix(body, "similarity index "):
			b.WriteString(l)
		default:
			return bad()
		}
	}
	flush()
	return b.String(), nil
}

func swapPrefix(s, from, to string) string {
	if strings.HasPrefix(s, from) {
		return to + strings.TrimPrefix(s, from)
	}
	return s
}

// gitHeaderPaths splits "a/<from> b/<to>". Paths may contain " b/": the
// header of a change that is not a rename is symmetric, which decides; a
// rename whose paths contain " b/" is ambiguous and an error.
func gitHeaderPaths(h string) (from, to string, err error) {
	if !strings.HasPrefix(h, "a/") {
		return "", "", fmt.Errorf("cannot parse diff header %q", h)
	}
	if n := len(h); n >= 5 && (n-5)%2 == 0 {
		p := (n - 5) / 2
		if h[2+p:5+p] == " b/" && h[2:2+p] == h[5+p:] {
			return h[2 : 2+p], h[5+p:], nil
		}
	}
	if strings.Count(h, " b/") != 1 {
		return "", "", fmt.Errorf("ambiguous diff header %q", h)
	}
	a, b, _ := strings.Cut(h, " b/")
	return strings.TrimPrefix(a, "a/"), b, nil
}
