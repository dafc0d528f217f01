// Package tokcache keeps the token ids of rendered texts on local disk, keyed
// by the sha256 of the tokenizer's identity and the text, so that a text is
// tokenised once whichever job needs it first: curate counting tokens,
// build-sft, build-rl, a rebuild with another split or export.
//
// A cache directory holds one directory per tokenizer identity and, in it,
// sealed segment files written by one job each:
//
//	records:  key [32]byte | uvarint len | len bytes of uvarint ids | crc32c(payload) [4]byte
//	index:    count × (key [32]byte | uvarint offset | uvarint len)
//	footer:   index offset u64 | count u32 | crc32c(index) u32 | "SWTKSEG1"
//
// A segment becomes visible only when sealed (written, synced, renamed from
// its .tmp name), so concurrent jobs on one machine never see each other's
// half-written files; a payload whose checksum fails is a miss (re-encoded
// and counted in Stats.Corrupt), never wrong ids.
package tokcache

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/swelake/swelake/trainer/tokenizer"
)

// Tokenizer is what the cache wraps: *tokenizer.Tokenizer.
type Tokenizer interface {
	Encode(text string) []int32
	AppendBytes(dst []byte, ids []int32) []byte
	Identity() string
	Config() tokenizer.Config
}

// Stats counts lookups since Open.
type Stats struct {
	Hits    int64 `json:"hits"`
	Misses  int64 `json:"misses"`
	Corrupt int64 `json:"corrupt"` // entries whose checksum failed (re-encoded)
	Entries int64 `json:"entries"` // texts the cache held when opened
}

const (
	footerMagic = "SWTKSEG1"
	footerSize  = 8 + 4 + 4 + len(footerMagic)
	segSuffix   = ".seg"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type loc struct {
	seg int32
	off int64
	n   int32
}

// Cache is safe for concurrent use.
type Cache struct {
	tok Tokenizer
	dir string // "" : pass-through, nothing stored

	mu    sync.RWMutex
	index map[[32]byte]loc
	segs  []*os.File // sealed segments, then the one being written (last)
	wseg  int32      // index in segs of the segment being written, or -1

	wmu   sync.Mutex
	w     *bufio.Writer
	wf    *os.File
	wpath string
	woff  int64
	wkeys [][32]byte
	wlocs []loc

	hits, misses, corrupt atomic.Int64
	entries               int64
}

// Open opens (creating it) the cache for tok under dir. An empty dir gives
// a cache that stores nothing: every lookup encodes.
func Open(dir string, tok Tokenizer) (*Cache, error) {
	c := &Cache{tok: tok, index: map[[32]byte]loc{}, wseg: -1}
	if dir == "" {
		return c, nil
	}
	id := sha256.Sum256([]byte(tok.Identity()))
	c.dir = filepath.Join(dir, "tokens", hex.EncodeToString(id[:8]))
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, fmt.Errorf("token cache %s: %w", c.dir, err)
	}
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return nil, fmt.Errorf("token cache %s: %w", c.dir, err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), segSuffix) {
			continue // .tmp: a segment some job never sealed
		}
		path := filepath.Join(c.dir, e.Name())
		if err := c.load(path); err != nil {
			// A damaged segment costs its entries, not the job.
			continue
		}
	}
	c.entries = int64(len(c.index))
	return c, nil
}

// load adds a sealed segment's index.
func (c *Cache) load(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil || st.Size() < int64(footerSize) {
		f.Close()
		return fmt.Errorf("token cache segment %s: too short", path)
	}
	var foot [footerSize]byte
	if _, err := f.ReadAt(foot[:], st.Size()-int64(footerSize)); err != nil {
		f.Close()
		return err
	}
	if string(foot[16:]) != footerMagic {
		f.Close()
		return fmt.Errorf("token cache segment %s: no footer", path)
	}
	ioff := int64(binary.LittleEndian.Uint64(foot[0:8]))
	count := binary.LittleEndian.Uint32(foot[8:12])
	sum := binary.LittleEndian.Uint32(foot[12:16])
	if ioff < 0 || ioff > st.Size()-int64(footerSize) {
		f.Close()
		return fmt.Errorf("token cache segment %s: bad index offset", path)
	}
	idx := make([]byte, st.Size()-int64(footerSize)-ioff)
	if _, err := f.ReadAt(idx, ioff); err != nil {
		f.Close()
		return err
	}
	if crc32.Checksum(idx, castagnoli) != sum {
		f.Close()
		return fmt.Errorf("token cache segment %s: index checksum", path)
	}
	seg := int32(len(c.segs))
	for range count {
		if len(idx) < 32 {
			f.Close()
			return fmt.Errorf("token cache segment %s: truncated index", path)
		}
		var k [32]byte
		copy(k[:], idx)
		idx = idx[32:]
		off, n1 := binary.Uvarint(idx)
		if n1 <= 0 {
			f.Close()
			return fmt.Errorf("token cache segment %s: bad index entry", path)
		}
		ln, n2 := binary.Uvarint(idx[n1:])
		if n2 <= 0 || off+ln > uint64(ioff) {
			f.Close()
			return fmt.Errorf("token cache segment %s: bad index entry", path)
		}
		idx = idx[n1+n2:]
		c.index[k] = loc{seg: seg, off: int64(off), n: int32(ln)}
	}
	c.segs = append(c.segs, f)
	return nil
}

// Key is the cache key of a text under a tokenizer identity.
func Key(identity, text string) [32]byte {
	h := sha256.New()
	io.WriteString(h, identity)
	h.Write([]byte{0})
	io.WriteString(h, text)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// Encode returns text's ids: from the cache, or encoded and stored.
func (c *Cache) Encode(text string) []int32 {
	if c.dir == "" {
		c.misses.Add(1)
		return c.tok.Encode(text)
	}
	k := Key(c.tok.Identity(), text)
	c.mu.RLock()
	l, ok := c.index[k]
	c.mu.RUnlock()
	if ok {
		if ids, err := c.read(l); err == nil {
			c.hits.Add(1)
			return ids
		}
		c.corrupt.Add(1)
	}
	c.misses.Add(1)
	ids := c.tok.Encode(text)
	c.store(k, ids) // best effort: a cache that cannot write still encodes
	return ids
}

// AppendBytes is the tokenizer's.
func (c *Cache) AppendBytes(dst []byte, ids []int32) []byte { return c.tok.AppendBytes(dst, ids) }

// Config is the tokenizer's.
func (c *Cache) Config() tokenizer.Config { return c.tok.Config() }

// Identity is the tokenizer's.
func (c *Cache) Identity() string { return c.tok.Identity() }

// Stats returns the counts so far.
func (c *Cache) Stats() Stats {
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Corrupt: c.corrupt.Load(), Entries: c.entries}
}

func (c *Cache) read(l loc) ([]int32, error) {
	c.mu.RLock()
	f := c.segs[l.seg]
	writing := l.seg == c.wseg
	c.mu.RUnlock()
	if writing { // written this run: make the buffered bytes readable
		c.wmu.Lock()
		err := c.w.Flush()
		c.wmu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	buf := make([]byte, int(l.n)+4)
	if _, err := f.ReadAt(buf, l.off); err != nil {
		return nil, err
	}
	payload, sum := buf[:l.n], binary.LittleEndian.Uint32(buf[l.n:])
	if crc32.Checksum(payload, castagnoli) != sum {
		return nil, errors.New("checksum")
	}
	ids := make([]int32, 0, len(payload)/2)
	for len(payload) > 0 {
		v, n := binary.Uvarint(payload)
		if n <= 0 || v > 1<<31-1 {
			return nil, errors.New("bad id")
		}
		ids = append(ids, int32(v))
		payload = payload[n:]
	}
	return ids, nil
}

func (c *Cache) store(k [32]byte, ids []int32) {
	payload := make([]byte, 0, len(ids)*3)
	for _, id := range ids {
		payload = binary.AppendUvarint(payload, uint64(uint32(id)))
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wf == nil {
		if err := c.startSegment(); err != nil {
			return
		}
	}
	var hdr [32 + binary.MaxVarintLen64]byte
	copy(hdr[:], k[:])
	n := 32 + binary.PutUvarint(hdr[32:], uint64(len(payload)))
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], crc32.Checksum(payload, castagnoli))
	for _, b := range [][]byte{hdr[:n], payload, sum[:]} {
		if _, err := c.w.Write(b); err != nil {
			c.abandon()
			return
		}
	}
	l := loc{seg: int32(len(c.segs) - 1), off: c.woff + int64(n), n: int32(len(payload))}
	c.woff += int64(n + len(payload) + 4)
	c.wkeys, c.wlocs = append(c.wkeys, k), append(c.wlocs, l)
	c.mu.Lock()
	c.index[k] = l
	c.mu.Unlock()
}

func (c *Cache) startSegment() error {
	var r [8]byte
	rand.Read(r[:])
	c.wpath = filepath.Join(c.dir, hex.EncodeToString(r[:])+segSuffix)
	f, err := os.OpenFile(c.wpath+".tmp", os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	c.wf, c.w, c.woff = f, bufio.NewWriterSize(f, 1<<20), 0
	c.mu.Lock()
	c.wseg = int32(len(c.segs))
	c.segs = append(c.segs, f)
	c.mu.Unlock()
	return nil
}

// abandon drops the segment being written (its entries stop being hits).
func (c *Cache) abandon() {
	c.mu.Lock()
	for _, k := range c.wkeys {
		delete(c.index, k)
	}
	c.wseg = -1
	c.mu.Unlock()
	name := c.wf.Name()
	c.wf.Close()
	os.Remove(name)
	c.wf, c.w, c.wkeys, c.wlocs = nil, nil, nil, nil
}

// Finish returns the counts and closes the cache; a cache that could not be
// sealed is logged, not an error: the job's output does not depend on it.
func (c *Cache) Finish(logger *slog.Logger) Stats {
	st := c.Stats()
	if err := c.Close(); err != nil && logger != nil {
		logger.Warn("token cache not saved", "err", err)
	}
	return st
}

// Close seals what this run wrote, making it visible to later runs, and
// releases the files. Texts stay cached only if Close succeeds.
func (c *Cache) Close() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var err error
	if c.wf != nil {
		err = c.seal()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, f := range c.segs {
		if int32(i) != c.wseg {
			f.Close() // the one being written was closed by seal
		}
	}
	c.segs, c.index, c.wf, c.w, c.wseg = nil, map[[32]byte]loc{}, nil, nil, -1
	return err
}

func (c *Cache) seal() error {
	order := make([]int, len(c.wkeys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return slices.Compare(c.wkeys[a][:], c.wkeys[b][:]) })
	var idx []byte
	for _, i := range order {
		idx = append(idx, c.wkeys[i][:]...)
		idx = binary.AppendUvarint(idx, uint64(c.wlocs[i].off))
		idx = binary.AppendUvarint(idx, uint64(c.wlocs[i].n))
	}
	var foot [footerSize]byte
	binary.LittleEndian.PutUint64(foot[0:8], uint64(c.woff))
	binary.LittleEndian.PutUint32(foot[8:12], uint32(len(order)))
	binary.LittleEndian.PutUint32(foot[12:16], crc32.Checksum(idx, castagnoli))
	copy(foot[16:], footerMagic)
	fail := func(err error) error {
		name := c.wf.Name()
		c.wf.Close()
		os.Remove(name)
		return fmt.Errorf("token cache: seal %s: %w", c.wpath, err)
	}
	if _, err := c.w.Write(idx); err != nil {
		return fail(err)
	}
	if _, err := c.w.Write(foot[:]); err != nil {
		return fail(err)
	}
	if err := c.w.Flush(); err != nil {
		return fail(err)
	}
	if err := c.wf.Sync(); err != nil {
		return fail(err)
	}
	if err := c.wf.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(c.wpath+".tmp", c.wpath); err != nil {
		os.Remove(c.wpath + ".tmp")
		return fmt.Errorf("token cache: seal %s: %w", c.wpath, err)
	}
	return nil
}
