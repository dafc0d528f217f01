package synthtasks

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/swelake/swelake/exec/agent"
)

// TestPolicyWriter: statements come from the endpoint over HTTP (the
// scripted stand-in here) and never carry the bug's location.
func TestPolicyWriter(t *testing.T) {
	srv := httptest.NewServer(&agent.Scripted{})
	defer srv.Close()
	client, err := agent.NewClient(agent.ClientConfig{BaseURL: srv.URL + "/v1", Model: "scripted"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := PolicyWriter{Client: client, Model: "scripted"}
	report := BugReport{Repo: "pytext", Language: "python", FailingTest: []string{"tests/test_rle.py::test_encode", "tests/test_rle.py::test_round_trip"},
		Failures: "E   AssertionError: assert '4a1b' == '3a1b'"}
	s, err := w.WriteStatement(context.Background(), report)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s, "tests/test_rle.py::test_encode") || !strings.Contains(s, "1 more") || strings.Contains(s, "textkit/") {
		t.Fatalf("statement: %q", s)
	}
	if w.Name() != "policy:scripted" {
		t.Fatalf("name %q", w.Name())
	}
}
