"""Which platforms each of many images serves (field.md §4 item 6): ``manifold matrix``.

One manifest GET per image (its tag or digest); a single image costs one more GET, for
the config that names its platform. Rarer shapes cost what they must: a nested index is
read, and so is an image entry without a platform (manifest and config). Images are read
concurrently, bounded by ``options.concurrency``; the client's session shares connections
and tokens between them.

A row keeps the reference as given, in input order. An image that cannot be read is a row
whose ``error`` is the ``ManifoldError`` message, never an exception. Platforms are
normalised (``linux/arm64``, ``linux/arm/v7``); attestation entries are left out.

``wanted`` platforms are checked with resolve's own logic (Docker's fallback rules) on the
document already fetched: an index is selected from (no request unless an entry must be
descended into), a single image's config platform is matched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from .errors import ManifoldError, NoMatchingManifestError
from .match import only
from .models import Index, Manifest, config_platform, parse_document
from .platform import Platform
from .resolve import resolve
from .store.base import Store

__all__ = ["Row", "column_order", "matrix", "read_reference_lines", "render_table"]

_MAX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Row:
    reference: str
    digest: str | None = None
    media_type: str | None = None
    #: normalised, in index order, without duplicates
    platforms: tuple[Platform, ...] = ()
    error: str | None = None
    #: wanted platforms this image does not serve (by Docker's fallback rules)
    missing: tuple[Platform, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.error is None and not self.missing

    def to_json(self) -> dict[str, Any]:
        """CLI.md: ``{"reference", "digest", "mediaType", "platforms", "error"}``."""
        return {
            "reference": self.reference,
            "digest": self.digest,
            "mediaType": self.media_type,
            "platforms": [p.format_all() for p in self.platforms],
            "error": self.error,
        }


def matrix(client: Any, refs: Sequence[str], *, wanted: Sequence[Platform] = ()) -> list[Row]:
    """One row per reference, in order; ``client`` is an ``api.Client``."""
    return client.map(lambda text: _row(client, text, wanted), list(refs))


def _row(client: Any, text: str, wanted: Sequence[Platform]) -> Row:
    try:
        ref, store, fetched = client.fetch(text)
        shown = client.display(ref)
        doc = parse_document(fetched.data, fetched.media_type, what=f"manifest of {shown}")
        if isinstance(doc, Manifest):
            p = config_platform(store.get_blob(doc.config.digest), what=f"image config of {shown}")
            platforms: list[Platform] = [p.normalize()]
            missing = [w for w in wanted if not only(w).match(p)]
        else:
            platforms = _index_platforms(store, doc, shown, 0)
            missing = [w for w in wanted if not _serves(store, ref.ref, fetched, w, shown)]
    except ManifoldError as e:
        return Row(text, error=e.message)
    return Row(text, str(fetched.digest), fetched.media_type, tuple(dict.fromkeys(platforms)), None, tuple(missing))


def _serves(store: Store, ref: str, fetched: Any, want: Platform, shown: str) -> bool:
    try:
        resolve(store, ref, [want], reference=shown, root=fetched)
    except NoMatchingManifestError:
        return False
    return True


def _index_platforms(store: Store, index: Index, shown: str, depth: int) -> list[Platform]:
    out: list[Platform] = []
    for d in index.manifests:
        if d.is_attestation:
            continue
        if d.platform is not None:
            if not d.platform.is_unknown():
                out.append(d.platform.normalize())
            continue
        if depth >= _MAX_DEPTH:
            continue
        child = store.get_manifest(d.digest)
        doc = parse_document(child.data, child.media_type, what=f"manifest {d.digest} of {shown}")
        if isinstance(doc, Index):
            out += _index_platforms(store, doc, shown, depth + 1)
        else:
            cfg = store.get_blob(doc.config.digest)
            out.append(config_platform(cfg, what=f"config of {d.digest}").normalize())
    return out


# --- input and output --------------------------------------------------------------------


def read_reference_lines(lines: Iterable[str]) -> list[str]:
    """References one per line; blank lines and ``#`` comments (whole-line or trailing) ignored."""
    out = []
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text:
            out.append(text)
    return out


def _column_key(p: Platform) -> tuple:
    return (p.os, p.architecture, p.variant, p.os_version, p.os_features)


def column_order(rows: Sequence[Row]) -> list[Platform]:
    """The union of the rows' platforms: by os, then architecture, then variant (then os.version)."""
    seen = {p for r in rows for p in r.platforms}
    return sorted(seen, key=_column_key)


def render_table(rows: Sequence[Row], *, ascii_only: bool = False) -> str:
    """Rows = images, columns = platforms; ``✓``/``-`` (``x``/``-`` when ``ascii_only``), then ERROR.

    A row that could not be read has empty cells and its message in the ERROR column.
    """
    from .render import table

    yes = "x" if ascii_only else "✓"
    columns = column_order(rows)
    headers = ["IMAGE", *(p.format_all() for p in columns)]
    with_errors = any(r.error for r in rows)
    if with_errors:
        headers.append("ERROR")
    body = []
    for r in rows:
        have = set(r.platforms)
        cells = ("" if r.error else yes if p in have else "-" for p in columns)
        line = [r.reference, *cells]
        if with_errors:
            line.append(r.error or "")
        body.append(line)
    return table(body, headers)
