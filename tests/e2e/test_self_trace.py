#!/usr/bin/env python3
"""The tracker traces itself (design §12), across every hop, into a fake Agent.

A private stack (stack.py: PostgreSQL, kafka-dev, ddsim as the Datadog API, analyzer,
collector, gateway) whose three services send their traces to a fake Agent on a free loopback
port (fake_agent.py: a real HTTP server decoding msgpack). After the start-up sync is over,
ONE REST request `POST /api/sync` arrives with a W3C `traceparent` (a caller's trace), and the
test asserts that the spans the Agent received for that trace form one tree:

  caller (traceparent) → gateway http.request (server) → kafka.produce apmcov.commands
    → collector.sync (consumer, the job the request named)
        → http.request to ddsim (client, peer.service datadog-api, http.url without a query)
        → kafka.produce apmcov.spans (producer) → analyzer kafka.consume (consumer)
                                                     → postgresql.transaction (db.system)
        → kafka.produce of the catalog, apm-inventory, sync-jobs and collector-state (producer)

with no span whose parent is missing, unified service tags on every span, the 128-bit id on
each chunk root, no Datadog key in any span, and log lines of the sync carrying its ids.
A gRPC call with Datadog-style metadata must likewise give a `grpc.server` span under the
caller's span, with the gateway's PostgreSQL reads as client spans under it.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fake_agent import FakeAgent  # noqa: E402
from stack import Stack, StackError, StackOptions, log  # noqa: E402

ENV = "self-trace"
VERSION = "9.9.9-test"


def tracing_env(url: str) -> dict[str, str]:
    return {"DD_TRACE_ENABLED": "true", "DD_TRACE_AGENT_URL": url, "DD_ENV": ENV,
            "DD_VERSION": VERSION}


class Failures:
    def __init__(self):
        self.items: list[str] = []

    def check(self, ok: bool, what: str) -> bool:
        log(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            self.items.append(what)
        return ok


def describe(s: dict) -> str:
    meta = s.get("meta") or {}
    return (f"{s['service']} {s['name']} [{s['resource']}] span {s['span_id']} "
            f"parent {s['parent_id']} kind {meta.get('span.kind')}")


def main() -> int:
    f = Failures()
    with FakeAgent() as agent:
        env = tracing_env(agent.url)
        opts = StackOptions(services=20, spans_per_second=30, backfill_minutes=2,
                            collector_env=dict(env), analyzer_env=dict(env),
                            gateway_env=dict(env))
        with Stack(opts, "self-trace") as stack:
            # The start-up sync first: its batches must not share the analyzer's polls with
            # the request's (a batch with several senders is linked, not parented).
            stack.wait_job("", timeout=300)
            stack.settle(timeout=240)
            time.sleep(2)

            # gRPC, with the Datadog style this time (REST below uses W3C).
            grpc_trace, grpc_caller = secrets.randbits(63) | 1, secrets.randbits(63) | 1
            g = stack.grpc()
            g.stub.GetStats(g.pb.GetStatsRequest(), timeout=30, metadata=[
                ("x-datadog-trace-id", str(grpc_trace)), ("x-datadog-parent-id", str(grpc_caller)),
                ("x-datadog-sampling-priority", "1")])

            trace_hi, trace_lo = secrets.randbits(64) | 1, secrets.randbits(63) | 1
            caller = secrets.randbits(63) | 1
            headers = {**stack.auth(),
                       "traceparent": f"00-{trace_hi:016x}{trace_lo:016x}-{caller:016x}-01"}
            status, body = stack.request("POST", f"{stack.gateway_url}/api/sync", b"", headers)
            if status != 202:
                raise StackError(f"POST /api/sync: HTTP {status}: {body[:300]!r}")
            doc = json.loads(body) if body else {}
            job_id = doc.get("job_id") or doc.get("id") or ""
            log(f"sync requested with trace {trace_hi:016x}{trace_lo:016x}: job {job_id}")
            stack.wait_job(job_id, timeout=300)
            stack.settle(timeout=240)
            time.sleep(4)  # the exporters send every second

            in_rpc = [s for s in agent.spans() if s["trace_id"] == grpc_trace]
            rpc = [s for s in in_rpc if s["name"] == "grpc.server"]
            f.check(len(rpc) == 1 and rpc[0]["parent_id"] == grpc_caller
                    and rpc[0]["resource"] == "apmcov.v1.CoverageService/GetStats"
                    and (rpc[0].get("meta") or {}).get("rpc.service") == "apmcov.v1.CoverageService"
                    and (rpc[0].get("meta") or {}).get("grpc.status.code") == "OK",
                    f"the gRPC call is a server span under the caller's (metadata) {rpc[:1]}")
            # Its reads of PostgreSQL are client spans under it, and nothing else is in the trace.
            reads = [s for s in in_rpc if s["name"] == "postgresql.transaction"]
            f.check(len(reads) >= 1 and len(reads) + len(rpc) == len(in_rpc)
                    and all(s["service"] == "apmcov-gateway" and rpc
                            and s["parent_id"] == rpc[0]["span_id"]
                            and (s.get("meta") or {}).get("db.system") == "postgresql"
                            and (s.get("meta") or {}).get("span.kind") == "client"
                            for s in reads),
                    f"the gRPC call's PostgreSQL reads are client spans under it {in_rpc[:4]}")
            spans = [s for s in agent.spans() if s["trace_id"] == trace_lo]
            log(f"the Agent received {len(agent.spans())} spans in {agent.payloads} payloads; "
                f"{len(spans)} in the request's trace")
            for s in sorted(spans, key=lambda s: s["start"])[:40]:
                log("  " + describe(s))
            f.check(not agent.errors, f"every payload well-formed ({agent.errors[:3]})")
            by_id = {s["span_id"]: s for s in spans}
            meta = lambda s: s.get("meta") or {}  # noqa: E731

            def of(service, name, **m):
                return [s for s in spans if s["service"] == service and s["name"] == name
                        and all(meta(s).get(k) == v for k, v in m.items())]

            server = of("apmcov-gateway", "http.request", **{"span.kind": "server"})
            if f.check(len(server) == 1, "one gateway server span for the request"):
                server = server[0]
                f.check(server["parent_id"] == caller, "its parent is the caller's span")
                f.check(server["resource"] == "POST /api/sync", f"resource {server['resource']}")
                f.check(meta(server).get("_dd.p.tid") == f"{trace_hi:016x}",
                        "the chunk root carries the 128-bit id's high half")
                produce = of("apmcov-gateway", "kafka.produce", **{"span.kind": "producer"})
                f.check(len(produce) == 1 and produce[0]["parent_id"] == server["span_id"]
                        and meta(produce[0]).get("messaging.destination.name") == "apmcov.commands",
                        "the SyncRequest producer span is the server span's child")
                sync = of("apmcov-collector", "collector.sync")
                if f.check(len(sync) == 1, "one collector sync span in the trace"):
                    sync = sync[0]
                    f.check(bool(produce) and sync["parent_id"] == produce[0]["span_id"],
                            "the sync is the child of the gateway's producer span (Kafka headers)")
                    f.check(meta(sync).get("sync.job_id") == job_id, "the sync ran the requested job")
                    calls = [s for s in spans if s["service"] == "apmcov-collector"
                             and meta(s).get("span.kind") == "client"]
                    f.check(bool(calls) and all(c["parent_id"] == sync["span_id"] for c in calls),
                            f"{len(calls)} Datadog API client spans, children of the sync")
                    f.check(all(meta(c).get("peer.service") == "datadog-api" for c in calls),
                            "peer.service datadog-api on each")
                    f.check(all(meta(c).get("http.url", "").startswith(stack.ddsim_url + "/api/")
                                and "?" not in meta(c)["http.url"] for c in calls),
                            "http.url is ddsim's, without the query")
                    f.check(any(meta(c).get("http.url", "").endswith("/api/v2/spans/events")
                                for c in calls), "the span pages were read inside the sync")
                    producers = of("apmcov-collector", "kafka.produce", **{"span.kind": "producer"})
                    batches = [b for b in producers if b["resource"] == "apmcov.spans"]
                    f.check(bool(batches) and all(b["parent_id"] == sync["span_id"] for b in batches),
                            f"{len(batches)} span-batch producer spans, children of the sync")
                    # Every other publish of the sync has its producer span too (one per group
                    # of records), a child of the sync; the queued job's is the request's child.
                    for topic in ("apmcov.catalog", "apmcov.apm-inventory", "apmcov.sync-jobs",
                                  "apmcov.collector-state"):
                        group = [b for b in producers if b["resource"] == topic
                                 and b["parent_id"] == sync["span_id"]]
                        f.check(bool(group), f"{len(group)} {topic} producer span(s) under the sync")
                    queued = [b for b in producers if b["resource"] == "apmcov.sync-jobs"
                              and bool(produce) and b["parent_id"] == produce[0]["span_id"]]
                    f.check(len(queued) == 1,
                            "the queued job's producer span is the gateway producer span's child")
                    consumed = of("apmcov-analyzer", "kafka.consume", **{"span.kind": "consumer"})
                    ids = {b["span_id"] for b in producers}
                    batch_ids = {b["span_id"] for b in batches}
                    # A batch of one trace is the child of its first record's producer span and
                    # links the trace's other producer spans in it (span batches among them).
                    def linked(c):
                        try:
                            return {int(l["span_id"], 16)
                                    for l in json.loads(meta(c).get("_dd.span_links", "[]"))}
                        except (ValueError, KeyError, TypeError):
                            return set()
                    reached = {c["parent_id"] for c in consumed}.union(*(linked(c) for c in consumed))
                    f.check(bool(consumed) and all(c["parent_id"] in ids for c in consumed)
                            and bool(reached & batch_ids) and reached <= ids,
                            f"{len(consumed)} analyzer batch spans, children of producer spans, "
                            "linking the others (span batches among them)")
                    db = of("apmcov-analyzer", "postgresql.transaction", **{"db.system": "postgresql"})
                    cids = {c["span_id"] for c in consumed}
                    f.check(bool(db) and all(d["parent_id"] in cids for d in db)
                            and all(meta(d).get("span.kind") == "client" for d in db),
                            f"{len(db)} PostgreSQL transaction spans, children of batch spans")
                    # Log correlation: the sync's own log lines carry its ids.
                    with open(os.path.join(stack.logs, "collector.log"), errors="replace") as lf:
                        lines = [json.loads(x) for x in lf if x.startswith("{") and job_id in x]
                    started = [x for x in lines if x.get("msg") == "sync started"]
                    f.check(bool(started) and started[0].get("dd.trace_id") == str(trace_lo)
                            and started[0].get("dd.span_id") == str(sync["span_id"]),
                            "the collector's 'sync started' log line carries dd.trace_id/dd.span_id")
            orphans = [describe(s) for s in spans
                       if s["parent_id"] not in by_id and s["parent_id"] != caller]
            f.check(not orphans, f"no span of the trace misses its parent {orphans[:5]}")
            untagged = [describe(s) for s in spans
                        if meta(s).get("env") != ENV or meta(s).get("version") != VERSION]
            f.check(not untagged, f"env and version on every span {untagged[:3]}")
            everything = json.dumps(agent.spans())
            f.check(stack.dd_api_key not in everything and stack.dd_app_key not in everything,
                    "no Datadog key in any span")
            # Every service that sent spans shows what its span pool holds.
            for name in ("gateway", "collector", "analyzer"):
                held = stack.metric_sum(stack.metrics(name), "apmcov_tracing_span_memory_bytes")
                f.check(held > 0, f"{name}: apmcov_tracing_span_memory_bytes {held} > 0")
    if f.items:
        print(f"\n{len(f.items)} check(s) failed:\n  " + "\n  ".join(f.items), flush=True)
        return 1
    print("\nthe request's trace is whole: gateway → Kafka → collector → ddsim → Kafka → "
          "analyzer → PostgreSQL", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
