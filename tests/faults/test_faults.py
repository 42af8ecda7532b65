#!/usr/bin/env python3
"""Fault suite: faults injected into a running private stack, then the same equality
with ddsim's ground truth as the e2e suite. Each fault prints what it injected and what it
counted; the run ends with `lost 0, duplicated 0` or fails.

Faults: Datadog 429 burst, 5xx, slow, malformed and truncated responses and a dropped connection
(ddsim /_ddsim/faults); the analyzer SIGKILLed mid-stream and restarted; the leading
collector (of two) SIGKILLed mid-sync, the standby taking over; PostgreSQL stopped mid-stream then started; a kafka-dev broker down and
back; a poison message in the spans topic (must land in the DLQ while the rest goes on).

    test_faults.py smoke      all faults in sequence on one stack, short durations (label e2e)
    test_faults.py long [FAULT...]  one stack per fault (all, or those named), full durations
                                    (APMCOV_LONG_FAULTS=1, else exit 77)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

from compare import Report, compare, print_report  # noqa: E402
from stack import Stack, StackError, StackOptions, log, parse_rfc3339  # noqa: E402

SKIP = 77


class Faults:
    def __init__(self, stack: Stack, long: bool):
        self.s = stack
        self.long = long
        self.table: list[tuple[str, str, str]] = []  # fault, injected, counted

    # ---------------------------------------------------------------- helpers

    def ddsim_status_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for ep, v in self.s.ddsim_stats().get("requests", {}).items():
            if ep == "_ddsim":
                continue
            for st, n in v.get("by_status", {}).items():
                out[st] = out.get(st, 0) + int(n)
        return out

    def slow_sync_start(self, slow_ms: int, n: int) -> str:
        """Triggers a sync whose first `n` Datadog calls each take `slow_ms`, and waits until it
        is seen running. Every endpoint is slowed, not only span pages: a sync after a sync may
        read a single page, and the job row shows `running` only once the analyzer has written
        it (a just-restarted analyzer first rejoins its group), so the sync must outlast both."""
        self.s.set_faults({"slow_requests": n, "slow_ms": slow_ms})
        job = self.s.trigger_sync()
        seen: dict[str, str] = {}

        def running() -> bool:
            state = next((j.get("state", "") for j in self.s.jobs() if j.get("id") == job), "")
            if state not in ("", "queued", "running"):
                seen["state"] = state
                return True
            return state == "running"

        self.s.wait_for(running, 60, f"sync {job} running")
        if seen:
            raise StackError(f"sync {job} ended {seen['state']} before the fault could land in it: "
                             f"slow more of its calls ({n} x {slow_ms} ms were not enough)")
        return job

    def sync(self, timeout: float = 300, accept=("succeeded",)) -> dict:
        job = self.s.trigger_sync()
        return self.s.wait_job(job, timeout, accept=accept)

    def dlq_count(self) -> int:
        kcat = shutil.which("kcat") or shutil.which("kafkacat")
        r = subprocess.run([kcat, "-b", self.s.brokers, "-C", "-t", "apmcov.dlq", "-o", "beginning", "-e",
                            "-q", "-f", "%o\n"], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise StackError(f"kcat -C apmcov.dlq: {r.stderr}")
        return len([line for line in r.stdout.splitlines() if line.strip()])

    # ---------------------------------------------------------------- faults

    def datadog_errors(self) -> None:
        # Dropped + 5xx + 429 (+ truncated) hit one request in a row: their sum stays under the
        # collector's retry budget (DD_MAX_RETRIES 8 here: 9 attempts); past it a sync ends
        # `partial` by design.
        n429, n5xx, nslow, nbad, ntrunc, ndrop = (2, 4, 6, 4, 4, 1) if self.long else (1, 4, 2, 2, 2, 1)
        before = self.ddsim_status_counts()
        plan = {"rate_limit_burst": n429, "server_errors": n5xx, "server_error_status": 503,
                "slow_requests": nslow, "slow_ms": 3000, "malformed": nbad, "truncated": ntrunc, "drop": ndrop}
        self.s.set_faults(plan)
        job = self.sync(timeout=600)
        after = self.ddsim_status_counts()
        diff = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
        self.table.append(("Datadog errors",
                           f"429 x{n429}, 503 x{n5xx}, slow(3 s) x{nslow}, malformed x{nbad}, truncated x{ntrunc}, "
                           f"dropped x{ndrop}",
                           f"ddsim answered by status {diff}; sync {job['state']} after {job.get('api_calls')} calls"))
        if diff.get("429", 0) < n429 or diff.get("503", 0) < n5xx:
            raise StackError(f"the injected errors were not all served: {diff}")

    def poison(self) -> None:
        kcat = shutil.which("kcat") or shutil.which("kafkacat")
        if not kcat:
            raise StackError("kcat not installed")
        before = self.dlq_count()
        payload = b"\xff\xfe this is not a protobuf SpanBatch \x00\x01\x02" * 3
        r = subprocess.run([kcat, "-b", self.s.brokers, "-t", "apmcov.spans", "-P", "-k", "4242",
                            "-H", "type=apmcov.v1.SpanBatch", "-H", "content-type=application/x-protobuf"],
                           input=payload, capture_output=True, timeout=60)
        if r.returncode != 0:
            raise StackError(f"kcat -P: {r.stderr!r}")
        self.s.wait_for(lambda: self.dlq_count() > before, 60, "the poison message in apmcov.dlq")
        after = self.dlq_count()
        self.sync()  # the rest goes on
        self.s.check_alive()
        self.table.append(("poison message", "1 undecodable message into apmcov.spans (kcat)",
                           f"apmcov.dlq grew {before} -> {after}; analyzer alive, next sync succeeded"))

    def kill_analyzer(self) -> None:
        job = self.slow_sync_start(1500 if not self.long else 3000, 6)
        time.sleep(1.0)
        pid = self.s.procs["analyzer"].pid
        self.s.procs["analyzer"].kill9()
        log(f"SIGKILL analyzer (pid {pid}) during sync {job}")
        time.sleep(2 if not self.long else 10)
        self.s.restart("analyzer")
        self.s.wait_job(job, 600)
        self.table.append(("analyzer SIGKILL", f"SIGKILL pid {pid} mid-stream, restart after "
                           f"{2 if not self.long else 10} s", "sync finished; see equality below"))

    def leader(self) -> str:
        """The collector that leads (apmcov_collector_leader 1)."""
        leading = [n for n in self.s.live("collector")
                   if self.s.metric_sum(self.s.metrics(n), "apmcov_collector_leader") == 1]
        if len(leading) != 1:
            raise StackError(f"expected one leading collector, found {leading}")
        return leading[0]

    def election_settled(self) -> bool:
        """One collector leads and every other one is an assigned standby."""
        live = self.s.live("collector")
        roles = []
        for n in live:
            text = self.s.metrics(n)  # one scrape per collector, both gauges from it
            roles.append((self.s.metric_sum(text, "apmcov_collector_leader"),
                          self.s.metric_sum(text, "apmcov_collector_standby")))
        return sorted(roles) == sorted([(1, 0)] + [(0, 1)] * (len(live) - 1))

    def kill_collector(self) -> None:
        """SIGKILLs the leading collector mid-sync: the standby takes over from the checkpoint
        and serves the next sync; the killed one comes back, and once the group has settled
        (either may lead then) a sync runs again."""
        job = self.slow_sync_start(1500 if not self.long else 3000, 6)
        time.sleep(1.0)
        name = self.leader()
        pid = self.s.procs[name].pid
        self.s.procs[name].kill9()
        del self.s.procs[name]  # dead on purpose
        log(f"SIGKILL leading {name} (pid {pid}) during sync {job}")
        self.s.set_faults({})
        standby = self.s.live("collector")
        if standby:
            self.s.wait_for(lambda: self.leader() == standby[0], 90, f"{standby[0]} to lead")
            log(f"{standby[0]} leads")
            j = self.sync(timeout=600)
            self.s.start_collector(name)  # back
            self.s.wait_ready(name, 90)
            # Its join rebalances the election group, and either member may come out leading
            # (partition 0 goes where the assignor puts it). Until both are assigned a request
            # may be read twice (offsets cannot be committed mid-rebalance) and coalesced with
            # the next, so the faults after this one would not get a sync of their own.
            self.s.wait_for(self.election_settled, 120, "the election group to settle")
            log(f"{self.leader()} leads, {name} back")
            j2 = self.sync(timeout=600)
            counted = (f"{standby[0]} led within the session timeout; next sync {j['id']} {j['state']} "
                       f"({j.get('spans')} spans), {name} back and the group settled, then {j2['state']}")
        else:
            self.s.start_collector(name)
            self.s.wait_ready(name, 90)
            j = self.sync(timeout=600)
            counted = f"restarted; next sync {j['id']} {j['state']}, {j.get('spans')} spans"
        self.table.append(("collector SIGKILL", f"SIGKILL leading pid {pid} mid-sync ({job})", counted))

    def pg_outage(self) -> None:
        secs = 20 if self.long else 8
        job = self.slow_sync_start(1000, 4)
        self.s.pg_stop()
        log(f"PostgreSQL stopped for {secs} s")
        time.sleep(secs)
        self.s.pg_start()
        log("PostgreSQL started")
        j = self.s.wait_job(job, 600, accept=("succeeded", "partial"))
        self.s.check_alive()
        self.table.append(("PostgreSQL outage", f"stopped {secs} s mid-stream", f"sync {j['state']}, services alive"))

    def broker_down(self) -> None:
        secs = 30 if self.long else 10
        job = self.slow_sync_start(1000, 4)
        self.s.kafka_control_cmd("broker-down 2")
        log(f"kafka-dev broker 2 down for {secs} s")
        time.sleep(secs)
        self.s.kafka_control_cmd("broker-up 2")
        log("kafka-dev broker 2 up")
        j = self.s.wait_job(job, 600, accept=("succeeded", "partial"))
        self.s.check_alive()
        self.table.append(("Kafka broker down", f"broker 2 down {secs} s mid-sync", f"sync {j['state']}"))

    # ---------------------------------------------------------------- end state

    def final_check(self, title: str) -> bool:
        self.s.set_faults({})
        job = self.sync(timeout=600)
        self.s.settle(timeout=300)
        rep: Report = compare(self.s, parse_rfc3339(job["started_at"]))
        print("\nfault table:")
        print(f"  {'fault':22s} | {'injected':60s} | counted")
        for f, inj, cnt in self.table:
            print(f"  {f:22s} | {inj:60s} | {cnt}")
        am = self.s.metrics("analyzer")
        counted = {m: self.s.metric_sum(am, m) for m in (
            "apmcov_analyzer_data_loss_total", "apmcov_dlq_messages_total", "apmcov_analyzer_traces_dropped_total")}
        print(f"  analyzer metrics since its last start: {counted}")
        if counted["apmcov_analyzer_data_loss_total"] > 0:
            rep.failures.append(f"the analyzer counted data loss: {counted}")
        c = rep.counts.get("REST", {})
        lost = c.get("lost_traces", -1) + c.get("lost_spans", 0)
        dup = c.get("duplicated_trace_rows", -1) + c.get("duplicated_spans", 0)
        print(f"  => lost {lost} (traces {c.get('lost_traces')}, spans {c.get('lost_spans')}), duplicated {dup} "
              f"(trace rows {c.get('duplicated_trace_rows')}, spans {c.get('duplicated_spans')})")
        print_report(title, rep)
        if rep.failures:
            self.s.failed = True
        return not rep.failures


FAULTS = ["datadog_errors", "poison", "kill_analyzer", "kill_collector", "pg_outage", "broker_down"]


def run_smoke() -> bool:
    opts = StackOptions(seed=11, services=40, spans_per_second=150, backfill_minutes=4, collectors=2)
    with Stack(opts, label="faults-smoke") as s:
        f = Faults(s, long=False)
        first = f.sync()
        log(f"first sync {first['id']} done")
        for name in FAULTS:
            log(f"--- fault: {name}")
            getattr(f, name)()
        return f.final_check("faults smoke: every fault in sequence")


def run_long(only: list[str]) -> bool:
    ok = True
    for i, name in enumerate(FAULTS):
        if only and name not in only:
            continue
        # 300 services at 400 spans/s read more span pages than Datadog's 300 spans-list calls per
        # hour once a restart replays from the checkpoint: ddsim's limit is lifted (faults here are
        # the injected ones, not the budget).
        opts = StackOptions(seed=100 + i, services=300, spans_per_second=400, backfill_minutes=6, collectors=2,
                            ddsim_env={"RATE_LIMITS": "spans_list=1000000/3600"})
        try:
            with Stack(opts, label=f"faults-{name}") as s:
                f = Faults(s, long=True)
                f.sync()
                log(f"--- fault: {name}")
                getattr(f, name)()
                ok = f.final_check(f"faults long: {name}") and ok
        except Exception as e:
            log(f"fault {name} FAILED: {type(e).__name__}: {e}")
            ok = False
    return ok


def main(argv: list[str]) -> int:
    mode = argv[1] if len(argv) > 1 else "smoke"
    if mode == "smoke":
        try:
            return 0 if run_smoke() else 1
        except Exception as e:
            log(f"faults smoke FAILED: {type(e).__name__}: {e}")
            return 1
    if mode == "long":
        if os.environ.get("APMCOV_LONG_FAULTS") != "1":
            log("long fault runs skipped (set APMCOV_LONG_FAULTS=1)")
            return SKIP
        return 0 if run_long(argv[2:]) else 1
    print("usage: test_faults.py smoke|long", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
