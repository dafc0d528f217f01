// What a user would run instead of `swelake ingest` to turn trajectory JSONL
// into Parquet with Polars: its Node.js package (nodejs-polars, pinned in
// ../package.json). Used by jobs/ingest's BenchmarkIngestProcesses.
//   node polars.mjs <in.jsonl> <out.parquet>
import pl from 'nodejs-polars';

const [input, output] = process.argv.slice(2);
pl.scanJson(input).collectSync().writeParquet(output, { compression: 'zstd' });
