#!/usr/bin/env python3
"""Renders a Helm chart like `helm template`, with Helm's own engine parts.

The templates are executed by apmcov-helm-render (tests/helm/render/main.go): Go's
text/template with the Sprig functions and Helm's include, tpl, required, toYaml, fromYaml,
toJson, lookup and objects, built from Debian's golang-go, golang-github-masterminds-sprig-dev
and golang-k8s-sigs-yaml-dev (there is no helm binary in Debian). This module does what helm
does around the engine: coalesces the values files (a user `null` deletes a default), checks
values.schema.json, splits the manifests on `---` and parses them.

The renderer binary is $APMCOV_HELM_RENDER, else apmcov-helm-render under $APMCOV_BINARY_DIR
(tests/helm/), else under ./build.

Command line (prints what `helm template` would):
  render.py CHART_DIR [-f values.yaml ...] [--release-name NAME] [--namespace NS] [--notes]
"""

import argparse
import copy
import json
import os
import re
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))


class RenderError(Exception):
    """A template failed to render (parse error, `fail`, `required`, type error...)."""


def renderer_binary():
    env = os.environ.get("APMCOV_HELM_RENDER")
    if env:
        return env
    for build in (os.environ.get("APMCOV_BINARY_DIR"), os.path.join(HERE, "..", "..", "build")):
        if build:
            p = os.path.join(build, "tests", "helm", "apmcov-helm-render")
            if os.access(p, os.X_OK):
                return p
    raise RenderError("apmcov-helm-render not found: build the target helm_render "
                      "(needs golang-go) or set APMCOV_HELM_RENDER")


def render_with_engine(values, release_name="release", namespace="default", chart_dir=None,
                       templates=None):
    """Runs the Go engine: {relative template path: rendered text} (`_` files left out)."""
    request = {"chart_dir": os.path.abspath(chart_dir) if chart_dir else "",
               "values": values or {}, "release": release_name, "namespace": namespace}
    if templates is not None:
        request["templates"] = templates
    p = subprocess.run([renderer_binary()], input=json.dumps(request), capture_output=True,
                       text=True, timeout=120)
    if p.returncode != 0:
        raise RenderError(p.stderr.strip().removeprefix("Error: "))
    return json.loads(p.stdout)["files"]


def render_templates(templates, values=None):
    """Renders template sources given inline ({name: text}), with .Values = `values`."""
    return render_with_engine(values, templates=templates)


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

    def render(self, values, release_name="release", namespace="default"):
        """Renders every template: {relative path: text}. NOTES.txt included."""
        return render_with_engine(values, release_name, namespace, chart_dir=self.dir)


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
    rendered = Chart(chart_dir).render(values, release_name, namespace)
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
