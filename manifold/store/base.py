"""The one small protocol that resolve, copy and build code talk to.

A ``Store`` is one repository: a repository in a registry
(``127.0.0.1:5000/team/app``) or an OCI image layout (``oci:/path``). Both
implementations hold content addressed by digest plus a set of tags.

Bytes are the truth: ``get_manifest`` returns the exact bytes held, with the
digest computed over them (and verified when the caller asked by digest).
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, NamedTuple, Protocol, runtime_checkable

from ..digest import Digest

__all__ = ["BlobInfo", "Fetched", "ManifestInfo", "Store"]


class Fetched(NamedTuple):
    """A manifest or index as the store holds it."""

    data: bytes
    media_type: str
    digest: Digest

    @property
    def size(self) -> int:
        return len(self.data)


class ManifestInfo(NamedTuple):
    """What a HEAD tells: enough to build a descriptor without the body."""

    media_type: str
    digest: Digest
    size: int


class BlobInfo(NamedTuple):
    digest: Digest
    size: int


@runtime_checkable
class Store(Protocol):
    #: how to show this repository to a user: ``docker.io/library/node``, ``oci:/path``
    display: str

    # --- manifests -----------------------------------------------------
    def get_manifest(self, ref: str | Digest) -> Fetched:
        """Fetch a manifest or index by tag (``str``) or digest.

        By digest the bytes are verified. Raises ``NotFoundError`` subclasses when
        missing, ``UnsupportedDocumentError`` when larger than
        ``mediatypes.MAX_MANIFEST_SIZE``.
        """
        ...

    def head_manifest(self, ref: str | Digest) -> ManifestInfo | None:
        """Media type, digest and size of a manifest, or ``None`` when missing."""
        ...

    def put_manifest(self, data: bytes, media_type: str, *, tag: str | None = None) -> Digest:
        """Store the exact bytes; under ``tag`` if given, else by their digest."""
        ...

    def tags(self) -> list[str]:
        ...

    # --- blobs ---------------------------------------------------------
    def blob_info(self, digest: Digest) -> BlobInfo | None:
        """Size of a blob, or ``None`` when missing (a HEAD)."""
        ...

    def get_blob(self, digest: Digest, *, max_size: int = 4 << 20) -> bytes:
        """A small blob (an image config) in memory, verified."""
        ...

    def open_blob(self, digest: Digest) -> Iterator[bytes]:
        """Stream a blob in bounded chunks. The iterator verifies the digest at the end."""
        ...

    def put_blob(
        self,
        digest: Digest,
        size: int,
        chunks: Iterable[bytes] | Callable[[], Iterable[bytes]],
        *,
        mount_from: "Store | None" = None,
    ) -> str:
        """Make a blob exist here, streamed from ``chunks`` and verified against ``digest`` and ``size``.

        Returns ``"present"`` (already here; ``chunks`` untouched), ``"mounted"``
        (made available from ``mount_from`` without moving bytes: a cross-repository
        mount, a hard link) or ``"uploaded"``. ``chunks`` may be a zero-argument
        callable that returns a fresh iterable each time (a re-openable source);
        only then may the store retry the upload after a transient failure, and
        only then is the source not opened when no bytes need to move.
        """
        ...

    def mount_blob(self, digest: Digest, source: "Store") -> bool:
        """Make a blob of ``source`` available here without moving bytes, if possible.

        ``True`` when done; ``False`` when the caller must copy the bytes (``put_blob``
        with ``mount_from`` does both in the fewest requests).
        """
        ...

    def close(self) -> None:
        ...
