"""Stores: where manifests and blobs live. ``Session.open()`` is the only place that looks at a scheme.

A ``Session`` owns the connection pools (one ``RegistryClient`` per registry host,
shared by every repository and thread) and the open layouts, and closes them all.
The registry client (and with it httpx) is imported only when a registry
reference is opened, so commands on ``oci:`` layouts never pay for it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..options import Options
from ..reference import LayoutReference, Reference
from .base import BlobInfo, Fetched, ManifestInfo, Store

if TYPE_CHECKING:
    from .registry import RegistryClient

__all__ = ["BlobInfo", "Fetched", "ManifestInfo", "Session", "Store"]


class Session:
    def __init__(self, options: Options | None = None) -> None:
        self.options = options or Options.from_env()
        self._clients: dict[str, "RegistryClient"] = {}
        self._layouts: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, host: str) -> "RegistryClient":
        with self._lock:
            c = self._clients.get(host)
            if c is None:
                from .registry import RegistryClient

                c = self._clients[host] = RegistryClient(host, self.options)
            return c

    def open(self, ref: Reference | LayoutReference, *, create: bool = False) -> Store:
        """The store holding ``ref``'s repository (or layout)."""
        if isinstance(ref, LayoutReference):
            key = (ref.kind, ref.path)
            with self._lock:
                st = self._layouts.get(key)
                if st is None:
                    from .layout import open_layout

                    st = self._layouts[key] = open_layout(ref.kind, ref.path, create=create)
                return st
        return self.client(ref.api_host).store(ref.path, display=ref.name)

    def close(self) -> None:
        with self._lock:
            layouts, clients = list(self._layouts.values()), list(self._clients.values())
            self._layouts.clear()
            self._clients.clear()
        for st in layouts:
            st.close()
        for c in clients:
            c.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
