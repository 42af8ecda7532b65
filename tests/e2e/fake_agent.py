"""A fake Datadog Agent for the tracing tests: a real HTTP server on a free loopback port that
takes `PUT|POST /v0.4/traces` (msgpack, decoded here with a small decoder written from the
msgpack specification, so the test does not trust the encoder it checks) and `GET /info`,
checks the headers every tracer sends, and keeps every span it received.
"""

from __future__ import annotations

import json
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class MsgpackError(ValueError):
    pass


def unpack(data: bytes):
    """Decodes one msgpack value that must span all of `data`."""
    value, pos = _unpack(data, 0, 0)
    if pos != len(data):
        raise MsgpackError(f"{len(data) - pos} trailing bytes")
    return value


def _need(data: bytes, pos: int, n: int) -> None:
    if pos + n > len(data):
        raise MsgpackError(f"truncated at byte {pos}")


def _unpack(data: bytes, pos: int, depth: int):
    if depth > 64:
        raise MsgpackError("nested too deep")
    _need(data, pos, 1)
    b = data[pos]
    pos += 1
    if b <= 0x7F:
        return b, pos
    if b >= 0xE0:
        return b - 0x100, pos
    if 0xA0 <= b <= 0xBF:
        return _str(data, pos, b & 0x1F)
    if 0x90 <= b <= 0x9F:
        return _array(data, pos, b & 0x0F, depth)
    if 0x80 <= b <= 0x8F:
        return _map(data, pos, b & 0x0F, depth)
    if b == 0xC0:
        return None, pos
    if b in (0xC2, 0xC3):
        return b == 0xC3, pos
    fixed = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h",
             0xD2: ">i", 0xD3: ">q", 0xCA: ">f", 0xCB: ">d"}
    if b in fixed:
        n = struct.calcsize(fixed[b])
        _need(data, pos, n)
        return struct.unpack_from(fixed[b], data, pos)[0], pos + n
    sized = {0xD9: (1, "s"), 0xDA: (2, "s"), 0xDB: (4, "s"), 0xC4: (1, "b"), 0xC5: (2, "b"),
             0xC6: (4, "b"), 0xDC: (2, "a"), 0xDD: (4, "a"), 0xDE: (2, "m"), 0xDF: (4, "m")}
    if b in sized:
        width, kind = sized[b]
        _need(data, pos, width)
        n = int.from_bytes(data[pos:pos + width], "big")
        pos += width
        if kind == "s":
            return _str(data, pos, n)
        if kind == "b":
            _need(data, pos, n)
            return bytes(data[pos:pos + n]), pos + n
        if kind == "a":
            return _array(data, pos, n, depth)
        return _map(data, pos, n, depth)
    raise MsgpackError(f"type byte 0x{b:02x} at {pos - 1} is not used by v0.4 payloads")


def _str(data, pos, n):
    _need(data, pos, n)
    return data[pos:pos + n].decode("utf-8"), pos + n


def _array(data, pos, n, depth):
    out = []
    for _ in range(n):
        v, pos = _unpack(data, pos, depth + 1)
        out.append(v)
    return out, pos


def _map(data, pos, n, depth):
    out = {}
    for _ in range(n):
        k, pos = _unpack(data, pos, depth + 1)
        v, pos = _unpack(data, pos, depth + 1)
        out[k] = v
    return out, pos


SPAN_FIELDS = {"trace_id", "span_id", "parent_id", "service", "name", "resource", "type",
               "start", "duration", "error", "meta", "metrics"}


class FakeAgent:
    """Use as a context manager; `url` is where tracers send, `spans()` what they sent."""

    def __init__(self):
        self._lock = threading.Lock()
        self._spans: list[dict] = []
        self.payloads = 0
        self.errors: list[str] = []
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, code: int, doc: dict) -> None:
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/info":
                    self._answer(200, {"version": "fake", "endpoints": ["/v0.4/traces", "/info"]})
                else:
                    self._answer(404, {"error": "not found"})

            def do_PUT(self):
                if self.path != "/v0.4/traces":
                    self._answer(404, {"error": "not found"})
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                problem = agent._take(self.headers, body)
                if problem:
                    agent.errors.append(problem)
                    self._answer(400, {"error": problem})
                else:
                    self._answer(200, {"rate_by_service": {"service:,env:": 1}})

            do_POST = do_PUT

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _take(self, headers, body: bytes) -> str:
        if headers.get("Content-Type") != "application/msgpack":
            return f"Content-Type {headers.get('Content-Type')!r}"
        if headers.get("Datadog-Meta-Lang") != "cpp":
            return f"Datadog-Meta-Lang {headers.get('Datadog-Meta-Lang')!r}"
        for h in ("Datadog-Meta-Lang-Version", "Datadog-Meta-Tracer-Version"):
            if not headers.get(h):
                return f"{h} missing"
        try:
            traces = unpack(body)
        except (MsgpackError, UnicodeDecodeError) as e:
            return f"not msgpack: {e}"
        if not isinstance(traces, list):
            return "the payload is not an array of traces"
        if headers.get("X-Datadog-Trace-Count") != str(len(traces)):
            return f"X-Datadog-Trace-Count {headers.get('X-Datadog-Trace-Count')} for {len(traces)}"
        got = []
        for i, chunk in enumerate(traces):
            if not isinstance(chunk, list) or not chunk:
                return f"trace {i} is not a non-empty array"
            for j, span in enumerate(chunk):
                if not isinstance(span, dict) or not SPAN_FIELDS <= set(span):
                    return f"trace {i} span {j} lacks {sorted(SPAN_FIELDS - set(span or {}))}"
                if span["trace_id"] != chunk[0]["trace_id"]:
                    return f"trace {i} mixes trace ids"
                got.append(span)
        with self._lock:
            self._spans.extend(got)
            self.payloads += 1
        return ""

    def spans(self) -> list[dict]:
        with self._lock:
            return list(self._spans)

    def __enter__(self) -> "FakeAgent":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
