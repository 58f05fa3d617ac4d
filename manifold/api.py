"""The string-in façade used by the CLI and by scripts.

``Client`` holds the options, the host platform (detected once, lazily) and a
``Session`` of open stores; every method takes the strings a user would type.

    >>> from manifold.api import Client
    >>> with Client() as c:
    ...     [r] = c.resolve("oci:fixtures/layout:app", ["linux/arm/v7"])
    ...     print(r.manifest.digest)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

from . import mediatypes as mt
from .errors import InvalidInputError, ManifoldError, NoMatchingManifestError
from .match import only
from .models import Descriptor, Index, Manifest, config_platform, parse_document
from .options import Options
from .platform import Platform
from .reference import LayoutReference, Reference, parse_any
from .store import Session, Store
from .store.base import Fetched

if TYPE_CHECKING:
    from .resolve import Resolution

__all__ = ["CheckLine", "Client", "Inspection", "PlatformEntry"]


class Inspection(NamedTuple):
    reference: str
    fetched: Fetched
    document: Index | Manifest
    #: set when --platform chose a child of an index
    resolution: Resolution | None = None

    @property
    def entries(self) -> tuple[Descriptor, ...]:
        return self.document.manifests if isinstance(self.document, Index) else ()

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "digest": str(self.fetched.digest),
            "mediaType": self.fetched.media_type,
            "size": self.fetched.size,
            "manifests": [d.summary() for d in self.entries],
        }


class PlatformEntry(NamedTuple):
    platform: str
    digest: str
    #: for an attestation entry, the digest of the image it describes
    attestation_for: str | None = None

    def __str__(self) -> str:
        return f"{self.platform} (attestation for {self.attestation_for})" if self.attestation_for else self.platform


class CheckLine(NamedTuple):
    platform: str
    served: bool
    digest: str | None
    served_as: str | None  # the platform of the entry that serves it
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "served": self.served,
            "digest": self.digest,
            "servedAs": self.served_as,
            "reason": self.reason,
        }


class Client:
    def __init__(self, options: Options | None = None, *, host: Platform | None = None) -> None:
        self.options = options or Options.from_env()
        self.session = Session(self.options)
        self._host = host

    # --- plumbing ----------------------------------------------------------
    @property
    def host(self) -> Platform:
        if self._host is None:
            from .host import host_platform

            h = host_platform()
            if h.os in ("darwin", "windows"):
                # Docker Desktop runs a Linux VM: `docker pull` there gets linux/<arch>.
                # (Windows-container mode users say --platform windows/amd64.)
                h = Platform("linux", h.architecture, h.variant)
            self._host = h
        return self._host

    def platform(self, text: str) -> Platform:
        """Parse a --platform value; the host (read from /proc/cpuinfo) only when the text omits the OS."""
        from .platform import KNOWN_OSES

        needs_host = "/" not in text or text.split("/", 1)[0].split("(", 1)[0].lower() not in KNOWN_OSES
        return Platform.parse_arg(text, host=self.host if needs_host else None)

    def parse(self, text: str) -> Reference | LayoutReference:
        return parse_any(text)

    def open(self, ref: Reference | LayoutReference, *, create: bool = False) -> Store:
        return self.session.open(ref, create=create)

    def display(self, ref: Reference | LayoutReference) -> str:
        """The reference as the user should read it back (canonical, tag included)."""
        return str(ref)

    def repository(self, text: str) -> str:
        """``docker.io/library/node`` or ``oci:PATH``: what ``<repository>@<digest>`` lines start with."""
        ref = self.parse(text)
        return f"{ref.kind}:{ref.path}" if isinstance(ref, LayoutReference) else ref.name

    def fetch(self, text: str) -> tuple[Reference | LayoutReference, Store, Fetched]:
        ref = self.parse(text)
        store = self.open(ref)
        return ref, store, store.get_manifest(ref.ref)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- resolver ------------------------------------------------------------
    def resolve(self, ref: str, platforms: Sequence[str] = (), *, check_single: bool = False) -> list[Resolution]:
        from .resolve import resolve

        wanted = [self.platform(p) for p in platforms] or [self.host]
        r, store, fetched = self.fetch(ref)
        return resolve(store, r.ref, wanted, reference=self.display(r), root=fetched, check_single=check_single)

    def inspect(self, ref: str, *, platform: str | None = None) -> Inspection:
        r, store, fetched = self.fetch(ref)
        if platform is None:
            doc = parse_document(fetched.data, fetched.media_type, what=f"manifest of {self.display(r)}")
            return Inspection(self.display(r), fetched, doc)
        from .resolve import resolve

        [res] = resolve(store, r.ref, [self.platform(platform)], reference=self.display(r), root=fetched)
        child = fetched if res.index is None else store.get_manifest(res.manifest.digest)
        doc = parse_document(child.data, child.media_type, what=f"manifest {child.digest}")
        return Inspection(self.display(r), child, doc, res)

    def platforms(self, ref: str, *, include_attestations: bool = False) -> list[PlatformEntry]:
        """The platforms ``ref`` serves, in index order.

        A single image serves its config's platform (one blob request). Nested
        indexes are looked into (one request each); entries without a platform
        are read to learn it from their config.
        """
        r, store, fetched = self.fetch(ref)
        doc = parse_document(fetched.data, fetched.media_type, what=f"manifest of {self.display(r)}")
        if isinstance(doc, Manifest):
            own = config_platform(store.get_blob(doc.config.digest), what=f"image config of {self.display(r)}")
            return [PlatformEntry(own.format_all(), str(fetched.digest))]
        return self._entries(store, doc, include_attestations, depth=0)

    def _entries(self, store: Store, doc: Index, include_attestations: bool, depth: int) -> list[PlatformEntry]:
        out: list[PlatformEntry] = []
        for d in doc.manifests:
            if d.is_attestation:
                if include_attestations:
                    out.append(PlatformEntry(d.platform_text or "unknown/unknown", str(d.digest), d.subject))
                continue
            if d.is_index and depth < 4:
                child = store.get_manifest(d.digest)
                nested = parse_document(child.data, child.media_type, what=f"nested index {d.digest}")
                if isinstance(nested, Index):
                    out.extend(self._entries(store, nested, include_attestations, depth + 1))
                    continue
            if d.platform is None and mt.is_manifest(d.media_type):
                child = store.get_manifest(d.digest)
                image = parse_document(child.data, child.media_type, what=f"manifest {d.digest}")
                if isinstance(image, Manifest):
                    own = config_platform(store.get_blob(image.config.digest), what=f"config of {d.digest}")
                    out.append(PlatformEntry(own.format_all(), str(d.digest)))
                    continue
            out.append(PlatformEntry(d.platform_text or "unknown", str(d.digest)))
        return out

    def check(self, ref: str, platforms: Sequence[str], *, exact: bool = False) -> list[CheckLine]:
        """Is each platform served? By Docker's fallback rules, or listed exactly (``exact``).

        An index costs one manifest request. A single image serves only its own
        platform: its config is read (one blob request) to say which.
        """
        if not platforms:
            raise InvalidInputError("check needs at least one --platform")
        wanted = [self.platform(p) for p in platforms]
        r, store, fetched = self.fetch(ref)
        doc = parse_document(fetched.data, fetched.media_type, what=f"manifest of {self.display(r)}")
        if isinstance(doc, Manifest):
            own = config_platform(store.get_blob(doc.config.digest), what=f"image config of {self.display(r)}")
            digest = str(fetched.digest)
            return [
                CheckLine(w.format_all(), True, digest, own.format_all(), "single-platform image")
                if (own.provides(w) if exact else only(w).match(own))
                else CheckLine(w.format_all(), False, None, None, f"single-platform image for {own.format_all()}")
                for w in wanted
            ]
        lines = []
        for want in wanted:
            text = want.format_all()
            if exact:
                hit = next((d for d in doc.images if d.platform is not None and d.platform.provides(want)), None)
                if hit is None:
                    lines.append(CheckLine(text, False, None, None, "not listed exactly"))
                else:
                    lines.append(CheckLine(text, True, str(hit.digest), hit.platform_text, "listed"))
                continue
            from .resolve import resolve

            try:
                [res] = resolve(store, r.ref, [want], reference=self.display(r), root=fetched)
            except NoMatchingManifestError as e:
                lines.append(CheckLine(text, False, None, None, e.message))
                continue
            lines.append(CheckLine(text, True, str(res.manifest.digest), res.manifest.platform_text or None, "served"))
        return lines

    # --- helpers for bulk work -------------------------------------------------
    def map(self, fn, items: Sequence[Any]) -> list[Any]:
        """Run ``fn`` over items concurrently (bounded by options.concurrency), keeping order."""
        if len(items) <= 1:
            return [fn(x) for x in items]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(self.options.concurrency, len(items))) as pool:
            return list(pool.map(fn, items))


def safe(fn, *args, **kw) -> tuple[Any, ManifoldError | None]:
    try:
        return fn(*args, **kw), None
    except ManifoldError as e:
        return None, e
