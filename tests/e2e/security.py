"""Security checks over a running stack:

- no Datadog key, application key or GATEWAY_API_TOKEN in any log file or in any /metrics output;
- SQL-injection attempts in every REST filter answer 400 or a normal (empty) result, never 5xx,
  and leave the data unchanged;
- oversized URLs, headers and bodies are refused (413, 414, 431 or 400);
- invalid UTF-8 (stray bytes, overlong encodings, surrogates), NUL (%00) and huge page_token
  values in query and path parameters answer 400 invalid_argument naming the parameter, never
  5xx, and every answer carries X-Request-Id;
- gRPC TriggerSync without (or with a wrong) `authorization: Bearer` token is UNAUTHENTICATED.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request

from compare import Report
from stack import Stack, log

INJECTIONS = [
    "' OR '1'='1",
    "x' OR 1=1 --",
    "'; DROP TABLE services; --",
    "\" OR \"\"=\"",
    "1; SELECT pg_sleep(5)",
    "') UNION SELECT name, team FROM services --",
    "%' OR name LIKE '%",
    "\\'; DELETE FROM broken_traces; --",
    "$$; DROP TABLE sync_jobs; $$",
    "name; DROP TABLE services",
    "1' AND (SELECT COUNT(*) FROM pg_tables) > 0 --",
    "\x00",
    "a\u0000b",
    "😀' OR ''='",
]

SERVICE_FILTERS = ["team", "env", "infra", "language", "tier", "q", "sort", "page_token"]
TRACE_FILTERS = ["service", "missing", "kind", "env", "since", "page_token"]


def check_secrets(stack: Stack, rep: Report) -> None:
    secrets = {"DD_API_KEY": stack.dd_api_key, "DD_APP_KEY": stack.dd_app_key,
               "GATEWAY_API_TOKEN": stack.api_token}
    files = []
    for root, _, names in os.walk(stack.dir):
        for n in names:
            if n.endswith(".log") or n == "server.log":
                files.append(os.path.join(root, n))
    scanned = 0
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        scanned += len(data)
        for var, value in secrets.items():
            if value.encode() in data:
                rep.failures.append(f"{var} appears in log file {path}")
    for name in ("collector", "analyzer", "gateway", "ddsim"):
        try:
            text = stack.metrics(name)
        except Exception as e:
            if name == "ddsim":
                continue  # ddsim's admin port is optional
            rep.failures.append(f"{name} /metrics unreadable: {e}")
            continue
        scanned += len(text)
        for var, value in secrets.items():
            if value in text:
                rep.failures.append(f"{var} appears in {name} /metrics")
    log(f"secrets: scanned {len(files)} log files and the /metrics outputs ({scanned} bytes)")


def check_injection(stack: Stack, rep: Report) -> None:
    before = stack.get_json("/api/stats")
    n = 0
    cases = [("/api/services", f) for f in SERVICE_FILTERS] + [("/api/traces", f) for f in TRACE_FILTERS]
    cases += [("/api/coverage", "by"), ("/api/coverage/history", "by"), ("/api/coverage/history", "since"),
              ("/api/services.csv", "team"), ("/api/services.csv", "q")]
    for path, param in cases:
        for payload in INJECTIONS:
            url = f"{stack.gateway_url}{path}?{urllib.parse.urlencode({param: payload})}"
            status, body = stack.request("GET", url)
            n += 1
            if status >= 500:
                rep.failures.append(f"GET {path}?{param}={payload!r}: HTTP {status}: {body[:200]!r}")
                continue
            if status == 400:
                continue
            if status != 200:
                rep.failures.append(f"GET {path}?{param}={payload!r}: unexpected HTTP {status}")
                continue
            if path in ("/api/services", "/api/traces") and param not in ("sort", "page_token"):
                doc = json.loads(body)
                items = doc.get("services", doc.get("traces"))
                if items and "\x00" in payload:
                    rep.notes.append(f"GET {path}?{param}={payload!r}: {len(items)} rows: a filter holding a NUL "
                                     f"byte is ignored (not an injection, but the filter is silently dropped)")
                elif items:
                    rep.failures.append(f"GET {path}?{param}={payload!r}: {len(items)} rows for an injected "
                                        f"filter (expected none or 400)")
        # the same through the path segment
    for path in ("/api/services/", "/api/traces/"):
        for payload in INJECTIONS:
            status, body = stack.request("GET", stack.gateway_url + path + urllib.parse.quote(payload, safe=""))
            n += 1
            if status >= 500:
                rep.failures.append(f"GET {path}{payload!r}: HTTP {status}: {body[:200]!r}")
            elif status not in (400, 404):
                rep.failures.append(f"GET {path}{payload!r}: HTTP {status} (expected 400 or 404)")
    after = stack.get_json("/api/stats")
    strip = lambda s: {k: v for k, v in s.items() if k != "last_sync"}  # noqa: E731
    rep.eq(strip(after), strip(before), "stats after the injection attempts")
    log(f"injection: {n} requests, none answered 5xx" if not any("HTTP 5" in f for f in rep.failures)
        else f"injection: {n} requests")


def _raw_request(port: int, data: bytes) -> int | None:
    """Sends raw bytes; returns the status code, or None when the server closed without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        buf = b""
        try:
            while b"\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    if not buf.startswith(b"HTTP/"):
        return None
    return int(buf.split(b" ", 2)[1])


def check_oversized(stack: Stack, rep: Report) -> None:
    port = stack.ports["http"]
    refused = {400, 413, 414, 431}
    cases = {
        "1 MiB URL": b"GET /api/services?q=" + b"a" * (1 << 20) + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        "1 MiB header": b"GET /api/stats HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * (1 << 20) + b"\r\n\r\n",
        "8 MiB body": (b"POST /api/sync HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + stack.api_token.encode()
                       + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(8 << 20).encode()
                       + b"\r\n\r\n" + b"{" + b" " * ((8 << 20) - 2) + b"}"),
    }
    for what, data in cases.items():
        status = _raw_request(port, data)
        if status in refused:
            log(f"oversized: {what} refused with HTTP {status}")
        elif status is None:
            rep.notes.append(f"oversized: {what}: connection closed without an HTTP status (refused, but "
                             f"a 413/414/431 answer would be clearer)")
        else:
            rep.failures.append(f"oversized: {what}: HTTP {status}, expected one of {sorted(refused)}")
    # the gateway still answers
    rep.eq(stack.request("GET", f"{stack.gateway_url}/api/stats")[0], 200, "GET /api/stats after oversized requests")


def check_auth(stack: Stack, rep: Report) -> None:
    status, _ = stack.request("POST", f"{stack.gateway_url}/api/sync", b"")
    rep.eq(status, 401, "POST /api/sync without the bearer token")
    status, _ = stack.request("POST", f"{stack.gateway_url}/api/sync", b"",
                              {"Authorization": "Bearer wrong" + stack.api_token[5:]})
    rep.eq(status, 401, "POST /api/sync with a wrong bearer token")


# Percent-encoded byte sequences that are not UTF-8, or hold a NUL.
MALFORMED = {
    "stray 0xFF": "%FF",
    "lone continuation byte": "%80",
    "overlong '/' (2 bytes)": "%C0%AF",
    "overlong NUL (2 bytes)": "%C0%80",
    "overlong '/' (3 bytes)": "%E0%80%AF",
    "overlong '/' (4 bytes)": "%F0%80%80%AF",
    "UTF-16 surrogate": "%ED%A0%80",
    "beyond U+10FFFF": "%F4%90%80%80",
    "truncated sequence": "ab%E2%82",
    "NUL": "%00",
    "embedded NUL": "check%00out",
}
QUERY_PARAMS = [("/api/services", p) for p in ("team", "env", "infra", "language", "tier", "q", "sort", "page_token")]
QUERY_PARAMS += [("/api/traces", p) for p in ("service", "missing", "kind", "env", "since", "page_token")]
QUERY_PARAMS += [("/api/coverage", "by"), ("/api/coverage/history", "since"), ("/api/dependencies", "service"),
                 ("/api/services.csv", "team"), ("/services/export", "q"), ("/api/sync-jobs", "limit")]
PATH_PARAMS = [("/api/services/", "name"), ("/api/traces/", "trace_id"), ("/api/sync-jobs/", "id")]


def _expect_400(stack: Stack, rep: Report, url: str, param: str, what: str) -> None:
    req = urllib.request.Request(url, method="GET")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, body, headers = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, body, headers = e.code, e.read(), e.headers
    if status >= 500:
        rep.failures.append(f"{what}: HTTP {status}: {body[:200]!r}")
        return
    if status != 400:
        rep.failures.append(f"{what}: HTTP {status}, expected 400")
        return
    try:
        err = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        rep.failures.append(f"{what}: 400 without the JSON error shape: {body[:200]!r}")
        return
    if err.get("code") != "invalid_argument" or not str(err.get("message", "")).startswith(param + ":"):
        rep.failures.append(f"{what}: 400 {err!r}, expected invalid_argument naming {param!r}")
    if not headers.get("X-Request-Id"):
        rep.failures.append(f"{what}: no X-Request-Id header")


def check_malformed_input(stack: Stack, rep: Report) -> None:
    before = len(rep.failures)
    n = 0
    for path, param in QUERY_PARAMS:
        for what, escaped in MALFORMED.items():
            _expect_400(stack, rep, f"{stack.gateway_url}{path}?{param}={escaped}", param,
                        f"GET {path}?{param}= {what}")
            n += 1
    for prefix, param in PATH_PARAMS:
        for what, escaped in MALFORMED.items():
            _expect_400(stack, rep, f"{stack.gateway_url}{prefix}{escaped}", param, f"GET {prefix}{{{param}}} {what}")
            n += 1
    # Huge page tokens (the request line stays under the server's 64 KiB limit).
    for path in ("/api/services", "/api/traces", "/api/dependencies"):
        for size in (2_000, 30_000, 60_000):
            _expect_400(stack, rep, f"{stack.gateway_url}{path}?page_token={'A' * size}", "page_token",
                        f"GET {path}?page_token= {size} bytes")
            n += 1
    rep.eq(stack.request("GET", f"{stack.gateway_url}/api/stats")[0], 200, "GET /api/stats after malformed input")
    log(f"malformed input: {n} requests, {len(rep.failures) - before} failures")


def check_grpc_auth(stack: Stack, rep: Report) -> None:
    client = stack.grpc()
    grpc = client.grpc
    cases = {"no metadata": None, "a wrong token": [("authorization", "Bearer wrong" + stack.api_token[5:])],
             "the token without its scheme": [("authorization", stack.api_token)]}
    for what, metadata in cases.items():
        try:
            client.stub.TriggerSync(client.pb.TriggerSyncRequest(requested_by="security-check"), timeout=30,
                                    metadata=metadata)
            rep.failures.append(f"gRPC TriggerSync with {what}: accepted (expected UNAUTHENTICATED)")
        except grpc.RpcError as e:
            rep.eq(e.code().name, "UNAUTHENTICATED", f"gRPC TriggerSync with {what}")
    log("grpc auth: TriggerSync without a valid bearer token refused")


def run_all(stack: Stack, rep: Report) -> None:
    check_auth(stack, rep)
    check_grpc_auth(stack, rep)
    check_injection(stack, rep)
    check_malformed_input(stack, rep)
    check_oversized(stack, rep)
    check_secrets(stack, rep)  # last: covers the log lines of everything above
