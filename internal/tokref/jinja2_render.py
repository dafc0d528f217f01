"""Render chat templates with Debian's python3-jinja2 the way Hugging Face
transformers does (transformers/utils/chat_template_utils.py
_compile_jinja_template: an ImmutableSandboxedEnvironment with trim_blocks,
lstrip_blocks and the loopcontrols extension; tojson as json.dumps with
ensure_ascii=False; raise_exception and strftime_now as globals). The
{% generation %} tag of transformers' AssistantTracker is not provided.

    python3 jinja2_render.py tokenizer_config.json < cases.jsonl

Each input line is {"messages": [...], "tools": [...] or null,
"add_generation_prompt": bool}; each output line is {"text": ...} or
{"error": ...}.
"""

import json
import sys
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


def special(config, key):
    v = config.get(key)
    if isinstance(v, dict):
        return v.get("content", "")
    return v or ""


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        config = json.load(f)
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    template = env.from_string(config["chat_template"])
    tokens = {k: special(config, k) for k in ("bos_token", "eos_token", "pad_token", "unk_token")}
    for line in sys.stdin:
        if not line.strip():
            continue
        case = json.loads(line)
        try:
            text = template.render(messages=case["messages"], tools=case.get("tools"),
                                   add_generation_prompt=bool(case.get("add_generation_prompt")), **tokens)
            out = {"text": text}
        except Exception as e:  # the error, in a line, for the test to report
            out = {"error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")


main()
