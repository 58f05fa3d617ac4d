"""OCI distribution client: one registry host over httpx (behaviour.md §2.4, §6, §8.7, §9).

Requests (distribution-spec v1.1, ``<name>`` is the repository path)::

    GET       /v2/                                      ping (login checks credentials)
    HEAD|GET  /v2/<name>/manifests/<tag|digest>         Accept: the four manifest types
    PUT       /v2/<name>/manifests/<tag|digest>         Content-Type: the media type -> 201
    DELETE    /v2/<name>/manifests/<digest>             -> 202
    HEAD|GET  /v2/<name>/blobs/<digest>                 a GET may redirect to another host
    POST      /v2/<name>/blobs/uploads/                 -> 202 + Location (absolute or relative)
    PUT       <location>[?&]digest=<digest>             streamed body, Content-Length -> 201
    POST      /v2/<name>/blobs/uploads/?mount=<d>&from=<other>   201 mounted | 202 session
    GET       /v2/<name>/tags/list[?n=<n>]              next page in  Link: <url>; rel="next"
    GET       /v2/<name>/referrers/<digest>             404 -> read the tag <alg>-<encoded>

Scheme (§8.7): https with verification, except for loopback hosts (``localhost``,
127.0.0.0/8, ``::1``) and hosts the options call insecure, which may use plain
http or unverified https: port 443 or none tries https first, any other port
plain http first; the other scheme is tried when the first fails like a
scheme mismatch, and the choice is remembered on the client.

Retries: requests safe to repeat (GET, HEAD, PUT of a manifest, the POST that
starts an upload, the PUT of a re-openable blob) are retried on transport errors
and 408/429/500/502/503/504, up to ``Options.max_attempts`` in all, after a
capped, jittered exponential backoff; ``Retry-After`` on 429/503 is honoured
unless it exceeds ``Options.max_backoff``, and then the request fails at once.
A Docker Hub pull-limit 429 is never retried without waiting. A blob download
whose connection breaks mid-body is resumed (``Range``) within the same budget.

Rate-limit headers (§9)::

    ratelimit-limit     := count [";w=" window-seconds]
    ratelimit-remaining := count [";w=" window-seconds]
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import socket
import ssl
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, TypeVar
from urllib.parse import quote

import httpx

from .. import auth, mediatypes
from ..digest import Digest, Hasher
from ..errors import (
    IntegrityError,
    ManifoldError,
    RegistryAuthError,
    RegistryError,
    RegistryNotFoundError,
    UnsupportedDocumentError,
    redact,
)
from ..options import Options, RequestEvent
from ..reference import is_loopback, split_host_port
from .base import BlobInfo, Fetched, ManifestInfo, Store

__all__ = ["CHUNK_SIZE", "RateLimit", "RegistryClient", "RegistryStore", "referrers_tag"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: largest piece of a blob held in memory while streaming it
CHUNK_SIZE = 1 << 20
#: blobs larger than this are uploaded in PATCH chunks of this size (a proxy in front of a
#: registry often caps one request body; a failed chunk resumes where the registry says it is)
UPLOAD_CHUNK = 64 << 20
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_ERROR_BODY_CAP = 64 << 10
_LIST_BODY_CAP = 32 << 20  # one page of tags or referrers
_BACKOFF_BASE = 0.5
_MAX_PAGES = 10_000
_GENERIC_TYPES = frozenset({"", "application/json", "application/octet-stream", "text/plain"})
_OK = tuple(range(200, 300))
# extension keys: the scopes RegistryAuth honours, and our own bookkeeping for -v
_SCOPES, _NOTE, _T0 = "manifold_scopes", "manifold_note", "manifold_t0"

# --- value helpers ---------------------------------------------------------

_QUOTA = re.compile(r"^\s*(?P<count>\d+)\s*(?:;.*?\bw\s*=\s*(?P<window>\d+))?")
_WARNING_299 = re.compile(r'(?:^|,)\s*299\s+\S+\s+"(?P<text>(?:[^"\\]|\\.)*)"')
_LINK_NEXT = re.compile(r'<(?P<url>[^>]*)>\s*;[^,]*?\brel\s*=\s*"?next"?', re.I)
_TLS_ONLY = re.compile(rb"(?i)\bhttps\s+(?:server|port)\b")
_TAG_INVALID = re.compile(r"[^a-zA-Z0-9_.-]")
_HTML_TAG = re.compile(r"<[^>]*>")


def referrers_tag(digest: Digest) -> str:
    """The referrers tag schema (§6.3, vectors RT): ``<alg>-<encoded>``, truncated, tag-safe."""
    return _TAG_INVALID.sub("-", f"{digest.algorithm[:32]}-{digest.encoded[:64]}")


class RateLimit(NamedTuple):
    """Docker Hub's ``ratelimit-limit`` / ``ratelimit-remaining`` headers (§9, vectors RL)."""

    limit: int | None = None
    remaining: int | None = None
    window: int | None = None  # seconds

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> "RateLimit | None":
        """``None`` when the response carries no rate-limit header (unlimited or unknown)."""
        low = {k.lower(): v for k, v in headers.items()}
        limit, w1 = _quota(low.get("ratelimit-limit"))
        remaining, w2 = _quota(low.get("ratelimit-remaining"))
        if limit is None and remaining is None:
            return None
        return cls(limit, remaining, w2 if w2 is not None else w1)

    @property
    def note(self) -> str:
        """``ratelimit-remaining=20;w=21600`` (the limit when nothing remains is known)."""
        name, count = ("remaining", self.remaining) if self.remaining is not None else ("limit", self.limit)
        return f"ratelimit-{name}={count}" + (f";w={self.window}" if self.window is not None else "")


def _quota(value: str | None) -> tuple[int | None, int | None]:
    m = _QUOTA.match(value or "")
    if not m:
        return None, None
    return int(m.group("count")), int(m.group("window")) if m.group("window") else None


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            import email.utils  # only for an HTTP-date Retry-After: keep it off start-up

            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _parse_errors(body: bytes) -> tuple[tuple[str, ...], str]:
    """The registry's ``errors[]`` codes and the Go client's text (``manifest unknown: …``)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
        return (), ""
    errs = doc.get("errors") if isinstance(doc, dict) else None
    codes: list[str] = []
    parts: list[str] = []
    for e in errs if isinstance(errs, list) else ():
        if not isinstance(e, dict):
            continue
        code = str(e.get("code") or "UNKNOWN")
        codes.append(code)
        text = code.lower().replace("_", " ")
        parts.append(f"{text}: {e['message']}" if e.get("message") else text)
    return tuple(codes), "; ".join(parts)


def _snippet(body: bytes, limit: int = 200) -> str:
    text = " ".join(_HTML_TAG.sub(" ", body[: limit * 4].decode("utf-8", "replace")).split())
    return text[:limit] + ("…" if len(text) > limit else "")


def _is_pull_limit(body: bytes) -> bool:
    codes, text = _parse_errors(body)
    return "TOOMANYREQUESTS" in codes and "pull rate limit" in text.lower()


def _with_param(url: str, key: str, value: str) -> str:
    """Append a query parameter, keeping the URL (and its query) exactly as given."""
    sep = "" if url.endswith(("?", "&")) else "&" if "?" in url else "?"
    return f"{url}{sep}{key}={quote(value, safe=':')}"


def _transient(exc: httpx.RequestError) -> bool:
    if not isinstance(exc, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)):
        return False
    cause: BaseException | None = exc
    while cause is not None:  # unknown host names and bad certificates do not heal
        if isinstance(cause, (socket.gaierror, ssl.SSLCertVerificationError)):
            return False
        cause = cause.__cause__ or cause.__context__
    return True


def _port(host: str) -> int | None:
    try:
        return split_host_port(host)[1]
    except ManifoldError:
        return None


def _unverified_tls() -> ssl.SSLContext:
    """A TLS context that loads no CA bundle and verifies nothing (loopback / insecure hosts)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class _Reply(NamedTuple):
    """A finished exchange whose body was read (within a cap)."""

    status: int
    headers: httpx.Headers
    url: httpx.URL
    data: bytes


def _reader(cap: int, refuse: Callable[[str], ManifoldError]) -> Callable[[httpx.Response], _Reply]:
    """Read a body, never buffering much more than ``cap`` bytes (checks Content-Length first)."""

    def read(resp: httpx.Response) -> _Reply:
        try:
            length = resp.headers.get("content-length", "")
            if length.isdigit() and int(length) > cap:
                raise refuse(f"rejecting {length} byte document (limit {cap} bytes)")
            buf = bytearray()
            for chunk in resp.iter_bytes():
                buf += chunk
                if len(buf) > cap:
                    raise refuse(f"rejecting document larger than {cap} bytes")
            return _Reply(resp.status_code, resp.headers, resp.url, bytes(buf))
        finally:
            resp.close()

    return read


def _headers_only(resp: httpx.Response) -> _Reply:
    resp.close()
    return _Reply(resp.status_code, resp.headers, resp.url, b"")


def _error_body(resp: httpx.Response) -> bytes:
    """At most ``_ERROR_BODY_CAP`` bytes of an error response (the rest is dropped)."""
    buf = bytearray()
    try:
        if resp.request.method != "HEAD":
            for chunk in resp.iter_bytes():
                buf += chunk[: _ERROR_BODY_CAP - len(buf)]
                if len(buf) >= _ERROR_BODY_CAP:
                    break
    finally:
        resp.close()
    return bytes(buf)


def _small(what: str) -> Callable[[httpx.Response], _Reply]:
    """Reader for small JSON answers (uploads, pushes, ping)."""
    return _reader(_ERROR_BODY_CAP, lambda m: UnsupportedDocumentError(f"{what}: {m}"))


# --- the client -----------------------------------------------------------


class RegistryClient:
    """One registry host: one httpx.Client (keep-alive pool), one auth flow, shared by all repositories and threads."""

    def __init__(
        self,
        host: str,
        options: Options,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.host = host
        self.options = options
        self._sleep = sleep
        self._random = random.Random()
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self.insecure = is_loopback(host) or options.is_insecure(host)
        if not self.insecure:
            self._schemes: tuple[str, ...] = ("https",)
        else:
            self._schemes = ("https", "http") if _port(host) in (None, 443) else ("http", "https")
        self._scheme: str | None = self._schemes[0] if len(self._schemes) == 1 else None
        keychain = options.keychain if options.keychain is not None else auth.DockerKeychain(options.env)
        # the token exchanges of the flow pass through this client, so -v sees them as requests
        self._auth = auth.RegistryAuth(host, keychain, allow_basic_over_http=self.insecure)
        self._http = httpx.Client(
            transport=transport,
            verify=_unverified_tls() if self.insecure else True,
            auth=self._auth,
            timeout=httpx.Timeout(options.timeout),
            headers={"User-Agent": options.user_agent},
            limits=httpx.Limits(max_keepalive_connections=max(20, options.concurrency)),
            event_hooks={"request": [self._on_request], "response": [self._on_response]},
        )

    def store(self, repository: str, *, display: str | None = None) -> "RegistryStore":
        return RegistryStore(self, repository, display=display)

    def ping(self) -> None:
        """``GET /v2/``: raises ``RegistryAuthError`` when the credentials are refused."""
        what = f"GET /v2/ on {self.host}"
        self.call("GET", "/v2/", _small(what), what=what)

    @property
    def scheme(self) -> str | None:
        """``https`` or ``http`` once known."""
        with self._lock:
            return self._scheme

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "RegistryClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RegistryClient({self.host!r})"

    # --- one request, with retries ------------------------------------------

    def call(
        self,
        method: str,
        target: str,
        finish: Callable[[httpx.Response], T],
        *,
        what: str,
        scopes: tuple[str, ...] = (),
        write: bool = False,
        denied_for: str | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | Iterable[bytes] | None = None,
        retry: bool = True,
        follow_redirects: bool = False,
        ok: tuple[int, ...] = (200,),
        allow: tuple[int, ...] = (),
    ) -> T:
        """Send ``method target`` (a ``/v2/…`` path or an absolute URL) and ``finish`` the response.

        ``finish`` gets a streamed response whose status is in ``ok`` or ``allow``;
        any other status becomes a ``RegistryError`` after the retries allowed.
        """
        attempts = max(1, self.options.max_attempts) if retry else 1
        reason = ""
        for attempt in range(1, attempts + 1):
            note = f"retry {attempt - 1}/{attempts - 1} after {reason}" if attempt > 1 else ""
            try:
                resp = self._send(method, target, scopes, headers, content, follow_redirects, note)
                if resp.status_code in ok or resp.status_code in allow:
                    try:
                        return finish(resp)
                    except BaseException:
                        resp.close()
                        raise
                body = _error_body(resp)
            except httpx.TransportError as exc:
                if attempt < attempts and _transient(exc):
                    reason = type(exc).__name__
                    self._sleep(self._backoff(attempt))
                    continue
                raise self._transport_error(exc, method, target, what, attempt) from None
            except httpx.RequestError as exc:  # too many redirects, undecodable body …
                raise self._transport_error(exc, method, target, what, attempt) from None
            except httpx.StreamConsumed:  # a challenge asked to re-send a streamed body: the caller may re-open it
                raise RegistryError(
                    f"{what}: the registry asked for the streamed body again (an authentication challenge)",
                    status=None, method=method, url=target,
                ) from None  # fmt: skip
            except RegistryError as exc:  # the auth flow's token server failed
                if attempt < attempts and exc.status in _RETRY_STATUSES:
                    reason = f"token server {exc.status}"
                    self._sleep(self._backoff(attempt))
                    continue
                raise
            delay = self._retry_delay(resp, body, attempt, attempts) if retry else None
            if delay is None:
                raise self._error(resp, body, method, what, write=write, denied_for=denied_for)
            reason = str(resp.status_code)
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self,
        method: str,
        target: str,
        scopes: tuple[str, ...],
        headers: Mapping[str, str] | None,
        content: bytes | Iterable[bytes] | None,
        follow: bool,
        note: str,
    ) -> httpx.Response:
        """One attempt; for a ``/v2/`` path, try the candidate schemes until one answers."""
        if not target.startswith("/"):
            return self._send_url(method, target, scopes, headers, content, follow, note)
        decided = self.scheme
        schemes = (decided,) if decided else self._schemes
        first: httpx.TransportError | None = None
        for i, scheme in enumerate(schemes):
            last = i == len(schemes) - 1
            try:
                resp = self._send_url(method, f"{scheme}://{self.host}{target}", scopes, headers, content, follow, note)
            except httpx.TransportError as exc:
                if last:
                    raise (first or exc)
                first = exc
                continue
            if not decided and not last and scheme == "http" and resp.status_code == 400:
                if _TLS_ONLY.search(resp.read()):  # "Client sent an HTTP request to an HTTPS server."
                    resp.close()
                    continue
            if not decided:
                with self._lock:
                    self._scheme = scheme
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_url(
        self,
        method: str,
        url: str,
        scopes: tuple[str, ...],
        headers: Mapping[str, str] | None,
        content: bytes | Iterable[bytes] | None,
        follow: bool,
        note: str,
    ) -> httpx.Response:
        request = self._http.build_request(
            method, url, headers=headers, content=content, extensions={_SCOPES: scopes, _NOTE: note}
        )
        started = time.monotonic()
        try:
            return self._http.send(request, stream=True, follow_redirects=follow)
        except httpx.RequestError as exc:
            self._event(request, None, time.monotonic() - started, f"{note} {type(exc).__name__}".strip())
            raise

    # --- retry policy ---------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        cap = max(0.0, self.options.max_backoff)
        return min(cap, _BACKOFF_BASE * 2 ** (attempt - 1)) * (0.5 + self._random.random() / 2)

    def _retry_delay(self, resp: httpx.Response, body: bytes, attempt: int, attempts: int) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to fail now."""
        status = resp.status_code
        if status not in _RETRY_STATUSES or attempt >= attempts:
            return None
        wait = _retry_after(resp.headers.get("retry-after")) if status in (429, 503) else None
        if wait is not None:
            return wait if wait <= self.options.max_backoff else None
        if status == 429 and _is_pull_limit(body):
            return None  # a pull limit lasts hours: retrying at once only spends more of it
        return self._backoff(attempt)

    # --- errors ------------------------------------------------------------

    def _error(
        self, resp: httpx.Response, body: bytes, method: str, what: str, *, write: bool, denied_for: str | None
    ) -> RegistryError:
        status = resp.status_code
        codes, detail = _parse_errors(body)
        if not detail:
            detail = f"{status} {resp.reason_phrase or httpx.codes.get_reason_phrase(status)}".strip()
            snippet = _snippet(body)
            if snippet and snippet.lower() not in detail.lower():
                detail += f": {snippet}"
        kw: dict[str, Any] = {"status": status, "method": method, "url": str(resp.request.url), "codes": codes}
        if status in (401, 403):
            access = "push" if write else "pull"
            whom = f" for {denied_for}, repository does not exist or may require authentication" if denied_for else ""
            return RegistryAuthError(
                redact(f"{what}: {access} access denied{whom}: {detail}"),
                hint=f"log in with: manifold login {self.host}",
                **kw,
            )
        if status == 404:
            return RegistryNotFoundError(redact(f"{what}: {detail}"), **kw)
        hint = None
        if status == 429:
            wait = _retry_after(resp.headers.get("retry-after"))
            hint = f"the registry asks to wait {wait:.0f} s before retrying" if wait is not None else None
            if _is_pull_limit(body):
                hint = "authenticate (manifold login) or wait for the pull limit window to pass"
        return RegistryError(redact(f"{what}: {detail}"), hint=hint, **kw)

    def _transport_error(
        self, exc: httpx.RequestError, method: str, target: str, what: str, attempts: int
    ) -> RegistryError:
        cause = str(exc).strip()
        text = f"{type(exc).__name__}: {cause}" if cause else type(exc).__name__
        hint = f"gave up after {attempts} attempt{'s' if attempts != 1 else ''}"
        if "CERTIFICATE_VERIFY_FAILED" in cause or "WRONG_VERSION_NUMBER" in cause:
            hint = f"for a registry without trusted TLS: --insecure or MANIFOLD_INSECURE_REGISTRIES={self.host}"
        url = target if not target.startswith("/") else f"{self.scheme or self._schemes[0]}://{self.host}{target}"
        return RegistryError(
            redact(f"{what}: cannot reach {self.host}: {text}"), status=None, method=method, url=url, hint=hint
        )

    # --- -v events and registry warnings ------------------------------------------

    def _on_request(self, request: httpx.Request) -> None:
        request.extensions[_T0] = time.monotonic()

    def _on_response(self, response: httpx.Response) -> None:
        """Every exchange (registry, redirect target, token server) becomes one ``RequestEvent``."""
        ext = response.request.extensions
        if _NOTE in ext:  # the registry's own answers (token servers' warnings are not ours to show)
            self._show_warnings(response.headers.get_list("warning"))
        seconds = time.monotonic() - ext.get(_T0, time.monotonic())
        limits = RateLimit.from_headers(response.headers)
        note = " ".join(p for p in (ext.get(_NOTE, ""), limits.note if limits else "") if p)
        self._event(response.request, response.status_code, seconds, note)

    def _event(self, request: httpx.Request, status: int | None, seconds: float, note: str) -> None:
        if self.options.on_request is not None:
            self.options.on_request(RequestEvent(request.method, redact(str(request.url)), status, seconds, note))

    def _show_warnings(self, values: list[str]) -> None:
        for value in values:
            for m in _WARNING_299.finditer(value):
                text = m.group("text").replace('\\"', '"')[:4096]
                with self._lock:
                    if text in self._warned:
                        continue
                    self._warned.add(text)
                log.warning("registry %s: %s", self.host, text)


# --- one repository --------------------------------------------------------------


class RegistryStore:
    """A repository in a registry: the ``Store`` protocol over a shared ``RegistryClient``."""

    def __init__(self, client: RegistryClient, repository: str, *, display: str | None = None) -> None:
        self.client = client
        self.repository = repository
        self.display = display or f"{client.host}/{repository}"
        self._pull = (auth.scope(repository, "pull"),)
        self._push = (auth.scope(repository, "pull,push"),)

    def __repr__(self) -> str:
        return f"RegistryStore({self.display!r})"

    def close(self) -> None:
        """Nothing to release: the client (and its pool) belongs to whoever made it."""

    # --- helpers ------------------------------------------------------------------

    def _path(self, kind: str, ref: str | Digest) -> str:
        return f"/v2/{self.repository}/{kind}/{ref}"

    def _name(self, ref: str | Digest) -> str:
        short = self.repository.rsplit("/", 1)[-1]
        return f"{short}@{ref}" if isinstance(ref, Digest) else f"{short}:{ref}"

    def _call(self, method: str, target: str, finish: Callable[[httpx.Response], T], what: str, **kw: Any) -> T:
        write = method not in ("GET", "HEAD")
        kw.setdefault("scopes", self._push if write else self._pull)
        return self.client.call(method, target, finish, what=what, write=write, denied_for=self.display, **kw)

    @staticmethod
    def _ref(ref: str | Digest) -> str | Digest:
        return Digest.parse(ref) if isinstance(ref, str) and ":" in ref else ref

    # --- manifests ------------------------------------------------------------------

    def get_manifest(self, ref: str | Digest) -> Fetched:
        ref = self._ref(ref)
        what = f"GET manifest {self._name(ref)} from {self.display}"
        refuse = lambda m: UnsupportedDocumentError(f"{what}: {m}")  # noqa: E731
        reply = self._call(
            "GET", self._path("manifests", ref), _reader(mediatypes.MAX_MANIFEST_SIZE, refuse), what,
            headers={"Accept": mediatypes.ACCEPT_MANIFESTS},
        )  # fmt: skip
        header = reply.headers.get("docker-content-digest", "")
        claimed = Digest.parse(header) if Digest.is_valid(header) else None
        algorithm = ref.algorithm if isinstance(ref, Digest) else claimed.algorithm if claimed else "sha256"
        digest = Digest.of(reply.data, algorithm)
        if isinstance(ref, Digest) and digest != ref:
            raise IntegrityError(f"{what}: digest mismatch: expected {ref}, got {digest}")
        if claimed is not None and claimed.algorithm == algorithm and claimed != digest:
            raise IntegrityError(f"{what}: Docker-Content-Digest {claimed} does not match the body ({digest})")
        media_type = mediatypes.base(reply.headers.get("content-type"))
        if media_type in _GENERIC_TYPES:
            try:
                media_type = mediatypes.detect_bytes(reply.data) or media_type
            except RecursionError:  # nested too deep for json (detect_bytes lets it through); parsing refuses it
                pass
        return Fetched(reply.data, media_type, digest)

    def head_manifest(self, ref: str | Digest) -> ManifestInfo | None:
        ref = self._ref(ref)
        what = f"HEAD manifest {self._name(ref)} from {self.display}"
        reply = self._call(
            "HEAD", self._path("manifests", ref), _headers_only, what,
            headers={"Accept": mediatypes.ACCEPT_MANIFESTS}, allow=(400, 401, 403, 404, 405),
        )  # fmt: skip
        if reply.status == 404:
            return None
        header = reply.headers.get("docker-content-digest", "")
        length = reply.headers.get("content-length", "")
        media_type = mediatypes.base(reply.headers.get("content-type"))
        if reply.status == 200 and Digest.is_valid(header) and length.isdigit() and media_type not in _GENERIC_TYPES:
            digest = Digest.parse(header)
            if not isinstance(ref, Digest) or digest == ref:
                return ManifestInfo(media_type, digest, int(length))
        try:  # 405, an error without a body, headers missing or odd: the GET tells all (and verifies)
            fetched = self.get_manifest(ref)
        except RegistryNotFoundError:
            return None
        return ManifestInfo(fetched.media_type, fetched.digest, fetched.size)

    def put_manifest(self, data: bytes, media_type: str, *, tag: str | None = None) -> Digest:
        digest = Digest.of(data)
        ref: str | Digest = tag if tag else digest
        what = f"PUT manifest {self._name(ref)} to {self.display}"
        reply = self._call(
            "PUT", self._path("manifests", ref), _small(what), what,
            headers={"Content-Type": media_type}, content=data, ok=_OK,
        )  # fmt: skip
        self._check_returned_digest(reply, digest, what)
        return digest

    def delete_manifest(self, digest: Digest) -> None:
        what = f"DELETE manifest {self._name(digest)} from {self.display}"
        self._call(
            "DELETE", self._path("manifests", digest), _small(what), what,
            scopes=(auth.scope(self.repository, "delete"),), ok=_OK, retry=False,
        )  # fmt: skip

    def tags(self, page_size: int | None = None) -> list[str]:
        """Every tag, following ``Link: <…>; rel="next"`` pages (``page_size`` asks for ``n``)."""
        what = f"GET tags of {self.display}"
        target = f"/v2/{self.repository}/tags/list" + (f"?n={page_size}" if page_size else "")
        out: list[str] = []
        for page, _ in self._pages(target, what, {}):
            out.extend(t for t in page.get("tags") or () if isinstance(t, str))
        return out

    def referrers(self, digest: Digest, artifact_type: str | None = None) -> list[dict]:
        """Descriptors of the manifests whose ``subject`` is ``digest``.

        Uses the referrers API; a 404 means the registry has none, and the
        referrers tag (``sha256-<hex>``) is read instead (§6.4).
        """
        what = f"GET referrers of {self._name(digest)} from {self.display}"
        target = f"/v2/{self.repository}/referrers/{digest}"
        if artifact_type:
            target = _with_param(target, "artifactType", artifact_type)
        found: list[dict] = []
        filtered = False
        try:
            for page, reply in self._pages(target, what, {"Accept": mediatypes.OCI_INDEX}):
                found.extend(m for m in page.get("manifests") or () if isinstance(m, dict))
                filtered = filtered or "artifacttype" in reply.headers.get("oci-filters-applied", "").lower()
        except RegistryNotFoundError:
            try:
                index = json.loads(self.get_manifest(referrers_tag(digest)).data)
            except RegistryNotFoundError:
                return []
            except (ValueError, RecursionError) as exc:
                raise UnsupportedDocumentError(f"{what}: the referrers tag is not JSON: {exc}") from None
            entries = index.get("manifests") if isinstance(index, dict) else None
            found = [m for m in entries or () if isinstance(m, dict)]
        if artifact_type and not filtered:
            found = [m for m in found if m.get("artifactType") == artifact_type]
        return found

    def _pages(self, target: str, what: str, headers: Mapping[str, str]) -> Iterator[tuple[dict, _Reply]]:
        """JSON pages of a list, following same-origin ``Link: <…>; rel="next"``."""
        refuse = lambda m: UnsupportedDocumentError(f"{what}: {m}")  # noqa: E731
        seen: set[str] = set()
        next_target: str | None = target
        while next_target and len(seen) < _MAX_PAGES:
            seen.add(next_target)
            reply = self._call("GET", next_target, _reader(_LIST_BODY_CAP, refuse), what, headers=headers)
            try:
                page = json.loads(reply.data)
            except (ValueError, RecursionError) as exc:
                raise UnsupportedDocumentError(f"{what}: the response is not JSON: {exc}") from None
            if not isinstance(page, dict):
                raise UnsupportedDocumentError(f"{what}: the response is not a JSON object")
            yield page, reply
            m = _LINK_NEXT.search(reply.headers.get("link", ""))
            nxt = reply.url.join(m.group("url")) if m else None
            if nxt is None or nxt.scheme != reply.url.scheme or nxt.netloc != reply.url.netloc:
                return  # a next page on another host is not followed: our credentials stay here
            next_target = None if str(nxt) in seen else str(nxt)

    def _check_returned_digest(self, reply: _Reply, digest: Digest, what: str) -> None:
        header = reply.headers.get("docker-content-digest")
        if header and Digest.is_valid(header):
            got = Digest.parse(header)
            if got.algorithm == digest.algorithm and got != digest:
                raise IntegrityError(f"{what}: the registry stored {got}, expected {digest}")

    # --- blobs ---------------------------------------------------------------------

    def blob_info(self, digest: Digest) -> BlobInfo | None:
        """A HEAD; ``size`` is -1 if the registry sent no Content-Length."""
        what = f"HEAD blob {digest} from {self.display}"
        reply = self._call(
            "HEAD", self._path("blobs", digest), _headers_only, what,
            follow_redirects=True, allow=(404,),
        )  # fmt: skip
        if reply.status == 404:
            return None
        length = reply.headers.get("content-length", "")
        return BlobInfo(digest, int(length) if length.isdigit() else -1)

    def get_blob(self, digest: Digest, *, max_size: int = 4 << 20) -> bytes:
        what = f"GET blob {digest} from {self.display}"
        refuse = lambda m: UnsupportedDocumentError(f"{what}: {m}")  # noqa: E731
        reply = self._call("GET", self._path("blobs", digest), _reader(max_size, refuse), what, follow_redirects=True)
        got = Digest.of(reply.data, digest.algorithm)
        if got != digest:
            raise IntegrityError(f"{what}: digest mismatch: got {got}")
        return reply.data

    def open_blob(self, digest: Digest) -> Iterator[bytes]:
        """Chunks of at most ``CHUNK_SIZE``; the request is made on the first ``next()``.

        A connection that fails mid-body is resumed, up to ``Options.max_attempts`` in
        all: ``Range: bytes=<received>-``, or the bytes already passed on are skipped
        when the registry answers the whole blob again.
        """
        what = f"GET blob {digest} from {self.display}"
        hasher = Hasher(digest.algorithm)
        attempts = max(1, self.client.options.max_attempts)
        length = ""
        for attempt in range(1, attempts + 1):
            got = hasher.size
            resp = self._call(
                "GET", self._path("blobs", digest), lambda r: r, what, follow_redirects=True,
                headers={"Range": f"bytes={got}-"} if got else None, ok=(200, 206) if got else (200,),
            )  # fmt: skip
            if attempt == 1:  # a transfer encoding (gzip from a CDN) makes it the encoded size: then only the digest counts
                length = "" if resp.headers.get("content-encoding") else resp.headers.get("content-length", "")
            skip = got if resp.status_code == 200 else 0
            try:
                for chunk in resp.iter_bytes(CHUNK_SIZE):
                    if skip:
                        chunk, skip = chunk[skip:], max(0, skip - len(chunk))
                        if not chunk:
                            continue
                    hasher.update(chunk)
                    yield chunk
                break
            except httpx.RequestError as exc:
                if attempt < attempts and _transient(exc):
                    log.debug("%s: %s after %d bytes; resuming", what, type(exc).__name__, hasher.size)
                    self.client._sleep(self.client._backoff(attempt))
                    continue
                raise RegistryError(
                    redact(f"{what}: connection to {self.client.host} failed mid-blob: {type(exc).__name__}: {exc}"),
                    method="GET", url=str(resp.request.url),
                    hint=f"gave up after {attempt} attempt{'s' if attempt != 1 else ''}",
                ) from None  # fmt: skip
            finally:
                resp.close()
        if length.isdigit() and hasher.size != int(length):
            raise IntegrityError(f"{what}: got {hasher.size} of {length} bytes")
        if hasher.digest() != digest:
            raise IntegrityError(f"{what}: digest mismatch: got {hasher.digest()}")

    def put_blob(
        self,
        digest: Digest,
        size: int,
        chunks: Iterable[bytes] | Callable[[], Iterable[bytes]],
        *,
        mount_from: Store | None = None,
    ) -> str:
        """Mount from ``mount_from`` on this registry (one POST: 201 mounted, or 202 and the
        session it opened takes the upload), else HEAD then a monolithic upload (POST, then
        a streamed PUT); retried only when ``chunks`` can be re-opened."""
        location: str | None = None
        if self._mountable(mount_from):
            mounted, location = self._mount(digest, mount_from)  # type: ignore[arg-type]
            if mounted:
                return "mounted"
        elif self.blob_info(digest) is not None:
            return "present"
        what = f"upload blob {digest} to {self.display}"
        reopen = chunks if callable(chunks) else None
        if size > UPLOAD_CHUNK:
            self._put_chunked(digest, size, reopen or (lambda: chunks), location, what, resumable=reopen is not None)
            return "uploaded"
        tries = max(1, self.client.options.max_attempts) if reopen else 1
        for attempt in range(1, tries + 1):
            source = reopen() if reopen else chunks
            if location is None:
                location = self._start_upload(what)
            try:
                reply = self._call(
                    "PUT", _with_param(location, "digest", str(digest)),
                    _small(what), what,
                    headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                    content=_verified(source, digest, size, what), ok=_OK, retry=False,
                )  # fmt: skip
            except RegistryError as exc:
                # a 401 on the streamed PUT came back unanswered (a body cannot be sent twice):
                # the auth flow has the challenge now and answers it ahead on the next attempt
                challenged = exc.status == 401 and attempt == 1
                transient = exc.status is None or exc.status in _RETRY_STATUSES
                if attempt >= tries or not (challenged or transient):
                    if transient and attempt > 1:  # each PUT was one attempt: say how many were made
                        exc.hint = f"gave up after {attempt} attempts"
                    raise
                if not challenged:
                    self.client._sleep(self.client._backoff(attempt))
                location = None  # a failed session is not reused
                continue
            self._check_returned_digest(reply, digest, what)
            return "uploaded"
        raise AssertionError("unreachable")  # pragma: no cover

    def _put_chunked(
        self,
        digest: Digest,
        size: int,
        reopen: Callable[[], Iterable[bytes]],
        location: str | None,
        what: str,
        *,
        resumable: bool,
    ) -> None:
        """POST, then ``PATCH`` chunks of ``UPLOAD_CHUNK`` bytes (``Content-Range``), then ``PUT ?digest=``.

        A chunk that fails transiently is resumed: ``GET <location>`` says how many bytes the
        registry holds (``Range: 0-N``), the source is re-opened and read past them. Memory
        stays bounded by one source chunk.
        """
        location = location or self._start_upload(what)
        offset, resumes = 0, 0
        stream = _Slicer(_verified(reopen(), digest, size, what))
        while True:
            try:
                while offset < size:
                    n = min(UPLOAD_CHUNK, size - offset)
                    reply = self._call(
                        "PATCH", location, _small(what), what,
                        headers={
                            "Content-Type": "application/octet-stream",
                            "Content-Range": f"{offset}-{offset + n - 1}",
                            "Content-Length": str(n),
                        },
                        content=stream.take(n), ok=(202,), retry=False,
                    )  # fmt: skip
                    location = self._location(reply, what)
                    offset += n
                if next(stream.take(1), None) is not None:  # runs _verified's end-of-stream checks
                    raise IntegrityError(f"{what}: source gave more than {size} bytes")
                reply = self._call(
                    "PUT", _with_param(location, "digest", str(digest)), _small(what), what,
                    headers={"Content-Length": "0"}, content=b"", ok=_OK,
                )  # fmt: skip
                self._check_returned_digest(reply, digest, what)
                return
            except RegistryError as exc:
                transient = exc.status is None or exc.status in _RETRY_STATUSES or exc.status == 416
                resumes += 1
                if not (resumable and transient) or resumes >= max(1, self.client.options.max_attempts):
                    raise
                self.client._sleep(self.client._backoff(resumes))
                offset, location = self._upload_status(location, what)
                stream = _Slicer(_verified(reopen(), digest, size, what))
                stream.skip(offset)
                log.info("%s: resuming at byte %d", what, offset)

    def _upload_status(self, location: str, what: str) -> tuple[int, str]:
        """Bytes an upload session holds (``GET <location>`` → 204, ``Range: 0-N``) and its Location."""
        reply = self._call("GET", location, _small(what), what, scopes=self._push, ok=(204,))
        m = re.fullmatch(r"\s*(?:bytes=)?0-(\d+)\s*", reply.headers.get("range", ""))
        held = int(m.group(1)) + 1 if m else 0
        return held, self._location(reply, what) if reply.headers.get("location") else location

    def _start_upload(self, what: str) -> str:
        reply = self._call(
            "POST", f"/v2/{self.repository}/blobs/uploads/", _small(what), what, ok=(202,),
        )  # fmt: skip
        return self._location(reply, what)

    def _location(self, reply: _Reply, what: str) -> str:
        location = reply.headers.get("location")
        if not location:
            raise RegistryError(f"{what}: the registry gave no Location", status=reply.status, url=str(reply.url))
        return location if "://" in location else str(reply.url.join(location))

    def _mountable(self, source: Store | None) -> bool:
        return isinstance(source, RegistryStore) and source.client.host == self.client.host

    def _mount(self, digest: Digest, source: "RegistryStore") -> tuple[bool, str | None]:
        """POST ?mount=&from=: (True, None) on 201; (False, upload session Location) on 202; (False, None) if refused."""
        what = f"mount blob {digest} from {source.display} to {self.display}"
        refused = tuple(s for s in range(400, 500) if s not in _RETRY_STATUSES)
        target = f"/v2/{self.repository}/blobs/uploads/?mount={digest}&from={quote(source.repository, safe='/')}"
        reply = self._call(
            "POST", target, _small(what), what,
            scopes=self._push + source._pull, ok=(201,), allow=(202, *refused),
        )  # fmt: skip
        if reply.status == 201:
            return True, None
        if reply.status == 202 and reply.headers.get("location"):
            return False, self._location(reply, what)
        return False, None

    def mount_blob(self, digest: Digest, source: Store) -> bool:
        """Cross-repository mount on the same registry: ``True`` on 201, else ``False`` (copy instead)."""
        if not self._mountable(source):
            return False
        mounted, session = self._mount(digest, source)  # type: ignore[arg-type]
        if session is not None:
            what = f"mount blob {digest} from {source.display} to {self.display}"
            try:  # not mounted: a normal upload session was opened; cancel it
                self._call("DELETE", session, _small(what), what, scopes=self._push, ok=_OK, retry=False)
            except ManifoldError as exc:
                log.debug("cancelling upload session failed (ignored): %s", exc)
        return mounted


class _Slicer:
    """Cut a stream of chunks into request bodies of exact sizes, holding at most one chunk."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._rest = b""

    def take(self, n: int) -> Iterator[bytes]:
        while n > 0:
            if not self._rest:
                self._rest = next(self._it, b"")
                if not self._rest:
                    return
            part, self._rest = self._rest[:n], self._rest[n:]
            n -= len(part)
            yield part

    def skip(self, n: int) -> None:
        for _ in self.take(n):
            pass


def _verified(chunks: Iterable[bytes], digest: Digest, size: int, what: str) -> Iterator[bytes]:
    """Pass chunks through, failing before the registry sees more (or fewer) bytes than promised."""
    hasher = Hasher(digest.algorithm)
    for chunk in chunks:
        hasher.update(chunk)
        if hasher.size > size:
            raise IntegrityError(f"{what}: source gave more than {size} bytes")
        if chunk:
            yield bytes(chunk)
    if hasher.size != size:
        raise IntegrityError(f"{what}: source gave {hasher.size} of {size} bytes")
    if hasher.digest() != digest:
        raise IntegrityError(f"{what}: source content is {hasher.digest()}")
