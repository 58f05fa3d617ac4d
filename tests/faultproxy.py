"""A fault-injecting HTTP/1.1 reverse proxy for tests: a real registry behind, chosen faults in front.

``FaultProxy(upstream)`` listens on ``127.0.0.1:<free port>`` and forwards every request
to ``upstream`` (``host:port`` of a plain-HTTP registry), unless a ``Rule`` matches::

    rule     := method × path regex × occurrence window  →  action
    method   := "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE" | "*"
    path     := a regex searched in the request target (path and query)
    window   := from the nth matching request (1-based, counted by every rule that
                matches it), ``times`` requests (``times=None``: all, a permanent fault);
                when several rules are armed for a request, the first one added acts
    action   := "status"    answer N with the rule's headers and body (the registry never sees it,
                            unless ``forward``: then the registry's answer is replaced)
              | "drop"      close the socket without a reply (after forwarding, with ``forward``)
              | "truncate"  the registry's headers with the real Content-Length, half the body, close
              | "slow"      the registry's headers, then ``delay`` seconds, then the body
              | "corrupt"   the registry's answer with one byte of the body flipped

The request body is always read in full first (``Content-Length`` or chunked), so a
fault never leaves a client blocked on a half-sent upload. ``Location`` headers that
name the upstream are rewritten to the proxy, so an upload session keeps going
through it. With ``upstream=None`` the proxy is a static server: requests no rule
answers get 404.

Every request is logged (method, target, headers, what happened) and every rule
counts the requests it matched (``seen``) and the ones it acted on (``fired``).
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Mapping

__all__ = ["ACTIONS", "Exchange", "FaultProxy", "Rule"]

ACTIONS = ("status", "drop", "truncate", "slow", "corrupt")
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"}
)


@dataclass
class Rule:
    """One fault: which requests it matches and what it does to them."""

    method: str
    path: str
    action: str
    status: int = 500
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    nth: int = 1
    times: int | None = 1
    delay: float = 0.0
    forward: bool = False
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}: one of {', '.join(ACTIONS)}")
        if self.nth < 1 or (self.times is not None and self.times < 1):
            raise ValueError("nth and times count from 1")
        self._pattern = re.compile(self.path)

    @property
    def permanent(self) -> bool:
        return self.times is None

    def matches(self, method: str, target: str) -> bool:
        return self.method in ("*", method) and self._pattern.search(target) is not None

    @property
    def armed(self) -> bool:
        """Whether the request just counted in ``seen`` falls in the rule's window."""
        return self.seen >= self.nth and (self.times is None or self.fired < self.times)


@dataclass(frozen=True)
class Exchange:
    """One request the proxy received, and what it did (``forwarded``, an action name)."""

    method: str
    target: str
    headers: Mapping[str, str]
    outcome: str
    status: int | None


class FaultProxy:
    """A threaded reverse proxy with a rule list; use as a context manager or ``start()``/``stop()``."""

    def __init__(self, upstream: str | None, *, bind: str = "127.0.0.1", timeout: float = 30.0) -> None:
        self.upstream = upstream
        self.timeout = timeout
        self.rules: list[Rule] = []
        self.log: list[Exchange] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((bind, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``: what a reference names to go through the proxy."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> "FaultProxy":
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="faultproxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- rules and the log --------------------------------------------------------

    def add(self, method: str, path: str, action: str, **kw: object) -> Rule:
        rule = Rule(method, path, action, **kw)  # type: ignore[arg-type]
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule (the log stays)."""
        with self._lock:
            self.rules.clear()

    def requests(self, method: str | None = None, path: str | None = None) -> list[Exchange]:
        """Logged exchanges, optionally only those of ``method`` whose target matches ``path``."""
        pattern = re.compile(path) if path else None
        with self._lock:
            log = list(self.log)
        return [e for e in log if (method in (None, e.method)) and (pattern is None or pattern.search(e.target))]

    def _rule_for(self, method: str, target: str) -> Rule | None:
        """Every matching rule counts the request; the first one armed for it acts."""
        with self._lock:
            matching = [r for r in self.rules if r.matches(method, target)]
            for rule in matching:
                rule.seen += 1
            chosen = next((r for r in matching if r.armed), None)
            if chosen is not None:
                chosen.fired += 1
            return chosen

    def _record(self, exchange: Exchange) -> None:
        with self._lock:
            self.log.append(exchange)

    def _rewrite_location(self, value: str) -> str:
        if self.upstream is None:
            return value
        return re.sub(rf"^(https?://){re.escape(self.upstream)}(?=/|$)", rf"\g<1>{self.host}", value)


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle stalls

        def do_GET(self) -> None:
            self._handle()

        do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_GET

        # --- one exchange -----------------------------------------------------------

        def _handle(self) -> None:
            body = self._read_body()
            headers = {k.lower(): v for k, v in self.headers.items()}
            rule = proxy._rule_for(self.command, self.path)
            outcome = rule.action if rule else "forwarded"
            if rule is not None and not rule.forward and rule.action in ("status", "drop"):
                proxy._record(Exchange(self.command, self.path, headers, outcome, rule.status if rule.action == "status" else None))
                if rule.action == "drop":
                    self._drop()
                else:
                    self._reply(rule.status, dict(rule.headers), rule.body)
                return
            if proxy.upstream is None:
                proxy._record(Exchange(self.command, self.path, headers, "no upstream", 404))
                self._reply(404, {"Content-Type": "text/plain"}, b"no rule for this request\n")
                return
            try:
                status, reply_headers, data = self._forward(body)
            except OSError as exc:
                proxy._record(Exchange(self.command, self.path, headers, f"upstream failed: {exc}", 502))
                self._reply(502, {"Content-Type": "text/plain"}, b"upstream failed\n")
                return
            proxy._record(Exchange(self.command, self.path, headers, outcome, status))
            if rule is None:
                self._reply(status, reply_headers, data)
            elif rule.action == "status":
                self._reply(rule.status, dict(rule.headers), rule.body)
            elif rule.action == "drop":
                self._drop()
            elif rule.action == "truncate":
                self._reply(status, reply_headers, data[: len(data) // 2], length=len(data), close=True)
            elif rule.action == "slow":
                self._reply(status, reply_headers, data, delay=rule.delay)
            else:  # corrupt
                self._reply(status, reply_headers, _flip(data))

        def _read_body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                out = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return bytes(out)
                    out += self.rfile.read(size)
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
            conn = http.client.HTTPConnection(proxy.upstream, timeout=proxy.timeout)
            try:
                conn.connect()
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host", "content-length"}}
                headers["Host"] = proxy.upstream
                if body or self.command in ("PUT", "POST", "PATCH"):
                    headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                out: dict[str, str] = {}
                for k, v in resp.getheaders():
                    if k.lower() in _HOP_BY_HOP:
                        continue
                    if k.lower() == "location":
                        v = proxy._rewrite_location(v)
                    out[k] = f"{out[k]}, {v}" if k in out else v
                return resp.status, out, data
            finally:
                conn.close()

        def _reply(
            self,
            status: int,
            headers: dict[str, str],
            data: bytes,
            *,
            length: int | None = None,
            close: bool = False,
            delay: float = 0.0,
        ) -> None:
            self.send_response_only(status)
            keep_length = self.command == "HEAD" and any(k.lower() == "content-length" for k in headers)
            for k, v in headers.items():
                if k.lower() == "content-length" and not keep_length:
                    continue
                self.send_header(k, v)
            if not keep_length:
                self.send_header("Content-Length", str(len(data) if length is None else length))
            if close:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.flush()
            if delay:
                time.sleep(delay)
            if self.command != "HEAD" and data:
                self.wfile.write(data)
            self.wfile.flush()
            if close:
                self._drop()

        def _drop(self) -> None:
            self.close_connection = True
            try:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    return Handler


def _flip(data: bytes) -> bytes:
    """The same length, one byte in the middle changed (an empty body stays empty)."""
    if not data:
        return data
    i = len(data) // 2
    return data[:i] + bytes([data[i] ^ 0x20]) + data[i + 1 :]
