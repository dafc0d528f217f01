// Package interval works with closed integer intervals [Lo, Hi]: merging,
// inserting, intersecting and measuring sets of them. A sample repository of
// swelake.
package interval

import (
	"fmt"
	"sort"
)

// Interval is the closed range [Lo, Hi].
type Interval struct{ Lo, Hi int }

// Valid reports whether Lo <= Hi.
func (iv Interval) Valid() bool { return iv.Lo <= iv.Hi }

// Len is the number of integers in the interval.
func (iv Interval) Len() int {
	if !iv.Valid() {
		return 0
	}
	return iv.Hi - iv.Lo + 1
}

// Contains reports whether x lies in the interval.
func (iv Interval) Contains(x int) bool { return iv.Lo <= x && x <= iv.Hi }

// Overlaps reports whether two intervals share at least one integer.
func (iv Interval) Overlaps(o Interval) bool { return iv.Lo <= o.Hi && o.Lo <= iv.Hi }

// String formats the interval as [lo,hi].
func (iv Interval) String() string { return fmt.Sprintf("[%d,%d]", iv.Lo, iv.Hi) }

// Merge returns the union of the intervals as sorted, disjoint,
// non-adjacent intervals. Invalid intervals are ignored.
func Merge(ivs []Interval) []Interval {
	var in []Interval
	for _, iv := range ivs {
		if iv.Valid() {
			in = append(in, iv)
		}
	}
	if len(in) == 0 {
		return nil
	}
	sort.Slice(in, func(i, j int) bool {
		if in[i].Lo != in[j].Lo {
			return in[i].Lo < in[j].Lo
		}
		return in[i].Hi < in[j].Hi
	})
	out := []Interval{in[0]}
	for _, iv := range in[1:] {
		last := &out[len(out)-1]
		if iv.Lo <= last.Hi+1 {
			if iv.Hi > last.Hi {
				last.Hi = iv.Hi
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}

// Insert adds iv to a merged set and returns the merged result.
func Insert(set []Interval, iv Interval) []Interval {
	return Merge(append(append([]Interval(nil), set...), iv))
}

// Intersect returns the intersection of two merged sets.
func Intersect(a, b []Interval) []Interval {
	var out []Interval
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		lo := max(a[i].Lo, b[j].Lo)
		hi := min(a[i].Hi, b[j].Hi)
		if lo <= hi {
			out = append(out, Interval{lo, hi})
		}
		if a[i].Hi < b[j].Hi {
			i++
		} else {
			j++
		}
	}
	return out
}

// Subtract returns the integers of a merged set a that are not in the
// merged set b.
func Subtract(a, b []Interval) []Interval {
	var out []Interval
	for _, iv := range a {
		cur := iv
		for _, cut := range b {
			if !cur.Valid() {
				break
			}
			if !cur.Overlaps(cut) {
				continue
			}
			if cut.Lo > cur.Lo {
				out = append(out, Interval{cur.Lo, cut.Lo - 1})
			}
			cur.Lo = cut.Hi + 1
		}
		if cur.Valid() {
			out = append(out, cur)
		}
	}
	return out
}

// Total is the number of integers covered by a merged set.
func Total(set []Interval) int {
	n := 0
	for _, iv := range set {
		n += iv.Len()
	}
	return n
}

// Find returns the index of the interval of a merged set containing x, or -1.
func Find(set []Interval, x int) int {
	lo, hi := 0, len(set)-1
	for lo <= hi {
		mid := (lo + hi) / 2
		switch {
		case x < set[mid].Lo:
			hi = mid - 1
		case x > set[mid].Hi:
			lo = mid + 1
		default:
			return mid
		}
	}
	return -1
}

// Gaps returns the integers within [bounds.Lo, bounds.Hi] that a merged set
// does not cover.
func Gaps(set []Interval, bounds Interval) []Interval {
	return Subtract([]Interval{bounds}, set)
}
