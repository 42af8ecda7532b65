"""Compares what the gateway reports (REST and gRPC) with ddsim's ground truth.

Windows: ddsim's traffic starts at T0. After a sync that started at S, the collector has
published spans up to about C = S - SPAN_LAG_SECONDS, and the analyzer has judged every trace
whose last span ended before C - TRACE_GRACE_SECONDS. A trace is expected in the product when
the truth says it is broken and it starts before T_cut = C - grace - margin (traces run well
under the margin). Precision is measured over every broken trace the product reports (a trace it
reports must be broken in the truth, whatever its start); recall over the truth's broken traces
starting in [T0, T_cut).

Coverage is compared with the truth over [T0, C): the env breakdown counts envs with traffic in
that range.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from stack import NS, Stack, log, parse_rfc3339, rfc3339

GAP_KINDS = ["uninstrumented_hop", "uninstrumented_callee", "propagation_break", "missing_root", "orphan_span"]
DIMENSIONS = ["team", "env", "infra", "language", "tier", "lifecycle"]


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pr: dict = field(default_factory=dict)  # gap kind -> {tp, fp, fn, precision, recall}
    counts: dict = field(default_factory=dict)

    def check(self, ok: bool, what: str) -> bool:
        if not ok:
            self.failures.append(what)
        return ok

    def eq(self, actual, expected, what: str) -> bool:
        return self.check(actual == expected, f"{what}: expected {_short(expected)}, got {_short(actual)}")


def _short(v, n: int = 600) -> str:
    s = json.dumps(v, sort_keys=True, default=str) if not isinstance(v, str) else v
    return s if len(s) <= n else s[:n] + f"... ({len(s)} chars)"


def _buckets(items) -> dict:
    return {b["key"]: (int(b["total"]), int(b["instrumented"])) for b in items}


def _diff_buckets(actual: dict, expected: dict) -> str:
    keys = sorted(set(actual) | set(expected))
    out = [f"{k}: expected {expected.get(k)} got {actual.get(k)}" for k in keys if actual.get(k) != expected.get(k)]
    return "; ".join(out[:20]) + (f" (+{len(out) - 20} more)" if len(out) > 20 else "")


# ------------------------------------------------------------------ reading the product


def rest_pages(stack: Stack, path: str, key: str, params: dict) -> list[dict]:
    out, token, seen_tokens = [], None, set()
    while True:
        p = dict(params)
        if token:
            p["page_token"] = token
        doc = stack.get_json(path, p)
        out.extend(doc[key])
        token = doc.get("next_page_token")
        if not token:
            return out
        if token in seen_tokens:
            raise AssertionError(f"{path}: page token repeats: {token}")
        seen_tokens.add(token)


def grpc_pages(client, rpc: str, field_name: str, **kwargs) -> list:
    out, token = [], ""
    for _ in range(100000):
        resp = client.call(rpc, page_token=token, **kwargs)
        out.extend(getattr(resp, field_name))
        token = resp.next_page_token
        if not token:
            return out
    raise AssertionError(f"{rpc}: too many pages")


def bucket_msg(b) -> dict:
    return {"key": b.key, "total": b.total, "instrumented": b.instrumented, "coverage_pct": b.coverage_pct}


def product_view_rest(stack: Stack, since_ns: int) -> dict:
    v = {"stats": stack.get_json("/api/stats")}
    v["coverage"] = {d: stack.get_json("/api/coverage", {"by": d})["buckets"] for d in DIMENSIONS}
    v["services"] = rest_pages(stack, "/api/services", "services", {"include_deprecated": "true", "page_size": "1000"})
    v["services_active"] = rest_pages(stack, "/api/services", "services", {"page_size": "1000"})
    v["shadow"] = stack.get_json("/api/shadow-services")["services"]
    v["traces"] = rest_pages(stack, "/api/traces", "traces", {"since": rfc3339(since_ns), "page_size": "1000"})
    return v


def product_view_grpc(stack: Stack, since_ns: int) -> dict:
    c = stack.grpc()
    st = c.call("GetStats")
    stats = {
        "total_services": st.total_services,
        "instrumented_services": st.instrumented_services,
        "coverage_pct": st.coverage_pct,
        "customer_facing_without_apm": list(st.customer_facing_without_apm),
        "usm_only": list(st.usm_only),
        "shadow_services": st.shadow_services,
        "broken_traces": st.broken_traces,
    }
    for d in ("team", "env", "infra", "language"):
        stats[f"by_{d}"] = [bucket_msg(b) for b in getattr(st, f"by_{d}")]
    v = {"stats": stats}
    v["coverage"] = {d: [bucket_msg(b) for b in c.call("GetCoverage", by=d).buckets] for d in DIMENSIONS}
    svc = grpc_pages(c, "ListServices", "services", include_deprecated=True, page_size=1000)
    v["services"] = [{"name": s.name, "instrumented": s.instrumented, "usm_only": s.usm_only,
                      "lifecycle": s.lifecycle} for s in svc]
    act = grpc_pages(c, "ListServices", "services", page_size=1000)
    v["services_active"] = [{"name": s.name, "instrumented": s.instrumented, "usm_only": s.usm_only,
                             "lifecycle": s.lifecycle} for s in act]
    v["shadow"] = [{"name": s.name} for s in c.call("ListShadowServices").services]
    tr = grpc_pages(c, "ListTraces", "traces", since=rfc3339(since_ns), page_size=1000)
    v["traces"] = [{"trace_id": t.trace_id, "env": t.env, "root_service": t.root_service or None,
                    "started_at": rfc3339(t.started_at.seconds * NS + t.started_at.nanos),
                    "span_count": t.span_count, "services": list(t.services),
                    "missing_services": list(t.missing_services), "gap_kinds": list(t.gap_kinds)} for t in tr]
    return v


# ------------------------------------------------------------------ the comparison


def compare(stack: Stack, sync_started_ns: int, *, max_details: int = 3000, check_grpc: bool = True,
            margin_s: int = 60) -> Report:
    o = stack.opts
    t0 = stack.traffic_start_ns
    covered = sync_started_ns - o.span_lag_seconds * NS
    t_cut = covered - (o.trace_grace_seconds + margin_s) * NS
    rep = Report()
    if not rep.check(t_cut > t0, f"no judged window: T0 {rfc3339(t0)} >= T_cut {rfc3339(t_cut)}"):
        return rep
    log(f"window: T0 {rfc3339(t0)}, covered to {rfc3339(covered)}, judged traces start < {rfc3339(t_cut)}")

    cov_truth = stack.truth(t0, covered, traces="none")
    truth_all = stack.truth(t0, covered, traces="broken")
    ts = cov_truth["trace_summary"]
    rep.counts["truth"] = {k: ts[k] for k in ("total", "judged", "broken", "spans")}
    log(f"truth over [T0, covered): {ts['total']} traces, {ts['spans']} spans, {ts['broken']} broken, "
        f"{cov_truth['coverage']['total_services']} services ({cov_truth['coverage']['instrumented_services']} instrumented)")

    views = {"REST": product_view_rest(stack, t0)}
    if check_grpc:
        views["gRPC"] = product_view_grpc(stack, t0)

    for api, v in views.items():
        _compare_coverage(rep, api, v, cov_truth)
        _compare_traces(rep, api, v, truth_all, t0, t_cut, stack if api == "REST" else None, max_details)
    if check_grpc:
        r, g = views["REST"], views["gRPC"]
        rep.eq(sorted(t["trace_id"] for t in g["traces"]), sorted(t["trace_id"] for t in r["traces"]),
               "gRPC ListTraces ids vs REST /api/traces ids")
    _compare_recommendations(rep, stack, views["REST"]["traces"], truth_all, cov_truth)
    return rep


def _compare_recommendations(rep: Report, stack: Stack, product_traces: list, truth: dict, cov_truth: dict) -> None:
    """Instrument next against the truth: exactly the catalog services without APM are ranked;
    each one's broken traces count at least the truth's broken traces naming it missing among
    those the product listed before (syncs may add more since), and never one the product does
    not show; every example trace names it; the order is the ranking's."""
    rec = stack.get_json("/api/recommendations", {"limit": "500"})
    cat = cov_truth["catalog"]
    without = set(cat["services"]) - set(cat["instrumented"]) - set(cat["deprecated"])
    rows = rec["recommendations"]
    if len(without) <= 500:
        rep.eq(sorted(r["name"] for r in rows), sorted(without), "instrument next: services without APM")
    rep.eq(int(rec["total"]), len(without), "instrument next: total")
    truth_broken = {t["trace_id"]: t for t in truth["traces"] if t["broken"]}
    listed = Counter()
    for t in product_traces:
        e = truth_broken.get(t["trace_id"])
        if e:
            listed.update(set(e["missing_services"]))
    by_missing = Counter()
    for t in rest_pages(stack, "/api/traces", "traces", {"page_size": "1000"}):
        by_missing.update(set(t["missing_services"]))
    key = [(-int(r["broken_traces"]), -len(r["callers"]), not r["customer_facing"], r["name"]) for r in rows]
    rep.check(key == sorted(key), "instrument next: rows out of the ranking's order")
    bad = []
    for r in rows:
        n, got = r["name"], int(r["broken_traces"])
        if got < listed[n] or got > by_missing[n]:
            bad.append((n, listed[n], got, by_missing[n]))
        for tid in r["example_trace_ids"]:
            if n not in stack.get_json(f"/api/traces/{tid}")["missing_services"]:
                bad.append((n, "example", tid))
    rep.check(not bad, f"instrument next: broken traces outside [truth listed, product now] or bad examples: {bad[:10]}")
    rep.counts["instrument_next"] = {"ranked": len(rows), "with_broken_traces": sum(1 for r in rows if r["broken_traces"]),
                                     "truth_missing_services": len(listed)}


def _compare_coverage(rep: Report, api: str, v: dict, truth: dict) -> None:
    c = truth["coverage"]
    st = v["stats"]
    rep.eq(int(st["total_services"]), c["total_services"], f"{api} stats total_services")
    rep.eq(int(st["instrumented_services"]), c["instrumented_services"], f"{api} stats instrumented_services")
    # §8 fixes no precision for coverage_pct: ddsim rounds to 2 decimals, the gateway may round to 1.
    exact = 100.0 * c["instrumented_services"] / c["total_services"] if c["total_services"] else 0.0
    rep.check(abs(float(st["coverage_pct"]) - exact) <= 0.05 + 1e-9,
              f"{api} stats coverage_pct: expected {exact:.4f} (truth {c['coverage_pct']}), got {st['coverage_pct']}")
    if float(st["coverage_pct"]) != c["coverage_pct"] and api == "REST":
        rep.notes.append(f"coverage_pct rounding differs: truth {c['coverage_pct']}, gateway {st['coverage_pct']} "
                         f"(design §8 does not fix the precision)")
    for d in ("team", "env", "infra", "language"):
        a, e = _buckets(st[f"by_{d}"]), _buckets(c[f"by_{d}"])
        rep.check(a == e, f"{api} stats by_{d} differs: {_diff_buckets(a, e)}")
    for d in DIMENSIONS:
        a, e = _buckets(v["coverage"][d]), _buckets(c[f"by_{d}"])
        rep.check(a == e, f"{api} coverage?by={d} differs: {_diff_buckets(a, e)}")
    rep.eq(sorted(st["customer_facing_without_apm"]), sorted(c["customer_facing_without_apm"]),
           f"{api} customer-facing without APM")
    rep.eq(sorted(st["usm_only"]), sorted(c["usm_only"]), f"{api} USM-only services")
    rep.eq(int(st["shadow_services"]), c["shadow_services"], f"{api} stats shadow_services")
    rep.eq(sorted(s["name"] for s in v["shadow"]), sorted(truth["shadow_services"]), f"{api} shadow services")

    cat = truth["catalog"]
    names = sorted(s["name"] for s in v["services"])
    rep.eq(names, sorted(cat["services"]), f"{api} catalog services (include_deprecated=true)")
    dep = set(cat["deprecated"])
    rep.eq(sorted(s["name"] for s in v["services_active"]), sorted(set(cat["services"]) - dep),
           f"{api} services without deprecated")
    rep.eq(sorted(s["name"] for s in v["services"] if s["instrumented"]), sorted(cat["instrumented"]),
           f"{api} instrumented services")
    rep.eq(sorted(s["name"] for s in v["services"] if s["usm_only"]), sorted(cat["usm_only"]),
           f"{api} usm_only flags")
    total = rep.counts.setdefault(api, {})
    total["services"] = len(names)


def _compare_traces(rep: Report, api: str, v: dict, truth: dict, t0: int, t_cut: int, stack, max_details) -> None:
    truth_broken = {t["trace_id"]: t for t in truth["traces"] if t["broken"]}
    product = v["traces"]
    ids = Counter(t["trace_id"] for t in product)
    dups = sorted(i for i, n in ids.items() if n > 1)
    rep.check(not dups, f"{api}: trace ids listed more than once: {dups[:20]}")
    prod = {t["trace_id"]: t for t in product}
    expected = {i: t for i, t in truth_broken.items() if t0 <= t["start_ns"] < t_cut}

    fp_ids = sorted(i for i in prod if i not in truth_broken)
    fn_ids = sorted(i for i in expected if i not in prod)
    rep.check(not fp_ids, f"{api}: {len(fp_ids)} traces reported broken that the truth does not call broken "
              f"(first: {fp_ids[:10]})")
    rep.check(not fn_ids, f"{api}: {len(fn_ids)} broken traces missing from the product (first: "
              f"{[(i, expected[i]['gap_kinds'], expected[i]['started_at']) for i in fn_ids[:10]]})")

    # Per gap kind, trace level: (trace id, kind).
    pr = {}
    lost_spans = dup_spans = 0
    for kind in GAP_KINDS:
        p = {i for i, t in prod.items() if kind in t["gap_kinds"]}
        e = {i for i, t in expected.items() if kind in t["gap_kinds"]}
        # precision over everything reported, recall over the judged window
        p_in = p
        e_all = {i for i, t in truth_broken.items() if kind in t["gap_kinds"]}
        tp = len(p_in & e_all)
        fp = len(p_in - e_all)
        fn = len(e - p)
        pr[kind] = {"tp": tp, "fp": fp, "fn": fn,
                    "precision": tp / (tp + fp) if tp + fp else 1.0,
                    "recall": (len(e) - fn) / len(e) if e else 1.0}
    rep.pr[api] = pr
    for kind, m in pr.items():
        rep.check(m["precision"] == 1.0 and m["recall"] == 1.0,
                  f"{api} {kind}: precision {m['precision']:.4f} recall {m['recall']:.4f} (tp {m['tp']} fp {m['fp']} fn {m['fn']})")

    # Same trace: same missing services, span count, root, env, services.
    mism = defaultdict(list)
    for i, t in prod.items():
        e = truth_broken.get(i)
        if not e:
            continue
        if sorted(t["missing_services"]) != sorted(e["missing_services"]):
            mism["missing_services"].append((i, e["missing_services"], t["missing_services"]))
        if sorted(t["gap_kinds"]) != sorted(e["gap_kinds"]):
            mism["gap_kinds"].append((i, e["gap_kinds"], t["gap_kinds"]))
        if int(t["span_count"]) != int(e["span_count"]):
            mism["span_count"].append((i, e["span_count"], t["span_count"]))
            if int(t["span_count"]) < int(e["span_count"]):
                lost_spans += int(e["span_count"]) - int(t["span_count"])
            else:
                dup_spans += int(t["span_count"]) - int(e["span_count"])
        if (t.get("root_service") or None) != e["root_service"]:
            mism["root_service"].append((i, e["root_service"], t.get("root_service")))
        if t["env"] != e["env"]:
            mism["env"].append((i, e["env"], t["env"]))
        if sorted(t["services"]) != sorted(e["services"]):
            mism["services"].append((i, e["services"], t["services"]))
        if parse_rfc3339(t["started_at"]) // 1_000_000 != e["start_ns"] // 1_000_000:  # JSON has ms
            mism["started_at"].append((i, e["started_at"], t["started_at"]))
    for what, items in mism.items():
        rep.failures.append(f"{api}: {len(items)} traces with a different {what} (trace, expected, got): {items[:5]}")
    rep.counts.setdefault(api, {}).update(
        {"product_broken": len(prod), "expected_broken": len(expected), "lost_traces": len(fn_ids),
         "extra_traces": len(fp_ids), "duplicated_trace_rows": len(dups), "lost_spans": lost_spans,
         "duplicated_spans": dup_spans})

    # Gap level, from the trace detail (REST only; bounded).
    if stack is None:
        return
    sample = sorted(i for i in prod if i in truth_broken)[:max_details]
    gp: dict[str, dict] = {k: {"tp": 0, "fp": 0, "fn": 0} for k in GAP_KINDS}
    bad = []
    for i in sample:
        d = stack.get_json(f"/api/traces/{i}")
        got = {(g["kind"], str(g["span_id"]), g["from_service"], g.get("to_service"), g.get("peer") or None)
               for g in d["gaps"]}
        exp = {(g["kind"], g["span_id"], g["from_service"], g["to_service"], g["peer"]) for g in truth_broken[i]["gaps"]}
        for k in GAP_KINDS:
            gk = {x for x in got if x[0] == k}
            ek = {x for x in exp if x[0] == k}
            gp[k]["tp"] += len(gk & ek)
            gp[k]["fp"] += len(gk - ek)
            gp[k]["fn"] += len(ek - gk)
        if got != exp:
            bad.append((i, sorted(exp - got, key=str), sorted(got - exp, key=str)))
    for k, m in gp.items():
        m["precision"] = m["tp"] / (m["tp"] + m["fp"]) if m["tp"] + m["fp"] else 1.0
        m["recall"] = m["tp"] / (m["tp"] + m["fn"]) if m["tp"] + m["fn"] else 1.0
    rep.pr["REST gaps (span level)"] = gp
    rep.check(not bad, f"REST /api/traces/{{id}}: {len(bad)} of {len(sample)} traces with different gaps "
              f"(trace, expected-not-got, got-not-expected): {bad[:5]}")


def print_report(title: str, rep: Report) -> None:
    print(f"\n===== {title} =====")
    for k, v in rep.counts.items():
        print(f"  {k}: {json.dumps(v, sort_keys=True)}")
    for api, pr in rep.pr.items():
        print(f"  precision / recall per gap kind ({api}):")
        for kind, m in pr.items():
            print(f"    {kind:24s} precision {m['precision']:.4f}  recall {m['recall']:.4f}  "
                  f"(tp {m['tp']}, fp {m['fp']}, fn {m['fn']})")
    for n in rep.notes:
        print(f"  note: {n}")
    if rep.failures:
        print(f"  FAILURES ({len(rep.failures)}):")
        for f in rep.failures:
            print(f"    - {f}")
    else:
        print("  all equal to the ground truth")
    print(flush=True)
