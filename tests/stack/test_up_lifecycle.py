#!/usr/bin/env python3
"""The README's first command, as a user runs it: scripts/up.sh starts the whole stack on
embedded defaults (private PostgreSQL, kafka-dev, ddsim, analyzer, collector, gateway), prints
the URLs, refuses a second `up` while one runs, reports `status`, serves the dashboard and
the API with coverage and broken traces, and `up.sh down` stops everything it started, leaving
no process behind.

Runs on private ports and a private state directory, with the ctest build directory (no
rebuild). Exit 0 on success, 1 with a message on the first failed check.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.environ.get("APMCOV_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.environ.get("APMCOV_BINARY_DIR") or os.path.join(ROOT, "build")
UP = os.path.join(ROOT, "scripts", "up.sh")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0): check its state.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def fail(msg, state):
    print(f"FAIL: {msg}", flush=True)
    logs = os.path.join(state, "logs")
    if os.path.isdir(logs):
        for name in sorted(os.listdir(logs)):
            with open(os.path.join(logs, name), errors="replace") as f:
                tail = f.read()[-3000:]
            print(f"--- {name} (tail) ---\n{tail}")
    return 1


def main():
    state = tempfile.mkdtemp(prefix="apmcov-up-")
    os.chmod(state, 0o755)  # PostgreSQL runs as the postgres user under it
    ports = {k: free_port() for k in ("HTTP_PORT", "GRPC_PORT", "DDSIM_PORT", "COLLECTOR_ADMIN_PORT",
                                      "ANALYZER_ADMIN_PORT", "GATEWAY_ADMIN_PORT",
                                      "DDSIM_ADMIN_PORT")}
    env = dict(os.environ, APMCOV_STATE_DIR=state, BUILD_DIR=BUILD, DDSIM_SERVICES="60",
               DDSIM_SPANS_PER_SECOND="30", DDSIM_BACKFILL_MINUTES="6", APMCOV_SKIP_NPM="1",
               **{k: str(v) for k, v in ports.items()})
    for k in ("DD_API_KEY", "DD_APP_KEY", "DD_API_BASE_URL", "DATABASE_URL", "KAFKA_BROKERS"):
        env.pop(k, None)
    out_path = os.path.join(state, "up.out")
    start = time.monotonic()
    with open(out_path, "w") as out:
        up = subprocess.Popen(["bash", UP], env=env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    pids = {}
    try:
        # 1. up prints the URLs once everything is ready.
        deadline = time.monotonic() + 240
        text = ""
        while time.monotonic() < deadline:
            text = open(out_path, errors="replace").read()
            if "APM Coverage Tracker is running." in text or up.poll() is not None:
                break
            time.sleep(0.5)
        if "APM Coverage Tracker is running." not in text:
            return fail(f"up.sh did not report a running stack (exit {up.poll()}):\n{text}", state)
        ready_s = time.monotonic() - start
        dashboard = f"http://127.0.0.1:{ports['HTTP_PORT']}/"
        if f"Dashboard   {dashboard}" not in text:
            return fail(f"dashboard URL {dashboard} not printed:\n{text}", state)
        print(f"stack ready in {ready_s:.1f} s; up.sh printed the dashboard URL", flush=True)

        for name in ("kafka-dev", "ddsim", "analyzer", "collector", "gateway"):
            with open(os.path.join(state, f"{name}.pid")) as f:
                pids[name] = int(f.read().strip())
        pg_pid_file = os.path.join(state, "pg", "data", "postmaster.pid")
        with open(pg_pid_file) as f:
            pids["postgres"] = int(f.readline().strip())
        for name, pid in pids.items():
            if not alive(pid):
                return fail(f"{name} (pid {pid}) is not running", state)

        # 2. A second up while one runs says so and changes nothing.
        second = subprocess.run(["bash", UP], env=env, capture_output=True, text=True, timeout=60)
        if second.returncode == 0 or "already running" not in second.stderr:
            return fail(f"second up.sh did not refuse: rc={second.returncode} "
                        f"stderr={second.stderr!r}", state)
        status = subprocess.run(["bash", UP, "status"], env=env, capture_output=True, text=True,
                                timeout=30)
        for name in pids:
            if name != "postgres" and f"{name}: running" not in status.stdout:
                return fail(f"status does not show {name} running:\n{status.stdout}", state)
        print("second up refused; status lists every service running", flush=True)

        # 3. The dashboard and the API answer with coverage and broken traces (first sync).
        code, body = get(dashboard)
        if code != 200 or b"<html" not in body.lower():
            return fail(f"dashboard answered {code}", state)
        stats = {}
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            _, body = get(f"{dashboard}api/stats")
            stats = json.loads(body)
            if stats.get("total_services", 0) > 0 and stats.get("broken_traces", 0) > 0:
                break
            time.sleep(2)
        if not (stats.get("total_services", 0) > 0 and stats.get("broken_traces", 0) > 0):
            return fail(f"no coverage or no broken traces on the API: {stats}", state)
        shown_s = time.monotonic() - start
        print(f"coverage {stats['coverage_pct']}% of {stats['total_services']} services and "
              f"{stats['broken_traces']} broken traces on the API {shown_s:.1f} s after up",
              flush=True)

        # 4. Every service's /metrics passes promtool's checks (names, units, _total counters).
        for name, key in (("collector", "COLLECTOR_ADMIN_PORT"), ("analyzer", "ANALYZER_ADMIN_PORT"),
                          ("gateway", "GATEWAY_ADMIN_PORT"), ("ddsim", "DDSIM_ADMIN_PORT")):
            _, metrics = get(f"http://127.0.0.1:{ports[key]}/metrics")
            if b"apmcov_" not in metrics:
                return fail(f"{name} /metrics has no apmcov_ metric", state)
            check = subprocess.run(["promtool", "check", "metrics"], input=metrics,
                                   capture_output=True, timeout=30)
            problems = (check.stdout + check.stderr).decode(errors="replace").strip()
            if check.returncode != 0 or problems:
                return fail(f"promtool check metrics on {name}: {problems}", state)
        print("promtool check metrics: no problem on collector, analyzer, gateway, ddsim",
              flush=True)

        # 5. down stops everything it started, by PID.
        down = subprocess.run(["bash", UP, "down"], env=env, capture_output=True, text=True,
                              timeout=120)
        if down.returncode != 0:
            return fail(f"up.sh down failed: {down.stdout}{down.stderr}", state)
        try:
            up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            return fail("the foreground up.sh did not exit after down", state)
        deadline = time.monotonic() + 30
        left = {}
        while time.monotonic() < deadline:
            left = {n: p for n, p in pids.items() if alive(p)}
            if not left:
                break
            time.sleep(0.5)
        if left:
            return fail(f"still running after down: {left}", state)
        leftovers = [f for f in os.listdir(state) if f.endswith(".pid")]
        if leftovers:
            return fail(f"pidfiles left behind: {leftovers}", state)
        print("down stopped all 6 processes (kafka-dev, ddsim, analyzer, collector, gateway, "
              "PostgreSQL); no pidfile left", flush=True)
        return 0
    finally:
        if up.poll() is None:
            subprocess.run(["bash", UP, "down"], env=env, capture_output=True, timeout=120)
            try:
                os.killpg(up.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if os.environ.get("APMCOV_KEEP_STATE") is None:
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
