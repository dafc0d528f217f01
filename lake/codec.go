package lake

import (
	"slices"

	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/snappy"
	"github.com/parquet-go/parquet-go/format"
)

// fastSnappy is the SNAPPY codec with s2's fastest Snappy-compatible
// encoder. parquet-go's own codec encodes with s2's "better" mode, which
// on trajectory text costs 1.4–2× the CPU for a page about 10% smaller;
// SNAPPY columns hold lossless copies (raw source rows) that are written
// on every ingest and rarely read, so the lake trades those few percent
// for ingest speed. The output is plain Snappy: every reader decodes it.
type fastSnappy struct{ snappy.Codec }

func (*fastSnappy) Encode(dst, src []byte) ([]byte, error) {
	if n := s2.MaxEncodedLen(len(src)); cap(dst) < n {
		dst = make([]byte, n)
	}
	return s2.EncodeSnappy(dst[:cap(dst)], src), nil
}

// parquetSchema is the Parquet schema of rows of type T, as parquet-go
// derives it from the struct tags, with every SNAPPY column written by
// fastSnappy.
func parquetSchema[T any]() *parquet.Schema {
	root := parquet.SchemaOf(new(T))
	if n, ok := withFastSnappy(root); ok {
		return parquet.NewSchema(root.Name(), n)
	}
	return root
}

// withFastSnappy returns node with its SNAPPY leaves compressed by
// fastSnappy, and whether it has any; field order, names and types are
// kept.
func withFastSnappy(node parquet.Node) (parquet.Node, bool) {
	if node.Leaf() {
		if c := node.Compression(); c != nil && c.CompressionCodec() == format.Snappy {
			return parquet.Compressed(node, &fastSnappy{}), true
		}
		return node, false
	}
	fields := slices.Clone(node.Fields())
	changed := false
	for i, f := range fields {
		if n, ok := withFastSnappy(f); ok {
			fields[i], changed = codecField{Field: f, node: n}, true
		}
	}
	if !changed {
		return node, false
	}
	return groupWithFields{Node: node, fields: fields}, true
}

// codecField is a field whose node was rewritten by withFastSnappy.
type codecField struct {
	parquet.Field
	node parquet.Node
}

func (f codecField) Compression() compress.Codec { return f.node.Compression() }
func (f codecField) Fields() []parquet.Field     { return f.node.Fields() }

// groupWithFields is a group node with some fields rewritten.
type groupWithFields struct {
	parquet.Node
	fields []parquet.Field
}

func (g groupWithFields) Fields() []parquet.Field { return g.fields }
