package formats

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	json "github.com/goccy/go-json"
	"hash"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// object is a JSON object whose values are decoded on demand.
type object map[string]json.RawMessage

func parseObject(data []byte) (object, error) {
	var o object
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&o); err != nil {
		return nil, err
	}
	if o == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return o, nil
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// str reads a string (or a number or bool, as text); null and absent are "".
func (o object) str(key string) string {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return ""
	}
	return rawString(raw)
}

func rawString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(raw))
}

func (o object) has(key string) bool {
	raw, ok := o[key]
	return ok && !isNull(raw)
}

func (o object) obj(key string) (object, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	// Some exports carry nested objects as JSON-encoded strings.
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '"' {
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if strings.TrimSpace(s) == "" {
			return nil, nil
		}
		raw = json.RawMessage(s)
	}
	o2, err := parseObject(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return o2, nil
}

// strList reads a list of strings given as a JSON list, a JSON-encoded
// string holding a list (SWE-bench Verified exports), or null.
func (o object) strList(key string) ([]string, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	t := bytes.TrimSpace(raw)
	if t[0] == '"' {
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if strings.TrimSpace(s) == "" {
			return nil, nil
		}
		t = []byte(s)
	}
	var out []string
	if err := json.Unmarshal(t, &out); err != nil {
		return nil, fmt.Errorf("%s: want a list of strings or a JSON string holding one: %w", key, err)
	}
	return out, nil
}

// cmdList reads a command given as a string or a list of strings (one per
// line when joined).
func (o object) cmdList(key string) (string, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return "", nil
	}
	t := bytes.TrimSpace(raw)
	if t[0] == '[' {
		var parts []string
		if err := json.Unmarshal(t, &parts); err != nil {
			return "", fmt.Errorf("%s: %w", key, err)
		}
		return strings.Join(parts, "\n"), nil
	}
	return rawString(raw), nil
}

// timeLayouts are the timestamp spellings of the public sets.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02"}

// when reads a time given as a string in one of timeLayouts, or as integer
// milliseconds since the epoch (SWE-rebench V2), or float seconds.
func (o object) when(key string) (*time.Time, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	t := bytes.TrimSpace(raw)
	if t[0] != '"' {
		n, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a time", key, t)
		}
		var tm time.Time
		switch {
		case n > 1e11: // milliseconds
			tm = time.UnixMilli(int64(n))
		default: // seconds
			sec, frac := math.Modf(n)
			tm = time.Unix(int64(sec), int64(frac*1e9))
		}
		tm = tm.UTC()
		return &tm, nil
	}
	s := rawString(raw)
	if s == "" {
		return nil, nil
	}
	for _, layout := range timeLayouts {
		if tm, err := time.Parse(layout, s); err == nil {
			tm = tm.UTC()
			return &tm, nil
		}
	}
	return nil, fmt.Errorf("%s: %q is not a time in a known layout", key, s)
}

// float reads a number, a numeric string or a boolean (rewards come in all
// three spellings).
func (o object) float(key string) (*float64, error) {
	v, err := o.value(key)
	if err != nil {
		return nil, err
	}
	return anyFloat(key, v)
}

// boolean reads a boolean, a number (0 is false) or a string such as "true"
// or "no".
func (o object) boolean(key string) (*bool, error) {
	v, err := o.value(key)
	if err != nil {
		return nil, err
	}
	return anyBool(key, v)
}

// value decodes one field into a Go value (nil when absent or null).
func (o object) value(key string) (any, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return v, nil
}

// anyFloat reads a number, a numeric string or a boolean.
func anyFloat(key string, v any) (*float64, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case float64:
		return &x, nil // encoding/json refuses NaN and infinities; 1e400 does not parse
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		return &f, nil
	case bool:
		if x {
			return ptr(1.0), nil
		}
		return ptr(0.0), nil
	case string:
		if f, err := strconv.ParseFloat(x, 64); err == nil {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("%s: %q is not a finite number", key, x)
			}
			return &f, nil
		}
		if b, ok := parseBoolWord(x); ok {
			return anyFloat(key, b)
		}
	}
	return nil, fmt.Errorf("%s: %v is not a number", key, v)
}

// anyBool reads a boolean, a number (0 is false) or a boolean word.
func anyBool(key string, v any) (*bool, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool:
		return &x, nil
	case float64:
		return ptr(x != 0), nil
	case string:
		if b, ok := parseBoolWord(x); ok {
			return &b, nil
		}
	}
	return nil, fmt.Errorf("%s: %q is not a boolean", key, fmt.Sprint(v))
}

func parseBoolWord(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes":
		return true, true
	case "false", "0", "no":
		return false, true
	}
	return false, false
}

// count reads a whole number in [0, max] (token counts, steps, calls): a
// negative, fractional or larger value is an error naming the key and the
// value, never a wrapped or truncated number.
func (o object) count(key string, max int64) (*int64, error) {
	raw, ok := o[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	i, err := n.Int64()
	if err != nil {
		f, ferr := n.Float64()
		switch {
		case ferr != nil || math.IsInf(f, 0) || math.IsNaN(f):
			return nil, fmt.Errorf("%s: %s is out of range (0 to %d)", key, n, max)
		case f != math.Trunc(f):
			return nil, fmt.Errorf("%s: %s is not a whole number", key, n)
		case f < 0 || f > float64(max):
			return nil, fmt.Errorf("%s: %s is out of range (0 to %d)", key, n, max)
		}
		i = int64(f)
	}
	if i < 0 || i > max {
		return nil, fmt.Errorf("%s: %d is out of range (0 to %d)", key, i, max)
	}
	return &i, nil
}

// firstStr returns the first non-empty string among keys.
func (o object) firstStr(keys ...string) string {
	for _, k := range keys {
		if s := o.str(k); s != "" {
			return s
		}
	}
	return ""
}

// text repairs invalid UTF-8 (U+FFFD), reporting whether it had to.
func text(s string, repaired *bool) string {
	if utf8.ValidString(s) {
		return s
	}
	*repaired = true
	return strings.ToValidUTF8(s, "\uFFFD")
}

// hashJSON is the sha256 of v's JSON encoding: the content hash of a row's
// normalised fields (not of its raw bytes, which differ across exports).
func hashJSON(v any) string {
	data, _ := json.Marshal(v)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func ptr[T any](v T) *T { return &v }

// fieldHash hashes fields unambiguously: each string length-prefixed.
type fieldHash struct {
	h   hash.Hash
	buf [9]byte
}

func newFieldHash() *fieldHash { return &fieldHash{h: sha256.New()} }

func (f *fieldHash) str(ss ...string) {
	for _, s := range ss {
		binary.LittleEndian.PutUint64(f.buf[:8], uint64(len(s)))
		f.h.Write(f.buf[:8])
		io.WriteString(f.h, s)
	}
}

func (f *fieldHash) sep() { f.h.Write([]byte{0xff}) }

func (f *fieldHash) optFloat(v *float64) {
	if v == nil {
		f.h.Write([]byte{0})
		return
	}
	f.buf[0] = 1
	binary.LittleEndian.PutUint64(f.buf[1:], math.Float64bits(*v))
	f.h.Write(f.buf[:9])
}

func (f *fieldHash) optBool(v *bool) {
	switch {
	case v == nil:
		f.h.Write([]byte{0})
	case *v:
		f.h.Write([]byte{1, 1})
	default:
		f.h.Write([]byte{1, 0})
	}
}

func (f *fieldHash) sum() string { return hex.EncodeToString(f.h.Sum(nil)) }
