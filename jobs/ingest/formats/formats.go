// Package formats decodes the public SWE data formats — task sets,
// trajectories, grading reports — into swelake rows. It is pure: it turns
// records (bytes with their location) into rows or an error, and does no I/O.
// Reading files, splitting them into records, quarantine and commits are the
// ingest job's (jobs/ingest).
package formats

import (
	"bytes"
	"errors"
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
//
// Detection is declarative where it can be: sig lists the keys of a
// record's top-level object that identify the format (all must be present)
// and not the keys it never has; detect adds a condition on values, or
// recognises records that are not objects. Auto-detection scores every
// format against a file's first record (Detect); a forced --format is held
// to the same signature (Fits), so that neither way reads a file as a
// format it is not.
type Format struct {
	Name    string
	Kind    Kind
	Unit    Unit
	Doc     string // what it is, for --help and docs/formats.md
	Example string // a copy-paste command
	// Manual: never auto-detected (its records are indistinguishable from
	// another format's); its signature still checks a forced --format.
	Manual bool
	sig    []string
	not    []string
	detect func(p *Probe) bool
	// shape says whether a whole-file report has this format's layout, for
	// formats whose signature cannot say it (others use their signature).
	shape  func(p *Probe) bool
	decode func(r *Record, o Options) (Rows, error)
	// groupDir: the directory-unit record a file belongs to (default: its
	// directory); companions: files beside a record's files read with
	// them though they are not inputs of their own (SWE-bench Pro's
	// run_script.sh and parser.py).
	groupDir   func(file string) string
	companions []string
}

// GroupDir is the directory-unit record a file belongs to.
func (f *Format) GroupDir(file string) string {
	if f.groupDir != nil {
		return f.groupDir(file)
	}
	return filepath.Dir(file)
}

// Companions are the file names read with a directory-unit record when
// they are beside its files.
func (f *Format) Companions() []string { return f.companions }

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
	if f.Fits(p) {
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

// match is how one format scores against a probe.
type match struct {
	f    *Format
	full bool     // every signature key present, no excluded key, the value checks pass
	have []string // signature keys present
	lack []string // signature keys missing
	veto []string // excluded keys present
}

func (f *Format) match(p *Probe) match {
	m := match{f: f}
	for _, k := range f.sig {
		if p.obj != nil && p.obj.has(k) {
			m.have = append(m.have, k)
		} else {
			m.lack = append(m.lack, k)
		}
	}
	for _, k := range f.not {
		if p.obj != nil && p.obj.has(k) {
			m.veto = append(m.veto, k)
		}
	}
	m.full = len(m.lack) == 0 && len(m.veto) == 0 && (len(f.sig) > 0 || f.detect != nil)
	if m.full && f.detect != nil {
		m.full = f.detect(p)
	}
	return m
}

// Fits reports whether the probe has this format's layout: its signature
// (or, for reports read as a whole, its shape). A format that cannot tell
// fits everything.
func (f *Format) Fits(p *Probe) bool {
	if f.shape != nil {
		return f.shape(p)
	}
	if len(f.sig) == 0 && f.detect == nil {
		return true
	}
	return f.match(p).full
}

// Misfit says why the probe is not this format: the signature keys it
// lacks and the excluded keys it has.
func (f *Format) Misfit(p *Probe) string {
	m := f.match(p)
	var why []string
	if len(m.lack) > 0 {
		why = append(why, "no "+strings.Join(m.lack, ", "))
	}
	if len(m.veto) > 0 {
		why = append(why, "has "+strings.Join(m.veto, ", ")+", which "+f.Name+" never has")
	}
	if len(why) == 0 {
		return "its values are not " + f.Name + "'s"
	}
	return strings.Join(why, "; ")
}

// Detect reports whether auto-detection would pick this format for the
// probe on its own (its signature matches fully).
func (f *Format) Detect(p *Probe) bool { return !f.Manual && f.match(p).full }

// HasDetector reports whether auto-detection can recognise the format (some
// layouts are indistinguishable from another format's and must be named).
func (f *Format) HasDetector() bool { return !f.Manual && (len(f.sig) > 0 || f.detect != nil) }

// Signature lists the keys that identify the format, and those it never
// has (for the docs).
func (f *Format) Signature() (keys, without []string) { return f.sig, f.not }

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

// ErrAmbiguous: two formats match a file equally well.
var ErrAmbiguous = errors.New("ambiguous format")

// ErrPartial: the closest format matches a file only in part.
var ErrPartial = errors.New("partial match")

// Detect scores every format of kind against the probe. Exactly one full
// match wins; of several, one whose signature contains every other's wins
// (it is the more specific: SWE-Lego rows have SWE-smith trajectory rows'
// keys and more); otherwise the file is ambiguous, an error naming the
// candidates and their keys. With no full match, a format that matches in
// part (at least two of its keys and half of them, or all of them and an
// excluded one) is named with what it lacks — a file of a newer or
// altered layout is refused, never read as the nearest format.
func Detect(kind Kind, p *Probe) (*Format, error) {
	var full []match
	var partial *match
	var all []string
	for _, f := range All() {
		if f.Kind != kind {
			continue
		}
		all = append(all, f.Name)
		if f.Manual {
			continue
		}
		m := f.match(p)
		if m.full {
			full = append(full, m)
			continue
		}
		closeEnough := len(f.sig) > 0 && (len(m.lack) == 0 || len(m.have) >= 2 && 2*len(m.have) >= len(f.sig))
		if closeEnough && (partial == nil || len(m.have) > len(partial.have)) {
			m := m
			partial = &m
		}
	}
	switch len(full) {
	case 1:
		return full[0].f, nil
	case 0:
		if partial != nil {
			return nil, fmt.Errorf("%w: closest %s format is %s (has %s; %s); name one with --format if it is",
				ErrPartial, kind, partial.f.Name, strings.Join(partial.have, ", "), partial.f.Misfit(p))
		}
		return nil, fmt.Errorf("not a known %s format (candidates: %s); name one with --format", kind, strings.Join(all, ", "))
	}
	for _, m := range full {
		if slices.ContainsFunc(full, func(o match) bool { return o.f != m.f && !containsAll(m.f.sig, o.f.sig) }) {
			continue
		}
		return m.f, nil
	}
	var cands []string
	for _, m := range full {
		keys := strings.Join(m.have, ", ")
		if keys == "" {
			keys = "its own check"
		}
		cands = append(cands, fmt.Sprintf("%s (by %s)", m.f.Name, keys))
	}
	return nil, fmt.Errorf("%w: the file matches %s; name one with --format", ErrAmbiguous, strings.Join(cands, " and "))
}

// containsAll: every key of sub is in super, and super has more (a
// format recognised by its values alone is no less specific).
func containsAll(super, sub []string) bool {
	if len(sub) == 0 || len(super) <= len(sub) {
		return false
	}
	for _, k := range sub {
		if !slices.Contains(super, k) {
			return false
		}
	}
	return true
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
