package exec

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

func frame(stream byte, payload string) []byte {
	h := make([]byte, 8, 8+len(payload))
	h[0] = stream
	binary.BigEndian.PutUint32(h[4:], uint32(len(payload)))
	return append(h, payload...)
}

func TestDockerDemux(t *testing.T) {
	var in bytes.Buffer
	in.Write(frame(1, "out-1\n"))
	in.Write(frame(2, "err-1\n"))
	in.Write(frame(1, strings.Repeat("x", 70000)))
	var out, errs bytes.Buffer
	if err := demux(&in, &out, &errs); err != nil {
		t.Fatal(err)
	}
	if out.String() != "out-1\n"+strings.Repeat("x", 70000) || errs.String() != "err-1\n" {
		t.Fatalf("stdout %d bytes, stderr %q", out.Len(), errs.String())
	}
	// A frame cut short is an error, not silently shorter output.
	cut := frame(1, "abcdef")[:10]
	if err := demux(bytes.NewReader(cut), &out, &errs); err == nil {
		t.Fatal("truncated frame accepted")
	}
}
