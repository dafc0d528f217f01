package queries

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/swelake/swelake/lake"
)

// CommitsView is the name of the view over the lake's commit log.
const CommitsView = "lake_commits"

// AttachCommits makes lake_commits: one row per commit of every table up to
// its pinned version (pins: table → version; others at their latest) and
// per partition the commit added files to — the provenance (job, run key,
// config hash, input snapshots, code version, author, time, sandbox) that
// lineage queries join to rows through their partition column (rollouts by
// run_id, sft_examples by set_id, curation by curation_id, ...).
func (e *Engine) AttachCommits(ctx context.Context, l *lake.Lake, pins map[string]int64) error {
	tables, err := l.Tables(ctx)
	if err != nil {
		return err
	}
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE OR REPLACE TABLE `+CommitsView+` (
		table_name VARCHAR, version BIGINT, operation VARCHAR, partition_key VARCHAR, partition_value VARCHAR,
		files BIGINT, rows BIGINT, job VARCHAR, run_key VARCHAR, config_hash VARCHAR, inputs VARCHAR[],
		code_version VARCHAR, author VARCHAR, time TIMESTAMPTZ, sandbox VARCHAR)`); err != nil {
		return fmt.Errorf("create %s: %w", CommitsView, err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO `+CommitsView+` VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::VARCHAR[], ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, name := range tables {
		t, err := l.Table(name)
		if err != nil {
			return err
		}
		upto, ok := pins[name]
		if !ok {
			upto = lake.Latest
		}
		log, err := t.Log(ctx, 0, upto)
		if err != nil {
			return fmt.Errorf("%s: %w", CommitsView, err)
		}
		for _, c := range log {
			type part struct {
				key, value  string
				files, rows int64
			}
			parts := map[string]*part{}
			for _, f := range c.Added {
				k, v := "", ""
				for _, pk := range slices.Sorted(maps.Keys(f.Partition)) { // one partition column per table today
					k, v = pk, f.Partition[pk]
				}
				p := parts[k+"\x00"+v]
				if p == nil {
					p = &part{key: k, value: v}
					parts[k+"\x00"+v] = p
				}
				p.files++
				p.rows += f.Rows
			}
			if len(parts) == 0 {
				parts[""] = &part{}
			}
			pv := c.Provenance
			inputs := "[" + strings.Join(quoteAll(pv.Inputs), ", ") + "]"
			for _, k := range slices.Sorted(maps.Keys(parts)) {
				p := parts[k]
				if _, err := stmt.ExecContext(ctx, name, c.Version, string(c.Operation), nullIf(p.key), nullIf(p.value), p.files, p.rows,
					pv.Job, pv.RunKey, pv.ConfigHash, inputs, pv.CodeVersion, pv.Author, pv.Time, pv.Sandbox); err != nil {
					return fmt.Errorf("%s: %s@%d: %w", CommitsView, name, c.Version, err)
				}
			}
		}
	}
	return tx.Commit()
}

// RunsView is the name of the table of complete job runs.
const RunsView = "lake_runs"

// AttachRuns makes lake_runs: one row per complete run (its run record),
// the way to a run's rows in SQL, e.g. the latest curation's decisions:
//
//	SELECT c.* FROM curation c JOIN (SELECT id FROM lake_runs WHERE job = 'curate'
//	  ORDER BY seq DESC LIMIT 1) r ON c.curation_id = r.id
func (e *Engine) AttachRuns(ctx context.Context, l *lake.Lake) error {
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE OR REPLACE TABLE `+RunsView+` (
		job VARCHAR, id VARCHAR, run_key VARCHAR, shard VARCHAR, config_hash VARCHAR, inputs VARCHAR[],
		outputs MAP(VARCHAR, BIGINT), code_version VARCHAR, author VARCHAR, time TIMESTAMPTZ, seconds DOUBLE,
		seq BIGINT, config JSON, summary JSON)`); err != nil {
		return fmt.Errorf("create %s: %w", RunsView, err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO `+RunsView+` VALUES (?, ?, ?, ?, ?, ?::VARCHAR[], ?::JSON::MAP(VARCHAR, BIGINT), ?, ?, ?, ?, ?, ?::JSON, ?::JSON)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	jobs, err := l.RunJobs(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", RunsView, err)
	}
	for _, job := range jobs {
		recs, err := l.Runs(ctx, job)
		if err != nil {
			return fmt.Errorf("%s: %w", RunsView, err)
		}
		for _, r := range recs {
			outputs, _ := json.Marshal(r.Outputs)
			if _, err := stmt.ExecContext(ctx, r.Job, r.ID, r.RunKey, nullIf(r.Shard), r.ConfigHash,
				"["+strings.Join(quoteAll(r.Inputs), ", ")+"]", string(outputs), r.CodeVersion, r.Author, r.Time, r.Seconds, r.Seq,
				jsonOrNull(r.Config), jsonOrNull(r.Summary)); err != nil {
				return fmt.Errorf("%s: %s %s: %w", RunsView, r.Job, r.ID, err)
			}
		}
	}
	return tx.Commit()
}

func jsonOrNull(b []byte) string {
	if len(b) == 0 {
		return "null"
	}
	return string(b)
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	return out
}

func nullIf(s string) any {
	if s == "" {
		return nil
	}
	return s
}
