package chattemplate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Value is a template value: nil (none), Undefined, bool, int64, float64,
// Number (a JSON number kept as written), string, []Value, *Map, or a
// callable.
type Value = any

// Undefined is a missing variable, key or attribute: falsy, renders as "".
type Undefined struct{}

// Number is a JSON number kept exactly as the source wrote it (tojson writes
// it back unchanged).
type Number string

// Map is an insertion-ordered mapping (JSON objects keep their key order, as
// Python dicts do).
type Map struct {
	keys []string
	vals map[string]Value
}

// NewMap returns an empty Map.
func NewMap() *Map { return &Map{vals: map[string]Value{}} }

// Set adds or replaces a key (new keys go last).
func (m *Map) Set(k string, v Value) *Map {
	if _, ok := m.vals[k]; !ok {
		m.keys = append(m.keys, k)
	}
	m.vals[k] = v
	return m
}

// Get returns the value of k.
func (m *Map) Get(k string) (Value, bool) {
	v, ok := m.vals[k]
	return v, ok
}

// Keys returns the keys in order.
func (m *Map) Keys() []string { return m.keys }

// Len is the number of keys.
func (m *Map) Len() int { return len(m.keys) }

type callable func(args []Value, kwargs map[string]Value) (Value, error)

// ParseJSON decodes JSON into template values, keeping object key order and
// number spelling.
func ParseJSON(data []byte) (Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeJSON(dec)
	if err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

func decodeJSON(dec *json.Decoder) (Value, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch x := t.(type) {
	case json.Delim:
		switch x {
		case '{':
			m := NewMap()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeJSON(dec)
				if err != nil {
					return nil, err
				}
				m.Set(kt.(string), v)
			}
			_, err := dec.Token()
			return m, err
		case '[':
			l := []Value{}
			for dec.More() {
				v, err := decodeJSON(dec)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			_, err := dec.Token()
			return l, err
		}
	case json.Number:
		return Number(x), nil
	case string, bool, nil:
		return x, nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", t)
}

func truthy(v Value) bool {
	switch x := v.(type) {
	case nil, Undefined:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case float64:
		return x != 0
	case Number:
		f, _ := strconv.ParseFloat(string(x), 64)
		return f != 0
	case string:
		return x != ""
	case []Value:
		return len(x) > 0
	case *Map:
		return x.Len() > 0
	}
	return true
}

// toNumber converts numeric values; ok is false for non-numbers.
func toNumber(v Value) (i int64, f float64, isInt, ok bool) {
	switch x := v.(type) {
	case int64:
		return x, float64(x), true, true
	case float64:
		return 0, x, false, true
	case bool:
		if x {
			return 1, 1, true, true
		}
		return 0, 0, true, true
	case Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return n, float64(n), true, true
		}
		f, err := strconv.ParseFloat(string(x), 64)
		return 0, f, false, err == nil
	}
	return 0, 0, false, false
}

func formatFloat(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e16 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// str renders a value as {{ }} output does.
func str(v Value) string {
	switch x := v.(type) {
	case nil, Undefined:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return formatFloat(x)
	case Number:
		return string(x)
	case []Value, *Map:
		var b strings.Builder
		writeRepr(&b, v)
		return b.String()
	}
	return fmt.Sprint(v)
}

// writeRepr writes lists and mappings the way the reference prints them
// (Python-like: strings quoted, ", " and ": " separators).
func writeRepr(b *strings.Builder, v Value) {
	switch x := v.(type) {
	case []Value:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, e)
		}
		b.WriteByte(']')
	case *Map:
		b.WriteByte('{')
		for i, k := range x.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writeJSONString(b, k)
			b.WriteString(": ")
			writeRepr(b, x.vals[k])
		}
		b.WriteByte('}')
	case string:
		writeJSONString(b, x)
	default:
		b.WriteString(str(v))
	}
}

// toJSON is the tojson filter: Python's json.dumps(ensure_ascii=False), with
// ", " / ": " separators, or indent.
func toJSON(v Value, indent int, sortKeys bool) (string, error) {
	var b strings.Builder
	if err := writeJSON(&b, v, indent, 0, sortKeys); err != nil {
		return "", err
	}
	return b.String(), nil
}

func writeJSON(b *strings.Builder, v Value, indent, depth int, sortKeys bool) error {
	nl := func(d int) {
		if indent > 0 {
			b.WriteByte('\n')
			b.WriteString(strings.Repeat(" ", indent*d))
		}
	}
	sep := ", "
	if indent > 0 {
		sep = ","
	}
	switch x := v.(type) {
	case nil, Undefined:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e21 {
			b.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
		} else {
			b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
		}
	case Number:
		b.WriteString(string(x))
	case string:
		writeJSONString(b, x)
	case []Value:
		if len(x) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(sep)
			}
			nl(depth + 1)
			if err := writeJSON(b, e, indent, depth+1, sortKeys); err != nil {
				return err
			}
		}
		nl(depth)
		b.WriteByte(']')
	case *Map:
		if x.Len() == 0 {
			b.WriteString("{}")
			return nil
		}
		keys := x.keys
		if sortKeys {
			keys = append([]string(nil), keys...)
			sort.Strings(keys)
		}
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(sep)
			}
			nl(depth + 1)
			writeJSONString(b, k)
			b.WriteString(": ")
			if err := writeJSON(b, x.vals[k], indent, depth+1, sortKeys); err != nil {
				return err
			}
		}
		nl(depth)
		b.WriteByte('}')
	default:
		return fmt.Errorf("tojson: cannot serialise %T", v)
	}
	return nil
}

func writeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				b.WriteString(`\"`)
			case '\\':
				b.WriteString(`\\`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			default:
				if c < 0x20 {
					fmt.Fprintf(b, `\u%04x`, c)
				} else {
					b.WriteByte(c)
				}
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteString(`\ufffd`)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	b.WriteByte('"')
}

func typeName(v Value) string {
	switch v.(type) {
	case nil:
		return "none"
	case Undefined:
		return "undefined"
	case bool:
		return "boolean"
	case int64, Number:
		return "integer"
	case float64:
		return "float"
	case string:
		return "string"
	case []Value:
		return "list"
	case *Map:
		return "mapping"
	case callable:
		return "function"
	}
	return fmt.Sprintf("%T", v)
}
