package ingest

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Decompress reads r as the file name says: gunzipped for .gz, zstd-decoded
// for .zst, as is otherwise. Close releases the decompressor, not r.
func Decompress(name string, r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	switch {
	case strings.HasSuffix(name, ".gz"):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: not gzip: %w", name, err)
		}
		return zr, nil
	case strings.HasSuffix(name, ".zst"):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: not zstd: %w", name, err)
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}
