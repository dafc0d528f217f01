package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/jobs/migrate"
	"github.com/swelake/swelake/jobs/tables"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/queries"
	"github.com/swelake/swelake/schemas"
)

func newRawCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "raw <table>[@version] <key>",
		Short: "Print a row's original source bytes, as they were ingested",
		Long: `Prints the source record a row was read from, byte for byte: for
rollouts (schema v3) the bytes its raw_ref points at in the raw source
stored once per input file (raw/sha256/… in the lake, checked by lake
verify); for tables that keep the record inline (tasks, evaluations,
quarantine, rollouts before v3) its raw column. The key is the table's key
column (rollout_id, task_id, evaluation_id); --json prints the reference and
the bytes as a string instead.`,
		Example: `  swelake lake raw rollouts 'my-run/swe-bench/django__django-11099/0'
  swelake lake raw rollouts@4 'my-run/swe-bench/django__django-11099/0' | jq .info
  swelake lake raw tasks swe-bench/django__django-11099`,
		Args: usage(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			ref, err := a.tableArg(args[0])
			if err != nil {
				return err
			}
			key := schemas.KeyOf(ref.Table)
			if len(key) != 1 {
				return usageError{fmt.Errorf("lake raw: table %q has no single key column (rollouts, tasks, evaluations)", ref.Table)}
			}
			l, _, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			rr, inline, err := rawOf(ctx, l, ref, key[0], args[1])
			if err != nil {
				return err
			}
			data := inline
			if rr.SHA256 != "" {
				if data, err = l.ReadRaw(ctx, rr.SHA256, rr.Offset, rr.Length); err != nil {
					return fmt.Errorf("lake raw %s %s: %w", ref, args[1], err)
				}
			}
			if a.json {
				return a.printJSON(struct {
					Table  string         `json:"table"`
					Key    string         `json:"key"`
					RawRef schemas.RawRef `json:"raw_ref"`
					Raw    string         `json:"raw"`
				}{ref.String(), args[1], rr, string(data)})
			}
			_, err = a.stdout.Write(data)
			return err
		},
	}
}

// rawOf finds a row by its key: its raw_ref, or its inline raw bytes.
func rawOf(ctx context.Context, l *lake.Lake, ref lake.Ref, keyCol, key string) (schemas.RawRef, []byte, error) {
	var rr schemas.RawRef
	e, err := queries.Open(ctx, queries.Options{})
	if err != nil {
		return rr, nil, err
	}
	defer e.Close()
	if err := e.Attach(ctx, l, map[string]int64{ref.Table: ref.Version}, tables.ParquetSchema); err != nil {
		return rr, nil, err
	}
	cols, err := e.Query(ctx, "SELECT column_name FROM (DESCRIBE "+queries.Ident(ref.Table)+")")
	if err != nil {
		return rr, nil, fmt.Errorf("lake raw %s: %w", ref, err)
	}
	var names []string
	for _, r := range cols.Rows {
		names = append(names, fmt.Sprint(r[0]))
	}
	q := "SELECT raw_ref.sha256, raw_ref.offset, raw_ref.length, NULL::BLOB FROM " + queries.Ident(ref.Table) + " WHERE " + queries.Ident(keyCol) + " = ?"
	if !slices.Contains(names, "raw_ref") {
		if !slices.Contains(names, "raw") {
			return rr, nil, fmt.Errorf("lake raw %s: the table keeps no raw bytes (columns %s)", ref, strings.Join(names, ", "))
		}
		q = "SELECT '', 0, 0, raw FROM " + queries.Ident(ref.Table) + " WHERE " + queries.Ident(keyCol) + " = ?"
	}
	var inline []byte
	err = e.DB().QueryRowContext(ctx, q, key).Scan(&rr.SHA256, &rr.Offset, &rr.Length, &inline)
	if errors.Is(err, sql.ErrNoRows) {
		return rr, nil, fmt.Errorf("lake raw %s: no row with %s = %q", ref, keyCol, key)
	}
	if err != nil {
		return rr, nil, fmt.Errorf("lake raw %s %s: %w", ref, key, err)
	}
	if rr.SHA256 == "" && inline == nil && slices.Contains(names, "raw_ref") {
		return rr, nil, fmt.Errorf("lake raw %s: row %s = %q kept no source bytes", ref, keyCol, key)
	}
	return rr, inline, nil
}

func newMigrateCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate [<table>]",
		Short: "Rewrite a table written with an earlier schema version into the current one",
		Long: `Rewrites every row of the table's latest snapshot into the current schema
as one commit (operation "migrate", lake format 2): a reader of the latest
version sees the table migrated whole or not at all; earlier versions keep
their schema and files and stay readable (swelake sql --at, lake raw,
lake diff) until gc. A table already current is left alone. Rollouts
v2 → v3: exit_reason is normalised (the v2 string kept in exit_reason_raw),
forced recomputed from it, actions, format_errors and tools computed, and
each v2 data file's inline raw bytes stored once as a raw source the rows
point at. Without a table, migrates every table that has a migration.
Run it with no other writer on the table: one that commits first makes it
fail with a conflict (run it again).`,
		Example: `  swelake lake migrate
  swelake lake migrate rollouts --json
  swelake lake verify rollouts`,
		Args: usage(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			names := migrate.Tables()
			if len(args) == 1 {
				if !slices.Contains(names, args[0]) {
					return usageError{fmt.Errorf("lake migrate: no migration for table %q (migrations exist for %s)", args[0], strings.Join(names, ", "))}
				}
				names = args[:1]
			}
			l, _, err := a.openLake(ctx, false)
			if err != nil {
				return err
			}
			var out []migrate.Summary
			for _, name := range names {
				s, err := migrate.Run(ctx, l, name, lake.Provenance{CodeVersion: codeVersion(), Author: a.cfg.Author}, a.logger)
				if err != nil {
					return err
				}
				out = append(out, s)
			}
			if a.json {
				return a.printJSON(out)
			}
			for _, s := range out {
				if s.Current {
					fmt.Fprintf(a.stdout, "%s: already at schema v%d (version %d); nothing to do\n", s.Table, s.To, s.Base)
					continue
				}
				fmt.Fprintf(a.stdout, "%s: migrated schema v%d → v%d at version %d (from %d): %d rows in %d files, %d raw sources stored\n",
					s.Table, s.From, s.To, s.Version, s.Base, s.Rows, s.Files, s.RawStored)
			}
			return nil
		},
	}
}
