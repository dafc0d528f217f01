// A model's tokenizer files as the JavaScript references use them: the
// chat template rendered with @huggingface/jinja (transformers.js's
// renderer) and text encoded with @lenml/tokenizers, no special tokens
// added (what apply_chat_template's tokenize=True and the trainers'
// add_special_tokens=False do with a rendered chat).
import fs from "node:fs";
import { TokenizerLoader } from "@lenml/tokenizers";
import { Template } from "@huggingface/jinja";

export function loadModel(dir) {
  const tokenizerJSON = JSON.parse(fs.readFileSync(`${dir}/tokenizer.json`, "utf8"));
  const tokenizerConfig = JSON.parse(fs.readFileSync(`${dir}/tokenizer_config.json`, "utf8"));
  const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });
  const template = new Template(tokenizerConfig.chat_template);
  const special = (k) => {
    const v = tokenizerConfig[k];
    return v && typeof v === "object" ? v.content : v ?? "";
  };
  // apply_chat_template(messages, tools, add_generation_prompt, tokenize=False)
  const render = (messages, { tools = null, addGenerationPrompt = false } = {}) =>
    template.render({
      messages,
      tools,
      add_generation_prompt: addGenerationPrompt,
      bos_token: special("bos_token"),
      eos_token: special("eos_token"),
      pad_token: special("pad_token"),
      unk_token: special("unk_token"),
    });
  const encode = (text) => tok.encode(text, { add_special_tokens: false });
  return { tok, special, render, encode, tokenID: (t) => encode(t)[0] };
}
