#!/usr/bin/env python3
"""Gateway REST latency at a constant request rate, next to nginx serving the same bytes.

Design §11 target: /api/stats and /api/services answer with p99 < 5 ms at 2,000 req/s over a
catalog of 5,000 services. This run:

1. starts a private PostgreSQL (scripts/pg-local.sh, APMCOV_PG_DIR in a temp dir), applies the
   schema (`apmcov-analyzer migrate`) and seeds 5,000 catalog services, APM rows for about 60% of
   them in one to three envs, USM-only and shadow services, broken traces with gaps and coverage
   history (plain SQL, see SEED_SQL);
2. starts apmcov-kafka-dev (readiness needs a broker) and apmcov-gateway on free loopback ports
   with the product's defaults (GATEWAY_CACHE_MS 1000, HTTP_THREADS 2);
3. fetches each measured URL once and writes the body to a file that a private nginx (one
   config in the temp dir, worker_processes auto, loopback port) serves as a static file: the
   reference has exactly the gateway's response size;
4. runs Debian's wrk (4.x, no -R) with a Lua pacing script: every request takes the next slot of
   a per-thread schedule (LuaJIT ffi clock_gettime), so the offered rate is constant at RATE
   req/s while enough connections are open; latency is wrk's, from the write of a request to its
   response. The same runs go against nginx, then one flat-out run per URL (no pacing) gives
   each side's maximum rate;
5. prints one JSON line per URL with the gateway's and nginx's figures side by side, and stops
   everything it started by PID.

Environment: APMCOV_BINARY_DIR (build tree with services/*), BENCH_RATE (2000), BENCH_SECONDS
(10), BENCH_CONNECTIONS (16), BENCH_SERVICES (5000); the gateway's own variables (e.g.
GATEWAY_CACHE_MS, HTTP_THREADS) pass through to it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

SOURCE_DIR = os.environ.get(
    "APMCOV_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
)
BINARY_DIR = os.environ.get("APMCOV_BINARY_DIR", os.path.join(SOURCE_DIR, "build"))
PG_LOCAL = os.path.join(SOURCE_DIR, "scripts", "pg-local.sh")
RATE = int(os.environ.get("BENCH_RATE", "2000"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
SERVICES = int(os.environ.get("BENCH_SERVICES", "5000"))
PATHS = ["/api/stats", "/api/services"]

# Seeds a catalog of :n services. Deterministic (no random()): teams, tiers, languages, envs and
# instrumentation follow the service number, so every run measures the same data.
SEED_SQL = """
INSERT INTO services (name, team, application, tier, lifecycle, type, languages, envs, infra,
                      customer_facing, tags, description)
SELECT 'svc-' || lpad(i::text, 5, '0'), 'team-' || (i % 40), 'app-' || (i % 150),
       (i % 3)::text, CASE WHEN i % 10 = 0 THEN 'experimental' ELSE 'production' END,
       CASE WHEN i % 5 = 0 THEN 'db' ELSE 'web' END,
       ARRAY[(ARRAY['go','java','python','node','dotnet','ruby'])[1 + i % 6]],
       CASE WHEN i % 4 = 0 THEN '{prod,staging}'::text[] ELSE '{prod}'::text[] END,
       (ARRAY['kubernetes','ecs','serverless','host'])[1 + i % 4],
       i % 7 = 0, ARRAY['owner:team-' || (i % 40)], 'seeded service ' || i
FROM generate_series(1, :n) i;

-- About 60% instrumented (traced), a few USM-only, in one to three envs. last_traced and
-- usm_seen as the analyzer's merge writes them (coverage reads a row by them).
INSERT INTO apm_services (service, env, first_seen, last_seen, span_count, languages,
                         infra_hints, traced, usm_only, last_traced, usm_seen)
SELECT 'svc-' || lpad(i::text, 5, '0'), e.env, now() - interval '3 days',
       now() - ((i % 120) || ' minutes')::interval, 1000 + i * 7,
       ARRAY[(ARRAY['go','java','python','node','dotnet','ruby'])[1 + i % 6]],
       ARRAY[(ARRAY['kubernetes','ecs','serverless','host'])[1 + i % 4]],
       i % 20 <> 0, i % 20 = 0,
       CASE WHEN i % 20 <> 0 THEN now() - ((i % 120) || ' minutes')::interval END, i % 20 = 0
FROM generate_series(1, :n) i
CROSS JOIN LATERAL (SELECT unnest(CASE WHEN i % 3 = 0 THEN '{prod,staging,dev}'::text[]
                                        ELSE '{prod}'::text[] END) AS env) e
WHERE i % 5 IN (0, 1, 2);

-- Shadow services: seen in spans, absent from the catalog.
INSERT INTO apm_services (service, env, span_count, traced, last_traced)
SELECT 'shadow-' || i, 'prod', 50 * i, true, now() FROM generate_series(1, :n / 50) i;

INSERT INTO broken_traces (trace_id, env, root_service, started_at, duration_ns, span_count,
                           services, missing_services, gap_kinds)
SELECT i, 'prod', 'svc-' || lpad((1 + i % :n)::text, 5, '0'),
       now() - ((i % 1440) || ' minutes')::interval, 1000000 * (1 + i % 90), 3 + i % 20,
       ARRAY['svc-' || lpad((1 + i % :n)::text, 5, '0'),
             'svc-' || lpad((1 + (i * 7) % :n)::text, 5, '0')],
       ARRAY['svc-' || lpad((1 + (i * 13) % :n)::text, 5, '0')],
       ARRAY[(ARRAY['uninstrumented_hop','uninstrumented_callee','propagation_break',
                    'missing_root','orphan_span'])[1 + i % 5]]
FROM generate_series(1, :n) i;

INSERT INTO trace_gaps (trace_id, span_id, kind, from_service, to_service, peer)
SELECT trace_id, 1, gap_kinds[1], services[1], missing_services[1], 'peer'
FROM broken_traces;

INSERT INTO coverage_snapshots (taken_at, dimension, key, total, instrumented)
SELECT date_trunc('hour', now()) - (h || ' hours')::interval, 'overall', '', :n, (:n * 3) / 5
FROM generate_series(0, 47) h;

ANALYZE;
"""

# wrk Lua: constant offered rate per thread (RATE / threads), pacing by slot; JSON in done().
WRK_LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } apmcov_timespec;
int clock_gettime(int clk, apmcov_timespec *tp);
]]
local ts = ffi.new("apmcov_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local interval = tonumber(os.getenv("WRK_INTERVAL_MS") or "0")
local next_slot = nil

function delay()
  if interval <= 0 then return 0 end
  local t = now_ms()
  if next_slot == nil or next_slot < t - 1000 then next_slot = t end
  next_slot = next_slot + interval
  local d = next_slot - t
  if d < 0 then return 0 end
  return math.floor(d)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"errors":%d,"status_errors":%d,' ..
    '"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect + e.read + e.write + e.timeout,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
"""


def log(msg: str) -> None:
    print(f"[bench_gateway {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(name: str) -> str:
    path = os.path.join(BINARY_DIR, "services", name, f"apmcov-{name}")
    if not os.access(path, os.X_OK):
        raise SystemExit(f"bench_gateway: {path} not found (build it, or set APMCOV_BINARY_DIR)")
    return path


def wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise SystemExit(f"bench_gateway: timed out after {timeout:.0f}s waiting for {what}")


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as r:
        return r.status == 200


class Run:
    """Everything one benchmark run started; stop() ends it by PID in reverse order."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="apmcov-bench-gateway-")
        os.chmod(self.dir, 0o755)  # PostgreSQL runs as `postgres`, nginx workers as nobody
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.pg_dir = os.path.join(self.dir, "pg")
        self.pg_started = False

    def start(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        logf = open(os.path.join(self.dir, f"{name}.log"), "ab")
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                             start_new_session=True)
        logf.close()
        self.procs.append((name, p))
        log(f"started {name} (pid {p.pid})")
        return p

    def stop(self, keep: bool) -> None:
        for name, p in reversed(self.procs):
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait(10)
        if self.pg_started:
            subprocess.run([PG_LOCAL, "stop"], env={**os.environ, "APMCOV_PG_DIR": self.pg_dir},
                           capture_output=True, timeout=60)
        if keep:
            log(f"logs kept in {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def wrk(url: str, rate: int, seconds: int, script: str) -> dict:
    threads = 1
    env = {**os.environ, "WRK_INTERVAL_MS": str(threads * 1000.0 / rate) if rate > 0 else "0"}
    cmd = ["wrk", f"-t{threads}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s", "-s", script, url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise SystemExit(f"bench_gateway: wrk failed: {out.stderr.strip()}")
    line = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if not line:
        raise SystemExit(f"bench_gateway: no summary from wrk: {out.stdout}")
    d = json.loads(line[-1])
    d["rps"] = d["requests"] / (d["duration_us"] / 1e6)
    return d


def main() -> int:
    for tool in ("wrk", "nginx", "psql"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            raise SystemExit(f"bench_gateway: {tool} not installed (apt-get install wrk nginx)")
    run = Run()
    failed = True
    try:
        # PostgreSQL + schema + seed
        out = subprocess.run([PG_LOCAL, "start"], env={**os.environ, "APMCOV_PG_DIR": run.pg_dir},
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise SystemExit(f"bench_gateway: pg-local.sh start failed: {out.stderr.strip()}")
        run.pg_started = True
        db_url = out.stdout.strip().splitlines()[-1]
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "KAFKA_", "DATABASE_"))}
        base.update({"DATABASE_URL": db_url, "LOG_FORMAT": "json", "LOG_LEVEL": "warn"})
        mig = subprocess.run([binary("analyzer"), "migrate"], env=base, capture_output=True, text=True,
                             timeout=120)
        if mig.returncode != 0:
            raise SystemExit(f"bench_gateway: migrate failed: {mig.stderr.strip()[-1000:]}")
        t0 = time.monotonic()
        seed = subprocess.run(["psql", db_url, "-v", "ON_ERROR_STOP=1", "-q", "-v", f"n={SERVICES}"],
                              input=SEED_SQL, capture_output=True, text=True, timeout=300)
        if seed.returncode != 0:
            raise SystemExit(f"bench_gateway: seeding failed: {seed.stderr.strip()}")
        log(f"seeded {SERVICES} services in {time.monotonic() - t0:.1f}s")

        # kafka-dev + gateway
        boot = os.path.join(run.dir, "kafka.bootstrap")
        run.start("kafka-dev", [binary("kafka-dev"), "--brokers", "1", "--partitions", "1",
                                "--bootstrap-file", boot], base)
        wait_for(lambda: os.path.getsize(boot) > 0, 30, "kafka-dev bootstrap file")
        http, grpc, admin = free_port(), free_port(), free_port()
        genv = {**base, "KAFKA_BROKERS": open(boot).read().strip(), "HTTP_PORT": str(http),
                "GRPC_PORT": str(grpc), "ADMIN_PORT": str(admin), "BIND_ADDRESS": "127.0.0.1",
                "DD_SERVICE": "apmcov-gateway"}
        gw = run.start("gateway", [binary("gateway")], genv)
        wait_for(lambda: gw.poll() is None and http_ok(f"http://127.0.0.1:{admin}/readyz"), 60, "gateway /readyz")

        # nginx serving each measured body as a static file
        www = os.path.join(run.dir, "www")
        os.makedirs(www)
        os.chmod(www, 0o755)
        sizes = {}
        for path in PATHS:
            with urllib.request.urlopen(f"http://127.0.0.1:{http}{path}", timeout=30) as r:
                body = r.read()
            sizes[path] = len(body)
            fn = os.path.join(www, path.strip("/") + ".json")
            os.makedirs(os.path.dirname(fn), mode=0o755, exist_ok=True)
            with open(fn, "wb") as f:
                f.write(body)
            os.chmod(fn, 0o644)
        ngx_port = free_port()
        conf = os.path.join(run.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes auto;
pid {run.dir}/nginx.pid;
error_log {run.dir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {run.dir}/ngx-body;
  proxy_temp_path {run.dir}/ngx-proxy;
  fastcgi_temp_path {run.dir}/ngx-fcgi;
  uwsgi_temp_path {run.dir}/ngx-uwsgi;
  scgi_temp_path {run.dir}/ngx-scgi;
  server {{
    listen 127.0.0.1:{ngx_port};
    root {www};
    default_type application/json;
    location / {{ try_files $uri.json =404; }}
  }}
}}
""")
        run.start("nginx", ["nginx", "-p", run.dir, "-c", conf, "-g", "daemon off;"])
        wait_for(lambda: http_ok(f"http://127.0.0.1:{ngx_port}/api/stats"), 20, "nginx")

        script = os.path.join(run.dir, "pace.lua")
        with open(script, "w") as f:
            f.write(WRK_LUA)
        cores = os.cpu_count()
        for path in PATHS:
            gurl, nurl = f"http://127.0.0.1:{http}{path}", f"http://127.0.0.1:{ngx_port}{path}"
            wrk(gurl, RATE, 2, script)  # warm-up (catalog cache, connections)
            g = wrk(gurl, RATE, SECONDS, script)
            n = wrk(nurl, RATE, SECONDS, script)
            gmax = wrk(gurl, 0, max(3, SECONDS // 2), script)
            nmax = wrk(nurl, 0, max(3, SECONDS // 2), script)
            if g["status_errors"] or g["errors"]:
                log(f"warning: gateway {path}: {g['status_errors']} non-2xx, {g['errors']} socket errors")
            row = {
                "cores": cores,
                "name": f"gateway {path} @{RATE} req/s, {SERVICES} services",
                "offered_rps": RATE,
                "achieved_rps": round(g["rps"], 1),
                "p50_ms": g["p50_us"] / 1000,
                "p99_ms": g["p99_us"] / 1000,
                "p999_ms": g["p999_us"] / 1000,
                "errors": g["errors"] + g["status_errors"],
                "max_rps": round(gmax["rps"], 1),
                "body_bytes": sizes[path],
                "ref_nginx_achieved_rps": round(n["rps"], 1),
                "ref_nginx_p50_ms": n["p50_us"] / 1000,
                "ref_nginx_p99_ms": n["p99_us"] / 1000,
                "ref_nginx_max_rps": round(nmax["rps"], 1),
                "gateway_cache_ms": int(os.environ.get("GATEWAY_CACHE_MS", "1000")),
                "target_p99_ms": 5,
            }
            print(json.dumps(row), flush=True)
        failed = False
    finally:
        run.stop(keep=failed or bool(os.environ.get("BENCH_KEEP")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
