package lake

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/klauspost/compress/zstd"

	"github.com/swelake/swelake/lake/objstore"
)

// Raw sources. A row that keeps its source bytes (rollouts v3) points at
// them — (sha256, offset, length) — in a raw source stored once per source
// file under raw/sha256/<aa>/<sha256>.zst, content-addressed by the sha256
// of its uncompressed bytes: ingesting the same file twice stores nothing
// new. The object is zstd's seekable format (independent frames of
// rawFrameSize bytes and a seek table in a skippable frame at the end):
// any zstd decompresses it whole, and one row's bytes are read by
// decompressing only the frames that hold them. Data files name the
// sources their rows point at (File.Raw), so that gc keeps them and lake
// verify checks them.

// rawFrameSize is the uncompressed size of one frame: a row is read by
// decompressing at most ⌈len/rawFrameSize⌉+1 frames.
const rawFrameSize = 1 << 20

// Seekable format constants (zstd contrib/seekable_format).
const (
	skippableMagic = 0x184D2A5E
	seekableMagic  = 0x8F92EAB1
	seekFooterSize = 9
)

// RawKey is the object key of a raw source.
func RawKey(sum string) string { return "raw/sha256/" + sum[:2] + "/" + sum + ".zst" }

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
// bytes must hash to it. The bytes are compressed to a temporary file in
// tmpDir ("" : the system's), never held in memory.
func (l *Lake) PutRaw(ctx context.Context, r io.Reader, want, tmpDir string) (sum string, stored bool, err error) {
	if want != "" {
		if ok, err := l.HasRaw(ctx, want); err != nil || ok {
			return want, false, err
		}
	}
	tmp, err := os.CreateTemp(tmpDir, ".swelake-raw-*")
	if err != nil {
		return "", false, fmt.Errorf("store raw source: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	if _, err := writeSeekable(ctx, tmp, io.TeeReader(r, h)); err != nil {
		return "", false, fmt.Errorf("store raw source: %w", err)
	}
	sum = hex.EncodeToString(h.Sum(nil))
	if want != "" && sum != want {
		return "", false, fmt.Errorf("store raw source: %w: the bytes hash to %s, not %s (the file changed while it was read?)", ErrChecksum, sum, want)
	}
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

// writeSeekable compresses r into w as independent frames of rawFrameSize
// bytes followed by the seek table, and returns the bytes read.
func writeSeekable(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true))
	if err != nil {
		return 0, err
	}
	defer enc.Close()
	buf := make([]byte, rawFrameSize)
	var out []byte
	var table []byte
	var total int64
	frames := uint32(0)
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			out = enc.EncodeAll(buf[:n], out[:0])
			if _, err := w.Write(out); err != nil {
				return total, err
			}
			table = binary.LittleEndian.AppendUint32(table, uint32(len(out)))
			table = binary.LittleEndian.AppendUint32(table, uint32(n))
			frames++
			total += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return total, rerr
		}
	}
	var st []byte
	st = binary.LittleEndian.AppendUint32(st, skippableMagic)
	st = binary.LittleEndian.AppendUint32(st, uint32(len(table)+seekFooterSize))
	st = append(st, table...)
	st = binary.LittleEndian.AppendUint32(st, frames)
	st = append(st, 0) // descriptor: no checksums
	st = binary.LittleEndian.AppendUint32(st, seekableMagic)
	_, err = w.Write(st)
	return total, err
}

// seekFrame is one frame of a seekable object: where it starts
// (compressed and uncompressed) and its sizes.
type seekFrame struct {
	cOff, dOff int64
	cLen, dLen int64
}

// readSeekTable reads the seek table of a seekable object of size bytes.
func readSeekTable(f io.ReaderAt, size int64) ([]seekFrame, error) {
	if size < seekFooterSize+8 {
		return nil, errors.New("too short for a seekable zstd object")
	}
	var foot [seekFooterSize]byte
	if _, err := f.ReadAt(foot[:], size-seekFooterSize); err != nil {
		return nil, err
	}
	if binary.LittleEndian.Uint32(foot[5:]) != seekableMagic {
		return nil, errors.New("no seek table (not a seekable zstd object)")
	}
	n := int64(binary.LittleEndian.Uint32(foot[:4]))
	tableSize := n*8 + seekFooterSize
	if n > size/8 || tableSize+8 > size {
		return nil, fmt.Errorf("seek table of %d frames does not fit in %d bytes", n, size)
	}
	table := make([]byte, n*8)
	if _, err := f.ReadAt(table, size-tableSize); err != nil {
		return nil, err
	}
	frames := make([]seekFrame, n)
	var c, d int64
	for i := range frames {
		cl, dl := int64(binary.LittleEndian.Uint32(table[8*i:])), int64(binary.LittleEndian.Uint32(table[8*i+4:]))
		frames[i] = seekFrame{cOff: c, dOff: d, cLen: cl, dLen: dl}
		c, d = c+cl, d+dl
	}
	if c != size-tableSize-8 {
		return nil, fmt.Errorf("seek table covers %d compressed bytes, the object has %d", c, size-tableSize-8)
	}
	return frames, nil
}

// readRange decompresses length bytes at offset of a seekable object.
func readRange(f io.ReaderAt, size, offset, length int64) ([]byte, error) {
	frames, err := readSeekTable(f, size)
	if err != nil {
		return nil, err
	}
	var total int64
	if len(frames) > 0 {
		last := frames[len(frames)-1]
		total = last.dOff + last.dLen
	}
	if offset < 0 || length < 0 || offset+length > total {
		return nil, fmt.Errorf("range %d+%d is outside the source's %d bytes", offset, length, total)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(4*rawFrameSize))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	out := make([]byte, 0, length)
	for _, fr := range frames {
		if fr.dOff+fr.dLen <= offset || fr.dOff >= offset+length {
			continue
		}
		comp := make([]byte, fr.cLen)
		if _, err := f.ReadAt(comp, fr.cOff); err != nil {
			return nil, err
		}
		plain, err := dec.DecodeAll(comp, nil)
		if err != nil || int64(len(plain)) != fr.dLen {
			return nil, fmt.Errorf("frame at %d: %v (%d bytes, table says %d)", fr.cOff, err, len(plain), fr.dLen)
		}
		lo, hi := max(offset-fr.dOff, 0), min(offset+length-fr.dOff, fr.dLen)
		out = append(out, plain[lo:hi]...)
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
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b, err := readRange(f, st.Size(), offset, length)
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
	dst := filepath.Join(l.files.Dir, "raw", sum[:2], sum+".zst")
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".fetch-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	rc, err := l.bucket.Get(ctx, RawKey(sum))
	if errors.Is(err, objstore.ErrNotExist) {
		return "", fmt.Errorf("raw source %.12s: %w", sum, ErrNoRaw)
	}
	if err != nil {
		return "", err
	}
	defer rc.Close()
	if _, err := io.Copy(tmp, rc); err != nil {
		return "", fmt.Errorf("fetch raw source %.12s: %w", sum, err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	if reason, err := rawProblem(tmp, sum); err != nil || reason != "" {
		return "", fmt.Errorf("fetch raw source %.12s: %w: %s%v", sum, ErrChecksum, reason, err)
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return dst, os.Rename(tmp.Name(), dst)
}

// rawProblem decompresses a raw source whole and compares its sha256 with
// sum; it returns what is wrong ("" : nothing).
func rawProblem(r io.Reader, sum string) (string, error) {
	dec, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64*rawFrameSize))
	if err != nil {
		return "", err
	}
	defer dec.Close()
	h := sha256.New()
	if _, err := io.Copy(h, dec); err != nil {
		return "not a readable zstd stream: " + err.Error(), nil
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
