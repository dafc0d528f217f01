package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swelake/swelake/internal/miniotest"
	"github.com/swelake/swelake/schemas"
)

var minio *miniotest.Server

func TestMain(m *testing.M) {
	// The test binary doubles as the swelake binary for tests that need a
	// separate process (to kill it): SWELAKE_TEST_AS_CLI=1 runs main.
	if os.Getenv("SWELAKE_TEST_AS_CLI") == "1" {
		main()
	}
	dir, err := os.MkdirTemp("", "swelake-cli-minio-")
	if err != nil {
		panic(err)
	}
	minio, err = miniotest.Start(context.Background(), miniotest.Options{Dir: dir})
	if err != nil {
		fmt.Fprintf(os.Stderr, "MinIO is required for the CLI tests (run `make minio-bin`, or set SWELAKE_MINIO_BIN): %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	minio.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs swelake in-process with the given environment.
type cli struct {
	t   testing.TB
	env map[string]string
	dir string
}

func (c *cli) run(args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return c.env[k] }
	wd, _ := os.Getwd()
	os.Chdir(c.dir)
	defer os.Chdir(wd)
	code = run(context.Background(), args, env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: getenv, now: time.Now})
	return out.String(), errb.String(), code
}

func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, errs, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("swelake %s: exit %d\n%s", strings.Join(args, " "), code, errs)
	}
	return out
}

// fails runs a command that must fail with one stderr line containing want.
func (c *cli) fails(want string, wantCode int, args ...string) {
	c.t.Helper()
	_, errs, code := c.run(args...)
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	last := lines[len(lines)-1]
	if code != wantCode || !strings.HasPrefix(last, "swelake: ") || !strings.Contains(last, want) {
		c.t.Fatalf("swelake %s: exit %d, stderr %q; want exit %d and a line containing %q", strings.Join(args, " "), code, errs, wantCode, want)
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	p := filepath.Join(dir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const tasksJSONL = `{"task_id":"swe-bench/django__django-11099","source":"swe-bench","repo":"django/django","fail_to_pass":["test_a"],"pass_to_pass":["test_b","test_c"]}
{"task_id":"swe-gym/pandas-1","source":"swe-gym","repo":"pandas-dev/pandas"}
`

const rolloutsJSONL = `{"rollout_id":"r1","task_id":"swe-bench/django__django-11099","run_id":"run-a","policy":"qwen","num_turns":3,"resolved":true,"reward":1,"messages":[{"role":"user","content":"fix it"},{"role":"assistant","content":"","tool_calls":[{"id":"c1","name":"bash","arguments":"{\"command\":\"ls\"}"}]},{"role":"tool","content":"a.py","tool_call_id":"c1","name":"bash"}]}
{"rollout_id":"r2","task_id":"swe-bench/django__django-11099","run_id":"run-a","policy":"qwen","num_turns":9,"resolved":false,"reward":0}
`

// minioCLI runs swelake against the test MinIO server, caching in dir.
func minioCLI(t testing.TB, dir string) *cli {
	return &cli{t: t, dir: dir, env: map[string]string{
		"SWELAKE_S3_ENDPOINT": minio.Endpoint, "SWELAKE_S3_ACCESS_KEY": minio.AccessKey,
		"SWELAKE_S3_SECRET_KEY": minio.SecretKey, "SWELAKE_S3_SECURE": "false",
		"SWELAKE_CACHE_DIR": filepath.Join(dir, "cache"),
	}}
}

// roundTrip is the CLI contract, run on a local and on a MinIO lake.
func roundTrip(t *testing.T, c *cli, lakeRoot string) {
	lk := "--lake=" + lakeRoot
	c.ok("lake", "init", lk)
	again := c.ok("lake", "init", lk, "--json")
	var initOut struct {
		Tables []struct {
			Table   string
			Created bool
		}
	}
	if err := json.Unmarshal([]byte(again), &initOut); err != nil || len(initOut.Tables) != len(schemas.Names()) || initOut.Tables[0].Created {
		t.Fatalf("second init: %s %v", again, err)
	}
	tasks := writeFile(t, c.dir, "tasks.jsonl", tasksJSONL)
	rollouts := writeFile(t, c.dir, "rollouts.jsonl", rolloutsJSONL)
	out := c.ok("lake", "append", lk, "tasks", tasks)
	if !strings.Contains(out, "committed tasks@1: 2 rows") {
		t.Fatalf("append: %s", out)
	}
	if out := c.ok("lake", "append", lk, "tasks", tasks); !strings.Contains(out, "already committed as tasks@1") {
		t.Fatalf("re-append: %s", out)
	}
	var sum struct {
		Version int64
		Rows    int64
	}
	js := c.ok("lake", "append", lk, "rollouts", rollouts, "--json")
	if err := json.Unmarshal([]byte(js), &sum); err != nil || sum.Version != 1 || sum.Rows != 2 {
		t.Fatalf("append rollouts --json: %s %v", js, err)
	}
	c.ok("lake", "append", lk, "tasks", writeFile(t, c.dir, "more.jsonl", `{"task_id":"swe-gym/pandas-2","source":"swe-gym"}`))

	type tableRow struct {
		Table   string
		Version int64
		Rows    int64
	}
	var tables []tableRow
	js = c.ok("lake", "tables", lk, "--json")
	if err := json.Unmarshal([]byte(js), &tables); err != nil || len(tables) != len(schemas.Names()) {
		t.Fatalf("tables: %s %v", js, err)
	}
	i := slices.IndexFunc(tables, func(x tableRow) bool { return x.Table == "tasks" })
	if i < 0 || tables[i].Version != 2 || tables[i].Rows != 3 || !slices.IsSortedFunc(tables, func(a, b tableRow) int { return strings.Compare(a.Table, b.Table) }) {
		t.Fatalf("tables (sorted by name, tasks@2 with 3 rows): %s", js)
	}
	var d struct {
		Added, Removed, Changed, Unchanged int64
		AddedKeys                          []string `json:"added_keys"`
	}
	if js := c.ok("lake", "diff", lk, "tasks@1", "tasks@2", "--json"); json.Unmarshal([]byte(js), &d) != nil ||
		d.Added != 1 || d.Removed+d.Changed != 0 || d.Unchanged != 2 || len(d.AddedKeys) != 1 || d.AddedKeys[0] != "swe-gym/pandas-2" {
		t.Fatalf("lake diff tasks@1 tasks@2: %s", js)
	}
	if out := c.ok("lake", "log", lk, "tasks"); !strings.Contains(out, "lake-append") || strings.Count(out, "\n") != 4 {
		t.Fatalf("log:\n%s", out)
	}
	if out := c.ok("lake", "show", lk, "tasks@1"); !strings.Contains(out, "snapshot     tasks@1") || !strings.Contains(out, "source=swe-gym") {
		t.Fatalf("show:\n%s", out)
	}
	c.ok("lake", "verify", lk)

	// SQL: latest, pinned, JSON, CSV, an embedded query, nested columns.
	if out := c.ok("sql", lk, "SELECT count(*) AS n FROM tasks"); !strings.Contains(out, "3") {
		t.Fatalf("sql:\n%s", out)
	}
	var rows []map[string]any
	js = c.ok("sql", lk, "--at", "tasks@1", "--json", "SELECT count(*) AS n FROM tasks")
	if err := json.Unmarshal([]byte(js), &rows); err != nil || rows[0]["n"].(float64) != 2 {
		t.Fatalf("sql --at tasks@1: %s %v", js, err)
	}
	if out := c.ok("sql", lk, "--csv", "SELECT rollout_id, messages[2].tool_calls[1].name AS tool FROM rollouts ORDER BY 1"); out != "rollout_id,tool\nr1,bash\nr2,\n" {
		t.Fatalf("sql --csv: %q", out)
	}
	if out := c.ok("sql", lk, "--query", "rollout_summary"); !strings.Contains(out, "run-a") || !strings.Contains(out, "0.5") {
		t.Fatalf("rollout_summary:\n%s", out)
	}

	// Errors: one line, non-zero, nothing written.
	before := c.ok("lake", "log", lk, "tasks", "--json")
	bad := writeFile(t, c.dir, "bad.jsonl", "{\"task_id\":\"ok\",\"source\":\"s\"}\n{\"task_id\":\"x\"}\n")
	c.fails(`bad.jsonl:line 2: required column "source" is empty`, 1, "lake", "append", lk, "tasks", bad)
	c.fails("no such table", 1, "lake", "show", lk, "nope")
	c.fails("no such version (latest is 2)", 1, "lake", "show", lk, "tasks@7")
	c.fails("no such version", 1, "sql", lk, "--at", "tasks@7", "SELECT 1")
	c.fails("want [a-z]", 2, "lake", "show", lk, "Bad@1")
	c.fails("Table with name nosuch does not exist", 1, "sql", lk, "SELECT * FROM nosuch")
	if after := c.ok("lake", "log", lk, "tasks", "--json"); after != before {
		t.Fatal("a failed command changed the log")
	}
}

func TestRoundTripLocal(t *testing.T) {
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, env: map[string]string{}}
	roundTrip(t, c, filepath.Join(dir, "lake"))
	// A flipped byte: verify names the file and fails.
	files, _ := filepath.Glob(filepath.Join(dir, "lake/tables/tasks/data/source=swe-gym/*.parquet"))
	data, _ := os.ReadFile(files[0])
	data[len(data)/2] ^= 1
	os.WriteFile(files[0], data, 0o644)
	c.fails("1 problem(s), first tasks/data/source=swe-gym/", 1, "lake", "verify", "--lake", filepath.Join(dir, "lake"))
	c.fails("does not exist (run swelake lake init", 1, "lake", "tables", "--lake", filepath.Join(dir, "missing"))
}

// TestAttackDamagedLogCLI (docs/security.md, finding 12): a stray log
// entry broke `lake tables` for the whole lake. The damaged table is listed
// as such (exit 1, naming it), the others as usual; lake verify names the
// entry; lake repair moves it aside and the table reads again.
func TestAttackDamagedLogCLI(t *testing.T) {
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, env: map[string]string{}}
	lk := "--lake=" + filepath.Join(dir, "lake")
	c.ok("lake", "init", lk)
	c.ok("lake", "append", lk, "tasks", writeFile(t, dir, "tasks.jsonl", tasksJSONL))
	c.ok("lake", "append", lk, "rollouts", writeFile(t, dir, "rollouts.jsonl", rolloutsJSONL))
	writeFile(t, dir, "lake/tables/rollouts/_log/00000000000000000099.json", `{"format":1}`)
	out, errs, code := c.run("lake", "tables", lk)
	if code != 1 || !strings.Contains(out, "rollouts") || !strings.Contains(out, "DAMAGED") || !strings.Contains(out, "tasks ") ||
		!strings.Contains(errs, "1 damaged table(s): rollouts") {
		t.Fatalf("lake tables with a stray entry: exit %d\n%s\n%s", code, out, errs)
	}
	c.ok("sql", lk, "SELECT count(*) FROM tasks")
	c.fails("version 2 is missing", 1, "sql", lk, "SELECT count(*) FROM rollouts")
	c.fails("00000000000000000099.json", 1, "lake", "verify", lk, "rollouts")
	out = c.ok("lake", "repair", lk, "rollouts", "--dry-run")
	if !strings.Contains(out, "would move 1 log entry") {
		t.Fatalf("dry run: %s", out)
	}
	c.ok("lake", "repair", lk, "rollouts")
	c.ok("lake", "tables", lk)
	c.ok("lake", "verify", lk)
}

func TestRoundTripMinIO(t *testing.T) {
	dir := t.TempDir()
	c := minioCLI(t, dir)
	roundTrip(t, c, "s3://cli-roundtrip/team/lake") // init creates the bucket

	// The standard AWS variables work too, with the endpoint as a URL.
	aws := &cli{t: t, dir: dir, env: map[string]string{
		"AWS_ENDPOINT_URL_S3": "http://" + minio.Endpoint, "AWS_ACCESS_KEY_ID": minio.AccessKey,
		"AWS_SECRET_ACCESS_KEY": minio.SecretKey, "AWS_REGION": "us-east-1",
	}}
	if out := aws.ok("lake", "tables", "--lake", "s3://cli-roundtrip/team/lake"); !strings.Contains(out, "tasks") {
		t.Fatalf("tables via AWS_* variables:\n%s", out)
	}
	noCreds := &cli{t: t, dir: dir, env: map[string]string{"SWELAKE_S3_ENDPOINT": minio.Endpoint}}
	noCreds.fails("missing S3 credentials", 1, "lake", "tables", "--lake", "s3://cli-roundtrip/team/lake")
	wrong := &cli{t: t, dir: dir, env: map[string]string{"SWELAKE_S3_ENDPOINT": minio.Endpoint, "SWELAKE_S3_SECURE": "false",
		"SWELAKE_S3_ACCESS_KEY": "nobody", "SWELAKE_S3_SECRET_KEY": "wrongwrong"}}
	wrong.fails("s3://cli-roundtrip/team/lake", 1, "lake", "tables", "--lake", "s3://cli-roundtrip/team/lake")
	down := &cli{t: t, dir: dir, env: map[string]string{"SWELAKE_S3_ENDPOINT": "127.0.0.1:1", "SWELAKE_S3_SECURE": "false",
		"SWELAKE_S3_ACCESS_KEY": "a", "SWELAKE_S3_SECRET_KEY": "b"}}
	down.fails("connection refused", 1, "lake", "tables", "--lake", "s3://cli-roundtrip/team/lake")

	// Reading a corrupted remote file through the cache is refused; verify names it.
	corruptRemote(t, c, "cli-roundtrip", "team/lake/tables/rollouts/data/")
	fresh := &cli{t: t, dir: dir, env: map[string]string{}}
	for k, v := range c.env {
		fresh.env[k] = v
	}
	fresh.env["SWELAKE_CACHE_DIR"] = filepath.Join(dir, "cache2")
	fresh.fails("checksum mismatch", 1, "sql", "--lake", "s3://cli-roundtrip/team/lake", "SELECT count(*) FROM rollouts")
	fresh.fails("1 problem(s), first rollouts/data/run_id=run-a/", 1, "lake", "verify", "--lake", "s3://cli-roundtrip/team/lake")
}

func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, env: map[string]string{}}
	writeFile(t, dir, "swelake.yaml", "lake: ./from-config\nlog_level: warn\n")
	c.ok("lake", "init")
	if _, err := os.Stat(filepath.Join(dir, "from-config", "_lake.json")); err != nil {
		t.Fatalf("swelake.yaml's lake key was not used: %v", err)
	}
	// Env beats the file, the flag beats env.
	c.env["SWELAKE_LAKE"] = "./from-env"
	c.ok("lake", "init")
	c.ok("lake", "init", "--lake", "./from-flag")
	for _, d := range []string{"from-env", "from-flag"} {
		if _, err := os.Stat(filepath.Join(dir, d, "_lake.json")); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
	}
	writeFile(t, dir, "typo.yaml", "lake: ./x\ns3:\n  endpont: host:1\n")
	c.fails(`config typo.yaml: unknown key "s3.endpont" (did you mean "s3.endpoint"?)`, 2, "lake", "tables", "--config", "typo.yaml")
}

func TestUsageErrors(t *testing.T) {
	c := &cli{t: t, dir: t.TempDir(), env: map[string]string{}}
	c.fails("unknown command", 2, "nope")
	c.fails("unknown flag", 2, "lake", "tables", "--bogus")
	c.fails("accepts 1 arg(s)", 2, "lake", "show")
	c.fails("unknown input format", 2, "lake", "append", "tasks", "x.txt")
	if out := c.ok("lake", "append", "--help"); !strings.Contains(out, "refuses the whole") || !strings.Contains(out, "Examples:") {
		t.Fatalf("help:\n%s", out)
	}
}

// ingestRoundTrip ingests tasks, rollouts and reports the project writes
// itself, then joins them with swelake sql.
func ingestRoundTrip(t *testing.T, c *cli, lakeRoot string) {
	lk := "--lake=" + lakeRoot
	c.ok("lake", "init", lk)
	dir := c.dir
	writeFile(t, dir, "in/tasks.json", `[{"instance_id":"a__b-1","repo":"a/b","base_commit":"c","patch":"P","problem_statement":"S","FAIL_TO_PASS":"[\"t1\"]","PASS_TO_PASS":[]},
{"instance_id":"a__b-2","repo":"a/b","base_commit":"c","patch":"P2","problem_statement":"S2","FAIL_TO_PASS":["t2"],"PASS_TO_PASS":[]}]`)
	writeFile(t, dir, "in/a__b-1.traj", `{"trajectory":[],"history":[{"role":"system","content":"s"},{"role":"assistant","content":"ls"}],"info":{"exit_status":"submitted","submission":"diff"}}`)
	writeFile(t, dir, "in/chat.jsonl", `{"messages":[{"role":"user","content":"fix"}],"task_id":"swe-bench/a__b-2","run_id":"run-x","reward":0}`+"\nnot json\n")
	writeFile(t, dir, "in/report.json", `{"a__b-1":{"patch_is_None":false,"patch_exists":true,"patch_successfully_applied":true,"resolved":true,"tests_status":{"FAIL_TO_PASS":{"success":["t1"],"failure":[]}}},
"a__b-2":{"patch_is_None":true,"patch_exists":false,"resolved":false}}`)
	if out := c.ok("ingest", "tasks", lk, filepath.Join(dir, "in/tasks.json")); !strings.Contains(out, "committed tasks@1: read 2, ingested 2") {
		t.Fatalf("ingest tasks: %s", out)
	}
	out := c.ok("ingest", "rollouts", lk, "--run-id", "run-x", filepath.Join(dir, "in/a__b-1.traj"), filepath.Join(dir, "in/chat.jsonl"))
	if !strings.Contains(out, "read 3, ingested 2, duplicates 0, conflicts 0, quarantined 1") {
		t.Fatalf("ingest rollouts: %s", out)
	}
	var sum struct {
		Ingested int64
		Statuses map[string]int
	}
	js := c.ok("ingest", "reports", lk, "--json", "--run-id", "eval-1", filepath.Join(dir, "in/report.json"))
	if err := json.Unmarshal([]byte(js), &sum); err != nil || sum.Ingested != 2 || sum.Statuses["resolved"] != 1 || sum.Statuses["empty_patch"] != 1 {
		t.Fatalf("ingest reports: %s %v", js, err)
	}
	// Again: a no-op. With --strict, the quarantined line fails the run.
	if out := c.ok("ingest", "tasks", lk, filepath.Join(dir, "in/tasks.json")); !strings.Contains(out, "nothing new to commit: read 2, ingested 0, duplicates 2") {
		t.Fatalf("re-ingest: %s", out)
	}
	c.fails("quarantined", 1, "ingest", "rollouts", lk, "--strict", filepath.Join(dir, "in/chat.jsonl"))
	c.fails("not a known rollouts format", 1, "ingest", "rollouts", lk, filepath.Join(dir, "in/report.json"))
	got := c.ok("sql", lk, "--csv", `SELECT t.task_id, r.source, e.status FROM tasks t JOIN rollouts r USING (task_id) JOIN evaluations e USING (task_id) ORDER BY 1`)
	if got != "task_id,source,status\nswe-bench/a__b-1,swe-agent,resolved\nswe-bench/a__b-2,openai-chat,empty_patch\n" {
		t.Fatalf("join:\n%s", got)
	}
	// lake raw: each row's source bytes as they were read — the whole .traj
	// file, the chat line — from the raw sources the ingest stored once.
	traj, _ := os.ReadFile(filepath.Join(dir, "in/a__b-1.traj"))
	if out := c.ok("lake", "raw", lk, "rollouts", "run-x/swe-bench/a__b-1/0"); out != string(traj) {
		t.Fatalf("lake raw of the .traj row: %q", out)
	}
	chatID := strings.TrimSpace(strings.Split(c.ok("sql", lk, "--csv", "SELECT rollout_id FROM rollouts WHERE source = 'openai-chat'"), "\n")[1])
	var raw struct {
		RawRef struct{ SHA256 string } `json:"raw_ref"`
		Raw    string
	}
	if err := json.Unmarshal([]byte(c.ok("lake", "raw", lk, "--json", "rollouts", chatID)), &raw); err != nil ||
		raw.Raw != `{"messages":[{"role":"user","content":"fix"}],"task_id":"swe-bench/a__b-2","run_id":"run-x","reward":0}` || len(raw.RawRef.SHA256) != 64 {
		t.Fatalf("lake raw --json: %+v %v", raw, err)
	}
	if out := c.ok("lake", "raw", lk, "tasks", "swe-bench/a__b-2"); !strings.Contains(out, `"instance_id":"a__b-2"`) {
		t.Fatalf("lake raw of an inline raw column: %q", out)
	}
	c.fails(`no row with rollout_id = "nope"`, 1, "lake", "raw", lk, "rollouts", "nope")
	c.fails("accepts 2 arg(s)", 2, "lake", "raw", lk, "rollouts")
	if out := c.ok("lake", "verify", lk, "rollouts"); !strings.Contains(out, " ok") {
		t.Fatalf("verify: %s", out)
	}
	if out := c.ok("lake", "migrate", lk); !strings.Contains(out, "rollouts: already at schema v3") {
		t.Fatalf("migrate of a current lake: %s", out)
	}
	if out := c.ok("lake", "migrate", lk, "tasks"); !strings.Contains(out, "tasks: already at schema v3") {
		t.Fatalf("migrate tasks of a current lake: %s", out)
	}
	c.fails(`no migration for table "quarantine"`, 2, "lake", "migrate", lk, "quarantine")
}

func TestIngestLocal(t *testing.T) {
	dir := t.TempDir()
	ingestRoundTrip(t, &cli{t: t, dir: dir, env: map[string]string{}}, filepath.Join(dir, "lake"))
}

func TestIngestMinIO(t *testing.T) {
	dir := t.TempDir()
	c := minioCLI(t, dir)
	ingestRoundTrip(t, c, "s3://ingest-roundtrip/lake")
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"768MiB": 768 << 20, "2GiB": 2 << 30, "512MB": 512e6, "1073741824": 1 << 30, "1.5 GiB": 3 << 29} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1GiB", "0"} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q) accepted", bad)
		}
	}
	c := &cli{t: t, dir: t.TempDir(), env: map[string]string{"SWELAKE_MEMORY_LIMIT": "lots"}}
	c.fails("config memory_limit: size \"lots\"", 1, "lake", "tables")
}

// TestTyposFail: a mistyped subcommand exits 2 with the closest names
// (cobra prints a group's help and exits 0 for them by default), and a
// group without its subcommand exits 2.
func TestTyposFail(t *testing.T) {
	c := &cli{t: t, dir: t.TempDir(), env: map[string]string{}}
	for _, tc := range []struct{ args, want string }{
		{"run curat", `unknown command "curat" for "swelake run"; did you mean curate?`},
		{"lake tabels", `unknown command "tabels" for "swelake lake"; did you mean tables?`},
		{"pipeline rn", `unknown command "rn" for "swelake pipeline"; did you mean run?`},
		{"ingest task", `unknown command "task" for "swelake ingest"; did you mean tasks?`},
		{"env lst", `unknown command "lst" for "swelake env"`},
		{"export predictons", `unknown command "predictons" for "swelake export"; did you mean predictions?`},
		{"lake", `swelake lake needs a subcommand`},
		// Keys: unknown everywhere, another job's, values of the wrong type.
		{"run curate --set nonsense=1", `--set nonsense=1: unknown key "nonsense" (known here: analysis, author,`},
		{"run curate --set s3.endpiont=x", `unknown key "s3.endpiont" (did you mean "s3.endpoint"?)`},
		{"run rollout --set rollout.sampels=3", `--set rollout.sampels=3: rollout: unknown key sampels (did you mean samples?)`},
		{"rl iterate --set rl_iterate.rollout.sampels=3", `--set rl_iterate.rollout.sampels=3: rl_iterate: unknown key rollout.sampels (did you mean rollout.samples?)`},
		{"run curate --set curate.difficulty.mixd=true", `curate: unknown key difficulty.mixd (did you mean difficulty.mixed?)`},
		{"run build-rl --set rollout.samples=3", `--set rollout.samples=3: build-rl does not read rollout.* (that is rollout's section); its own keys are build_rl.*`},
		{"run report out --set report.titel=x", `report: unknown key titel (did you mean title?)`},
		{"run curate --set curate.params.token_cap.max_tokens=abc", `curate: params.token_cap.max_tokens: want an integer`},
		{"run curate --set curate.params.token_cap.max_tokens=1.5", `params.token_cap.max_tokens: want an integer, got 1.5`},
		{"run curate --set curate.params.decontam.min_overlap=2", `params.decontam.min_overlap: want a fraction between 0 and 1, got 2`},
		{"run curate --on-duplicate sometimes", `on-duplicate "sometimes": want refuse or skip`},
	} {
		c.fails(tc.want, 2, strings.Fields(tc.args)...)
	}
	// A pipeline's typos fail --dry-run, naming the file, the stage and the key.
	for _, tc := range []struct{ stage, want string }{
		{"{job: rollout, config: {sampels: 3}}", `stage "rollout" (rollout): config: unknown key sampels (did you mean samples?)`},
		{"{job: build-sft, args: [--pack-lenght, '8192']}", `stage "build-sft": args: stages take config keys, not flags`},
		{"{job: report, config: {titel: x, out: r}}", `stage "report" (report): config: unknown key titel (did you mean title?)`},
		{"{job: curate, set: {sandbox.repo_dir: x}}", `stage "curate" (curate): set: sandbox.repo_dir: unknown key "sandbox.repo_dir" (did you mean "sandbox.repos_dir"?)`},
		{"{job: curate, set: {rollout.sampels: 3}}", `stage "curate" (curate): set: rollout.sampels: rollout: unknown key sampels`},
		{"{job: curate, config: {params: {loop: {max_repeats: 1}}}}", `stage "curate" (curate): config: params.loop.max_repeats: want an integer ≥ 2, got 1`},
	} {
		file := writeFile(t, c.dir, "typo.yaml", "name: typo\nstages:\n  - "+tc.stage+"\n")
		c.fails(tc.want, 2, "pipeline", "run", file, "--dry-run")
	}
	if out, errs, _ := c.run("run", "curate", "--set", "nonsense=1"); strings.Contains(out+errs, "main.Config") || strings.Contains(out+errs, "environment") {
		t.Errorf("a --set typo speaks Go or blames the environment: %s", errs)
	}
}
