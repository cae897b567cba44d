#!/usr/bin/env python3
"""Re-renders every case of tests/data/templates/goldens.json with Python's Jinja2,
configured as transformers' apply_chat_template configures it (ImmutableSandboxedEnvironment,
trim_blocks, lstrip_blocks, loopcontrols, raise_exception, strftime_now, a tojson that
keeps non-ASCII), and reports where it differs from @huggingface/jinja's golden.

    python3 scripts/goldens/templates/cross_check.py

Exit status 1 when any case differs. This is a check of the goldens, run by hand when
they are regenerated; the C tests do not need Python."""
import json
import os
import sys
from datetime import datetime

from jinja2 import TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../../.."))
TEMPLATES = os.path.join(ROOT, "tests/data/templates")


def make_env(now):
    def raise_exception(message):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.fromtimestamp(now).strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    with open(os.path.join(TEMPLATES, "goldens.json"), encoding="utf-8") as f:
        gold = json.load(f)
    env = make_env(gold["now_unix"])
    sources = []
    for t in gold["templates"]:
        with open(os.path.join(TEMPLATES, t["file"]), encoding="utf-8") as f:
            sources.append((t["file"], f.read(), t))
    for b in gold["builtins"]:
        sources.append(("builtin " + b["name"], b["template"], b))
    total = bad = 0
    for name, src, t in sources:
        tmpl = env.from_string(src)
        for c in t["cases"]:
            total += 1
            kw = {"messages": gold["conversations"][c["conversation"]], "add_generation_prompt": c["add_generation_prompt"]}
            if t["bos_token"] is not None:
                kw["bos_token"] = t["bos_token"]
            if t["eos_token"] is not None:
                kw["eos_token"] = t["eos_token"]
            for k in ("enable_thinking", "date_string"):
                if k in c:
                    kw[k] = c[k]
            try:
                got = {"output": tmpl.render(**kw)}
            except TemplateError as e:
                got = {"error": str(e)}
            want = {k: c[k] for k in ("output", "error") if k in c}
            if got != want:
                bad += 1
                print(f"DIFF {name} {c['conversation']} gen={c['add_generation_prompt']} "
                      f"think={c.get('enable_thinking')} date={c.get('date_string')}")
                print("   jinja2:", json.dumps(got)[:400])
                print("   golden:", json.dumps(want)[:400])
    print(f"{total} cases, {bad} differ between Jinja2 and @huggingface/jinja")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
