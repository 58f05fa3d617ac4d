"""Registry authentication: challenges, scopes, and the httpx flow (credentials: ``credentials.py``).

The flow (``RegistryAuth``) is what Docker, containerd and every OCI client do:
send → ``401`` with ``WWW-Authenticate`` → ask the token server → retry once with
``Authorization: Bearer <token>`` (or ``Basic`` when the registry asks for Basic).
Credentials come from an injected ``Keychain``; ``DockerKeychain`` reads them the
way ``docker`` and ``podman`` do (behaviour.md §8.4–8.6).

Grammar (behaviour.md §8.1, §8.2)::

    challenge     := scheme [ param ( "," param )* ]     ; one WWW-Authenticate value
    param         := token "=" ( token | quoted-string )  ; keys lower-cased
    token         := 1*<any CHAR except CTLs or separators>
    quoted-string := '"' *( qdtext | "\\" CHAR ) '"'
    scope         := resourcescope ( " " resourcescope )*
    resourcescope := type ":" name ":" action ( "," action )*   ; name may hold one ":" (a port)
    config key    := "https://index.docker.io/v1/" | host[":"port]

Parsing a challenge stops at the first malformed pair and never raises; only the
schemes ``bearer``, ``digest`` and ``basic`` are kept, in that order of preference.

No secret (password, token, ``Authorization`` header) ever appears in a message,
a log line or a ``repr()``.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Callable, Generator, Iterable, Mapping, NamedTuple, Sequence

import httpx

from .credentials import (  # re-exported: the keychain API is part of auth's surface
    Credentials,
    DockerKeychain,
    HUB_KEY,
    Keychain,
    StaticKeychain,
    config_key,
    convert_to_hostname,
    decode_auth,
    encode_auth,
    login,
    logout,
)
from .errors import AuthError, RegistryAuthError, RegistryError, redact

__all__ = [
    "HUB_KEY",
    "Challenge",
    "Credentials",
    "DockerKeychain",
    "Keychain",
    "RegistryAuth",
    "StaticKeychain",
    "config_key",
    "convert_to_hostname",
    "decode_auth",
    "encode_auth",
    "login",
    "logout",
    "normalize_scopes",
    "parse_challenges",
    "request_scopes",
    "scope",
]

log = logging.getLogger(__name__)


# --- challenges and scopes (vectors AU) -----------------------------------------------

_SEPARATORS = frozenset('()<>@,;:\\"/[]?={} \t')
_SCHEME_RANK = {"bearer": 0, "digest": 1, "basic": 2}


@dataclass(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge; ``str()`` gives a header value that parses back to it."""

    scheme: str  # lower-cased: "bearer" | "basic" | "digest" | other
    params: Mapping[str, str] = field(default_factory=dict)  # lower-cased keys

    def __post_init__(self) -> None:
        object.__setattr__(self, "scheme", self.scheme.lower())
        object.__setattr__(self, "params", MappingProxyType({k.lower(): v for k, v in self.params.items()}))

    def __str__(self) -> str:
        def quote(v: str) -> str:
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

        pairs = ",".join(f"{k}={quote(v)}" for k, v in self.params.items())
        return f"{self.scheme} {pairs}" if pairs else self.scheme

    def __repr__(self) -> str:
        return f"Challenge({self.scheme!r}, {dict(self.params)!r})"

    def __hash__(self) -> int:
        return hash((self.scheme, tuple(sorted(self.params.items()))))

    @property
    def scopes(self) -> tuple[str, ...]:
        """The ``scope`` parameter split on spaces (AU2)."""
        return tuple(self.params.get("scope", "").split())


def _token(s: str, i: int) -> int:
    """End index of the token starting at ``i``."""
    while i < len(s) and 32 < ord(s[i]) < 127 and s[i] not in _SEPARATORS:
        i += 1
    return i


def _skip_space(s: str, i: int) -> int:
    while i < len(s) and s[i] in " \t\r\n":
        i += 1
    return i


def _quoted(s: str, i: int) -> tuple[str, int] | None:
    """A quoted string at ``s[i] == '"'``: (value, index after it), or ``None`` if unterminated."""
    out: list[str] = []
    i += 1
    while i < len(s):
        c = s[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            if i + 1 >= len(s):
                return None
            c, i = s[i + 1], i + 1
        out.append(c)
        i += 1
    return None


def _parse_one(header: str) -> Challenge | None:
    i = _skip_space(header, 0)
    end = _token(header, i)
    if end == i:
        return None
    scheme, params, i = header[i:end].lower(), {}, end
    while True:
        i = _skip_space(header, i)
        end = _token(header, i)
        if end == i or not header.startswith("=", end):
            break
        key, i = header[i:end].lower(), end + 1
        if header.startswith('"', i):
            got = _quoted(header, i)
            if got is None:
                break
            value, i = got
        else:
            end = _token(header, i)
            if end == i:
                break
            value, i = header[i:end], end
        params[key] = value
        i = _skip_space(header, i)
        if not header.startswith(",", i):
            break
        i += 1
    return Challenge(scheme, params)


def parse_challenges(header_values: Sequence[str]) -> list[Challenge]:
    """containerd ``ParseAuthHeader``: known schemes only, stable-sorted bearer > digest > basic."""
    found = [c for h in header_values if (c := _parse_one(h)) is not None and c.scheme in _SCHEME_RANK]
    return sorted(found, key=lambda c: _SCHEME_RANK[c.scheme])


def scope(repository: str, actions: str) -> str:
    """``repository:<repo>:<actions>`` (actions as given, e.g. ``pull,push``)."""
    return f"repository:{repository}:{actions}"


def normalize_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Sorted scopes, one per resource, with the actions asked for it merged and sorted.

    The distribution registry may challenge with ``repository:a:pull,push repository:a:push,pull``;
    both ask for the same thing, so they make one scope (and one cached token).
    """
    merged: dict[tuple[str, str], set[str]] = {}
    other: set[str] = set()
    for text in scopes:
        kind, sep, rest = text.partition(":")
        name, sep2, actions = rest.rpartition(":")  # the name may hold a port's ":"
        if not (kind and sep and name and sep2):
            other.add(text)
            continue
        merged.setdefault((kind, name), set()).update(a for a in actions.split(",") if a)
    out = {f"{kind}:{name}:{','.join(sorted(acts))}" for (kind, name), acts in merged.items()}
    return tuple(sorted(out | other))


_ROUTE = re.compile(
    r"^/v2/(?P<name>.+)/(?:manifests/[^/]+|blobs/uploads/[^/]*|blobs/[^/]+|tags/list|referrers/[^/]+)$"
)


def request_scopes(request: httpx.Request) -> tuple[str, ...]:
    """Scopes a request needs: declared in ``extensions["manifold_scopes"]``, else as the registry demands them."""
    declared = request.extensions.get("manifold_scopes")
    if declared is not None:
        return normalize_scopes(declared)
    path = request.url.path
    if path == "/v2/_catalog":
        return ("registry:catalog:*",)
    m = _ROUTE.match(path)
    if not m:
        return ()
    method = request.method.upper()
    actions = {"GET": "pull", "HEAD": "pull", "DELETE": "delete"}.get(method, "pull,push")
    out = {scope(m["name"], actions)}
    source = request.url.params.get("from")
    if method == "POST" and request.url.params.get("mount") and source:
        out.add(scope(source, "pull"))
    return normalize_scopes(out)


# --- the httpx flow ----------------------------------------------------------------

_EXPIRY_MARGIN = 5.0
_MIN_LIFETIME = 60
_FALLBACK_STATUSES = frozenset({400, 401, 404, 405})


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?")


def _valid_host(host: str) -> bool:
    if _HOSTNAME.fullmatch(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _parse_time(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip()).replace("z", "Z")
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp.timestamp() if stamp.tzinfo else None


class _Token(NamedTuple):
    value: str
    deadline: float  # on the monotonic clock

    def __repr__(self) -> str:  # never show the token
        return f"_Token(deadline={self.deadline})"


class RegistryAuth(httpx.Auth):
    """Basic and Bearer token auth for one registry host, shared by every thread of a client.

    ``requires_response_body`` is declared, but ``sync_auth_flow`` reads only the bodies it
    needs (401 answers and token responses), so blob downloads stay streamed. Only a
    challenge from the registry's own host is answered: an upload ``Location`` or a
    redirect on another host that asks for credentials gets its 401 back, unanswered.
    """

    requires_response_body = True

    def __init__(
        self,
        host: str,
        keychain: Keychain,
        *,
        allow_basic_over_http: bool = False,
        on_event: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self._keychain = keychain
        self._allow_http = allow_basic_over_http
        self._on_event = on_event
        self._clock, self._wall = clock, wall_clock
        self._lock = threading.Lock()
        self._creds_lock = threading.Lock()
        self._creds: Credentials | None = None
        self._creds_loaded = False
        self._bearer: tuple[str, str] | None = None  # (realm, service) once challenged
        self._basic = False  # the registry asked for Basic
        self._origins: set[tuple[str, str, int | None]] = set()  # (scheme, host, port) that challenged us
        self._tokens: dict[tuple[str, str, tuple[str, ...]], _Token] = {}
        self._fetch_locks: dict[tuple[str, str, tuple[str, ...]], threading.Lock] = {}

    def __repr__(self) -> str:
        return f"RegistryAuth(host={self.host!r})"

    # -- helpers ----------------------------------------------------------------
    def _event(self, text: str) -> None:
        log.debug("%s", text)
        if self._on_event is not None:
            self._on_event(text)

    def _credentials(self) -> Credentials:
        with self._creds_lock:
            if not self._creds_loaded:
                self._creds = self._keychain.resolve(self.host)
                self._creds_loaded = True
            return self._creds or Credentials()

    def _is_registry(self, url: httpx.URL) -> bool:
        """Whether ``url`` is on this registry's host (and port, when the host names one)."""
        try:
            own = httpx.URL(f"https://{self.host}/")
        except (httpx.InvalidURL, ValueError, TypeError):
            return False
        return url.host == own.host and (own.port is None or url.port == own.port)

    def _secret_ok(self, url: httpx.URL) -> bool:
        return url.scheme == "https" or _is_loopback(url.host) or self._allow_http

    def _plain_http_error(self, url: httpx.URL, what: str) -> AuthError:
        return AuthError(
            f"refusing to send credentials for {self.host} {what} over plain HTTP ({redact(str(url))})",
            hint="use --insecure (or MANIFOLD_INSECURE_REGISTRIES) if this registry really has no TLS",
        )

    def _remember_bearer(self, challenge: Challenge) -> tuple[str, str]:
        realm = challenge.params.get("realm", "")
        try:
            url = httpx.URL(realm)
            usable = url.scheme in ("http", "https") and _valid_host(url.host)
        except (httpx.InvalidURL, ValueError, TypeError):
            usable = False
        if not usable:
            raise RegistryAuthError(
                f"registry {self.host} sent an unusable Bearer realm {redact(realm)[:200]!r}",
                hint="the realm must be an http(s) URL of a token server",
            )
        service = challenge.params.get("service", "")
        with self._lock:
            self._bearer = (realm, service)
        return realm, service

    def _cached(self, key: tuple[str, str, tuple[str, ...]]) -> _Token | None:
        with self._lock:
            tok = self._tokens.get(key)
            if tok is not None and tok.deadline <= self._clock():
                del self._tokens[key]
                tok = None
            return tok

    # -- the flow -----------------------------------------------------------------
    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "authorization" in request.headers:  # the caller manages auth for this one
            yield request
            return
        wanted = request_scopes(request)
        origin = _origin(request.url)
        with self._lock:  # credentials go ahead of a challenge only to an origin that challenged before
            known = origin in self._origins
            bearer, basic = (self._bearer, self._basic) if known else (None, False)
        sent_with: str | None = None
        if bearer is not None:
            sent_with = yield from self._bearer_token(request, *bearer, wanted, stale=None)
            request.headers["Authorization"] = f"Bearer {sent_with}"
        elif basic and self._credentials().has_basic and self._secret_ok(request.url):
            c = self._credentials()
            request.headers["Authorization"] = "Basic " + encode_auth(c.username, c.password)
            sent_with = "basic"
        response = yield request
        if response.status_code != 401:
            return
        response.read()  # frees the connection before we may wait on another thread's token fetch
        if not self._is_registry(response.request.url):
            return  # another host (an upload Location, a redirect) gets none of this registry's credentials
        challenges = parse_challenges(response.headers.get_list("www-authenticate"))
        usable = [c for c in challenges if c.scheme in ("bearer", "basic")]
        if not usable:
            return
        challenge = usable[0]
        if challenge.scheme == "bearer":
            realm, service = self._remember_bearer(challenge)
            with self._lock:
                self._origins.add(origin)
            needed = normalize_scopes(wanted + challenge.scopes)
            token = yield from self._bearer_token(request, realm, service, needed, stale=sent_with)
            if token == sent_with:  # a registry token the registry does not take: nothing else to try
                return
            request.headers["Authorization"] = f"Bearer {token}"
            if not isinstance(request.stream, httpx.ByteStream):
                return  # a streamed body cannot be sent twice; the caller's next attempt finds the token cached
        else:
            creds = self._credentials()
            if not creds.has_basic or sent_with == "basic":
                return
            if not self._secret_ok(request.url):
                raise self._plain_http_error(request.url, "to the registry")
            with self._lock:
                self._basic = True
                self._origins.add(origin)
            request.headers["Authorization"] = "Basic " + encode_auth(creds.username, creds.password)
            if not isinstance(request.stream, httpx.ByteStream):
                return  # a streamed body cannot be sent twice; the caller's next attempt sends Basic ahead
        yield request  # retried once; whatever comes back goes to the caller

    def _bearer_token(
        self, request: httpx.Request, realm: str, service: str, scopes: tuple[str, ...], *, stale: str | None
    ) -> Generator[httpx.Request, httpx.Response, str]:
        """A token for ``scopes``: cached, or fetched once however many threads ask at the same time."""
        creds = self._credentials()
        if creds.registry_token:
            return creds.registry_token
        key = (realm, service, scopes)
        tok = self._cached(key)
        if tok is not None and tok.value != stale:
            return tok.value
        with self._lock:
            fetch_lock = self._fetch_locks.setdefault(key, threading.Lock())
        with fetch_lock:
            tok = self._cached(key)
            if tok is not None and tok.value != stale:
                return tok.value
            tok = yield from self._fetch(request, realm, service, scopes, creds)
            with self._lock:
                self._tokens[key] = tok
        return tok.value

    def _fetch(
        self, original: httpx.Request, realm: str, service: str, scopes: tuple[str, ...], creds: Credentials
    ) -> Generator[httpx.Request, httpx.Response, _Token]:
        url = httpx.URL(realm)
        extensions = {k: v for k, v in original.extensions.items() if k == "timeout"}
        headers = {"User-Agent": original.headers.get("user-agent", "manifold"), "Accept": "application/json"}
        if (creds.identity_token or creds.has_basic) and not self._secret_ok(url):
            raise self._plain_http_error(url, "to the token server")
        response: httpx.Response | None = None
        if creds.identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token, "client_id": "manifold"}
            if service:
                form["service"] = service
            if scopes:
                form["scope"] = " ".join(scopes)
            form["access_type"] = "offline"
            post = httpx.Request("POST", url, data=form, headers=headers, extensions=extensions)
            response = yield post
            response.read()
            if response.status_code in _FALLBACK_STATUSES:
                self._event(f"auth: OAuth POST to {redact(realm)} answered {response.status_code}; trying GET")
                response = None
        if response is None:
            params = ([("service", service)] if service else []) + [("scope", s) for s in scopes]
            get_headers = dict(headers)
            if creds.has_basic:
                get_headers["Authorization"] = "Basic " + encode_auth(creds.username, creds.password)
            get = httpx.Request("GET", url.copy_merge_params(params), headers=get_headers, extensions=extensions)
            response = yield get
            response.read()
        return self._token_from(response, realm, scopes, creds)

    def _token_from(
        self, response: httpx.Response, realm: str, scopes: tuple[str, ...], creds: Credentials
    ) -> _Token:
        status, method = response.status_code, response.request.method
        who = "the configured credentials" if not creds.is_anonymous else "anonymous access"
        where = f"token server {redact(realm)} for registry {self.host}"
        if status >= 500 or status == 429:
            raise RegistryError(f"{where} failed with HTTP {status}", status=status, method=method, url=realm)
        if not 200 <= status < 300:
            raise RegistryAuthError(
                f"{where} refused {who} (HTTP {status})",
                status=status,
                method=method,
                url=realm,
                hint=f"check the credentials: manifold login {self.host}" if status in (401, 403) else None,
            )
        try:
            doc = response.json()
            value = doc.get("access_token") or doc.get("token")
            if not isinstance(value, str) or not value:
                raise ValueError
        except (ValueError, AttributeError, RecursionError):
            raise RegistryAuthError(
                f"{where} answered without a token", status=status, method=method, url=realm
            ) from None
        try:
            expires_in = max(_MIN_LIFETIME, int(doc.get("expires_in") or _MIN_LIFETIME))
        except (TypeError, ValueError, OverflowError):
            expires_in = _MIN_LIFETIME
        issued = _parse_time(doc.get("issued_at"))
        age = max(0.0, self._wall() - issued) if issued is not None else 0.0
        lifetime = max(float(_MIN_LIFETIME), expires_in - age)
        self._event(f"auth: token for {' '.join(scopes) or '(no scope)'} from {redact(realm)} ({int(lifetime)} s)")
        return _Token(value, self._clock() + lifetime - _EXPIRY_MARGIN)
