package stage

import (
	"strings"
	"testing"
)

func TestCauses(t *testing.T) {
	var c Causes
	for _, task := range []string{"synth/pytext/9e859ca281", "synth/pytext/1a2b3c4d5e", "synth/gointerval/77aa88bb99"} {
		c.Add("execution: repository " + task + " not in the store")
	}
	c.Add("verifier model: status 500 after 5 tries")
	c.Add("")
	got := c.List()
	if len(got) != 2 || got[0].Count != 3 || got[0].Cause != "execution: repository … not in the store" ||
		got[0].Example != "execution: repository synth/pytext/9e859ca281 not in the store" || got[1].Cause != "verifier model: status … after … tries" {
		t.Fatalf("causes %+v", got)
	}
	line := FormatCauses(got)
	if !strings.HasPrefix(line, "3 × execution: repository … not in the store (first: execution: repository synth/pytext/9e859ca281 not in the store); 1 × verifier model") {
		t.Fatalf("line %q", line)
	}
}
