package stage

import (
	"errors"
	"reflect"
	"regexp"
	"strings"

	"github.com/go-viper/mapstructure/v2"
)

var invalidKeys = regexp.MustCompile(`'([^']*)' has invalid keys: (.*)`)

// Decode decodes a config map (a YAML sub-tree, a config file's section,
// flags) onto a typed config, over what it holds: unknown keys are errors
// naming the key, strings convert to numbers and booleans (environment
// values), durations parse.
func Decode(m any, out any) error {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result: out, ErrorUnused: true, WeaklyTypedInput: true,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(mapstructure.StringToTimeDurationHookFunc(), mapstructure.StringToSliceHookFunc(",")),
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
			return "unknown key " + strings.Join(keys, ", ")
		})
		return errors.New(msg)
	}
	return nil
}
