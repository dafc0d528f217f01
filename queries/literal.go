package queries

import (
	"fmt"
	"strings"
)

// describe joins a SQL file's leading "-- " comment lines.
func describe(text string) string {
	var desc []string
	for _, line := range strings.Split(text, "\n") {
		c, ok := strings.CutPrefix(line, "--")
		if !ok {
			break
		}
		if paramLine.MatchString(strings.TrimSpace(line)) { // listed as Params
			continue
		}
		desc = append(desc, strings.TrimSpace(c))
	}
	return strings.Join(desc, " ")
}

// Ident renders a name as a quoted DuckDB identifier (a table or column
// name that may hold any character).
func Ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Literal renders a Go value as a DuckDB literal: strings (quoted), numbers,
// bools, and lists of them.
func Literal(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return "'" + strings.ReplaceAll(x, "'", "''") + "'", nil
	case bool:
		if x {
			return "true", nil
		}
		return "false", nil
	case int:
		return fmt.Sprint(x), nil
	case int64:
		return fmt.Sprint(x), nil
	case float64:
		return fmt.Sprintf("%v::DOUBLE", x), nil
	case []string:
		parts := make([]string, len(x))
		for i, s := range x {
			parts[i], _ = Literal(s)
		}
		if len(parts) == 0 {
			return "[]::VARCHAR[]", nil
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			p, err := Literal(e)
			if err != nil {
				return "", err
			}
			parts[i] = p
		}
		if len(parts) == 0 {
			return "[]::VARCHAR[]", nil
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	}
	return "", fmt.Errorf("no SQL literal for %T", v)
}
