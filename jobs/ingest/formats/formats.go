// Package formats decodes the public SWE data formats — task sets,
// trajectories, grading reports — into swelake rows. It is pure: it turns
// records (bytes with their location) into rows or an error, and does no I/O.
// Reading files, splitting them into records, quarantine and commits are the
// ingest job's (jobs/ingest).
package formats

import (
	"bytes"
	"fmt"
	json "github.com/goccy/go-json"
	"path/filepath"
	"slices"
	"strings"

	"github.com/swelake/swelake/schemas"
)

// Kind is the table a format feeds.
type Kind string

const (
	Tasks    Kind = "tasks"
	Rollouts Kind = "rollouts"
	Reports  Kind = "reports" // rows go to the evaluations table
)

// Unit is how a file of the format splits into records.
type Unit int

const (
	// UnitRows: one record per row — a JSONL line, an element of a top-level
	// JSON array, a Parquet row, or each of several concatenated JSON values.
	UnitRows Unit = iota
	// UnitFile: the whole file is one record (.traj, report.json, logs).
	UnitFile
	// UnitDir: a directory of files is one record (OpenHands llm_completions/<id>/).
	UnitDir
)

// Record is one unit of input, with where it came from.
type Record struct {
	File   string
	Line   int64  // 1-based line of a JSONL record; 0 otherwise
	Offset int64  // byte offset in the (decompressed) file; -1 if unknown
	Data   []byte // a JSON value, or a file's bytes
	// Group holds a UnitDir record's files, in order.
	Group []Record
}

// Options are the caller's overrides and defaults.
type Options struct {
	RunID      string // rollouts and reports: the run; default derived from the input
	Policy     string // rollouts: the model; default from the input when it says
	TaskSource string // rollouts and reports: namespace of task ids; default guessed from the instance id
	Source     string // tasks: override of the format's source namespace
}

// Rows is what one record decodes to.
type Rows struct {
	Tasks       []schemas.Task
	Rollouts    []schemas.Rollout
	Evaluations []schemas.Evaluation
	// Repaired: some text had invalid UTF-8, replaced with U+FFFD (the raw
	// column keeps the original bytes).
	Repaired bool
}

// Len is the number of rows.
func (r Rows) Len() int { return len(r.Tasks) + len(r.Rollouts) + len(r.Evaluations) }

// Probe is what detection looks at: a file's name and its first record.
type Probe struct {
	Name  string // the file (or directory) name
	First []byte // the first record: a JSON value, or the start of a text file
	obj   object // First parsed as an object, if it is one
	arr   []json.RawMessage
}

// NewProbe parses the first record for detection.
func NewProbe(name string, first []byte) *Probe {
	p := &Probe{Name: name, First: first}
	t := bytes.TrimSpace(first)
	if len(t) > 0 && t[0] == '{' {
		p.obj, _ = parseObject(t)
	}
	if len(t) > 0 && t[0] == '[' {
		json.Unmarshal(t, &p.arr)
	}
	return p
}

// Format is one supported input format.
type Format struct {
	Name    string
	Kind    Kind
	Unit    Unit
	Doc     string // what it is, for --help and docs/formats.md
	Example string // a copy-paste command
	detect  func(p *Probe) bool
	// shape says whether a whole-file report has this format's layout, for
	// formats that are not auto-detected (others use detect).
	shape  func(p *Probe) bool
	decode func(r *Record, o Options) (Rows, error)
}

// Decode turns one record into rows. A record it cannot read is an error
// saying why (the job quarantines it). A whole-file report of another
// format's layout is refused, naming the file and what it looks like,
// whether the format was detected or named with --format: read as this
// format it would make up rows.
func (f *Format) Decode(r *Record, o Options) (Rows, error) {
	if f.Kind == Reports && f.Unit == UnitFile && r.Data != nil {
		if err := f.checkShape(r); err != nil {
			return Rows{}, err
		}
	}
	return f.decode(r, o)
}

func (f *Format) checkShape(r *Record) error {
	p := NewProbe(filepath.Base(r.File), r.Data)
	check := f.shape
	if check == nil {
		check = f.detect
	}
	if check == nil || check(p) {
		return nil
	}
	var like []string
	for _, g := range All() {
		if g != f && g.Kind == f.Kind && g.Detect(p) {
			like = append(like, g.Name)
		}
	}
	if len(like) > 0 {
		return fmt.Errorf("%s is not a %s file: it has the layout of %s (--format %s)", r.File, f.Name, strings.Join(like, " or "), like[0])
	}
	return fmt.Errorf("%s is not a %s file (%s)", r.File, f.Name, f.Doc)
}

// Detect reports whether the probe looks like this format.
func (f *Format) Detect(p *Probe) bool { return f.detect != nil && f.detect(p) }

// HasDetector reports whether auto-detection can recognise the format (some
// layouts are indistinguishable from another format's and must be named).
func (f *Format) HasDetector() bool { return f.detect != nil }

// All lists every format, tasks first.
func All() []*Format {
	return slices.Concat(taskFormats(), rolloutFormats(), reportFormats())
}

// Lookup finds a format of kind by name.
func Lookup(kind Kind, name string) (*Format, error) {
	var names []string
	for _, f := range All() {
		if f.Kind != kind {
			continue
		}
		if f.Name == name {
			return f, nil
		}
		names = append(names, f.Name)
	}
	return nil, fmt.Errorf("unknown %s format %q (known: %s, or auto)", kind, name, strings.Join(names, ", "))
}

// Detect picks the format of kind that the probe matches. No match, or more
// than one, is an error naming the candidates.
func Detect(kind Kind, p *Probe) (*Format, error) {
	var matched, all []string
	var found *Format
	for _, f := range All() {
		if f.Kind != kind {
			continue
		}
		all = append(all, f.Name)
		if f.Detect(p) {
			matched = append(matched, f.Name)
			found = f
		}
	}
	switch len(matched) {
	case 1:
		return found, nil
	case 0:
		return nil, fmt.Errorf("not a known %s format (candidates: %s); name one with --format", kind, strings.Join(all, ", "))
	}
	return nil, fmt.Errorf("ambiguous %s format, could be %s; name one with --format", kind, strings.Join(matched, " or "))
}

// baseName strips directories and the known suffixes of a file name.
func baseName(file string) string {
	b := filepath.Base(file)
	for _, suf := range []string{".gz", ".zst", ".jsonl", ".json", ".traj", ".log", ".report", ".parquet"} {
		b = strings.TrimSuffix(b, suf)
	}
	return b
}

// runIDFromPath: the directory that holds the file, as runs are laid out.
func runIDFromPath(file string) string {
	dir := filepath.Base(filepath.Dir(file))
	if dir == "." || dir == "/" {
		return "default"
	}
	return dir
}
