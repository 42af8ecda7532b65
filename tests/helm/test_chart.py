#!/usr/bin/env python3
"""Renders helm/apm-coverage with representative values files (render.py over Helm's own
engine parts: Go text/template and Sprig in apmcov-helm-render) and checks what a user would hit at install time: valid YAML, complete objects, images,
probes on the admin port, the security context, Secrets kept out of ConfigMaps, references
between objects that resolve, the analyzer bounded by the Kafka partitions, values.schema.json
enforced, the alerts firing on synthetic series (promtool), and every value documented.

Run: python3 tests/helm/test_chart.py [-v]    (ctest: helm_chart_render, label integration)
Needs python3-yaml, python3-jsonschema, promtool (Debian package prometheus) and the
apmcov-helm-render binary of the build (APMCOV_HELM_RENDER).
"""

import base64
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import render  # noqa: E402
from render import RenderError  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CHART = os.environ.get("APMCOV_HELM_CHART", os.path.join(ROOT, "helm", "apm-coverage"))
# The binaries' own ADMIN_PORT defaults, which the chart keeps.
ADMIN_PORTS = {"collector": 9101, "analyzer": 9102, "gateway": 9103, "ddsim": 9104}
UID = 10001

# scenario -> (values files, release name, namespace)
SCENARIOS = {
    "defaults": (["values-defaults.yaml"], "apmcov", "apm"),
    "production": (["values-production.yaml"], "apmcov", "apm"),
    "ddsim": (["values-ddsim.yaml"], "demo", "demo"),
}

# Design §9: every configuration variable a service reads.
KNOWN_ENV = {
    "DD_API_KEY", "DD_APP_KEY", "DD_SITE", "DD_API_BASE_URL", "KAFKA_BROKERS",
    "KAFKA_TOPIC_PREFIX", "DATABASE_URL", "SYNC_INTERVAL_MINUTES", "APM_LOOKBACK_HOURS",
    "SPAN_PAGE_BUDGET", "SPAN_LAG_SECONDS", "SPAN_BACKFILL_MINUTES",
    "MAX_CONSUMER_LAG_MESSAGES", "SPAN_QUERY", "WHOLE_TRACE_RETENTION", "TRACE_GRACE_SECONDS",
    "HTTP_PORT", "GRPC_PORT", "ADMIN_PORT", "LOG_LEVEL", "LOG_FORMAT", "GATEWAY_API_TOKEN",
    "DD_SERVICE", "DD_ENV", "DD_VERSION", "BROKEN_TRACE_RETENTION_DAYS",
    "SYNC_JOB_RETENTION_DAYS", "RETENTION_INTERVAL_SECONDS", "INFRA_ALIASES",
    "SCORECARDS_ENABLED", "DASHBOARD_URL",
    # Design §12: the tracker's own tracing (DD_AGENT_HOST comes from the downward API).
    "DD_TRACE_ENABLED", "DD_TRACE_SAMPLE_RATE", "DD_TRACE_AGENT_URL", "DD_AGENT_HOST",
    "DD_TRACE_PARTIAL_FLUSH_MIN_SPANS",
}
SECRET_ENV = {"DD_API_KEY", "DD_APP_KEY", "DATABASE_URL", "GATEWAY_API_TOKEN"}
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def values_paths(files):
    return [os.path.join(HERE, f) for f in files]


def render_scenario(name, overrides=None):
    files, release, ns = SCENARIOS[name]
    objs, notes = render.template(CHART, values_paths(files), overrides, release, ns)
    values = render.merged_values(CHART, values_paths(files), overrides)
    return [o for _, o in objs], notes, values


def by_kind(objs, kind):
    return [o for o in objs if o["kind"] == kind]


def named(objs, kind, name):
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    if len(found) != 1:
        raise AssertionError("expected one %s %s, found %d" % (kind, name, len(found)))
    return found[0]


def pod_spec(obj):
    return obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]


def workloads(objs):
    return by_kind(objs, "Deployment") + by_kind(objs, "Job") + by_kind(objs, "Pod")


def secret_values(values):
    out = [values["datadog"].get("apiKey"), values["datadog"].get("appKey"),
           values["postgres"].get("url"), values["gateway"].get("apiToken")]
    return [s for s in out if s]


class RendererSemantics(unittest.TestCase):
    """The engine behaves as Helm's where the chart relies on it."""

    def run_tpl(self, src, values=None, defines=""):
        return render.render_templates({"templates/t.yaml": defines + src},
                                       values)["templates/t.yaml"]

    def test_trim_markers_and_comments(self):
        self.assertEqual(self.run_tpl("a  {{- /* note */ -}}  \n b {{ \"c\" }}\n"), "ab c\n")
        self.assertEqual(self.run_tpl("x\n{{- if true }}\ny{{ end }}"), "x\ny")

    def test_values_numbers_are_float64_as_in_helm(self):
        self.assertEqual(self.run_tpl("{{ .Values.n }} {{ .Values.n | int64 }} {{ .Values.r }}",
                                      {"n": 1000000, "r": 0.05}), "1e+06 1000000 0.05")
        with self.assertRaisesRegex(RenderError, "incompatible types"):
            self.run_tpl("{{ if eq .Values.n 1 }}{{ end }}", {"n": 1})
        self.assertEqual(self.run_tpl("{{ if eq (int .Values.n) 1 }}one{{ end }}", {"n": 1}),
                         "one")

    def test_range_sorts_map_keys_and_scopes_variables(self):
        out = self.run_tpl("{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }}",
                           {"m": {"b": "2", "a": "1"}})
        self.assertEqual(out, "a=1;b=2;")
        self.assertEqual(self.run_tpl("{{ range .Values.l }}x{{ else }}empty{{ end }}",
                                      {"l": []}), "empty")
        with self.assertRaisesRegex(RenderError, "undefined variable"):
            self.run_tpl("{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}")
        self.assertEqual(self.run_tpl("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}"),
                         "2")

    def test_with_include_toyaml_nindent(self):
        defs = '{{- define "d" -}}\nk: {{ .a }}\n{{- end -}}'
        out = self.run_tpl('m:{{ include "d" .Values | nindent 2 }}\n'
                           '{{- with .Values.o }}\no:{{ toYaml . | nindent 2 }}{{ end }}',
                           {"a": "v", "o": {"z": [1, 2], "b": True}}, defines=defs)
        self.assertEqual(yaml.safe_load(out), {"m": {"k": "v"}, "o": {"z": [1, 2], "b": True}})
        self.assertEqual(out, "m:\n  k: v\no:\n  b: true\n  z:\n  - 1\n  - 2")

    def test_required_fail_and_nil_fields(self):
        with self.assertRaisesRegex(RenderError, "need x"):
            self.run_tpl('{{ required "need x" .Values.x }}')
        with self.assertRaisesRegex(RenderError, "boom 3"):
            self.run_tpl('{{ fail (printf "boom %d" 3) }}')
        with self.assertRaisesRegex(RenderError, "nil pointer evaluating"):
            self.run_tpl("{{ .Values.missing.field }}")
        with self.assertRaisesRegex(RenderError, 'function "tplx" not defined'):
            self.run_tpl("{{ tplx . }}")

    def test_raw_strings_quote_default_ternary(self):
        self.assertEqual(self.run_tpl("{{ `{{ $labels.key }}` | quote }}"),
                         '"{{ $labels.key }}"')
        self.assertEqual(self.run_tpl('{{ "a\\"b" | quote }}'), '"a\\"b"')
        self.assertEqual(self.run_tpl('{{ default "d" .Values.e }}|{{ default "d" .Values.f }}',
                                      {"e": "", "f": "x"}), "d|x")
        self.assertEqual(self.run_tpl('{{ ternary "y" "n" .Values.b }}', {"b": False}), "n")
        self.assertEqual(self.run_tpl("{{ and 1 0 }} {{ or 0 \"\" \"z\" }}"), "0 z")

    def test_user_null_deletes_a_default(self):
        self.assertEqual(render.coalesce({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}),
                         {"a": {"c": 2, "d": 3}})


class ChartScenarios(unittest.TestCase):
    """Every scenario: objects complete and consistent, workloads hardened."""

    def test_defaults(self):
        objs, notes, values = render_scenario("defaults")
        self.check_common(objs, notes, values, "apmcov", "apm")
        deps = {d["metadata"]["name"]: d for d in by_kind(objs, "Deployment")}
        self.assertEqual(set(deps), {"apmcov-apm-coverage-collector",
                                     "apmcov-apm-coverage-analyzer",
                                     "apmcov-apm-coverage-gateway"})
        self.assertEqual(deps["apmcov-apm-coverage-analyzer"]["spec"]["replicas"], 2)
        for kind in ("HorizontalPodAutoscaler", "Ingress", "ServiceMonitor", "PrometheusRule"):
            self.assertEqual(by_kind(objs, kind), [], kind + " must be off by default")
        secret = named(objs, "Secret", "apmcov-apm-coverage-secrets")
        decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        self.assertEqual(decoded, {"DD_API_KEY": values["datadog"]["apiKey"],
                                   "DD_APP_KEY": values["datadog"]["appKey"],
                                   "DATABASE_URL": values["postgres"]["url"]})
        cm = named(objs, "ConfigMap", "apmcov-apm-coverage-config")["data"]
        self.assertEqual(cm["KAFKA_BROKERS"], values["kafka"]["brokers"])
        self.assertEqual(cm["DD_SITE"], "datadoghq.com")
        self.assertNotIn("DD_API_BASE_URL", cm)
        self.assertNotIn("MAX_CONSUMER_LAG_MESSAGES", cm)
        self.assertEqual(cm["SYNC_INTERVAL_MINUTES"], "15")
        self.assertIn("kubectl --namespace apm port-forward svc/apmcov-apm-coverage-gateway "
                      "8080:8080", notes)
        self.assertEqual(cm["DD_TRACE_ENABLED"], "false")
        self.assertNotIn("DD_TRACE_SAMPLE_RATE", cm)
        self.assertNotIn("DD_TRACE_AGENT_URL", cm)
        self.assertEqual(cm["DD_TRACE_PARTIAL_FLUSH_MIN_SPANS"], "500")
        # Each service keeps its binary's own admin port, so no two share a default.
        self.assertNotIn("ADMIN_PORT", cm)
        for name, port in ADMIN_PORTS.items():
            self.assertEqual(values[name]["adminPort"], port, name)

    def test_production(self):
        objs, notes, values = render_scenario("production")
        self.check_common(objs, notes, values, "apmcov", "apm")
        # existingSecret: the chart creates no Secret at all and every reference points to it.
        self.assertEqual(by_kind(objs, "Secret"), [])
        refs = self.secret_refs(objs)
        self.assertEqual({r["name"] for r in refs}, {"apm-coverage-credentials"})
        self.assertEqual({r["key"] for r in refs},
                         {"database-url", "dd-api-key", "dd-app-key", "gateway-token"})
        # HPA bounded by the partitions; the Deployment leaves replicas to it.
        hpa = named(objs, "HorizontalPodAutoscaler", "apmcov-apm-coverage-analyzer")
        self.assertEqual(hpa["apiVersion"], "autoscaling/v2")
        self.assertEqual((hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]), (3, 12))
        self.assertLessEqual(hpa["spec"]["maxReplicas"], values["kafka"]["partitions"])
        self.assertEqual(hpa["spec"]["scaleTargetRef"],
                         {"apiVersion": "apps/v1", "kind": "Deployment",
                          "name": "apmcov-apm-coverage-analyzer"})
        targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
                   for m in hpa["spec"]["metrics"]}
        self.assertEqual(targets, {"cpu": 60, "memory": 80})
        analyzer = named(objs, "Deployment", "apmcov-apm-coverage-analyzer")
        self.assertNotIn("replicas", analyzer["spec"])
        # Image, pull secrets, scheduling from values.
        for w in by_kind(objs, "Deployment") + by_kind(objs, "Job"):
            spec = pod_spec(w)
            self.assertEqual(spec["imagePullSecrets"], [{"name": "ghcr-pull"}])
            self.assertEqual(spec["nodeSelector"], {"kubernetes.io/os": "linux"})
            self.assertEqual(spec["tolerations"][0]["value"], "observability")
            for c in spec["containers"]:
                self.assertEqual(c["image"], "ghcr.io/apm-coverage/apm-coverage:1.4.2")
                self.assertEqual(c["imagePullPolicy"], "Always")
        cm = named(objs, "ConfigMap", "apmcov-apm-coverage-config")["data"]
        # Tracing into the node's Agent: on, every trace kept, no Agent URL (DD_AGENT_HOST).
        self.assertEqual(cm["DD_TRACE_ENABLED"], "true")
        self.assertNotIn("DD_TRACE_SAMPLE_RATE", cm)
        self.assertNotIn("DD_TRACE_AGENT_URL", cm)
        for d in by_kind(objs, "Deployment"):
            for labels in (d["metadata"]["labels"], d["spec"]["template"]["metadata"]["labels"]):
                self.assertEqual(labels["tags.datadoghq.com/env"], "prod-eu")
                self.assertEqual(labels["tags.datadoghq.com/version"], "1.4.2")
        # 2000000 in a values file is a float64 in Helm: it must not render as 2e+06.
        self.assertEqual(cm["MAX_CONSUMER_LAG_MESSAGES"], "2000000")
        self.assertEqual((cm["DD_SITE"], cm["LOG_LEVEL"], cm["TZ"], cm["DD_VERSION"]),
                         ("datadoghq.eu", "warn", "UTC", "1.4.2"))
        self.assertEqual(cm["INFRA_ALIASES"], "openshift=kubernetes,vm=host")
        analyzer = pod_spec(named(objs, "Deployment", "apmcov-apm-coverage-analyzer"))
        env = {e["name"]: e.get("value") for e in analyzer["containers"][0]["env"]}
        self.assertEqual((env["SCORECARDS_ENABLED"], env["DASHBOARD_URL"]),
                         ("true", "https://apm-coverage.example.org"))
        # Ingress routes to the gateway's http port, with TLS.
        ing = named(objs, "Ingress", "apmcov-apm-coverage-gateway")
        self.assertEqual(ing["spec"]["ingressClassName"], "nginx")
        self.assertEqual(ing["spec"]["tls"][0]["secretName"], "apm-coverage-tls")
        self.assertIn("https://apm-coverage.example.org/", notes)
        pdb = named(objs, "PodDisruptionBudget", "apmcov-apm-coverage-gateway")
        self.assertEqual(pdb["spec"]["minAvailable"], 2)
        sm = named(objs, "ServiceMonitor", "apmcov-apm-coverage")
        self.assertEqual(sm["metadata"]["labels"]["release"], "kube-prometheus-stack")
        self.assertEqual(sm["spec"]["endpoints"][0]["interval"], "15s")
        self.check_prometheus_rule(named(objs, "PrometheusRule", "apmcov-apm-coverage"))
        dash = named(objs, "ConfigMap", "apmcov-apm-coverage-dashboard")
        self.assertEqual(dash["metadata"]["annotations"]["grafana_folder"], "APM")

    def test_ddsim_demo(self):
        objs, notes, values = render_scenario("ddsim")
        self.check_common(objs, notes, values, "demo", "demo")
        ddsim = named(objs, "Deployment", "demo-apm-coverage-ddsim")
        container = pod_spec(ddsim)["containers"][0]
        self.assertEqual(container["command"], ["apmcov-ddsim"])
        self.assertEqual(container["args"], ["serve", "--http-port=8081", "--seed=7",
                                             "--services=300", "--spans-per-second=500",
                                             "--backfill-minutes=60", "--latency-ms=5"])
        self.assertNotIn("valueFrom", json.dumps(container.get("env", [])),
                         "the simulator needs no secret")
        svc = named(objs, "Service", "demo-apm-coverage-ddsim")
        self.assertEqual({(p["name"], p["port"]) for p in svc["spec"]["ports"]},
                         {("http", 8081), ("admin", ADMIN_PORTS["ddsim"])})
        cm = named(objs, "ConfigMap", "demo-apm-coverage-config")["data"]
        self.assertEqual(cm["DD_API_BASE_URL"], "http://demo-apm-coverage-ddsim:8081")
        self.assertEqual((cm["LOG_FORMAT"], cm["DD_ENV"]), ("text", "demo"))
        secret = named(objs, "Secret", "demo-apm-coverage-secrets")
        decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        self.assertEqual(decoded["GATEWAY_API_TOKEN"], "demo-gateway-token-42")
        self.assertEqual((decoded["DD_API_KEY"], decoded["DD_APP_KEY"]),
                         ("ddsim-demo-api-key", "ddsim-demo-app-key"))
        self.assertIn("DEMO MODE", notes)
        # The stack traces itself into the simulator, which is also its Agent.
        self.assertEqual((cm["DD_TRACE_ENABLED"], cm["DD_TRACE_SAMPLE_RATE"]), ("true", "0.5"))
        self.assertEqual(cm["DD_TRACE_AGENT_URL"], "http://demo-apm-coverage-ddsim:8081")
        # The migration Job reads DATABASE_URL from its own hook Secret, created before it.
        job = named(objs, "Job", "demo-apm-coverage-migrate")
        hook_secret = named(objs, "Secret", "demo-apm-coverage-migrate")
        self.assertEqual(base64.b64decode(hook_secret["data"]["DATABASE_URL"]).decode(),
                         values["postgres"]["url"])
        self.assertLess(int(hook_secret["metadata"]["annotations"]["helm.sh/hook-weight"]),
                        int(job["metadata"]["annotations"]["helm.sh/hook-weight"]))
        self.assertEqual(hook_secret["metadata"]["annotations"]["helm.sh/hook"],
                         job["metadata"]["annotations"]["helm.sh/hook"])

    def test_secrets_as_files(self):
        objs, notes, values = render_scenario("ddsim", {"secretsAsFiles": True})
        self.check_common(objs, notes, values, "demo", "demo")
        for component, files in (("collector", {"DD_API_KEY", "DD_APP_KEY"}),
                                 ("analyzer", {"DATABASE_URL"}),
                                 ("gateway", {"DATABASE_URL", "GATEWAY_API_TOKEN"})):
            deploy = named(objs, "Deployment", "demo-apm-coverage-" + component)
            spec = pod_spec(deploy)
            container = spec["containers"][0]
            env = {e["name"]: e for e in container.get("env", [])}
            for var in files:
                self.assertNotIn(var, env, "%s: %s still in the environment" % (component, var))
                self.assertEqual(env[var + "_FILE"]["value"],
                                 "/var/run/secrets/apmcov/" + values["secretKeys"][
                                     {"DD_API_KEY": "ddApiKey", "DD_APP_KEY": "ddAppKey",
                                      "DATABASE_URL": "databaseUrl",
                                      "GATEWAY_API_TOKEN": "gatewayApiToken"}[var]])
            mounts = {m["name"]: m for m in container["volumeMounts"]}
            self.assertEqual(mounts["secrets"]["mountPath"], "/var/run/secrets/apmcov")
            self.assertTrue(mounts["secrets"]["readOnly"])
            volumes = {v["name"]: v for v in spec["volumes"]}
            self.assertEqual(volumes["secrets"]["secret"]["secretName"],
                             "demo-apm-coverage-secrets")
        ddsim = pod_spec(named(objs, "Deployment", "demo-apm-coverage-ddsim"))
        self.assertNotIn("secrets", [v["name"] for v in ddsim["volumes"]],
                         "the simulator gets no secret")
        # Without a token in the chart's Secret, no token file is expected.
        objs, _, _ = render_scenario("defaults", {"secretsAsFiles": True})
        gateway = pod_spec(named(objs, "Deployment", "apmcov-apm-coverage-gateway"))
        env = [e["name"] for e in gateway["containers"][0].get("env", [])]
        self.assertIn("DATABASE_URL_FILE", env)
        self.assertNotIn("GATEWAY_API_TOKEN_FILE", env)

    def test_disabling_optional_parts(self):
        objs, _, _ = render_scenario("defaults", {"migrations": {"enabled": False},
                                                  "grafanaDashboard": {"enabled": False}})
        self.assertEqual(by_kind(objs, "Job"), [])
        self.assertEqual([c["metadata"]["name"] for c in by_kind(objs, "ConfigMap")],
                         ["apmcov-apm-coverage-config"])

    def test_names_follow_overrides_and_stay_short(self):
        objs, _, _ = render_scenario("defaults", {"fullnameOverride": "cov"})
        self.assertIn("cov-gateway", [o["metadata"]["name"] for o in objs])
        long_release = "r" * 60
        files, _, ns = SCENARIOS["defaults"]
        objs, _ = render.template(CHART, values_paths(files), None, long_release, ns)
        for _, o in objs:
            self.assertLessEqual(len(o["metadata"]["name"]), 63, o["metadata"]["name"])
            self.assertRegex(o["metadata"]["name"], DNS1123)

    # -- checks shared by every scenario

    def check_common(self, objs, notes, values, release, ns):
        self.assertTrue(objs)
        seen = set()
        for o in objs:
            for key in ("apiVersion", "kind", "metadata"):
                self.assertIn(key, o, "object without %s: %s" % (key, o))
            name = o["metadata"].get("name")
            self.assertTrue(name, "object without metadata.name: %s" % o)
            self.assertRegex(name, DNS1123)
            self.assertLessEqual(len(name), 63)
            self.assertNotIn((o["kind"], name), seen, "duplicate %s %s" % (o["kind"], name))
            seen.add((o["kind"], name))
            self.assertEqual(o["metadata"].get("namespace"), ns, name)
            labels = o["metadata"].get("labels", {})
            self.assertEqual(labels.get("app.kubernetes.io/instance"), release, name)
            self.assertEqual(labels.get("app.kubernetes.io/managed-by"), "Helm", name)
        self.assertTrue(workloads(objs))
        tag = values["image"]["tag"] or "0.1.0"
        for w in workloads(objs):
            component = w["metadata"]["labels"]["app.kubernetes.io/component"]
            self.check_workload(w, "%s:%s" % (values["image"]["repository"], tag),
                                values.get(component, {}).get("adminPort"))
        self.check_config_maps(objs, values)
        self.check_secret_refs(objs, values)
        self.check_services(objs)
        self.check_collector_and_analyzer(objs, values)
        self.check_migration_job(objs, release)
        self.check_dashboard(objs)
        self.check_helm_test(objs)
        for s in secret_values(values):
            self.assertNotIn(s, notes, "NOTES.txt shows a secret")
        self.assertIn("%s-apm-coverage-gateway" % release, notes)

    def check_workload(self, w, image, admin_port):
        name = w["metadata"]["name"]
        spec = pod_spec(w)
        if w["kind"] == "Deployment":
            selector = w["spec"]["selector"]["matchLabels"]
            pod_labels = w["spec"]["template"]["metadata"]["labels"]
            self.assertTrue(selector)
            self.assertLessEqual(selector.items(), pod_labels.items(),
                                 "%s: selector does not match its pods" % name)
        psc = spec["securityContext"]
        self.assertIs(psc["runAsNonRoot"], True, name)
        self.assertEqual(psc["runAsUser"], UID, name)
        self.assertEqual(psc["seccompProfile"], {"type": "RuntimeDefault"}, name)
        self.assertIs(spec["automountServiceAccountToken"], False, name)
        tmp_volumes = [v["name"] for v in spec["volumes"] if "emptyDir" in v]
        self.assertIn("tmp", tmp_volumes, name)
        for c in spec["containers"]:
            where = "%s/%s" % (name, c["name"])
            self.assertEqual(c["image"], image, where)
            if w["kind"] != "Pod":
                self.assertTrue(c["command"][0].startswith("apmcov-"), where)
            sc = c["securityContext"]
            self.assertIs(sc["runAsNonRoot"], True, where)
            self.assertEqual(sc["runAsUser"], UID, where)
            self.assertIs(sc["readOnlyRootFilesystem"], True, where)
            self.assertIs(sc["allowPrivilegeEscalation"], False, where)
            self.assertEqual(sc["capabilities"]["drop"], ["ALL"], where)
            self.assertEqual(sc["seccompProfile"], {"type": "RuntimeDefault"}, where)
            self.assertIn({"name": "tmp", "mountPath": "/tmp"}, c["volumeMounts"], where)
            res = c["resources"]
            self.assertTrue(res.get("requests", {}).get("memory"), where)
            self.assertTrue(res.get("limits", {}).get("memory"), where)
            env_names = [e["name"] for e in c.get("env", [])]
            self.assertEqual(len(env_names), len(set(env_names)), "%s: duplicate env" % where)
            for e in c.get("env", []):
                if e["name"] in SECRET_ENV:
                    self.assertIn("secretKeyRef", e.get("valueFrom", {}),
                                  "%s: %s must come from a Secret" % (where, e["name"]))
            if w["kind"] != "Deployment":
                continue
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            self.assertEqual(ports.get("admin"), admin_port, where)
            admin_env = [e.get("value") for e in c["env"] if e["name"] == "ADMIN_PORT"]
            self.assertEqual(admin_env, [str(admin_port)], where)
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                self.assertIn(probe, c, where)
                get = c[probe]["httpGet"]
                self.assertEqual(get["path"], path, where)
                port = ports.get(get["port"], get["port"])
                self.assertEqual(port, admin_port, "%s: %s not on the admin port" % (where, probe))
            dd_service = [e.get("value") for e in c["env"] if e["name"] == "DD_SERVICE"]
            self.assertEqual(dd_service, [c["command"][0]], where)
            self.check_unified_tagging(w, c, where)

    def check_unified_tagging(self, w, c, where):
        """Design §12: tags.datadoghq.com labels on the Deployment and its pods, equal to what
        the process reports (DD_SERVICE, DD_ENV, DD_VERSION), and DD_AGENT_HOST from the node."""
        service = c["command"][0]
        for labels in (w["metadata"]["labels"], w["spec"]["template"]["metadata"]["labels"]):
            self.assertEqual(labels.get("tags.datadoghq.com/service"), service, where)
            self.assertIn("tags.datadoghq.com/env", labels, where)
            self.assertIn("tags.datadoghq.com/version", labels, where)
        agent = [e for e in c["env"] if e["name"] == "DD_AGENT_HOST"]
        if service == "apmcov-ddsim":
            self.assertEqual(agent, [], "%s: the simulator sends no traces" % where)
        else:
            self.assertEqual(agent, [{"name": "DD_AGENT_HOST", "valueFrom": {
                "fieldRef": {"fieldPath": "status.hostIP"}}}], where)

    def check_config_maps(self, objs, values):
        secrets = secret_values(values)
        extra = set(values["config"].get("extraEnv") or {})
        for cm in by_kind(objs, "ConfigMap"):
            data = cm.get("data", {})
            for k, v in data.items():
                self.assertIsInstance(v, str, "ConfigMap %s: %s is not a string"
                                      % (cm["metadata"]["name"], k))
                for s in secrets:
                    self.assertNotIn(s, v, "secret value in ConfigMap %s key %s"
                                     % (cm["metadata"]["name"], k))
            if cm["metadata"]["name"].endswith("-config"):
                self.assertFalse(SECRET_ENV & set(data), "secret keys in the ConfigMap")
                unknown = set(data) - KNOWN_ENV - extra
                self.assertFalse(unknown, "ConfigMap keys no service reads: %s" % unknown)
        # Plain env values in workloads must not carry secrets either.
        for w in workloads(objs):
            for c in pod_spec(w)["containers"]:
                for e in c.get("env", []):
                    for s in secrets:
                        self.assertNotIn(s, str(e.get("value", "")), w["metadata"]["name"])

    @staticmethod
    def secret_refs(objs):
        refs = []
        for w in workloads(objs):
            for c in pod_spec(w)["containers"]:
                for e in c.get("env", []):
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        refs.append(dict(ref, env=e["name"], workload=w["metadata"]["name"]))
        return refs

    def check_secret_refs(self, objs, values):
        secrets = {s["metadata"]["name"]: s for s in by_kind(objs, "Secret")}
        cms = {c["metadata"]["name"] for c in by_kind(objs, "ConfigMap")}
        for w in by_kind(objs, "Deployment"):
            for c in pod_spec(w)["containers"]:
                for src in c.get("envFrom", []):
                    self.assertIn(src["configMapRef"]["name"], cms)
        for ref in self.secret_refs(objs):
            if values.get("existingSecret"):
                self.assertEqual(ref["name"], values["existingSecret"], ref)
                continue
            self.assertIn(ref["name"], secrets, "%s reads a Secret the chart does not create"
                          % ref["workload"])
            if not ref.get("optional"):
                self.assertIn(ref["key"], secrets[ref["name"]]["data"], ref)
        for s in secrets.values():
            for k, v in s["data"].items():
                base64.b64decode(v, validate=True)
        components = {w["metadata"]["labels"]["app.kubernetes.io/component"]: w
                      for w in by_kind(objs, "Deployment")}
        need = {"collector": {"DD_API_KEY", "DD_APP_KEY"}, "analyzer": {"DATABASE_URL"},
                "gateway": {"DATABASE_URL", "GATEWAY_API_TOKEN"}}
        if values["analyzer"]["scorecards"]["enabled"]:  # Scorecards: the Datadog keys too
            need["analyzer"] = {"DATABASE_URL", "DD_API_KEY", "DD_APP_KEY"}
        for comp, env in need.items():
            container = pod_spec(components[comp])["containers"][0]
            got = {e["name"] for e in container["env"]
                   if "secretKeyRef" in e.get("valueFrom", {})}
            if values.get("secretsAsFiles"):  # NAME_FILE naming the mounted Secret's files
                got = {e["name"][:-len("_FILE")] for e in container["env"]
                       if e["name"].endswith("_FILE")}
            self.assertEqual(got, env, comp)

    def check_services(self, objs):
        deployments = by_kind(objs, "Deployment")
        services = {s["metadata"]["name"]: s for s in by_kind(objs, "Service")}
        self.assertEqual(len(services), len(deployments))
        for svc in services.values():
            sel = svc["spec"]["selector"]
            matches = [d for d in deployments
                       if sel.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
            self.assertEqual(len(matches), 1, "Service %s selects %d Deployments"
                             % (svc["metadata"]["name"], len(matches)))
            container_ports = {p["name"]: p["containerPort"]
                               for p in pod_spec(matches[0])["containers"][0]["ports"]}
            names = [p["name"] for p in svc["spec"]["ports"]]
            self.assertIn("admin", names)
            for p in svc["spec"]["ports"]:
                self.assertIn(p["targetPort"], container_ports, svc["metadata"]["name"])
                self.assertEqual(p["port"], container_ports[p["targetPort"]])
        gateway = [s for s in services.values()
                   if s["metadata"]["labels"]["app.kubernetes.io/component"] == "gateway"][0]
        self.assertEqual({(p["name"], p["port"]) for p in gateway["spec"]["ports"]},
                         {("http", 8080), ("grpc", 9090), ("admin", ADMIN_PORTS["gateway"])})
        for ing in by_kind(objs, "Ingress"):
            for rule in ing["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    backend = path["backend"]["service"]
                    self.assertIn(backend["name"], services)
                    self.assertIn(backend["port"]["name"],
                                  [p["name"] for p in services[backend["name"]]["spec"]["ports"]])
        for sm in by_kind(objs, "ServiceMonitor"):
            sel = sm["spec"]["selector"]["matchLabels"]
            selected = [s for s in services.values()
                        if sel.items() <= s["metadata"]["labels"].items()]
            self.assertEqual(len(selected), len(services), "ServiceMonitor misses a Service")
            for ep in sm["spec"]["endpoints"]:
                for s in selected:
                    self.assertIn(ep["port"], [p["name"] for p in s["spec"]["ports"]])

    def check_collector_and_analyzer(self, objs, values):
        comps = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d
                 for d in by_kind(objs, "Deployment")}
        collector = comps["collector"]
        self.assertEqual(collector["spec"]["replicas"], values["collector"]["replicaCount"])
        self.assertNotIn("strategy", collector["spec"])  # rolling: a standby takes over
        partitions = values["kafka"]["partitions"]
        analyzer = comps["analyzer"]
        if "replicas" in analyzer["spec"]:
            self.assertLessEqual(analyzer["spec"]["replicas"], partitions)
        for hpa in by_kind(objs, "HorizontalPodAutoscaler"):
            self.assertLessEqual(hpa["spec"]["maxReplicas"], partitions)
            self.assertLessEqual(hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"])

    def check_migration_job(self, objs, release):
        jobs = by_kind(objs, "Job")
        self.assertEqual(len(jobs), 1)
        job = jobs[0]
        ann = job["metadata"]["annotations"]
        self.assertEqual(ann["helm.sh/hook"], "pre-install,pre-upgrade")
        spec = pod_spec(job)
        self.assertEqual(spec["restartPolicy"], "Never")
        self.assertEqual(spec["containers"][0]["command"], ["apmcov-analyzer", "migrate"])
        env = {e["name"] for e in spec["containers"][0]["env"]}
        self.assertIn("DATABASE_URL", env)
        # A pre-install hook runs before the release's ConfigMap and Secret exist: the Job
        # may only use hook objects or existing ones.
        self.assertNotIn("envFrom", spec["containers"][0])
        for ref in self.secret_refs([job]):
            self.assertNotEqual(ref["name"], "%s-apm-coverage-secrets" % release)

    def check_helm_test(self, objs):
        pods = by_kind(objs, "Pod")
        self.assertEqual(len(pods), 1)
        pod = pods[0]
        self.assertEqual(pod["metadata"]["annotations"]["helm.sh/hook"], "test")
        cmd = pod["spec"]["containers"][0]["command"]
        self.assertEqual(cmd[:3], ["curl", "--fail", "--fail-early"])
        ports = {s["metadata"]["name"]: {p["port"] for p in s["spec"]["ports"]}
                 for s in by_kind(objs, "Service")}
        urls = [a for a in cmd if a.startswith("http://")]
        self.assertEqual(len(urls), 4)
        for url in urls:
            m = re.match(r"^http://([^:/]+):(\d+)/(api/stats|readyz)$", url)
            self.assertTrue(m, url)
            self.assertIn(int(m.group(2)), ports.get(m.group(1), set()), url)

    def check_dashboard(self, objs):
        dashboards = [c for c in by_kind(objs, "ConfigMap")
                      if c["metadata"]["labels"].get("grafana_dashboard") == "1"]
        self.assertEqual(len(dashboards), 1)
        data = dashboards[0]["data"]
        with open(os.path.join(CHART, "dashboards", "apm-coverage.json"), encoding="utf-8") as f:
            on_disk = json.load(f)
        dash = json.loads(data["apm-coverage.json"])
        self.assertEqual(dash, on_disk)
        self.assertEqual(dash["uid"], "apm-coverage")
        exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
        self.assertTrue(exprs)
        text = " ".join(exprs)
        for metric in ("apmcov_coverage_ratio", "apmcov_collector_syncs_total",
                       "apmcov_collector_last_success_timestamp_seconds",
                       "apmcov_analyzer_consumer_lag_messages"):
            self.assertIn(metric, text)
        for e in exprs:
            self.assertEqual(e.count("("), e.count(")"), e)
            self.assertEqual(e.count("{"), e.count("}"), e)

    def check_prometheus_rule(self, rule):
        alerts = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]
        self.assertEqual(alerts, ["ApmCoverageTeamCoverageDropped", "ApmCoverageBrokenRateHigh",
                                  "ApmCoverageSyncsFailing", "ApmCoverageSyncStale",
                                  "ApmCoverageConsumerLagGrowing", "ApmCoverageTargetDown"])
        run_promtool(self, rule)


def run_promtool(test, rule):
    """`promtool check rules` and `promtool test rules alerts_test.yaml` on the rendered
    PrometheusRule's groups: each alert fires on its synthetic series and stays quiet below
    its threshold or in another namespace."""
    promtool = shutil.which("promtool")
    test.assertIsNotNone(promtool, "promtool not found: apt-get install prometheus")
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "rules.yaml"), "w", encoding="utf-8") as f:
            yaml.safe_dump(rule["spec"], f)
        shutil.copy(os.path.join(HERE, "alerts_test.yaml"), tmp)
        for args in (["check", "rules", "rules.yaml"], ["test", "rules", "alerts_test.yaml"]):
            p = subprocess.run([promtool] + args, cwd=tmp, capture_output=True, text=True,
                               timeout=120, check=False)
            test.assertEqual(p.returncode, 0, "promtool %s:\n%s%s"
                             % (" ".join(args), p.stdout, p.stderr))


class AlertRules(unittest.TestCase):
    """The alerts as code on their own (ctest helm_alert_rules): the production values'
    PrometheusRule, rendered by the chart's engine, through promtool."""

    def test_alerts_fire_and_stay_quiet(self):
        objs, _, _ = render_scenario("production")
        rule = named(objs, "PrometheusRule", "apmcov-apm-coverage")
        run_promtool(self, rule)


class RenderedText(unittest.TestCase):
    """The manifests as text: tidy enough for yamllint, no trailing blanks from templates."""

    def texts(self):
        chart = render.Chart(CHART)
        for name, (files, release, ns) in SCENARIOS.items():
            values = render.merged_values(CHART, values_paths(files))
            docs = render.split_manifests(chart.render(values, release, ns))
            yield name, "".join("---\n%s\n" % d.strip("\n") for _, d in docs)

    def test_no_trailing_whitespace(self):
        for name, text in self.texts():
            for i, line in enumerate(text.split("\n"), 1):
                self.assertEqual(line, line.rstrip(), "%s: line %d: %r" % (name, i, line))

    def test_yamllint(self):
        yamllint = shutil.which("yamllint")
        if not yamllint:
            self.skipTest("yamllint not installed (scripts/install-deps.sh installs it)")
        config = ("{extends: default, rules: {line-length: disable, indentation: disable, "
                  "document-start: disable, comments-indentation: disable, "
                  "comments: {min-spaces-from-content: 1}}}")
        for name, text in self.texts():
            p = subprocess.run([yamllint, "-d", config, "-"], input=text, capture_output=True,
                               text=True, timeout=120, check=False)
            self.assertEqual(p.returncode, 0, "%s:\n%s%s" % (name, p.stdout, p.stderr))


class KubernetesSchemas(unittest.TestCase):
    """Every object against the Kubernetes OpenAPI schemas and the Prometheus Operator CRDs
    (npm kubernetes-models, via k8s-validate.mjs): field types, enums, required fields."""

    def validate(self, objs):
        node = shutil.which("node")
        if not node:
            self.skipTest("node not installed")
        p = subprocess.run([node, os.path.join(HERE, "k8s-validate.mjs")], input=json.dumps(objs),
                           capture_output=True, text=True, timeout=120, check=False)
        if p.returncode == 3:
            self.skipTest("kubernetes-models not installed: npm ci --prefix tests/helm (%s)"
                          % p.stdout.strip())
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def test_every_object_matches_its_schema(self):
        for name in SCENARIOS:
            objs, _, _ = render_scenario(name)
            results = self.validate(objs)
            self.assertEqual(len(results), len(objs))
            bad = [r for r in results if r["result"] != "ok"]
            self.assertEqual(bad, [], name)

    def test_validator_rejects_a_broken_object(self):
        objs, _, _ = render_scenario("defaults")
        dep = copy.deepcopy(by_kind(objs, "Deployment")[0])
        dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "admin"
        hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
               "metadata": {"name": "x"}, "spec": {"maxReplicas": 2}}
        unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
        results = self.validate([dep, hpa, unknown])
        self.assertEqual([r["result"] for r in results], ["invalid", "invalid", "unknown"])
        self.assertIn("containerPort", results[0]["error"])
        self.assertIn("scaleTargetRef", results[1]["error"])


class RenderFailures(unittest.TestCase):
    """Values the chart must refuse, with a message that says what to fix."""

    def assert_fails(self, scenario, overrides, pattern):
        with self.assertRaisesRegex(RenderError, pattern):
            render_scenario(scenario, overrides)

    def test_hpa_max_replicas_above_partitions(self):
        self.assert_fails("production", {"analyzer": {"autoscaling": {"maxReplicas": 13}}},
                          r"analyzer.autoscaling.maxReplicas \(13\) exceeds kafka.partitions "
                          r"\(12\)")
        self.assert_fails("production", {"kafka": {"partitions": 8}},
                          r"maxReplicas \(12\) exceeds kafka.partitions \(8\)")
        # At the bound it renders.
        render_scenario("production", {"kafka": {"partitions": 12}})

    def test_analyzer_replicas_above_partitions(self):
        self.assert_fails("defaults", {"analyzer": {"replicaCount": 7}},
                          r"analyzer.replicaCount \(7\) exceeds kafka.partitions \(6\)")

    def test_collector_replicas_lead_and_stand_by(self):
        # One leads through Kafka's group protocol, the others stand by: a rolling update is
        # safe (no Recreate gap), and any count renders.
        objs, _, _ = render_scenario("defaults", {"collector": {"replicaCount": 2}})
        dep = named(objs, "Deployment", "apmcov-apm-coverage-collector")
        self.assertEqual(dep["spec"]["replicas"], 2)
        self.assertNotEqual(dep["spec"].get("strategy", {}).get("type"), "Recreate")

    def test_hpa_min_above_max(self):
        self.assert_fails("production", {"analyzer": {"autoscaling": {"minReplicas": 12,
                                                                      "maxReplicas": 4}}},
                          r"minReplicas \(12\) exceeds analyzer.autoscaling.maxReplicas \(4\)")

    def test_required_values(self):
        self.assert_fails("defaults", {"kafka": {"brokers": ""}}, "kafka.brokers is required")
        self.assert_fails("defaults", {"postgres": {"url": ""}}, "postgres.url is required")
        self.assert_fails("defaults", {"datadog": {"apiKey": ""}}, "datadog.apiKey is required")
        # existingSecret replaces all three secrets.
        objs, _, _ = render_scenario("defaults", {"existingSecret": "mine", "postgres": {"url": ""},
                                                  "datadog": {"apiKey": "", "appKey": ""}})
        self.assertEqual(by_kind(objs, "Secret"), [])


class ValuesSchema(unittest.TestCase):
    """values.schema.json accepts the representative files and rejects bad values."""

    def validate(self, overrides, files=("values-defaults.yaml",)):
        render.validate_schema(CHART, render.merged_values(CHART, values_paths(files), overrides))

    def test_schema_is_draft7_and_accepts_every_values_file(self):
        import jsonschema
        with open(os.path.join(CHART, "values.schema.json"), encoding="utf-8") as f:
            schema = json.load(f)
        self.assertIn("draft-07", schema["$schema"])
        jsonschema.Draft7Validator.check_schema(schema)
        self.validate(None, files=())  # the chart's own defaults
        for files, _, _ in SCENARIOS.values():
            self.validate(None, files=files)

    def test_rejects_bad_values(self):
        bad = [
            ({"gateway": {"replicaCount": "two"}}, r"gateway.replicaCount: 'two' is not of type"),
            ({"analyzer": {"replicaCount": -1}}, r"analyzer.replicaCount"),
            ({"config": {"logLevel": "verbose"}}, r"config.logLevel: 'verbose' is not one of"),
            ({"config": {"logFormat": "xml"}}, r"config.logFormat"),
            ({"config": {"infraAliases": "k8s"}}, r"config.infraAliases"),
            ({"analyzer": {"scorecards": {"dashboardUrl": "apm.example.org"}}},
             r"analyzer.scorecards.dashboardUrl"),
            ({"prometheusRule": {"brokenRateThreshold": 2}}, r"prometheusRule.brokenRateThreshold"),
            ({"image": {"pullPolicy": "Sometimes"}}, r"image.pullPolicy"),
            ({"kafka": {"partitions": 0}}, r"kafka.partitions: 0 is less than"),
            ({"kafka": {"brokers": "kafka-without-port"}}, r"kafka.brokers"),
            ({"postgres": {"url": "mysql://x"}}, r"postgres.url"),
            ({"datadog": {"site": "datadog.example"}}, r"datadog.site"),
            ({"replicas": 3}, r"\(root\): Additional properties are not allowed \('replicas'"),
            ({"gateway": {"replicas": 3}}, r"gateway: Additional properties"),
            ({"gateway": {"httpPort": 70000}}, r"gateway.httpPort"),
            ({"analyzer": {"adminPort": 0}}, r"analyzer.adminPort"),
            ({"config": {"adminPort": 9464}}, r"config: Additional properties"),
            ({"gateway": {"service": {"type": "ExternalName"}}}, r"gateway.service.type"),
            ({"gateway": {"ingress": {"hosts": [{"host": "a", "paths": [{"path": "api"}]}]}}},
             r"gateway.ingress.hosts.0.paths.0.path"),
            ({"securityContext": {"runAsNonRoot": False}}, r"securityContext.runAsNonRoot"),
            ({"securityContext": {"allowPrivilegeEscalation": True}},
             r"securityContext.allowPrivilegeEscalation"),
            ({"podSecurityContext": {"runAsNonRoot": False}}, r"podSecurityContext.runAsNonRoot"),
            ({"prometheusRule": {"coverageDropThreshold": 5}},
             r"prometheusRule.coverageDropThreshold"),
            ({"serviceMonitor": {"interval": "30 seconds"}}, r"serviceMonitor.interval"),
            ({"analyzer": {"autoscaling": {"enabled": "yes"}}}, r"analyzer.autoscaling.enabled"),
            ({"collector": {"maxConsumerLagMessages": "lots"}},
             r"collector.maxConsumerLagMessages"),
            ({"config": {"extraEnv": {"BAD-NAME": "x"}}}, r"config.extraEnv"),
            ({"ddsim": {"services": 5}}, r"ddsim.services: 5 is less than"),
            ({"ddsim": {"extraArgs": ["serve"]}}, r"ddsim.extraArgs.0"),
            ({"tracing": {"enabled": "yes"}}, r"tracing.enabled"),
            ({"tracing": {"sampleRate": 1.5}}, r"tracing.sampleRate"),
            ({"tracing": {"agentUrl": "https://agent:8126"}}, r"tracing.agentUrl"),
            ({"tracing": {"partialFlushMinSpans": 5001}}, r"tracing.partialFlushMinSpans"),
        ]
        for overrides, pattern in bad:
            with self.subTest(overrides=overrides):
                with self.assertRaisesRegex(RenderError, pattern):
                    self.validate(overrides)

    def test_template_refuses_values_the_schema_rejects(self):
        with self.assertRaisesRegex(RenderError, "config.logLevel"):
            render_scenario("defaults", {"config": {"logLevel": "loud"}})


class Documentation(unittest.TestCase):
    def test_readme_documents_every_value(self):
        with open(os.path.join(CHART, "values.yaml"), encoding="utf-8") as f:
            values = yaml.safe_load(f)
        with open(os.path.join(CHART, "README.md"), encoding="utf-8") as f:
            readme = f.read()

        def leaves(v, prefix=""):
            if isinstance(v, dict) and v:
                for k, x in v.items():
                    yield from leaves(x, prefix + k + ".")
            else:
                yield prefix[:-1]

        missing = [p for p in leaves(values) if "`%s`" % p not in readme]
        self.assertEqual(missing, [], "values missing from helm/apm-coverage/README.md")

    def test_readme_lists_no_value_that_does_not_exist(self):
        with open(os.path.join(CHART, "values.yaml"), encoding="utf-8") as f:
            values = yaml.safe_load(f)
        with open(os.path.join(CHART, "README.md"), encoding="utf-8") as f:
            text = f.read()
        section = text[text.index("\n## Values"):]
        section = section[: section.find("\n## ", 1) if "\n## " in section[1:] else None]
        rows = re.findall(r"^\| `([A-Za-z0-9_.]+)` \|", section, re.M)
        self.assertTrue(rows)
        for row in rows:
            v = values
            for part in row.split("."):
                self.assertTrue(isinstance(v, dict) and part in v,
                                "README documents %s, which values.yaml lacks" % row)
                v = v[part]


if __name__ == "__main__":
    unittest.main()
