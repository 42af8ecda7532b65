#!/usr/bin/python3
"""Analyzer replicas through rebalances: three analyzers in one consumer group share a spans
topic of 6 partitions; mid-sync one is SIGKILLed and a fourth joins. After that sync and a
second one, everything the gateway reports must equal ddsim's ground truth exactly (coverage,
broken traces, gap kinds, missing services; precision and recall 1.0), with no trace listed
twice, no span counted twice and no data loss counted by any replica.

    test_replicas.py
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from compare import compare, print_report  # noqa: E402
from stack import Stack, StackError, StackOptions, log, parse_rfc3339  # noqa: E402

PARTITIONS = 6
LAG_LINE = re.compile(r'^apmcov_analyzer_consumer_lag_messages\{[^}]*partition="(\d+)"[^}]*topic="apmcov\.spans"'
                      r'|^apmcov_analyzer_consumer_lag_messages\{[^}]*topic="apmcov\.spans"[^}]*partition="(\d+)"')


def owned_partitions(stack: Stack, name: str) -> set[int]:
    """The spans partitions a replica owns: it exports a lag gauge for each, and only for those."""
    out = set()
    for line in stack.metrics(name).splitlines():
        m = LAG_LINE.match(line)
        if m:
            out.add(int(m.group(1) or m.group(2)))
    return out


def wait_balanced(stack: Stack, timeout: float) -> dict[str, set[int]]:
    """Waits until the live replicas own every spans partition exactly once, each at least one."""
    state: dict[str, set[int]] = {}

    def balanced() -> bool:
        nonlocal state
        state = {n: owned_partitions(stack, n) for n in stack.live("analyzer")}
        owned = [p for ps in state.values() for p in ps]
        return sorted(owned) == list(range(PARTITIONS)) and all(state.values())

    stack.wait_for(balanced, timeout, "the analyzer group to own every spans partition once", interval=1.0)
    log("spans partitions by replica: " + ", ".join(f"{n} {sorted(p)}" for n, p in sorted(state.items())))
    return state


def main() -> int:
    # The collector's first sync starts with the stack: its span pages are slowed so that it is
    # still streaming when a replica dies and another joins.
    slow = {"slow_requests": 30, "slow_ms": 700, "endpoint": "spans_list"}
    opts = StackOptions(seed=5, services=60, spans_per_second=150, backfill_minutes=5,
                        partitions=PARTITIONS, analyzers=3, ddsim_env={"FAULTS": json.dumps(slow)})
    started = time.monotonic()
    with Stack(opts, label="e2e-replicas") as stack:
        wait_balanced(stack, 120)
        stack.wait_for(lambda: sum(stack.metric_sum(stack.metrics(n), "apmcov_analyzer_spans_processed_total")
                                   for n in stack.live("analyzer")) > 0, 120, "spans reaching the analyzers")
        job = stack.jobs()[0]
        if job.get("state") != "running":
            raise StackError(f"the first sync is not streaming any more: {job}")
        job = job["id"]
        victim = stack.procs["analyzer-2"]
        pid = victim.pid
        victim.kill9()
        del stack.procs["analyzer-2"]  # dead on purpose: not an unexpected exit
        log(f"SIGKILL analyzer-2 (pid {pid}) mid-sync {job}")
        stack.start_analyzer("analyzer-4")
        stack.wait_ready("analyzer-4", 90)
        log("analyzer-4 joined")
        stack.wait_job(job, 600)
        after = wait_balanced(stack, 120)
        if "analyzer-4" not in after:
            raise StackError("the new replica owns no spans partition")

        # The second time: a sync on the rebalanced group.
        stack.set_faults({})
        second = stack.wait_job(stack.trigger_sync(), 600)
        stack.settle(timeout=300)

        rep = compare(stack, parse_rfc3339(second["started_at"]))
        counted = {}
        for name in stack.live("analyzer"):
            text = stack.metrics(name)
            counted[name] = {m: stack.metric_sum(text, m) for m in (
                "apmcov_analyzer_data_loss_total", "apmcov_analyzer_spans_processed_total")}
        log(f"replica metrics: {counted}")
        loss = sum(c["apmcov_analyzer_data_loss_total"] for c in counted.values())
        rep.check(loss == 0, f"data loss counted by the replicas: {loss}")
        c = rep.counts.get("REST", {})
        dup = c.get("duplicated_trace_rows", -1) + c.get("duplicated_spans", 0)
        lost = c.get("lost_traces", -1) + c.get("lost_spans", 0)
        rep.check(dup == 0, f"duplicated rows or spans: {dup}")
        print(f"  => lost {lost}, duplicated {dup}, data loss {loss:.0f}")
        print_report(f"e2e replicas: 3 analyzers, one SIGKILLed and a 4th joining mid-sync, "
                     f"{PARTITIONS} partitions ({time.monotonic() - started:.0f} s)", rep)
        if rep.failures:
            stack.failed = True
        return 0 if not rep.failures else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # the stack already printed its logs
        log(f"e2e replicas FAILED: {type(e).__name__}: {e}")
        sys.exit(1)
