// Three Parquet readers that share no code with swelake (nor with each
// other) count the rows of each file given — DuckDB (@duckdb/node-api),
// hyparquet (pure JavaScript, zstd from hyparquet-compressors) and
// parquet-wasm (Rust's parquet crate compiled to WebAssembly, read into
// apache-arrow) — and read every column of every row.
//
//   node readers.mjs <file.parquet>...
//
// prints one JSON line per file: {file, duckdb, hyparquet, parquet_wasm}
// (row counts), or the reader's error in place of a count.
import fs from "node:fs";
import { DuckDBInstance } from "@duckdb/node-api";
import { parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import initWasm, { readParquet } from "parquet-wasm/esm";
import { tableFromIPC } from "apache-arrow";

// The package's node build is CommonJS inside a "type": "module" package,
// which Node refuses: the ESM build, given its .wasm bytes, is the same code.
await initWasm({ module_or_path: fs.readFileSync(new URL("./node_modules/parquet-wasm/esm/parquet_wasm_bg.wasm", import.meta.url)) });
const db = await (await DuckDBInstance.create(":memory:")).connect();
for (const file of process.argv.slice(2)) {
  const out = { file };
  try {
    const r = await db.runAndReadAll(`SELECT count(*)::INTEGER AS n, count(*) FILTER (WHERE t IS NOT NULL)::INTEGER AS m FROM read_parquet('${file.replaceAll("'", "''")}') t`);
    out.duckdb = r.getRows()[0][0];
  } catch (e) {
    out.duckdb = String(e.message ?? e);
  }
  const buf = fs.readFileSync(file);
  try {
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    out.hyparquet = (await parquetReadObjects({ file: ab, compressors })).length;
  } catch (e) {
    out.hyparquet = String(e.message ?? e);
  }
  try {
    const table = tableFromIPC(readParquet(new Uint8Array(buf)).intoIPCStream());
    for (const row of table) JSON.stringify(row.toJSON(), (_, v) => (typeof v === "bigint" ? Number(v) : v));
    out.parquet_wasm = table.numRows;
  } catch (e) {
    out.parquet_wasm = String(e.message ?? e);
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}
