package stage

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"

	"github.com/go-viper/mapstructure/v2"

	"github.com/swelake/swelake/internal/suggest"
)

var (
	invalidKeys   = regexp.MustCompile(`'([^']*)' has invalid keys: (.*)`)
	cannotParse   = regexp.MustCompile(`'([^']*)' cannot parse value as '([^']*)'(: .*)?`)
	quotedWant    = regexp.MustCompile(`'([^']+)' want `)
	unconvertible = regexp.MustCompile(`'([^']*)' expected type '([^']*)', got unconvertible type '([^']*)'(, value: '[^']*')?`)
)

// kindWord says what a Go type wants, in a config file's words.
func kindWord(t string) string {
	switch {
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "bool":
		return "true or false"
	case t == "string":
		return "a string"
	case t == "time.Duration":
		return "a duration such as 30s or 5m"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	}
	return "a " + t
}

// Decode decodes a config map (a YAML sub-tree, a config file's section,
// flags) onto a typed config, over what it holds: unknown keys are errors
// naming the key, strings convert to numbers and booleans (environment
// values), durations parse.
func Decode(m any, out any) error {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result: out, ErrorUnused: true, WeaklyTypedInput: true,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(mapstructure.StringToTimeDurationHookFunc(), mapstructure.StringToSliceHookFunc(","), wholeNumbers),
	})
	if err != nil {
		return err
	}
	typeName := reflect.TypeOf(out).Elem().String()
	if err := dec.Decode(m); err != nil {
		msg := strings.Join(strings.Fields(err.Error()), " ")
		msg = strings.TrimPrefix(msg, "decoding failed due to the following error(s): ")
		msg = invalidKeys.ReplaceAllStringFunc(msg, func(s string) string {
			sub := invalidKeys.FindStringSubmatch(s)
			prefix := "" // the config's own keys are named by its type, nested ones by their path
			if sub[1] != "" && sub[1] != typeName {
				prefix = sub[1] + "."
			}
			var keys []string
			for _, k := range strings.Split(sub[2], ", ") {
				keys = append(keys, prefix+k)
			}
			msg := "unknown key " + strings.Join(keys, ", ")
			if len(keys) == 1 {
				if t, ok := typeAt(reflect.TypeOf(out).Elem(), prefix); ok {
					if s := suggest.Closest(strings.TrimPrefix(keys[0], prefix), fieldTags(t)); s != "" {
						msg += " (did you mean " + prefix + s + "?)"
					}
				}
			}
			return msg
		})
		msg = cannotParse.ReplaceAllStringFunc(msg, func(s string) string {
			sub := cannotParse.FindStringSubmatch(s)
			return sub[1] + ": want " + kindWord(sub[2])
		})
		msg = quotedWant.ReplaceAllString(msg, "$1: want ")
		msg = unconvertible.ReplaceAllStringFunc(msg, func(s string) string {
			sub := unconvertible.FindStringSubmatch(s)
			return sub[1] + ": want " + kindWord(sub[2]) + ", got " + strings.TrimPrefix(kindWord(sub[3]), "a ")
		})
		return errors.New(msg)
	}
	return nil
}

// typeAt is the struct type at a dotted path of mapstructure keys ("" :
// t itself; path ends with a dot).
func typeAt(t reflect.Type, path string) (reflect.Type, bool) {
	for _, part := range strings.Split(strings.TrimSuffix(path, "."), ".") {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if part == "" || t.Kind() != reflect.Struct {
			continue
		}
		found := false
		for i := range t.NumField() {
			if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("mapstructure"), ","); tag == part {
				t, found = t.Field(i).Type, true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t, t.Kind() == reflect.Struct
}

// fieldTags are the config keys of a struct type (its mapstructure tags).
func fieldTags(t reflect.Type) []string {
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		tag, opts, _ := strings.Cut(t.Field(i).Tag.Get("mapstructure"), ",")
		if strings.Contains(opts, "squash") {
			out = append(out, fieldTags(t.Field(i).Type)...)
			continue
		}
		if tag == "" {
			tag = strings.ToLower(t.Field(i).Name)
		}
		out = append(out, tag)
	}
	return out
}

// wholeNumbers refuses a fractional number where an integer is wanted
// (weak decoding would truncate 1.5 to 1).
func wholeNumbers(from, to reflect.Type, data any) (any, error) {
	f, ok := data.(float64)
	if !ok {
		return data, nil
	}
	switch to.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if f != math.Trunc(f) {
			return nil, fmt.Errorf("want an integer, got %v", f)
		}
	}
	return data, nil
}
