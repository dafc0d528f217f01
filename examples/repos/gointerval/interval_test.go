package interval

import (
	"reflect"
	"testing"
)

func ivs(pairs ...int) []Interval {
	var out []Interval
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, Interval{pairs[i], pairs[i+1]})
	}
	return out
}

func TestLen(t *testing.T) {
	if got := (Interval{3, 7}).Len(); got != 5 {
		t.Fatalf("Len = %d, want 5", got)
	}
}

func TestLenInvalid(t *testing.T) {
	if got := (Interval{7, 3}).Len(); got != 0 {
		t.Fatalf("Len = %d, want 0", got)
	}
}

func TestContains(t *testing.T) {
	iv := Interval{1, 3}
	for x, want := range map[int]bool{0: false, 1: true, 2: true, 3: true, 4: false} {
		if iv.Contains(x) != want {
			t.Errorf("Contains(%d) = %v", x, !want)
		}
	}
}

func TestOverlaps(t *testing.T) {
	if !(Interval{1, 5}).Overlaps(Interval{5, 9}) {
		t.Error("touching intervals overlap at 5")
	}
	if (Interval{1, 4}).Overlaps(Interval{5, 9}) {
		t.Error("[1,4] and [5,9] do not overlap")
	}
}

func TestString(t *testing.T) {
	if s := (Interval{-2, 4}).String(); s != "[-2,4]" {
		t.Fatalf("String = %q", s)
	}
}

func TestMerge(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in, want []Interval
	}{
		{"empty", nil, nil},
		{"disjoint", ivs(5, 6, 1, 2), ivs(1, 2, 5, 6)},
		{"overlapping", ivs(1, 4, 3, 8), ivs(1, 8)},
		{"adjacent", ivs(1, 2, 3, 4), ivs(1, 4)},
		{"nested", ivs(1, 10, 2, 3), ivs(1, 10)},
		{"invalid dropped", ivs(5, 1, 2, 3), ivs(2, 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Merge(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Merge(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestMergeDoesNotAlias(t *testing.T) {
	in := ivs(3, 4, 1, 2)
	Merge(in)
	if in[0] != (Interval{3, 4}) {
		t.Fatalf("Merge reordered its input: %v", in)
	}
}

func TestInsert(t *testing.T) {
	got := Insert(ivs(1, 2, 6, 9), Interval{3, 5})
	if !reflect.DeepEqual(got, ivs(1, 9)) {
		t.Fatalf("Insert = %v", got)
	}
}

func TestInsertDisjoint(t *testing.T) {
	got := Insert(ivs(1, 2), Interval{10, 12})
	if !reflect.DeepEqual(got, ivs(1, 2, 10, 12)) {
		t.Fatalf("Insert = %v", got)
	}
}

func TestIntersect(t *testing.T) {
	got := Intersect(ivs(1, 5, 8, 12), ivs(4, 9, 11, 20))
	if !reflect.DeepEqual(got, ivs(4, 5, 8, 9, 11, 12)) {
		t.Fatalf("Intersect = %v", got)
	}
}

func TestIntersectEmpty(t *testing.T) {
	if got := Intersect(ivs(1, 2), ivs(3, 4)); got != nil {
		t.Fatalf("Intersect = %v, want nil", got)
	}
}

func TestSubtract(t *testing.T) {
	got := Subtract(ivs(1, 10), ivs(3, 4, 8, 8))
	if !reflect.DeepEqual(got, ivs(1, 2, 5, 7, 9, 10)) {
		t.Fatalf("Subtract = %v", got)
	}
}

func TestSubtractAll(t *testing.T) {
	if got := Subtract(ivs(2, 3), ivs(1, 5)); got != nil {
		t.Fatalf("Subtract = %v, want nil", got)
	}
}

func TestSubtractNothing(t *testing.T) {
	got := Subtract(ivs(1, 3), ivs(7, 9))
	if !reflect.DeepEqual(got, ivs(1, 3)) {
		t.Fatalf("Subtract = %v", got)
	}
}

func TestTotal(t *testing.T) {
	if got := Total(ivs(1, 3, 10, 10)); got != 4 {
		t.Fatalf("Total = %d, want 4", got)
	}
}

func TestFind(t *testing.T) {
	set := ivs(1, 3, 7, 9, 20, 30)
	for x, want := range map[int]int{0: -1, 1: 0, 3: 0, 5: -1, 8: 1, 25: 2, 31: -1} {
		if got := Find(set, x); got != want {
			t.Errorf("Find(%d) = %d, want %d", x, got, want)
		}
	}
}

func TestFindEmpty(t *testing.T) {
	if Find(nil, 1) != -1 {
		t.Fatal("Find in an empty set")
	}
}

func TestGaps(t *testing.T) {
	got := Gaps(ivs(3, 4, 7, 8), Interval{1, 10})
	if !reflect.DeepEqual(got, ivs(1, 2, 5, 6, 9, 10)) {
		t.Fatalf("Gaps = %v", got)
	}
}
