// The reference side of swelake's tokenizer parity test.
//
//   node ref.mjs <tokenizer-dir> < cases.jsonl > results.jsonl
//
// Each input line is {"text": "..."} (encode the text) or {"messages": [...],
// "tools": [...], "add_generation_prompt": false} (render the tokenizer's
// chat_template with @huggingface/jinja, the renderer transformers.js uses,
// then encode the rendered text). Each output line is {"ids": [...]} plus
// "text" (the rendered chat) for chat cases, or {"error": "..."}.
import fs from "node:fs";
import readline from "node:readline";
import { TokenizerLoader } from "@lenml/tokenizers";
import { Template } from "@huggingface/jinja";

const dir = process.argv[2];
const tokenizerJSON = JSON.parse(fs.readFileSync(`${dir}/tokenizer.json`, "utf8"));
const tokenizerConfig = JSON.parse(fs.readFileSync(`${dir}/tokenizer_config.json`, "utf8"));
const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });
const template = new Template(tokenizerConfig.chat_template);
const special = (k) => {
  const v = tokenizerConfig[k];
  return v && typeof v === "object" ? v.content : v ?? "";
};

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const out = [];
for await (const line of rl) {
  if (!line.trim()) continue;
  const c = JSON.parse(line);
  try {
    if (c.messages) {
      const text = template.render({
        messages: c.messages,
        tools: c.tools ?? null,
        add_generation_prompt: !!c.add_generation_prompt,
        bos_token: special("bos_token"),
        eos_token: special("eos_token"),
        pad_token: special("pad_token"),
        unk_token: special("unk_token"),
      });
      out.push(JSON.stringify({ text, ids: tok.encode(text, { add_special_tokens: false }) }));
    } else {
      out.push(JSON.stringify({ ids: tok.encode(c.text ?? "", { add_special_tokens: false }) }));
    }
  } catch (e) {
    out.push(JSON.stringify({ error: String(e && e.message ? e.message : e) }));
  }
}
process.stdout.write(out.join("\n") + "\n");
