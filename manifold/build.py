"""Assemble an index from sources: ``combine()`` is pure (bytes and descriptors in, bytes out).

Rules (CLI.md ``create``; buildx's ``combine`` where they agree, behaviour.md §3.3):

- A single-image source contributes one entry whose platform comes from its
  image config (or ``SOURCE=PLATFORM``). An index source is flattened: its images
  and their attestation entries join the new index; an index is never nested.
- Two sources for one normalised platform are an error, before anything is
  written. The same digest twice is one entry (first position; later annotations win).
- ``--amend`` starts from the index the target holds: an entry whose normalised
  platform equals a new one is replaced in place, and its attestation entry goes
  with it; everything else is kept. (buildx dedupes by digest only and keeps the
  stale entry first; that is the bug users hit.)
- Order: image entries (base order, then new ones in source order), then other
  artifacts, then attestation entries ordered by the position of their subject,
  as buildkit writes them.
- Media type ``auto``: a Docker manifest list only when every entry is a Docker
  type and no annotation was asked for (buildx silently drops annotations on a
  Docker list; manifold chooses an OCI index instead); ``docker`` refuses OCI
  entries and annotations; ``oci`` always writes an OCI index.
- One index source, nothing else to change: its bytes are kept as they are
  (buildx's carbon copy), so its digest survives.
- Annotations use buildx's syntax: ``index:K=V``, ``manifest-descriptor:K=V``,
  ``manifest-descriptor[linux/amd64]:K=V``; an untyped ``K=V`` is an index
  annotation (buildx refuses it). A bracketed platform matches entries by
  normalised platform (buildx compares unnormalised strings, so ``[linux/arm64]``
  misses an ``arm64/v8`` entry there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from . import mediatypes as mt
from .digest import Digest
from .errors import InvalidAnnotationError, InvalidInputError, InvalidPlatformError
from .models import Descriptor, Index, dumps
from .platform import Platform

__all__ = ["Annotation", "Combined", "SourceImage", "combine", "parse_annotation"]

_TYPE_RE = re.compile(r"^(?P<type>[a-z-]+)(?:\[(?P<platform>[A-Za-z0-9_/.-]+)\])?$")
_KNOWN_TYPES = ("index", "manifest-descriptor")


@dataclass(frozen=True, slots=True)
class Annotation:
    kind: str  # "index" | "manifest-descriptor"
    key: str
    value: str
    platform: Platform | None = None


def parse_annotation(text: str) -> list[Annotation]:
    """Parse one ``--annotation`` value (buildx syntax; untyped means ``index``)."""
    if "=" not in text:
        raise InvalidAnnotationError(text, "expected KEY=VALUE, optionally prefixed by TYPE:")
    left, value = text.split("=", 1)
    types_part, key = left.split(":", 1) if ":" in left else ("", left)
    if not key:
        raise InvalidAnnotationError(text, "empty key")
    if not types_part:
        return [Annotation("index", key, value)]
    out = []
    for t in types_part.split(","):
        m = _TYPE_RE.match(t)
        if not m:
            raise InvalidAnnotationError(text, f"cannot parse annotation type {t!r}")
        kind, plat = m.group("type"), m.group("platform")
        if kind == "manifest":
            raise InvalidAnnotationError(text, "manifest annotations would change the images; not supported")
        if kind == "index-descriptor":
            raise InvalidAnnotationError(text, "index-descriptor annotations are invalid while creating an index")
        if kind not in _KNOWN_TYPES:
            raise InvalidAnnotationError(text, f"unknown annotation type {kind!r} (index, manifest-descriptor)")
        platform = None
        if plat is not None:
            if kind != "manifest-descriptor":
                raise InvalidAnnotationError(text, "only manifest-descriptor annotations take a [platform]")
            try:
                platform = Platform.parse(plat)
            except InvalidPlatformError as e:
                raise InvalidAnnotationError(text, e.reason) from None
        out.append(Annotation(kind, key, value, platform))
    return out


@dataclass(frozen=True, slots=True)
class SourceImage:
    """A fetched source: the document's descriptor, and either its index or its platform."""

    label: str
    descriptor: Descriptor
    index: Index | None = None
    #: for a single image: its platform (from its config, or an override)
    platform: Platform | None = None
    #: ``SOURCE=PLATFORM``: written instead of the platform read from the image
    override: Platform | None = None
    #: opaque tag the caller uses to find where the children live
    origin: int = 0


@dataclass(frozen=True, slots=True)
class Combined:
    index: Index
    data: bytes
    digest: Digest
    #: str(digest) of each entry -> origin of the source it came from (None: already in the base)
    origins: dict[str, int | None] = field(default_factory=dict)
    #: base entries replaced under --amend (images and their attestations)
    replaced: tuple[Descriptor, ...] = ()
    #: normalised platforms the sources contributed, as text
    added_platforms: tuple[str, ...] = ()

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.index.media_type, self.digest, len(self.data))


def _entries_of(src: SourceImage) -> list[Descriptor]:
    if src.index is None:
        platform = src.override or src.platform
        if platform is None:
            raise InvalidInputError(f"source {src.label}: cannot tell its platform (no platform in its image config)")
        return [src.descriptor.evolve(platform=platform, annotations={}, raw=None)]
    entries = list(src.index.manifests)
    for d in entries:
        if d.is_index:
            raise InvalidInputError(f"source {src.label}: nested index {d.digest} must be flattened first")
    if src.override is not None:
        images = [d for d in entries if not d.is_attestation]
        if len(images) != 1:
            raise InvalidInputError(
                f"source {src.label}: {src.label}=PLATFORM needs a single image, but the index holds {len(images)}"
            )
        entries = [d.evolve(platform=src.override) if d is images[0] else d for d in entries]
    return entries


def _filter(entries: list[Descriptor], keep: Sequence[Platform]) -> list[Descriptor]:
    if not keep:
        return entries
    kept_images = {
        str(d.digest)
        for d in entries
        if not d.is_attestation and (d.platform is None or any(d.platform.provides(p) for p in keep))
    }
    return [d for d in entries if (d.subject in kept_images if d.is_attestation else str(d.digest) in kept_images)]


def combine(
    sources: Sequence[SourceImage],
    *,
    base: Index | None = None,
    media_type: str = "auto",
    annotations: Sequence[Annotation] = (),
    keep: Sequence[Platform] = (),
) -> Combined:
    """Merge sources (and, under --amend, the current index) into new index bytes."""
    if media_type not in ("auto", "oci", "docker"):
        raise InvalidInputError(f"invalid media type {media_type!r}: auto, oci or docker")
    if not sources and base is None:
        raise InvalidInputError("no sources given")

    # Carbon copy: one index source and nothing to change keeps its bytes and digest.
    only_src = sources[0] if len(sources) == 1 else None
    if (
        only_src is not None
        and only_src.index is not None
        and only_src.override is None
        and base is None
        and not annotations
        and not keep
        and only_src.index.raw is not None
        and not any(d.is_index for d in only_src.index.manifests)
        and (media_type == "auto" or mt.base(only_src.index.media_type) == (mt.OCI_INDEX if media_type == "oci" else mt.DOCKER_LIST))
    ):
        idx = only_src.index
        origins = {str(d.digest): only_src.origin for d in idx.manifests}
        added = tuple(dict.fromkeys(d.platform.format_all() for d in idx.images if d.platform))
        return Combined(idx, idx.raw, only_src.descriptor.digest, origins, (), added)

    # 1. New entries, in source order, deduplicated by digest; platforms must be unique.
    new: dict[str, Descriptor] = {}
    origins: dict[str, int | None] = {}
    by_platform: dict[tuple, tuple[str, str]] = {}  # key -> (digest, source label)
    for src in sources:
        for d in _filter(_entries_of(src), keep):
            k = str(d.digest)
            if k in new:
                old = new[k]
                merged = {**old.annotations, **d.annotations}
                new[k] = old.evolve(platform=d.platform or old.platform, annotations=merged)
            else:
                new[k] = d
                origins[k] = src.origin
            if d.is_attestation or d.platform is None:
                continue
            prior = by_platform.get(d.platform.key)
            if prior and prior[0] != k:
                raise InvalidInputError(
                    f"two sources for platform {d.platform.normalize().format_all()}: "
                    f"{prior[1]} ({prior[0][:19]}) and {src.label} ({k[:19]})",
                    hint="give one source per platform, or filter with --platform",
                )
            by_platform[d.platform.key] = (k, src.label)

    if keep and not any(not d.is_attestation for d in new.values()) and sources:
        wanted = ", ".join(p.format_all() for p in keep)
        raise InvalidInputError(f"none of the sources' images match the platforms asked for ({wanted})")
    new_images = [d for d in new.values() if not d.is_attestation]
    new_atts = [d for d in new.values() if d.is_attestation]

    # 2. Upsert into the base: replace by normalised platform, in place.
    images: list[Descriptor] = []
    others: list[Descriptor] = []
    atts: list[Descriptor] = []
    replaced: list[Descriptor] = []
    placed: set[str] = set()
    if base is not None:
        for d in base.manifests:
            if d.is_attestation:
                continue
            if str(d.digest) in new:
                images.append(new[str(d.digest)])
                placed.add(str(d.digest))
                continue
            hit = by_platform.get(d.platform.key) if d.platform is not None else None
            if hit is not None:
                replaced.append(d)
                if hit[0] not in placed:
                    images.append(new[hit[0]])
                    placed.add(hit[0])
                continue
            origins.setdefault(str(d.digest), None)
            images.append(d)
        gone = {str(d.digest) for d in replaced}
        for d in base.manifests:
            if d.is_attestation:
                if d.subject in gone and str(d.digest) not in new:
                    replaced.append(d)
                elif str(d.digest) not in new:
                    origins.setdefault(str(d.digest), None)
                    atts.append(d)
    for d in new_images:
        if str(d.digest) in placed:
            continue
        (images if mt.is_known_document(d.media_type) or d.platform else others).append(d)
    atts.extend(new_atts)
    position = {str(d.digest): i for i, d in enumerate(images)}
    atts.sort(key=lambda d: position.get(d.subject or "", len(images)))
    entries = images + others + atts

    # 3. Media type and annotations.
    index_ann = dict(base.annotations) if base is not None else {}
    desc_ann = [a for a in annotations if a.kind == "manifest-descriptor"]
    for a in annotations:
        if a.kind == "index":
            index_ann[a.key] = a.value
    all_docker = bool(entries) and all(mt.is_docker(d.media_type) for d in entries)
    if media_type == "docker":
        bad = [d for d in entries if not mt.is_docker(d.media_type)]
        if bad:
            raise InvalidInputError(
                f"--media-type docker: entry {bad[0].digest} is {bad[0].media_type}; a Docker manifest list holds only Docker manifests"
            )
        if annotations or index_ann:
            raise InvalidInputError("--media-type docker: a Docker manifest list cannot carry annotations")
        out_type = mt.DOCKER_LIST
    elif media_type == "oci":
        out_type = mt.OCI_INDEX
    else:
        out_type = mt.DOCKER_LIST if all_docker and not annotations and not index_ann else mt.OCI_INDEX
    if desc_ann:
        entries = [_annotate(d, desc_ann) for d in entries]

    index = Index(media_type=out_type, manifests=tuple(entries), annotations=index_ann)
    data = dumps(index.to_json())
    index = Index(out_type, tuple(entries), index_ann, raw=data)
    added = tuple(dict.fromkeys(d.platform.normalize().format_all() for d in new_images if d.platform))
    return Combined(index, data, Digest.of(data), origins, tuple(replaced), added)


def _annotate(d: Descriptor, anns: Sequence[Annotation]) -> Descriptor:
    extra = {
        a.key: a.value
        for a in anns
        if a.platform is None or (d.platform is not None and d.platform.same(a.platform))
    }
    return d.evolve(annotations={**d.annotations, **extra}) if extra else d
