#!/usr/bin/env python3
"""The stack watches itself (design §12): started as scripts/up.sh starts it in embedded mode,
with tracing on and ddsim as the Datadog Agent, two requested syncs later the tracker's own
report lists apmcov-collector, apmcov-analyzer and apmcov-gateway as instrumented, and none of
the tracker's own traces is broken.

A broken trace of the tracker is a propagation bug of ours (a hop that lost the context, a
span whose parent never arrived): the test prints each one, with its gaps, and fails.

The traces of a sync are read by the next sync (SPAN_LAG_SECONDS after they end) and judged
once final (TRACE_GRACE_SECONDS later), so after the two syncs the test waits that long and
asks for one more, which reads and finalises the traces of both. It then requires that traces
crossing the services were judged: the dependencies the analyzer records from judged traces
include apmcov-collector → datadog-api (the sync's Datadog calls) and apmcov-analyzer's
PostgreSQL transactions.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from compare import rest_pages  # noqa: E402
from stack import Stack, StackOptions, log, rfc3339  # noqa: E402

OURS = ("apmcov-collector", "apmcov-analyzer", "apmcov-gateway")


def judged_roots(stack: Stack) -> dict[str, tuple[int, int]]:
    sample = stack.get_json("/api/stats").get("sample") or {}
    return {b["key"]: (int(b["judged"]), int(b["broken"]))
            for b in sample.get("by_root_service", []) if b.get("key") in OURS}


def main() -> int:
    opts = StackOptions(services=30, spans_per_second=30, backfill_minutes=3,
                        span_lag_seconds=10, trace_grace_seconds=15)
    stack = Stack(opts, "self-report")
    # As scripts/up.sh does in embedded mode: tracing on, ddsim is the Agent.
    for env in (opts.collector_env, opts.analyzer_env, opts.gateway_env):
        env.update({"DD_TRACE_ENABLED": "true", "DD_TRACE_AGENT_URL": stack.ddsim_url})
    failures: list[str] = []
    with stack:
        stack.wait_job("", timeout=300)
        stack.settle(timeout=240)
        for n in (1, 2):
            stack.wait_job(stack.trigger_sync(), timeout=300)
            stack.settle(timeout=240)
            log(f"sync {n} of 2 done")
            time.sleep(opts.span_lag_seconds + 3)
        # The two syncs' traces are final once the watermark passes their end by the grace.
        time.sleep(opts.trace_grace_seconds + 5)
        stack.wait_job(stack.trigger_sync(), timeout=300)
        stack.settle(timeout=240)
        log("the judging sync is done")
        roots = judged_roots(stack)
        log(f"judged traces by root service (judged, broken): {roots}")
        agent = stack.ddsim_stats().get("agent", {})
        log(f"ddsim as an Agent: {agent}")

        services = {s["name"]: s for s in rest_pages(stack, "/api/services", "services",
                                                      {"page_size": "1000"})}
        for name in OURS:
            s = services.get(name)
            if s is None:
                failures.append(f"{name} is not in the report's service list")
            elif not s.get("instrumented"):
                failures.append(f"{name} is listed but not instrumented: {s}")
            else:
                log(f"ok    {name} listed, instrumented (team {s.get('team')})")
        for name in ("apmcov-gateway", "apmcov-collector"):
            if roots.get(name, (0, 0))[0] == 0:
                failures.append(f"no trace rooted in {name} was judged: nothing was proven")
        deps = [d for d in rest_pages(stack, "/api/dependencies", "dependencies",
                                      {"page_size": "1000"}) if d.get("from_service") in OURS]
        for d in deps:
            log(f"dependency of the tracker: {d['from_service']} -> {d['to_name']} "
                f"({d.get('kind')}, {d.get('count')})")
        pairs = {(d["from_service"], d["to_name"]) for d in deps}
        if ("apmcov-collector", "datadog-api") not in pairs:
            failures.append("no judged trace holds the collector's Datadog calls "
                            "(no apmcov-collector -> datadog-api dependency)")
        if not any(f == "apmcov-analyzer" for f, _ in pairs):
            failures.append("no judged trace holds the analyzer's PostgreSQL transactions")

        since = rfc3339(stack.traffic_start_ns)
        broken = [t for t in rest_pages(stack, "/api/traces", "traces",
                                        {"since": since, "page_size": "1000"})
                  if set(t.get("services") or []) & set(OURS) or t.get("root_service") in OURS]
        for t in broken:
            detail = stack.get_json(f"/api/traces/{t['trace_id']}")
            print(f"BROKEN trace of the tracker {t['trace_id']} (root {t.get('root_service')}, "
                  f"gaps {t.get('gap_kinds')}, services {t.get('services')}):", flush=True)
            for g in detail.get("gaps", []):
                print(f"    gap {g}", flush=True)
            for s in detail.get("spans", [])[:40]:
                print(f"    span {s}", flush=True)
        if broken:
            failures.append(f"{len(broken)} of the tracker's own traces are broken "
                            "(a propagation bug: printed above)")
        for name, (judged, bad) in roots.items():
            if bad:
                failures.append(f"{bad} of {judged} judged traces rooted in {name} are broken")
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures), flush=True)
        return 1
    print(f"\nthe tracker reports itself: {', '.join(OURS)} instrumented; "
          f"judged traces by root {roots}, none broken", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
