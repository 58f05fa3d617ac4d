"""Shared test fixtures: real CNCF distribution registries on loopback.

The registry binary is the Debian package ``docker-registry``
(``/usr/bin/docker-registry``); ``.ci/run`` installs it. Under CI (``CI`` set)
a missing binary fails the tests loudly; elsewhere they are skipped with a
reason that says how to install it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REGISTRY_BIN = os.environ.get("MANIFOLD_TEST_REGISTRY", "/usr/bin/docker-registry")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def registry_available() -> bool:
    return os.path.exists(REGISTRY_BIN) or shutil.which("docker-registry") is not None


def require_registry() -> str:
    path = REGISTRY_BIN if os.path.exists(REGISTRY_BIN) else shutil.which("docker-registry")
    if path:
        return path
    msg = "docker-registry not installed (apt-get install docker-registry, or run .ci/run)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@dataclass
class Registry:
    """A running registry: ``host`` is ``127.0.0.1:<port>``, ``url`` its base URL."""

    host: str
    url: str
    root: Path
    log_path: Path
    proc: subprocess.Popen
    auth: dict | None = None
    username: str | None = None
    password: str | None = None
    _log_offset: int = field(default=0)

    def mark(self) -> None:
        """Start counting requests from now (see ``requests``)."""
        self._log_offset = self.log_path.stat().st_size

    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of each request answered since ``mark()``."""
        time.sleep(0.05)  # the registry writes its access log line after the response
        with open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            text = f.read().decode("utf-8", "replace")
        out = []
        for line in text.splitlines():
            if "response completed" not in line and "http.request.method" not in line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("msg") not in ("response completed", "response completed with error"):
                continue
            out.append(
                (rec.get("http.request.method"), rec.get("http.request.uri"), int(rec.get("http.response.status", 0)))
            )
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_registry(root: Path, *, auth: dict | None = None, extra_env: dict | None = None) -> Registry:
    """Start ``docker-registry`` with filesystem storage under ``root``.

    ``auth`` is the YAML ``auth:`` section as a dict (e.g. ``{"htpasswd": {...}}``
    or ``{"token": {...}}``). The registry reads JSON as YAML, so the config is
    written as JSON.
    """
    binary = require_registry()
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "json", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / "data")},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": "manifold-test-secret"},
    }
    if auth:
        config["auth"] = auth
    cfg_path = root / "config.json"
    cfg_path.write_text(json.dumps(config))
    log_path = root / "registry.log"
    # The registry treats every REGISTRY_* variable as a config override; podman's
    # REGISTRY_AUTH_FILE would break it, so pass a clean environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(extra_env or {})
    logf = open(log_path, "wb")
    proc = subprocess.Popen([binary, "serve", str(cfg_path)], stdout=logf, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"registry exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
        try:
            r = httpx.get(url + "/v2/", timeout=1)
            if r.status_code in (200, 401):
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("registry did not start: " + log_path.read_text()[-2000:])
        time.sleep(0.05)
    return Registry(host=f"127.0.0.1:{port}", url=url, root=root, log_path=log_path, proc=proc, auth=auth)


def htpasswd_line(user: str, password: str) -> str:
    import bcrypt

    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"


@pytest.fixture(scope="session")
def registry_factory():
    """Start extra registries; all are stopped at the end of the session."""
    started: list[Registry] = []
    base = Path(tempfile.mkdtemp(prefix="manifold-registries-"))

    def make(name: str, **kw) -> Registry:
        reg = start_registry(base / f"{name}-{len(started)}", **kw)
        started.append(reg)
        return reg

    yield make
    for reg in started:
        reg.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def registry(registry_factory) -> Registry:
    """A plain-HTTP registry without auth on 127.0.0.1."""
    return registry_factory("plain")


@pytest.fixture(scope="session")
def registry_b(registry_factory) -> Registry:
    """A second, independent registry (for cross-registry copies)."""
    return registry_factory("second")


@pytest.fixture(scope="session")
def registry_basic(registry_factory) -> Registry:
    """A registry with htpasswd Basic auth; credentials on the returned object."""
    user, password = "ci-user", "s3cret-MARKER-pw"
    base = Path(tempfile.mkdtemp(prefix="manifold-htpasswd-"))
    htpasswd = base / "htpasswd"
    htpasswd.write_text(htpasswd_line(user, password))
    reg = registry_factory("basic", auth={"htpasswd": {"realm": "manifold-test", "path": str(htpasswd)}})
    reg.username, reg.password = user, password
    return reg


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
