#!/usr/bin/env python3
"""Renders small Jinja probes (one language feature each) with Python's Jinja2, set up as
transformers sets it up for chat templates, into tests/data/templates/jinja2-probes.json.
tests/test_chat_template.c renders the same probes with frugal's interpreter and compares.

    python3 scripts/goldens/templates/make_probes.py

Each probe: name, template, vars (JSON-able; passed to frugal as JSON variables) and
either "output" or "error": true (Jinja2 raised; frugal must fail too, any message)."""
import json
import os
import sys

from jinja2 import TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "../../../tests/data/templates/jinja2-probes.json"))

MSGS = [
    {"role": "system", "content": "Be nice."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Bye"},
]
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                     "required": ["city"]}}},
    {"type": "function", "function": {"name": "now", "description": "Current time é ✓", "parameters": {}}},
]

# (name, template, vars)
PROBES = [
    # --- whitespace control, trim_blocks, lstrip_blocks, comments, raw
    ("ws_plain", "a\n{% if true %}\n  b\n{% endif %}\nc\n", {}),
    ("ws_indented_tags", "x\n    {% if true %}\n    y\n    {% endif %}\nz", {}),
    ("ws_minus_both", "a   {%- if true -%}   b   {%- endif -%}   c", {}),
    ("ws_expr_minus", "a  \n  {{- 'b' -}}  \n  c", {}),
    ("ws_expr_not_lstripped", "a\n    {{ 'b' }}\n", {}),
    ("ws_plus_disables_lstrip", "a\n    {%+ if true %}b{% endif %}", {}),
    ("ws_plus_keeps_newline", "{% if true +%}\nb{% endif %}", {}),
    ("ws_comment", "a\n  {# note #}\nb {#- x -#} c", {}),
    ("ws_comment_multiline", "{# a\n b\n c #}\nafter", {}),
    ("ws_trailing_newline_dropped", "text\n", {}),
    ("ws_two_trailing_newlines", "text\n\n", {}),
    ("ws_crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\n", {}),
    ("raw_block", "{% raw %}{{ not evaluated }} {% if %}{% endraw %}", {}),
    ("raw_minus", "a {%- raw -%}  x  {%- endraw -%} b", {}),
    ("text_braces", "a { b } c {x} }} %} #}", {}),
    # --- literals and escapes
    ("str_escapes", "{{ 'tab\\there\\nnew \\'q\\' \"dq\" back\\\\slash' }}", {}),
    ("str_unicode_escapes", "{{ '\\u00e9\\x41\\U0001F600' }}|{{ \"\\d stays\" }}", {}),
    ("str_adjacent", "{{ 'a' \"b\" 'c' }}", {}),
    ("ints_floats", "{{ 1 }} {{ 2.5 }} {{ 10 / 4 }} {{ 10 // 4 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}", {}),
    ("float_repr", "{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.5e-7 }} {{ 100.0 / 3 }} {{ 3 * 1.0 }} {{ 0.0001 }} {{ 123456789012345678.0 }}", {}),
    ("print_values", "{{ none }}|{{ true }}|{{ false }}|{{ [1, 'a', none, true] }}|{{ {'k': 'v', 'n': 1} }}|{{ (1,) }}|{{ (1, 'x') }}|{{ undefined_thing }}|", {}),
    ("print_repr_quotes", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'nl\\n'] }}", {}),
    ("bools_caps", "{{ True }} {{ False }} {{ None }}", {}),
    # --- operators and precedence
    ("concat_ops", "{{ 'a' + 'b' }} {{ 'a' ~ 1 ~ none ~ true }} {{ [1] + [2, 3] }} {{ 'ab' * 3 }} {{ 2 * 'x' }}", {}),
    ("precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ not 1 == 2 }} {{ 1 < 2 and 2 < 3 }}", {}),
    ("filter_binds_tighter", "{{ 'a' + ' b ' | trim + 'c' }} {{ -3 | abs }}", {}),
    ("logic_values", "{{ 0 or 'x' }} {{ '' or [] }} {{ 1 and 2 }} {{ none and 1 }} {{ [] or 'e' }}", {}),
    ("comparisons", "{{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ 'B' < 'a' }} {{ [1, 2] == [1, 2] }} {{ {'a': 1} == {'a': 1} }} {{ 1 != 2 }} {{ none == none }} {{ 1 == '1' }} {{ true == 1 }}", {}),
    ("in_ops", "{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }} {{ '' in 'x' }} {{ 3 not in [1] }}", {}),
    ("ternary", "{{ 'y' if true else 'n' }} {{ 'y' if false else 'n' }} [{{ 'y' if false }}] {{ 1 if false else 2 if true else 3 }}", {}),
    ("unary", "{{ -1 }} {{ +1 }} {{ - -2 }} {{ not not 0 }} {{ -(1 + 2) }}", {}),
    # --- variables, attributes, subscripts, slices
    ("attr_and_item", "{{ messages[1].content }} {{ messages[1]['role'] }} {{ messages[-1].content }} [{{ messages[9] }}] [{{ messages[0].nope }}]", {"messages": MSGS}),
    ("undefined_tests", "{{ nope is defined }} {{ messages[7] is defined }} {{ messages[0].nope is defined }}", {"messages": MSGS}),
    ("slices", "{{ [1,2,3,4,5][1:3] }} {{ [1,2,3,4,5][::-1] }} {{ [1,2,3,4,5][::2] }} {{ [1,2,3,4,5][-2:] }} {{ [1,2,3][5:] }} {{ 'héllo'[1:4] }} {{ 'héllo'[::-1] }} {{ 'abc'[-1] }} {{ (1,2,3)[1:] }}", {}),
    ("slice_messages", "{% for m in messages[1:] %}{{ m.role }},{% endfor %}|{% for m in messages[::-1] %}{{ loop.index0 }}{{ m.role[0] }}{% endfor %}", {"messages": MSGS}),
    ("dot_number", "{{ messages.0.role }} {{ [[1, 2]].0.1 }}", {"messages": MSGS}),
    # --- if / for / loop
    ("if_elif_else", "{% for x in [1, 2, 3, 4] %}{% if x == 1 %}one{% elif x == 2 %}two{% elif x == 3 %}three{% else %}many{% endif %} {% endfor %}", {}),
    ("loop_vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}", {}),
    ("loop_prev_next", "{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}", {}),
    ("loop_cycle", "{% for x in range(5) %}{{ loop.cycle('a', 'b') }}{% endfor %}", {}),
    ("loop_else", "{% for x in [] %}x{% else %}empty{% endfor %} {% for x in [1] %}one{% else %}no{% endfor %}", {}),
    ("loop_filter", "{% for x in range(10) if x is odd %}{{ x }}{{ ',' if not loop.last }}{% endfor %}", {}),
    ("loop_break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("loop_dict_items", "{% for k, v in {'a': 1, 'b': [2]}.items() %}{{ k }}={{ v }};{% endfor %}{% for k in {'x': 1, 'y': 2} %}{{ k }}{% endfor %}", {}),
    ("loop_nested", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }}{% endfor %}{{ loop.index }};{% endfor %}", {}),
    ("loop_tuple_unpack", "{% for a, b in [[1, 2], (3, 4)] %}{{ a + b }}{% endfor %}", {}),
    ("loop_over_undefined", "[{% for x in nothing %}x{% endfor %}]", {}),
    ("range_forms", "{{ range(3) | list }} {{ range(1, 4) | list }} {{ range(10, 0, -3) | list }} {{ range(0) | list }} {{ range(5, 1) | list }}", {}),
    # --- set, scoping, namespace
    ("set_basic", "{% set x = 1 %}{% set y, z = 2, 3 %}{{ x }}{{ y }}{{ z }}", {}),
    ("set_scope_loop", "{% set x = 'out' %}{% for i in [1] %}{% set x = 'in' %}{{ x }}{% endfor %}{{ x }}", {}),
    ("set_scope_if", "{% set x = 'a' %}{% if true %}{% set x = 'b' %}{% endif %}{{ x }}", {}),
    ("set_in_loop_per_iteration", "{% set v = 'out' %}{% for i in range(3) %}[{{ v }}]{% if i == 0 %}{% set v = 'first' %}{% endif %}[{{ v }}]{% endfor %}[{{ v }}]", {}),
    ("set_in_nested_loops", "{% set v = 'out' %}{% for i in range(2) %}{% for j in range(2) %}{% if j == 0 %}{% set v = 'in' %}{% endif %}{{ v }}{% endfor %}|{{ v }};{% endfor %}", {}),
    ("macro_lexical_scope", "{% macro m() %}[{{ v }}]{% endmacro %}{% for v in [1, 2] %}{{ m() }}{% endfor %}{% set v = 'h' %}{{ m() }}", {}),
    ("set_block", "{% set b %}hello {{ 'world' }}{% endset %}{{ b | upper }}", {}),
    ("set_block_filter", "{% set b | trim | upper %}  padded  {% endset %}[{{ b }}]", {}),
    ("namespace", "{% set ns = namespace(n=0, s='') %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}", {}),
    ("namespace_from_dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}", {}),
    ("overwrite_messages", "{% set messages = messages[1:] %}{{ messages | length }}{{ messages[0].role }}", {"messages": MSGS}),
    # --- macros, call, filter blocks
    ("macro_basic", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(punct='.', name='C') }}", {}),
    ("macro_sees_globals", "{% set g = 'G' %}{% macro m() %}{{ g }}{{ x }}{% endmacro %}{{ m() }}", {"x": "X"}),
    ("macro_recursive", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1) | int }}{% endif %}{% endmacro %}{{ fact(5) }}", {}),
    ("macro_default_uses_param", "{% macro m(a, b=a ~ 'x') %}{{ a }}{{ b }}{% endmacro %}{{ m('q') }}", {}),
    ("call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}inner{% endcall %}", {}),
    ("call_block_args", "{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(item) each([1, 2]) %}[{{ item }}]{% endcall %}", {}),
    ("filter_block", "{% filter upper %}shout {{ 'this' }}{% endfilter %}", {}),
    # --- filters
    ("f_trim", "[{{ '  a b \\n' | trim }}] [{{ 'xxaxx' | trim('x') }}] [{{ '\\u3000a\\u00a0' | trim }}]", {}),
    ("f_case", "{{ 'héllo wörld' | upper }} {{ 'ÀB' | lower }} {{ 'hello wORLD' | title }} {{ 'hELLO' | capitalize }} {{ \"they're bill's\" | title }}", {}),
    ("f_length", "{{ 'héllo' | length }} {{ [1, 2] | length }} {{ {'a': 1} | length }} {{ 'x' | count }} {{ nothing | length }}", {}),
    ("f_first_last", "{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ 'abc' | first }} [{{ [] | first }}]", {}),
    ("f_join", "{{ ['a', 'b'] | join }} {{ ['a', 'b'] | join(', ') }} {{ [1, 2] | join('-') }} {{ messages | join(',', attribute='role') }}", {"messages": MSGS}),
    ("f_default", "{{ nothing | default('d') }} {{ '' | default('d') }} {{ '' | default('d', true) }} {{ none | default('d') }} {{ nothing | d('x') }} [{{ nothing | default }}]", {}),
    ("f_replace", "{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'abc' | replace('', '-') }}", {}),
    ("f_list_reverse", "{{ 'abc' | list }} {{ [1, 2, 3] | reverse | list }} {{ 'abc' | reverse }} {{ {'a': 1, 'b': 2} | list }}", {}),
    ("f_sort", "{{ [3, 1, 2] | sort }} {{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A', 'c'] | sort(case_sensitive=true) }} {{ [3, 1, 2] | sort(reverse=true) }} {{ messages | sort(attribute='role') | map(attribute='content') | list }}", {"messages": MSGS}),
    ("f_unique", "{{ [1, 2, 1, 3, 2] | unique | list }} {{ ['a', 'A', 'b'] | unique | list }}", {}),
    ("f_map_select", "{{ messages | map(attribute='role') | list }} {{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }} {{ messages | rejectattr('role', 'eq', 'user') | list | length }} {{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('even') | list }} {{ ['a', 'b'] | map('upper') | list }} {{ [0, 1, '', 'x'] | select | list }}", {"messages": MSGS}),
    ("f_selectattr_truthy", "{{ tools | selectattr('type') | list | length }} {{ tools | map(attribute='function.name') | join(' ') }}", {"tools": TOOLS}),
    ("f_items_dictsort", "{{ {'b': 1, 'a': 2} | items | list }} {{ {'b': 1, 'a': 2} | dictsort }} {{ {'b': 1, 'a': 2} | dictsort(by='value') }} {{ {'b': 1, 'A': 2} | dictsort(reverse=true) }}", {}),
    ("f_indent", "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(1, blank=true) }}|{{ 'x\\n' | indent }}", {}),
    ("f_numbers", "{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '2.5' | float }} {{ 'y' | float }} {{ -5 | abs }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.1 | round(method='ceil') }} {{ [1, 2, 3] | sum }} {{ [3, 1, 2] | max }} {{ [3, 1, 2] | min }}", {}),
    ("f_string_safe_escape", "{{ 1 | string }} {{ none | string }} {{ [1] | string }} {{ '<a href=\"x\">&\\'' | escape }} {{ '<b>' | safe }} {{ '<b>' | e }}", {}),
    ("f_tojson", "{{ messages[:2] | tojson }}\n{{ {'a': 'é ✓', 'b': [1, 2.5, none, true]} | tojson }}\n{{ 'quote \" back \\\\ nl \\n tab \\t ctrl \\x01' | tojson }}", {"messages": MSGS}),
    ("f_tojson_indent", "{{ tools[0] | tojson(indent=4) }}\n{{ [] | tojson(indent=2) }} {{ {} | tojson(indent=2) }} {{ [[]] | tojson(indent=1) }}", {"tools": TOOLS}),
    ("f_tojson_options", "{{ {'b': 1, 'a': 'é'} | tojson(sort_keys=true) }} {{ {'b': 1, 'a': 'é😀'} | tojson(ensure_ascii=true) }} {{ {'a': [1, 2]} | tojson(separators=(',', ':')) }}", {}),
    ("f_attr", "{{ messages[0] | attr('role') }}", {"messages": MSGS}),
    ("title_kinds", "{{ \"they're bill's\".title() }} {{ 'a-b (c [d <e {f g_h i.j' | title }} {{ 'a-b (c [d <e {f g_h i.j'.title() }}", {}),
    ("f_chain", "{{ '  Hello World  ' | trim | lower | replace('world', 'there') | title }}", {}),
    # --- tests
    ("t_types", "{{ 1 is number }}{{ 1.5 is float }}{{ 1 is integer }}{{ true is boolean }}{{ 'a' is string }}{{ [] is sequence }}{{ {} is mapping }}{{ [] is mapping }}{{ 'a' is iterable }}{{ 1 is iterable }}{{ none is none }}{{ nothing is undefined }}{{ 'x' is defined }}", {}),
    ("t_values", "{{ true is true }}{{ 1 is true }}{{ false is false }}{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(2) }}{{ 'a' is in 'abc' }}{{ 2 is in [1, 2] }}", {}),
    ("t_compare", "{{ 1 is eq 1 }}{{ 1 is equalto 2 }}{{ 1 is ne 2 }}{{ 1 is lt 2 }}{{ 2 is le 2 }}{{ 3 is gt 2 }}{{ 3 is ge 4 }}{{ 3 is greaterthan 2 }}{{ 1 is lessthan 0 }}", {}),
    ("t_case", "{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ 'aBc' is lower }}{{ '123' is lower }}", {}),
    ("t_not", "{{ 1 is not string }}{{ nothing is not defined }}{{ none is not none }}", {}),
    ("t_sameas_callable", "{{ none is sameas none }}{{ true is sameas true }}{{ range is callable }}{{ 'x' is callable }}", {}),
    ("t_in_selectattr", "{{ messages | selectattr('role', 'in', ['system', 'assistant']) | map(attribute='role') | join(',') }}", {"messages": MSGS}),
    # --- string methods
    ("m_strip", "[{{ '  a  '.strip() }}] [{{ '\\n\\na b\\n'.strip('\\n') }}] [{{ '  \\nx'.lstrip('\\n') }}] [{{ 'x\\n  '.rstrip('\\n') }}] [{{ 'xyhixy'.strip('xy') }}] [{{ '  a  '.lstrip() }}|{{ '  a  '.rstrip() }}]", {}),
    ("m_starts_ends", "{{ 'hello'.startswith('he') }}{{ 'hello'.endswith('lo') }}{{ 'hello'.startswith(('x', 'h')) }}{{ 'hello'.endswith(('x', 'y')) }}", {}),
    ("m_split", "{{ 'a,b,,c'.split(',') }} {{ '  a  b c '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a b c'.split(none, 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ '<think>x</think>y'.split('</think>')[-1] }}", {}),
    ("m_splitlines", "{{ 'a\\nb\\r\\nc\\rd\\n'.splitlines() }} {{ 'a\\nb'.splitlines(true) }}", {}),
    ("m_replace_case", "{{ 'aXa'.replace('a', 'b') }} {{ 'aaa'.replace('a', 'b', 1) }} {{ 'Hi'.upper() }}{{ 'Hi'.lower() }} {{ 'ab cd'.title() }} {{ 'ab CD'.capitalize() }}", {}),
    ("m_find_count_join", "{{ 'héllo'.find('l') }} {{ 'abc'.find('z') }} {{ 'aaaa'.count('aa') }} {{ '-'.join(['a', 'b', 'c']) }} {{ ', '.join(messages | map(attribute='role')) }}", {"messages": MSGS}),
    ("m_is", "{{ '123'.isdigit() }}{{ 'abc'.isalpha() }}{{ 'a1'.isalnum() }}{{ ' \\t'.isspace() }}{{ 'AB'.isupper() }}{{ 'ab'.islower() }}{{ ''.isdigit() }}", {}),
    ("m_dict", "{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 'dflt') }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }}", {"d": {"a": 1, "b": "two"}}),
    ("m_method_on_messages", "{% for m in messages %}{{ m.content.upper() if m.role == 'user' else m.content }};{% endfor %}", {"messages": MSGS}),
    # --- globals
    ("g_dict_raise_ok", "{{ dict(a=1, b='x') }} {{ dict({'z': 0}, y=1) }}", {}),
    ("g_strftime", "{{ strftime_now('%Y-%m-%d %H:%M:%S %b %B %a %A %y %j %p %I %%') }}", {}),
    ("g_raise", "before{{ raise_exception('nope') }}", {}),
    # --- chat-template idioms
    ("idiom_tool_calls", "{% for m in messages %}{% if m.tool_calls %}{% for tc in m.tool_calls %}{% if tc.function is defined %}{% set tc = tc.function %}{% endif %}<tool_call>{\"name\": \"{{ tc.name }}\", \"arguments\": {{ tc.arguments | tojson }}}</tool_call>{% endfor %}{% else %}{{ m.content }}{% endif %}\n{% endfor %}",
     {"messages": [{"role": "user", "content": "weather?"},
                   {"role": "assistant", "content": None, "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "°C"}}}]}]}),
    ("idiom_tools_listing", "{% for tool in tools %}{{ '\\n' }}{{ tool | tojson }}{% endfor %}", {"tools": TOOLS}),
    ("idiom_content_none", "[{{ messages[0].content }}] {{ messages[0].content is none }} {{ messages[0].content is string }} {{ 'x' if messages[0].content else 'empty' }}", {"messages": [{"role": "assistant", "content": None}]}),
    ("idiom_multistep_ns", "{% set ns = namespace(last=messages | length - 1, done=false) %}{% for m in messages[::-1] %}{% set i = messages | length - 1 - loop.index0 %}{% if not ns.done and m.role == 'user' %}{% set ns.last = i %}{% set ns.done = true %}{% endif %}{% endfor %}{{ ns.last }}", {"messages": MSGS}),
    ("idiom_content_list", "{% for part in content %}{% if part.type == 'text' %}{{ part.text }}{% endif %}{% endfor %} {{ content is string }} {{ content is iterable }}", {"content": [{"type": "text", "text": "a"}, {"type": "image"}, {"type": "text", "text": "b"}]}),
    # --- errors Jinja2 raises (frugal must fail too; messages differ)
    ("err_unknown_filter", "{{ 'x' | nosuchfilter }}", {}),
    ("err_unknown_test", "{{ 'x' is nosuchtest }}", {}),
    ("err_unclosed_if", "{% if true %}x", {}),
    ("err_unclosed_expr", "{{ 'x' ", {}),
    ("err_unclosed_comment", "{# x", {}),
    ("err_stray_endfor", "x{% endfor %}", {}),
    ("err_unknown_tag", "{% frobnicate %}", {}),
    ("err_bad_expr", "{{ 1 + }}", {}),
    ("err_str_plus_int", "{{ 'a' + 1 }}", {}),
    ("err_div_zero", "{{ 1 / 0 }}", {}),
    ("err_set_attr_non_ns", "{% set d = {} %}{% set d.x = 1 %}", {}),
    ("err_compare_types", "{{ 1 < 'a' }}", {}),
    ("err_call_undefined", "{{ nosuchfunc() }}", {}),
    ("err_unpack", "{% for a, b in [[1, 2, 3]] %}{% endfor %}", {}),
]


def make_env():
    def raise_exception(message):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


NOW_UNIX = 1721995200  # 2024-07-26 12:00:00 UTC; strftime_now uses this clock in UTC


def main():
    import datetime
    env = make_env()
    env.globals["strftime_now"] = lambda fmt: datetime.datetime.fromtimestamp(NOW_UNIX, datetime.timezone.utc).strftime(fmt)
    out = []
    seen = set()
    for name, src, variables in PROBES:
        assert name not in seen, name
        seen.add(name)
        p = {"name": name, "template": src, "vars": variables}
        try:
            p["output"] = env.from_string(src).render(**variables)
        except Exception as e:  # noqa: BLE001 - any Jinja2 failure is an expected error
            p["error"] = True
            p["jinja2_error"] = f"{type(e).__name__}: {e}"
        out.append(p)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"generator": "Python Jinja2 (scripts/goldens/templates/make_probes.py)", "now_unix": NOW_UNIX,
                   "probes": out}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    errs = sum(1 for p in out if p.get("error"))
    print(f"wrote {os.path.relpath(OUT)}: {len(out)} probes ({errs} expected errors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
