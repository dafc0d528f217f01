package queries

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/swelake/swelake/internal/suggest"
)

// Param is a named parameter of an embedded query: the query reads it as
// $name, and declares it with its default in a header line
//
//	-- param hi = 0.6667: the band's upper bound
//
// A value is a number when it parses as one, a string otherwise (” is the
// empty string).
type Param struct {
	Name    string
	Default any
	Doc     string
}

var paramLine = regexp.MustCompile(`^--\s*param\s+([a-z_][a-z0-9_]*)\s*=\s*([^:]*?)\s*(?::\s*(.*))?$`)

// params reads a query's declared parameters from its leading comments.
func params(text string) []Param {
	var out []Param
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "--") {
			break
		}
		if m := paramLine.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			out = append(out, Param{Name: m[1], Default: ParseValue(m[2]), Doc: m[3]})
		}
	}
	return out
}

// ParseValue reads a parameter's value as given on a command line: a
// number when it parses as one, ” as the empty string, anything else as
// a string.
func ParseValue(s string) any {
	if s == "''" {
		return ""
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f
	}
	return s
}

// Args are the query's parameters as named arguments for Engine.Query:
// each declared parameter's default, or its value in set. A key of set
// the query does not declare is an error naming the ones it does.
func (q Named) Args(set map[string]any) ([]any, error) {
	declared := map[string]any{}
	for _, p := range q.Params {
		declared[p.Name] = p.Default
	}
	for _, k := range slices.Sorted(maps.Keys(set)) {
		if _, ok := declared[k]; !ok {
			names := slices.Sorted(maps.Keys(declared))
			if len(names) == 0 {
				return nil, fmt.Errorf("query %s: unknown parameter %q: it takes none", q.Name, k)
			}
			hint := ""
			if s := suggest.Closest(k, names); s != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", s)
			}
			return nil, fmt.Errorf("query %s: unknown parameter %q%s; it takes %s", q.Name, k, hint, strings.Join(names, ", "))
		}
		declared[k] = set[k]
	}
	var args []any
	for _, p := range q.Params {
		args = append(args, sql.Named(p.Name, declared[p.Name]))
	}
	return args, nil
}

// Run runs an embedded (or FromText) query with its parameters: the
// defaults, overridden by set.
func (e *Engine) Run(ctx context.Context, q Named, set map[string]any) (*Result, error) {
	args, err := q.Args(set)
	if err != nil {
		return nil, err
	}
	return e.Query(ctx, q.SQL, args...)
}
