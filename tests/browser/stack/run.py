#!/usr/bin/env python3
"""The dashboard's browser suite against a stack fed by ddsim.

Starts the whole private stack through tests/e2e/stack.py (PostgreSQL, kafka-dev, ddsim, the
analyzer, the collector and the gateway, on free ports), runs a first sync and waits for it to
succeed and for the analyzer to catch up (the e2e suite's `settle`), then runs
`node --test stack.test.mjs` (Debian's Chromium driven by playwright-core) against it and
returns node's exit code. The stack is stopped by PID afterwards, also on failure (its logs are
printed then).

What the browser test gets, in its environment:
  STACK_GATEWAY_URL, STACK_DDSIM_URL     base URLs (127.0.0.1, free ports)
  STACK_API_TOKEN                        the gateway's GATEWAY_API_TOKEN (never printed)
  STACK_TRUTH_FROM_MS, STACK_TRUTH_TO_MS the window the first sync covered: ddsim's traffic
                                         start T0 to C = sync start - SPAN_LAG_SECONDS
  STACK_JUDGED_TO_MS                     T_cut = C - TRACE_GRACE_SECONDS - 60 s: broken traces
                                         starting in [T0, T_cut) must all be listed
  SCREENSHOT_DIR                         where stack-*.png go

Environment in: APMCOV_SOURCE_DIR, APMCOV_BINARY_DIR (the build dir with services/*/apmcov-*),
NODE (node binary, default `node` on PATH), SCREENSHOT_DIR (default <binary dir>/tests/browser/
screenshots). Exits 1 with a message naming what is missing when a binary, the built dashboard,
node, playwright-core or /usr/bin/chromium is absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.setdefault("APMCOV_SOURCE_DIR", os.path.abspath(os.path.join(HERE, "..", "..", "..")))
BINARY_DIR = os.environ.setdefault("APMCOV_BINARY_DIR", os.path.join(SOURCE_DIR, "build"))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "e2e"))

from stack import NS, Stack, StackOptions, log, parse_rfc3339  # noqa: E402

SERVICES = ("kafka-dev", "ddsim", "analyzer", "collector", "gateway")
CHROMIUM = "/usr/bin/chromium"
MARGIN_S = 60  # as tests/e2e/compare.py: traces run well under a minute


def missing_prerequisites(node: str | None, web_dir: str) -> list[str]:
    missing = []
    for name in SERVICES:
        override = os.environ.get(f"APMCOV_{name.upper().replace('-', '_')}_BIN")
        path = override or os.path.join(BINARY_DIR, "services", name, f"apmcov-{name}")
        if not os.access(path, os.X_OK):
            missing.append(f"binary apmcov-{name} not found at {path} "
                           f"(ninja -C {BINARY_DIR} apmcov-{name})")
    if not os.path.isfile(os.path.join(web_dir, "index.html")):
        missing.append(f"built dashboard not found at {web_dir}/index.html (ninja -C {BINARY_DIR} gateway_web)")
    if not node:
        missing.append("node not found (apt-get install nodejs)")
    if not os.path.isdir(os.path.join(SOURCE_DIR, "node_modules", "playwright-core")):
        missing.append(f"playwright-core not found in {SOURCE_DIR}/node_modules (npm ci at the repo top)")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} not found (apt-get install chromium)")
    return missing


def main() -> int:
    node = os.environ.get("NODE") or shutil.which("node")
    web_dir = os.path.join(BINARY_DIR, "services", "gateway", "web")
    shots = os.environ.get("SCREENSHOT_DIR") or os.path.join(BINARY_DIR, "tests", "browser", "screenshots")
    missing = missing_prerequisites(node, web_dir)
    if missing:
        for m in missing:
            print(f"stack browser test cannot run: {m}", file=sys.stderr)
        return 1

    # Small and quick: tens of services, a few minutes of backfilled traffic.
    opts = StackOptions(seed=42, services=40, spans_per_second=60, backfill_minutes=4,
                        gateway_env={"WEB_DIR": web_dir, "LOG_LEVEL": "warn"})
    started = time.monotonic()
    with Stack(opts, label="browser") as stack:
        job = stack.wait_job(stack.trigger_sync(), timeout=180)
        stack.settle(timeout=120)
        covered = parse_rfc3339(job["started_at"]) - opts.span_lag_seconds * NS
        judged = covered - (opts.trace_grace_seconds + MARGIN_S) * NS
        log(f"first sync {job['id']} done, stack settled after {time.monotonic() - started:.0f} s; "
            f"running the browser test")
        env = {
            **os.environ,
            "STACK_GATEWAY_URL": stack.gateway_url,
            "STACK_DDSIM_URL": stack.ddsim_url,
            "STACK_API_TOKEN": stack.api_token,
            "STACK_TRUTH_FROM_MS": str(stack.traffic_start_ns // 1_000_000),
            "STACK_TRUTH_TO_MS": str(covered // 1_000_000),
            "STACK_JUDGED_TO_MS": str(judged // 1_000_000),
            "SCREENSHOT_DIR": shots,
        }
        r = subprocess.run([node, "--test", "--test-concurrency=1", os.path.join(HERE, "stack.test.mjs")],
                           env=env, cwd=HERE, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            stack.failed = True  # keep and print the stack's logs
            log(f"browser test FAILED (node exit {r.returncode})")
        else:
            log(f"browser test passed ({time.monotonic() - started:.0f} s); screenshots in {shots}")
        return r.returncode


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # the stack already stopped and printed its logs
        log(f"stack browser test FAILED: {type(e).__name__}: {e}")
        sys.exit(1)
