package publish

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/swelake/swelake/lake"
)

// Step is one commit in a published snapshot's lineage.
type Step struct {
	Ref         string   `json:"ref"` // table@version
	Job         string   `json:"job"`
	RunKey      string   `json:"run_key,omitempty"`
	ConfigHash  string   `json:"config_hash,omitempty"`
	Inputs      []string `json:"inputs,omitempty"`
	CodeVersion string   `json:"code_version,omitempty"`
	Time        string   `json:"time"`
}

// maxLineage bounds the commits a lineage walks.
const maxLineage = 64

// Lineage walks a snapshot's inputs back through the commit log: the commit
// that made table@version, the commits of the snapshots its job read, and
// so on (breadth first, each snapshot once). Inputs that are not lake
// snapshots (files, repositories) end the walk there.
func Lineage(ctx context.Context, l *lake.Lake, start string) ([]Step, error) {
	var out []Step
	seen := map[string]bool{start: true}
	queue := []string{start}
	for len(queue) > 0 && len(out) < maxLineage {
		r := queue[0]
		queue = queue[1:]
		ref, err := lake.ParseRef(r)
		if err != nil || ref.Version == lake.Latest {
			continue // not a pinned snapshot (a file, a directory)
		}
		t, err := l.Table(ref.Table)
		if err != nil {
			continue
		}
		log, err := t.Log(ctx, ref.Version, ref.Version)
		if err != nil || len(log) == 0 {
			return nil, fmt.Errorf("lineage of %s: %w", start, err)
		}
		c := log[0]
		p := c.Provenance
		out = append(out, Step{Ref: r, Job: p.Job, RunKey: p.RunKey, ConfigHash: p.ConfigHash, Inputs: p.Inputs, CodeVersion: p.CodeVersion,
			Time: p.Time.UTC().Format("2006-01-02T15:04:05Z")})
		for _, in := range p.Inputs {
			if !seen[in] {
				seen[in] = true
				queue = append(queue, in)
			}
		}
	}
	return out, nil
}

// datasetCard renders README.md: YAML front matter with configs and
// dataset_info (features from the shards' Parquet schema), then the
// source and its lineage. It holds nothing that varies between two
// publications of one snapshot.
func datasetCard(m Manifest, lineage []Step, schema *parquet.Schema) ([]byte, error) {
	var b strings.Builder
	b.WriteString("---\nconfigs:\n- config_name: default\n  data_files:\n")
	splits := slices.Sorted(maps.Keys(m.Splits))
	for _, s := range splits {
		fmt.Fprintf(&b, "  - split: %s\n    path: data/%s-*\n", s, s)
	}
	b.WriteString("dataset_info:\n  features:\n")
	for _, field := range schema.Fields() {
		writeFeature(&b, field, "  ")
	}
	// num_bytes and dataset_size are, for Hugging Face, the size of the
	// data in Arrow memory, which only loading it tells: they are left out
	// (0, unknown, to the datasets library) rather than given the files'
	// size. download_size is the files' size, as HF defines it.
	b.WriteString("  splits:\n")
	var size int64
	for _, s := range splits {
		for _, file := range m.Files {
			if file.Split == s {
				size += file.Bytes
			}
		}
		fmt.Fprintf(&b, "  - name: %s\n    num_examples: %d\n", s, m.Splits[s])
	}
	fmt.Fprintf(&b, "  download_size: %d\n", size)
	b.WriteString("tags:\n- swelake\n- software-engineering-agents\n---\n\n")
	fmt.Fprintf(&b, "# %s\n\n", m.Name)
	subset := ""
	if m.LatestRun {
		subset = ", the rows of its latest run"
	}
	if m.Where != "" {
		subset += fmt.Sprintf(", the rows where `%s`", m.Where)
	}
	fmt.Fprintf(&b, "Published by swelake from the lake snapshot `%s`%s (%s). Rows are in key order (%s).\n\n", m.Source, subset, m.Version, strings.Join(m.Key, ", "))
	b.WriteString("| split | rows | files |\n|---|---|---|\n")
	for _, s := range splits {
		n := 0
		for _, file := range m.Files {
			if file.Split == s {
				n++
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %d |\n", s, m.Splits[s], n)
	}
	b.WriteString("\n```python\nfrom datasets import load_dataset\nds = load_dataset(\"parquet\", data_files={")
	for i, s := range splits {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q: \"data/%s-*.parquet\"", s, s)
	}
	b.WriteString("})\n```\n\n## Lineage\n\nThe commits this snapshot came from, newest first: the job, its run key and config hash, and the snapshots it read.\n\n")
	b.WriteString("| snapshot | job | run key | config hash | inputs | code version | time |\n|---|---|---|---|---|---|---|\n")
	for _, s := range lineage {
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | `%s` | %s | %s | %s |\n", s.Ref, s.Job, s.RunKey, short(s.ConfigHash), strings.Join(s.Inputs, ", "), s.CodeVersion, s.Time)
	}
	b.WriteString("\nEvery file's sha256 is in `MANIFEST.json`, written last: a publication without it is incomplete.\n")
	return []byte(b.String()), nil
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

// writeFeature renders one Parquet field as a Hugging Face feature.
func writeFeature(b *strings.Builder, f parquet.Field, indent string) {
	fmt.Fprintf(b, "%s- name: %s\n", indent, f.Name())
	writeType(b, f, indent+"  ")
}

func writeType(b *strings.Builder, n parquet.Node, indent string) {
	if elem, ok := listElement(n); ok {
		if elem.Leaf() {
			fmt.Fprintf(b, "%ssequence: %s\n", indent, dtype(elem))
			return
		}
		if _, nested := listElement(elem); nested {
			fmt.Fprintf(b, "%ssequence:\n", indent)
			writeType(b, elem, indent+"  ")
			return
		}
		fmt.Fprintf(b, "%slist:\n", indent)
		for _, sub := range elem.Fields() {
			writeFeature(b, sub, indent)
		}
		return
	}
	if n.Leaf() {
		fmt.Fprintf(b, "%sdtype: %s\n", indent, dtype(n))
		return
	}
	fmt.Fprintf(b, "%sstruct:\n", indent)
	for _, sub := range n.Fields() {
		writeFeature(b, sub, indent)
	}
}

// listElement returns the element node of a LIST-annotated group.
func listElement(n parquet.Node) (parquet.Node, bool) {
	if n.Leaf() {
		return nil, false
	}
	if lt := n.Type().LogicalType(); lt == nil {
		return nil, false
	} else if _, ok := lt.Value.(*format.ListType); !ok {
		return nil, false
	}
	fields := n.Fields()
	if len(fields) != 1 {
		return nil, false
	}
	inner := fields[0]
	if !inner.Leaf() && len(inner.Fields()) == 1 {
		return inner.Fields()[0], true
	}
	return inner, true
}

// dtype maps a Parquet leaf to a Hugging Face (Arrow) dtype.
func dtype(n parquet.Node) string {
	t := n.Type()
	if lt := t.LogicalType(); lt != nil {
		switch v := lt.Value.(type) {
		case *format.StringType, *format.JsonType, *format.EnumType:
			return "string"
		case *format.TimestampType:
			// Arrow's spelling, as Hugging Face features write it: the
			// unit, and the time zone when the values are instants (UTC).
			unit := "us"
			switch v.Unit.Value.(type) {
			case *format.MilliSeconds:
				unit = "ms"
			case *format.NanoSeconds:
				unit = "ns"
			}
			if v.IsAdjustedToUTC {
				return "timestamp[" + unit + ", tz=UTC]"
			}
			return "timestamp[" + unit + "]"
		case *format.DateType:
			return "date32"
		case *format.IntType:
			sign := "int"
			if !v.IsSigned {
				sign = "uint"
			}
			return fmt.Sprintf("%s%d", sign, v.BitWidth)
		}
	}
	switch t.Kind() {
	case parquet.Boolean:
		return "bool"
	case parquet.Int32:
		return "int32"
	case parquet.Int64:
		return "int64"
	case parquet.Float:
		return "float32"
	case parquet.Double:
		return "float64"
	}
	return "binary"
}
