package lake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/klauspost/compress/s2"

	"github.com/swelake/swelake/lake/objstore"
)

// Raw sources. A row that keeps its source record's bytes outside the row
// data (rollouts v3) points at them — (sha256, offset, length) — in a raw
// source stored once per source file under raw/sha256/<aa>/<sha256>.sz,
// content-addressed by the sha256 of its uncompressed bytes: ingesting the
// same file twice stores nothing new. The object is in Snappy's framing
// format (Snappy-compatible blocks of at most 64 KiB, each with its CRC-32C),
// ending with S2's seek index in a skippable chunk: any framed-Snappy
// decoder decompresses it whole, and one row's bytes are read by seeking
// to the block that holds them. (Snappy rather than zstd: on this
// project's ingest the zstd encoder at its fastest level ran at 175 MB/s
// on one core against 538 MB/s for this, and it sits on every ingest's
// critical path; docs/benchmarks.md.) Data files name the sources their
// rows point at (File.Raw), so that gc keeps them and lake verify checks
// them.

// RawKey is the object key of a raw source.
func RawKey(sum string) string { return "raw/sha256/" + sum[:2] + "/" + sum + ".sz" }

// ErrNoRaw: the raw source is not in the lake.
var ErrNoRaw = errors.New("raw source not in the lake")

// HasRaw reports whether the raw source sum is stored.
func (l *Lake) HasRaw(ctx context.Context, sum string) (bool, error) {
	if len(sum) != 64 {
		return false, fmt.Errorf("raw source %q: not a sha256", sum)
	}
	_, err := l.bucket.Stat(ctx, RawKey(sum))
	if errors.Is(err, objstore.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// PutRaw stores the bytes r yields as a raw source, unless a source with
// their sha256 is already stored, and returns that sha256 and whether it
// stored anything. want, if not "", is the sha256 the caller computed: the
// bytes are compressed straight into storage (never held in memory) and
// must hash to it, else the object is deleted and the error is
// ErrChecksum. Without want, they are compressed to a temporary file while
// hashed, and stored under their hash.
func (l *Lake) PutRaw(ctx context.Context, r io.Reader, want string) (sum string, stored bool, err error) {
	if want != "" {
		if ok, err := l.HasRaw(ctx, want); err != nil || ok {
			return want, false, err
		}
		return want, true, l.streamRaw(ctx, r, want)
	}
	tmp, err := os.CreateTemp("", ".swelake-raw-*")
	if err != nil {
		return "", false, fmt.Errorf("store raw source: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	if err := writeSeekable(ctx, tmp, io.TeeReader(r, h)); err != nil {
		return "", false, fmt.Errorf("store raw source: %w", err)
	}
	sum = hex.EncodeToString(h.Sum(nil))
	if ok, err := l.HasRaw(ctx, sum); err != nil || ok {
		return sum, false, err
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return "", false, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", false, err
	}
	if err := l.bucket.Put(ctx, RawKey(sum), tmp, size); err != nil {
		return "", false, fmt.Errorf("store raw source %.12s: %w", sum, err)
	}
	return sum, true, nil
}

// streamRaw compresses r straight into the object of want, hashing on the
// way; bytes that do not hash to want are deleted again.
func (l *Lake) streamRaw(ctx context.Context, r io.Reader, want string) error {
	pr, pw := io.Pipe()
	h := sha256.New()
	go func() {
		pw.CloseWithError(writeSeekable(ctx, pw, io.TeeReader(r, h)))
	}()
	key := RawKey(want)
	err := l.bucket.Put(ctx, key, pr, -1)
	pr.CloseWithError(err)
	if err != nil {
		return fmt.Errorf("store raw source %.12s: %w", want, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		l.bucket.Delete(context.WithoutCancel(ctx), key)
		return fmt.Errorf("store raw source: %w: the bytes hash to %s, not %s (the file changed while it was read?)", ErrChecksum, got, want)
	}
	return nil
}

// writeSeekable compresses r into w as Snappy frames with S2's seek index
// at the end.
func writeSeekable(ctx context.Context, w io.Writer, r io.Reader) error {
	sw := s2.NewWriter(w, s2.WriterSnappyCompat(), s2.WriterAddIndex())
	if _, err := io.Copy(sw, objstore.ContextReader(ctx, r)); err != nil {
		sw.Close()
		return err
	}
	return sw.Close()
}

// readRange decompresses length bytes at offset of a raw source, seeking
// with its index to the block that holds them.
func readRange(f io.ReadSeeker, offset, length int64) ([]byte, error) {
	rs, err := s2.NewReader(f).ReadSeeker(true, nil)
	if err != nil {
		return nil, fmt.Errorf("no seek index: %w", err)
	}
	if offset < 0 || length < 0 {
		return nil, fmt.Errorf("range %d+%d is negative", offset, length)
	}
	if _, err := rs.Seek(offset, io.SeekStart); err != nil {
		return nil, fmt.Errorf("range %d+%d: %w", offset, length, err)
	}
	out := make([]byte, length)
	if _, err := io.ReadFull(rs, out); err != nil {
		return nil, fmt.Errorf("range %d+%d is outside the source: %w", offset, length, err)
	}
	return out, nil
}

// ReadRaw returns length bytes at offset of the raw source sum: from the
// object itself on a local lake, else from a copy in the cache directory
// (checked against sum when fetched).
func (l *Lake) ReadRaw(ctx context.Context, sum string, offset, length int64) ([]byte, error) {
	if len(sum) != 64 {
		return nil, fmt.Errorf("raw source %q: not a sha256", sum)
	}
	key := RawKey(sum)
	p := ""
	if lp, ok := l.bucket.(objstore.LocalPather); ok {
		p, _ = lp.LocalPath(key)
	}
	if p == "" {
		var err error
		if p, err = l.fetchRaw(ctx, sum); err != nil {
			return nil, err
		}
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("raw source %.12s: %w", sum, ErrNoRaw)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := readRange(f, offset, length)
	if err != nil {
		return nil, fmt.Errorf("raw source %.12s: %w", sum, err)
	}
	return b, nil
}

// fetchRaw copies a raw source into the cache directory, checked.
func (l *Lake) fetchRaw(ctx context.Context, sum string) (string, error) {
	if l.files.Dir == "" {
		return "", fmt.Errorf("raw source %.12s: %w", sum, ErrNoCacheDir)
	}
	dst := filepath.Join(l.files.Dir, "raw", sum[:2], sum+".sz")
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	err := fetchChecked(ctx, l.bucket, RawKey(sum), dst, func(f *os.File, _ int64, _ string) error {
		reason, err := rawProblem(f, sum)
		if err == nil && reason != "" {
			err = fmt.Errorf("fetch raw source %.12s: %w: %s", sum, ErrChecksum, reason)
		}
		return err
	})
	if errors.Is(err, objstore.ErrNotExist) {
		return "", fmt.Errorf("raw source %.12s: %w", sum, ErrNoRaw)
	}
	if err != nil {
		return "", err
	}
	return dst, nil
}

// rawProblem decompresses a raw source whole (checking every block's
// CRC) and compares its sha256 with sum; it returns what is wrong ("" :
// nothing).
func rawProblem(r io.Reader, sum string) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, s2.NewReader(r)); err != nil {
		return "not a readable Snappy stream: " + err.Error(), nil
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return "its bytes hash to " + got, nil
	}
	return "", nil
}

// VerifyRaw decompresses the raw source sum and checks its sha256; it
// returns a Problem's reason ("missing", a mismatch) or "".
func (l *Lake) VerifyRaw(ctx context.Context, sum string) (string, error) {
	rc, err := l.bucket.Get(ctx, RawKey(sum))
	if errors.Is(err, objstore.ErrNotExist) {
		return "missing", nil
	}
	if err != nil {
		return "", err
	}
	defer rc.Close()
	reason, err := rawProblem(rc, sum)
	if err == nil && reason != "" && ctx.Err() != nil {
		return "", ctx.Err()
	}
	return reason, err
}

// RawSources lists the raw sources a snapshot's files point at, sorted.
func (s *Snapshot) RawSources() []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range s.Files {
		for _, r := range f.Raw {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	slices.Sort(out)
	return out
}
