package queries

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

// Named is an embedded query.
type Named struct {
	Name        string
	Description string // the file's leading "-- " comment lines
	SQL         string
	Params      []Param // declared by "-- param name = default: doc" lines
}

// Load returns the embedded query sql/<name>.sql.
func Load(name string) (Named, error) {
	data, err := sqlFiles.ReadFile("sql/" + name + ".sql")
	if err != nil {
		return Named{}, fmt.Errorf("query %q: not an embedded query (swelake sql --list shows them)", name)
	}
	return Named{Name: name, Description: describe(string(data)), SQL: string(data), Params: params(string(data))}, nil
}

// List returns every embedded query, by name.
func List() ([]Named, error) {
	entries, err := fs.ReadDir(sqlFiles, "sql")
	if err != nil {
		return nil, err
	}
	var out []Named
	for _, e := range entries {
		q, err := Load(strings.TrimSuffix(e.Name(), ".sql"))
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}

// FromText is a query read from elsewhere (a user's .sql file), with its
// description and declared parameters as an embedded query's.
func FromText(name, text string) Named {
	return Named{Name: name, Description: describe(text), SQL: text, Params: params(text)}
}
