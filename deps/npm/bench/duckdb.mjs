// What a user would run instead of `swelake ingest` to turn trajectory JSONL
// into Parquet with DuckDB: its Node.js package (@duckdb/node-api, pinned in
// ../package.json). Used by jobs/ingest's BenchmarkIngestProcesses.
//   node duckdb.mjs <in.jsonl> <out.parquet>
import { DuckDBInstance } from '@duckdb/node-api';

const [input, output] = process.argv.slice(2);
const quote = (s) => "'" + s.replaceAll("'", "''") + "'";
const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
await conn.run(`COPY (SELECT * FROM read_json(${quote(input)}, format = 'newline_delimited', maximum_object_size = 1073741824))
  TO ${quote(output)} (FORMAT parquet, COMPRESSION zstd)`);
