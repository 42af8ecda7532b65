"""A private APM Coverage Tracker stack for the end-to-end and fault suites.

Stack starts, as scripts/up.sh does, its own PostgreSQL cluster (scripts/pg-local.sh with
APMCOV_PG_DIR in a temp dir), kafka-dev, ddsim (seed, size and traffic given), the analyzer
(after `apmcov-analyzer migrate`), the collector and the gateway, each on free ports, with a
pidfile and a log file in the temp dir. It stops everything it started by PID, also when a test
fails (context manager); on failure the log directory is kept and printed.

Only the product's public interfaces are used to read results: the gateway's REST API and its
gRPC API (stubs generated at run time from protos/apmcov/v1 with protoc and grpc_python_plugin).
ddsim's /_ddsim/* control surface gives the ground truth and injects faults; kafka-dev's control
port takes brokers down and up.

Binaries come from $APMCOV_BINARY_DIR/services/<name>/apmcov-<name>; APMCOV_<NAME>_BIN (e.g.
APMCOV_DDSIM_BIN, APMCOV_KAFKA_DEV_BIN) overrides one of them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

SOURCE_DIR = os.environ.get(
    "APMCOV_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
)
BINARY_DIR = os.environ.get("APMCOV_BINARY_DIR", os.path.join(SOURCE_DIR, "build"))
PG_LOCAL = os.path.join(SOURCE_DIR, "scripts", "pg-local.sh")

NS = 1_000_000_000


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


_given_ports: set[int] = set()


def free_port(avoid: frozenset[int] = frozenset()) -> int:
    """A port free now, never one this process handed out before nor one of `avoid`.

    The port is released before a service binds it, so the kernel may hand the same number
    to the next bind(0): to PostgreSQL's or kafka-dev's own pick (Stack.start re-picks what
    they took) or to the next call here (remembered, so never twice)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _given_ports and port not in avoid:
            _given_ports.add(port)
            return port
    raise OSError("no free port found in 100 tries")


def binary(name: str) -> str:
    override = os.environ.get(f"APMCOV_{name.upper().replace('-', '_')}_BIN")
    path = override or os.path.join(BINARY_DIR, "services", name, f"apmcov-{name}")
    if not os.access(path, os.X_OK):
        raise StackError(f"binary of {name} not found at {path} (build it, or set APMCOV_BINARY_DIR)")
    return path


def rfc3339(ns: int) -> str:
    secs, frac = divmod(ns, NS)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac // 1000:06d}Z"


def parse_rfc3339(text: str) -> int:
    """RFC 3339 UTC ('Z' or +00:00) to unix nanoseconds."""
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1]
    elif t.endswith("+00:00"):
        t = t[:-6]
    frac = 0
    if "." in t:
        t, f = t.split(".", 1)
        frac = int((f + "000000000")[:9])
    import calendar

    secs = calendar.timegm(time.strptime(t, "%Y-%m-%dT%H:%M:%S"))
    return secs * NS + frac


def replica_name(kind: str, index: int) -> str:
    """The first replica keeps the plain name ("analyzer"), the others are "analyzer-2", ..."""
    return kind if index == 1 else f"{kind}-{index}"


class StackError(Exception):
    pass


@dataclass
class Proc:
    """One process the stack started: argv, env, log file and pidfile; stopped by PID only."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: str
    pid_path: str
    popen: subprocess.Popen | None = None

    def start(self) -> None:
        logf = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        logf.close()
        with open(self.pid_path, "w") as f:
            f.write(f"{self.popen.pid}\n")

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.popen.pid, sig)

    def stop(self, timeout: float = 15.0) -> None:
        if not self.popen:
            return
        if self.alive():
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} (pid {self.popen.pid}) did not stop in {timeout}s: SIGKILL")
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        self.popen.wait()
        try:
            os.unlink(self.pid_path)
        except FileNotFoundError:
            pass

    def kill9(self) -> None:
        if self.alive():
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)


@dataclass
class StackOptions:
    seed: int = 42
    services: int = 40
    spans_per_second: float = 100.0
    backfill_minutes: int = 8
    span_lag_seconds: int = 10
    trace_grace_seconds: int = 20
    span_window_seconds: int = 120
    brokers: int = 3
    partitions: int = 6
    analyzers: int = 1  # replicas in one consumer group: "analyzer", "analyzer-2", ...
    collectors: int = 1  # "collector", "collector-2", ...: one leads, the others stand by
    ddsim_env: dict[str, str] = field(default_factory=dict)
    collector_env: dict[str, str] = field(default_factory=dict)
    analyzer_env: dict[str, str] = field(default_factory=dict)
    gateway_env: dict[str, str] = field(default_factory=dict)


class Stack:
    """The whole pipeline on one machine; use as a context manager."""

    def __init__(self, opts: StackOptions, label: str = "stack"):
        self.opts = opts
        self.label = label
        self.dir = tempfile.mkdtemp(prefix=f"apmcov-{label}-")
        os.chmod(self.dir, 0o755)  # the PostgreSQL server runs as `postgres` under it
        self.logs = os.path.join(self.dir, "logs")
        os.makedirs(self.logs)
        self.procs: dict[str, Proc] = {}
        self.pg_started = False
        self.failed = False
        # Secrets: random per run, so a leak check cannot pass by accident.
        self.dd_api_key = "ddk" + secrets.token_hex(16)
        self.dd_app_key = "dda" + secrets.token_hex(20)
        self.api_token = "gwt" + secrets.token_hex(16)
        self.ports = {
            "ddsim": free_port(),
            "ddsim_admin": free_port(),
            "http": free_port(),
            "grpc": free_port(),
            "collector_admin": free_port(),
            "analyzer_admin": free_port(),
            "gateway_admin": free_port(),
        }
        self.database_url = ""
        self.brokers = ""
        self.kafka_control = ""
        self.traffic_start_ns = 0
        self._grpc = None

    # ---------------------------------------------------------------- lifecycle

    def __enter__(self) -> "Stack":
        # ctest's timeout (or a user's kill) sends SIGTERM: unwind through __exit__ so that every
        # process of the stack is stopped by its PID instead of being left behind.
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        try:
            self.start()
        except BaseException:
            self.failed = True
            self.stop()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.failed = True
        self.stop()

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "KAFKA_", "DATABASE_"))}
        env.update(
            {
                "LOG_FORMAT": "json",
                "LOG_LEVEL": "info",
                "KAFKA_BROKERS": self.brokers,
                "DATABASE_URL": self.database_url,
                "KAFKA_TOPIC_PREFIX": "apmcov.",
            }
        )
        return env

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        p = Proc(
            name,
            argv,
            env,
            os.path.join(self.logs, f"{name}.log"),
            os.path.join(self.dir, f"{name}.pid"),
        )
        p.start()
        self.procs[name] = p
        log(f"started {name} (pid {p.pid})")
        return p

    def start(self) -> None:
        o = self.opts
        log(f"stack dir {self.dir}; seed {o.seed}, {o.services} services, {o.spans_per_second} spans/s, "
            f"{o.backfill_minutes} min backfill")
        # PostgreSQL
        self.pg_dir = os.path.join(self.dir, "pg")
        out = subprocess.run(
            [PG_LOCAL, "start"],
            env={**os.environ, "APMCOV_PG_DIR": self.pg_dir},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if out.returncode != 0:
            raise StackError(f"pg-local.sh start failed: {out.stderr.strip()}")
        self.pg_started = True
        self.database_url = out.stdout.strip().splitlines()[-1]
        # kafka-dev
        boot = os.path.join(self.dir, "kafka-dev.bootstrap")
        ctl = os.path.join(self.dir, "kafka-dev.control")
        self._start(
            "kafka-dev",
            [binary("kafka-dev"), "--brokers", str(o.brokers), "--partitions", str(o.partitions),
             "--bootstrap-file", boot, "--control-file", ctl],
            self.base_env(),
        )
        self.wait_for(lambda: os.path.exists(boot) and os.path.exists(ctl), 30, "kafka-dev bootstrap file")
        self.brokers = open(boot).read().strip()
        self.kafka_control = open(ctl).read().strip()
        # PostgreSQL and kafka-dev picked their ports themselves, after ours were chosen.
        self._repick_ports_taken_by([self.database_url, self.brokers, self.kafka_control])
        # ddsim: traffic starts at a whole minute, backfill_minutes ago.
        now = time.time_ns()
        self.traffic_start_ns = (now // (60 * NS) - o.backfill_minutes) * 60 * NS
        denv = self.base_env()
        denv.update({"ADMIN_PORT": str(self.ports["ddsim_admin"]), **o.ddsim_env})
        self._start(
            "ddsim",
            [binary("ddsim"), "serve", "--http-port", str(self.ports["ddsim"]), "--address", "127.0.0.1",
             "--seed", str(o.seed), "--services", str(o.services),
             "--spans-per-second", str(o.spans_per_second),
             "--traffic-start", str(self.traffic_start_ns // 1_000_000),
             "--api-key", self.dd_api_key, "--app-key", self.dd_app_key],
            denv,
        )
        self.wait_http(f"{self.ddsim_url}/_ddsim/stats", 60, "ddsim")
        # analyzer: migrations first
        aenv = self.analyzer_env()
        mig = subprocess.run([binary("analyzer"), "migrate"], env=aenv, capture_output=True, text=True, timeout=120)
        with open(os.path.join(self.logs, "analyzer-migrate.log"), "w") as f:
            f.write(mig.stdout + mig.stderr)
        if mig.returncode != 0:
            raise StackError(f"apmcov-analyzer migrate failed (exit {mig.returncode}): {mig.stderr.strip()[-2000:]}")
        for i in range(o.analyzers):
            self.start_analyzer(replica_name("analyzer", i + 1))
        for i in range(o.collectors):
            self.start_collector(replica_name("collector", i + 1))
        self._start("gateway", [binary("gateway")], self.gateway_env())
        for name in list(self.procs):
            if name.startswith(("analyzer", "collector", "gateway")):
                self.wait_ready(name, 90)
        log("stack ready")

    def _repick_ports_taken_by(self, addresses: list[str]) -> None:
        taken = frozenset(int(p) for p in re.findall(r":(\d{2,5})(?=[/,?]|$)", ",".join(addresses)))
        for key, port in self.ports.items():
            if port in taken:
                self.ports[key] = free_port(taken)
                log(f"port {port} ({key}) was taken by PostgreSQL or kafka-dev; using {self.ports[key]}")

    def _admin_port(self, name: str) -> int:
        key = name.replace("-", "_") + "_admin"
        if key not in self.ports:
            self.ports[key] = free_port()
        return self.ports[key]

    def analyzer_env(self, name: str = "analyzer") -> dict[str, str]:
        env = self.base_env()
        env.update(
            {
                "ADMIN_PORT": str(self._admin_port(name)),
                "DD_SERVICE": "apmcov-analyzer",
                "TRACE_GRACE_SECONDS": str(self.opts.trace_grace_seconds),
                **self.opts.analyzer_env,
            }
        )
        return env

    def collector_env(self, name: str = "collector") -> dict[str, str]:
        env = self.base_env()
        env.update(
            {
                "ADMIN_PORT": str(self._admin_port(name)),
                "DD_SERVICE": "apmcov-collector",
                "DD_API_KEY": self.dd_api_key,
                "DD_APP_KEY": self.dd_app_key,
                "DD_API_BASE_URL": self.ddsim_url,
                "SPAN_BACKFILL_MINUTES": str(self.opts.backfill_minutes + 2),
                "SPAN_LAG_SECONDS": str(self.opts.span_lag_seconds),
                "SPAN_WINDOW_SECONDS": str(self.opts.span_window_seconds),
                "SPAN_PAGE_BUDGET": "100000",
                "SYNC_INTERVAL_MINUTES": "600",
                "DD_MAX_RETRIES": "8",
                **self.opts.collector_env,
            }
        )
        return env

    def gateway_env(self) -> dict[str, str]:
        env = self.base_env()
        env.update(
            {
                "ADMIN_PORT": str(self.ports["gateway_admin"]),
                "DD_SERVICE": "apmcov-gateway",
                "HTTP_PORT": str(self.ports["http"]),
                "GRPC_PORT": str(self.ports["grpc"]),
                "BIND_ADDRESS": "127.0.0.1",
                "GATEWAY_API_TOKEN": self.api_token,
                "GATEWAY_CACHE_MS": "0",
                **self.opts.gateway_env,
            }
        )
        return env

    def start_analyzer(self, name: str = "analyzer") -> Proc:
        return self._start(name, [binary("analyzer")], self.analyzer_env(name))

    def start_collector(self, name: str = "collector") -> Proc:
        return self._start(name, [binary("collector")], self.collector_env(name))

    def live(self, kind: str) -> list[str]:
        """The running processes of one kind ("analyzer": every analyzer replica)."""
        return [n for n, p in self.procs.items() if (n == kind or n.startswith(kind + "-")) and p.alive()]

    def restart(self, name: str, wait_ready: bool = True) -> None:
        old = self.procs[name]
        old.stop()
        if name.startswith("analyzer"):
            self.start_analyzer(name)
        elif name.startswith("collector"):
            self.start_collector(name)
        else:
            raise StackError(f"restart of {name} not supported")
        if wait_ready:
            self.wait_ready(name, 90)

    def stop(self) -> None:
        if self._grpc is not None:
            try:
                self._grpc.close()
            except Exception:
                pass
            self._grpc = None
        kinds = ("gateway", "collector", "analyzer", "ddsim", "kafka-dev")
        order = sorted(self.procs, key=lambda n: next((i for i, k in enumerate(kinds) if n.startswith(k)), 0))
        for name in order:
            p = self.procs[name]
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                log(f"stopping {name}: {e}")
        if self.pg_started:
            subprocess.run([PG_LOCAL, "stop"], env={**os.environ, "APMCOV_PG_DIR": self.pg_dir},
                           capture_output=True, timeout=60)
            self.pg_started = False
        if self.failed or os.environ.get("APMCOV_E2E_KEEP"):
            log(f"logs kept in {self.logs}")
            self.dump_logs()
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def dump_logs(self, tail: int = 60) -> None:
        for fn in sorted(os.listdir(self.logs)):
            path = os.path.join(self.logs, fn)
            with open(path, errors="replace") as f:
                lines = f.readlines()
            print(f"----- {path} (last {min(tail, len(lines))} of {len(lines)} lines) -----")
            sys.stdout.writelines(lines[-tail:])
        sys.stdout.flush()

    def check_alive(self) -> None:
        dead = [n for n, p in self.procs.items() if not p.alive()]
        if dead:
            raise StackError(f"exited unexpectedly: {', '.join(dead)}")

    # ---------------------------------------------------------------- PostgreSQL control

    def _pg_bin(self) -> str:
        for v in ("17", "16", "15"):
            d = f"/usr/lib/postgresql/{v}/bin"
            if os.path.exists(os.path.join(d, "pg_ctl")):
                return d
        raise StackError("PostgreSQL binaries not found")

    def _as_pg(self, cmd: str) -> subprocess.CompletedProcess:
        if os.geteuid() == 0:
            return subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", cmd], capture_output=True, text=True)
        return subprocess.run(["sh", "-c", cmd], capture_output=True, text=True)

    def pg_stop(self) -> None:
        r = self._as_pg(f"'{self._pg_bin()}/pg_ctl' -D '{self.pg_dir}/data' -m fast -w -t 30 stop")
        if r.returncode != 0:
            raise StackError(f"pg_ctl stop: {r.stderr}")

    def pg_start(self) -> None:
        # Same port and socket as before (pg-local.sh would pick a new port), so every service's
        # DATABASE_URL stays valid; the same options as pg-local.sh (APMCOV_PG_OPTIONS too).
        port = open(os.path.join(self.pg_dir, "port")).read().strip()
        sock = os.path.join(self.pg_dir, "sock")
        opts = (f"-p {port} -k '{sock}' -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
                f"{os.environ.get('APMCOV_PG_OPTIONS', '')}")
        r = self._as_pg(f"'{self._pg_bin()}/pg_ctl' -D '{self.pg_dir}/data' -l '{self.pg_dir}/server.log' "
                        f"-w -t 30 -o \"{opts}\" start")
        if r.returncode != 0:
            raise StackError(f"pg_ctl start: {r.stderr}")

    # ---------------------------------------------------------------- kafka-dev control

    def kafka_control_cmd(self, line: str) -> str:
        host, port = self.kafka_control.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall((line + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        reply = buf.decode().strip()
        if not reply.startswith("ok"):
            raise StackError(f"kafka-dev control '{line}': {reply}")
        return reply

    # ---------------------------------------------------------------- HTTP helpers

    @property
    def ddsim_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['ddsim']}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}"

    def admin_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name.replace('-', '_') + '_admin']}"

    @staticmethod
    def wait_for(cond: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if cond():
                    return
            except Exception:
                pass
            time.sleep(interval)
        raise StackError(f"timed out after {timeout:.0f}s waiting for {what}")

    def wait_http(self, url: str, timeout: float, what: str) -> None:
        def ok() -> bool:
            with urllib.request.urlopen(url, timeout=2) as r:
                return 200 <= r.status < 300

        self.wait_for(ok, timeout, what)

    def wait_ready(self, name: str, timeout: float) -> None:
        p = self.procs[name]

        def ready() -> bool:
            if not p.alive():
                raise StackError(f"{name} exited (code {p.popen.returncode}); see {p.log_path}")
            with urllib.request.urlopen(f"{self.admin_url(name)}/readyz", timeout=2) as r:
                return r.status == 200

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ready():
                    log(f"{name} ready")
                    return
            except StackError:
                raise
            except Exception:
                pass
            time.sleep(0.3)
        raise StackError(f"{name} not ready after {timeout}s; see {p.log_path}")

    def request(self, method: str, url: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 60) -> tuple[int, bytes]:
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get_json(self, path: str, params: dict | None = None, base: str | None = None) -> Any:
        url = (base or self.gateway_url) + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        status, body = self.request("GET", url)
        if status != 200:
            raise StackError(f"GET {url}: HTTP {status}: {body[:500]!r}")
        return json.loads(body)

    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.api_token}"}

    # ---------------------------------------------------------------- ddsim

    def truth(self, from_ns: int, to_ns: int, traces: str = "all") -> dict:
        return self.get_json(
            "/_ddsim/ground-truth",
            {"from": str(from_ns // 1_000_000), "to": str(to_ns // 1_000_000), "traces": traces},
            base=self.ddsim_url,
        )

    def set_faults(self, plan: dict) -> dict:
        status, body = self.request("POST", f"{self.ddsim_url}/_ddsim/faults", json.dumps(plan).encode(),
                                    {"Content-Type": "application/json"})
        if status != 200:
            raise StackError(f"POST /_ddsim/faults: HTTP {status}: {body!r}")
        return json.loads(body)

    def ddsim_stats(self) -> dict:
        return self.get_json("/_ddsim/stats", base=self.ddsim_url)

    # ---------------------------------------------------------------- syncs

    def trigger_sync(self) -> str:
        status, body = self.request("POST", f"{self.gateway_url}/api/sync", b"", self.auth())
        if status != 202:
            raise StackError(f"POST /api/sync: HTTP {status}: {body[:300]!r}")
        doc = json.loads(body) if body else {}
        job = doc.get("job_id") or doc.get("id") or (doc.get("job") or {}).get("id") or ""
        log(f"sync requested: job {job!r}")
        return job

    def jobs(self) -> list[dict]:
        return self.get_json("/api/sync-jobs")["jobs"]

    def wait_job(self, job_id: str, timeout: float = 300, accept=("succeeded",)) -> dict:
        """Waits until job `job_id` (or, when empty, the newest job) finishes; returns it."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self.check_alive_except(())
            try:
                jobs = self.jobs()
            except Exception:
                jobs = []
            cand = [j for j in jobs if (j.get("id") == job_id if job_id else True)]
            if cand:
                last = cand[0]
                if last.get("state") in ("succeeded", "partial", "failed"):
                    if last["state"] not in accept:
                        raise StackError(f"sync job {last.get('id')} ended {last['state']}: {last.get('error')}")
                    log(f"sync job {last.get('id')} {last['state']}: api_calls {last.get('api_calls')}, "
                        f"pages {last.get('pages')}, spans {last.get('spans')}")
                    return last
            time.sleep(1)
        raise StackError(f"sync job {job_id!r} did not finish in {timeout}s (last seen: {last})")

    def check_alive_except(self, names) -> None:
        dead = [n for n, p in self.procs.items() if n not in names and not p.alive()]
        if dead:
            raise StackError(f"exited unexpectedly: {', '.join(dead)}")

    def metrics(self, name: str) -> str:
        status, body = self.request("GET", f"{self.admin_url(name)}/metrics", timeout=10)
        if status != 200:
            raise StackError(f"{name} /metrics: HTTP {status}")
        return body.decode(errors="replace")

    @staticmethod
    def metric_sum(text: str, metric: str, label: str = "") -> float:
        """Sum of every sample of `metric` (whose labels contain `label`, e.g. 'topic="x"')."""
        total = 0.0
        for line in text.splitlines():
            if line.startswith(metric) and (line[len(metric)] in " {") and label in line:
                try:
                    total += float(line.rsplit(" ", 1)[1])
                except ValueError:
                    pass
        return total

    def settle(self, timeout: float = 180, quiet_polls: int = 4, interval: float = 2.0) -> None:
        """Waits until what the gateway reports stops changing: stats and the broken-trace list
        total unchanged over `quiet_polls` consecutive polls."""
        deadline = time.monotonic() + timeout
        prev, same = None, 0
        next_report = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.check_alive()
            if time.monotonic() > next_report:
                next_report += 30
                log(f"still settling: {str(prev)[:300]}")
            try:
                st = self.get_json("/api/stats")
                tr = self.get_json("/api/traces", {"page_size": "1"})
                lag = processed = 0.0
                for name in self.live("analyzer"):  # each replica reports its own partitions
                    am = self.metrics(name)
                    # Only the spans topic: after a restart the analyzer reports the whole
                    # partition as lag for partitions it has not consumed from since (sync-jobs).
                    lag += self.metric_sum(am, "apmcov_analyzer_consumer_lag_messages", 'topic="apmcov.spans"')
                    processed += self.metric_sum(am, "apmcov_analyzer_spans_processed_total")
                snap = json.dumps([{k: v for k, v in st.items() if k != "last_sync"}, tr.get("total"), processed],
                                  sort_keys=True)
                if lag > 0:
                    snap = f"lagging {lag} {snap}"
            except Exception as e:
                snap = f"error {e}"
            if snap == prev and not snap.startswith(("error", "lagging")):
                same += 1
                if same >= quiet_polls:
                    log("analyzer caught up (gateway results stable)")
                    return
            else:
                same = 0
            prev = snap
            time.sleep(interval)
        raise StackError(f"results did not settle in {timeout}s (last: {str(prev)[:500]})")

    # ---------------------------------------------------------------- gRPC

    def grpc(self) -> "GrpcClient":
        if self._grpc is None:
            self._grpc = GrpcClient(f"127.0.0.1:{self.ports['grpc']}", os.path.join(self.dir, "pb"))
        return self._grpc


class GrpcClient:
    """apmcov.v1.CoverageService stubs generated at run time (protoc + grpc_python_plugin)."""

    def __init__(self, target: str, out_dir: str):
        try:
            import grpc
        except ImportError as e:
            raise StackError(
                f"python module grpc missing ({e}); install python3-grpcio and run with /usr/bin/python3")
        os.makedirs(out_dir, exist_ok=True)
        protoc = shutil.which("protoc") or "/usr/bin/protoc"
        plugin = shutil.which("grpc_python_plugin") or "/usr/bin/grpc_python_plugin"
        proto_dir = os.path.join(SOURCE_DIR, "protos")
        cmd = [protoc, f"-I{proto_dir}", "-I/usr/include", f"--python_out={out_dir}",
               f"--grpc_python_out={out_dir}", f"--plugin=protoc-gen-grpc_python={plugin}",
               "apmcov/v1/events.proto", "apmcov/v1/coverage_service.proto"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise StackError(f"generating gRPC stubs failed: {r.stderr}")
        if out_dir not in sys.path:
            sys.path.insert(0, out_dir)
        from apmcov.v1 import coverage_service_pb2 as pb  # type: ignore
        from apmcov.v1 import coverage_service_pb2_grpc as pbg  # type: ignore

        self.grpc = grpc
        self.pb = pb
        self.channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 256 << 20)])
        self.stub = pbg.CoverageServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def call(self, rpc: str, **kwargs):
        req_type = {
            "GetStats": "GetStatsRequest", "ListServices": "ListServicesRequest",
            "GetService": "GetServiceRequest", "GetCoverage": "GetCoverageRequest",
            "ListTraces": "ListTracesRequest", "GetTrace": "GetTraceRequest",
            "ListShadowServices": "ListShadowServicesRequest", "ListSyncJobs": "ListSyncJobsRequest",
            "TriggerSync": "TriggerSyncRequest",
        }[rpc]
        req = getattr(self.pb, req_type)(**kwargs)
        return getattr(self.stub, rpc)(req, timeout=60)
