package queries

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/duckdb/duckdb-go/v2"
)

// Result is a query's columns and rows, as Go values.
type Result struct {
	Columns []string
	Rows    [][]any
}

// Query runs one statement and collects its result.
func (e *Engine) Query(ctx context.Context, query string, args ...any) (*Result, error) {
	rows, err := e.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: cols}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			vals[i] = normalize(v)
		}
		res.Rows = append(res.Rows, vals)
	}
	return res, rows.Err()
}

// normalize turns driver values into JSON-friendly ones.
func normalize(v any) any {
	switch x := v.(type) {
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = normalize(x[k])
		}
		return x
	case duckdb.Map:
		m := make(map[string]any, len(x))
		for k, val := range x {
			m[fmt.Sprint(k)] = normalize(val)
		}
		return m
	case duckdb.UUID:
		return x.String()
	case duckdb.Decimal:
		f, _ := new(big.Float).SetInt(x.Value).Float64()
		for range x.Scale {
			f /= 10
		}
		return f
	case duckdb.Interval:
		return fmt.Sprintf("%d months %d days %d µs", x.Months, x.Days, x.Micros)
	case *big.Int:
		return x.String()
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return v
}

// cell renders a value for a text table or CSV.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return x
	case []any, map[string]any, []byte:
		b, _ := json.Marshal(x)
		return string(b)
	case float64:
		return fmt.Sprint(x)
	}
	return fmt.Sprint(v)
}

// WriteTable writes an aligned text table. Long cells are cut at maxWidth
// runes (0: no limit) and newlines shown as ⏎.
func (r *Result) WriteTable(w io.Writer, maxWidth int) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(r.Columns, "\t"))
	seps := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		seps[i] = strings.Repeat("-", max(3, utf8.RuneCountInString(c)))
	}
	fmt.Fprintln(tw, strings.Join(seps, "\t"))
	for _, row := range r.Rows {
		cells := make([]string, len(row))
		for i, v := range row {
			s := strings.NewReplacer("\n", "⏎", "\t", " ", "\r", "").Replace(cell(v))
			if maxWidth > 0 && utf8.RuneCountInString(s) > maxWidth {
				s = string([]rune(s)[:maxWidth-1]) + "…"
			}
			cells[i] = s
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "(%d rows)\n", len(r.Rows))
	return err
}

// WriteJSON writes an array of objects, keys in column order.
func (r *Result) WriteJSON(w io.Writer) error {
	var b strings.Builder
	b.WriteString("[")
	for i, row := range r.Rows {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n  {")
		for j, col := range r.Columns {
			if j > 0 {
				b.WriteString(", ")
			}
			k, _ := json.Marshal(col)
			v, err := json.Marshal(row[j])
			if err != nil {
				return fmt.Errorf("encode column %s of row %d: %w", col, i, err)
			}
			b.Write(k)
			b.WriteString(": ")
			b.Write(v)
		}
		b.WriteString("}")
	}
	if len(r.Rows) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteCSV writes a header and one record per row.
func (r *Result) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(r.Columns); err != nil {
		return err
	}
	rec := make([]string, len(r.Columns))
	for _, row := range r.Rows {
		for i, v := range row {
			if v == nil {
				rec[i] = ""
			} else {
				rec[i] = cell(v)
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
