package lake

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

type snappyRow struct {
	ID    string   `parquet:"id"`
	Items []item   `parquet:"items,list"`
	Blob  []byte   `parquet:"blob,snappy"`
	Tags  []string `parquet:"tags,list"`
}

type item struct {
	Name string `parquet:"name"`
	Body []byte `parquet:"body,snappy"`
}

// TestFastSnappySchema: the lake's schema for a row type is parquet-go's,
// column for column, except that SNAPPY columns (nested ones too) encode
// with s2's fast encoder; the files say SNAPPY and read back unchanged.
func TestFastSnappySchema(t *testing.T) {
	want := parquet.SchemaOf(new(snappyRow))
	got := parquetSchema[snappyRow]()
	if got.String() != want.String() || !parquet.EqualNodes(got, want) {
		t.Fatalf("schema changed:\n%s\nwant\n%s", got, want)
	}
	codecs := map[string]string{}
	for _, path := range got.Columns() {
		leaf, _ := got.Lookup(path...)
		codecs[strings.Join(path, ".")] = fmt.Sprint(leaf.Node.Compression())
		_, fast := leaf.Node.Compression().(*fastSnappy)
		if wantFast := path[len(path)-1] == "blob" || path[len(path)-1] == "body"; fast != wantFast {
			t.Errorf("column %s: codec %T, want fast snappy %v", strings.Join(path, "."), leaf.Node.Compression(), wantFast)
		}
	}

	rows := make([]snappyRow, 300)
	for i := range rows {
		text := bytes.Repeat([]byte("Traceback (most recent call last): File \"x.py\", line 3\n"), 20+i%5)
		rows[i] = snappyRow{ID: strings.Repeat("i", i%9), Items: []item{{Name: "a", Body: text[:i]}, {Name: "b"}}, Blob: text, Tags: []string{"t"}}
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[snappyRow](&buf, parquetOptions[snappyRow](Schema{Name: "t", Version: 1}, WriteOptions{})...)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for _, rg := range f.Metadata().RowGroups {
		for _, c := range rg.Columns {
			name := strings.Join(c.MetaData.PathInSchema, ".")
			wantCodec := format.Zstd
			if strings.HasSuffix(name, "blob") || strings.HasSuffix(name, "body") {
				wantCodec = format.Snappy
				if c.MetaData.TotalCompressedSize*3 > c.MetaData.TotalUncompressedSize {
					t.Errorf("%s: %d bytes compressed of %d: fast snappy did not compress", name, c.MetaData.TotalCompressedSize, c.MetaData.TotalUncompressedSize)
				}
			}
			if c.MetaData.Codec != wantCodec {
				t.Errorf("%s written with %v, want %v (codecs %v)", name, c.MetaData.Codec, wantCodec, codecs)
			}
		}
	}
	back, err := parquet.Read[snappyRow](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if !bytes.Equal(back[i].Blob, rows[i].Blob) || !bytes.Equal(back[i].Items[0].Body, rows[i].Items[0].Body) || back[i].ID != rows[i].ID {
			t.Fatalf("row %d read back differently", i)
		}
	}
}
