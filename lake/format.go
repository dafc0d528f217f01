package lake

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// FormatVersion is the newest version of the on-storage format this code
// reads and writes (docs/lake-format.md). Readers refuse entries with a
// higher version. Entries are written with the lowest version that can
// express them (baseFormat), so that older readers keep reading lakes that
// use no newer feature: format 2 added the migrate operation.
const FormatVersion = 2

// baseFormat is the version of every entry but a migration's.
const baseFormat = 1

// Operation is what a commit did.
type Operation string

const (
	OpCreate    Operation = "create"               // version 0: schema and partitioning
	OpAppend    Operation = "append"               // adds files
	OpOverwrite Operation = "overwrite-partitions" // replaces every file of some partitions
	OpDelete    Operation = "delete"               // removes every file of some partitions
	OpMigrate   Operation = "migrate"              // a new schema version: every file replaced (format 2)
)

// Partition is a set of partition column values, e.g. {"run_id": "r1"}.
type Partition map[string]string

// Path renders the partition as Hive-style directories in partitionBy order:
// "run_id=r1". Values are escaped so that any string is a valid key segment.
func (p Partition) Path(partitionBy []string) string {
	parts := make([]string, len(partitionBy))
	for i, col := range partitionBy {
		parts[i] = col + "=" + escapePartitionValue(p[col])
	}
	return strings.Join(parts, "/")
}

// String is the canonical form used to compare partitions: "k=v/k2=v2" in
// sorted column order.
func (p Partition) String() string {
	cols := make([]string, 0, len(p))
	for c := range p {
		cols = append(cols, c)
	}
	slices.Sort(cols)
	return p.Path(cols)
}

// EmptyPartitionValue stands for "" in a data file path (Hive's convention).
const EmptyPartitionValue = "__HIVE_DEFAULT_PARTITION__"

func escapePartitionValue(v string) string {
	if v == "" {
		return EmptyPartitionValue
	}
	safe := true
	for i := 0; i < len(v) && safe; i++ {
		c := v[i]
		safe = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~'
	}
	if safe { // the common case: nothing to escape, nothing to allocate
		return v
	}
	s := url.PathEscape(v)
	// PathEscape keeps these, but they are unsafe in object keys or Hive paths.
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '=', ':', '+', '&', '$':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// File is one data file of a table, as recorded in the log.
type File struct {
	Path      string    `json:"path"` // relative to the table directory: data/<partition>/part-<id>.parquet
	Partition Partition `json:"partition,omitempty"`
	Rows      int64     `json:"rows"`
	Bytes     int64     `json:"bytes"`
	SHA256    string    `json:"sha256"` // lowercase hex of the file's bytes
	// Raw are the raw sources its rows point at (sha256 of each; see raw.go).
	Raw []string `json:"raw,omitempty"`
}

// Schema identifies a table's schema.
type Schema struct {
	Name        string `json:"name"`        // e.g. "rollouts"
	Version     int    `json:"version"`     // bumped on every change of columns
	Fingerprint string `json:"fingerprint"` // sha256 of Parquet, below
	Parquet     string `json:"parquet"`     // the Parquet message type, as text
}

// Provenance says where a commit came from.
type Provenance struct {
	Job         string    `json:"job"`
	RunKey      string    `json:"run_key,omitempty"` // committing a run key twice is a no-op
	ConfigHash  string    `json:"config_hash,omitempty"`
	Inputs      []string  `json:"inputs,omitempty"` // pinned input snapshots: "table@version"
	CodeVersion string    `json:"code_version"`
	Author      string    `json:"author"`
	Time        time.Time `json:"time"`
	// Sandbox is where the job ran commands, for jobs that run them: e.g.
	// "local (bubblewrap)", or "local (UNISOLATED ...)" when it was allowed
	// to run without isolation.
	Sandbox string `json:"sandbox,omitempty"`
	// Endpoint is the model endpoint the job talked to, for jobs that talk
	// to one: its URL without credentials, query or fragment.
	Endpoint string `json:"endpoint,omitempty"`
}

// Summary counts what a commit changed and what the table holds after it.
type Summary struct {
	AddedFiles   int   `json:"added_files"`
	AddedRows    int64 `json:"added_rows"`
	AddedBytes   int64 `json:"added_bytes"`
	RemovedFiles int   `json:"removed_files"`
	RemovedRows  int64 `json:"removed_rows"`
	TotalFiles   int   `json:"total_files"`
	TotalRows    int64 `json:"total_rows"`
	TotalBytes   int64 `json:"total_bytes"`
}

// Commit is one log entry: tables/<table>/_log/<version %020d>.json.
type Commit struct {
	Format      int         `json:"format"`
	Table       string      `json:"table"`
	Version     int64       `json:"version"`
	Parent      int64       `json:"parent"` // -1 for version 0
	CommitID    string      `json:"commit_id"`
	Operation   Operation   `json:"operation"`
	Schema      *Schema     `json:"schema,omitempty"`       // on create
	PartitionBy []string    `json:"partition_by,omitempty"` // on create
	Partitions  []Partition `json:"partitions,omitempty"`   // overwrite and delete: the partitions replaced
	Added       []File      `json:"added,omitempty"`
	Removed     []File      `json:"removed,omitempty"`
	// SchemaFingerprint is the schema the added files were written with; it
	// must equal the table's.
	SchemaFingerprint string     `json:"schema_fingerprint,omitempty"`
	Provenance        Provenance `json:"provenance"`
	Summary           Summary    `json:"summary"`
}

// Ref names a table at a version: "rollouts@42", or "rollouts" for the latest.
type Ref struct {
	Table   string
	Version int64 // -1: latest
}

// Latest is the Version of a Ref that names no version.
const Latest int64 = -1

func (r Ref) String() string {
	if r.Version == Latest {
		return r.Table
	}
	return fmt.Sprintf("%s@%d", r.Table, r.Version)
}

// ParseRef parses "table" or "table@version".
func ParseRef(s string) (Ref, error) {
	name, v, ok := strings.Cut(s, "@")
	if err := ValidateTableName(name); err != nil {
		return Ref{}, fmt.Errorf("parse %q: %w", s, err)
	}
	if !ok {
		return Ref{Table: name, Version: Latest}, nil
	}
	var ver int64
	if _, err := fmt.Sscanf(v, "%d", &ver); err != nil || ver < 0 || fmt.Sprint(ver) != v {
		return Ref{}, fmt.Errorf("parse %q: version %q is not a non-negative integer", s, v)
	}
	return Ref{Table: name, Version: ver}, nil
}

// ValidateTableName accepts lower-case identifiers: [a-z][a-z0-9_]*.
func ValidateTableName(name string) error {
	if name == "" {
		return fmt.Errorf("empty table name")
	}
	for i, c := range name {
		if !(c >= 'a' && c <= 'z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return fmt.Errorf("table name %q: want [a-z][a-z0-9_]*", name)
		}
	}
	return nil
}

func logKey(table string, version int64) string {
	return fmt.Sprintf("tables/%s/_log/%020d.json", table, version)
}

func checkpointKey(table string) string { return "tables/" + table + "/_log/_checkpoint.json" }

// FileKey is the object key of a table's data file.
func FileKey(table, path string) string { return "tables/" + table + "/" + path }
