// The trainers' loading code, ported to JavaScript, replayed on swelake's
// exports by its tests (jobs/buildsft): what each trainer would feed the
// model — the text, the token ids and the tokens it computes loss on.
// Chat templates are rendered with @huggingface/jinja (transformers.js's
// renderer, the JavaScript twin of transformers' apply_chat_template) and
// tokenised with the model's tokenizer.json (@lenml/tokenizers).
//
//   node consumers.mjs <consumer> <tokenizer-dir> <exported file>
//
// prints one JSON line per row: {text, ids, trained} (trained: indices of
// the tokens whose prediction carries loss), or {error}.
//
// Consumers, and the source each is ported from:
//   openrlhf  OpenRLHF/OpenRLHF@3c3be623 openrlhf/datasets/sft_dataset.py
//             (SFTDataset with --data.multiturn --data.apply_chat_template:
//             process_data, __getitem__, get_loss_mask; no tools are passed
//             to the template). RUCAIBox/SWE-Master@bc8904f's fork is the
//             same code split in two, which the next two modes are:
//   openrlhf-process  SWE-Master's pre-tokenise script
//             (OpenRLHF_SFT/scripts_swe_master/sft_data_pre_tokenize.py:
//             process_data on a row's "input"): {prompt, response,
//             prompt_ids_len, response_ranges}.
//   openrlhf-item  SWE-Master's training loader on a pre-tokenised row
//             (OpenRLHF_SFT/scripts_swe_master/sft_dataset.py: __getitem__,
//             get_loss_mask): {text, ids, trained}.
//   verl      volcengine/verl@b178a3cd5 verl/utils/dataset/
//             multiturn_sft_dataset.py (MultiTurnSFTDataset.__getitem__ and
//             _process_single_message: each message rendered on its own,
//             tools with the first, the default system prompt cut from the
//             others as verl/utils/chat_template.py
//             extract_system_prompt_and_generation measures it; loss on
//             assistant messages after the generation prompt).
//   llamafactory  hiyouga/LLaMA-Factory@ff6d4d12e src/llamafactory/data/
//             converter.py SharegptDatasetConverter (role tags, odd/even
//             alignment, even count: a broken row is an error here, where
//             LLaMA-Factory skips it with a warning), and the "qwen"
//             template of data/template.py with formatter.py
//             FunctionFormatter and tool_utils.py QwenToolUtils: each
//             message formatted and tokenised on its own, loss on the
//             gpt/function_call turns (supervised, train_on_prompt off).
//   axolotl   axolotl-ai-cloud/axolotl src/axolotl/prompt_strategies/
//             chat_template.py (ChatTemplateStrategy: _get_tools parses
//             string tool parameters, transform_message parses string
//             tool-call arguments with json.loads, then the whole
//             conversation is rendered with the tools): the text and its
//             ids; which turns train is the per-message "training" flag.
//   trl       huggingface/trl trl/trainer/sft_trainer.py
//             DataCollatorForLanguageModeling.torch_call on a pre-tokenised
//             dataset (SFTTrainer skips tokenisation when input_ids is a
//             column): labels from "labels" (else input_ids), set to -100
//             where assistant_masks is 0; with padding_free, position_ids
//             from seq_lengths. axolotl's pre-tokenised datasets (no type:
//             input_ids, attention_mask, labels) train the same labels.
//   verl-rl   volcengine/verl@b178a3cd5 verl/utils/dataset/rl_dataset.py
//             (RLHFDataset: the prompt column rendered with
//             apply_chat_template(add_generation_prompt=True); the tool
//             schemas, which verl hands to its tool agent, rendered with it
//             from extra_info.tools): the text the policy continues.
// JSON files are read as Hugging Face datasets reads them (throughArrow).
import fs from "node:fs";
import { parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { loadModel } from "./model.mjs";

const [consumer, dir, file] = process.argv.slice(2);
const { tok, special, render, encode, tokenID } = loadModel(dir);

// SFTDataset.process_data (multiturn): the prompt (the conversation but its
// last message, with the generation prompt), the response, the prompt's
// token count and each assistant turn's inclusive token span, each counted
// by tokenising that text on its own.
function openrlhfProcess(msgs) {
  const ranges = [];
  msgs.forEach((m, idx) => {
    if (m.role !== "assistant") return;
    const prompt = render(msgs.slice(0, idx), { addGenerationPrompt: true });
    const response = render(msgs.slice(0, idx + 1)).slice(prompt.length);
    const start = encode(prompt).length;
    ranges.push([start, start + encode(response).length - 1]); // left close right close
  });
  const prompt = render(msgs.slice(0, -1), { addGenerationPrompt: true });
  const response = render(msgs).slice(prompt.length);
  return { prompt, response, prompt_ids_len: encode(prompt).length, response_ranges: ranges };
}

// SFTDataset.__getitem__ and get_loss_mask: the ids the model is fed and
// the tokens with loss (loss_mask[i] = 1 trains the prediction of token
// i + 1; loss_mask[start - 1 : end] per range).
function openrlhfItem(row) {
  if (!row.prompt || !row.response) throw new Error("filtered: empty prompt or response");
  const eos = special("eos_token");
  let text = (row.prompt + row.response).replace(/\n+$/, "");
  if (!text.endsWith(eos)) text += " " + eos;
  const ids = encode(text);
  ids[ids.length - 1] = tokenID(eos);
  const lossMask = new Array(ids.length).fill(0);
  for (const [s, e] of row.response_ranges) for (let i = Math.max(s - 1, 0); i < Math.min(e, ids.length); i++) lossMask[i] = 1;
  const trained = [];
  lossMask.forEach((v, i) => v && i + 1 < ids.length && trained.push(i + 1));
  return { text, ids, trained };
}

function verlSystemAndGeneration() {
  const t1 = encode(render([{ role: "user", content: "" }]));
  const t2 = encode(render([{ role: "user", content: "" }, { role: "user", content: "" }]));
  const system = t1.slice(0, t1.length - (t2.length - t1.length));
  const t3 = encode(render([{ role: "user", content: "" }], { addGenerationPrompt: true }));
  return { system, generation: t3.slice(t1.length) };
}

function verl(row, sg) {
  const ids = [];
  const loss = [];
  let text = "";
  row.messages.forEach((message, index) => {
    const rendered = render([message], { tools: index === 0 ? row.tools ?? null : null });
    let mids = encode(rendered);
    let mtext = rendered;
    if (index !== 0 && message.role !== "system") {
      // the default system prompt verl cuts, as text and as ids
      mtext = rendered.slice(tok.decode(mids.slice(0, sg.system.length), { skip_special_tokens: false }).length);
      mids = mids.slice(sg.system.length);
    }
    const mloss = mids.map((_, i) => (message.role === "assistant" && i >= sg.generation.length ? 1 : 0));
    ids.push(...mids);
    loss.push(...mloss);
    text += mtext;
  });
  // loss_mask[i] = 1 trains token i (verl shifts labels itself).
  const trained = [];
  loss.forEach((v, i) => v && trained.push(i));
  return { text, ids, trained };
}

// Python's json.dumps(v, ensure_ascii=False): ", " and ": " separators.
function pyDumps(v) {
  if (v === null) return "null";
  if (Array.isArray(v)) return "[" + v.map(pyDumps).join(", ") + "]";
  if (typeof v === "object") return "{" + Object.entries(v).map(([k, x]) => JSON.stringify(k) + ": " + pyDumps(x)).join(", ") + "}";
  return JSON.stringify(v);
}

const QWEN_TOOL_PROMPT = (toolText) =>
  "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
  "You are provided with function signatures within <tools></tools> XML tags:\n<tools>" + toolText +
  "\n</tools>\n\nFor each function call, return a json object with function name and arguments within " +
  '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>';

function llamafactory(row) {
  // SharegptDatasetConverter with columns messages=conversations,
  // system=system, tools=tools and the default tags.
  const odd = ["human", "observation"], even = ["gpt", "function_call"];
  const messages = row.conversations;
  const system = row.system ?? "";
  messages.forEach((m, i) => {
    if (!(i % 2 === 0 ? odd : even).includes(m.from)) throw new Error(`Invalid role tag at turn ${i}: ${m.from}`);
  });
  if (messages.length % 2 !== 0) throw new Error("Invalid message count");
  const tools = row.tools ?? "";
  // Template._encode for "qwen"
  const sys = system || "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
  const ids = [], trained = [];
  let text = "";
  messages.forEach((m, i) => {
    let s = "";
    if (i === 0 && (sys || tools)) {
      let toolText = "";
      if (tools) {
        for (const t of JSON.parse(tools)) toolText += "\n" + pyDumps(t.type === "function" ? t : { type: "function", function: t });
        toolText = QWEN_TOOL_PROMPT(toolText);
      }
      s += "<|im_start|>system\n" + sys + toolText + "<|im_end|>\n";
    }
    if (m.from === "human") s += "<|im_start|>user\n" + m.value + "<|im_end|>\n<|im_start|>assistant\n";
    else if (m.from === "observation") s += "<|im_start|>user\n<tool_response>\n" + m.value + "\n</tool_response><|im_end|>\n<|im_start|>assistant\n";
    else if (m.from === "gpt") s += m.value + "<|im_end|>\n";
    else {
      // FunctionFormatter.apply with tool_call_words ("<tool_call>", "</tool_call>")
      const match = /<tool_call>([\s\S]*?)<\/tool_call>/.exec(m.value);
      const thought = match ? m.value.replace(match[0], "") : "";
      let calls = JSON.parse(match ? match[1] : m.value);
      if (!Array.isArray(calls)) calls = [calls];
      const fn = calls.map((c) => "<tool_call>\n" + pyDumps({ name: c.name, arguments: c.arguments }) + "\n</tool_call>").join("\n");
      s += thought + fn + "<|im_end|>\n";
    }
    const mids = encode(s);
    if (i % 2 === 1) for (let k = 0; k < mids.length; k++) trained.push(ids.length + k);
    ids.push(...mids);
    text += s;
  });
  return { text, ids, trained };
}

function axolotl(row) {
  const tools = row.tools == null ? null : row.tools.map((t) => {
    const f = { ...t.function };
    if (typeof f.parameters === "string") f.parameters = JSON.parse(f.parameters);
    return { ...t, function: f };
  });
  const messages = row.messages.map((m) => {
    const out = { role: m.role, content: m.content };
    if (m.tool_calls) out.tool_calls = m.tool_calls.map((c) => ({ ...c, function: { ...c.function, arguments: typeof c.function.arguments === "string" ? JSON.parse(c.function.arguments) : c.function.arguments } }));
    if (m.tool_call_id) out.tool_call_id = m.tool_call_id;
    return out;
  });
  const text = render(messages, { tools: tools && tools.length ? tools : null });
  return { text, ids: encode(text), trained: [] };
}

// What Hugging Face datasets' JSON loading (pyarrow's JSON reader) makes of
// the rows: one schema for the whole file, where an object has every key any
// row's object at that place has, in first-seen order, missing ones null.
function arrowSchema(values) {
  let schema = null;
  for (const v of values) {
    if (v === null || v === undefined) continue;
    if (Array.isArray(v)) {
      schema = schema ?? { list: [] };
      if (schema.list) schema.list.push(...v);
    } else if (typeof v === "object") {
      schema = schema ?? { fields: new Map() };
      if (schema.fields) for (const [k, x] of Object.entries(v)) {
        if (!schema.fields.has(k)) schema.fields.set(k, []);
        schema.fields.get(k).push(x);
      }
    } else schema = schema ?? { scalar: true };
  }
  if (schema && schema.list) return { list: arrowSchema(schema.list) };
  if (schema && schema.fields) return { fields: new Map([...schema.fields].map(([k, xs]) => [k, arrowSchema(xs)])) };
  return schema;
}
function arrowShape(v, schema) {
  if (v === null || v === undefined || !schema) return v ?? null;
  if (schema.list && Array.isArray(v)) return v.map((x) => arrowShape(x, schema.list));
  if (schema.fields && typeof v === "object" && !Array.isArray(v)) {
    const out = {};
    for (const [k, sub] of schema.fields) out[k] = arrowShape(v[k], sub);
    return out;
  }
  return v;
}
function throughArrow(rows) {
  const schema = arrowSchema(rows);
  return rows.map((r) => arrowShape(r, schema));
}

function trl(row) {
  const ids = Array.from(row.input_ids, Number);
  const labels = Array.from(row.labels ?? row.input_ids, Number);
  if (row.assistant_masks) Array.from(row.assistant_masks, Number).forEach((m, i) => { if (m === 0) labels[i] = -100; });
  let positions = [];
  for (const n of row.seq_lengths ?? [ids.length]) for (let i = 0; i < Number(n); i++) positions.push(i);
  const trained = [];
  labels.forEach((l, i) => l !== -100 && trained.push(i));
  return { ids, trained, positions, attention: Array.from(row.attention_mask, Number).every((a) => a === 1) };
}

let rows;
if (file.endsWith(".parquet")) {
  const buf = fs.readFileSync(file);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  rows = await parquetReadObjects({ file: ab, compressors });
} else {
  rows = throughArrow(fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l)));
}
const sg = consumer === "verl" ? verlSystemAndGeneration() : null;
for (const row of rows) {
  let out;
  try {
    if (consumer === "openrlhf") out = openrlhfItem(openrlhfProcess(row.input));
    else if (consumer === "openrlhf-process") out = openrlhfProcess(row.input);
    else if (consumer === "openrlhf-item") out = openrlhfItem(row);
    else if (consumer === "verl") out = verl(row, sg);
    else if (consumer === "llamafactory") out = llamafactory(row);
    else if (consumer === "axolotl") out = axolotl(row);
    else if (consumer === "trl") out = trl(row);
    else if (consumer === "verl-rl") {
      const tools = row.extra_info?.tools ? JSON.parse(row.extra_info.tools) : null;
      const text = render(Array.from(row.prompt), { tools, addGenerationPrompt: true });
      out = { text, ids: encode(text), trained: [], task_id: row.extra_info?.task_id };
    }
    else throw new Error(`unknown consumer ${consumer}`);
  } catch (e) {
    out = { error: String(e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}
