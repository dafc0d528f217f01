package registry

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// Markdown is docs/jobs.md: a section per registered job — what it does,
// the tables it reads and writes, its flags and every key of its config
// with its default — generated from the registry, so the reference can
// not drift from the code (TestJobsDoc).
func Markdown() string {
	var b strings.Builder
	b.WriteString("# Jobs\n\n<!-- Generated from jobs/registry by `go test ./jobs/registry -update`; do not edit. -->\n\n")
	b.WriteString("Every stage of swelake is a job of this list, run by one driver (docs/architecture.md): `swelake run <job>`,\n")
	b.WriteString("a pipeline stage's `job:`, and for some a command of their own (`swelake ingest`, `swelake report`,\n")
	b.WriteString("`swelake lake publish`). A job's config is its defaults, then its section of `swelake.yaml`\n")
	b.WriteString("(`--set <section>.<key>=<json>`), then its flags; in a pipeline, the stage's `config:` comes last.\n")
	b.WriteString("An unknown key is an error.\n\n")
	for _, j := range Jobs() {
		info := j.Describe()
		fmt.Fprintf(&b, "## %s\n\n%s.\n\n", info.Name, info.Short)
		fmt.Fprintf(&b, "```\n%s\n```\n\n", strings.TrimSpace(info.Long))
		fmt.Fprintf(&b, "- reads: %s\n- writes: %s\n- config section: `%s`\n", list(info.Inputs), list(info.Outputs), info.ConfigSection())
		var needs []string
		if info.Needs.Sandbox {
			needs = append(needs, "a sandbox backend (`sandbox.*`)")
		}
		if info.Needs.Policy {
			needs = append(needs, "the policy endpoint (`policy.*`)")
		}
		if info.Needs.Verifier {
			needs = append(needs, "the verifier endpoint (`verifier.*`, optional)")
		}
		if len(needs) > 0 {
			fmt.Fprintf(&b, "- needs: %s\n", strings.Join(needs, ", "))
		}
		if info.ArgsKey != "" {
			fmt.Fprintf(&b, "- arguments: `%s`\n", info.ArgsKey)
		}
		b.WriteString("\n| key | type | default | flag |\n| --- | --- | --- | --- |\n")
		flags := map[string]string{}
		for _, f := range info.Flags {
			flags[f.Key] = "--" + f.Name
		}
		cfg := reflect.ValueOf(j.NewConfig()).Elem()
		for _, k := range keys(cfg, "") {
			def, _ := json.Marshal(k.value.Interface())
			cell := strings.ReplaceAll(string(def), "|", `\|`) // a pipe inside a table cell ends it
			fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s |\n", k.name, k.typ, cell, flags[k.name])
		}
		fmt.Fprintf(&b, "\nExamples:\n\n```sh\n%s\n```\n\n", strings.TrimSpace(info.Example))
	}
	return b.String()
}

func list(tables []string) string {
	if len(tables) == 0 {
		return "—"
	}
	return "`" + strings.Join(tables, "`, `") + "`"
}

type key struct {
	name, typ string
	value     reflect.Value
}

// keys lists a config's keys (mapstructure names; squashed structs' keys
// at their parent's level; nested structs as dotted keys).
func keys(v reflect.Value, prefix string) []key {
	var out []key
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if strings.Contains(opts, "squash") {
			out = append(out, keys(v.Field(i), prefix)...)
			continue
		}
		name := prefix + tag
		if f.Type.Kind() == reflect.Struct {
			out = append(out, keys(v.Field(i), name+".")...)
			continue
		}
		out = append(out, key{name, typeName(f.Type), v.Field(i)})
	}
	return out
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "map of " + typeName(t.Elem())
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.Struct:
		return "object"
	case reflect.Interface:
		return "any"
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint64:
		return "integer"
	case reflect.Float64:
		return "number"
	}
	return t.Kind().String()
}
