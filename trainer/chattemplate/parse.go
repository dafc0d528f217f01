package chattemplate

import (
	"fmt"
	"strconv"
)

// Statements.
type (
	node interface{}

	textNode   struct{ text string }
	outputNode struct{ expr expr }
	ifNode     struct {
		cond        expr
		body, else_ []node
	}
	forNode struct {
		targets     []string
		iter        expr
		filter      expr
		body, else_ []node
	}
	setNode struct {
		name, attr string // attr: ns.attr = ...
		targets    []string
		value      expr
		body       []node // block set
	}
	macroNode struct {
		name     string
		params   []string
		defaults map[string]expr
		body     []node
	}
	breakNode    struct{}
	continueNode struct{}
)

// Expressions.
type (
	expr interface{}

	literal  struct{ v Value }
	name     struct{ n string }
	listLit  struct{ items []expr }
	tupleLit struct{ items []expr }
	dictLit  struct{ keys, vals []expr }
	attr     struct {
		obj  expr
		name string
	}
	index struct{ obj, idx expr }
	slice struct {
		obj               expr
		start, stop, step expr
	}
	call struct {
		fn     expr
		args   []expr
		kwargs map[string]expr
		kwkeys []string
	}
	filter struct {
		obj    expr
		name   string
		args   []expr
		kwargs map[string]expr
	}
	test struct {
		obj    expr
		name   string
		args   []expr
		negate bool
	}
	unary struct {
		op string
		x  expr
	}
	binary struct {
		op   string
		l, r expr
	}
	cond struct{ test, then, else_ expr }
)

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}
func (p *parser) isOp(v string) bool   { t := p.peek(); return t.kind == tOp && t.val == v }
func (p *parser) isName(v string) bool { t := p.peek(); return t.kind == tName && t.val == v }

func (p *parser) errf(format string, a ...any) error {
	return fmt.Errorf("template: offset %d: %s", p.peek().pos, fmt.Sprintf(format, a...))
}

func (p *parser) expectOp(v string) error {
	if !p.isOp(v) {
		return p.errf("expected %q, found %q", v, p.peek().val)
	}
	p.next()
	return nil
}

func (p *parser) expectName() (string, error) {
	t := p.next()
	if t.kind != tName {
		return "", fmt.Errorf("template: offset %d: expected a name, found %q", t.pos, t.val)
	}
	return t.val, nil
}

func (p *parser) expectKind(k tokKind, what string) error {
	if p.peek().kind != k {
		return p.errf("expected %s, found %q", what, p.peek().val)
	}
	p.next()
	return nil
}

func parse(toks []token) ([]node, error) {
	p := &parser{toks: toks}
	body, end, err := p.block()
	if err != nil {
		return nil, err
	}
	if end != "" {
		return nil, p.errf("unexpected {%% %s %%}", end)
	}
	return body, nil
}

// block parses nodes until EOF or a statement named in stop (returned; the
// stop keyword itself is consumed, the rest of its tag is not).
func (p *parser) block(stop ...string) ([]node, string, error) {
	var out []node
	for {
		t := p.peek()
		switch t.kind {
		case tEOF:
			if len(stop) > 0 {
				return nil, "", p.errf("missing {%% %s %%}", stop[len(stop)-1])
			}
			return out, "", nil
		case tText:
			p.next()
			out = append(out, textNode{t.val})
		case tOpenExpr:
			p.next()
			e, err := p.expr()
			if err != nil {
				return nil, "", err
			}
			if err := p.expectKind(tCloseExpr, "}}"); err != nil {
				return nil, "", err
			}
			out = append(out, outputNode{e})
		case tOpenStmt:
			p.next()
			kw := p.peek()
			if kw.kind != tName {
				return nil, "", p.errf("expected a statement")
			}
			for _, s := range stop {
				if kw.val == s {
					p.next()
					return out, s, nil
				}
			}
			p.next()
			n, err := p.statement(kw.val)
			if err != nil {
				return nil, "", err
			}
			if n != nil {
				out = append(out, n)
			}
		default:
			return nil, "", p.errf("unexpected %q", t.val)
		}
	}
}

func (p *parser) closeStmt() error { return p.expectKind(tCloseStmt, "%}") }

func (p *parser) statement(kw string) (node, error) {
	switch kw {
	case "if":
		return p.ifStmt()
	case "for":
		return p.forStmt()
	case "set":
		return p.setStmt()
	case "macro":
		return p.macroStmt()
	case "break":
		return breakNode{}, p.closeStmt()
	case "continue":
		return continueNode{}, p.closeStmt()
	case "generation":
		// transformers' {% generation %} marks assistant text for masks; it
		// renders its body unchanged.
		if err := p.closeStmt(); err != nil {
			return nil, err
		}
		body, _, err := p.block("endgeneration")
		if err != nil {
			return nil, err
		}
		return ifNode{cond: literal{true}, body: body}, p.closeStmt()
	}
	return nil, p.errf("unsupported statement %q", kw)
}

func (p *parser) ifStmt() (node, error) {
	c, err := p.expr()
	if err != nil {
		return nil, err
	}
	if err := p.closeStmt(); err != nil {
		return nil, err
	}
	body, end, err := p.block("elif", "else", "endif")
	if err != nil {
		return nil, err
	}
	n := ifNode{cond: c, body: body}
	switch end {
	case "elif":
		e, err := p.ifStmt()
		if err != nil {
			return nil, err
		}
		n.else_ = []node{e}
		return n, nil
	case "else":
		if err := p.closeStmt(); err != nil {
			return nil, err
		}
		if n.else_, _, err = p.block("endif"); err != nil {
			return nil, err
		}
	}
	return n, p.closeStmt()
}

func (p *parser) forStmt() (node, error) {
	var n forNode
	for {
		name, err := p.expectName()
		if err != nil {
			return nil, err
		}
		n.targets = append(n.targets, name)
		if !p.isOp(",") {
			break
		}
		p.next()
	}
	if !p.isName("in") {
		return nil, p.errf("expected 'in'")
	}
	p.next()
	var err error
	if n.iter, err = p.orExpr(); err != nil {
		return nil, err
	}
	if p.isName("if") {
		p.next()
		if n.filter, err = p.orExpr(); err != nil {
			return nil, err
		}
	}
	if p.isName("recursive") {
		return nil, p.errf("recursive loops are not supported")
	}
	if err := p.closeStmt(); err != nil {
		return nil, err
	}
	body, end, err := p.block("else", "endfor")
	if err != nil {
		return nil, err
	}
	n.body = body
	if end == "else" {
		if err := p.closeStmt(); err != nil {
			return nil, err
		}
		if n.else_, _, err = p.block("endfor"); err != nil {
			return nil, err
		}
	}
	return n, p.closeStmt()
}

func (p *parser) setStmt() (node, error) {
	var n setNode
	first, err := p.expectName()
	if err != nil {
		return nil, err
	}
	n.name = first
	if p.isOp(".") {
		p.next()
		if n.attr, err = p.expectName(); err != nil {
			return nil, err
		}
	} else if p.isOp(",") {
		n.targets = []string{first}
		for p.isOp(",") {
			p.next()
			t, err := p.expectName()
			if err != nil {
				return nil, err
			}
			n.targets = append(n.targets, t)
		}
	}
	if p.peek().kind == tCloseStmt {
		p.next()
		if n.body, _, err = p.block("endset"); err != nil {
			return nil, err
		}
		return n, p.closeStmt()
	}
	if err := p.expectOp("="); err != nil {
		return nil, err
	}
	if n.value, err = p.tupleOrExpr(); err != nil {
		return nil, err
	}
	return n, p.closeStmt()
}

func (p *parser) macroStmt() (node, error) {
	n := macroNode{defaults: map[string]expr{}}
	var err error
	if n.name, err = p.expectName(); err != nil {
		return nil, err
	}
	if err := p.expectOp("("); err != nil {
		return nil, err
	}
	for !p.isOp(")") {
		a, err := p.expectName()
		if err != nil {
			return nil, err
		}
		n.params = append(n.params, a)
		if p.isOp("=") {
			p.next()
			if n.defaults[a], err = p.expr(); err != nil {
				return nil, err
			}
		}
		if p.isOp(",") {
			p.next()
		}
	}
	p.next()
	if err := p.closeStmt(); err != nil {
		return nil, err
	}
	if n.body, _, err = p.block("endmacro"); err != nil {
		return nil, err
	}
	return n, p.closeStmt()
}

// tupleOrExpr: a, b, c (a tuple) or one expression.
func (p *parser) tupleOrExpr() (expr, error) {
	e, err := p.expr()
	if err != nil || !p.isOp(",") {
		return e, err
	}
	items := []expr{e}
	for p.isOp(",") {
		p.next()
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		items = append(items, x)
	}
	return tupleLit{items}, nil
}

// expr: the conditional expression `a if c else b`.
func (p *parser) expr() (expr, error) {
	e, err := p.orExpr()
	if err != nil {
		return nil, err
	}
	for p.isName("if") {
		p.next()
		c, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		var alt expr = literal{Undefined{}}
		if p.isName("else") {
			p.next()
			if alt, err = p.expr(); err != nil {
				return nil, err
			}
		}
		e = cond{c, e, alt}
	}
	return e, nil
}

func (p *parser) orExpr() (expr, error) {
	l, err := p.andExpr()
	for err == nil && p.isName("or") {
		p.next()
		var r expr
		r, err = p.andExpr()
		l = binary{"or", l, r}
	}
	return l, err
}

func (p *parser) andExpr() (expr, error) {
	l, err := p.notExpr()
	for err == nil && p.isName("and") {
		p.next()
		var r expr
		r, err = p.notExpr()
		l = binary{"and", l, r}
	}
	return l, err
}

func (p *parser) notExpr() (expr, error) {
	if p.isName("not") {
		p.next()
		x, err := p.notExpr()
		return unary{"not", x}, err
	}
	return p.compare()
}

func (p *parser) compare() (expr, error) {
	l, err := p.math1()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		var op string
		switch {
		case t.kind == tOp && (t.val == "==" || t.val == "!=" || t.val == "<" || t.val == ">" || t.val == "<=" || t.val == ">="):
			op = t.val
			p.next()
		case t.kind == tName && t.val == "in":
			op = "in"
			p.next()
		case t.kind == tName && t.val == "not" && p.toks[p.pos+1].kind == tName && p.toks[p.pos+1].val == "in":
			op = "not in"
			p.pos += 2
		default:
			return l, nil
		}
		r, err := p.math1()
		if err != nil {
			return nil, err
		}
		l = binary{op, l, r}
	}
}

func (p *parser) math1() (expr, error) {
	l, err := p.concat()
	for err == nil && (p.isOp("+") || p.isOp("-")) {
		op := p.next().val
		var r expr
		r, err = p.concat()
		l = binary{op, l, r}
	}
	return l, err
}

func (p *parser) concat() (expr, error) {
	l, err := p.math2()
	for err == nil && p.isOp("~") {
		p.next()
		var r expr
		r, err = p.math2()
		l = binary{"~", l, r}
	}
	return l, err
}

func (p *parser) math2() (expr, error) {
	l, err := p.pow()
	for err == nil && (p.isOp("*") || p.isOp("/") || p.isOp("//") || p.isOp("%")) {
		op := p.next().val
		var r expr
		r, err = p.pow()
		l = binary{op, l, r}
	}
	return l, err
}

func (p *parser) pow() (expr, error) {
	l, err := p.unaryExpr()
	for err == nil && p.isOp("**") {
		p.next()
		var r expr
		r, err = p.unaryExpr()
		l = binary{"**", l, r}
	}
	return l, err
}

func (p *parser) unaryExpr() (expr, error) {
	if p.isOp("-") || p.isOp("+") {
		op := p.next().val
		x, err := p.unaryExpr()
		return unary{op, x}, err
	}
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	if x, err = p.postfix(x); err != nil {
		return nil, err
	}
	return p.filters(x)
}

func (p *parser) primary() (expr, error) {
	t := p.next()
	switch t.kind {
	case tString:
		s := t.val
		for p.peek().kind == tString { // adjacent literals concatenate
			s += p.next().val
		}
		return literal{s}, nil
	case tInt:
		n, err := strconv.ParseInt(t.val, 10, 64)
		return literal{n}, err
	case tFloat:
		f, err := strconv.ParseFloat(t.val, 64)
		return literal{f}, err
	case tName:
		switch t.val {
		case "true", "True":
			return literal{true}, nil
		case "false", "False":
			return literal{false}, nil
		case "none", "None":
			return literal{nil}, nil
		}
		return name{t.val}, nil
	case tOp:
		switch t.val {
		case "(":
			if p.isOp(")") {
				p.next()
				return tupleLit{}, nil
			}
			e, err := p.tupleOrExpr()
			if err != nil {
				return nil, err
			}
			return e, p.expectOp(")")
		case "[":
			var items []expr
			for !p.isOp("]") {
				e, err := p.expr()
				if err != nil {
					return nil, err
				}
				items = append(items, e)
				if p.isOp(",") {
					p.next()
				} else if !p.isOp("]") {
					return nil, p.errf("expected ',' or ']'")
				}
			}
			p.next()
			return listLit{items}, nil
		case "{":
			var d dictLit
			for !p.isOp("}") {
				k, err := p.expr()
				if err != nil {
					return nil, err
				}
				if err := p.expectOp(":"); err != nil {
					return nil, err
				}
				v, err := p.expr()
				if err != nil {
					return nil, err
				}
				d.keys, d.vals = append(d.keys, k), append(d.vals, v)
				if p.isOp(",") {
					p.next()
				} else if !p.isOp("}") {
					return nil, p.errf("expected ',' or '}'")
				}
			}
			p.next()
			return d, nil
		}
	}
	return nil, fmt.Errorf("template: offset %d: unexpected %q", t.pos, t.val)
}

func (p *parser) postfix(x expr) (expr, error) {
	for {
		switch {
		case p.isOp("."):
			p.next()
			t := p.next()
			if t.kind != tName && t.kind != tInt {
				return nil, fmt.Errorf("template: offset %d: expected an attribute name", t.pos)
			}
			x = attr{x, t.val}
		case p.isOp("["):
			p.next()
			var parts [3]expr
			n, colon := 0, false
			for !p.isOp("]") {
				if p.isOp(":") {
					p.next()
					colon = true
					n++
					if n > 2 {
						return nil, p.errf("too many ':' in a slice")
					}
					continue
				}
				e, err := p.expr()
				if err != nil {
					return nil, err
				}
				parts[n] = e
			}
			p.next()
			if colon {
				x = slice{x, parts[0], parts[1], parts[2]}
			} else {
				x = index{x, parts[0]}
			}
		case p.isOp("("):
			args, kw, keys, err := p.args()
			if err != nil {
				return nil, err
			}
			x = call{x, args, kw, keys}
		default:
			return x, nil
		}
	}
}

func (p *parser) args() ([]expr, map[string]expr, []string, error) {
	if err := p.expectOp("("); err != nil {
		return nil, nil, nil, err
	}
	var args []expr
	kw := map[string]expr{}
	var keys []string
	for !p.isOp(")") {
		if t := p.peek(); t.kind == tName && p.toks[p.pos+1].kind == tOp && p.toks[p.pos+1].val == "=" {
			p.pos += 2
			e, err := p.expr()
			if err != nil {
				return nil, nil, nil, err
			}
			kw[t.val] = e
			keys = append(keys, t.val)
		} else {
			e, err := p.expr()
			if err != nil {
				return nil, nil, nil, err
			}
			args = append(args, e)
		}
		if p.isOp(",") {
			p.next()
		} else if !p.isOp(")") {
			return nil, nil, nil, p.errf("expected ',' or ')'")
		}
	}
	p.next()
	return args, kw, keys, nil
}

// filters parses `| name(args)` and `is [not] test(args)` chains.
func (p *parser) filters(x expr) (expr, error) {
	for {
		switch {
		case p.isOp("|"):
			p.next()
			n, err := p.expectName()
			if err != nil {
				return nil, err
			}
			f := filter{obj: x, name: n}
			if p.isOp("(") {
				if f.args, f.kwargs, _, err = p.args(); err != nil {
					return nil, err
				}
			}
			x = f
		case p.isName("is"):
			p.next()
			t := test{obj: x}
			if p.isName("not") {
				p.next()
				t.negate = true
			}
			tk := p.next()
			if tk.kind != tName {
				return nil, fmt.Errorf("template: offset %d: expected a test name", tk.pos)
			}
			t.name = tk.val
			if p.isOp("(") {
				args, _, _, err := p.args()
				if err != nil {
					return nil, err
				}
				t.args = args
			} else if pk := p.peek(); pk.kind == tString || pk.kind == tInt || pk.kind == tFloat || (pk.kind == tName && pk.val != "and" && pk.val != "or" && pk.val != "else" && pk.val != "if") {
				// `x is sameas y`, `x is equalto 3`: one bare argument
				a, err := p.primary()
				if err != nil {
					return nil, err
				}
				t.args = []expr{a}
			}
			x = t
		default:
			return x, nil
		}
	}
}
