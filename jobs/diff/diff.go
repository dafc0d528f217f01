// Package diff is `swelake lake diff <a> <b>`: what changed between two
// snapshots — rows added, removed and changed, matched by the table's key
// columns (changed: same key, different values in the columns both
// snapshots have), and the schema's columns added, removed or retyped.
package diff

import (
	"context"
	"fmt"
	"github.com/swelake/swelake/jobs/tables"
	"log/slog"
	"slices"
	"strings"

	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/queries"
	"github.com/swelake/swelake/schemas"
)

// Column is a column and its DuckDB type.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Retyped is a column whose type changed.
type Retyped struct {
	Name string `json:"name"`
	From string `json:"from"`
	To   string `json:"to"`
}

// Result explains the difference from A to B.
type Result struct {
	From      string   `json:"from"`
	To        string   `json:"to"`
	Key       []string `json:"key"`
	RowsA     int64    `json:"rows_from"`
	RowsB     int64    `json:"rows_to"`
	Added     int64    `json:"added"`
	Removed   int64    `json:"removed"`
	Changed   int64    `json:"changed"`
	Unchanged int64    `json:"unchanged"`
	// ChangedColumns counts, per column, the changed rows whose value in it
	// differs.
	ChangedColumns map[string]int64 `json:"changed_columns"`
	ColumnsAdded   []Column         `json:"columns_added"`
	ColumnsRemoved []Column         `json:"columns_removed"`
	ColumnsRetyped []Retyped        `json:"columns_retyped"`
	// Examples of keys, up to Limit of each kind.
	AddedKeys   []string `json:"added_keys"`
	RemovedKeys []string `json:"removed_keys"`
	ChangedKeys []string `json:"changed_keys"`
}

// Limit is how many example keys of each kind a result lists.
const Limit = 10

// Run compares snapshot a with snapshot b (refs of one table, or of two
// tables with the same key).
func Run(ctx context.Context, l *lake.Lake, a, b string, log *slog.Logger) (Result, error) {
	var res Result
	var snaps [2]*lake.Snapshot
	for i, ref := range []string{a, b} {
		r, err := lake.ParseRef(ref)
		if err != nil {
			return res, fmt.Errorf("diff: %w", err)
		}
		if snaps[i], err = tables.Pin(ctx, l, ref, r.Table); err != nil {
			return res, fmt.Errorf("diff: %w", err)
		}
	}
	sa, sb := snaps[0], snaps[1]
	res.From, res.To = sa.Ref().String(), sb.Ref().String()
	key := schemas.KeyOf(sa.Table)
	if kb := schemas.KeyOf(sb.Table); key == nil || !slices.Equal(key, kb) {
		return res, fmt.Errorf("diff %s %s: no common key columns (known keys: %v, %v)", res.From, res.To, key, kb)
	}
	res.Key = key
	e, err := queries.Open(ctx, queries.Options{Logger: log})
	if err != nil {
		return res, err
	}
	defer e.Close()
	if err := e.AddSnapshotAs(ctx, l, sa, tables.ParquetSchema(sa.Table), "a"); err != nil {
		return res, fmt.Errorf("diff: %w", err)
	}
	if err := e.AddSnapshotAs(ctx, l, sb, tables.ParquetSchema(sb.Table), "b"); err != nil {
		return res, fmt.Errorf("diff: %w", err)
	}
	common, err := compareColumns(ctx, e, &res)
	if err != nil {
		return res, err
	}
	if err := uniqueKeys(ctx, e, &res); err != nil {
		return res, err
	}
	if err := matchRows(ctx, e, &res, common); err != nil {
		return res, err
	}
	return res, count(ctx, e, &res)
}

// compareColumns fills the columns added, removed and retyped, and returns
// the columns a and b share with one type (the key must be among them).
func compareColumns(ctx context.Context, e *queries.Engine, res *Result) ([]string, error) {
	colsA, err := columns(ctx, e, "a")
	if err != nil {
		return nil, err
	}
	colsB, err := columns(ctx, e, "b")
	if err != nil {
		return nil, err
	}
	typeA := map[string]string{}
	for _, c := range colsA {
		typeA[c.Name] = c.Type
	}
	var common []string
	for _, c := range colsB {
		t, ok := typeA[c.Name]
		switch {
		case !ok:
			res.ColumnsAdded = append(res.ColumnsAdded, c)
		case t != c.Type:
			res.ColumnsRetyped = append(res.ColumnsRetyped, Retyped{Name: c.Name, From: t, To: c.Type})
		default:
			common = append(common, c.Name)
		}
		delete(typeA, c.Name)
	}
	for _, c := range colsA {
		if _, gone := typeA[c.Name]; gone {
			res.ColumnsRemoved = append(res.ColumnsRemoved, c)
		}
	}
	for _, k := range res.Key {
		if !slices.Contains(common, k) {
			return nil, fmt.Errorf("diff %s %s: key column %s is not in both snapshots with one type", res.From, res.To, k)
		}
	}
	return common, nil
}

// uniqueKeys refuses snapshots holding a key twice (written before the lake
// enforced keys): matching rows by key would pair every copy with every
// other and count rows that are not there.
func uniqueKeys(ctx context.Context, e *queries.Engine, res *Result) error {
	cols := make([]string, len(res.Key))
	for i, k := range res.Key {
		cols[i] = queries.Ident(k)
	}
	key := strings.Join(cols, ", ")
	for _, side := range []struct{ view, ref string }{{"a", res.From}, {"b", res.To}} {
		q, err := e.Query(ctx, fmt.Sprintf(`SELECT count(*), CAST(any_value(concat_ws(' / ', %s)) AS VARCHAR) FROM (SELECT %s FROM %s GROUP BY ALL HAVING count(*) > 1)`,
			key, key, side.view))
		if err != nil {
			return fmt.Errorf("diff %s %s: %w", res.From, res.To, err)
		}
		if n := q.Rows[0][0].(int64); n > 0 {
			table, _, _ := strings.Cut(side.ref, "@")
			return fmt.Errorf("diff %s %s: %s holds %d key(s) more than once (first %v): swelake lake dedupe %s first",
				res.From, res.To, side.ref, n, q.Rows[0][1], table)
		}
	}
	return nil
}

// matchRows joins a and b on the key into the temp table d: each key's
// kind (added, removed, changed, unchanged) and the columns that differ.
func matchRows(ctx context.Context, e *queries.Engine, res *Result, common []string) error {
	q := queries.Ident
	var keyEq, keyText []string
	for _, k := range res.Key {
		keyEq = append(keyEq, fmt.Sprintf("a.%s IS NOT DISTINCT FROM b.%s", q(k), q(k)))
		keyText = append(keyText, fmt.Sprintf("CAST(%%[1]s.%s AS VARCHAR)", q(k)))
	}
	var valuesA, valuesB []string
	for _, c := range common {
		valuesA, valuesB = append(valuesA, "a."+q(c)), append(valuesB, "b."+q(c))
	}
	keyOf := func(alias string) string {
		parts := make([]string, len(keyText))
		for i, t := range keyText {
			parts[i] = fmt.Sprintf(t, alias)
		}
		return "concat_ws(' / ', " + strings.Join(parts, ", ") + ")"
	}
	stmt := fmt.Sprintf(`CREATE TEMP TABLE d AS
		SELECT CASE WHEN a_present IS NULL THEN 'added' WHEN b_present IS NULL THEN 'removed'
		            WHEN ha = hb THEN 'unchanged' ELSE 'changed' END AS kind, k, diffs
		FROM (
			SELECT a.__present AS a_present, b.__present AS b_present,
			       CASE WHEN a.__present THEN %s ELSE %s END AS k,
			       hash(row(%s)) AS ha, hash(row(%s)) AS hb,
			       [%s] AS diffs
			FROM (SELECT *, true AS __present FROM a) a FULL OUTER JOIN (SELECT *, true AS __present FROM b) b ON %s)`,
		keyOf("a"), keyOf("b"), strings.Join(valuesA, ", "), strings.Join(valuesB, ", "), diffList(common, q), strings.Join(keyEq, " AND "))
	if _, err := e.DB().ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("diff %s %s: %w", res.From, res.To, err)
	}
	return nil
}

// count reads the counts, example keys and changed columns out of d.
func count(ctx context.Context, e *queries.Engine, res *Result) error {
	counts, err := e.Query(ctx, `SELECT kind, count(*) FROM d GROUP BY kind`)
	if err != nil {
		return err
	}
	for _, row := range counts.Rows {
		n := row[1].(int64)
		switch row[0] {
		case "added":
			res.Added = n
		case "removed":
			res.Removed = n
		case "changed":
			res.Changed = n
		case "unchanged":
			res.Unchanged = n
		}
	}
	res.RowsA, res.RowsB = res.Removed+res.Changed+res.Unchanged, res.Added+res.Changed+res.Unchanged
	for kind, dst := range map[string]*[]string{"added": &res.AddedKeys, "removed": &res.RemovedKeys, "changed": &res.ChangedKeys} {
		ks, err := e.Query(ctx, fmt.Sprintf(`SELECT k FROM d WHERE kind = '%s' ORDER BY k LIMIT %d`, kind, Limit))
		if err != nil {
			return err
		}
		for _, row := range ks.Rows {
			*dst = append(*dst, fmt.Sprint(row[0]))
		}
	}
	res.ChangedColumns = map[string]int64{}
	if res.Changed > 0 {
		cc, err := e.Query(ctx, `SELECT col, count(*) FROM (SELECT unnest(list_filter(diffs, x -> x IS NOT NULL)) AS col FROM d WHERE kind = 'changed') GROUP BY col ORDER BY col`)
		if err != nil {
			return err
		}
		for _, row := range cc.Rows {
			res.ChangedColumns[row[0].(string)] = row[1].(int64)
		}
	}
	return nil
}

// diffList is a list expression naming each common column whose values
// differ between a and b (NULL for equal ones).
func diffList(common []string, q func(string) string) string {
	parts := make([]string, len(common))
	for i, c := range common {
		parts[i] = fmt.Sprintf("CASE WHEN hash(a.%s) IS DISTINCT FROM hash(b.%s) THEN '%s' END", q(c), q(c), strings.ReplaceAll(c, "'", "''"))
	}
	return strings.Join(parts, ", ")
}

func columns(ctx context.Context, e *queries.Engine, view string) ([]Column, error) {
	res, err := e.Query(ctx, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position", view)
	if err != nil {
		return nil, fmt.Errorf("diff: columns of %s: %w", view, err)
	}
	out := make([]Column, len(res.Rows))
	for i, row := range res.Rows {
		out[i] = Column{Name: row[0].(string), Type: row[1].(string)}
	}
	return out, nil
}
