// Package objstoretest is the acceptance suite every objstore.Bucket backend
// runs (local, memory, and S3 against a real MinIO server), and a decorator
// that injects faults into any backend.
package objstoretest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/swelake/swelake/lake/objstore"
)

// Run runs the acceptance suite. newBucket must return an empty bucket.
func Run(t *testing.T, newBucket func(t *testing.T) objstore.Bucket) {
	ctx := context.Background()

	t.Run("PutGetStat", func(t *testing.T) {
		b := newBucket(t)
		for _, size := range []int64{-1, 11} { // unknown and known sizes
			key := fmt.Sprintf("a/b/obj-%d.txt", size)
			if err := b.Put(ctx, key, strings.NewReader("hello world"), size); err != nil {
				t.Fatal(err)
			}
			mustGet(t, b, key, "hello world")
			info, err := b.Stat(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if info.Key != key || info.Size != 11 || info.ModTime.IsZero() {
				t.Fatalf("stat %s = %+v", key, info)
			}
		}
		// Put replaces.
		if err := b.Put(ctx, "a/b/obj-11.txt", strings.NewReader("bye"), 3); err != nil {
			t.Fatal(err)
		}
		mustGet(t, b, "a/b/obj-11.txt", "bye")
	})

	t.Run("Missing", func(t *testing.T) {
		b := newBucket(t)
		if _, err := b.Get(ctx, "no/such/key"); !errors.Is(err, objstore.ErrNotExist) {
			t.Fatalf("get missing: %v, want ErrNotExist", err)
		}
		if _, err := b.Stat(ctx, "no/such/key"); !errors.Is(err, objstore.ErrNotExist) {
			t.Fatalf("stat missing: %v, want ErrNotExist", err)
		}
		// A "directory" is not an object.
		if err := b.Put(ctx, "dir/x", strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Stat(ctx, "dir"); !errors.Is(err, objstore.ErrNotExist) {
			t.Fatalf("stat prefix: %v, want ErrNotExist", err)
		}
		if err := b.Delete(ctx, "no/such/key"); err != nil {
			t.Fatalf("delete missing: %v", err)
		}
	})

	t.Run("ErrorsNameOpAndKey", func(t *testing.T) {
		b := newBucket(t)
		_, err := b.Get(ctx, "tables/x/_log/7.json")
		var oe *objstore.Error
		if !errors.As(err, &oe) || oe.Op != "get" || oe.Key != "tables/x/_log/7.json" {
			t.Fatalf("error %v does not name op and key", err)
		}
		if !strings.Contains(err.Error(), "tables/x/_log/7.json") {
			t.Fatalf("message %q does not name the key", err)
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		b := newBucket(t)
		for _, key := range []string{"", "/abs", "a/../b", "a//b", "a/", "..", "./a"} {
			if err := b.Put(ctx, key, strings.NewReader("x"), 1); !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("put %q: %v, want ErrInvalidKey", key, err)
			}
		}
	})

	t.Run("PutIfAbsent", func(t *testing.T) {
		b := newBucket(t)
		if err := b.PutIfAbsent(ctx, "log/1.json", strings.NewReader("first"), 5); err != nil {
			t.Fatal(err)
		}
		err := b.PutIfAbsent(ctx, "log/1.json", strings.NewReader("second"), 6)
		if !errors.Is(err, objstore.ErrExist) {
			t.Fatalf("second put-if-absent: %v, want ErrExist", err)
		}
		mustGet(t, b, "log/1.json", "first")
		// After a delete the key can be created again.
		if err := b.Delete(ctx, "log/1.json"); err != nil {
			t.Fatal(err)
		}
		if err := b.PutIfAbsent(ctx, "log/1.json", strings.NewReader("third"), -1); err != nil {
			t.Fatal(err)
		}
		mustGet(t, b, "log/1.json", "third")
	})

	t.Run("PutIfAbsentRace", func(t *testing.T) {
		b := newBucket(t)
		const racers = 16
		for round := 0; round < 3; round++ {
			key := fmt.Sprintf("race/%d.json", round)
			var wg sync.WaitGroup
			errs := make([]error, racers)
			start := make(chan struct{})
			for i := range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					body := fmt.Sprintf("writer-%02d", i)
					errs[i] = b.PutIfAbsent(ctx, key, strings.NewReader(body), int64(len(body)))
				}()
			}
			close(start)
			wg.Wait()
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil:
					if winner >= 0 {
						t.Fatalf("%s: writers %d and %d both won", key, winner, i)
					}
					winner = i
				case !errors.Is(err, objstore.ErrExist):
					t.Fatalf("%s: writer %d: %v, want ErrExist", key, i, err)
				}
			}
			if winner < 0 {
				t.Fatalf("%s: no writer won", key)
			}
			mustGet(t, b, key, fmt.Sprintf("writer-%02d", winner))
		}
	})

	t.Run("List", func(t *testing.T) {
		b := newBucket(t)
		keys := []string{"t/a/_log/2.json", "t/a/_log/1.json", "t/a/data/p=1/x.parquet", "t/a.txt", "t/ab/z", "u/1"}
		for _, k := range keys {
			if err := b.Put(ctx, k, strings.NewReader(k), int64(len(k))); err != nil {
				t.Fatal(err)
			}
		}
		cases := map[string][]string{
			"t/a/":     {"t/a/_log/1.json", "t/a/_log/2.json", "t/a/data/p=1/x.parquet"},
			"t/a":      {"t/a.txt", "t/a/_log/1.json", "t/a/_log/2.json", "t/a/data/p=1/x.parquet", "t/ab/z"},
			"t/a/_log": {"t/a/_log/1.json", "t/a/_log/2.json"},
			"nothing/": nil,
			"":         {"t/a.txt", "t/a/_log/1.json", "t/a/_log/2.json", "t/a/data/p=1/x.parquet", "t/ab/z", "u/1"},
		}
		for prefix, want := range cases {
			var got []string
			for info, err := range b.List(ctx, prefix) {
				if err != nil {
					t.Fatalf("list %q: %v", prefix, err)
				}
				if info.Size != int64(len(info.Key)) {
					t.Errorf("list %q: %s has size %d", prefix, info.Key, info.Size)
				}
				got = append(got, info.Key)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("list %q = %v, want %v", prefix, got, want)
			}
		}
		// Stopping early is allowed.
		for range b.List(ctx, "t/") {
			break
		}
	})

	t.Run("Dirs", func(t *testing.T) {
		b := newBucket(t)
		for _, k := range []string{"tables/b/_log/0.json", "tables/a/data/x=1/f", "tables/a/_log/0.json", "tables/c.txt", "top"} {
			if err := b.Put(ctx, k, strings.NewReader("x"), 1); err != nil {
				t.Fatal(err)
			}
		}
		cases := map[string][]string{"": {"tables"}, "tables/": {"a", "b"}, "tables/a/": {"_log", "data"}, "none/": nil}
		for dir, want := range cases {
			got, err := b.Dirs(ctx, dir)
			if err != nil {
				t.Fatalf("dirs %q: %v", dir, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("dirs %q = %v, want %v", dir, got, want)
			}
		}
	})

	t.Run("Delete", func(t *testing.T) {
		b := newBucket(t)
		if err := b.Put(ctx, "d/1", strings.NewReader("1"), 1); err != nil {
			t.Fatal(err)
		}
		if err := b.Delete(ctx, "d/1"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(ctx, "d/1"); !errors.Is(err, objstore.ErrNotExist) {
			t.Fatalf("get deleted: %v", err)
		}
		for info, err := range b.List(ctx, "d/") {
			t.Fatalf("list after delete yields %v %v", info, err)
		}
	})

	t.Run("LargeStreamedObject", func(t *testing.T) {
		b := newBucket(t)
		data := make([]byte, 40<<20+123) // > two S3 parts
		rand.Read(data)
		// Unknown size, through a reader that is not a *bytes.Reader.
		if err := b.Put(ctx, "big/obj", io.MultiReader(bytes.NewReader(data)), -1); err != nil {
			t.Fatal(err)
		}
		got, err := objstore.ReadAll(ctx, b, "big/obj")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("big object: got %d bytes, want %d (content differs)", len(got), len(data))
		}
	})

	t.Run("Canceled", func(t *testing.T) {
		b := newBucket(t)
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := b.Put(ctx, "c/1", strings.NewReader("x"), 1); err == nil {
			t.Fatal("put with a cancelled context succeeded")
		}
		if _, err := b.Stat(context.Background(), "c/1"); !errors.Is(err, objstore.ErrNotExist) {
			t.Fatalf("cancelled put left an object: %v", err)
		}
	})

	t.Run("PutIfMatch", func(t *testing.T) {
		b := newBucket(t)
		const key = "pipelines/p/lease.json"
		tag, err := b.PutIfMatch(ctx, key, []byte(`{"owner":"a"}`), "")
		if err != nil || tag == "" {
			t.Fatalf("create: tag %q, %v", tag, err)
		}
		if _, err := b.PutIfMatch(ctx, key, []byte(`{"owner":"b"}`), ""); !errors.Is(err, objstore.ErrChanged) {
			t.Fatalf("create over an existing object: %v, want ErrChanged", err)
		}
		data, got, err := b.GetTagged(ctx, key)
		if err != nil || got != tag || string(data) != `{"owner":"a"}` {
			t.Fatalf("get tagged = %q %q %v, want the created version (tag %q)", data, got, err, tag)
		}
		tag2, err := b.PutIfMatch(ctx, key, []byte(`{"owner":"a","renewed":1}`), tag)
		if err != nil || tag2 == tag {
			t.Fatalf("swap from the current tag: %q %v", tag2, err)
		}
		if _, err := b.PutIfMatch(ctx, key, []byte(`{"owner":"c"}`), tag); !errors.Is(err, objstore.ErrChanged) {
			t.Fatalf("swap from a stale tag: %v, want ErrChanged", err)
		}
		if _, err := b.PutIfMatch(ctx, "no/such", []byte("x"), tag); !errors.Is(err, objstore.ErrChanged) {
			t.Fatalf("swap of a missing object: %v, want ErrChanged", err)
		}
		if _, _, err := b.GetTagged(ctx, "no/such"); !errors.Is(err, objstore.ErrNotExist) {
			t.Fatalf("get tagged of a missing object: %v, want ErrNotExist", err)
		}
		// Racing swaps from one tag: exactly one wins.
		var wg sync.WaitGroup
		wins := make(chan string, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf(`{"owner":"w%d"}`, i)
				if _, err := b.PutIfMatch(ctx, key, []byte(body), tag2); err == nil {
					wins <- body
				} else if !errors.Is(err, objstore.ErrChanged) {
					t.Errorf("racing swap: %v", err)
				}
			}()
		}
		wg.Wait()
		close(wins)
		var won []string
		for w := range wins {
			won = append(won, w)
		}
		if len(won) != 1 {
			t.Fatalf("%d racing swaps won, want exactly 1", len(won))
		}
		mustGet(t, b, key, won[0])
	})
}

func mustGet(t *testing.T, b objstore.Bucket, key, want string) {
	t.Helper()
	got, err := objstore.ReadAll(context.Background(), b, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if string(got) != want {
		t.Fatalf("get %s = %q, want %q", key, got, want)
	}
}
