"""Configuration injected into stores and commands, with the defaults in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

__all__ = ["Options", "RequestEvent"]


class RequestEvent(NamedTuple):
    """One HTTP exchange, for ``-v``: never carries headers or bodies."""

    method: str
    url: str  # already redacted
    status: int | None
    seconds: float
    note: str = ""  # e.g. "ratelimit-remaining=20;w=21600", "retry 2/4 after 503"


@dataclass(frozen=True, slots=True)
class Options:
    #: allow plain HTTP and unverified TLS for every registry host (``--insecure``)
    insecure: bool = False
    #: hosts (``host[:port]``) allowed plain HTTP / unverified TLS (``MANIFOLD_INSECURE_REGISTRIES``)
    insecure_registries: frozenset[str] = frozenset()
    #: seconds for connect/read of one request
    timeout: float = 30.0
    #: attempts for a request that is safe to repeat (first try included)
    max_attempts: int = 5
    #: cap on one backoff sleep (seconds), also on an honoured ``Retry-After``
    max_backoff: float = 30.0
    #: independent requests in flight at once
    concurrency: int = 8
    #: called for each HTTP exchange (``-v``)
    on_request: Callable[[RequestEvent], None] | None = None
    #: called with progress of long copies: (what, done_bytes, total_bytes)
    on_progress: Callable[[str, int, int], None] | None = None
    #: credentials source; ``None`` = Docker config / credential helpers / podman auth file
    keychain: Any = None
    user_agent: str = "manifold"
    #: environment to read (``DOCKER_CONFIG``, ``REGISTRY_AUTH_FILE`` …); ``None`` = ``os.environ``
    env: dict[str, str] | None = field(default=None)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **kw: Any) -> "Options":
        e = os.environ if env is None else env
        hosts = frozenset(h.strip() for h in e.get("MANIFOLD_INSECURE_REGISTRIES", "").split(",") if h.strip())
        return cls(insecure_registries=hosts, env=dict(e) if env is not None else None, **kw)

    def is_insecure(self, host: str) -> bool:
        return self.insecure or host in self.insecure_registries
