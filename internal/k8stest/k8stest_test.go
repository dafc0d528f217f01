package k8stest

import (
	"context"
	"strings"
	"testing"
)

// TestServer starts the API server and checks it is strict: a Job with an
// unknown field is refused by the server-side dry run, a valid one is
// accepted, and a dry run stores nothing.
func TestServer(t *testing.T) {
	ctx := context.Background()
	s, err := Start(ctx)
	if err != nil {
		t.Fatalf("a Kubernetes API server is required: %v", err)
	}
	defer s.Stop()
	if v := s.Version(ctx); !strings.HasPrefix(v, "v1.") {
		t.Fatalf("version %q", v)
	}
	const job = `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"t"},"spec":{"completionMode":"Indexed","completions":2,
"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"%s}]}}}}`
	path := "/apis/batch/v1/namespaces/default/jobs?dryRun=All&fieldValidation=Strict"
	code, body, err := s.Do(ctx, "POST", path, []byte(strings.Replace(job, "%s", `,"colour":"red"`, 1)))
	if err != nil || code != 400 || !strings.Contains(string(body), `unknown field \"spec.template.spec.containers[0].colour\"`) {
		t.Fatalf("unknown field: %d %s %v", code, body, err)
	}
	code, body, err = s.Do(ctx, "POST", path, []byte(strings.Replace(job, "%s", "", 1)))
	if err != nil || code != 201 {
		t.Fatalf("valid Job: %d %s %v", code, body, err)
	}
	code, _, err = s.Do(ctx, "GET", "/apis/batch/v1/namespaces/default/jobs/t", nil)
	if err != nil || code != 404 {
		t.Fatalf("a dry run stored the Job: %d %v", code, err)
	}
}
