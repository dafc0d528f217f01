package chattemplate

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
)

// ErrRaised is wrapped by the error of a template's raise_exception().
var ErrRaised = errors.New("template raised an exception")

var (
	errBreak    = errors.New("break")
	errContinue = errors.New("continue")
)

type scope struct {
	vars   map[string]Value
	parent *scope
}

func (s *scope) lookup(n string) Value {
	for c := s; c != nil; c = c.parent {
		if v, ok := c.vars[n]; ok {
			return v
		}
	}
	return Undefined{}
}

type interp struct {
	out strings.Builder
}

func (in *interp) run(body []node, sc *scope) error {
	for _, n := range body {
		if err := in.exec(n, sc); err != nil {
			return err
		}
	}
	return nil
}

func (in *interp) exec(n node, sc *scope) error {
	switch x := n.(type) {
	case textNode:
		in.out.WriteString(x.text)
	case outputNode:
		v, err := in.eval(x.expr, sc)
		if err != nil {
			return err
		}
		in.out.WriteString(str(v))
	case ifNode:
		c, err := in.eval(x.cond, sc)
		if err != nil {
			return err
		}
		if truthy(c) {
			return in.run(x.body, sc)
		}
		return in.run(x.else_, sc)
	case forNode:
		return in.execFor(x, sc)
	case setNode:
		return in.execSet(x, sc)
	case macroNode:
		sc.vars[x.name] = in.macro(x, sc)
	case breakNode:
		return errBreak
	case continueNode:
		return errContinue
	default:
		return fmt.Errorf("template: unknown node %T", n)
	}
	return nil
}

func (in *interp) execSet(x setNode, sc *scope) error {
	var v Value
	if x.body != nil || x.value == nil {
		sub := &interp{}
		if err := sub.run(x.body, sc); err != nil {
			return err
		}
		v = sub.out.String()
	} else {
		var err error
		if v, err = in.eval(x.value, sc); err != nil {
			return err
		}
	}
	switch {
	case x.attr != "":
		m, ok := sc.lookup(x.name).(*Map)
		if !ok {
			return fmt.Errorf("template: set %s.%s: %s is not a namespace", x.name, x.attr, x.name)
		}
		m.Set(x.attr, v)
	case len(x.targets) > 0:
		items, err := iterate(v)
		if err != nil || len(items) != len(x.targets) {
			return fmt.Errorf("template: set %s: cannot unpack %s into %d names", strings.Join(x.targets, ", "), typeName(v), len(x.targets))
		}
		for i, t := range x.targets {
			sc.vars[t] = items[i]
		}
	default:
		sc.vars[x.name] = v
	}
	return nil
}

func iterate(v Value) ([]Value, error) {
	switch x := v.(type) {
	case []Value:
		return x, nil
	case *Map:
		out := make([]Value, len(x.keys))
		for i, k := range x.keys {
			out[i] = k
		}
		return out, nil
	case string:
		var out []Value
		for _, r := range x {
			out = append(out, string(r))
		}
		return out, nil
	case nil, Undefined:
		return nil, nil
	}
	return nil, fmt.Errorf("template: %s is not iterable", typeName(v))
}

func (in *interp) execFor(x forNode, sc *scope) error {
	it, err := in.eval(x.iter, sc)
	if err != nil {
		return err
	}
	items, err := iterate(it)
	if err != nil {
		return err
	}
	bind := func(s *scope, item Value) error {
		if len(x.targets) == 1 {
			s.vars[x.targets[0]] = item
			return nil
		}
		parts, err := iterate(item)
		if err != nil || len(parts) != len(x.targets) {
			return fmt.Errorf("template: for %s: cannot unpack %s", strings.Join(x.targets, ", "), typeName(item))
		}
		for i, t := range x.targets {
			s.vars[t] = parts[i]
		}
		return nil
	}
	if x.filter != nil {
		kept := items[:0:0]
		for _, item := range items {
			s := &scope{vars: map[string]Value{}, parent: sc}
			if err := bind(s, item); err != nil {
				return err
			}
			c, err := in.eval(x.filter, s)
			if err != nil {
				return err
			}
			if truthy(c) {
				kept = append(kept, item)
			}
		}
		items = kept
	}
	if len(items) == 0 {
		return in.run(x.else_, sc)
	}
	n := int64(len(items))
	for i, item := range items {
		s := &scope{vars: map[string]Value{}, parent: sc}
		loop := NewMap()
		idx := int64(i)
		loop.Set("index", idx+1).Set("index0", idx).Set("first", i == 0).Set("last", idx == n-1).
			Set("length", n).Set("revindex", n-idx).Set("revindex0", n-idx-1)
		if i > 0 {
			loop.Set("previtem", items[i-1])
		}
		if idx < n-1 {
			loop.Set("nextitem", items[i+1])
		}
		cycle := callable(func(args []Value, _ map[string]Value) (Value, error) {
			if len(args) == 0 {
				return Undefined{}, nil
			}
			return args[i%len(args)], nil
		})
		loop.Set("cycle", cycle)
		s.vars["loop"] = loop
		if err := bind(s, item); err != nil {
			return err
		}
		err := in.run(x.body, s)
		if errors.Is(err, errBreak) {
			break
		}
		if err != nil && !errors.Is(err, errContinue) {
			return err
		}
	}
	return nil
}

func (in *interp) macro(m macroNode, defScope *scope) callable {
	return func(args []Value, kwargs map[string]Value) (Value, error) {
		s := &scope{vars: map[string]Value{}, parent: defScope}
		for i, p := range m.params {
			switch {
			case i < len(args):
				s.vars[p] = args[i]
			case kwargs[p] != nil:
				s.vars[p] = kwargs[p]
			case m.defaults[p] != nil:
				v, err := in.eval(m.defaults[p], defScope)
				if err != nil {
					return nil, err
				}
				s.vars[p] = v
			default:
				s.vars[p] = Undefined{}
			}
		}
		sub := &interp{}
		if err := sub.run(m.body, s); err != nil {
			return nil, err
		}
		return sub.out.String(), nil
	}
}

func (in *interp) evalAll(es []expr, sc *scope) ([]Value, error) {
	out := make([]Value, len(es))
	for i, e := range es {
		v, err := in.eval(e, sc)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// evalArgs evaluates a call's positional and keyword arguments.
func (in *interp) evalArgs(args []expr, kwargs map[string]expr, sc *scope) ([]Value, map[string]Value, error) {
	pos, err := in.evalAll(args, sc)
	if err != nil {
		return nil, nil, err
	}
	kw := make(map[string]Value, len(kwargs))
	for k, e := range kwargs {
		v, err := in.eval(e, sc)
		if err != nil {
			return nil, nil, err
		}
		kw[k] = v
	}
	return pos, kw, nil
}

func (in *interp) eval(e expr, sc *scope) (Value, error) {
	switch x := e.(type) {
	case literal:
		return x.v, nil
	case name:
		return sc.lookup(x.n), nil
	case listLit:
		return in.evalAll(x.items, sc)
	case tupleLit:
		return in.evalAll(x.items, sc)
	case dictLit:
		m := NewMap()
		for i := range x.keys {
			k, err := in.eval(x.keys[i], sc)
			if err != nil {
				return nil, err
			}
			v, err := in.eval(x.vals[i], sc)
			if err != nil {
				return nil, err
			}
			m.Set(str(k), v)
		}
		return m, nil
	case attr:
		o, err := in.eval(x.obj, sc)
		if err != nil {
			return nil, err
		}
		return getAttr(o, x.name), nil
	case index:
		o, err := in.eval(x.obj, sc)
		if err != nil {
			return nil, err
		}
		k, err := in.eval(x.idx, sc)
		if err != nil {
			return nil, err
		}
		return getItem(o, k), nil
	case slice:
		return in.evalSlice(x, sc)
	case call:
		return in.evalCall(x, sc)
	case filter:
		return in.evalFilter(x, sc)
	case test:
		v, err := in.eval(x.obj, sc)
		if err != nil {
			return nil, err
		}
		args, err := in.evalAll(x.args, sc)
		if err != nil {
			return nil, err
		}
		r, err := applyTest(x.name, v, args)
		if err != nil {
			return nil, err
		}
		return r != x.negate, nil
	case unary:
		v, err := in.eval(x.x, sc)
		if err != nil {
			return nil, err
		}
		switch x.op {
		case "not":
			return !truthy(v), nil
		case "-":
			i, f, isInt, ok := toNumber(v)
			if !ok {
				return nil, fmt.Errorf("template: cannot negate %s", typeName(v))
			}
			if isInt {
				return -i, nil
			}
			return -f, nil
		}
		return v, nil
	case binary:
		return in.evalBinary(x, sc)
	case cond:
		c, err := in.eval(x.test, sc)
		if err != nil {
			return nil, err
		}
		if truthy(c) {
			return in.eval(x.then, sc)
		}
		return in.eval(x.else_, sc)
	}
	return nil, fmt.Errorf("template: unknown expression %T", e)
}

func getItem(o, k Value) Value {
	switch x := o.(type) {
	case *Map:
		if v, ok := x.Get(str(k)); ok {
			return v
		}
		return Undefined{}
	case []Value:
		if i, _, isInt, ok := toNumber(k); ok && isInt {
			if i < 0 {
				i += int64(len(x))
			}
			if i >= 0 && i < int64(len(x)) {
				return x[i]
			}
		}
		return Undefined{}
	case string:
		if i, _, isInt, ok := toNumber(k); ok && isInt {
			r := []rune(x)
			if i < 0 {
				i += int64(len(r))
			}
			if i >= 0 && i < int64(len(r)) {
				return string(r[i])
			}
		}
		return Undefined{}
	}
	if s, ok := k.(string); ok {
		return getAttr(o, s)
	}
	return Undefined{}
}

func (in *interp) evalSlice(x slice, sc *scope) (Value, error) {
	o, err := in.eval(x.obj, sc)
	if err != nil {
		return nil, err
	}
	var items []Value
	s, isStr := o.(string)
	if isStr {
		for _, r := range s {
			items = append(items, string(r))
		}
	} else if l, ok := o.([]Value); ok {
		items = l
	} else {
		return nil, fmt.Errorf("template: cannot slice %s", typeName(o))
	}
	bound := func(e expr, def int64) (int64, bool, error) {
		if e == nil {
			return def, false, nil
		}
		v, err := in.eval(e, sc)
		if err != nil {
			return 0, false, err
		}
		i, _, _, ok := toNumber(v)
		if !ok {
			return def, false, nil
		}
		return i, true, nil
	}
	n := int64(len(items))
	step, _, err := bound(x.step, 1)
	if err != nil {
		return nil, err
	}
	if step == 0 {
		return nil, fmt.Errorf("template: slice step cannot be zero")
	}
	start, hasStart, err := bound(x.start, 0)
	if err != nil {
		return nil, err
	}
	stop, hasStop, err := bound(x.stop, n)
	if err != nil {
		return nil, err
	}
	norm := func(i int64, lo, hi int64) int64 {
		if i < 0 {
			i += n
		}
		return max(lo, min(i, hi))
	}
	var out []Value
	if step > 0 {
		start, stop = norm(start, 0, n), norm(stop, 0, n)
		for i := start; i < stop; i += step {
			out = append(out, items[i])
		}
	} else {
		if !hasStart {
			start = n - 1
		} else {
			start = norm(start, -1, n-1)
		}
		if !hasStop {
			stop = -1
		} else {
			stop = norm(stop, -1, n-1)
		}
		for i := start; i > stop; i += step {
			out = append(out, items[i])
		}
	}
	if isStr {
		var b strings.Builder
		for _, v := range out {
			b.WriteString(v.(string))
		}
		return b.String(), nil
	}
	if out == nil {
		out = []Value{}
	}
	return out, nil
}

func (in *interp) evalCall(x call, sc *scope) (Value, error) {
	fn, err := in.eval(x.fn, sc)
	if err != nil {
		return nil, err
	}
	args, kw, err := in.evalArgs(x.args, x.kwargs, sc)
	if err != nil {
		return nil, err
	}
	if f, ok := fn.(callable); ok {
		if n, ok := x.fn.(name); ok && n.n == "namespace" {
			m := NewMap()
			if len(args) == 1 {
				if src, ok := args[0].(*Map); ok {
					for _, k := range src.keys {
						m.Set(k, src.vals[k])
					}
				}
			}
			for _, k := range x.kwkeys {
				m.Set(k, kw[k])
			}
			return m, nil
		}
		return f(args, kw)
	}
	return nil, fmt.Errorf("template: %s is not callable", exprName(x.fn))
}

func exprName(e expr) string {
	switch x := e.(type) {
	case name:
		return x.n
	case attr:
		return exprName(x.obj) + "." + x.name
	}
	return "expression"
}

func (in *interp) evalBinary(x binary, sc *scope) (Value, error) {
	l, err := in.eval(x.l, sc)
	if err != nil {
		return nil, err
	}
	switch x.op {
	case "and":
		if !truthy(l) {
			return l, nil
		}
		return in.eval(x.r, sc)
	case "or":
		if truthy(l) {
			return l, nil
		}
		return in.eval(x.r, sc)
	}
	r, err := in.eval(x.r, sc)
	if err != nil {
		return nil, err
	}
	switch x.op {
	case "==":
		return equal(l, r), nil
	case "!=":
		return !equal(l, r), nil
	case "~":
		return str(l) + str(r), nil
	case "in", "not in":
		found := contains(r, l)
		return found == (x.op == "in"), nil
	}
	if x.op == "+" {
		if ls, ok := l.(string); ok {
			if rs, ok := r.(string); ok {
				return ls + rs, nil
			}
		}
		if ll, ok := l.([]Value); ok {
			if rl, ok := r.([]Value); ok {
				return append(slices.Clone(ll), rl...), nil
			}
		}
	}
	if x.op == "<" || x.op == ">" || x.op == "<=" || x.op == ">=" {
		c, err := compare(l, r)
		if err != nil {
			return nil, err
		}
		switch x.op {
		case "<":
			return c < 0, nil
		case ">":
			return c > 0, nil
		case "<=":
			return c <= 0, nil
		}
		return c >= 0, nil
	}
	li, lf, lInt, ok1 := toNumber(l)
	ri, rf, rInt, ok2 := toNumber(r)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("template: unsupported operand types for %s: %s and %s", x.op, typeName(l), typeName(r))
	}
	both := lInt && rInt
	switch x.op {
	case "+":
		if both {
			return li + ri, nil
		}
		return lf + rf, nil
	case "-":
		if both {
			return li - ri, nil
		}
		return lf - rf, nil
	case "*":
		if both {
			return li * ri, nil
		}
		return lf * rf, nil
	case "/":
		if rf == 0 {
			return nil, fmt.Errorf("template: division by zero")
		}
		return lf / rf, nil
	case "//":
		if rf == 0 {
			return nil, fmt.Errorf("template: division by zero")
		}
		if both {
			q := li / ri
			if (li%ri != 0) && ((li < 0) != (ri < 0)) {
				q--
			}
			return q, nil
		}
		return math.Floor(lf / rf), nil
	case "%":
		if rf == 0 {
			return nil, fmt.Errorf("template: modulo by zero")
		}
		if both {
			m := li % ri
			if m != 0 && (m < 0) != (ri < 0) {
				m += ri
			}
			return m, nil
		}
		return math.Mod(lf, rf), nil
	case "**":
		if both && ri >= 0 {
			return int64(math.Pow(float64(li), float64(ri))), nil
		}
		return math.Pow(lf, rf), nil
	}
	return nil, fmt.Errorf("template: unknown operator %s", x.op)
}

func equal(a, b Value) bool {
	_, af, _, aNum := toNumber(a)
	_, bf, _, bNum := toNumber(b)
	_, aBool := a.(bool)
	_, bBool := b.(bool)
	if aNum && bNum && !aBool && !bBool {
		return af == bf
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case Undefined:
		_, ok := b.(Undefined)
		return ok
	case bool, string:
		return a == b
	case []Value:
		y, ok := b.([]Value)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case *Map:
		y, ok := b.(*Map)
		if !ok || x.Len() != y.Len() {
			return false
		}
		for _, k := range x.keys {
			v, ok := y.vals[k]
			if !ok || !equal(x.vals[k], v) {
				return false
			}
		}
		return true
	}
	return false
}

func compare(a, b Value) (int, error) {
	if as, ok := a.(string); ok {
		if bs, ok := b.(string); ok {
			return strings.Compare(as, bs), nil
		}
	}
	_, af, _, ok1 := toNumber(a)
	_, bf, _, ok2 := toNumber(b)
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("template: cannot compare %s and %s", typeName(a), typeName(b))
	}
	switch {
	case af < bf:
		return -1, nil
	case af > bf:
		return 1, nil
	}
	return 0, nil
}

func contains(container, item Value) bool {
	switch c := container.(type) {
	case string:
		s, ok := item.(string)
		return ok && strings.Contains(c, s)
	case []Value:
		for _, e := range c {
			if equal(e, item) {
				return true
			}
		}
	case *Map:
		_, ok := c.vals[str(item)]
		return ok
	}
	return false
}

func getAttr(o Value, n string) Value {
	switch x := o.(type) {
	case *Map:
		if v, ok := x.Get(n); ok {
			return v
		}
		return mapMethod(x, n)
	case string:
		return stringMethod(x, n)
	case []Value:
		return listMethod(x, n)
	}
	return Undefined{}
}

func mapMethod(m *Map, n string) Value {
	switch n {
	case "items":
		return callable(func([]Value, map[string]Value) (Value, error) {
			out := make([]Value, len(m.keys))
			for i, k := range m.keys {
				out[i] = []Value{k, m.vals[k]}
			}
			return out, nil
		})
	case "keys":
		return callable(func([]Value, map[string]Value) (Value, error) {
			out := make([]Value, len(m.keys))
			for i, k := range m.keys {
				out[i] = k
			}
			return out, nil
		})
	case "values":
		return callable(func([]Value, map[string]Value) (Value, error) {
			out := make([]Value, len(m.keys))
			for i, k := range m.keys {
				out[i] = m.vals[k]
			}
			return out, nil
		})
	case "get":
		return callable(func(args []Value, _ map[string]Value) (Value, error) {
			if len(args) == 0 {
				return nil, fmt.Errorf("template: get() needs a key")
			}
			if v, ok := m.Get(str(args[0])); ok {
				return v, nil
			}
			if len(args) > 1 {
				return args[1], nil
			}
			return nil, nil
		})
	}
	return Undefined{}
}

func listMethod(l []Value, n string) Value {
	if n == "length" {
		return int64(len(l))
	}
	return Undefined{}
}

func stringArg(args []Value, i int, def string) string {
	if i < len(args) {
		if s, ok := args[i].(string); ok {
			return s
		}
	}
	return def
}

func stringMethod(s, n string) Value {
	f := func(fn func(args []Value) (Value, error)) Value {
		return callable(func(args []Value, _ map[string]Value) (Value, error) { return fn(args) })
	}
	trimSet := func(args []Value) string { return stringArg(args, 0, "") }
	switch n {
	case "upper":
		return f(func([]Value) (Value, error) { return strings.ToUpper(s), nil })
	case "lower":
		return f(func([]Value) (Value, error) { return strings.ToLower(s), nil })
	case "strip":
		return f(func(a []Value) (Value, error) {
			if c := trimSet(a); c != "" {
				return strings.Trim(s, c), nil
			}
			return strings.TrimFunc(s, unicode.IsSpace), nil
		})
	case "lstrip":
		return f(func(a []Value) (Value, error) {
			if c := trimSet(a); c != "" {
				return strings.TrimLeft(s, c), nil
			}
			return strings.TrimLeftFunc(s, unicode.IsSpace), nil
		})
	case "rstrip":
		return f(func(a []Value) (Value, error) {
			if c := trimSet(a); c != "" {
				return strings.TrimRight(s, c), nil
			}
			return strings.TrimRightFunc(s, unicode.IsSpace), nil
		})
	case "startswith":
		return f(func(a []Value) (Value, error) { return strings.HasPrefix(s, stringArg(a, 0, "")), nil })
	case "endswith":
		return f(func(a []Value) (Value, error) { return strings.HasSuffix(s, stringArg(a, 0, "")), nil })
	case "split":
		return f(func(a []Value) (Value, error) {
			var parts []string
			if sep := stringArg(a, 0, ""); sep != "" {
				parts = strings.Split(s, sep)
			} else {
				parts = strings.Fields(s)
			}
			out := make([]Value, len(parts))
			for i, p := range parts {
				out[i] = p
			}
			return out, nil
		})
	case "replace":
		return f(func(a []Value) (Value, error) {
			return strings.ReplaceAll(s, stringArg(a, 0, ""), stringArg(a, 1, "")), nil
		})
	case "title":
		return f(func([]Value) (Value, error) { return titleCase(s), nil })
	case "capitalize":
		return f(func([]Value) (Value, error) { return capitalize(s), nil })
	case "count":
		return f(func(a []Value) (Value, error) { return int64(strings.Count(s, stringArg(a, 0, ""))), nil })
	case "find":
		return f(func(a []Value) (Value, error) { return int64(strings.Index(s, stringArg(a, 0, ""))), nil })
	case "join":
		return f(func(a []Value) (Value, error) {
			if len(a) == 0 {
				return "", nil
			}
			items, err := iterate(a[0])
			if err != nil {
				return nil, err
			}
			parts := make([]string, len(items))
			for i, v := range items {
				parts[i] = str(v)
			}
			return strings.Join(parts, s), nil
		})
	}
	return Undefined{}
}

func titleCase(s string) string {
	var b strings.Builder
	prev := false
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if !prev {
				r = unicode.ToUpper(r)
			} else {
				r = unicode.ToLower(r)
			}
			prev = true
		} else {
			prev = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	r := []rune(strings.ToLower(s))
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}
