"""``manifold create``: fetch sources, combine, copy children, push the index, move tags.

Order of work (nothing is written until every source is read and checked):

1. expand the sources (platform words, bare digests, ``SOURCE=PLATFORM``);
2. fetch them concurrently, one manifest request each (plus one config blob for
   a single image, to learn its platform); flatten nested indexes;
3. ``build.combine()`` (pure): duplicates and bad input fail here, exit 2;
4. ``--dry-run`` stops here and returns the bytes;
5. copy the children that live elsewhere (blobs, then manifests, by digest);
6. put the index under the target tag, then the extra tags.

A target layout that does not exist yet is made only after step 4, so a run
that fails on its input leaves no directory behind.

``--amend`` runs step 3 and 6 in an optimistic loop so that parallel writers
lose nothing (docs/create.md, "The parallel-amend protocol"): read the current index, merge, write, wait a
settle time, re-read, and check that every platform this run added still maps
to this run's digest. If another writer's stale merge dropped one, merge again
and rewrite; give up with exit 6 after the retry budget, naming the platforms
not confirmed. A platform that a later writer replaced with a digest this run
never saw is taken as superseded (that writer is newer), not fought over.
"""

from __future__ import annotations

import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from . import mediatypes as mt
from .build import Annotation, Combined, SourceImage, combine, parse_annotation
from .copy import Copier, same_store
from .digest import Digest
from .errors import (
    ConflictError,
    ManifoldError,
    InvalidInputError,
    InvalidPlatformError,
    NotFoundError,
)
from .models import Descriptor, Index, Manifest, config_platform, parse_document
from .platform import Platform
from .reference import LayoutReference, Reference, parse_any
from .store.base import Fetched, Store

__all__ = ["CreateRequest", "CreateResult", "create", "expand_source"]

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = "{tag}-{platform}"


@dataclass(frozen=True)
class CreateRequest:
    target: str
    sources: Sequence[str] = ()
    amend: bool = False
    media_type: str = "auto"
    annotations: Sequence[str] = ()
    tags: Sequence[str] = ()
    platforms: Sequence[str] = ()
    dry_run: bool = False
    no_clobber: bool = False
    source_template: str = DEFAULT_TEMPLATE
    #: optimistic-concurrency budget for --amend
    max_rounds: int = 30
    max_seconds: float = 120.0


@dataclass
class CreateResult:
    repository: str
    digest: Digest
    media_type: str
    data: bytes
    tags: list[str]
    index: Index
    written: bool
    rounds: int = 1
    replaced: tuple[Descriptor, ...] = ()
    stats: dict[str, int] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        return {
            "digest": str(self.digest),
            "mediaType": self.media_type,
            "size": len(self.data),
            "tags": self.tags,
            "manifests": [d.summary() for d in self.index.manifests],
        }


@dataclass(frozen=True)
class _Planned:
    label: str
    ref: Reference | LayoutReference
    override: Platform | None = None
    expected: Platform | None = None


def _is_platform_word(text: str, host: Platform) -> Platform | None:
    """A bare platform (``amd64``, ``arm/v7``, ``linux/riscv64``) rather than an image name."""
    from .platform import KNOWN_ARCHES, KNOWN_OSES

    if any(c in text for c in ":@.") or text.count("/") > 2:
        return None
    try:
        p = Platform.parse_arg(text, host=host)
    except InvalidPlatformError:
        return None
    if text.lower() in KNOWN_OSES or p.architecture not in KNOWN_ARCHES or p.os not in KNOWN_OSES:
        return None
    return p


def expand_source(
    text: str, target: Reference | LayoutReference, *, template: str = DEFAULT_TEMPLATE, host: Platform
) -> _Planned:
    """Turn one SOURCE argument into a reference (and an optional platform override)."""
    label, override = text, None
    if "=" in text:
        text, plat = text.rsplit("=", 1)
        try:
            override = Platform.parse_arg(plat, host=host)
        except InvalidPlatformError as e:
            raise InvalidInputError(f"source {label!r}: {e.message}") from None
    if text.startswith(("sha256:", "sha512:")):
        return _Planned(label, target.with_digest(Digest.parse(text)), override)
    word = _is_platform_word(text, host)
    if word is not None:
        fields = {
            "tag": target.tag or "latest",
            "platform": word.compact(),
            "os": word.os,
            "arch": word.architecture,
            "variant": word.normalize().variant,
        }
        try:
            rendered = template.format(**fields)
        except (KeyError, IndexError, ValueError) as e:
            raise InvalidInputError(f"invalid --source-template {template!r}: {e}") from None
        ref = parse_any(rendered) if any(c in rendered for c in ":@/") else target.with_tag(rendered)
        return _Planned(label, ref, override, expected=word)
    return _Planned(label, parse_any(text), override)


def create(
    req: CreateRequest,
    *,
    open_store: Callable[..., Store],
    host: Platform,
    concurrency: int = 8,
    on_progress: Callable[[str, int, int], None] | None = None,
    note: Callable[[str], None] = lambda s: None,
    sleep: Callable[[float], None] = time.sleep,
) -> CreateResult:
    target = parse_any(req.target)
    if target.digest is not None:  # a registry reference or a layout: either way a tag is written
        raise InvalidInputError(f"target {req.target!r} must be a tag, not a digest")
    if not req.sources and not req.amend:
        raise InvalidInputError("no sources given", hint="name per-platform images, digests or platform words")
    tag = target.tag or "latest"
    extra_tags = [target.with_tag(t).tag for t in req.tags]
    annotations: list[Annotation] = [a for text in req.annotations for a in parse_annotation(text)]
    keep = [Platform.parse_arg(p, host=host) for p in req.platforms]
    plan = [expand_source(s, target, template=req.source_template, host=host) for s in req.sources]

    dst = _open_target(open_store, target)
    stores = [open_store(p.ref) for p in plan]
    sources, fetched = _fetch_sources(plan, stores, concurrency)

    base_fetched = _current(dst, tag) if req.amend and dst is not None else None
    combined = _combine(sources, base_fetched, dst, req, annotations, keep)
    _check(combined, note, refuse=not req.dry_run)
    if req.dry_run:
        return _result(target, combined, [tag, *extra_tags], written=False)
    if dst is None:  # a layout is made only now that every input has been read and checked
        dst = open_store(target, create=True)

    if req.no_clobber:
        _no_clobber(dst, tag, combined.digest)

    copier = Copier(dst, concurrency=concurrency, on_progress=on_progress)
    try:
        todo = []
        for d in combined.index.manifests:
            origin = combined.origins.get(str(d.digest))
            if origin is not None and not same_store(stores[origin], dst):
                todo.append((stores[origin], d))
        copier.manifests(todo, known={str(f.digest): f for f in fetched})
    finally:
        copier.close()

    rounds = 1
    if not req.amend:
        dst.put_manifest(combined.data, combined.index.media_type, tag=tag)
    else:
        mine = {
            d.platform.key: d.digest
            for d in combined.index.images
            if d.platform is not None and combined.origins.get(str(d.digest)) is not None
        }

        def remerge(current: Fetched | None) -> Combined:
            merged = _combine(sources, current, dst, req, annotations, keep)
            _check(merged, note, refuse=True)
            return merged

        combined, rounds = _amend_loop(
            dst, tag, mine, remerge, _platform_digests(dst, base_fetched), req, sleep=sleep, note=note
        )
    for t in extra_tags:
        dst.put_manifest(combined.data, combined.index.media_type, tag=t)
    res = _result(target, combined, [tag, *extra_tags], written=True)
    res.rounds = rounds
    res.stats = dict(copier.stats)
    return res


def _result(target: Reference | LayoutReference, c: Combined, tags: list[str], *, written: bool) -> CreateResult:
    repo = target.name if isinstance(target, Reference) else f"{target.kind}:{target.path}"
    return CreateResult(repo, c.digest, c.index.media_type, c.data, tags, c.index, written, replaced=c.replaced)


def _fetch_sources(
    plan: Sequence[_Planned], stores: Sequence[Store], concurrency: int
) -> tuple[list[SourceImage], list[Fetched]]:
    """Read every source (concurrently): its document, and a single image's config for its platform."""

    def one(i: int) -> tuple[SourceImage, Fetched]:
        p, st = plan[i], stores[i]
        try:
            fetched = st.get_manifest(p.ref.ref)
        except ManifoldError as e:
            raise e.add_context(f"source {p.label}") from None
        doc = parse_document(fetched.data, fetched.media_type, what=f"source {p.label}")
        desc = Descriptor(fetched.media_type, fetched.digest, fetched.size)
        if isinstance(doc, Manifest):
            platform = None
            if p.override is None or p.expected is not None:
                platform = config_platform(st.get_blob(doc.config.digest), what=f"image config of source {p.label}")
            if p.expected is not None and platform is not None and not platform.same(p.expected):
                raise InvalidInputError(
                    f"source {p.label} expands to {p.ref}, whose image config says {platform.format_all()}, "
                    f"not {p.expected.normalize().format_all()}"
                )
            return SourceImage(p.label, desc, None, platform, p.override, origin=i), fetched
        index = _flatten(st, doc, p.label)
        if p.expected is not None:
            images = [d for d in index.manifests if not d.is_attestation]
            wrong = [d for d in images if d.platform is None or not d.platform.same(p.expected)]
            if wrong and p.override is None:
                raise InvalidInputError(
                    f"source {p.label} expands to {p.ref}, an index serving "
                    f"{', '.join(d.platform_text or '?' for d in images)}, not only {p.expected.normalize().format_all()}"
                )
        return SourceImage(p.label, desc, index, None, p.override, origin=i), fetched

    if len(plan) <= 1:
        pairs = [one(i) for i in range(len(plan))]
    else:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(plan))) as pool:
            pairs = list(pool.map(one, range(len(plan))))
    return [s for s, _f in pairs], [f for _s, f in pairs]


def _flatten(st: Store, index: Index, label: str, depth: int = 0) -> Index:
    """Replace nested index entries by their children (an index is never nested)."""
    if not any(d.is_index for d in index.manifests):
        return index
    if depth > 4:
        raise InvalidInputError(f"source {label}: indexes nested more than 4 deep")
    out: list[Descriptor] = []
    for d in index.manifests:
        if d.is_index:
            child = st.get_manifest(d.digest)
            doc = parse_document(child.data, child.media_type, what=f"nested index {d.digest} of {label}")
            if isinstance(doc, Index):
                out.extend(_flatten(st, doc, label, depth + 1).manifests)
                continue
        out.append(d)
    return index.evolve(manifests=tuple(out))


def _open_target(open_store: Callable[..., Store], target: Reference | LayoutReference) -> Store | None:
    """The target store, or ``None`` for a layout that does not exist yet (nothing is made before writing)."""
    try:
        return open_store(target)
    except NotFoundError:
        if isinstance(target, LayoutReference):
            return None
        raise


def _current(dst: Store, tag: str) -> Fetched | None:
    try:
        return dst.get_manifest(tag)
    except NotFoundError:
        return None


def _base_index(dst: Store, fetched: Fetched | None) -> Index | None:
    """The index to amend: the tag's index, or a one-entry index for a single image."""
    if fetched is None:
        return None
    doc = parse_document(fetched.data, fetched.media_type, what="current target")
    if isinstance(doc, Index):
        return _flatten(dst, doc, "current target")
    platform = config_platform(dst.get_blob(doc.config.digest), what="image config of the current target")
    desc = Descriptor(fetched.media_type, fetched.digest, fetched.size, platform)
    return Index(mt.OCI_INDEX, (desc,))


def _combine(sources, base_fetched, dst, req, annotations, keep) -> Combined:
    return combine(
        sources,
        base=_base_index(dst, base_fetched),
        media_type=req.media_type,
        annotations=annotations,
        keep=keep,
    )


def _check(combined: Combined, note: Callable[[str], None], *, refuse: bool) -> None:
    """Run ``verify``'s document checks on the index about to be pushed."""
    from .verify import ERROR, check_entries

    findings = check_entries(combined.index)
    for f in findings:
        if f.severity != ERROR or not refuse:
            note(f"{f.severity}: {f}")
    errors = [f for f in findings if f.severity == ERROR]
    if errors and refuse:
        raise InvalidInputError(
            f"refusing to push an index with {len(errors)} problem(s): {errors[0]}",
            hint="; ".join(str(f) for f in errors[1:4]) or "run with --dry-run to see the index",
        )


def _no_clobber(dst: Store, tag: str, digest: Digest) -> None:
    info = dst.head_manifest(tag)
    if info is not None and info.digest != digest:
        raise ConflictError(
            f"{dst.display}:{tag} exists and holds {info.digest}, not {digest} (--no-clobber)",
        )


def _platform_digests(dst: Store, fetched: Fetched | None) -> dict[tuple, set[Digest]]:
    base = _base_index(dst, fetched)
    out: dict[tuple, set[Digest]] = {}
    for d in base.images if base is not None else ():
        if d.platform is not None:
            out.setdefault(d.platform.key, set()).add(d.digest)
    return out


def _amend_loop(
    dst: Store,
    tag: str,
    mine: dict[tuple, Digest],
    remerge: Callable[[Fetched | None], Combined],
    seen: dict[tuple, set[Digest]],
    req: CreateRequest,
    *,
    sleep: Callable[[float], None],
    note: Callable[[str], None],
) -> tuple[Combined, int]:
    """Merge, write, settle, re-read; repeat until every platform this run added is confirmed.

    ``mine`` maps each normalised platform this run adds to its digest; ``seen`` holds
    every digest this run has read for those platforms. A different digest found
    later that this run never saw comes from a newer writer and wins (superseded);
    one this run has seen is a stale writer's merge and is overwritten again.
    """
    deadline = time.monotonic() + req.max_seconds
    missing: list[tuple] = []
    # Re-read right before the first write: copying the children may have taken a while.
    t_read = time.monotonic()
    fetched = _current(dst, tag)
    for key, digests in _platform_digests(dst, fetched).items():
        seen.setdefault(key, set()).update(digests)
    current = remerge(fetched)
    for rounds in range(1, req.max_rounds + 1):
        dst.put_manifest(current.data, current.index.media_type, tag=tag)
        # Settle: outlast the read-to-write window of any writer that read before this write
        # landed. This run's own window (re-read, merge, write) measures what one takes here.
        window = max(time.monotonic() - t_read, 0.005)
        sleep(min(2.0, 0.15 + 3 * window + random.uniform(0, 0.1 + window)))
        t_read = time.monotonic()
        fetched = _current(dst, tag)
        present = _platform_digests(dst, fetched)
        missing = []
        for key, digest in mine.items():
            got = present.get(key, set())
            if digest in got:
                continue
            newer = got - seen.get(key, set()) - {digest}
            if newer:
                log.info("platform %s superseded by %s (a newer writer)", key, ", ".join(map(str, newer)))
                continue
            missing.append(key)
        if not missing:
            return current, rounds
        if time.monotonic() > deadline:
            break
        for key, digests in present.items():
            seen.setdefault(key, set()).update(digests)
        note(f"amend: {len(missing)} platform(s) lost to a concurrent writer; merging again (round {rounds + 1})")
        current = remerge(fetched)
    names = ", ".join(sorted(_key_text(k, current) for k in missing))
    raise ConflictError(
        f"could not confirm platforms {names} in {dst.display}:{tag}: concurrent writers kept replacing the index",
        hint="re-run the same command; it is safe to repeat",
    )


def _key_text(key: tuple, combined: Combined) -> str:
    for d in combined.index.images:
        if d.platform is not None and d.platform.key == key:
            return d.platform.normalize().format_all()
    return str(key)
