// Hugging Face transformers.js (@huggingface/transformers), the JavaScript
// port of transformers, loading the model's tokenizer files from disk and
// rendering with its own apply_chat_template (tools included), then
// encoding: what a trainer's tokenizer makes of a conversation.
//
//   node transformers.mjs <tokenizer-dir> < cases.jsonl > results.jsonl
//
// Each input line is {"messages": [...], "tools": [...]|null,
// "add_generation_prompt": bool}; each output line {"text", "ids"} or
// {"error"}.
import path from "node:path";
import readline from "node:readline";
import { AutoTokenizer, env } from "@huggingface/transformers";

const dir = path.resolve(process.argv[2]);
env.allowRemoteModels = false;
env.localModelPath = path.dirname(dir) + path.sep;
const tok = await AutoTokenizer.from_pretrained(path.basename(dir));

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  const c = JSON.parse(line);
  let out;
  try {
    const opts = { tokenize: false, add_generation_prompt: !!c.add_generation_prompt };
    if (c.tools) opts.tools = c.tools;
    const text = tok.apply_chat_template(c.messages, opts);
    out = { text, ids: tok.encode(text, { add_special_tokens: false }) };
  } catch (e) {
    out = { error: String(e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}
