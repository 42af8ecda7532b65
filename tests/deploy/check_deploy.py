#!/usr/bin/env python3
"""Static checks of docker-compose.yml, .env and deploy/ (no Docker engine needed).

Validates the compose file with `docker-compose config`, then checks what a user of the stack
relies on: every long-running service has a healthcheck, our containers run as non-root,
dependencies wait on conditions, no secret is written in a committed file, Prometheus scrapes
every service's admin port, the Grafana dashboard's PromQL parses and uses the tracker's
metrics, the topic script creates the topics of design section 3 with their retention, and
yamllint, shellcheck and promtool accept the files.

Run from anywhere: APMCOV_SOURCE_DIR (default: two levels up) is the repository root.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

ROOT = os.environ.get(
    "APMCOV_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
COMPOSE = os.path.join(ROOT, "docker-compose.yml")
COMPOSE_DATADOG = os.path.join(ROOT, "docker-compose.datadog.yml")
DOTENV = os.path.join(ROOT, ".env")
DOCKERFILE = os.path.join(ROOT, "deploy", "docker", "Dockerfile")
PROMETHEUS = os.path.join(ROOT, "deploy", "prometheus", "prometheus.yml")
# One dashboard for compose and Helm: the chart's file, mounted by docker-compose.yml.
DASHBOARD = os.path.join(ROOT, "helm", "apm-coverage", "dashboards", "apm-coverage.json")
DATASOURCES = os.path.join(ROOT, "deploy", "grafana", "provisioning", "datasources")
CREATE_TOPICS = os.path.join(ROOT, "deploy", "kafka", "create-topics.sh")
YAMLLINT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "yamllint.yml")

OUR_BINARIES = {"apmcov-collector", "apmcov-analyzer", "apmcov-gateway", "apmcov-ddsim"}
SECRET_NAME = re.compile(r"(KEY|TOKEN|PASSWORD|SECRET)", re.IGNORECASE)

# Design section 3: topic -> (compacted, retention.ms or None).
DESIGN_TOPICS = {
    "catalog": (True, None),
    "apm-inventory": (True, None),
    "spans": (False, 24 * 3600 * 1000),
    "sync-jobs": (True, None),
    "commands": (False, 3600 * 1000),
    "collector-state": (True, None),
    "dlq": (False, 7 * 24 * 3600 * 1000),
}

# Metrics the dashboard must show (the tracker's own metrics and the coverage gauges).
DASHBOARD_METRICS = [
    "apmcov_coverage_ratio", "apmcov_catalog_services", "apmcov_analyzer_spans_processed_total",
    "apmcov_analyzer_consumer_lag_messages", "apmcov_collector_api_calls_total",
    "apmcov_collector_rate_limit_wait_seconds_total",
    "apmcov_collector_last_success_timestamp_seconds", "apmcov_http_requests_total",
    "apmcov_http_request_duration_seconds_bucket", "apmcov_analyzer_gaps_total",
    "apmcov_dlq_messages_total", "apmcov_process_resident_memory_bytes",
]


def load_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def clean_env(**extra):
    """An environment without the caller's compose and Datadog variables, so .env decides."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update(extra)
    return env


def run(cmd, env=None, cwd=ROOT, stdin=None):
    return subprocess.run(cmd, cwd=cwd, env=env if env is not None else clean_env(),
                          input=stdin, capture_output=True, text=True, timeout=120)


def require_tool(name):
    path = shutil.which(name)
    if path is None:
        raise AssertionError(f"{name} is not installed (scripts/install-deps.sh installs it)")
    return path


def read_dotenv():
    values = {}
    with open(DOTENV, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if "=" not in line:
                raise AssertionError(f".env line {number} is not NAME=value: {line!r}")
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip()
    return values


def resolved_compose(env):
    result = run([require_tool("docker-compose"), "-f", COMPOSE, "config"], env=env)
    if result.returncode != 0:
        raise AssertionError(f"docker-compose config failed:\n{result.stderr}")
    return yaml.safe_load(result.stdout)


def is_ours(service):
    build = service.get("build") or {}
    return isinstance(build, dict) and build.get("dockerfile") == "deploy/docker/Dockerfile"


def one_shot_services(services):
    """Services others wait on to complete: jobs, which need no healthcheck."""
    names = set()
    for svc in services.values():
        for dep, spec in (svc.get("depends_on") or {}).items():
            if isinstance(spec, dict) and spec.get("condition") == "service_completed_successfully":
                names.add(dep)
    return names


def command_words(service):
    command = service.get("command") or []
    if isinstance(command, str):
        command = command.split()
    return [w for part in command for w in re.split(r"[\s;&|]+", part) if w]


class ComposeTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.raw = yaml.safe_load(load_text(COMPOSE))
        cls.dotenv = read_dotenv()
        cls.config = resolved_compose(clean_env())
        cls.services = cls.config["services"]

    def test_config_is_valid_with_demo_defaults_and_with_real_datadog(self):
        compose = require_tool("docker-compose")
        result = run([compose, "-f", COMPOSE, "config", "-q"])
        self.assertEqual(result.returncode, 0, result.stderr)
        real_keys = dict(DD_API_KEY="0123456789abcdef0123456789abcdef",
                         DD_APP_KEY="0123456789abcdef0123456789abcdef01234567")
        both = [compose, "-f", COMPOSE, "-f", COMPOSE_DATADOG, "config"]
        real = run(both, env=clean_env(DD_SITE="datadoghq.eu", **real_keys))
        self.assertEqual(real.returncode, 0, real.stderr)
        self.assertEqual(run(both + ["-q"], env=clean_env(**real_keys)).returncode, 0)
        services = yaml.safe_load(real.stdout)["services"]
        collector = services["collector"]["environment"]
        self.assertEqual(collector["DD_API_KEY"], real_keys["DD_API_KEY"])
        self.assertEqual(collector["DD_SITE"], "datadoghq.eu")
        self.assertEqual(collector["DD_API_BASE_URL"], "", "real Datadog: https://api.<site>")
        self.assertEqual(services["ddsim"].get("profiles"), ["ddsim"], "ddsim must be off")
        # The Datadog file without keys stops at once, naming the variable.
        missing = run(both + ["-q"])
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("DD_API_KEY", missing.stderr)

    def test_real_keys_in_the_shell_never_reach_the_demo(self):
        real_keys = dict(DD_API_KEY="0123456789abcdef0123456789abcdef",
                         DD_APP_KEY="0123456789abcdef0123456789abcdef01234567")
        demo = resolved_compose(clean_env(**real_keys))
        rendered = yaml.safe_dump(demo)
        self.assertNotIn(real_keys["DD_API_KEY"], rendered)
        self.assertNotIn(real_keys["DD_APP_KEY"], rendered)

    def test_demo_defaults_point_the_collector_at_ddsim(self):
        self.assertNotIn("COMPOSE_PROFILES", self.dotenv)
        self.assertNotIn("DD_API_BASE_URL", self.dotenv, "it would leak into the Datadog setup")
        self.assertIsNone(self.services["ddsim"].get("profiles"), "the demo always has ddsim")
        collector = self.services["collector"]["environment"]
        self.assertEqual(collector["DD_API_BASE_URL"], "http://ddsim:8081")
        ddsim_args = " ".join(self.services["ddsim"]["command"])
        self.assertIn("--http-port=8081", ddsim_args)
        # ddsim accepts exactly the keys the collector sends.
        self.assertIn(f"--api-key={collector['DD_API_KEY']}", ddsim_args)
        self.assertIn(f"--app-key={collector['DD_APP_KEY']}", ddsim_args)

    def test_tracing_goes_to_ddsim_in_the_demo_and_to_an_agent_profile_with_datadog(self):
        # Demo: the tracker's own traces go to ddsim, which is also an Agent (design §12).
        for name in ("collector", "analyzer", "gateway"):
            env = self.services[name]["environment"]
            self.assertEqual(env["DD_TRACE_ENABLED"], "true", name)
            self.assertEqual(env["DD_TRACE_AGENT_URL"], "http://ddsim:8081", name)
            self.assertEqual(env["DD_TRACE_PARTIAL_FLUSH_MIN_SPANS"], "500", name)
            self.assertNotIn("DD_AGENT_HOST", env, name)
        # Real Datadog: off unless asked; DD_AGENT_HOST names the optional datadog-agent.
        compose = require_tool("docker-compose")
        keys = dict(DD_API_KEY="0123456789abcdef0123456789abcdef",
                    DD_APP_KEY="0123456789abcdef0123456789abcdef01234567")
        both = [compose, "-f", COMPOSE, "-f", COMPOSE_DATADOG, "config"]
        off = yaml.safe_load(run(both, env=clean_env(**keys)).stdout)["services"]
        self.assertEqual(off["datadog-agent"].get("profiles"), ["datadog-agent"])
        self.assertEqual(off["datadog-agent"]["environment"]["DD_APM_NON_LOCAL_TRAFFIC"], "true")
        self.assertTrue(off["datadog-agent"].get("healthcheck", {}).get("test"))
        for name in ("collector", "analyzer", "gateway"):
            env = off[name]["environment"]
            self.assertEqual(env["DD_TRACE_ENABLED"], "false", name)
            self.assertEqual(env["DD_TRACE_AGENT_URL"], "", name)
            self.assertEqual(env["DD_AGENT_HOST"], "", name)
        on = run(both, env=clean_env(DD_AGENT_HOST="datadog-agent", DD_TRACE_ENABLED="true",
                                     COMPOSE_PROFILES="datadog-agent", **keys))
        self.assertEqual(on.returncode, 0, on.stderr)
        for name in ("collector", "analyzer", "gateway"):
            env = yaml.safe_load(on.stdout)["services"][name]["environment"]
            self.assertEqual((env["DD_AGENT_HOST"], env["DD_TRACE_ENABLED"]),
                             ("datadog-agent", "true"), name)

    def test_every_long_running_service_has_a_healthcheck(self):
        jobs = one_shot_services(self.services)
        self.assertIn("kafka-init", jobs)
        for name, svc in self.services.items():
            if name in jobs:
                self.assertEqual(str(svc.get("restart", "no")), "no", f"{name} is a one-shot job")
                continue
            check = svc.get("healthcheck")
            self.assertIsNotNone(check, f"service {name} has no healthcheck")
            self.assertFalse(check.get("disable", False), f"{name} disables its healthcheck")
            self.assertTrue(check.get("test"), f"{name} healthcheck has no test")

    def test_our_services_run_as_non_root_and_locked_down(self):
        ours = {n: s for n, s in self.services.items() if is_ours(s)}
        self.assertEqual(set(ours), {"collector", "analyzer", "gateway", "ddsim"})
        for name, svc in ours.items():
            user = str(svc.get("user", ""))
            self.assertRegex(user, r"^\d+(:\d+)?$", f"{name}: user must be a numeric uid")
            self.assertNotEqual(int(user.split(":")[0]), 0, f"{name} runs as root")
            self.assertTrue(svc.get("read_only"), f"{name}: root filesystem should be read-only")
            self.assertIn("ALL", svc.get("cap_drop", []), f"{name}: capabilities not dropped")
            # Health is read on the admin port the service is told to use.
            port = svc["environment"]["ADMIN_PORT"]
            self.assertIn(f":{port}/", " ".join(svc["healthcheck"]["test"]))

    def test_our_services_run_the_expected_binaries(self):
        binaries = set()
        for name, svc in self.services.items():
            if is_ours(svc):
                words = command_words(svc)
                found = [w for w in words if w in OUR_BINARIES]
                self.assertTrue(found, f"{name} runs none of {sorted(OUR_BINARIES)}: {words}")
                self.assertEqual(found[-1], f"apmcov-{name}", name)
                binaries.add(found[-1])
        self.assertEqual(binaries, OUR_BINARIES)
        analyzer = " ".join(self.services["analyzer"]["command"])
        self.assertRegex(analyzer, r"apmcov-analyzer migrate\s*&&\s*exec apmcov-analyzer")

    def test_dependencies_wait_on_conditions(self):
        profiled = {n for n, s in self.services.items() if s.get("profiles")}
        for name, svc in self.services.items():
            for dep, spec in (svc.get("depends_on") or {}).items():
                self.assertIn(dep, self.services, f"{name} depends on unknown {dep}")
                self.assertIsInstance(spec, dict, f"{name} -> {dep}: use the long form")
                self.assertIn(spec.get("condition"), {
                    "service_started", "service_healthy", "service_completed_successfully"})
                if not svc.get("profiles"):
                    self.assertNotIn(dep, profiled,
                                     f"{name} depends on {dep}, which a profile can switch off")
        self.assertEqual(self.services["gateway"]["depends_on"]["analyzer"]["condition"],
                         "service_healthy")
        self.assertEqual(self.services["analyzer"]["depends_on"]["postgres"]["condition"],
                         "service_healthy")

    def test_no_secret_is_written_in_committed_files(self):
        datadog = yaml.safe_load(load_text(COMPOSE_DATADOG))["services"]
        for name, svc in list(self.raw["services"].items()) + list(datadog.items()):
            env = svc.get("environment") or {}
            items = env.items() if isinstance(env, dict) else (
                (e.split("=", 1) + [None])[:2] for e in env)
            for key, value in items:
                if not SECRET_NAME.search(key) or value is None:
                    continue
                self.assertTrue(str(value).startswith("${"),
                                f"{name}.{key} is written in the file; take it from the env")
            for word in command_words(svc):
                if SECRET_NAME.search(word.split("=", 1)[0]) and "=" in word:
                    self.assertTrue(word.split("=", 1)[1].startswith("${"), f"{name}: {word}")
        for key in ("DD_API_KEY", "DD_APP_KEY", "GATEWAY_API_TOKEN"):
            self.assertNotIn(key, self.dotenv, f".env must not hold {key}")
        # The defaults compose falls back to are the simulator's, never something key-shaped.
        collector = self.services["collector"]["environment"]
        self.assertTrue(collector["DD_API_KEY"].startswith("ddsim-"))
        self.assertTrue(collector["DD_APP_KEY"].startswith("ddsim-"))

    def test_prometheus_scrapes_every_service_admin_port(self):
        prom = yaml.safe_load(load_text(PROMETHEUS))
        targets = {t for job in prom["scrape_configs"] for sc in job.get("static_configs", [])
                   for t in sc.get("targets", [])}
        for name, svc in self.services.items():
            if is_ours(svc):
                port = svc["environment"]["ADMIN_PORT"]
                self.assertIn(f"{name}:{port}", targets, f"Prometheus does not scrape {name}")
        mounts = " ".join(str(v) for v in self.services["prometheus"].get("volumes", []))
        self.assertIn("deploy/prometheus/prometheus.yml", mounts)

    def test_grafana_is_provisioned(self):
        mounts = " ".join(str(v) for v in self.services["grafana"].get("volumes", []))
        self.assertIn("deploy/grafana/provisioning", mounts)
        self.assertIn("helm/apm-coverage/dashboards", mounts)


class DeployFilesTest(unittest.TestCase):

    def test_promtool_accepts_prometheus_config(self):
        result = run([require_tool("promtool"), "check", "config", PROMETHEUS])
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_dockerfile_runtime_stage(self):
        text = load_text(DOCKERFILE)
        stages = re.split(r"(?m)^FROM\s+", text)[1:]
        self.assertGreaterEqual(len(stages), 2, "multi-stage build expected")
        self.assertTrue(stages[0].startswith("debian:"), stages[0][:40])
        runtime = stages[-1]
        self.assertRegex(runtime.splitlines()[0], r"^debian:\S*-slim\b")
        users = re.findall(r"(?m)^USER\s+(\S+)", runtime)
        self.assertTrue(users, "runtime stage sets no USER")
        self.assertNotIn(users[-1].split(":")[0], ("0", "root"))
        self.assertRegex(runtime, r"(?m)^HEALTHCHECK\s.*\n?.*curl.*healthz")
        self.assertNotRegex(runtime, r"-dev\b", "runtime stage installs a -dev package")
        self.assertRegex(stages[0], r"cmake .*-G Ninja")
        # The command-line client ships in the image (CI gates run it with --entrypoint apmcov).
        self.assertRegex(stages[0], r'ARG APMCOV_TARGETS="[^"]*\bapmcov"')

    def test_runtime_packages_script_maps_a_real_binary(self):
        script = os.path.join(ROOT, "deploy", "docker", "runtime-packages.sh")
        # A binary that a Debian package installs (sys.executable may be a pyenv build).
        result = run(["bash", script, "/usr/bin/curl"])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("libc6", result.stdout.split())
        missing = run(["bash", script, "/nonexistent/binary"])
        self.assertNotEqual(missing.returncode, 0)

    def test_dashboard_queries_parse_and_use_tracker_metrics(self):
        dashboard = json.loads(load_text(DASHBOARD))
        uids = set()
        for name in os.listdir(DATASOURCES):
            doc = yaml.safe_load(load_text(os.path.join(DATASOURCES, name)))
            uids.update(ds["uid"] for ds in doc.get("datasources", []))
        self.assertTrue(uids, "no provisioned data source")
        # Panels use the data source variable: compose's provisioned Prometheus is the default
        # it resolves to, a cluster's is whatever the user picks.
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        self.assertEqual(variables["datasource"]["type"], "datasource")
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        self.assertEqual(variables["namespace"]["allValue"], ".*")  # no namespace label in compose
        exprs = []
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                continue
            self.assertEqual(panel["datasource"]["uid"], "${datasource}", panel["title"])
            self.assertTrue(panel.get("targets"), f"panel {panel['title']} has no query")
            for target in panel["targets"]:
                self.assertEqual(target["datasource"]["uid"], "${datasource}", panel["title"])
                exprs.append((panel["title"], target["expr"]))
        ids = [p["id"] for p in dashboard["panels"]]
        self.assertEqual(len(ids), len(set(ids)), "duplicate panel ids")
        used = " ".join(e for _, e in exprs)
        for metric in DASHBOARD_METRICS:
            self.assertRegex(used, rf"\b{metric}\b", f"the dashboard does not show {metric}")
        # promtool parses every query (Grafana variables replaced by sample values).
        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": f"apmcov:dashboard_query_{i}",
             "expr": e.replace("$__rate_interval", "5m").replace("$dimension", "env")
             .replace("$namespace", ".*")}
            for i, (_, e) in enumerate(exprs)]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            yaml.safe_dump(rules, f)
            path = f.name
        try:
            result = run([require_tool("promtool"), "check", "rules", path])
        finally:
            os.unlink(path)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_yamllint(self):
        files = [COMPOSE] + [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(ROOT, "deploy"))
                             for f in fs if f.endswith((".yml", ".yaml"))]
        result = run([require_tool("yamllint"), "-s", "-c", YAMLLINT_CONFIG] + files)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_shellcheck(self):
        scripts = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(ROOT, "deploy"))
                   for f in fs if f.endswith(".sh")]
        self.assertTrue(scripts)
        result = run([require_tool("shellcheck")] + scripts)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


STUB = """#!/usr/bin/env bash
printf '%s\\n' "$(basename "$0") $*" >> "$STUB_LOG"
[[ -z ${STUB_FAIL:-} ]]
"""


class CreateTopicsTest(unittest.TestCase):
    """Runs deploy/kafka/create-topics.sh against stub Kafka tools that record their calls."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="apmcov-topics-")
        self.log = os.path.join(self.dir, "calls.log")
        for tool in ("kafka-topics.sh", "kafka-configs.sh"):
            path = os.path.join(self.dir, tool)
            with open(path, "w") as f:
                f.write(STUB)
            os.chmod(path, 0o755)

    def tearDown(self):
        shutil.rmtree(self.dir)

    def run_script(self, **env):
        return run(["bash", CREATE_TOPICS],
                   env=clean_env(KAFKA_BIN_DIR=self.dir, STUB_LOG=self.log, **env))

    def calls(self):
        with open(self.log) as f:
            return [line.split() for line in f.read().splitlines()]

    def test_creates_design_topics_with_retention(self):
        result = self.run_script(KAFKA_TOPIC_PREFIX="apmcov.", KAFKA_PARTITIONS="6")
        self.assertEqual(result.returncode, 0, result.stderr)
        creates = {}
        altered = {}
        for call in self.calls():
            if call[0] == "kafka-topics.sh" and "--create" in call:
                args = call[1:]
                topic = args[args.index("--topic") + 1]
                configs = dict(args[i + 1].split("=", 1)
                               for i, a in enumerate(args) if a == "--config")
                # commands has one partition: its owner is the leading collector.
                self.assertEqual(args[args.index("--partitions") + 1],
                                 "1" if topic == "apmcov.commands" else "6", topic)
                self.assertIn("--if-not-exists", args)
                creates[topic] = configs
            elif call[0] == "kafka-configs.sh":
                args = call[1:]
                altered[args[args.index("--entity-name") + 1]] = args[args.index("--add-config") + 1]
        self.assertEqual(set(creates), {f"apmcov.{t}" for t in DESIGN_TOPICS})
        self.assertEqual(set(altered), set(creates))
        for topic, (compacted, retention) in DESIGN_TOPICS.items():
            configs = creates[f"apmcov.{topic}"]
            self.assertEqual(configs["cleanup.policy"], "compact" if compacted else "delete", topic)
            if retention is not None:
                self.assertEqual(configs["retention.ms"], str(retention), topic)
            self.assertEqual(altered[f"apmcov.{topic}"],
                             ",".join(f"{k}={v}" for k, v in configs.items()))

    def test_prefix_is_configurable(self):
        result = self.run_script(KAFKA_TOPIC_PREFIX="staging.")
        self.assertEqual(result.returncode, 0, result.stderr)
        topics = {c[c.index("--topic") + 1] for c in self.calls() if "--topic" in c}
        self.assertEqual(topics, {f"staging.{t}" for t in DESIGN_TOPICS})

    def test_bad_partition_count_is_rejected_by_name(self):
        result = self.run_script(KAFKA_PARTITIONS="zero")
        self.assertEqual(result.returncode, 2)
        self.assertIn("partitions", result.stderr)

    def test_unreachable_broker_fails_after_the_wait(self):
        result = self.run_script(STUB_FAIL="1", KAFKA_WAIT_SECONDS="1")
        self.assertEqual(result.returncode, 1)
        self.assertIn("not reachable", result.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
