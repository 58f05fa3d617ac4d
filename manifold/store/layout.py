"""OCI image layouts as Stores: a directory (``oci:PATH``) or a tar of one (``oci-archive:FILE``).

A layout (OCI image-spec ``image-layout.md``, behaviour.md §5.6)::

    <root>/oci-layout               {"imageLayoutVersion": "1.0.0"}
    <root>/index.json               an image index; tags are its entries annotated
                                    org.opencontainers.image.ref.name
    <root>/blobs/<alg>/<encoded>    content that hashes to <alg>:<encoded>

Tag grammar (``ref.name``, image-spec ``annotations.md``)::

    ref-name  := component ("/" component)*
    component := alphanum (separator alphanum)*
    alphanum  := [A-Za-z0-9]+
    separator := [-._:@+] | "--"

Rules kept here:

* A digest is re-validated by ``Digest.parse`` (sha256/sha512, lower-case hex)
  before it becomes a path, so no input reaches outside ``blobs/``; a layout path
  with a NUL byte is invalid input.
* ``index.json`` is read when a layout is opened: one that cannot be read refuses
  the layout before anything is written to it.
* Every blob is verified against its digest when read; a manifest larger than
  ``MAX_MANIFEST_SIZE`` is refused.
* ``index.json`` is rewritten atomically (temp file, fsync, ``os.replace``) under
  an exclusive ``flock`` on ``index.json.lock`` held across read-modify-write, so
  concurrent writers (threads or processes) lose no tag. Readers take no lock.
* Unknown files, unknown index fields and unknown media types pass through.
* Archives (``oci-archive:``) live in ``archive.py``.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import stat
import tempfile
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, Callable, Iterable, Iterator

from .. import mediatypes as mt
from ..digest import REGISTERED, Digest, Hasher
from ..errors import (
    IntegrityError,
    InvalidInputError,
    InvalidReferenceError,
    ManifoldError,
    NotFoundError,
    UnsupportedDocumentError,
)
from .base import BlobInfo, Fetched, ManifestInfo, Store

if TYPE_CHECKING:
    from .archive import ArchiveStore

__all__ = ["ArchiveStore", "LayoutStore", "open_layout"]  # ArchiveStore: from archive.py

log = logging.getLogger(__name__)

LAYOUT_VERSION = "1.0.0"
CHUNK = 1 << 20
#: a sanity cap on index.json (it lists every tag, so it may exceed a manifest)
MAX_INDEX_JSON = 64 << 20
_LOCK_NAME = "index.json.lock"
_TMP_PREFIX = ".tmp-"

_ALNUM = r"[A-Za-z0-9]+"
_SEPARATOR = r"(?:[-._:@+]|--)"
_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_REF_NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")


def _fs_path(path: str | os.PathLike[str]) -> str:
    """A path the OS can take (a NUL byte would surface as a ``ValueError`` from the first call)."""
    text = os.fspath(path)
    if "\0" in text:
        raise InvalidInputError(f"invalid layout path {text!r}: it contains a NUL byte")
    return text


def _digest(d: Digest | str) -> Digest:
    """Re-validate (a ``Digest`` can be built without ``parse``) before it names a file."""
    return Digest.parse(str(d))


def _blob_name(d: Digest) -> str:
    return f"blobs/{d.algorithm}/{d.encoded}"


def _ref_name(entry: dict) -> str | None:
    ann = entry.get("annotations")
    name = ann.get(mt.REF_NAME_ANNOTATION) if isinstance(ann, dict) else None
    return name if isinstance(name, str) else None


def _empty_index() -> dict:
    return {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}


def _dump_index(index: dict) -> bytes:
    """As buildx writes JSON: two-space indent, no trailing newline."""
    return json.dumps(index, indent=2).encode()


def _parse_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: nested too deep
        raise UnsupportedDocumentError(f"{what} is not valid JSON: {e}") from None


def _parse_index(data: bytes, what: str) -> dict:
    index = _parse_json(data, what)
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise UnsupportedDocumentError(f"{what} is not an image index (no 'manifests' list)")
    return index


def _check_layout_header(data: bytes, what: str) -> None:
    header = _parse_json(data, what)
    version = header.get("imageLayoutVersion") if isinstance(header, dict) else None
    if version != LAYOUT_VERSION:
        raise UnsupportedDocumentError(
            f"{what}: unsupported imageLayoutVersion {version!r} (expected {LAYOUT_VERSION!r})"
        )


def _verified_chunks(f: IO[bytes], d: Digest, size: int, what: str) -> Iterator[bytes]:
    h = d.hasher()
    try:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            yield chunk
    finally:
        f.close()
    if h.size != size or h.digest() != d:
        raise IntegrityError(f"digest mismatch for {what}: expected {d} ({size} bytes), got {h.digest()} ({h.size})")


class _LayoutReader:
    """Everything a read needs, on top of three primitives a subclass provides."""

    display: str

    def _index(self) -> dict:
        raise NotImplementedError

    def _blob_size(self, d: Digest) -> int | None:
        raise NotImplementedError

    def _blob_file(self, d: Digest) -> IO[bytes]:
        raise NotImplementedError

    # --- index.json ---------------------------------------------------------

    def _entries(self) -> list[dict]:
        return [e for e in self._index()["manifests"] if isinstance(e, dict)]

    def tags(self) -> list[str]:
        seen: dict[str, None] = {}
        for e in self._entries():
            name = _ref_name(e)
            if name is not None:
                seen.setdefault(name)
        return list(seen)

    def _entry_digest(self, entry: dict, label: str) -> Digest:
        raw = entry.get("digest")
        try:
            return Digest.parse(raw)  # type: ignore[arg-type]
        except ManifoldError:
            raise UnsupportedDocumentError(
                f"{self.display}: index.json entry {label} has an invalid digest {raw!r}"
            ) from None

    def _lookup(self, ref: str | Digest) -> tuple[Digest, str | None, int | None]:
        """(digest, media type, size) that ``ref`` names; type and size may be unknown."""
        if isinstance(ref, Digest):
            return self._by_digest(_digest(ref))
        entries = self._entries()
        entry = next((e for e in entries if _ref_name(e) == ref), None)
        if entry is None and ref in ("", "latest") and len(entries) == 1 and _ref_name(entries[0]) is None:
            entry = entries[0]  # a layout with one untagged image may be read without a tag
        if entry is None:
            if ref.partition(":")[0] in REGISTERED and ":" in ref:
                return self._by_digest(Digest.parse(ref))  # a malformed digest is an error, not a tag
            tags = self.tags()
            hint = "tags: " + (", ".join(tags[:20]) + (", …" if len(tags) > 20 else "") if tags else "(none)")
            if ref:
                raise NotFoundError(f"tag {ref!r} not found in {self.display}", hint=hint)
            raise NotFoundError(f"no tag given, and {self.display} does not hold exactly one untagged entry", hint=hint)
        d = self._entry_digest(entry, repr(ref))
        media_type = entry.get("mediaType") if isinstance(entry.get("mediaType"), str) else None
        size = entry.get("size") if type(entry.get("size")) is int else None
        return d, media_type or None, size

    def _by_digest(self, d: Digest) -> tuple[Digest, str | None, int | None]:
        for e in self._entries():
            if e.get("digest") == str(d) and isinstance(e.get("mediaType"), str):
                return d, e["mediaType"], None
        return d, None, None

    # --- manifests --------------------------------------------------------

    def get_manifest(self, ref: str | Digest) -> Fetched:
        d, media_type, size = self._lookup(ref)
        data = self._read_manifest(d, size)
        return Fetched(data=data, media_type=media_type or self._detect(data, d), digest=d)

    def head_manifest(self, ref: str | Digest) -> ManifestInfo | None:
        try:
            d, media_type, size = self._lookup(ref)
        except NotFoundError:
            return None
        actual = self._blob_size(d)
        if actual is None:
            return None
        if media_type is None:  # not listed in index.json: read it to learn its type
            data = self._read_manifest(d, None)
            return ManifestInfo(media_type=self._detect(data, d), digest=d, size=len(data))
        return ManifestInfo(media_type=media_type, digest=d, size=size if size is not None else actual)

    def _read_manifest(self, d: Digest, expected_size: int | None) -> bytes:
        size = self._blob_size(d)
        what = f"manifest {d} in {self.display}"
        if size is None:
            raise NotFoundError(f"{what} not found")
        if (biggest := max(size, expected_size or 0)) > mt.MAX_MANIFEST_SIZE:
            raise UnsupportedDocumentError(f"rejecting {biggest} byte {what}: larger than {mt.MAX_MANIFEST_SIZE} bytes")
        if expected_size is not None and size != expected_size:
            raise IntegrityError(f"size mismatch for {what}: index.json says {expected_size}, blob has {size}")
        with self._blob_file(d) as f:
            data = f.read(mt.MAX_MANIFEST_SIZE + 1)
        d.verify(data, what=what)
        return data

    def _detect(self, data: bytes, d: Digest) -> str:
        try:
            found = mt.detect_bytes(data)
        except RecursionError:  # nested too deep for json (detect_bytes lets it through)
            found = None
        if found is None:
            raise UnsupportedDocumentError(
                f"{d} in {self.display} is not a manifest or index manifold recognises (no mediaType)"
            )
        return found

    # --- blobs -----------------------------------------------------------

    def blob_info(self, digest: Digest) -> BlobInfo | None:
        d = _digest(digest)
        size = self._blob_size(d)
        return None if size is None else BlobInfo(digest=d, size=size)

    def get_blob(self, digest: Digest, *, max_size: int = 4 << 20) -> bytes:
        d = _digest(digest)
        size = self._require_blob(d)
        if size > max_size:
            raise UnsupportedDocumentError(f"blob {d} in {self.display} is {size} bytes, more than {max_size}")
        with self._blob_file(d) as f:
            data = f.read(max_size + 1)
        d.verify(data, what=f"blob {d} in {self.display}")
        return data

    def open_blob(self, digest: Digest) -> Iterator[bytes]:
        d = _digest(digest)
        size = self._require_blob(d)
        return _verified_chunks(self._blob_file(d), d, size, f"blob {d} in {self.display}")

    def _require_blob(self, d: Digest) -> int:
        size = self._blob_size(d)
        if size is None:
            raise NotFoundError(f"blob {d} not found in {self.display}")
        return size

    def __enter__(self) -> "_LayoutReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass


class LayoutStore(_LayoutReader):
    """An OCI image layout directory (``oci:PATH``)."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = False) -> None:
        self._root = _fs_path(path)
        self.display = f"oci:{self._root}"
        header = os.path.join(self._root, "oci-layout")
        if not os.path.isfile(header):
            if not create:
                raise NotFoundError(
                    f"no OCI image layout at {self._root!r}", hint="an OCI image layout has an 'oci-layout' file"
                )
            self._create()
        with open(header, "rb") as f:
            _check_layout_header(f.read(4096), f"{self.display}/oci-layout")
        self._index()  # an unreadable index.json refuses the layout now, before anything is written to it

    @property
    def path(self) -> str:
        return self._root

    def _create(self) -> None:
        self._refuse_foreign(strict=False)  # before a lock file is made in someone else's directory
        try:
            os.makedirs(self._root, exist_ok=True)
        except OSError as e:
            raise InvalidInputError(f"cannot create an OCI image layout at {self._root!r}: {e.strerror}") from None
        with self._locked(), _write_errors(self.display):
            if os.path.isfile(os.path.join(self._root, "oci-layout")):
                return  # another process made it first
            self._refuse_foreign(strict=True)
            os.makedirs(os.path.join(self._root, "blobs", "sha256"), exist_ok=True)
            self._write_atomic("index.json", _dump_index(_empty_index()))
            self._write_atomic("oci-layout", json.dumps({"imageLayoutVersion": LAYOUT_VERSION}).encode())

    def _refuse_foreign(self, *, strict: bool) -> None:
        """Refuse a directory holding anything (``strict``), or anything a layout being made would not hold."""
        try:
            names = [n for n in os.listdir(self._root) if n != _LOCK_NAME]
        except (FileNotFoundError, NotADirectoryError):
            return  # missing: made next; a file in the way: makedirs says so
        except OSError as e:
            raise InvalidInputError(f"cannot create an OCI image layout at {self._root!r}: {e.strerror}") from None
        if not strict:
            names = [n for n in names if n not in ("oci-layout", "index.json", "blobs") and not n.startswith(_TMP_PREFIX)]
        if names:
            raise InvalidInputError(
                f"{self._root!r} is not empty and not an OCI image layout; refusing to make one there"
            )

    # --- primitives ----------------------------------------------------

    def _index(self) -> dict:
        try:
            with open(os.path.join(self._root, "index.json"), "rb") as f:
                data = f.read(MAX_INDEX_JSON + 1)
        except FileNotFoundError:
            return _empty_index()
        if len(data) > MAX_INDEX_JSON:
            raise UnsupportedDocumentError(f"{self.display}/index.json is larger than {MAX_INDEX_JSON} bytes")
        return _parse_index(data, f"{self.display}/index.json")

    def _blob_path(self, d: Digest) -> str:
        d = _digest(d)
        return os.path.join(self._root, "blobs", d.algorithm, d.encoded)

    def _blob_size(self, d: Digest) -> int | None:
        try:
            st = os.stat(self._blob_path(d))
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(st.st_mode):
            raise IntegrityError(f"{self.display}: {_blob_name(d)} is not a regular file")
        return st.st_size

    def _blob_file(self, d: Digest) -> IO[bytes]:
        try:
            return open(self._blob_path(d), "rb")
        except FileNotFoundError:
            raise NotFoundError(f"blob {d} not found in {self.display}") from None

    # --- writes --------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive across processes (``flock``) and across threads (one open file each)."""
        try:
            fd = os.open(os.path.join(self._root, _LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ManifoldError(f"cannot lock {self.display}: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _write_atomic(self, name: str, data: bytes) -> None:
        fd, tmp = _mkstemp(self._root, f"{_TMP_PREFIX}{name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, os.path.join(self._root, name))
        except BaseException:
            _unlink(tmp)
            raise
        _fsync_dir(self._root)

    def _update_index(self, change: Callable[[list], list]) -> None:
        with self._locked(), _write_errors(self.display):
            index = self._index()
            index["manifests"] = change(index["manifests"])
            self._write_atomic("index.json", _dump_index(index))

    def put_manifest(self, data: bytes, media_type: str, *, tag: str | None = None) -> Digest:
        if len(data) > mt.MAX_MANIFEST_SIZE:
            raise UnsupportedDocumentError(
                f"rejecting {len(data)} byte manifest for {self.display}: larger than {mt.MAX_MANIFEST_SIZE} bytes"
            )
        if tag is not None and not _REF_NAME_RE.match(tag):
            raise InvalidReferenceError(tag, "not a valid OCI layout tag (org.opencontainers.image.ref.name)")
        d = Digest.of(data)
        if self._blob_size(d) != len(data):
            with _write_errors(self.display):
                self._write_blob(d, len(data), [data])
        if tag is not None:
            entry = {
                "mediaType": media_type or self._detect(data, d),
                "digest": str(d),
                "size": len(data),
                "annotations": {mt.REF_NAME_ANNOTATION: tag},
            }
            self._update_index(lambda manifests: _upsert(manifests, tag, entry))
        return d

    def put_blob(
        self,
        digest: Digest,
        size: int,
        chunks: Iterable[bytes] | Callable[[], Iterable[bytes]],
        *,
        mount_from: Store | None = None,
    ) -> str:
        d = _digest(digest)
        if self._blob_size(d) == size:
            return "present"
        if mount_from is not None and self._link(d, mount_from):
            return "mounted"
        with _write_errors(self.display):
            self._write_blob(d, size, chunks() if callable(chunks) else chunks)
        return "uploaded"

    def _write_blob(self, d: Digest, size: int, chunks: Iterable[bytes]) -> None:
        if size < 0:
            raise IntegrityError(f"blob {d}: negative size {size}")
        folder = os.path.join(self._root, "blobs", d.algorithm)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = _mkstemp(folder, _TMP_PREFIX)
        h = Hasher(d.algorithm)
        what = f"blob {d} for {self.display}"
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    h.update(chunk)
                    if h.size > size:
                        raise IntegrityError(f"size mismatch for {what}: more than the {size} bytes expected")
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            if h.size != size:
                raise IntegrityError(f"size mismatch for {what}: expected {size} bytes, got {h.size}")
            if h.digest() != d:
                raise IntegrityError(f"digest mismatch for {what}: got {h.digest()}")
            os.replace(tmp, os.path.join(folder, d.encoded))
        except BaseException:
            _unlink(tmp)
            raise

    def mount_blob(self, digest: Digest, source: Store) -> bool:
        """Hard-link the blob from another layout on the same filesystem."""
        d = _digest(digest)
        if not isinstance(source, LayoutStore):
            return False
        if self._blob_size(d) is not None:
            return True
        return self._link(d, source)

    def _link(self, d: Digest, source: Store) -> bool:
        if not isinstance(source, LayoutStore) or source._blob_size(d) is None:
            return False
        os.makedirs(os.path.join(self._root, "blobs", d.algorithm), exist_ok=True)
        try:
            os.link(source._blob_path(d), self._blob_path(d))
        except FileExistsError:
            return True
        except OSError as e:
            log.debug("cannot hard-link %s from %s: %s", d, source.display, e)
            return False
        return True


@contextmanager
def _write_errors(where: str) -> Iterator[None]:
    """A failed write (read-only layout, disk full) is an expected failure, not a traceback."""
    try:
        yield
    except OSError as e:
        name = f" {e.filename}" if e.filename else ""
        raise ManifoldError(f"cannot write to {where}:{name} {e.strerror or e}") from e


def _upsert(manifests: list, tag: str, entry: dict) -> list:
    """Replace the entry tagged ``tag`` in place (dropping duplicates), else append."""
    out, placed = [], False
    for e in manifests:
        if isinstance(e, dict) and _ref_name(e) == tag:
            if not placed:
                out.append(entry)
                placed = True
            continue
        out.append(e)
    if not placed:
        out.append(entry)
    return out


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _mkstemp(folder: str, prefix: str) -> tuple[int, str]:
    """A temp file that becomes a shared layout file: readable by all (mkstemp makes 0600)."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix)
    os.fchmod(fd, 0o644)
    return fd, tmp


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as e:  # some filesystems refuse fsync on a directory
        if e.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def open_layout(kind: str, path: str, *, create: bool = False) -> "LayoutStore | ArchiveStore":
    """Open ``oci:PATH`` (``kind="oci"``) or ``oci-archive:FILE`` (``kind="oci-archive"``)."""
    if kind == "oci":
        return LayoutStore(path, create=create)
    if kind == "oci-archive":
        from .archive import ArchiveStore

        return ArchiveStore(path, create=create)
    raise InvalidInputError(f"unknown layout kind {kind!r} (oci or oci-archive)")


def __getattr__(name: str) -> Any:
    if name == "ArchiveStore":  # it lives in archive.py; importable from here as before
        from .archive import ArchiveStore

        return ArchiveStore
    raise AttributeError(name)
