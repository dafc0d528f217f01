package chattemplate

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

func (in *interp) evalFilter(x filter, sc *scope) (Value, error) {
	v, err := in.eval(x.obj, sc)
	if err != nil {
		return nil, err
	}
	args, kw, err := in.evalArgs(x.args, x.kwargs, sc)
	if err != nil {
		return nil, err
	}
	arg := func(i int, k string) (Value, bool) {
		if i < len(args) {
			return args[i], true
		}
		if v, ok := kw[k]; ok {
			return v, true
		}
		return nil, false
	}
	switch x.name {
	case "tojson":
		indent := 0
		if a, ok := arg(0, "indent"); ok && a != nil {
			i, _, _, _ := toNumber(a)
			indent = int(i)
		}
		sortKeys := false
		if a, ok := kw["sort_keys"]; ok {
			sortKeys = truthy(a)
		}
		return toJSON(v, indent, sortKeys)
	case "trim":
		return strings.TrimFunc(str(v), unicode.IsSpace), nil
	case "length", "count":
		switch y := v.(type) {
		case string:
			return int64(len([]rune(y))), nil
		case []Value:
			return int64(len(y)), nil
		case *Map:
			return int64(y.Len()), nil
		}
		return nil, fmt.Errorf("template: %s has no length", typeName(v))
	case "upper":
		return strings.ToUpper(str(v)), nil
	case "lower":
		return strings.ToLower(str(v)), nil
	case "title":
		return titleCase(str(v)), nil
	case "capitalize":
		return capitalize(str(v)), nil
	case "string":
		return str(v), nil
	case "safe":
		return v, nil
	case "e", "escape":
		return htmlEscape(str(v)), nil
	case "first", "last":
		items, err := iterate(v)
		if err != nil {
			return nil, err
		}
		if len(items) == 0 {
			return Undefined{}, nil
		}
		if x.name == "first" {
			return items[0], nil
		}
		return items[len(items)-1], nil
	case "reverse":
		if s, ok := v.(string); ok {
			r := []rune(s)
			slices.Reverse(r)
			return string(r), nil
		}
		items, err := iterate(v)
		if err != nil {
			return nil, err
		}
		out := slices.Clone(items)
		slices.Reverse(out)
		return out, nil
	case "list":
		return iterate(v)
	case "items":
		m, ok := v.(*Map)
		if !ok {
			return []Value{}, nil
		}
		return mapMethod(m, "items").(callable)(nil, nil)
	case "join":
		items, err := iterate(v)
		if err != nil {
			return nil, err
		}
		sep := ""
		if a, ok := arg(0, "d"); ok {
			sep = str(a)
		}
		attrName := ""
		if a, ok := kw["attribute"]; ok {
			attrName = str(a)
		}
		parts := make([]string, len(items))
		for i, it := range items {
			if attrName != "" {
				it = getAttr(it, attrName)
			}
			parts[i] = str(it)
		}
		return strings.Join(parts, sep), nil
	case "default", "d":
		def, _ := arg(0, "default_value")
		boolean := false
		if a, ok := arg(1, "boolean"); ok {
			boolean = truthy(a)
		}
		if _, undef := v.(Undefined); undef || (boolean && !truthy(v)) {
			if def == nil {
				return "", nil
			}
			return def, nil
		}
		return v, nil
	case "int":
		i, f, isInt, ok := toNumber(v)
		if s, isStr := v.(string); isStr { // unparsable: 0, as Jinja's int filter
			n, _ := strconv.ParseFloat(strings.TrimSpace(s), 64)
			return int64(n), nil
		}
		if !ok {
			return int64(0), nil
		}
		if isInt {
			return i, nil
		}
		return int64(f), nil
	case "float":
		_, f, _, ok := toNumber(v)
		if s, isStr := v.(string); isStr { // unparsable: 0.0, as Jinja's float filter
			n, _ := strconv.ParseFloat(strings.TrimSpace(s), 64)
			return n, nil
		}
		if !ok {
			return 0.0, nil
		}
		return f, nil
	case "abs":
		i, f, isInt, ok := toNumber(v)
		if !ok {
			return nil, fmt.Errorf("template: abs of %s", typeName(v))
		}
		if isInt {
			if i < 0 {
				return -i, nil
			}
			return i, nil
		}
		return math.Abs(f), nil
	case "round":
		_, f, _, ok := toNumber(v)
		if !ok {
			return nil, fmt.Errorf("template: round of %s", typeName(v))
		}
		prec := int64(0)
		if a, ok := arg(0, "precision"); ok {
			prec, _, _, _ = toNumber(a)
		}
		p := math.Pow(10, float64(prec))
		return math.Round(f*p) / p, nil
	case "replace":
		old, _ := arg(0, "old")
		nw, _ := arg(1, "new")
		return strings.ReplaceAll(str(v), str(old), str(nw)), nil
	case "indent":
		width := int64(4)
		if a, ok := arg(0, "width"); ok {
			width, _, _, _ = toNumber(a)
		}
		first := false
		if a, ok := arg(1, "first"); ok {
			first = truthy(a)
		}
		pad := strings.Repeat(" ", int(width))
		lines := strings.Split(str(v), "\n")
		for i := range lines {
			if (i > 0 || first) && lines[i] != "" {
				lines[i] = pad + lines[i]
			}
		}
		return strings.Join(lines, "\n"), nil
	case "unique":
		items, err := iterate(v)
		if err != nil {
			return nil, err
		}
		var out []Value
		for _, it := range items {
			if !contains(out, it) {
				out = append(out, it)
			}
		}
		return out, nil
	case "sort", "dictsort":
		items, err := iterate(v)
		if m, ok := v.(*Map); ok && x.name == "dictsort" {
			kv, _ := mapMethod(m, "items").(callable)(nil, nil)
			items = kv.([]Value)
		}
		if err != nil {
			return nil, err
		}
		out := slices.Clone(items)
		sort.SliceStable(out, func(i, j int) bool { c, _ := compare(sortKey(out[i]), sortKey(out[j])); return c < 0 })
		return out, nil
	case "map", "select", "reject", "selectattr", "rejectattr":
		return in.seqFilter(x.name, v, args, kw)
	case "wordcount":
		return int64(len(strings.Fields(str(v)))), nil
	}
	return nil, fmt.Errorf("template: unknown filter %q", x.name)
}

func sortKey(v Value) Value {
	if l, ok := v.([]Value); ok && len(l) > 0 {
		return l[0]
	}
	return v
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

func (in *interp) seqFilter(kind string, v Value, args []Value, kw map[string]Value) (Value, error) {
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	out := []Value{}
	switch kind {
	case "map":
		if a, ok := kw["attribute"]; ok {
			for _, it := range items {
				r := getAttr(it, str(a))
				if _, undef := r.(Undefined); undef {
					if d, ok := kw["default"]; ok {
						r = d
					}
				}
				out = append(out, r)
			}
			return out, nil
		}
		if len(args) == 0 {
			return nil, fmt.Errorf("template: map needs a filter name or attribute=")
		}
		for _, it := range items {
			r, err := in.evalFilter(filter{obj: literal{it}, name: str(args[0]), args: literalArgs(args[1:])}, &scope{vars: map[string]Value{}})
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	}
	byAttr := kind == "selectattr" || kind == "rejectattr"
	keep := kind == "select" || kind == "selectattr"
	for _, it := range items {
		subject, rest := it, args
		if byAttr {
			if len(args) == 0 {
				return nil, fmt.Errorf("template: %s needs an attribute", kind)
			}
			subject, rest = getAttr(it, str(args[0])), args[1:]
		}
		ok := truthy(subject)
		if len(rest) > 0 {
			ok, err = applyTest(str(rest[0]), subject, rest[1:])
			if err != nil {
				return nil, err
			}
		}
		if ok == keep {
			out = append(out, it)
		}
	}
	return out, nil
}

func literalArgs(vs []Value) []expr {
	out := make([]expr, len(vs))
	for i, v := range vs {
		out[i] = literal{v}
	}
	return out
}

func applyTest(n string, v Value, args []Value) (bool, error) {
	switch n {
	case "defined":
		_, undef := v.(Undefined)
		return !undef, nil
	case "undefined":
		_, undef := v.(Undefined)
		return undef, nil
	case "none":
		return v == nil, nil
	case "string":
		_, ok := v.(string)
		return ok, nil
	case "number":
		_, isBool := v.(bool)
		_, _, _, ok := toNumber(v)
		return ok && !isBool, nil
	case "integer":
		_, isBool := v.(bool)
		_, _, isInt, ok := toNumber(v)
		return ok && isInt && !isBool, nil
	case "float":
		_, ok := v.(float64)
		return ok, nil
	case "boolean":
		_, ok := v.(bool)
		return ok, nil
	case "true":
		b, ok := v.(bool)
		return ok && b, nil
	case "false":
		b, ok := v.(bool)
		return ok && !b, nil
	case "mapping":
		_, ok := v.(*Map)
		return ok, nil
	case "sequence", "iterable":
		switch v.(type) {
		case []Value, string, *Map:
			return true, nil
		}
		return false, nil
	case "callable":
		_, ok := v.(callable)
		return ok, nil
	case "odd", "even":
		i, _, isInt, ok := toNumber(v)
		if !ok || !isInt {
			return false, fmt.Errorf("template: %s test on %s", n, typeName(v))
		}
		return (i%2 != 0) == (n == "odd"), nil
	case "lower":
		s, ok := v.(string)
		return ok && s == strings.ToLower(s), nil
	case "upper":
		s, ok := v.(string)
		return ok && s == strings.ToUpper(s), nil
	case "equalto", "eq", "==", "sameas":
		if len(args) == 0 {
			return false, fmt.Errorf("template: %s needs an argument", n)
		}
		return equal(v, args[0]), nil
	case "ne", "!=":
		return len(args) > 0 && !equal(v, args[0]), nil
	case "in":
		return len(args) > 0 && contains(args[0], v), nil
	}
	return false, fmt.Errorf("template: unknown test %q", n)
}
