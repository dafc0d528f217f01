// Package archtest enforces the project's dependency rules
// (docs/architecture.md) as a test, not only as review comments.
package archtest

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/swelake/swelake/"

// forbidden: package (prefix) → imports it must not have (prefixes).
var forbidden = map[string][]string{
	mod + "lake":    {mod + "schemas", mod + "queries", mod + "jobs", mod + "cmd", "github.com/spf13/", "github.com/duckdb/"},
	mod + "schemas": {mod + "lake", mod + "queries", mod + "jobs", mod + "cmd", "github.com/spf13/"},
	mod + "queries": {mod + "jobs", mod + "cmd", "github.com/spf13/"},
	mod + "jobs":    {mod + "cmd", "github.com/spf13/"},
	// exec runs commands in sandboxes: it knows workspaces, patches and test
	// lists, never the lake, the tables' storage or the jobs.
	mod + "exec": {mod + "lake", mod + "queries", mod + "jobs", mod + "cmd", mod + "trainer", "github.com/spf13/", "github.com/duckdb/"},
	// trainer is pure training-data logic: no storage, no network, no
	// processes (its file reads are one package's, see TestTrainerNoIO).
	mod + "trainer": {mod + "lake", mod + "queries", mod + "jobs", mod + "cmd", mod + "exec", "github.com/spf13/", "github.com/duckdb/",
		"net", "os/exec", "database/sql", "github.com/parquet-go/", "github.com/minio/"},
}

// TestTrainerNoIO: below trainer/ only the tokenizer's loader touches the
// file system (it reads tokenizer.json and tokenizer_config.json); caches
// and every other file live in the jobs (jobs/tokcache).
func TestTrainerNoIO(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, mod+"trainer/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		n++
		for _, imp := range fields[1:] {
			if (imp == "os" || imp == "io/fs" || imp == "path/filepath") && fields[0] != mod+"trainer/tokenizer" {
				t.Errorf("%s imports %s: trainer/ does no I/O (docs/architecture.md)", fields[0], imp)
			}
		}
	}
	if n < 4 {
		t.Fatalf("checked %d trainer packages", n)
	}
}

func TestForbiddenImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, mod+"...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, imports := fields[0], fields[1:]
		for prefix, bans := range forbidden {
			if pkg != prefix && !strings.HasPrefix(pkg, prefix+"/") {
				continue
			}
			checked++
			for _, imp := range imports {
				for _, ban := range bans {
					if strings.HasPrefix(imp, ban) {
						t.Errorf("%s imports %s (forbidden: see docs/architecture.md)", pkg, imp)
					}
				}
			}
		}
	}
	if checked < 12 {
		t.Fatalf("checked only %d packages: is the module path right?", checked)
	}
}

// TestNoEnvOrExitBelowCmd: only cmd/ reads the environment or exits.
func TestNoEnvOrExitBelowCmd(t *testing.T) {
	// git grep exits 1 when nothing matches; anything else means it did not run.
	cmd := exec.Command("git", "grep", "-n", "-E", `os\.(Getenv|LookupEnv|Exit)\(`, "--", "lake", "schemas", "queries", "jobs")
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		t.Fatalf("git grep did not run (needs git and the checkout): %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" || strings.Contains(line, "_test.go:") {
			continue
		}
		t.Errorf("environment or exit below cmd: %s", line)
	}
}

// TestPinnedDuckDB: duckdb-go/v2 must stay at v2.10505.0 (DuckDB 1.5.5).
// Newer versions' prebuilt libraries are not served by the module proxy
// here, so a `go get -u` or a bot bump would break every build.
func TestPinnedDuckDB(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/duckdb/duckdb-go/v2").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -m: %v\n%s", err, out)
	}
	if v := strings.TrimSpace(string(out)); v != "v2.10505.0" {
		t.Fatalf("github.com/duckdb/duckdb-go/v2 is %s; it must stay at v2.10505.0 (see docs/dependencies.md)", v)
	}
}
