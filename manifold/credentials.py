"""Registry credentials: Docker config, credential helpers, podman auth files; ``login``/``logout``.

Read the way ``docker`` and ``podman`` read them (behaviour.md §8.4–8.6)::

    config key    := "https://index.docker.io/v1/" | host[":"port]

``DockerKeychain`` looks, in order, at ``DOCKER_AUTH_CONFIG``, ``$DOCKER_CONFIG/config.json``
(``credHelpers`` > ``credsStore`` > ``auths``) and podman's auth files. No secret ever
appears in a message, a log line or a ``repr()``. No HTTP here: ``auth.py`` holds the flow.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from .errors import AuthError, InvalidInputError

__all__ = [
    "Credentials",
    "DockerKeychain",
    "HUB_KEY",
    "Keychain",
    "StaticKeychain",
    "config_key",
    "convert_to_hostname",
    "decode_auth",
    "docker_config_path",
    "encode_auth",
    "login",
    "logout",
    "podman_auth_paths",
]

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
    import subprocess  # only when a credential helper is configured: keep it off start-up

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
    import tempfile

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
