// Package publish is `swelake lake publish`: an immutable copy of a pinned
// snapshot in the Hugging Face datasets layout under
// <root>/published/<name>/v<version>/ — data/<split>-0000i-of-0000N.parquet
// (rows in key order, row groups ≤ 100 MB), a README.md dataset card with
// YAML configs and dataset_info and the lineage of its inputs, and
// MANIFEST.json with the sha256 of every file. Shards go first and the
// manifest last, all create-only; the same snapshot published twice gives
// the same bytes.
package publish

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/swelake/swelake/internal/parquetfile"
	"github.com/swelake/swelake/jobs/tables"
	"io"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/swelake/swelake/internal/progress"
	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/lake/objstore"
	"github.com/swelake/swelake/queries"
	"github.com/swelake/swelake/schemas"
)

// Config says what to publish and how.
type Config struct {
	Input   string `json:"table" mapstructure:"table"`       // table or table@version
	Name    string `json:"name" mapstructure:"name"`         // the dataset's name: [a-z0-9][a-z0-9._-]*
	Split   string `json:"split" mapstructure:"split"`       // the split every row goes to (default train), unless SplitBy
	SplitBy string `json:"split_by" mapstructure:"split_by"` // a column whose value is each row's split (e.g. sft_examples.split)
	// Where is a SQL predicate over the table's columns: only the rows it
	// holds for are published (e.g. set_id = 'sft-3f2a…'). "" : every row.
	Where string `json:"where" mapstructure:"where"`
	// LatestRun publishes only the rows of the run that committed last, for
	// tables that stack runs (sft_examples: the latest SFT set; see
	// latest_<table> in docs/analysis.md).
	LatestRun bool `json:"latest_run" mapstructure:"latest_run"`
	// ShardBytes bounds a shard by the source's compressed bytes (default
	// 256 MiB); RowGroupBytes bounds a row group (default 100 MB).
	ShardBytes    int64 `json:"shard_bytes" mapstructure:"shard_bytes"`
	RowGroupBytes int64 `json:"row_group_bytes" mapstructure:"row_group_bytes"`
}

// Job is the publish stage (swelake lake publish). A publication is
// immutable and checked file by file against what is there, so it runs
// every time: publishing the same snapshot again writes nothing and says so.
var Job = &stage.Def[Config, Summary]{
	Info: stage.Info{Name: "publish",
		Short: "Publish a snapshot in the Hugging Face datasets layout, immutable and byte-reproducible",
		Long: `Writes <lake>/published/<name>/v<N>/ (v1 for a name's first publication,
then v2, v3, … as the published rows change):

  data/<split>-00000-of-0000N.parquet   rows in key order, zstd, row groups ≤ 100 MB
  README.md                             dataset card: YAML configs and dataset_info
                                        (features, splits, sizes), the lineage of the
                                        snapshot (every commit it came from)
  MANIFEST.json                         sha256, size and rows of every file, written last

Every file is created once and never replaced; the manifest, written last,
makes the publication complete. Publishing the same rows again (same
snapshot, --where and splits) writes nothing and says which version has
them; other rows under the same name become its next version. --where
publishes a subset: one SFT set of a table that holds several. Upload the directory as it is (huggingface-cli upload), or load it
with datasets' parquet loader.`,
		Example: `  swelake lake publish sft_examples --name swe-sft --split-by split --where "set_id = 'sft-3f2a'"
  swelake lake publish rollouts@12 --name swe-trajectories --split train --json
  swelake lake diff sft_examples@3 sft_examples@4`,
		Inputs:  []string{schemas.SFTExamples.Name},
		ArgsKey: "table",
		Flags: []stage.Flag{
			{Name: "name", Key: "name", Usage: "the dataset's name (lower-case letters, digits, . _ -)"},
			{Name: "split", Key: "split", Usage: "the split every row goes to (default train)"},
			{Name: "split-by", Key: "split_by", Usage: "a column whose value is each row's split (e.g. split for sft_examples)"},
			{Name: "latest-run", Key: "latest_run", Usage: "publish only the latest run's rows (sft_examples: the latest SFT set)"},
			{Name: "where", Key: "where", Usage: "publish only the rows this SQL predicate holds for, e.g. \"set_id = 'sft-3f2a'\""},
			{Name: "shard-bytes", Key: "shard_bytes", Usage: "source bytes per shard (default 256MiB)"},
		},
	},
	Defaults: func() Config {
		return Config{Input: schemas.SFTExamples.Name, Split: "train", ShardBytes: 256 << 20, RowGroupBytes: 100_000_000}
	},
	Validate: func(c *Config) error {
		if !validName.MatchString(c.Name) {
			return fmt.Errorf("name %q: want lower-case letters, digits, '.', '_' or '-' (e.g. --name swe-sft-v1)", c.Name)
		}
		c.Split, c.ShardBytes, c.RowGroupBytes = cmp.Or(c.Split, "train"), cmp.Or(c.ShardBytes, 256<<20), cmp.Or(c.RowGroupBytes, 100_000_000)
		_, err := lake.ParseRef(c.Input)
		return err
	},
	Plan: func(ctx context.Context, env *stage.Env, c *Config) (stage.Plan, error) {
		ref, _ := lake.ParseRef(c.Input)
		snap, err := tables.Pin(ctx, env.Lake, c.Input, ref.Table)
		if err != nil {
			return stage.Plan{}, fmt.Errorf("publish: %w", err)
		}
		return stage.Plan{Inputs: []*lake.Snapshot{snap}, State: snap}, nil
	},
	AlwaysRun: true,
	Run: func(ctx context.Context, r *stage.Run[Config]) (Summary, error) {
		return publish(ctx, r.Env, r.Config, r.Plan.State.(*lake.Snapshot))
	},
	Print: func(w io.Writer, sum *Summary) error {
		state := "published"
		if sum.AlreadyPublished {
			state = "already published (identical bytes; nothing written)"
		}
		var splits []string
		for _, s := range slices.Sorted(maps.Keys(sum.Manifest.Splits)) {
			splits = append(splits, fmt.Sprintf("%s %d", s, sum.Manifest.Splits[s]))
		}
		_, err := fmt.Fprintf(w, "%s %s as %s: %d files, %d rows (%s), %s\n", sum.Manifest.Source, state, sum.URL,
			len(sum.Manifest.Files)+1, sum.Rows, strings.Join(splits, ", "), progress.Bytes(sum.Bytes))
		return err
	},
}

// File is one published file.
type File struct {
	Path   string `json:"path"`
	Split  string `json:"split,omitempty"`
	Rows   int64  `json:"rows,omitempty"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Manifest is MANIFEST.json, written last.
type Manifest struct {
	Format    int              `json:"format"`
	Name      string           `json:"name"`
	Version   string           `json:"version"`
	Source    string           `json:"source"`               // table@version
	Key       []string         `json:"key"`                  // the rows' order
	LatestRun bool             `json:"latest_run,omitempty"` // only the latest run's rows
	Where     string           `json:"where,omitempty"`      // the rows' predicate ("" : all)
	Splits    map[string]int64 `json:"splits"`               // split → rows
	Files     []File           `json:"files"`                // shards, then README.md
}

// Summary is what publish did.
type Summary struct {
	stage.Outcome
	Prefix           string   `json:"prefix"` // published/<name>/<version>
	URL              string   `json:"url"`
	Manifest         Manifest `json:"manifest"`
	Rows             int64    `json:"rows"`
	Bytes            int64    `json:"bytes"`
	AlreadyPublished bool     `json:"already_published"` // identical bytes were there
}

// ErrConflict: the name and version are published with other content.
var ErrConflict = errors.New("already published with different content")

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}$`)

// publish publishes the snapshot's rows (those cfg.Where holds for) as
// the name's next version, or finds the version that has them.
func publish(ctx context.Context, env *stage.Env, cfg Config, snap *lake.Snapshot) (Summary, error) {
	var sum Summary
	l := env.Lake
	key := schemas.KeyOf(snap.Table)
	if key == nil {
		return sum, fmt.Errorf("publish %s: no key columns known for table %s", snap.Ref(), snap.Table)
	}
	work, err := os.MkdirTemp("", "swelake-publish-")
	if err != nil {
		return sum, err
	}
	defer os.RemoveAll(work)
	// One DuckDB thread: the sort's output order is the file's order.
	e, err := queries.Open(ctx, queries.Options{Logger: env.Logger, Threads: 1})
	if err != nil {
		return sum, err
	}
	defer e.Close()
	if err := e.AddSnapshot(ctx, l, snap, tables.ParquetSchema(snap.Table)); err != nil {
		return sum, fmt.Errorf("publish: %w", err)
	}
	from := queries.Ident(snap.Table)
	if cfg.LatestRun {
		if schemas.RunOf(snap.Table) == "" {
			return sum, fmt.Errorf("publish %s: --latest-run: %s does not stack runs (tables that do: curation, curation_drops, task_stats, sft_examples, rl_samples, verifier_scores)", snap.Ref(), snap.Table)
		}
		from = queries.Ident(queries.LatestPrefix + snap.Table)
	}
	if err := e.Seal(ctx, work); err != nil { // the predicate is the user's SQL: no host files but the work directory
		return sum, err
	}
	pred := "TRUE"
	if strings.TrimSpace(cfg.Where) != "" {
		pred = "(" + cfg.Where + ")"
	}
	if _, err := e.DB().ExecContext(ctx, `CREATE VIEW src AS SELECT * FROM `+from+` WHERE `+pred); err != nil {
		return sum, fmt.Errorf("publish %s: --where %q: %w", snap.Ref(), cfg.Where, err)
	}
	splits, err := splitsOf(ctx, e, cfg, snap)
	if err != nil {
		return sum, err
	}
	m := Manifest{Format: 1, Name: cfg.Name, Source: snap.Ref().String(), LatestRun: cfg.LatestRun, Where: cfg.Where, Key: key, Splits: splits}
	schema, err := writeShards(ctx, e, cfg, snap, work, &m)
	if err != nil {
		return sum, err
	}
	lineage, err := Lineage(ctx, l, snap.Ref().String())
	if err != nil {
		return sum, err
	}
	shards := m.Files
	for attempt := 0; ; attempt++ {
		version, prior, err := versionFor(ctx, l.Bucket(), cfg.Name, m)
		if err != nil {
			return sum, fmt.Errorf("publish %s as %s: %w", snap.Ref(), cfg.Name, err)
		}
		sum.Prefix = path.Join("published", cfg.Name, version)
		sum.URL = strings.TrimSuffix(l.URL(), "/") + "/" + sum.Prefix
		if prior != nil { // these rows are published: nothing to write
			sum.Manifest, sum.AlreadyPublished = *prior, true
			break
		}
		m.Version, m.Files = version, slices.Clone(shards)
		card, err := datasetCard(m, lineage, schema)
		if err != nil {
			return sum, err
		}
		if err := os.WriteFile(filepath.Join(work, "README.md"), card, 0o644); err != nil {
			return sum, err
		}
		readme, err := describe(filepath.Join(work, "README.md"), "README.md")
		if err != nil {
			return sum, err
		}
		m.Files = append(m.Files, readme)
		sum.Manifest = m
		sum.AlreadyPublished, err = upload(ctx, l.Bucket(), sum.Prefix, work, m)
		if errors.Is(err, ErrConflict) && attempt < 3 { // another publisher took this version meanwhile
			continue
		}
		if err != nil {
			return sum, fmt.Errorf("publish %s as %s/%s: %w", snap.Ref(), cfg.Name, version, err)
		}
		break
	}
	for _, f := range sum.Manifest.Files {
		sum.Bytes += f.Bytes
		sum.Rows += f.Rows
	}
	return sum, nil
}

// versionFor is the version of name that already holds m's rows (same
// source, splits and shard bytes) with its manifest, or else
// the next version: v1 for a new name.
func versionFor(ctx context.Context, b objstore.Bucket, name string, m Manifest) (string, *Manifest, error) {
	next := 1
	for info, err := range b.List(ctx, path.Join("published", name)+"/") {
		if err != nil {
			return "", nil, err
		}
		rest := strings.TrimPrefix(info.Key, path.Join("published", name)+"/")
		v, file, ok := strings.Cut(rest, "/")
		n, err := strconv.Atoi(strings.TrimPrefix(v, "v"))
		if !ok || file != "MANIFEST.json" || !strings.HasPrefix(v, "v") || err != nil {
			continue
		}
		next = max(next, n+1)
		data, err := objstore.ReadAll(ctx, b, info.Key)
		if err != nil {
			return "", nil, err
		}
		var old Manifest
		if err := json.Unmarshal(data, &old); err != nil {
			return "", nil, fmt.Errorf("%s: %w", info.Key, err)
		}
		if sameRows(old, m) {
			return v, &old, nil
		}
	}
	return fmt.Sprintf("v%d", next), nil, nil
}

// sameRows: two manifests publish the same rows of the same snapshot in
// the same files (the dataset card aside), however they were selected.
func sameRows(a, b Manifest) bool {
	shards := func(m Manifest) []File {
		return slices.DeleteFunc(slices.Clone(m.Files), func(f File) bool { return f.Path == "README.md" })
	}
	return a.Source == b.Source && maps.Equal(a.Splits, b.Splits) && slices.Equal(shards(a), shards(b))
}

// splitsOf counts the rows of each split.
func splitsOf(ctx context.Context, e *queries.Engine, cfg Config, snap *lake.Snapshot) (map[string]int64, error) {
	splits := map[string]int64{}
	if cfg.SplitBy != "" {
		res, err := e.Query(ctx, fmt.Sprintf(`SELECT CAST(%s AS VARCHAR), count(*) FROM src GROUP BY 1 ORDER BY 1`, queries.Ident(cfg.SplitBy)))
		if err != nil {
			return nil, fmt.Errorf("publish: split by %q: %w", cfg.SplitBy, err)
		}
		for _, row := range res.Rows {
			name, _ := row[0].(string)
			if !validSplit.MatchString(name) {
				return nil, fmt.Errorf("publish: split by %q: value %q is not a split name ([A-Za-z0-9_.-]+)", cfg.SplitBy, name)
			}
			splits[name] = row[1].(int64)
		}
	} else {
		if !validSplit.MatchString(cfg.Split) {
			return nil, fmt.Errorf("publish: split %q is not a split name ([A-Za-z0-9_.-]+)", cfg.Split)
		}
		var n int64
		if err := e.DB().QueryRowContext(ctx, `SELECT count(*) FROM src`).Scan(&n); err != nil {
			return nil, fmt.Errorf("publish %s: %w", snap.Ref(), err)
		}
		if n > 0 {
			splits[cfg.Split] = n
		}
	}
	if len(splits) == 0 && cfg.Where != "" {
		return nil, fmt.Errorf("publish %s: no row holds for --where %q", snap.Ref(), cfg.Where)
	}
	if len(splits) == 0 {
		return nil, fmt.Errorf("publish %s: the snapshot has no rows to publish", snap.Ref())
	}
	return splits, nil
}

// writeShards writes each split's shards under work, rows in key order,
// and adds them to the manifest; it returns their (common) schema.
func writeShards(ctx context.Context, e *queries.Engine, cfg Config, snap *lake.Snapshot, work string, m *Manifest) (*parquet.Schema, error) {
	quoted := make([]string, len(m.Key))
	for i, k := range m.Key {
		quoted[i] = queries.Ident(k)
	}
	order := strings.Join(quoted, ", ")
	total := max(1, snap.Rows()) // bytes per row of the whole snapshot, times the rows published
	// Chat messages are published in OpenAI's shape (tool calls as
	// {id, type: function, function: {name, arguments}}), what chat
	// datasets on the Hub and the trainers reading them expect.
	sel := "*"
	var n int
	if err := e.DB().QueryRowContext(ctx, `SELECT count(*) FROM (DESCRIBE src) WHERE column_name = 'messages' AND column_type LIKE '%tool_calls%arguments%'`).Scan(&n); err != nil {
		return nil, fmt.Errorf("publish %s: %w", snap.Ref(), err)
	}
	if n == 1 {
		sel = `* REPLACE (list_transform(messages, m -> {'role': m.role, 'content': m.content,
			'tool_calls': list_transform(m.tool_calls, c -> {'id': c.id, 'type': 'function', 'function': {'name': c.name, 'arguments': c.arguments}}),
			'tool_call_id': m.tool_call_id, 'name': m.name}) AS messages)`
	}
	var schema *parquet.Schema
	for _, split := range slices.Sorted(maps.Keys(m.Splits)) {
		rows := m.Splits[split]
		share := float64(snap.Bytes()) * float64(rows) / float64(total) // (in float: bytes × rows overflows int64 on big tables)
		shards := max(1, int64(math.Ceil(share/float64(cfg.ShardBytes))))
		per := (rows + shards - 1) / max(1, shards)
		where := "TRUE"
		if cfg.SplitBy != "" {
			where = fmt.Sprintf("CAST(%s AS VARCHAR) = '%s'", queries.Ident(cfg.SplitBy), split)
		}
		for i := range shards {
			rel := fmt.Sprintf("data/%s-%05d-of-%05d.parquet", split, i, shards)
			local := filepath.Join(work, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
				return nil, err
			}
			// Rows equal in key are ordered by their content's hash: a
			// total order, so every shard boundary is reproducible.
			sorted := local + ".sorted"
			stmt := fmt.Sprintf(`COPY (SELECT %s FROM src WHERE %s ORDER BY %s, hash(src) LIMIT %d OFFSET %d) TO '%s' (FORMAT parquet, COMPRESSION zstd)`,
				sel, where, order, per, i*per, strings.ReplaceAll(sorted, "'", "''"))
			if _, err := e.DB().ExecContext(ctx, stmt); err != nil {
				return nil, fmt.Errorf("publish %s: write %s: %w", snap.Ref(), rel, err)
			}
			var err error
			if schema, err = rewrite(sorted, local, cfg.RowGroupBytes); err != nil {
				return nil, fmt.Errorf("publish %s: write %s: %w", snap.Ref(), rel, err)
			}
			os.Remove(sorted)
			n, err := checkOrder(ctx, e, local, m.Key)
			if err != nil {
				return nil, fmt.Errorf("publish %s: %s: %w", snap.Ref(), rel, err)
			}
			f, err := describe(local, rel)
			if err != nil {
				return nil, err
			}
			f.Split, f.Rows = split, n
			m.Files = append(m.Files, f)
		}
	}
	return schema, nil
}

// upload creates every file once, then the manifest, which makes the
// publication complete. A manifest already there with identical bytes is a
// no-op (already true); with any other, ErrConflict.
func upload(ctx context.Context, b objstore.Bucket, prefix, work string, m Manifest) (already bool, err error) {
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return false, err
	}
	manifest = append(manifest, '\n')
	mkey := prefix + "/MANIFEST.json"
	same := func() (bool, error) {
		old, err := objstore.ReadAll(ctx, b, mkey)
		if err != nil {
			return false, err
		}
		if bytes.Equal(old, manifest) {
			return true, nil
		}
		return false, fmt.Errorf("%w (publish under another --name)", ErrConflict)
	}
	if ok, err := same(); ok || !errors.Is(err, objstore.ErrNotExist) {
		return ok, err
	}
	for _, f := range m.Files {
		if err := putOnce(ctx, b, prefix+"/"+f.Path, filepath.Join(work, filepath.FromSlash(f.Path)), f.SHA256); err != nil {
			return false, err
		}
	}
	if err := b.PutIfAbsent(ctx, mkey, bytes.NewReader(manifest), int64(len(manifest))); err != nil {
		if errors.Is(err, objstore.ErrExist) { // a racing publisher: fine if it wrote the same
			return same()
		}
		return false, err
	}
	return false, nil
}

var validSplit = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// checkOrder reads the key columns back from the written file: the rows
// must be in key order (a guard: DuckDB keeps an ORDER BY's order in what it
// writes). It returns the file's row count.
func checkOrder(ctx context.Context, e *queries.Engine, file string, key []string) (int64, error) {
	cols := make([]string, len(key))
	for i, k := range key {
		cols[i] = queries.Ident(k)
	}
	q := fmt.Sprintf(`SELECT count(*), count(*) FILTER (WHERE NOT ordered) FROM (
		SELECT (%s) >= lag((%s)) OVER (ORDER BY file_row_number) OR file_row_number = 0 AS ordered
		FROM read_parquet('%s', file_row_number = true))`, rowExpr(cols), rowExpr(cols), strings.ReplaceAll(file, "'", "''"))
	res, err := e.Query(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("check order: %w", err)
	}
	if bad := res.Rows[0][1].(int64); bad > 0 {
		return 0, fmt.Errorf("%d rows out of key order after writing; not published", bad)
	}
	return res.Rows[0][0].(int64), nil
}

func rowExpr(cols []string) string {
	if len(cols) == 1 {
		return cols[0]
	}
	return "row(" + strings.Join(cols, ", ") + ")"
}

func describe(local, rel string) (File, error) {
	sum, n, err := objstore.HashFile(context.Background(), local)
	if err != nil {
		return File{}, err
	}
	return File{Path: rel, Bytes: n, SHA256: sum}, nil
}

// putOnce uploads a file unless the key holds it already (same sha256); a
// key holding other bytes is a conflict. The manifest, written last with
// PutIfAbsent, is what makes a publication visible.
func putOnce(ctx context.Context, b objstore.Bucket, key, local, sha string) error {
	if old, err := objstore.ReadAll(ctx, b, key); err == nil {
		s := sha256.Sum256(old)
		if hex.EncodeToString(s[:]) == sha {
			return nil
		}
		return fmt.Errorf("%s: %w", key, ErrConflict)
	} else if !errors.Is(err, objstore.ErrNotExist) {
		return err
	}
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	return b.Put(ctx, key, f, st.Size())
}

// rewrite copies DuckDB's sorted Parquet file into the published one with
// parquet-go, which cuts row groups where we say: DuckDB's writer cannot go
// below 2,048 rows per group, which for long trajectories is far above
// 100 MB. Same input, same bytes: the copy is deterministic.
func rewrite(src, dst string, rowGroupBytes int64) (*parquet.Schema, error) {
	pf, in, err := parquetfile.Open(src)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	w := parquet.NewWriter(out, pf.Schema(), parquet.Compression(&parquet.Zstd), parquet.CreatedBy("swelake", "publish", "1"))
	r := parquet.NewReader(pf)
	defer r.Close()
	buf := make([]parquet.Row, 16)
	var group int64
	for {
		n, err := r.ReadRows(buf)
		for _, row := range buf[:n] {
			size := int64(0)
			for _, v := range row {
				size += 8
				if k := v.Kind(); !v.IsNull() && (k == parquet.ByteArray || k == parquet.FixedLenByteArray) {
					size += int64(len(v.ByteArray()))
				}
			}
			if group > 0 && group+size > rowGroupBytes {
				if err := w.Flush(); err != nil {
					return nil, err
				}
				group = 0
			}
			if _, err := w.WriteRows([]parquet.Row{row}); err != nil {
				return nil, err
			}
			group += size
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", src, err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return pf.Schema(), out.Close()
}
