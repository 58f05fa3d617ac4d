"""OCI image layout archives (``oci-archive:FILE``): a tar of a layout, read in place.

Members are never extracted or followed when they are links, devices, absolute or
``..`` paths. Writes are staged in a temporary ``LayoutStore`` next to the archive
and the archive is replaced atomically on ``close()``. ``tarfile`` is imported only
when an archive is opened.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
import threading
import weakref
from typing import IO, Any, Callable, Iterable

from ..digest import Digest
from ..errors import IntegrityError, InvalidInputError, NotFoundError, UnsupportedDocumentError
from .base import Store
from .layout import (
    _LOCK_NAME,
    _TMP_PREFIX,
    MAX_INDEX_JSON,
    LayoutStore,
    _blob_name,
    _check_layout_header,
    _digest,
    _dump_index,
    _empty_index,
    _fs_path,
    _fsync_dir,
    _LayoutReader,
    _mkstemp,
    _parse_index,
    _unlink,
    _write_errors,
    log,
)

__all__ = ["ArchiveStore"]


def _safe_member_name(name: str) -> str | None:
    """The layout path of a tar member, or ``None`` when it is absolute or climbs with ``..``."""
    if name.startswith("/") or "\\" in name:
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


class ArchiveStore(_LayoutReader):
    """A tar of an OCI image layout (``oci-archive:FILE``), read in place.

    Writes go to a temporary ``LayoutStore`` next to the archive; ``close()``
    writes a new tar (the old members plus the staged ones, in sorted order with
    fixed metadata) and replaces the archive atomically. ``close()`` without
    changes, or leaving a ``with`` block by an exception, writes nothing.
    Reads are safe from several threads. Two processes writing one archive are
    not merged (the last ``close()`` wins): concurrent writers want a directory.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = False) -> None:
        self._path = _fs_path(path)
        self.display = f"oci-archive:{self._path}"
        self._tar: Any = None
        self._members: dict[str, Any] = {}  # layout path -> TarInfo of a regular file
        self._unsafe: dict[str, str] = {}  # layout path -> why it is refused (link, device …)
        self._tar_index: dict | None = None
        self._staging: LayoutStore | None = None
        self._cleanup: weakref.finalize | None = None
        self._dirty = False
        self._closed = False
        self._lock = threading.RLock()  # members share one file object; writers share staging
        if os.path.exists(self._path) and not (create and os.path.getsize(self._path) == 0):
            self._open_tar()
        elif not create:
            raise NotFoundError(f"no OCI image layout archive at {self._path!r}")

    def _open_tar(self) -> None:
        import tarfile

        if os.path.isdir(self._path):
            raise InvalidInputError(f"{self._path!r} is a directory; use oci:{self._path} for a layout directory")
        try:
            self._tar = tarfile.open(self._path, "r:*")
            members = self._tar.getmembers()
        except (tarfile.TarError, EOFError, OSError) as e:  # not a tar, truncated, bad gzip
            raise UnsupportedDocumentError(f"{self.display} is not a readable tar archive: {e}") from None
        for m in members:
            name = _safe_member_name(m.name)
            if name is None:
                log.warning("%s: ignoring member %r (absolute or '..' path)", self.display, m.name)
            elif m.isreg():
                self._members[name] = m
                self._unsafe.pop(name, None)
            elif not m.isdir():
                kind = "link" if (m.issym() or m.islnk()) else "special file"
                self._unsafe[name] = f"{m.name!r} is a {kind}"
                self._members.pop(name, None)
        if "oci-layout" not in self._members and "oci-layout" not in self._unsafe:
            raise NotFoundError(f"no OCI image layout in {self.display} (no oci-layout member)")
        _check_layout_header(self._read_member("oci-layout", 4096), f"{self.display}/oci-layout")

    def _read_member(self, name: str, limit: int) -> bytes:
        if name in self._unsafe:
            raise IntegrityError(f"{self.display}: {self._unsafe[name]}, not a regular file; refusing to follow it")
        member = self._members[name]
        if member.size > limit:
            raise UnsupportedDocumentError(f"{self.display}/{name} is larger than {limit} bytes")
        with self._member_reader(name) as f:
            return f.read(limit)

    # --- primitives ----------------------------------------------------

    def _index(self) -> dict:
        if self._staging is not None:
            return self._staging._index()
        if self._tar_index is None:
            if self._tar is None or ("index.json" not in self._members and "index.json" not in self._unsafe):
                return _empty_index()
            self._tar_index = _parse_index(
                self._read_member("index.json", MAX_INDEX_JSON), f"{self.display}/index.json"
            )
        return copy.deepcopy(self._tar_index)  # callers may change what they get

    def _blob_size(self, d: Digest) -> int | None:
        if self._staging is not None and (size := self._staging._blob_size(d)) is not None:
            return size
        name = _blob_name(_digest(d))
        if name in self._unsafe:
            raise IntegrityError(f"{self.display}: {self._unsafe[name]}, not a regular file; refusing to follow it")
        member = self._members.get(name)
        return None if member is None else member.size

    def _blob_file(self, d: Digest) -> IO[bytes]:
        if self._staging is not None and self._staging._blob_size(d) is not None:
            return self._staging._blob_file(d)
        if self._blob_size(d) is None:
            raise NotFoundError(f"blob {d} not found in {self.display}")
        return self._member_reader(_blob_name(_digest(d)))

    def _member_reader(self, name: str) -> "_LockedReader":
        return _LockedReader(self._tar.extractfile(self._members[name]), self._lock, f"{self.display}/{name}")

    # --- writes --------------------------------------------------------

    def _stage(self) -> LayoutStore:
        with self._lock:
            return self._staging or self._make_staging()

    def _make_staging(self) -> LayoutStore:
        if self._closed:
            raise InvalidInputError(f"{self.display} is closed")
        parent = os.path.dirname(os.path.abspath(self._path))
        tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(self._path)}.staging-", dir=parent)
        self._cleanup = weakref.finalize(self, shutil.rmtree, tmp, True)
        index = self._index()
        staging = LayoutStore(tmp, create=True)
        staging._write_atomic("index.json", _dump_index(index))
        self._staging = staging
        return staging

    def put_manifest(self, data: bytes, media_type: str, *, tag: str | None = None) -> Digest:
        d = Digest.of(data)
        if tag is None and self._blob_size(d) is not None:
            return d
        d = self._stage().put_manifest(data, media_type, tag=tag)
        self._dirty = True
        return d

    def put_blob(
        self,
        digest: Digest,
        size: int,
        chunks: Iterable[bytes] | Callable[[], Iterable[bytes]],
        *,
        mount_from: Store | None = None,
    ) -> str:
        if self._blob_size(_digest(digest)) == size:
            return "present"
        outcome = self._stage().put_blob(digest, size, chunks, mount_from=mount_from)
        self._dirty = True
        return outcome

    def mount_blob(self, digest: Digest, source: Store) -> bool:
        if self._blob_size(_digest(digest)) is not None:
            return True
        if not isinstance(source, LayoutStore):
            return False
        done = self._stage().mount_blob(digest, source)
        self._dirty = self._dirty or done
        return done

    def close(self) -> None:
        if self._closed:
            return
        try:
            if self._dirty:
                with _write_errors(self.display):
                    self._write_archive()
        finally:
            self._discard()

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self._discard()

    def _discard(self) -> None:
        self._closed = True
        if self._tar is not None:
            self._tar.close()
        if self._cleanup is not None:
            self._cleanup()

    def _write_archive(self) -> None:
        import tarfile

        assert self._staging is not None
        # layout path -> (size, opener), or None for a directory
        sources: dict[str, tuple[int, Callable[[], IO[bytes]]] | None] = {}
        for name, member in self._members.items():
            sources[name] = (member.size, lambda m=member: self._tar.extractfile(m))
        root = self._staging.path
        for folder, _dirs, files in os.walk(root):
            for fn in files:
                if fn == _LOCK_NAME or fn.startswith(_TMP_PREFIX):
                    continue
                full = os.path.join(folder, fn)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                sources[rel] = (os.path.getsize(full), lambda p=full: open(p, "rb"))
        for name in list(sources):
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                sources.setdefault("/".join(parts[:i]) + "/", None)
        folder = os.path.dirname(os.path.abspath(self._path))
        fd, tmp = _mkstemp(folder, f".{os.path.basename(self._path)}.")
        try:
            with os.fdopen(fd, "wb") as f:
                with tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as out:
                    for name in sorted(sources):
                        _add_member(out, name, sources[name])
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._path)
        except BaseException:
            _unlink(tmp)
            raise
        _fsync_dir(folder)


class _LockedReader:
    """A tar member reader that holds the archive's lock for each read (each read seeks)."""

    def __init__(self, f: IO[bytes], lock: threading.RLock, what: str) -> None:
        self._f, self._lock, self._what = f, lock, what

    def read(self, n: int = -1) -> bytes:
        import tarfile

        with self._lock:
            try:
                return self._f.read(n)
            except (tarfile.TarError, EOFError, OSError) as e:  # a truncated or corrupt archive
                raise IntegrityError(f"{self._what}: {e}") from None

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "_LockedReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _add_member(out: Any, name: str, source: tuple[int, Callable[[], IO[bytes]]] | None) -> None:
    """One tar member with fixed metadata, so equal content gives an equal archive."""
    import tarfile

    info = tarfile.TarInfo(name.rstrip("/"))
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    if source is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        out.addfile(info)
        return
    info.size, opener = source
    info.mode = 0o644
    with opener() as f:
        out.addfile(info, f)
