#!/usr/bin/python3
"""The CI gate and the Scorecards push against a real stack (ddsim, kafka-dev, PostgreSQL,
collector, analyzer with SCORECARDS_ENABLED, gateway).

    test_gate.py cli          apmcov check/report/services/sync: a team above and below its
                              threshold, a regression since a date, the gateway unreachable
                              (exit 2), bad flags (exit 2 with usage)
    test_gate.py scorecards   ddsim's recorded outcomes equal ddsim's truth for every catalog
                              service; a second snapshot sends only what changed

Both run on one stack when called with `all` (the default).

    test_gate.py forbidden    the application key lacks apm_service_catalog_write (ddsim answers
                              403 to Scorecards writes): the push is disabled with one error,
                              and syncs and coverage go on
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from stack import BINARY_DIR, NS, Stack, StackError, StackOptions, free_port, log, parse_rfc3339  # noqa: E402

RULE_INSTRUMENTED = "APM instrumented"
RULE_UNBROKEN = "Traces unbroken"
DASHBOARD = "http://apm-coverage.example.org"


class Failures:
    def __init__(self) -> None:
        self.items: list[str] = []

    def check(self, ok: bool, what: str) -> bool:
        if not ok:
            self.items.append(what)
            log(f"FAIL: {what}")
        return ok


class GateStack(Stack):
    """The analyzer pushes Scorecards to the same ddsim the collector reads."""

    def analyzer_env(self, name: str = "analyzer") -> dict[str, str]:
        env = super().analyzer_env(name)
        env.update({"SCORECARDS_ENABLED": "true", "DASHBOARD_URL": DASHBOARD,
                    "DD_API_KEY": self.dd_api_key, "DD_APP_KEY": self.dd_app_key,
                    "DD_API_BASE_URL": self.ddsim_url})
        return env


def apmcov(stack: Stack, *args: str, gateway: str | None = None, token: bool = False) -> subprocess.CompletedProcess:
    exe = os.environ.get("APMCOV_CLI_BIN") or os.path.join(BINARY_DIR, "services", "cli", "apmcov")
    env = {k: v for k, v in os.environ.items() if k not in ("APMCOV_GATEWAY", "GATEWAY_API_TOKEN")}
    env["APMCOV_GATEWAY"] = gateway or f"127.0.0.1:{stack.ports['grpc']}"
    if token:
        env["GATEWAY_API_TOKEN"] = stack.api_token
    p = subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=300)
    log(f"apmcov {' '.join(args)} -> exit {p.returncode}")
    return p


def psql(stack: Stack, sql: str) -> str:
    p = subprocess.run(["psql", stack.database_url, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise StackError(f"psql: {p.stderr}")
    return p.stdout.strip()


def pick_team(stack: Stack) -> dict:
    """A team with instrumented and uninstrumented services, the largest named one first."""
    teams = [b for b in stack.get_json("/api/stats")["by_team"] if 0 < b["instrumented"] < b["total"]]
    if not teams:
        raise StackError("no team with both instrumented and uninstrumented services")
    # A named team first ("unknown" gathers the services without one).
    return sorted(teams, key=lambda b: (b["key"] == "unknown", -b["total"], b["key"]))[0]


def check_cli(stack: Stack, f: Failures) -> None:
    team = pick_team(stack)
    key, pct = team["key"], team["coverage_pct"]
    without = [s["name"] for s in stack.get_json("/api/services", {"team": key, "apm": "false",
                                                                    "page_size": "1000"})["services"]]
    log(f"team {key}: {team['instrumented']}/{team['total']} ({pct:.1f}%), without APM: {without}")

    # Above its threshold: exit 0.
    p = apmcov(stack, "check", "--team", key, "--min-coverage", f"{max(pct - 1, 0):.2f}")
    f.check(p.returncode == 0, f"check above threshold: exit {p.returncode}\n{p.stdout}{p.stderr}")
    f.check("PASS  min_coverage" in p.stdout, f"check above threshold says PASS: {p.stdout}")
    # Below: exit 1, naming the team's uninstrumented services.
    p = apmcov(stack, "check", "--team", key, "--min-coverage", f"{min(pct + 1, 100):.2f}")
    f.check(p.returncode == 1, f"check below threshold: exit {p.returncode}\n{p.stdout}{p.stderr}")
    for name in without:
        f.check(f"{key} / {name}:" in p.stdout, f"check below threshold names {name}: {p.stdout}")
    p = apmcov(stack, "--format", "json", "check", "--team", key, "--min-coverage", "100")
    doc = json.loads(p.stdout or "{}")
    f.check(p.returncode == 1 and doc.get("passed") is False, f"json check: {p.returncode} {p.stdout[:300]}")
    found = sorted(x["service"] for c in doc.get("conditions", []) for x in c.get("findings", []))
    f.check(found == sorted(without), f"json findings {found} == services without APM {sorted(without)}")
    p = apmcov(stack, "--format", "markdown", "check", "--team", key, "--min-coverage", "100")
    f.check("| **FAIL** | min_coverage |" in p.stdout and "<details>" in p.stdout,
            f"markdown check: {p.stdout[:400]}")

    # The broken rate of the sample: the org's own figure, held and then failed.
    sample = stack.get_json("/api/stats")["sample"]
    if sample["judged_traces"] > 0:
        rate = 100.0 * sample["broken_traces"] / sample["judged_traces"]
        p = apmcov(stack, "check", "--max-broken-rate", f"{min(rate + 0.5, 100):.2f}")
        f.check(p.returncode == 0, f"broken rate {rate:.2f}% under the threshold: {p.stdout}")
        if rate > 0.5:
            p = apmcov(stack, "check", "--max-broken-rate", f"{rate - 0.5:.2f}")
            f.check(p.returncode == 1 and "FAIL  max_broken_rate" in p.stdout,
                    f"broken rate over the threshold: exit {p.returncode} {p.stdout[:500]}")

    # A regression since a date: a snapshot two days ago had the whole team instrumented.
    p = apmcov(stack, "check", "--team", key, "--no-regression-since", "1h")
    f.check(p.returncode == 0, f"no regression within the hour: exit {p.returncode} {p.stdout}")
    two_days_ago = (time.time_ns() - 2 * 86400 * NS) // 1000
    psql(stack, "INSERT INTO coverage_snapshots (taken_at, dimension, key, total, instrumented) "
                f"VALUES (timestamptz 'epoch' + {two_days_ago} * interval '1 microsecond', "
                f"'team', '{key}', {team['total']}, {team['total']})")
    since = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 3 * 86400))
    p = apmcov(stack, "check", "--team", key, "--no-regression-since", since)
    f.check(p.returncode == 1, f"regression since {since}: exit {p.returncode} {p.stdout}{p.stderr}")
    f.check(f"team {key}: coverage 100.0%" in p.stdout, f"regression names the team: {p.stdout}")
    for name in without:
        f.check(f"{key} / {name}:" in p.stdout, f"regression names {name}: {p.stdout}")
    p = apmcov(stack, "check", "--no-regression-since", "3d")  # every team
    f.check(p.returncode == 1 and f"team {key}:" in p.stdout, f"regression, every team: {p.stdout}")

    # report and services agree with the REST API.
    p = apmcov(stack, "--format", "json", "report")
    st = stack.get_json("/api/stats")
    rep = json.loads(p.stdout or "{}")
    f.check(p.returncode == 0 and rep.get("total_services") == st["total_services"]
            and rep.get("instrumented_services") == st["instrumented_services"],
            f"report totals {rep.get('total_services')}/{rep.get('instrumented_services')} == "
            f"{st['total_services']}/{st['instrumented_services']}")
    p = apmcov(stack, "report")
    f.check(p.returncode == 0 and "by team (lowest coverage first):" in p.stdout, f"report text: {p.stdout[:300]}")
    p = apmcov(stack, "--format", "json", "services", "--apm=false", "--team", key)
    names = sorted(s["name"] for s in json.loads(p.stdout or "{}").get("services", []))
    f.check(p.returncode == 0 and names == sorted(without), f"services --apm=false: {names} == {sorted(without)}")

    # Could not ask: exit 2. Bad flags: exit 2 with the usage.
    p = apmcov(stack, "check", "--min-coverage", "50", gateway=f"127.0.0.1:{free_port()}")
    f.check(p.returncode == 2 and "could not ask the gateway" in p.stderr,
            f"unreachable gateway: exit {p.returncode} {p.stderr}")
    p = apmcov(stack, "check", "--min-coverage", "120")
    f.check(p.returncode == 2 and "usage: apmcov" in p.stderr and "--min-coverage" in p.stderr,
            f"bad flag: exit {p.returncode} {p.stderr[:300]}")
    p = apmcov(stack, "sync")  # no token: the gateway refuses
    f.check(p.returncode == 2 and "TriggerSync" in p.stderr, f"sync without token: {p.returncode} {p.stderr}")


def scorecards_received(stack: Stack) -> dict:
    return stack.get_json("/_ddsim/scorecards", base=stack.ddsim_url)


def wait_push_after(stack: Stack, after_ns: int, timeout: float = 180) -> None:
    def pushed() -> bool:
        v = stack.metric_sum(stack.metrics("analyzer"), "apmcov_analyzer_scorecard_last_push_timestamp_seconds")
        return v * NS >= after_ns
    stack.wait_for(pushed, timeout, "the analyzer's Scorecards push", interval=1.0)


def expected_outcomes(truth: dict, t0: int, t_cut: int) -> tuple[dict, set]:
    """(rule, service) -> state from ddsim's truth (design §13), and the keys where a service
    blamed only by traces the product may not have judged yet (after T_cut) may be either."""
    cat = truth["catalog"]
    deprecated = set(cat["deprecated"])
    instrumented = set(cat["instrumented"])
    usm = set(cat["usm_only"])
    blamed_sure, blamed_late = set(), set()
    for t in truth["traces"]:
        if not t["broken"]:
            continue
        names = set(t["missing_services"])
        names |= {g["to_service"] for g in t["gaps"] if g["kind"] == "propagation_break" and g["to_service"]}
        (blamed_sure if t0 <= t["start_ns"] < t_cut else blamed_late).update(names)
    out, either = {}, set()
    for s in cat["services"]:
        if s in deprecated:
            out[(RULE_INSTRUMENTED, s)] = out[(RULE_UNBROKEN, s)] = "skip"
            continue
        out[(RULE_INSTRUMENTED, s)] = "pass" if s in instrumented else "fail"
        quiet = "pass" if (s in instrumented or s in usm) else "skip"
        if s in blamed_sure:
            out[(RULE_UNBROKEN, s)] = "fail"
        else:
            out[(RULE_UNBROKEN, s)] = quiet
            if s in blamed_late:
                either.add((RULE_UNBROKEN, s))
    return out, either


def check_scorecards(stack: Stack, f: Failures, job: dict) -> None:
    wait_push_after(stack, parse_rfc3339(job["finished_at"]))
    got = scorecards_received(stack)
    rules = {r["name"]: r for r in got["rules"]}
    f.check(set(rules) == {RULE_INSTRUMENTED, RULE_UNBROKEN}, f"rules created: {sorted(rules)}")
    f.check(all(r["scorecard_name"] == "APM Coverage" for r in got["rules"]), f"scorecard: {got['rules']}")
    f.check(got["rule_posts"] == 2, f"each rule created once: {got['rule_posts']} POSTs")
    outcomes = {(o["rule"], o["entity_reference"].removeprefix("service:")): o for o in got["outcomes"]}
    o = stack.opts
    t0 = stack.traffic_start_ns
    covered = parse_rfc3339(job["started_at"]) - o.span_lag_seconds * NS
    t_cut = covered - (o.trace_grace_seconds + 60) * NS
    truth = stack.truth(t0, covered, traces="broken")
    want, either = expected_outcomes(truth, t0, t_cut)
    f.check(set(outcomes) == set(want),
            f"outcomes for every catalog service: missing {sorted(set(want) - set(outcomes))[:10]}, "
            f"extra {sorted(set(outcomes) - set(want))[:10]}")
    wrong = [(k, want[k], outcomes[k]["state"]) for k in want if k in outcomes
             and outcomes[k]["state"] != want[k] and not (k in either and outcomes[k]["state"] == "fail")]
    f.check(not wrong, f"{len(wrong)} outcomes differ from the truth: {wrong[:10]}")
    states = {}
    for k, v in outcomes.items():
        states[(k[0], v["state"])] = states.get((k[0], v["state"]), 0) + 1
    log(f"scorecard outcomes: {len(outcomes)} for {len(truth['catalog']['services'])} catalog services; "
        f"{sorted(states.items())}; {len(either)} blamed only after T_cut")
    # Every state the truth holds appears (the outcomes equal the truth, checked above). Which
    # states the generated org holds depends on the window: at 100 spans/s over five minutes
    # every judged service can have a broken trace, so a state absent from the truth is logged,
    # not failed.
    for rule in (RULE_INSTRUMENTED, RULE_UNBROKEN):
        for st in ("pass", "fail", "skip"):
            expected = sum(1 for k, w in want.items() if k[0] == rule and w == st and k not in either)
            if expected == 0:
                log(f"{rule}: the truth of this window has no {st} outcome")
                continue
            f.check(states.get((rule, st), 0) > 0, f"{rule}: some outcome is {st}")
    link = f'<a href="{DASHBOARD}/services/'
    f.check(all(link in v["remarks"] for v in outcomes.values()), "every remark links to the dashboard")
    # The collector may run a second sync right after the first (the one it starts on gaining
    # leadership), whose snapshot sends what changed: the first push sends every outcome once,
    # and ddsim received exactly what the analyzer says it sent.
    pushes = pushes_logged(stack)
    for _ in range(50):  # a push logs once ddsim answered: wait out a push in flight
        if got["results_received"] == sum(pushes):
            break
        time.sleep(0.1)
        got, pushes = scorecards_received(stack), pushes_logged(stack)
    f.check(bool(pushes) and pushes[0] == len(outcomes),
            f"first push: {pushes[:1]} results sent for {len(outcomes)} outcomes")
    f.check(got["results_received"] == sum(pushes),
            f"ddsim received {got['results_received']} results, the analyzer sent {pushes}")


def pushes_logged(stack: Stack) -> list[int]:
    """The outcomes of each push, in order, from the analyzer's log."""
    out = []
    with open(os.path.join(stack.logs, "analyzer.log")) as log_file:
        for line in log_file:
            if '"scorecard outcomes sent"' in line:
                out.append(int(json.loads(line)["outcomes"]))
    return out


def check_second_snapshot(stack: Stack, f: Failures, before: dict) -> None:
    """After a second sync, exactly the outcomes that changed were sent again."""
    jobs = stack.jobs()
    job = jobs[0]
    wait_push_after(stack, parse_rfc3339(job["finished_at"]))
    after = scorecards_received(stack)
    old = {(o["rule_id"], o["entity_reference"]): (o["state"], o["remarks"]) for o in before["outcomes"]}
    new = {(o["rule_id"], o["entity_reference"]): (o["state"], o["remarks"]) for o in after["outcomes"]}
    changed = [k for k in new if old.get(k) != new[k]]
    sent = after["results_received"] - before["results_received"]
    log(f"second snapshot: {sent} results sent, {len(changed)} outcomes changed")
    f.check(sent == len(changed), f"second snapshot sent {sent} results for {len(changed)} changed outcomes")
    f.check(after["rule_posts"] == before["rule_posts"], "no rule created again")


def run_forbidden(f: Failures) -> None:
    opts = StackOptions(seed=23, services=30, spans_per_second=60, backfill_minutes=4,
                        ddsim_env={"APP_KEY_SCORECARD_WRITE": "false"})
    with GateStack(opts, label="e2e-gate-forbidden") as stack:
        for _ in range(2):  # two snapshots: the second must not ask Datadog again
            job = stack.wait_job(stack.trigger_sync(), 300)
            stack.settle(timeout=300)
        stack.wait_for(lambda: stack.metric_sum(stack.metrics("analyzer"),
                                                "apmcov_analyzer_scorecard_push_disabled") == 1,
                       120, "the Scorecards push to be disabled", interval=1.0)
        got = scorecards_received(stack)
        f.check(got["outcomes"] == [] and got["results_received"] == 0, f"nothing recorded: {got}")
        requests = stack.ddsim_stats()["requests"]
        creates = requests.get("scorecard_rules_create", {}).get("by_status", {})
        f.check(creates == {"403": 1}, f"one refused rule creation, never retried: {creates}")
        f.check("scorecard_outcomes" not in requests, f"no outcome sent: {requests}")
        text = open(os.path.join(stack.logs, "analyzer.log"), errors="replace").read()
        f.check(text.count("Scorecards push disabled") == 1,
                f"one clear error: {text.count('Scorecards push disabled')} in the analyzer log")
        f.check("apm_service_catalog_write" in text, "the error names the missing scope")
        st = stack.get_json("/api/stats")
        f.check(st["total_services"] > 0 and st["last_sync"]["id"] == job["id"],
                f"collection goes on: {st['total_services']} services, last sync "
                f"{st['last_sync'] and st['last_sync']['id']} == {job['id']}")
        stack.check_alive()
        if f.items:
            stack.failed = True


def main(argv: list[str]) -> int:
    which = argv[1] if len(argv) > 1 else "all"
    if which not in ("all", "cli", "scorecards", "forbidden"):
        print(f"unknown case {which!r}: cli, scorecards, forbidden or all", file=sys.stderr)
        return 2
    f = Failures()
    if which == "forbidden":
        started = time.monotonic()
        run_forbidden(f)
        log(f"e2e gate (forbidden): {len(f.items)} failures in {time.monotonic() - started:.0f} s")
        for item in f.items:
            print(f"  - {item[:2000]}")
        return 1 if f.items else 0
    opts = StackOptions(seed=17, services=60, spans_per_second=100, backfill_minutes=5)
    started = time.monotonic()
    with GateStack(opts, label="e2e-gate") as stack:
        job_id = stack.trigger_sync()
        job = stack.wait_job(job_id, 300)
        stack.settle(timeout=300)
        if which in ("all", "scorecards"):
            check_scorecards(stack, f, job)
        before = scorecards_received(stack)
        if which in ("all", "cli"):
            check_cli(stack, f)
        # The second sync through the CLI: `apmcov sync --wait` with the token.
        p = apmcov(stack, "sync", "--wait", "--wait-timeout", "300", token=True)
        f.check(p.returncode == 0 and ": succeeded" in p.stdout, f"sync --wait: {p.returncode} {p.stdout}{p.stderr}")
        stack.settle(timeout=300)
        if which in ("all", "scorecards"):
            check_second_snapshot(stack, f, before)
        if f.items:
            stack.failed = True
    log(f"e2e gate ({which}): {len(f.items)} failures in {time.monotonic() - started:.0f} s")
    for item in f.items:
        print(f"  - {item[:2000]}")
    return 1 if f.items else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except StackError as e:
        log(f"FAILED: {e}")
        sys.exit(1)
