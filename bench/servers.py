"""The benchmark's processes: CNCF distribution registries and latency proxies, loopback only.

``Fleet`` starts them and stops every one it started (also at interpreter exit).
A registry logs JSON; ``Registry.requests()`` reads the ``response completed``
lines written since ``mark()``, so each operation's requests can be counted.
A proxy appends one line per accepted connection to its log, counted the same way.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REGISTRY_BIN = os.environ.get("MANIFOLD_TEST_REGISTRY", "/usr/bin/docker-registry")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def registry_binary() -> str | None:
    return REGISTRY_BIN if os.path.exists(REGISTRY_BIN) else shutil.which("docker-registry")


def clean_env() -> dict[str, str]:
    """The registry reads every ``REGISTRY_*`` variable as a config override: drop them."""
    return {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}


@dataclass
class Registry:
    host: str  # 127.0.0.1:<port>, direct (no proxy)
    root: Path
    log_path: Path
    proc: subprocess.Popen
    _offset: int = 0

    def mark(self) -> None:
        self._offset = self.log_path.stat().st_size

    def requests(self) -> list[tuple[str, str, int]]:
        """(method, uri, status) of each request answered since ``mark()``."""
        time.sleep(0.15)  # the access line is written after the response is sent
        with open(self.log_path, "rb") as f:
            f.seek(self._offset)
            text = f.read().decode("utf-8", "replace")
        out = []
        for line in text.splitlines():
            if "response completed" not in line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("msg") in ("response completed", "response completed with error"):
                out.append(
                    (rec.get("http.request.method", "?"), rec.get("http.request.uri", "?"),
                     int(rec.get("http.response.status", 0)))
                )  # fmt: skip
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class Proxy:
    host: str  # 127.0.0.1:<port> that clients use
    rtt_ms: float
    log_path: Path
    proc: subprocess.Popen
    _offset: int = 0

    def mark(self) -> None:
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0

    def connections(self) -> int:
        if not self.log_path.exists():
            return 0
        with open(self.log_path, "rb") as f:
            f.seek(self._offset)
            return f.read().count(b"\n")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class Fleet:
    """Every process the benchmark started; ``stop()`` ends exactly those."""

    base: Path
    started: list[Registry | Proxy] = field(default_factory=list)

    def __post_init__(self) -> None:
        atexit.register(self.stop)

    def registry(self, name: str) -> Registry:
        if not registry_binary():
            raise SystemExit("docker-registry not installed: apt-get install docker-registry (or scripts/test)")
        root = self.base / name
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
            "http": {"addr": f"127.0.0.1:{port}", "secret": "manifold-bench-secret"},
        }
        cfg = root / "config.json"
        cfg.write_text(json.dumps(config))
        reg = Registry(f"127.0.0.1:{port}", root, root / "registry.log", None)  # type: ignore[arg-type]
        self._spawn(reg)
        self.started.append(reg)
        return reg

    def _spawn(self, reg: Registry) -> None:
        with open(reg.log_path, "ab") as logf:
            reg.proc = subprocess.Popen(
                [registry_binary() or "docker-registry", "serve", str(reg.root / "config.json")],
                stdout=logf, stderr=subprocess.STDOUT, env=clean_env(),
            )  # fmt: skip
        deadline = time.monotonic() + 15
        while True:
            if reg.proc.poll() is not None:
                raise RuntimeError(f"registry exited with {reg.proc.returncode}: {reg.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://{reg.host}/v2/", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("registry did not start: " + reg.log_path.read_text()[-2000:])
            time.sleep(0.05)

    def reset(self, reg: Registry) -> None:
        """Empty a registry: stop it, delete its storage, start it again on the same port."""
        reg.stop()
        shutil.rmtree(reg.root / "data", ignore_errors=True)
        self._spawn(reg)

    def proxy(self, target: Registry, rtt_ms: float, *, handshake: bool = False) -> Proxy:
        log_path = self.base / f"proxy-{target.host.rsplit(':', 1)[1]}-{rtt_ms:g}ms.log"
        cmd = [sys.executable, str(HERE / "proxy.py"), "--target", target.host, "--rtt-ms", str(rtt_ms),
               "--log", str(log_path), "--max-seconds", "7200"]  # fmt: skip
        if handshake:
            cmd.append("--handshake")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline().strip() if proc.stdout else ""
        if not line.isdigit():
            proc.kill()
            raise RuntimeError(f"proxy did not start (printed {line!r})")
        px = Proxy(f"127.0.0.1:{line}", rtt_ms, log_path, proc)
        self.started.append(px)
        return px

    def stop(self) -> None:
        for p in reversed(self.started):
            p.stop()
        self.started.clear()

    def remove(self, p: Registry | Proxy) -> None:
        p.stop()
        if p in self.started:
            self.started.remove(p)


def by_method(reqs: list[tuple[str, str, int]]) -> str:
    """``GET 17, PUT 1`` (sorted by method)."""
    c = Counter(m for m, _, _ in reqs)
    return ", ".join(f"{m} {n}" for m, n in sorted(c.items()))
