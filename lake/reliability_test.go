package lake_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
)

// Writer processes are this test binary re-executed with helperEnv set; the
// rest of their arguments come in the environment.
const helperEnv = "SWELAKE_LAKE_TEST_HELPER"

// helperBucket opens the bucket described by the environment.
func helperBucket() (objstore.Bucket, error) {
	if dir := os.Getenv("HELPER_LOCAL"); dir != "" {
		return objstore.NewLocal(dir)
	}
	return objstore.NewS3(objstore.S3Config{
		Endpoint: os.Getenv("HELPER_S3_ENDPOINT"), AccessKey: os.Getenv("HELPER_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("HELPER_S3_SECRET_KEY"), Bucket: os.Getenv("HELPER_S3_BUCKET"), Prefix: "lake",
	})
}

// runHelper is a writer process: "append" commits HELPER_N appends of
// HELPER_ROWS rows each with run keys <HELPER_ID>-<i>; "orphan" writes data
// files and exits without committing them.
func runHelper(mode string) int {
	ctx := context.Background()
	b, err := helperBucket()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tbl, _ := lake.Open(b, lake.Options{Backoff: 2 * time.Millisecond}).Table("test_rows")
	id := os.Getenv("HELPER_ID")
	n, _ := strconv.Atoi(os.Getenv("HELPER_N"))
	rowsPer, _ := strconv.Atoi(os.Getenv("HELPER_ROWS"))
	base, _ := strconv.Atoi(os.Getenv("HELPER_BASE"))
	for i := range n {
		rows := makeRows(id, base+i*rowsPer, rowsPer, "a", "b", "c")
		switch mode {
		case "append":
			if _, err := appendRows(ctx, tbl, rows, fmt.Sprintf("%s-%d", id, i)); err != nil {
				fmt.Fprintf(os.Stderr, "writer %s append %d: %v\n", id, i, err)
				return 1
			}
		case "orphan":
			if _, err := lake.WriteFiles(ctx, tbl, testSpec(), lake.Slice(rows), lake.WriteOptions{}); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
	}
	return 0
}

type helperTarget struct {
	env []string
	b   objstore.Bucket
}

func targets(t *testing.T) map[string]func(t *testing.T) helperTarget {
	return map[string]func(t *testing.T) helperTarget{
		"local": func(t *testing.T) helperTarget {
			dir := t.TempDir()
			b, _ := objstore.NewLocal(dir)
			return helperTarget{env: []string{"HELPER_LOCAL=" + dir}, b: b}
		},
		"minio": func(t *testing.T) helperTarget {
			bucket := fmt.Sprintf("rel-%d-%d", os.Getpid(), bucketSeq.Add(1))
			b := newS3(t, bucket)
			return helperTarget{b: b, env: []string{
				"HELPER_S3_ENDPOINT=" + minio.Endpoint, "HELPER_S3_ACCESS_KEY=" + minio.AccessKey,
				"HELPER_S3_SECRET_KEY=" + minio.SecretKey, "HELPER_S3_BUCKET=" + bucket,
			}}
		},
	}
}

func helperCmd(target helperTarget, mode, id string, n, rows, base int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(target.env, helperEnv+"="+mode, "HELPER_ID="+id,
		"HELPER_N="+strconv.Itoa(n), "HELPER_ROWS="+strconv.Itoa(rows), "HELPER_BASE="+strconv.Itoa(base))...)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestConcurrentWriterProcesses: 8 processes × 25 appends → exactly 200
// commits, contiguous versions, every row present exactly once.
func TestConcurrentWriterProcesses(t *testing.T) {
	const writers, appends, rowsPer = 8, 25, 7
	for _, name := range []string{"local", "minio"} {
		t.Run(name, func(t *testing.T) {
			target := targets(t)[name](t)
			_, tbl := newTable(t, target.b, lake.Options{})
			start := time.Now()
			var cmds []*exec.Cmd
			for w := range writers {
				cmd := helperCmd(target, "append", fmt.Sprintf("w%d", w), appends, rowsPer, w*100000)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				cmds = append(cmds, cmd)
			}
			for _, cmd := range cmds {
				if err := cmd.Wait(); err != nil {
					t.Fatalf("writer: %v", err)
				}
			}
			elapsed := time.Since(start)
			log, err := tbl.Log(context.Background(), 0, lake.Latest)
			if err != nil {
				t.Fatal(err)
			}
			if len(log) != 1+writers*appends {
				t.Fatalf("%d log entries, want %d", len(log), 1+writers*appends)
			}
			keys := map[string]int{}
			for i, c := range log {
				if c.Version != int64(i) || c.Parent != int64(i-1) {
					t.Fatalf("entry %d has version %d parent %d", i, c.Version, c.Parent)
				}
				keys[c.Provenance.RunKey]++
			}
			for k, n := range keys {
				if k != "" && n != 1 {
					t.Fatalf("run key %s committed %d times", k, n)
				}
			}
			s, _ := tbl.Snapshot(context.Background(), lake.Latest)
			rows := readRows(t, target.b, s)
			seen := map[int64]bool{}
			for _, r := range rows {
				if seen[r.ID] {
					t.Fatalf("row %d duplicated", r.ID)
				}
				seen[r.ID] = true
			}
			for w := range writers {
				for i := range appends * rowsPer {
					if !seen[int64(w*100000+i)] {
						t.Fatalf("row %d of writer %d lost", i, w)
					}
				}
			}
			if len(rows) != writers*appends*rowsPer {
				t.Fatalf("%d rows, want %d", len(rows), writers*appends*rowsPer)
			}
			t.Logf("%s: %d processes × %d appends = %d commits, versions 1..%d contiguous, %d rows, 0 lost, 0 duplicated, in %v",
				name, writers, appends, writers*appends, s.Version, len(rows), elapsed.Round(time.Millisecond))
		})
	}
}

// TestKillWriter kills a writer process with SIGKILL at a random moment,
// ≥ 20 times, while a reader keeps resolving and verifying snapshots; then
// checks the lake, reruns the writer to completion, and finally collects the
// orphans the kills left behind.
func TestKillWriter(t *testing.T) {
	const trials, appends, rowsPer = 20, 8, 40
	for _, name := range []string{"local", "minio"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			target := targets(t)[name](t)
			_, tbl := newTable(t, target.b, lake.Options{})

			// The reader: every snapshot it resolves must be whole.
			stop := make(chan struct{})
			var readerErr error
			var reads int
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					rt, _ := lake.Open(target.b, lake.Options{}).Table("test_rows")
					s, err := rt.Snapshot(ctx, lake.Latest)
					if err == nil {
						var problems []lake.Problem
						problems, err = rt.Verify(ctx, s, nil)
						if err == nil && len(problems) > 0 {
							err = fmt.Errorf("snapshot @%d: %v", s.Version, problems)
						}
						if err == nil && len(readRows(t, target.b, s)) != int(s.Rows()) {
							err = fmt.Errorf("snapshot @%d: rows differ from the log", s.Version)
						}
					}
					if err != nil {
						readerErr = err
						return
					}
					reads++
				}
			}()

			// Calibrate: how long a whole writer run takes here, so that the
			// kills land anywhere from start-up to the last commit.
			calStart := time.Now()
			if err := helperCmd(target, "append", "cal", appends, rowsPer, 5000000).Run(); err != nil {
				t.Fatal(err)
			}
			window := time.Since(calStart)

			killedMidway := 0
			for trial := range trials {
				id := fmt.Sprintf("t%d", trial)
				cmd := helperCmd(target, "append", id, appends, rowsPer, trial*10000)
				cmd.Stderr = nil // a killed writer may print nothing useful
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Duration(rand.Int64N(int64(window))))
				cmd.Process.Signal(syscall.SIGKILL)
				cmd.Wait()

				before := committedKeys(t, tbl, id)
				if before > 0 && before < appends {
					killedMidway++
				}
				// Rerun to completion: the keys already committed are no-ops.
				rerun := helperCmd(target, "append", id, appends, rowsPer, trial*10000)
				if err := rerun.Run(); err != nil {
					t.Fatalf("trial %d: rerun: %v", trial, err)
				}
				if n := committedKeys(t, tbl, id); n != appends {
					t.Fatalf("trial %d: after rerun %d of %d run keys committed", trial, n, appends)
				}
			}
			close(stop)
			wg.Wait()
			if readerErr != nil {
				t.Fatalf("reader saw a partial snapshot: %v", readerErr)
			}
			checkSnapshot(t, target.b, tbl, (trials+1)*appends*rowsPer)

			// Orphans: those the kills left, plus files a writer wrote and
			// never committed. gc keeps them within the grace period and
			// removes them after it, and every version still verifies.
			if err := helperCmd(target, "orphan", "orphan", 2, rowsPer, 900000).Run(); err != nil {
				t.Fatal(err)
			}
			l := lake.Open(target.b, lake.Options{})
			res, err := l.GC(ctx, time.Hour, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Removed) != 0 || res.Kept < 6 {
				t.Fatalf("gc within grace removed %d, kept %d (want ≥ 6 orphans kept)", len(res.Removed), res.Kept)
			}
			future := lake.Open(target.b, lake.Options{Clock: func() time.Time { return time.Now().Add(2 * time.Hour) }})
			res2, err := future.GC(ctx, time.Hour, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(res2.Removed) != res.Kept || res2.Live != res.Live {
				t.Fatalf("gc after grace removed %d (want %d), live %d (want %d)", len(res2.Removed), res.Kept, res2.Live, res.Live)
			}
			latest, _ := tbl.Snapshot(ctx, lake.Latest)
			for v := int64(0); v <= latest.Version; v += 7 {
				s, _ := tbl.Snapshot(ctx, v)
				if problems, err := tbl.Verify(ctx, s, nil); err != nil || len(problems) > 0 {
					t.Fatalf("@%d after gc: %v %v", v, problems, err)
				}
			}
			t.Logf("%s: a writer run takes %v; %d kill -9 trials (%d killed mid-run), reader resolved+verified %d snapshots, all whole; gc kept %d young orphans, then removed %d; %d live files",
				name, window.Round(time.Millisecond), trials, killedMidway, reads, res.Kept, len(res2.Removed), res2.Live)
		})
	}
}

func committedKeys(t *testing.T, tbl *lake.Table, id string) int {
	log, err := tbl.Log(context.Background(), 0, lake.Latest)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, c := range log {
		if strings.HasPrefix(c.Provenance.RunKey, id+"-") {
			seen[c.Provenance.RunKey]++
			if seen[c.Provenance.RunKey] > 1 {
				t.Fatalf("run key %s committed twice", c.Provenance.RunKey)
			}
		}
	}
	return len(seen)
}
