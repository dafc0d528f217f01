package queries

import (
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// The curation SQL: curate/input.sql and curate/actions.sql build the views
// the rules read (cur_input, actions), curate/task_stats.sql the Best-of-N
// statistics, and every curate/rules/<name>.sql is one rule returning
// (rollout_id, reason) for the rollouts it rejects. Adding a rule is adding
// a file there.

// Rule is one embedded curation rule.
type Rule struct {
	Name        string
	Description string // the file's leading comment
	SQL         string
}

// describe joins a SQL file's leading "-- " comment lines.
func describe(text string) string {
	var desc []string
	for _, line := range strings.Split(text, "\n") {
		c, ok := strings.CutPrefix(line, "--")
		if !ok {
			break
		}
		desc = append(desc, strings.TrimSpace(c))
	}
	return strings.Join(desc, " ")
}

// CurationRules returns every embedded rule, by name.
func CurationRules() ([]Rule, error) {
	entries, err := fs.ReadDir(sqlFiles, "curate/rules")
	if err != nil {
		return nil, err
	}
	var out []Rule
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".sql")
		r, err := CurationRule(name)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// CurationRule returns the embedded rule curate/rules/<name>.sql.
func CurationRule(name string) (Rule, error) {
	data, err := sqlFiles.ReadFile("curate/rules/" + name + ".sql")
	if err != nil {
		return Rule{}, fmt.Errorf("curation rule %q: not an embedded rule", name)
	}
	return Rule{Name: name, Description: describe(string(data)), SQL: string(data)}, nil
}

// CurationSQL returns one of the curation building blocks: "input",
// "actions" or "task_stats".
func CurationSQL(name string) (string, error) {
	data, err := sqlFiles.ReadFile("curate/" + name + ".sql")
	if err != nil {
		return "", fmt.Errorf("curation sql %q: %w", name, err)
	}
	return string(data), nil
}

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
