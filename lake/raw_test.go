package lake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/golang/snappy"

	"github.com/swelake/swelake/lake/objstore"
)

// TestRawSeekable: a source of many blocks round-trips whole through
// Google's framed-Snappy reader (github.com/golang/snappy, an implementation
// independent of the writer's: the S2 index is a skippable chunk it skips;
// Debian's python3-snappy 0.5.3 would be the other, but its CRC-32C
// extension fails on Python 3.11) and by range — within a block, across
// block boundaries, at both ends; a range past the end is refused; storing
// the same bytes again stores nothing.
func TestRawSeekable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	l := Open(b, Options{CacheDir: t.TempDir()})
	const block = 64 << 10
	data := make([]byte, 40*block+12345)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = "abcdefgh\n{}\"x"[r.IntN(13)]
	}
	sum, stored, err := l.PutRaw(ctx, bytes.NewReader(data), "")
	want := sha256.Sum256(data)
	if err != nil || !stored || sum != hex.EncodeToString(want[:]) {
		t.Fatalf("PutRaw: %s %v %v", sum, stored, err)
	}
	if _, again, err := l.PutRaw(ctx, bytes.NewReader(data), sum); err != nil || again {
		t.Fatalf("second PutRaw stored %v, %v", again, err)
	}
	if _, _, err := l.PutRaw(ctx, bytes.NewReader(data[1:]), sum[:63]+"0"); !errors.Is(err, ErrChecksum) {
		t.Fatalf("bytes that do not hash to the name given: %v", err)
	}
	for _, c := range [][2]int64{{0, 10}, {block - 5, 10}, {block, 1}, {10, 20*block + 7}, {7*block + 3, 3 * block}, {int64(len(data)) - 3, 3}, {0, int64(len(data))}, {5, 0}} {
		got, err := l.ReadRaw(ctx, sum, c[0], c[1])
		if err != nil || !bytes.Equal(got, data[c[0]:c[0]+c[1]]) {
			t.Fatalf("range %v: %d bytes, %v", c, len(got), err)
		}
	}
	if _, err := l.ReadRaw(ctx, sum, int64(len(data))-2, 3); err == nil {
		t.Fatal("a range past the end was read")
	}
	if reason, err := l.VerifyRaw(ctx, sum); err != nil || reason != "" {
		t.Fatalf("verify: %q %v", reason, err)
	}
	f, err := os.Open(filepath.Join(dir, RawKey(sum)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, err := io.ReadAll(snappy.NewReader(f))
	if err != nil || !bytes.Equal(out, data) {
		t.Fatalf("golang/snappy's framed reader: %d bytes of %d, %v", len(out), len(data), err)
	}
	// Through a remote-style bucket: fetched once into the cache, checked.
	mem := objstore.NewMem(nil)
	lm := Open(mem, Options{CacheDir: t.TempDir()})
	if _, _, err := lm.PutRaw(ctx, bytes.NewReader(data), ""); err != nil {
		t.Fatal(err)
	}
	if got, err := lm.ReadRaw(ctx, sum, 100, 50); err != nil || !bytes.Equal(got, data[100:150]) {
		t.Fatalf("mem range: %v", err)
	}
	// A damaged source: verify names it, a fresh cache refuses it.
	raw, _ := os.ReadFile(filepath.Join(dir, RawKey(sum)))
	raw[len(raw)/2] ^= 0xff
	if err := mem.Put(ctx, RawKey(sum), bytes.NewReader(raw), int64(len(raw))); err != nil {
		t.Fatal(err)
	}
	if reason, err := lm.VerifyRaw(ctx, sum); err != nil || reason == "" {
		t.Fatalf("verify of a damaged source: %q %v", reason, err)
	}
	lm2 := Open(mem, Options{CacheDir: t.TempDir()})
	if _, err := lm2.ReadRaw(ctx, sum, 0, 10); !errors.Is(err, ErrChecksum) {
		t.Fatalf("read of a damaged source: %v", err)
	}
	if _, err := lm2.ReadRaw(ctx, sum[:63]+"0", 0, 1); !errors.Is(err, ErrNoRaw) {
		t.Fatalf("read of a missing source: %v", err)
	}
}
