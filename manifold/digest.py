"""Content digests (OCI image-spec ``descriptor.md``).

Grammar::

    digest      := algorithm ":" encoded
    algorithm   := component (separator component)*
    component   := [a-z0-9]+
    separator   := [+._-]
    encoded     := [a-zA-Z0-9=_-]+

Registered algorithms are checked strictly: ``sha256`` needs 64 and ``sha512``
128 lower-case hex characters. Only these two can be computed or verified;
a grammatical digest with another algorithm parses only with ``strict=False``.

A ``Digest`` is immutable, and ``str(d)`` is its canonical form, so
``Digest.parse(str(d)) == d``. Because the encoded part of a registered digest is
plain hex, it is safe to use as a file name (``blobs/sha256/<hex>``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import BinaryIO, Iterable

from .errors import IntegrityError, InvalidDigestError

__all__ = ["Digest", "Hasher", "REGISTERED"]

_ALGORITHM = r"[a-z0-9]+(?:[+._-][a-z0-9]+)*"
_ENCODED = r"[a-zA-Z0-9=_-]+"
_DIGEST_RE = re.compile(rf"^(?P<alg>{_ALGORITHM}):(?P<enc>{_ENCODED})$")

#: algorithm -> (length of the hex encoding, hashlib name)
REGISTERED: dict[str, int] = {"sha256": 64, "sha512": 128}
_HEX = re.compile(r"^[a-f0-9]+$")


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    encoded: str

    @classmethod
    def parse(cls, text: str, *, strict: bool = True) -> "Digest":
        """Parse ``alg:encoded``; raise ``InvalidDigestError`` quoting the input."""
        if not isinstance(text, str):
            raise InvalidDigestError(repr(text), "not a string")
        m = _DIGEST_RE.match(text)
        if not m:
            raise InvalidDigestError(text, "expected <algorithm>:<hex>, e.g. sha256:<64 hex characters>")
        alg, enc = m.group("alg"), m.group("enc")
        want = REGISTERED.get(alg)
        if want is None:
            if strict:
                raise InvalidDigestError(text, f"unsupported digest algorithm {alg!r} (sha256 or sha512)")
            return cls(alg, enc)
        if not _HEX.match(enc):
            raise InvalidDigestError(text, f"{alg} digests are lower-case hex")
        if len(enc) != want:
            raise InvalidDigestError(text, f"{alg} digests have {want} hex characters, got {len(enc)}")
        return cls(alg, enc)

    @classmethod
    def is_valid(cls, text: str) -> bool:
        try:
            cls.parse(text)
        except InvalidDigestError:
            return False
        return True

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> "Digest":
        if algorithm not in REGISTERED:
            raise InvalidDigestError(algorithm, "cannot compute this algorithm")
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    @classmethod
    def of_stream(cls, stream: BinaryIO, algorithm: str = "sha256", chunk: int = 1 << 20) -> "Digest":
        h = Hasher(algorithm)
        while block := stream.read(chunk):
            h.update(block)
        return h.digest()

    def verify(self, data: bytes, *, what: str = "content") -> None:
        """Raise ``IntegrityError`` unless ``data`` hashes to this digest."""
        got = Digest.of(data, self.algorithm)
        if got != self:
            raise IntegrityError(f"digest mismatch for {what}: expected {self}, got {got}")

    def hasher(self) -> "Hasher":
        return Hasher(self.algorithm)

    @property
    def hex(self) -> str:
        return self.encoded

    @property
    def short(self) -> str:
        return f"{self.algorithm}:{self.encoded[:12]}"

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"


class Hasher:
    """Incremental digest over a stream of chunks, with size counting."""

    __slots__ = ("algorithm", "_h", "size")

    def __init__(self, algorithm: str = "sha256") -> None:
        if algorithm not in REGISTERED:
            raise InvalidDigestError(algorithm, "cannot compute this algorithm")
        self.algorithm = algorithm
        self._h = hashlib.new(algorithm)
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._h.update(chunk)
        self.size += len(chunk)

    def feed(self, chunks: Iterable[bytes]) -> Iterable[bytes]:
        """Pass chunks through while hashing them."""
        for c in chunks:
            self.update(c)
            yield c

    def digest(self) -> Digest:
        return Digest(self.algorithm, self._h.hexdigest())
