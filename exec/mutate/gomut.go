package mutate

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
)

// findGo walks a Go file's functions.
func findGo(file string, src []byte) ([]Mutation, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	off := func(p token.Pos) int { return fset.Position(p).Offset }
	text := func(n ast.Node) string { return string(src[off(n.Pos()):off(n.End())]) }
	var out []Mutation
	add := func(kind string, n ast.Node, repl, fn string) {
		out = append(out, Mutation{Kind: kind, Start: off(n.Pos()), End: off(n.End()), Replacement: repl, Func: fn,
			Desc: fmt.Sprintf("%s → %s", oneLine(text(n)), oneLine(repl))})
	}
	for _, decl := range f.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		fn := fd.Name.Name
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BlockStmt:
				for _, st := range n.List {
					switch st := st.(type) {
					case *ast.ExprStmt, *ast.AssignStmt, *ast.IncDecStmt:
						if a, ok := st.(*ast.AssignStmt); ok && a.Tok == token.DEFINE {
							continue // removing a declaration breaks the build, not the behaviour
						}
						add(RemoveStmt, st, "", fn)
					case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt, *ast.SwitchStmt:
						add(RemoveBlock, st, "", fn)
					}
				}
			case *ast.IfStmt:
				add(InvertCond, n.Cond, "!("+text(n.Cond)+")", fn)
			case *ast.BinaryExpr:
				if to, ok := swaps[n.Op.String()]; ok {
					p := off(n.OpPos)
					out = append(out, Mutation{Kind: SwapOp, Start: p, End: p + len(n.Op.String()), Replacement: to, Func: fn,
						Desc: fmt.Sprintf("%s → %s in %s", n.Op, to, oneLine(text(n)))})
				}
			case *ast.BasicLit:
				if n.Kind == token.INT {
					if v, err := strconv.ParseInt(n.Value, 0, 64); err == nil && v < 1<<20 {
						add(OffByOne, n, strconv.FormatInt(v+1, 10), fn)
					}
				}
			case *ast.ReturnStmt:
				for _, r := range n.Results {
					if repl, ok := goReturnSwap(r); ok {
						add(ChangeReturn, r, repl, fn)
					}
				}
			}
			return true
		})
	}
	return out, nil
}

// goReturnSwap changes a returned value whose replacement needs no types:
// booleans flip, integers move, a returned error becomes nil.
func goReturnSwap(e ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.Ident:
		switch e.Name {
		case "true":
			return "false", true
		case "false":
			return "true", true
		case "err":
			return "nil", true
		}
	case *ast.BasicLit:
		if e.Kind == token.INT {
			if e.Value == "0" {
				return "1", true
			}
			return "0", true
		}
	case *ast.UnaryExpr:
		if e.Op == token.NOT {
			return "true", false
		}
	}
	return "", false
}

func oneLine(s string) string {
	const max = 60
	out := make([]rune, 0, len(s))
	space := false
	for _, r := range s {
		if r == '\n' || r == '\t' || r == ' ' {
			if !space {
				out = append(out, ' ')
			}
			space = true
			continue
		}
		space = false
		out = append(out, r)
	}
	if len(out) > max {
		return string(out[:max]) + "…"
	}
	if len(out) == 0 {
		return "(nothing)"
	}
	return string(out)
}
