package stage

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
)

// Hash is the sha256 of a value's canonical encoding: every exported
// struct field under its Go name (tags play no part, so a field can not
// drop out of a run's identity by being hidden from JSON), map keys sorted,
// floats in their shortest exact form, nil and empty slices alike. Values
// that can not be part of an identity (functions, channels, interfaces
// holding them) make it fail: configs are plain data.
func Hash(v any) (string, error) {
	var buf []byte
	buf, err := canonical(buf, reflect.ValueOf(v))
	if err != nil {
		return "", fmt.Errorf("hash config: %w", err)
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:]), nil
}

func canonical(b []byte, v reflect.Value) ([]byte, error) {
	if !v.IsValid() {
		return append(b, "null"...), nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return append(b, "null"...), nil
		}
		return canonical(b, v.Elem())
	case reflect.Bool:
		return strconv.AppendBool(b, v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("non-finite number %v", f)
		}
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 { // 1 and 1.0 and int64(1) hash alike
			return strconv.AppendInt(b, int64(f), 10), nil
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64), nil
	case reflect.String:
		return strconv.AppendQuote(b, v.String()), nil
	case reflect.Slice, reflect.Array:
		b = append(b, '[')
		for i := range v.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = canonical(b, v.Index(i)); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case reflect.Map:
		keys := v.MapKeys()
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = fmt.Sprint(k.Interface())
		}
		idx := make([]int, len(keys))
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(x, y int) int {
			if names[x] < names[y] {
				return -1
			}
			if names[x] > names[y] {
				return 1
			}
			return 0
		})
		b = append(b, '{')
		for n, i := range idx {
			if n > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, names[i])
			b = append(b, ':')
			var err error
			if b, err = canonical(b, v.MapIndex(keys[i])); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case reflect.Struct:
		if m, ok := v.Interface().(json.Marshaler); ok { // time.Time and friends: their own exact form
			data, err := m.MarshalJSON()
			return append(b, data...), err
		}
		t := v.Type()
		b = append(b, '{')
		n := 0
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = strconv.AppendQuote(b, f.Name)
			b = append(b, ':')
			var err error
			if b, err = canonical(b, v.Field(i)); err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name, err)
			}
		}
		return append(b, '}'), nil
	}
	return nil, fmt.Errorf("a %s can not be part of a run's identity (configs are plain data)", v.Type())
}
