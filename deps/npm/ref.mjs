// The reference side of swelake's tokenizer parity test.
//
//   node ref.mjs <tokenizer-dir> < cases.jsonl > results.jsonl
//
// Each input line is {"text": "..."} (encode the text) or {"messages": [...],
// "tools": [...], "add_generation_prompt": false} (render the tokenizer's
// chat_template with @huggingface/jinja, the renderer transformers.js uses,
// then encode the rendered text). Each output line is {"ids": [...]} plus
// "text" (the rendered chat) for chat cases, or {"error": "..."}.
import readline from "node:readline";
import { loadModel } from "./model.mjs";

const { render, encode } = loadModel(process.argv[2]);

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const out = [];
for await (const line of rl) {
  if (!line.trim()) continue;
  const c = JSON.parse(line);
  try {
    if (c.messages) {
      const text = render(c.messages, { tools: c.tools ?? null, addGenerationPrompt: !!c.add_generation_prompt });
      out.push(JSON.stringify({ text, ids: encode(text) }));
    } else {
      out.push(JSON.stringify({ ids: encode(c.text ?? "") }));
    }
  } catch (e) {
    out.push(JSON.stringify({ error: String(e && e.message ? e.message : e) }));
  }
}
process.stdout.write(out.join("\n") + "\n");
