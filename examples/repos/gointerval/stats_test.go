package interval

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestMean(t *testing.T) {
	m, err := Mean([]float64{1, 2, 3, 4})
	if err != nil || !near(m, 2.5) {
		t.Fatalf("Mean = %v, %v", m, err)
	}
}

func TestMeanEmpty(t *testing.T) {
	if _, err := Mean(nil); !errors.Is(err, ErrEmpty) {
		t.Fatalf("err = %v", err)
	}
}

func TestMedianOdd(t *testing.T) {
	m, _ := Median([]float64{5, 1, 3})
	if m != 3 {
		t.Fatalf("Median = %v", m)
	}
}

func TestMedianEven(t *testing.T) {
	m, _ := Median([]float64{4, 1, 3, 2})
	if m != 2.5 {
		t.Fatalf("Median = %v", m)
	}
}

func TestMedianKeepsInput(t *testing.T) {
	xs := []float64{3, 1, 2}
	Median(xs)
	if !reflect.DeepEqual(xs, []float64{3, 1, 2}) {
		t.Fatalf("Median sorted its input: %v", xs)
	}
}

func TestMedianEmpty(t *testing.T) {
	if _, err := Median(nil); err == nil {
		t.Fatal("no error")
	}
}

func TestVariance(t *testing.T) {
	v, err := Variance([]float64{2, 4, 4, 4, 5, 5, 7, 9})
	if err != nil || !near(v, 32.0/7) {
		t.Fatalf("Variance = %v, %v", v, err)
	}
}

func TestVarianceTooFew(t *testing.T) {
	if _, err := Variance([]float64{1}); err == nil {
		t.Fatal("no error")
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{15, 20, 35, 40, 50}
	for p, want := range map[float64]float64{0: 15, 25: 20, 50: 35, 90: 46, 100: 50} {
		got, err := Percentile(xs, p)
		if err != nil || !near(got, want) {
			t.Errorf("Percentile(%v) = %v, %v; want %v", p, got, err, want)
		}
	}
}

func TestPercentileOutOfRange(t *testing.T) {
	if _, err := Percentile([]float64{1}, 101); err == nil {
		t.Fatal("no error")
	}
}

func TestPercentileSingle(t *testing.T) {
	got, _ := Percentile([]float64{7}, 30)
	if got != 7 {
		t.Fatalf("Percentile = %v", got)
	}
}

func TestHistogram(t *testing.T) {
	got := Histogram([]float64{0, 0.5, 1, 2.5, 3.9, 4, -1}, 0, 4, 4)
	if !reflect.DeepEqual(got, []int{2, 1, 1, 1}) {
		t.Fatalf("Histogram = %v", got)
	}
}

func TestHistogramBadBuckets(t *testing.T) {
	if Histogram([]float64{1}, 0, 1, 0) != nil {
		t.Fatal("want nil for zero buckets")
	}
}
