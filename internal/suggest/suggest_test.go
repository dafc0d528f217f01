package suggest

import "testing"

func TestClosest(t *testing.T) {
	known := []string{"samples", "concurrency", "max_steps", "rollouts", "tables"}
	for in, want := range map[string]string{"sampels": "samples", "rolouts": "rollouts", "tabels": "tables", "concurency": "concurrency", "zzz": "", "": ""} {
		if got := Closest(in, known); got != want {
			t.Errorf("Closest(%q) = %q, want %q", in, got, want)
		}
	}
	if d := EditDistance("ab", "ba"); d != 1 {
		t.Errorf("a swap costs %d, want 1", d)
	}
}
