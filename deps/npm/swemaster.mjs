// SWE-Master's OpenRLHF SFT data path, ported to JavaScript for swelake's
// conformance tests (Hugging Face's @huggingface/jinja renders the chat
// template as transformers' apply_chat_template does; @lenml/tokenizers
// tokenises as the model's tokenizer.json).
//
//   node swemaster.mjs pretokenize <tokenizer-dir> < rows.jsonl
//     Ported from RUCAIBox/SWE-Master@bc8904f
//     OpenRLHF_SFT/scripts_swe_master/sft_data_pre_tokenize.py
//     (SFTDataset.process_data with multiturn=True, input_key "input", no
//     tools): per row {prompt, response, prompt_ids_len, response_ranges}.
//
//   node swemaster.mjs load <tokenizer-dir> < pretokenized.jsonl
//     Ported from the same commit's OpenRLHF_SFT/scripts_swe_master/
//     sft_dataset.py (SFTDataset.__getitem__ and get_loss_mask, multiturn):
//     per row {ids, trained} — the token ids the trainer feeds the model and
//     the indices of the tokens it computes loss on (loss_mask[i] = 1 trains
//     the prediction of token i + 1).
import fs from "node:fs";
import readline from "node:readline";
import { TokenizerLoader } from "@lenml/tokenizers";
import { Template } from "@huggingface/jinja";

const [mode, dir] = process.argv.slice(2);
const tokenizerJSON = JSON.parse(fs.readFileSync(`${dir}/tokenizer.json`, "utf8"));
const tokenizerConfig = JSON.parse(fs.readFileSync(`${dir}/tokenizer_config.json`, "utf8"));
const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });
const template = new Template(tokenizerConfig.chat_template);
const special = (k) => {
  const v = tokenizerConfig[k];
  return v && typeof v === "object" ? v.content : v ?? "";
};
const render = (messages, addGenerationPrompt) =>
  template.render({
    messages,
    add_generation_prompt: addGenerationPrompt,
    bos_token: special("bos_token"),
    eos_token: special("eos_token"),
    pad_token: special("pad_token"),
    unk_token: special("unk_token"),
  });
const ntok = (text) => tok.encode(text, { add_special_tokens: false }).length;

function pretokenize(data) {
  const msgs = data.input;
  const ranges = [];
  msgs.forEach((m, idx) => {
    if (m.role !== "assistant") return;
    const prompt = render(msgs.slice(0, idx), true);
    const response = render(msgs.slice(0, idx + 1), false).slice(prompt.length);
    const start = ntok(prompt);
    ranges.push([start, start + ntok(response) - 1]); // left close right close
  });
  const prompt = render(msgs.slice(0, -1), true);
  const response = render(msgs, false).slice(prompt.length);
  return { prompt, response, prompt_ids_len: ntok(prompt), response_ranges: ranges };
}

function load(row) {
  const eos = special("eos_token");
  let text = (row.prompt + row.response).replace(/\n+$/, "");
  if (!text.endsWith(eos)) text += " " + eos;
  const ids = tok.encode(text, { add_special_tokens: false });
  ids[ids.length - 1] = tok.model.tokens_to_ids.get(eos) ?? tok.encode(eos, { add_special_tokens: false })[0];
  const lossMask = new Array(ids.length).fill(0);
  for (const [start, end] of row.response_ranges) {
    // torch slicing loss_mask[start - 1 : end], clipped to the sequence
    for (let i = Math.max(start - 1, 0); i < Math.min(end, ids.length); i++) lossMask[i] = 1;
  }
  const trained = [];
  lossMask.forEach((v, i) => {
    if (v && i + 1 < ids.length) trained.push(i + 1);
  });
  return { ids, trained };
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  const row = JSON.parse(line);
  try {
    process.stdout.write(JSON.stringify(mode === "load" ? load(row) : pretokenize(row)) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: String(e && e.message ? e.message : e) }) + "\n");
  }
}
