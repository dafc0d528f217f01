// Package diff reads the file names of unified diffs (git's and plain
// ones): what the RL similarity reward and the multi-task SFT builders
// both need, read one way.
package diff

import "strings"

// HeaderPath is the path of a "---"/"+++" line's rest: without git's
// "a/"/"b/" prefix and a trailing tab and timestamp; "" for /dev/null.
func HeaderPath(h string) string {
	h, _, _ = strings.Cut(h, "\t")
	h = strings.TrimSpace(h)
	if h == "/dev/null" {
		return ""
	}
	if strings.HasPrefix(h, "a/") || strings.HasPrefix(h, "b/") {
		return h[2:]
	}
	return h
}

// GitPath is the new path of a "diff --git a/… b/…" line ("" if it has
// none).
func GitPath(line string) string {
	rest := strings.TrimPrefix(line, "diff --git ")
	if i := strings.Index(rest, " b/"); i >= 0 {
		return rest[i+3:]
	}
	return ""
}

// Paths are the files a diff changes, in the order it names them, each
// once: the new path, or the old one for a deletion.
func Paths(patch string) []string {
	var out []string
	seen := map[string]bool{}
	old := ""
	for _, line := range strings.Split(patch, "\n") {
		switch {
		case strings.HasPrefix(line, "--- "):
			old = HeaderPath(line[4:])
		case strings.HasPrefix(line, "+++ "):
			p := HeaderPath(line[4:])
			if p == "" {
				p = old
			}
			if p != "" && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// Created are the files a diff creates (its "---" side is /dev/null).
func Created(patch string) map[string]bool {
	out := map[string]bool{}
	lines := strings.Split(patch, "\n")
	for i, line := range lines {
		if strings.HasPrefix(line, "--- ") && HeaderPath(line[4:]) == "" && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "+++ ") {
			if p := HeaderPath(lines[i+1][4:]); p != "" {
				out[p] = true
			}
		}
	}
	return out
}

// LinesChanged counts a patch's added and removed lines (file headers
// excluded).
func LinesChanged(patch string) int {
	n := 0
	for _, line := range strings.Split(patch, "\n") {
		if (strings.HasPrefix(line, "+") && !strings.HasPrefix(line, "+++")) || (strings.HasPrefix(line, "-") && !strings.HasPrefix(line, "---")) {
			n++
		}
	}
	return n
}
