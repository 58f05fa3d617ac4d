"""Registry authentication: credentials (Docker config, helpers, podman auth files) and an httpx flow.

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

import base64
import binascii
import ipaddress
import json
import logging
import os
import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Generator, Iterable, Mapping, Protocol, Sequence

import httpx

from .errors import AuthError, InvalidInputError, RegistryAuthError, RegistryError, redact

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

#: the key Docker uses for Docker Hub in ``auths`` and for credential helpers
HUB_KEY = "https://index.docker.io/v1/"
_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_NOT_FOUND = "credentials not found"
RunHelper = Callable[[str, str, str], tuple[int, str]]


# --- credentials -------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """What a keychain knows for one registry. Secrets never show in ``repr()``/``str()``."""

    username: str = ""
    password: str = ""
    identity_token: str = ""  # OAuth refresh token (docker "identitytoken", helper username "<token>")
    registry_token: str = ""  # bearer token sent directly

    def __post_init__(self) -> None:
        for name in ("username", "password", "identity_token", "registry_token"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"Credentials.{name} must be a str")

    @property
    def has_basic(self) -> bool:
        return bool(self.username or self.password)

    @property
    def is_anonymous(self) -> bool:
        return not (self.has_basic or self.identity_token or self.registry_token)

    def __repr__(self) -> str:
        def mask(v: str) -> str:
            return "'***'" if v else "''"

        return (
            f"Credentials(username={self.username!r}, password={mask(self.password)}, "
            f"identity_token={mask(self.identity_token)}, registry_token={mask(self.registry_token)})"
        )

    __str__ = __repr__


class Keychain(Protocol):
    def resolve(self, host: str) -> Credentials | None:
        """Credentials for ``host`` (a reference domain: ``docker.io``, ``127.0.0.1:5000``), or ``None``."""
        ...


class StaticKeychain:
    """Fixed credentials by host (Docker Hub aliases share one entry)."""

    def __init__(self, entries: Mapping[str, Credentials]) -> None:
        self._entries = {config_key(h): c for h, c in entries.items()}

    def resolve(self, host: str) -> Credentials | None:
        return self._entries.get(config_key(host))

    def __repr__(self) -> str:
        return f"StaticKeychain({sorted(self._entries)!r})"


# --- Docker config vocabulary (vectors CFG, CH) --------------------------------------


def config_key(host: str) -> str:
    """The ``auths``/helper key for a registry host: Docker Hub's URL key, else ``host[:port]``."""
    return HUB_KEY if host in _HUB_HOSTS or host == HUB_KEY else host


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_PORT = re.compile(r"[0-9]*")


def _split_host_port(authority: str) -> tuple[str, str] | None:
    """Go's ``url.Parse`` host check + ``Hostname()``/``Port()``; ``None`` when Go would fail."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0 or not _PORT.fullmatch(authority[end + 1 :].removeprefix(":")):
            return None
        if authority[end + 1 :] and not authority[end + 1 :].startswith(":"):
            return None
        return authority[1:end], authority[end + 2 :]
    host, colon, port = authority.rpartition(":")
    if not colon:
        return authority, ""
    if not _PORT.fullmatch(port):
        return None
    return host, port


def convert_to_hostname(url: str) -> str:
    """docker/cli ``ConvertToHostname``: the ``host[:port]`` of a URL-ish config key (vectors CH)."""
    scheme, sep, rest = url.partition("://")
    if sep and _SCHEME.fullmatch(scheme):
        authority = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
        parts = _split_host_port(authority)
        if parts and parts[0]:
            host, port = parts
            if not port:
                return host
            return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return url.split("/", 1)[0]


def encode_auth(username: str, password: str) -> str:
    """The ``auth`` field of a config entry: base64 of ``user:pass`` (CFG1)."""
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def decode_auth(value: str) -> tuple[str, str]:
    """Split an ``auth`` field on the first ``:`` (CFG2); raises ``AuthError`` (never quoting it)."""
    try:
        text = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise AuthError("invalid auth configuration: 'auth' is not base64 of user:password") from None
    username, colon, password = text.partition(":")
    if not colon or not username:
        raise AuthError("invalid auth configuration: 'auth' has no username")
    return username, password.strip("\x00")


def _hub_normal(host: str) -> str:
    return "index.docker.io" if host in _HUB_HOSTS else host


def _lookup(auths: Mapping[str, Any], key: str, *, namespaced: bool = False) -> tuple[str, Any] | None:
    """An exact key first, then any key whose hostname equals the host (sorted, so deterministic).

    With ``namespaced`` (podman files), keys like ``quay.io/team`` belong to a namespace and are skipped.
    """
    if key in auths:
        return key, auths[key]
    want = _hub_normal(convert_to_hostname(key))
    for k in sorted(auths):
        if namespaced and "://" not in k and "/" in k:
            continue
        if _hub_normal(convert_to_hostname(k)) == want:
            return k, auths[k]
    return None


def _entry_credentials(entry: Any, where: str) -> Credentials | None:
    if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
        raise AuthError(f"malformed credentials file {where}: an auths entry is not an object of strings")
    username, password = entry.get("username", ""), entry.get("password", "")
    if entry.get("auth"):
        try:
            username, password = decode_auth(entry["auth"])
        except AuthError as exc:
            raise AuthError(f"malformed credentials file {where}: {exc.message}") from None
    creds = Credentials(username, password, entry.get("identitytoken", ""), entry.get("registrytoken", ""))
    return None if creds.is_anonymous else creds


def _default_run_helper(suffix: str, action: str, stdin: str) -> tuple[int, str]:
    """Run ``docker-credential-<suffix> <action>``; its answer (or error text) is on stdout."""
    exe = f"docker-credential-{suffix}"
    try:
        proc = subprocess.run([exe, action], input=stdin, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise AuthError(
            f"credential helper {exe!r} is not installed (not found on PATH)",
            hint="install it, or remove credsStore/credHelpers from the Docker config",
        ) from None
    except subprocess.TimeoutExpired:
        raise AuthError(f"credential helper {exe!r} did not answer within 120 s") from None
    return proc.returncode, proc.stdout if proc.returncode == 0 or proc.stdout.strip() else proc.stderr


def _helper_get(run: RunHelper, suffix: str, server: str, where: str) -> Credentials | None:
    if not re.fullmatch(r"[A-Za-z0-9._-]+", suffix):
        raise AuthError(f"malformed credentials file {where}: invalid credential helper name {suffix!r}")
    code, out = run(suffix, "get", server)
    if code != 0:
        if _NOT_FOUND in out.lower():
            return None
        first = (out.strip().splitlines() or ["(no output)"])[0][:200]
        raise AuthError(f"credential helper docker-credential-{suffix} failed for {server}: {first}")
    try:
        doc = json.loads(out)
        username, secret = doc.get("Username", ""), doc.get("Secret", "")
        if not isinstance(username, str) or not isinstance(secret, str):
            raise ValueError
    except (ValueError, AttributeError, RecursionError):
        raise AuthError(
            f"credential helper docker-credential-{suffix} gave an unreadable answer for {server}"
        ) from None
    if username == "<token>":
        return Credentials(identity_token=secret)
    creds = Credentials(username, secret)
    return None if creds.is_anonymous else creds


# --- keychains ------------------------------------------------------------------


def _home(env: Mapping[str, str]) -> Path:
    return Path(env["HOME"]) if env.get("HOME") else Path.home()


def docker_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    e = os.environ if env is None else env
    base = Path(e["DOCKER_CONFIG"]) if e.get("DOCKER_CONFIG") else _home(e) / ".docker"
    return base / "config.json"


def podman_auth_paths(env: Mapping[str, str] | None = None) -> list[Path]:
    """The podman/skopeo auth files to read, in order (behaviour.md §8.6)."""
    e = os.environ if env is None else env
    if e.get("REGISTRY_AUTH_FILE"):
        return [Path(e["REGISTRY_AUTH_FILE"])]
    runtime = Path(e["XDG_RUNTIME_DIR"]) if e.get("XDG_RUNTIME_DIR") else Path(f"/run/containers/{os.getuid()}")
    config_home = Path(e["XDG_CONFIG_HOME"]) if e.get("XDG_CONFIG_HOME") else _home(e) / ".config"
    return [runtime / "containers" / "auth.json", config_home / "containers" / "auth.json"]


def _read_config(path: Path) -> dict[str, Any] | None:
    """A Docker-format credentials file, shape-checked; ``None`` when it does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthError(f"cannot read credentials file {path}: {type(exc).__name__}") from None
    try:
        doc = json.loads(text) if text.strip() else {}
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise AuthError(f"malformed credentials file {path}: not JSON (line {getattr(exc, 'lineno', '?')})") from None
    problem = _shape_problem(doc)
    if problem:
        raise AuthError(f"malformed credentials file {path}: {problem}")
    return doc


def _shape_problem(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return "the top level is not a JSON object"
    auths, helpers, store = doc.get("auths", {}), doc.get("credHelpers", {}), doc.get("credsStore", "")
    if not isinstance(auths, dict) or not all(isinstance(v, dict) for v in auths.values()):
        return "'auths' is not an object of objects"
    if not isinstance(helpers, dict) or not all(isinstance(v, str) for v in helpers.values()):
        return "'credHelpers' is not an object of strings"
    if not isinstance(store, str):
        return "'credsStore' is not a string"
    return None


def _helper_for(doc: Mapping[str, Any], key: str) -> str | None:
    """The helper suffix for ``key``: ``credHelpers`` (exact key, then by hostname) > ``credsStore``."""
    found = _lookup(doc.get("credHelpers", {}), key)
    return found[1] if found else doc.get("credsStore") or None


class DockerKeychain:
    """Credentials the way ``docker`` then ``podman`` find them.

    Order: ``DOCKER_AUTH_CONFIG`` → Docker config (``credHelpers[key]`` > ``credsStore`` >
    ``auths``) → podman auth files. Files are read lazily, once per keychain.
    """

    def __init__(self, env: Mapping[str, str] | None = None, *, run_helper: RunHelper | None = None) -> None:
        self._env = dict(os.environ if env is None else env)
        self._run = run_helper or _default_run_helper
        self._lock = threading.Lock()
        self._files: dict[str, dict[str, Any] | None] = {}

    def __repr__(self) -> str:
        return f"DockerKeychain(config={str(docker_config_path(self._env))!r})"

    def _file(self, path: Path) -> dict[str, Any] | None:
        with self._lock:
            if str(path) not in self._files:
                self._files[str(path)] = _read_config(path)
            return self._files[str(path)]

    def _env_config(self) -> dict[str, Any]:
        raw = self._env.get("DOCKER_AUTH_CONFIG", "")
        if not raw.strip():
            return {}
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            raise AuthError("malformed DOCKER_AUTH_CONFIG: not JSON") from None
        if not isinstance(doc, dict) or set(doc) - {"auths"} or not isinstance(doc.get("auths", {}), dict):
            raise AuthError('malformed DOCKER_AUTH_CONFIG: expected {"auths": {"<host>": {"auth": "…"}}}')
        for entry in doc.get("auths", {}).values():
            if not isinstance(entry, dict) or set(entry) - {"auth"}:
                raise AuthError("malformed DOCKER_AUTH_CONFIG: only 'auth' is allowed in an entry")
        return doc.get("auths", {})

    def resolve(self, host: str) -> Credentials | None:
        key = config_key(host)
        found = _lookup(self._env_config(), key)
        if found and (creds := _entry_credentials(found[1], "DOCKER_AUTH_CONFIG")):
            return creds
        path = docker_config_path(self._env)
        doc = self._file(path)
        if doc is not None:
            helper = _helper_for(doc, key)
            if helper:
                creds = _helper_get(self._run, helper, key, str(path))
            else:
                found = _lookup(doc.get("auths", {}), key)
                creds = _entry_credentials(found[1], str(path)) if found else None
            if creds:
                return creds
        for pod in podman_auth_paths(self._env):
            creds = self._from_podman(pod, host)
            if creds:
                return creds
        return None

    def _from_podman(self, path: Path, host: str) -> Credentials | None:
        doc = self._file(path)
        if doc is None:
            return None
        plain = "docker.io" if host in _HUB_HOSTS or host == HUB_KEY else host
        found = _lookup(doc.get("credHelpers", {}), plain, namespaced=True)
        if found:
            return _helper_get(self._run, found[1], plain, str(path))
        found = _lookup(doc.get("auths", {}), plain, namespaced=True)
        return _entry_credentials(found[1], str(path)) if found else None


# --- login / logout --------------------------------------------------------------


def _write_config(path: Path, doc: dict[str, Any]) -> None:
    """Atomically replace ``path`` (following a symlink) with tab-indented JSON, mode 0600."""
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".config.json.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(doc, indent="\t"))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _login_key(registry: str) -> str:
    host = convert_to_hostname(registry.strip()) if registry.strip() else "docker.io"
    if not host:
        raise InvalidInputError(f"invalid registry {registry!r}")
    return config_key(host)


def login(
    registry: str,
    username: str,
    password: str,
    *,
    env: Mapping[str, str] | None = None,
    verify: Callable[[Credentials], None] | None = None,
    run_helper: RunHelper | None = None,
) -> str:
    """Store credentials as ``docker login`` does and return the config key used.

    ``verify`` (e.g. a ``GET /v2/`` with these credentials) runs before anything is written.
    """
    key = _login_key(registry)
    if not username:
        raise InvalidInputError(f"no username given for {registry!r}")
    creds = Credentials(username, password)
    if verify is not None:
        verify(creds)
    path = docker_config_path(env)
    doc = _read_config(path) or {}
    helper = _helper_for(doc, key)
    auths = doc.setdefault("auths", {})
    if helper:
        run = run_helper or _default_run_helper
        payload = json.dumps({"ServerURL": key, "Username": username, "Secret": password})
        code, out = run(helper, "store", payload)
        if code != 0:
            first = (out.strip().splitlines() or ["(no output)"])[0][:200]
            raise AuthError(
                f"credential helper docker-credential-{helper} could not store credentials for {key}: {first}"
            )
        auths[key] = {}
    else:
        auths[key] = {"auth": encode_auth(username, password)}
    _write_config(path, doc)
    return key


def logout(registry: str, *, env: Mapping[str, str] | None = None, run_helper: RunHelper | None = None) -> bool:
    """Remove stored credentials (helper ``erase`` and the ``auths`` entry); ``True`` if any were removed."""
    key = _login_key(registry)
    path = docker_config_path(env)
    doc = _read_config(path)
    if doc is None:
        return False
    removed = False
    helper = _helper_for(doc, key)
    if helper:
        code, out = (run_helper or _default_run_helper)(helper, "erase", key)
        if code == 0:
            removed = True
        elif _NOT_FOUND not in out.lower():
            first = (out.strip().splitlines() or ["(no output)"])[0][:200]
            raise AuthError(
                f"credential helper docker-credential-{helper} could not erase credentials for {key}: {first}"
            )
    auths = doc.get("auths", {})
    want = _hub_normal(convert_to_hostname(key))
    stale = [k for k in auths if k == key or _hub_normal(convert_to_hostname(k)) == want]
    # with a helper the file entry is an empty placeholder; it counts only if it held a secret
    removed = removed or any(auths[k] or not helper for k in stale)
    for k in stale:
        del auths[k]
    if stale:
        _write_config(path, doc)
    return removed


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


@dataclass(frozen=True, slots=True, repr=False)
class _Token:
    value: str
    deadline: float  # on the monotonic clock


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
