package rl

import (
	"errors"
	"github.com/swelake/swelake/trainer/diff"
	"strconv"
	"strings"
)

// Execution-free reward, as SWE-RL defines it (Wei et al. 2025,
// "SWE-RL: Advancing LLM Reasoning via Reinforcement Learning on Open
// Software Evolution"; facebookresearch/swe-rl src/swerl/core/reward.py at
// ca474a3, calculate_reward): each file's change is normalised to its
// unified diff without the file headers; the similarity of a predicted and
// the oracle change is difflib.SequenceMatcher(None, pred, oracle,
// autojunk=False).ratio(); the reward is the mean over the union of the
// files either patch touches (a file only one of them touches scores 0);
// an answer without a parsable patch scores −1.
//
// SWE-RL regenerates each diff from the files' contents (difflib, three
// lines of context). A rollout's patch is already a unified diff (git's,
// three lines of context), and the files' contents are not at hand without
// the repository, so the normalisation here takes each file's hunks as
// they are, dropping what difflib would not write: the `diff --git`,
// `index`, mode and `---`/`+++` lines, and the section heading git appends
// to a hunk header (`@@ -10,7 +10,7 @@ def foo():` → `@@ -10,7 +10,7 @@`).
// For a patch git wrote with its default context, that is difflib's text.

// ErrNoPatch: a response without a parsable patch (SWE-RL's FormatError).
var ErrNoPatch = errors.New("no parsable patch")

// FileChange is one file's normalised change.
type FileChange struct {
	Path   string
	Change string
}

// NormalisePatch splits a unified diff into each file's normalised change
// (files in the order they appear): its hunk headers (without git's
// section heading) and hunk lines, read by the headers' line counts. A
// patch with no hunk is ErrNoPatch, as is a hunk whose lines run out.
func NormalisePatch(patch string) ([]FileChange, error) {
	lines := strings.Split(strings.ReplaceAll(patch, "\r\n", "\n"), "\n")
	var out []FileChange
	path := ""
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "diff --git "):
			path = diff.GitPath(l)
		case strings.HasPrefix(l, "+++ "):
			if p := diff.HeaderPath(l[4:]); p != "" {
				path = p
			}
		case strings.HasPrefix(l, "--- "):
			if p := diff.HeaderPath(l[4:]); p != "" && path == "" {
				path = p
			}
		case strings.HasPrefix(l, "@@ "):
			oldN, newN, ok := hunkCounts(l)
			if !ok {
				return nil, ErrNoPatch
			}
			h := l
			if end := strings.Index(l[3:], " @@"); end >= 0 {
				h = l[:3+end+3]
			}
			body := []string{h}
			for oldN > 0 || newN > 0 {
				i++
				if i >= len(lines) {
					return nil, ErrNoPatch
				}
				hl := lines[i]
				switch {
				case strings.HasPrefix(hl, `\`): // "\ No newline at end of file": difflib writes none
				case strings.HasPrefix(hl, "-"):
					oldN--
					body = append(body, hl)
				case strings.HasPrefix(hl, "+"):
					newN--
					body = append(body, hl)
				case strings.HasPrefix(hl, " "), hl == "": // (an empty context line whose space was stripped)
					oldN, newN = oldN-1, newN-1
					body = append(body, " "+strings.TrimPrefix(hl, " "))
				default:
					return nil, ErrNoPatch
				}
			}
			if n := len(out); n > 0 && out[n-1].Path == path {
				out[n-1].Change += "\n" + strings.Join(body, "\n")
			} else {
				out = append(out, FileChange{Path: path, Change: strings.Join(body, "\n")})
			}
		}
	}
	if len(out) == 0 {
		return nil, ErrNoPatch
	}
	return out, nil
}

// hunkCounts reads "@@ -l[,s] +l[,s] @@": the old and new line counts (a
// missing count is 1).
func hunkCounts(h string) (int, int, bool) {
	f := strings.Fields(h)
	if len(f) < 4 || !strings.HasPrefix(f[1], "-") || !strings.HasPrefix(f[2], "+") || f[3] != "@@" {
		return 0, 0, false
	}
	count := func(r string) (int, bool) {
		_, n, ok := strings.Cut(r[1:], ",")
		if !ok {
			return 1, true
		}
		v, err := strconv.Atoi(n)
		return v, err == nil && v >= 0
	}
	o, ok1 := count(f[1])
	n, ok2 := count(f[2])
	return o, n, ok1 && ok2
}

// SimilarityReward is SWE-RL's reward of a predicted patch against the
// oracle's: the mean per-file similarity over the files either touches,
// or −1 (with ErrNoPatch) for a prediction without a parsable patch.
func SimilarityReward(pred, oracle string) (float64, error) {
	o, err := NormalisePatch(oracle)
	if err != nil {
		return 0, errors.New("oracle patch: " + err.Error())
	}
	p, err := NormalisePatch(pred)
	if err != nil {
		return -1, err
	}
	changes := func(fs []FileChange) map[string]string {
		m := map[string]string{}
		for _, f := range fs {
			if prev, ok := m[f.Path]; ok { // a file in two diffs: one change
				m[f.Path] = prev + "\n" + f.Change
				continue
			}
			m[f.Path] = f.Change
		}
		return m
	}
	pm, om := changes(p), changes(o)
	paths := map[string]bool{}
	for k := range pm {
		paths[k] = true
	}
	for k := range om {
		paths[k] = true
	}
	var sum float64
	for path := range paths {
		if pm[path] == "" || om[path] == "" {
			continue // a file only one side changes: 0
		}
		sum += SequenceRatio(pm[path], om[path])
	}
	return sum / float64(len(paths)), nil
}

// SequenceRatio is Python's difflib.SequenceMatcher(None, a, b,
// autojunk=False).ratio() over the strings' code points: 2·M/T, M the
// characters of the matching blocks Ratcliff–Obershelp finds (the longest
// matching run, leftmost first, then the same on each side of it), T the
// two lengths; 1 for two empty strings. Ported from CPython's
// Lib/difflib.py (find_longest_match, get_matching_blocks, ratio) with no
// junk and no popularity heuristic, which autojunk=False turns off.
func SequenceRatio(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	if len(ra)+len(rb) == 0 {
		return 1
	}
	b2j := map[rune][]int{}
	for j, r := range rb {
		b2j[r] = append(b2j[r], j)
	}
	longest := func(alo, ahi, blo, bhi int) (int, int, int) {
		besti, bestj, bestsize := alo, blo, 0
		j2len := map[int]int{}
		for i := alo; i < ahi; i++ {
			newj2len := map[int]int{}
			for _, j := range b2j[ra[i]] {
				if j < blo {
					continue
				}
				if j >= bhi {
					break
				}
				k := j2len[j-1] + 1
				newj2len[j] = k
				if k > bestsize {
					besti, bestj, bestsize = i-k+1, j-k+1, k
				}
			}
			j2len = newj2len
		}
		for besti > alo && bestj > blo && ra[besti-1] == rb[bestj-1] {
			besti, bestj, bestsize = besti-1, bestj-1, bestsize+1
		}
		for besti+bestsize < ahi && bestj+bestsize < bhi && ra[besti+bestsize] == rb[bestj+bestsize] {
			bestsize++
		}
		return besti, bestj, bestsize
	}
	type span struct{ alo, ahi, blo, bhi int }
	queue := []span{{0, len(ra), 0, len(rb)}}
	matched := 0
	for len(queue) > 0 {
		s := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		i, j, k := longest(s.alo, s.ahi, s.blo, s.bhi)
		if k == 0 {
			continue
		}
		matched += k
		if s.alo < i && s.blo < j {
			queue = append(queue, span{s.alo, i, s.blo, j})
		}
		if i+k < s.ahi && j+k < s.bhi {
			queue = append(queue, span{i + k, s.ahi, j + k, s.bhi})
		}
	}
	return 2 * float64(matched) / float64(len(ra)+len(rb))
}
