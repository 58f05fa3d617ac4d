"""Move manifests and blobs between stores: children before parents, bytes verified.

For each blob, one ``put_blob``: on the same registry a cross-repository mount
(one POST; if the registry opens an upload session instead, the bytes go through
it), elsewhere a HEAD and, when missing, a streamed upload whose memory is bounded
by one chunk. A
manifest is pushed by digest only after everything it references exists, and an
index only after its children, so a registry that validates references (the
distribution registry does by default) never sees a dangling one, and no tag
ever points at an incomplete image.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator

from .digest import Digest
from .models import Descriptor, Index, Manifest, parse_document
from .store.base import Fetched, Store

__all__ = ["Copier", "same_store"]

log = logging.getLogger(__name__)


def same_store(a: Store, b: Store) -> bool:
    """Two handles on one repository (or layout)."""
    return a is b or a.display == b.display


class Copier:
    """Copies content into ``dst``; blob copies are shared and run concurrently.

    One ``Copier`` per target store and command: it remembers what it already
    copied (a blob shared by several images moves once).
    """

    def __init__(
        self,
        dst: Store,
        *,
        concurrency: int = 8,
        on_progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.dst = dst
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="manifold-blob")
        self._blobs: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._on_progress = on_progress
        self.stats = {"uploaded": 0, "mounted": 0, "present": 0, "bytes_uploaded": 0, "manifests_pushed": 0}

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "Copier":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- manifests -----------------------------------------------------------
    def manifest(self, src: Store, desc: Descriptor | Digest, *, fetched: Fetched | None = None) -> None:
        """Make the manifest (or index) ``desc`` and everything it references exist in ``dst``.

        ``fetched``: its bytes, when the caller already read them. There is no
        existence check of the manifest itself: each blob's ``put_blob`` checks (or
        mounts) before any byte moves, and the PUT of the manifest is idempotent.
        """
        digest = desc.digest if isinstance(desc, Descriptor) else desc
        if same_store(src, self.dst):
            return
        fetched = fetched if fetched is not None and fetched.digest == digest else src.get_manifest(digest)
        doc = parse_document(fetched.data, fetched.media_type, what=f"manifest {digest} in {src.display}")
        if isinstance(doc, Index):
            for child in doc.manifests:
                self.manifest(src, child)
        elif isinstance(doc, Manifest):
            futures = [self._blob(src, b) for b in doc.blobs]
            for f in futures:
                f.result()
        self.dst.put_manifest(fetched.data, fetched.media_type)
        with self._lock:
            self.stats["manifests_pushed"] += 1

    def manifests(self, items: Iterable[tuple[Store, Descriptor]], *, known: dict[str, Fetched] | None = None) -> None:
        """Copy several manifests; independent ones in parallel. ``known``: bytes already read, by digest."""
        known = known or {}
        items = [(s, d) for s, d in items if not same_store(s, self.dst)]
        if not items:
            return
        if len(items) == 1:
            self.manifest(*items[0], fetched=known.get(str(items[0][1].digest)))
            return
        with ThreadPoolExecutor(max_workers=min(len(items), 8), thread_name_prefix="manifold-manifest") as pool:
            for f in [pool.submit(self.manifest, s, d, fetched=known.get(str(d.digest))) for s, d in items]:
                f.result()

    # --- blobs ---------------------------------------------------------------
    def _blob(self, src: Store, desc: Descriptor) -> Future:
        key = str(desc.digest)
        with self._lock:
            fut = self._blobs.get(key)
            if fut is None:
                fut = self._blobs[key] = self._pool.submit(self._copy_blob, src, desc)
        return fut

    def _copy_blob(self, src: Store, desc: Descriptor) -> None:
        d = desc.digest
        label = f"{d.short} ({desc.media_type.rsplit('.', 1)[-1]})"
        outcome = self.dst.put_blob(d, desc.size, lambda: self._stream(src, d, desc.size, label), mount_from=src)
        with self._lock:
            self.stats[outcome] = self.stats.get(outcome, 0) + 1
            if outcome == "uploaded":
                self.stats["bytes_uploaded"] += desc.size

    def _stream(self, src: Store, digest: Digest, size: int, label: str) -> Iterator[bytes]:
        done = 0
        report = self._on_progress if size >= (8 << 20) else None
        for chunk in src.open_blob(digest):
            done += len(chunk)
            if report is not None:
                report(label, done, size)
            yield chunk
