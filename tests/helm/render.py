#!/usr/bin/env python3
"""Renders a Helm chart without helm: a Go text/template interpreter for the subset of the
language and of Helm/Sprig functions that helm/apm-coverage uses.

There is no helm binary in Debian and the build has no network, so tests/helm/test_chart.py
renders the chart with this module and checks the manifests. It follows Go and Helm semantics
where they bite in practice:

  * trim markers ({{- and -}}), comments, raw strings, parenthesised pipelines, variables
    with Go's scoping, if/else if/else, range (lists, maps in sorted key order, $i, $v),
    with, define/include/template, and Helm's `<no value>` -> "" replacement;
  * values are loaded the way Helm loads them (YAML -> JSON), so every number from a values
    file is a float64: `{{ 1000000 }}` prints `1e+06` and `eq .Values.n 1` fails with
    "incompatible types for comparison", as in Helm;
  * Helm's value coalescing (a user `null` deletes a default), the values.schema.json check,
    .Files.Get, manifest splitting on `---`, NOTES.txt;
  * missing map keys give nil; a field of nil is an error ("nil pointer evaluating").

It is NOT helm: unsupported functions raise RenderError naming them, and nothing here checks
what only a real helm or API server would (see README.md).

Command line (prints what `helm template` would):
  render.py CHART_DIR [-f values.yaml ...] [--release-name NAME] [--namespace NS] [--notes]
"""

import argparse
import base64
import copy
import hashlib
import json
import math
import os
import re
import sys

import yaml


class RenderError(Exception):
    """A template failed to render (parse error, `fail`, `required`, type error...)."""


# --------------------------------------------------------------------------------------------
# Go value formatting


def go_float(f):
    """fmt's %v of a float64 (strconv 'g' with the shortest representation)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1, f) < 0 else "0"
    r = repr(f)  # shortest round-trip digits, like Go's
    m = re.match(r"^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$", r)
    sign, ip, fp, ex = m.group(1), m.group(2), m.group(3) or "", int(m.group(4) or 0)
    digits = (ip + fp).lstrip("0")
    # decimal exponent of the first significant digit
    if ip.strip("0"):
        exp = len(ip.lstrip("0")) - 1 + ex
    else:
        exp = -(len(fp) - len(fp.lstrip("0"))) - 1 + ex
    digits = digits.rstrip("0") or "0"
    # strconv.FormatFloat(f, 'g', -1, 64): %e when exp < -4 || exp >= 6 for the shortest form
    # (so Helm prints a values-file 1000000 as 1e+06).
    eprec = 6
    if exp < -4 or exp >= eprec:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return "%s%se%s%02d" % (sign, mant, "-" if exp < 0 else "+", abs(exp))
    if exp >= 0:
        if len(digits) <= exp + 1:
            return sign + digits + "0" * (exp + 1 - len(digits))
        return sign + digits[: exp + 1] + "." + digits[exp + 1 :]
    return sign + "0." + "0" * (-exp - 1) + digits


def go_str(v):
    """fmt's %v of a template value (nil prints as Helm's empty string)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        return "map[" + " ".join("%s:%s" % (k, go_str(v[k])) for k in sorted(v)) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_str(x) for x in v) + "]"
    if isinstance(v, Struct):
        return "{%s}" % v.name
    return str(v)


def go_quote(s):
    """strconv.Quote."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\a":
            out.append("\\a")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\v":
            out.append("\\v")
        elif o < 0x20 or o == 0x7F:
            out.append("\\x%02x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def kind_of(v):
    if v is None:
        return "invalid"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, int):
        return "int"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return "map"
    if isinstance(v, (list, tuple)):
        return "slice"
    if callable(v):
        return "func"
    return "struct"


def truth(v):
    """text/template's truth: false, 0, nil and empty strings/collections are false."""
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, (str, list, tuple, dict)):
        return len(v) > 0
    return True


def jsonish(v):
    """The value as Helm's toYaml/toJson see it: integral floats print as integers."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return int(v)
    if isinstance(v, dict):
        return {str(k): jsonish(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonish(x) for x in v]
    if isinstance(v, Struct):
        raise RenderError("cannot serialise %s" % v.name)
    return v


def to_yaml(v):
    if v is None:
        return "null"
    out = yaml.safe_dump(jsonish(v), default_flow_style=False, sort_keys=True,
                         allow_unicode=True, width=1 << 30)
    if out.endswith("...\n"):  # a bare scalar
        out = out[: -len("...\n")]
    return out[:-1] if out.endswith("\n") else out


def floats(v):
    """Helm reads values through JSON: every number becomes a float64."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, dict):
        return {str(k): floats(x) for k, x in v.items()}
    if isinstance(v, list):
        return [floats(x) for x in v]
    return v


class Struct:
    """A Go struct (.Chart, .Release, .Files): a missing field is an error, unlike a map."""

    def __init__(self, name, **fields):
        self.name = name
        self.fields = fields

    def get(self, field):
        if field not in self.fields:
            raise RenderError("can't evaluate field %s in type %s" % (field, self.name))
        return self.fields[field]


# --------------------------------------------------------------------------------------------
# Lexing


_SPACE = " \t\r\n"


def split_actions(src, name):
    """Splits template text into ("text", s) and ("action", body, line) items, applying trim
    markers and dropping comments."""
    items = []
    pos = 0
    line = 1
    trim_next = False
    while True:
        start = src.find("{{", pos)
        if start < 0:
            text = src[pos:]
            if trim_next:
                text = text.lstrip(_SPACE)
            items.append(("text", text))
            break
        text = src[pos:start]
        if trim_next:
            text = text.lstrip(_SPACE)
        i = start + 2
        if src.startswith("-", i) and i + 1 < len(src) and src[i + 1] in _SPACE:
            text = text.rstrip(_SPACE)
            i += 2
        items.append(("text", text))
        line += src.count("\n", pos, start)
        # scan to the closing }} outside literals
        j = i
        while True:
            if j >= len(src):
                raise RenderError("%s:%d: unclosed action" % (name, line))
            c = src[j]
            if c in "\"'":
                k = j + 1
                while k < len(src) and src[k] != c:
                    k += 2 if src[k] == "\\" else 1
                j = k + 1
                continue
            if c == "`":
                k = src.find("`", j + 1)
                if k < 0:
                    raise RenderError("%s:%d: unterminated raw string" % (name, line))
                j = k + 1
                continue
            if src.startswith("/*", j):
                k = src.find("*/", j + 2)
                if k < 0:
                    raise RenderError("%s:%d: unclosed comment" % (name, line))
                j = k + 2
                continue
            if src.startswith("}}", j):
                break
            j += 1
        body = src[i:j]
        trim_next = False
        if body.endswith(" -") or body.endswith("\t-") or body.endswith("\n-") or body == "-":
            body = body[:-1]
            trim_next = True
        stripped = body.strip(_SPACE)
        if stripped.startswith("/*"):
            if not stripped.endswith("*/"):
                raise RenderError("%s:%d: comment ends before its action" % (name, line))
        else:
            items.append(("action", stripped, line))
        line += src.count("\n", start, j + 2)
        pos = j + 2
    return items


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<raw>`[^`]*`)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<char>'(?:[^'\\]|\\.)+')
  | (?P<decl>:=)
  | (?P<assign>=)
  | (?P<pipe>\|)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<num>[+-]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*\.?\d*(?:[eE][+-]?\d+)?)|\.\d+(?:[eE][+-]?\d+)?))
  | (?P<var>\$[A-Za-z0-9_]*)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
  | (?P<dot>\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
""", re.VERBOSE)


def tokenize(text, where):
    toks = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise RenderError("%s: unexpected %r in action" % (where, text[pos:pos + 20]))
        kind = m.lastgroup
        val = m.group(kind)
        pos = m.end()
        if kind == "ws":
            toks.append(("ws", val))
            continue
        # a field chain directly after ) or a variable belongs to it
        if kind == "field" and toks and toks[-1][0] in ("rparen", "var"):
            toks.append(("chain", val))
            continue
        toks.append((kind, val))
    return [t for t in toks if t[0] != "ws"]


def unquote(tok):
    kind, val = tok
    if kind == "raw":
        return val[1:-1]
    if kind == "str":
        return json.loads(re.sub(r"\\x([0-9a-fA-F]{2})", r"\\u00\1", val))
    raise RenderError("not a string: %s" % val)


# --------------------------------------------------------------------------------------------
# Parsing


class Pipeline:
    def __init__(self, decl, is_assign, cmds):
        self.decl = decl  # list of variable names, or []
        self.is_assign = is_assign  # "=" instead of ":="
        self.cmds = cmds  # list of lists of operands


class ExprParser:
    def __init__(self, toks, where):
        self.toks = toks
        self.i = 0
        self.where = where

    def peek(self, k=0):
        return self.toks[self.i + k] if self.i + k < len(self.toks) else (None, None)

    def take(self):
        t = self.peek()
        self.i += 1
        return t

    def error(self, msg):
        raise RenderError("%s: %s" % (self.where, msg))

    def pipeline(self, allow_decl=True, range_decl=False):
        decl, is_assign = [], False
        if allow_decl and self.peek()[0] == "var":
            # $x := ..., $x = ..., $i, $v := ...
            j = self.i
            names = [self.toks[j][1]]
            j += 1
            if range_decl and j < len(self.toks) and self.toks[j][0] == "comma":
                if j + 1 < len(self.toks) and self.toks[j + 1][0] == "var":
                    names.append(self.toks[j + 1][1])
                    j += 2
            if j < len(self.toks) and self.toks[j][0] in ("decl", "assign"):
                decl = names
                is_assign = self.toks[j][0] == "assign"
                self.i = j + 1
        cmds = []
        while True:
            cmd = self.command()
            if not cmd:
                self.error("missing command")
            cmds.append(cmd)
            if self.peek()[0] == "pipe":
                self.take()
                continue
            break
        return Pipeline(decl, is_assign, cmds)

    def command(self):
        ops = []
        while self.peek()[0] not in (None, "pipe", "rparen"):
            ops.append(self.operand())
        return ops

    def operand(self):
        kind, val = self.take()
        if kind == "lparen":
            p = self.pipeline(allow_decl=False)
            if self.take()[0] != "rparen":
                self.error("unclosed parenthesis")
            node = ("pipe", p)
        elif kind in ("str", "raw"):
            node = ("lit", unquote((kind, val)))
        elif kind == "char":
            node = ("lit", ord(json.loads('"%s"' % val[1:-1])))
        elif kind == "num":
            v = val.replace("_", "")
            if re.fullmatch(r"[+-]?(0[xX][0-9a-fA-F]+|\d+)", v):
                node = ("lit", int(v, 0))
            else:
                node = ("lit", float(v))
        elif kind == "var":
            node = ("var", val)
        elif kind == "field":
            node = ("field", ("dot",), val[1:].split("."))
        elif kind == "dot":
            node = ("dot",)
        elif kind == "ident":
            if val in ("true", "false"):
                node = ("lit", val == "true")
            elif val == "nil":
                node = ("nil",)
            else:
                node = ("func", val)
        else:
            self.error("unexpected %r" % val)
        if self.peek()[0] == "chain":
            node = ("field", node, self.take()[1][1:].split("."))
        return node


def parse_template(src, name):
    """Returns (body nodes, {define name: nodes})."""
    items = split_actions(src, name)
    defines = {}
    root = []
    # stack of (kind, node, current list)
    stack = [("root", None, root)]

    for item in items:
        cur = stack[-1][2]
        if item[0] == "text":
            if item[1]:
                cur.append(("text", item[1]))
            continue
        body, line = item[1], item[2]
        where = "%s:%d" % (name, line)
        m = re.match(r"^([A-Za-z]+)\b(.*)$", body, re.S)
        word = m.group(1) if m else ""
        rest = m.group(2).strip() if m else body
        if word in ("if", "with", "range"):
            p = ExprParser(tokenize(rest, where), where)
            pipe = p.pipeline(range_decl=(word == "range"))
            if p.i != len(p.toks):
                raise RenderError("%s: unexpected tokens in %s" % (where, word))
            node = {"kind": word, "pipe": pipe, "body": [], "else": None, "where": where}
            cur.append(node)
            stack.append((word, node, node["body"]))
        elif word == "else":
            kind, node, _ = stack[-1]
            if kind not in ("if", "with", "range", "elseif"):
                raise RenderError("%s: else outside if/with/range" % where)
            if rest.startswith("if ") or rest.startswith("with "):
                sub_word = rest.split()[0]
                p = ExprParser(tokenize(rest[len(sub_word):], where), where)
                sub = {"kind": sub_word, "pipe": p.pipeline(), "body": [], "else": None,
                       "where": where}
                node["else"] = [sub]
                stack[-1] = ("elseif", sub, sub["body"])
                # the outer node ends with the same {{ end }}
            else:
                node["else"] = []
                stack[-1] = (kind + "-else", node, node["else"])
        elif word == "end":
            if len(stack) == 1:
                raise RenderError("%s: unexpected end" % where)
            stack.pop()
        elif word == "define":
            dname = unquote(tokenize(rest, where)[0])
            node = {"kind": "define", "name": dname, "body": []}
            defines[dname] = node["body"]
            stack.append(("define", node, node["body"]))
        elif word == "block":
            raise RenderError("%s: block is not supported by this renderer" % where)
        elif word == "template":
            toks = tokenize(rest, where)
            tname = unquote(toks[0])
            p = ExprParser(toks[1:], where)
            pipe = p.pipeline() if toks[1:] else None
            cur.append({"kind": "template", "name": tname, "pipe": pipe, "where": where})
        elif word in ("break", "continue"):
            cur.append({"kind": word, "where": where})
        else:
            p = ExprParser(tokenize(body, where), where)
            pipe = p.pipeline()
            if p.i != len(p.toks):
                raise RenderError("%s: unexpected %r" % (where, p.peek()[1]))
            cur.append({"kind": "action", "pipe": pipe, "where": where})
    if len(stack) != 1:
        raise RenderError("%s: unclosed %s" % (name, stack[-1][0]))
    return root, defines


# --------------------------------------------------------------------------------------------
# Execution


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def _num_kind(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if v is None:
        return "nil"
    return "other"


def go_eq(a, b):
    ka, kb = _num_kind(a), _num_kind(b)
    if "nil" in (ka, kb):
        return a is None and b is None
    if ka != kb:
        raise RenderError("error calling eq: incompatible types for comparison (%s and %s)"
                          % (kind_of(a), kind_of(b)))
    if ka == "other":
        raise RenderError("error calling eq: non-comparable type %s" % kind_of(a))
    return a == b


def go_lt(a, b):
    ka, kb = _num_kind(a), _num_kind(b)
    if ka != kb or ka not in ("int", "float", "string"):
        raise RenderError("error calling lt: incompatible types for comparison (%s and %s)"
                          % (kind_of(a), kind_of(b)))
    return a < b


def to_int(v, fn="int"):
    """Sprig's int/int64 (spf13/cast): floats truncate, strings parse, nil is 0."""
    if v is None:
        return 0
    if isinstance(v, bool):
        return 1 if v else 0
    if isinstance(v, (int, float)):
        return int(v)
    if isinstance(v, str):
        try:
            return int(v, 0)
        except ValueError:
            return 0
    raise RenderError("%s: cannot convert %s" % (fn, kind_of(v)))


def empty(v):
    return not truth(v)


_PRINTF = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])")


def go_sprintf(fmt, *args):
    args = list(args)
    out = []
    pos = 0
    for m in _PRINTF.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        flags, width, prec, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        if not args:
            out.append("%%!%s(MISSING)" % verb)
            continue
        a = args.pop(0)
        if verb in ("s", "v"):
            s = go_str(a) if a is not None else "<nil>"
        elif verb == "d":
            if isinstance(a, bool) or not isinstance(a, int):
                s = "%%!d(%s=%s)" % (kind_of(a), go_str(a))
            else:
                s = str(a)
        elif verb == "q":
            s = go_quote(go_str(a))
        elif verb == "f":
            s = ("%." + (prec or "6") + "f") % float(a)
        elif verb == "t":
            s = go_str(a)
        elif verb in ("x", "X"):
            s = format(a, verb) if isinstance(a, int) else a.encode().hex()
        else:
            raise RenderError("printf: verb %%%s is not supported by this renderer" % verb)
        if width:
            s = s.ljust(int(width)) if "-" in flags else s.rjust(int(width),
                                                                 "0" if "0" in flags else " ")
        out.append(s)
    out.append(fmt[pos:])
    if args:
        out.append("%!(EXTRA " + ", ".join("%s=%s" % (kind_of(a), go_str(a)) for a in args) + ")")
    return "".join(out)


def _indent(n, s):
    pad = " " * to_int(n)
    return pad + s.replace("\n", "\n" + pad)


def _trunc(n, s):
    n = to_int(n)
    if n < 0:
        return s[n:] if -n < len(s) else s
    return s[:n]


def _required(msg, v):
    if v is None or (isinstance(v, str) and v == ""):
        raise RenderError(msg)
    return v


def _fail(msg):
    raise RenderError(msg)


def _dict(*kv):
    if len(kv) % 2:
        kv = kv + ("",)
    return {go_str(kv[i]): kv[i + 1] for i in range(0, len(kv), 2)}


def _index(coll, *keys):
    for k in keys:
        if coll is None:
            return None
        if isinstance(coll, dict):
            coll = coll.get(k)
        elif isinstance(coll, (list, tuple)):
            i = to_int(k)
            if i < 0 or i >= len(coll):
                raise RenderError("index out of range: %d" % i)
            coll = coll[i]
        else:
            raise RenderError("can't index item of type %s" % kind_of(coll))
    return coll


def _default(d, *given):
    if not given or empty(given[0]):
        return d
    return given[0]


def _quote(*args):
    return " ".join(go_quote(go_str(a)) for a in args if a is not None)


def _squote(*args):
    return " ".join("'%s'" % go_str(a) for a in args if a is not None)


def _has_key(d, k):
    return isinstance(d, dict) and k in d


def _len(v):
    if v is None:
        raise RenderError("len of nil pointer")
    if isinstance(v, (str, list, tuple, dict)):
        return len(v)
    raise RenderError("len of type %s" % kind_of(v))


FUNCS = {
    # text/template builtins (and/or are special forms, see Renderer.call)
    "not": lambda v: not truth(v),
    "eq": lambda a, *bs: any(go_eq(a, b) for b in bs),
    "ne": lambda a, b: not go_eq(a, b),
    "lt": go_lt,
    "le": lambda a, b: go_lt(a, b) or go_eq(a, b),
    "gt": lambda a, b: go_lt(b, a),
    "ge": lambda a, b: go_lt(b, a) or go_eq(a, b),
    "len": _len,
    "index": _index,
    "print": lambda *a: "".join(go_str(x) for x in a),
    "printf": go_sprintf,
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    # Helm
    "required": _required,
    "fail": _fail,
    "toYaml": to_yaml,
    "toJson": lambda v: json.dumps(jsonish(v), separators=(",", ":"), sort_keys=True),
    # Sprig
    "default": _default,
    "empty": empty,
    "quote": _quote,
    "squote": _squote,
    "indent": _indent,
    "nindent": lambda n, s: "\n" + _indent(n, s),
    "trunc": _trunc,
    "trim": lambda s: s.strip(),
    "trimSuffix": lambda suf, s: s[: -len(suf)] if suf and s.endswith(suf) else s,
    "trimPrefix": lambda pre, s: s[len(pre):] if pre and s.startswith(pre) else s,
    "replace": lambda old, new, s: s.replace(old, new),
    "contains": lambda sub, s: sub in s,
    "hasPrefix": lambda pre, s: s.startswith(pre),
    "hasSuffix": lambda suf, s: s.endswith(suf),
    "upper": lambda s: s.upper(),
    "lower": lambda s: s.lower(),
    "toString": go_str,
    "int": lambda v: to_int(v, "int"),
    "int64": lambda v: to_int(v, "int64"),
    "float64": lambda v: float(v) if not isinstance(v, str) else float(v or 0),
    "b64enc": lambda s: base64.b64encode(go_str(s).encode()).decode(),
    "sha256sum": lambda s: hashlib.sha256(go_str(s).encode()).hexdigest(),
    "add": lambda *a: sum(to_int(x) for x in a),
    "sub": lambda a, b: to_int(a) - to_int(b),
    "dict": _dict,
    "list": lambda *a: list(a),
    "concat": lambda *ls: [x for l in ls for x in (l or [])],
    "hasKey": _has_key,
    "ternary": lambda vt, vf, c: vt if truth(c) else vf,
    "kindIs": lambda k, v: kind_of(v) == k,
    "kindOf": kind_of,
    "join": lambda sep, l: go_str(sep).join(go_str(x) for x in (l or [])),
}


class Renderer:
    """Executes parsed templates; `defines` is shared by every file of the chart."""

    def __init__(self, defines):
        self.defines = defines
        self.depth = 0

    def render(self, nodes, data):
        out = []
        self.exec_list(nodes, data, [{"$": data}], out)
        return "".join(out).replace("<no value>", "")

    # -- statements

    def exec_list(self, nodes, dot, scopes, out):
        for n in nodes:
            if isinstance(n, tuple):  # text
                out.append(n[1])
                continue
            kind = n["kind"]
            if kind == "action":
                v = self.eval_pipe(n["pipe"], dot, scopes, n["where"])
                if not n["pipe"].decl:
                    out.append(go_str(v))
            elif kind == "if":
                scopes.append({})
                try:
                    v = self.eval_pipe(n["pipe"], dot, scopes, n["where"])
                    if truth(v):
                        self.exec_list(n["body"], dot, scopes, out)
                    elif n["else"] is not None:
                        self.exec_list(n["else"], dot, scopes, out)
                finally:
                    scopes.pop()
            elif kind == "with":
                scopes.append({})
                try:
                    v = self.eval_pipe(n["pipe"], dot, scopes, n["where"])
                    if truth(v):
                        self.exec_list(n["body"], v, scopes, out)
                    elif n["else"] is not None:
                        self.exec_list(n["else"], dot, scopes, out)
                finally:
                    scopes.pop()
            elif kind == "range":
                self.exec_range(n, dot, scopes, out)
            elif kind == "template":
                arg = self.eval_pipe(n["pipe"], dot, scopes, n["where"]) if n["pipe"] else None
                out.append(self.include(n["name"], arg))
            elif kind == "break":
                raise _Break()
            elif kind == "continue":
                raise _Continue()
            else:
                raise RenderError("unknown node %s" % kind)

    def exec_range(self, n, dot, scopes, out):
        pipe = n["pipe"]
        val = self.eval_pipe(Pipeline([], False, pipe.cmds), dot, scopes, n["where"])
        if val is None:
            items = []
        elif isinstance(val, dict):
            items = [(k, val[k]) for k in sorted(val)]
        elif isinstance(val, (list, tuple)):
            items = list(enumerate(val))
        elif isinstance(val, int) and not isinstance(val, bool):
            items = [(i, i) for i in range(val)]
        else:
            raise RenderError("%s: range can't iterate over %s" % (n["where"], go_str(val)))
        if not items:
            if n["else"] is not None:
                scopes.append({})
                try:
                    self.exec_list(n["else"], dot, scopes, out)
                finally:
                    scopes.pop()
            return
        for k, v in items:
            frame = {}
            if len(pipe.decl) == 1:
                frame[pipe.decl[0]] = v
            elif len(pipe.decl) == 2:
                frame[pipe.decl[0]] = k
                frame[pipe.decl[1]] = v
            scopes.append(frame)
            try:
                self.exec_list(n["body"], v, scopes, out)
            except _Continue:
                pass
            except _Break:
                break
            finally:
                scopes.pop()

    def include(self, name, data):
        if name not in self.defines:
            raise RenderError('no template "%s" associated with template' % name)
        self.depth += 1
        if self.depth > 100:
            raise RenderError("include: recursion too deep in %s" % name)
        try:
            out = []
            self.exec_list(self.defines[name], data, [{"$": data}], out)
            return "".join(out)
        finally:
            self.depth -= 1

    # -- expressions

    def eval_pipe(self, pipe, dot, scopes, where):
        val = _NOARG
        for cmd in pipe.cmds:
            val = self.eval_cmd(cmd, dot, scopes, where, val)
        if pipe.decl:
            if pipe.is_assign:
                name = pipe.decl[0]
                for frame in reversed(scopes):
                    if name in frame:
                        frame[name] = val
                        break
                else:
                    raise RenderError("%s: undefined variable: %s" % (where, name))
            else:
                scopes[-1][pipe.decl[0]] = val
        return val

    def eval_cmd(self, cmd, dot, scopes, where, piped):
        first = cmd[0]
        if first[0] == "func":
            return self.call(first[1], cmd[1:], dot, scopes, where, piped)
        if first[0] == "nil" and len(cmd) == 1:
            raise RenderError("%s: nil is not a command" % where)
        fn = self.eval_operand(first, dot, scopes, where)
        if callable(fn):  # a method such as .Files.Get
            args = [self.eval_operand(a, dot, scopes, where) for a in cmd[1:]]
            if piped is not _NOARG:
                args.append(piped)
            return fn(*args)
        if len(cmd) > 1 or piped is not _NOARG:
            raise RenderError("%s: can't give argument to non-function %s" % (where, go_str(fn)))
        return fn

    def call(self, name, arg_nodes, dot, scopes, where, piped):
        def args():
            a = [self.eval_operand(x, dot, scopes, where) for x in arg_nodes]
            if piped is not _NOARG:
                a.append(piped)
            return a

        if name in ("and", "or"):
            vals = [lambda x=x: self.eval_operand(x, dot, scopes, where) for x in arg_nodes]
            if piped is not _NOARG:
                vals.append(lambda: piped)
            if not vals:
                raise RenderError("%s: wrong number of args for %s" % (where, name))
            v = None
            for get in vals:
                v = get()
                if (name == "and") != truth(v):
                    return v
            return v
        if name == "include":
            a = args()
            if len(a) != 2:
                raise RenderError("%s: include takes a name and a value" % where)
            return self.include(a[0], a[1])
        if name == "tpl":
            raise RenderError("%s: tpl is not supported by this renderer" % where)
        fn = FUNCS.get(name)
        if fn is None:
            raise RenderError('%s: function "%s" not defined (not supported by this renderer)'
                              % (where, name))
        try:
            return fn(*args())
        except RenderError as e:
            msg = str(e)
            if name in ("fail", "required"):
                raise RenderError("%s: execution error: %s" % (where, msg)) from None
            raise RenderError("%s: %s" % (where, msg)) from None
        except TypeError as e:
            raise RenderError("%s: wrong arguments for %s: %s" % (where, name, e)) from None

    def eval_operand(self, node, dot, scopes, where):
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "nil":
            return None
        if kind == "dot":
            return dot
        if kind == "var":
            for frame in reversed(scopes):
                if node[1] in frame:
                    return frame[node[1]]
            raise RenderError("%s: undefined variable: %s" % (where, node[1]))
        if kind == "pipe":
            return self.eval_pipe(node[1], dot, scopes, where)
        if kind == "func":
            return self.call(node[1], [], dot, scopes, where, _NOARG)
        if kind == "field":
            v = self.eval_operand(node[1], dot, scopes, where)
            for i, f in enumerate(node[2]):
                if v is None:
                    raise RenderError("%s: nil pointer evaluating interface {}.%s" % (where, f))
                if isinstance(v, dict):
                    v = v.get(f)
                elif isinstance(v, Struct):
                    v = v.get(f)
                else:
                    raise RenderError("%s: can't evaluate field %s in type %s"
                                      % (where, f, kind_of(v)))
            return v
        raise RenderError("%s: bad operand %r" % (where, node))


_NOARG = object()


# --------------------------------------------------------------------------------------------
# Helm: values, chart, manifests


def coalesce(base, override):
    """Helm's value merge: maps merge recursively, anything else replaces, null deletes."""
    out = copy.deepcopy(base)
    for k, v in (override or {}).items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = coalesce(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_yaml_file(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def merged_values(chart_dir, values_files=(), overrides=None):
    """The chart's values.yaml coalesced with each values file and then `overrides`, in
    order, as plain YAML types (ints stay ints: this is what the schema validates)."""
    vals = load_yaml_file(os.path.join(chart_dir, "values.yaml"))
    for p in values_files:
        vals = coalesce(vals, load_yaml_file(p))
    if overrides:
        vals = coalesce(vals, overrides)
    return vals


def validate_schema(chart_dir, values):
    """Raises RenderError listing every violation of values.schema.json, as helm does."""
    path = os.path.join(chart_dir, "values.schema.json")
    if not os.path.exists(path):
        return
    import jsonschema  # Debian: python3-jsonschema

    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path))
    if errors:
        lines = ["values don't meet the specifications of the schema(s):"]
        for e in errors:
            where = ".".join(str(p) for p in e.absolute_path) or "(root)"
            lines.append("- %s: %s" % (where, e.message))
        raise RenderError("\n".join(lines))


class Chart:
    def __init__(self, chart_dir):
        self.dir = chart_dir
        self.meta = load_yaml_file(os.path.join(chart_dir, "Chart.yaml"))
        if self.meta.get("apiVersion") != "v2":
            raise RenderError("Chart.yaml: apiVersion must be v2")
        for key in ("name", "version"):
            if not self.meta.get(key):
                raise RenderError("Chart.yaml: %s is required" % key)
        tdir = os.path.join(chart_dir, "templates")
        self.files = {}
        for root, _, names in os.walk(tdir):
            for n in sorted(names):
                p = os.path.join(root, n)
                rel = os.path.relpath(p, chart_dir)
                with open(p, encoding="utf-8") as f:
                    self.files[rel] = f.read()
        self.parsed = {}
        self.defines = {}
        for rel in sorted(self.files):
            body, defs = parse_template(self.files[rel], rel)
            self.parsed[rel] = body
            self.defines.update(defs)

    def files_get(self, name):
        p = os.path.normpath(os.path.join(self.dir, name))
        if not p.startswith(os.path.abspath(self.dir)) and not p.startswith(self.dir):
            return ""
        rel = os.path.relpath(p, self.dir)
        if rel.startswith("templates" + os.sep) or not os.path.isfile(p):
            return ""  # Helm's .Files excludes templates/ and missing files read as ""
        with open(p, encoding="utf-8") as f:
            return f.read()

    def context(self, values, release_name, namespace, template_name):
        m = self.meta
        chart = Struct("*chart.Metadata", Name=m["name"], Version=m["version"],
                       AppVersion=m.get("appVersion", ""), Description=m.get("description", ""),
                       Type=m.get("type", "application"), KubeVersion=m.get("kubeVersion", ""),
                       Keywords=m.get("keywords", []), Annotations=m.get("annotations", {}))
        release = Struct("chartutil.ReleaseOptions", Name=release_name, Namespace=namespace,
                         Service="Helm", IsInstall=True, IsUpgrade=False, Revision=1)
        files = Struct("chart.Files", Get=self.files_get)
        template = Struct("chartutil.Template", Name=os.path.join(m["name"], template_name),
                          BasePath=os.path.join(m["name"], "templates"))
        return {"Values": floats(values), "Chart": chart, "Release": release, "Files": files,
                "Template": template}

    def render(self, values, release_name="release", namespace="default"):
        """Renders every template: {relative path: text}. NOTES.txt included."""
        renderer = Renderer(self.defines)
        out = {}
        for rel, body in self.parsed.items():
            if os.path.basename(rel).startswith("_"):
                continue
            ctx = self.context(values, release_name, namespace, rel)
            try:
                out[rel] = renderer.render(body, ctx)
            except RenderError as e:
                raise RenderError("%s: %s" % (rel, e)) from None
        return out


_DOC_SEP = re.compile(r"(?:^|\s*\n)---\s*")


def split_manifests(rendered):
    """[(source, yaml text)] of every non-empty document, as Helm splits them."""
    docs = []
    for rel in sorted(rendered):
        if rel.endswith("NOTES.txt"):
            continue
        for doc in _DOC_SEP.split(rendered[rel]):
            if doc.strip():
                docs.append((rel, doc))
    return docs


def template(chart_dir, values_files=(), overrides=None, release_name="release",
             namespace="default", validate=True):
    """Like `helm template`: returns (objects [(source, parsed object)], notes text)."""
    values = merged_values(chart_dir, values_files, overrides)
    if validate:
        validate_schema(chart_dir, values)
    chart = Chart(chart_dir)
    rendered = chart.render(values, release_name, namespace)
    objects = []
    for rel, doc in split_manifests(rendered):
        try:
            obj = yaml.safe_load(doc)
        except yaml.YAMLError as e:
            raise RenderError("%s: rendered YAML is invalid: %s\n%s" % (rel, e, doc)) from None
        if obj is None:  # only comments
            continue
        objects.append((rel, obj))
    notes = next((t for r, t in rendered.items() if r.endswith("NOTES.txt")), "")
    return objects, notes


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("chart")
    ap.add_argument("-f", "--values", action="append", default=[])
    ap.add_argument("--release-name", default="release")
    ap.add_argument("--namespace", default="default")
    ap.add_argument("--notes", action="store_true", help="print NOTES.txt as well")
    args = ap.parse_args(argv)
    try:
        values = merged_values(args.chart, args.values)
        validate_schema(args.chart, values)
        rendered = Chart(args.chart).render(values, args.release_name, args.namespace)
    except RenderError as e:
        print("Error: %s" % e, file=sys.stderr)
        return 1
    for rel, doc in split_manifests(rendered):
        print("---\n# Source: %s\n%s" % (os.path.join(os.path.basename(
            os.path.abspath(args.chart)), rel), doc.strip("\n")))
    if args.notes:
        for rel, text in rendered.items():
            if rel.endswith("NOTES.txt"):
                print("\nNOTES:\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
