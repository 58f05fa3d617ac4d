"""Which manifest a Docker/containerd client pulls, and why.

``select()`` is pure: it implements containerd's ``Only(requested)`` path as
settled in behaviour.md §1.12:

1. attestation entries (``vnd.docker.reference.type: attestation-manifest``)
   are never a result, not even for ``unknown/unknown``;
2. entries with a platform are kept when ``only(wanted).match`` accepts them;
   entries without a platform are kept too, but rank after every match;
3. a stable sort by the fallback vector (index order breaks ties), then the
   first entry wins.

``resolve()`` walks a ``Store``: fetch the reference once; an image manifest
resolves to itself; an index is selected from; a chosen child index is descended
into with the same matcher (no backtracking); a chosen platform-less image
manifest must have a config whose platform matches, else there is no match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from . import mediatypes as mt
from .errors import NoMatchingManifestError
from .match import Matcher, only, rank, sort_platforms
from .models import Descriptor, Index, Manifest, config_platform, parse_document
from .platform import Platform
from .store.base import Fetched, Store

__all__ = ["Candidate", "Resolution", "Selection", "resolve", "select"]


@dataclass(frozen=True, slots=True)
class Candidate:
    position: int
    descriptor: Descriptor
    matched: bool
    rank: int | None  # position in the fallback vector; None for no match or no platform
    reason: str
    chosen: bool = False

    def to_json(self) -> dict:
        d = self.descriptor
        return {
            "position": self.position,
            "digest": str(d.digest),
            "mediaType": d.media_type,
            "platform": d.platform_text or None,
            "matched": self.matched,
            "rank": self.rank,
            "chosen": self.chosen,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Selection:
    wanted: Platform
    chosen: Descriptor | None
    candidates: tuple[Candidate, ...]

    @property
    def available(self) -> list[str]:
        seen: list[str] = []
        for c in self.candidates:
            d = c.descriptor
            if d.is_attestation or d.platform is None:
                continue
            text = d.platform.format_all()
            if text not in seen:
                seen.append(text)
        return seen


def select(entries: Sequence[Descriptor], wanted: Platform, *, matcher: Matcher | None = None) -> Selection:
    """Choose the entry a client on ``wanted`` pulls (pure; see the module docstring)."""
    m = matcher or only(wanted)
    want_text = wanted.format_all()
    matches: list[int] = []
    platformless: list[int] = []
    notes: dict[int, tuple[bool, int | None, str]] = {}
    for pos, d in enumerate(entries):
        if d.is_attestation:
            notes[pos] = (False, None, f"attestation for {d.subject or 'an image'}: never selected")
        elif not mt.is_known_document(d.media_type):
            notes[pos] = (False, None, f"unknown media type {d.media_type}: skipped")
        elif d.platform is None:
            platformless.append(pos)
            notes[pos] = (True, None, "no platform: considered only after every platform match")
        elif d.platform.is_unknown():
            notes[pos] = (False, None, "platform unknown/unknown: never selected")
        elif m.match(d.platform):
            r = rank(m, d.platform)
            matches.append(pos)
            how = "exact match" if r == 0 else f"compatible with {want_text} (fallback rank {r})"
            notes[pos] = (True, r, how)
        else:
            notes[pos] = (False, None, f"{d.platform.format_all()} does not run on {want_text}")
    order = sort_platforms(m, matches, key=lambda pos: entries[pos].platform) + platformless
    winner = order[0] if order else None
    candidates = []
    for pos, d in enumerate(entries):
        matched, r, reason = notes[pos]
        chosen = pos == winner
        if chosen:
            reason += "; chosen: best rank, first in index order among equals"
        elif matched and winner is not None:
            reason += "; not chosen: a better or earlier candidate won"
        candidates.append(Candidate(pos, d, matched, r, reason, chosen))
    return Selection(wanted, entries[winner] if winner is not None else None, tuple(candidates))


@dataclass(frozen=True, slots=True)
class Resolution:
    reference: str
    platform: Platform
    #: the top-level index, or None when the reference is a single manifest
    index: Fetched | None
    #: the chosen manifest: descriptor as listed in the index (or built for the root)
    manifest: Descriptor
    #: one Selection per index level walked (nested indexes add levels)
    selections: tuple[Selection, ...] = ()
    #: a warning the user should see (e.g. the single image's platform differs)
    warning: str | None = None

    def to_json(self, *, explain: bool = False) -> dict:
        m = self.manifest
        out: dict = {
            "reference": self.reference,
            "platform": self.platform.format_all(),
            "index": (
                {"digest": str(self.index.digest), "mediaType": self.index.media_type} if self.index else None
            ),
            "manifest": {
                "digest": str(m.digest),
                "mediaType": m.media_type,
                "size": m.size,
                "platform": m.platform_text or None,
            },
        }
        if explain:
            out["candidates"] = [c.to_json() for s in self.selections for c in s.candidates]
        return out


def resolve(
    store: Store,
    ref: str,
    wanted: Sequence[Platform],
    *,
    reference: str,
    root: Fetched | None = None,
    check_single: bool = False,
) -> list[Resolution]:
    """Resolve ``ref`` in ``store`` for each platform in ``wanted`` (one fetch of the root).

    Raises ``NoMatchingManifestError`` for the first platform nothing serves.
    ``check_single``: for a single-manifest reference, read its config and warn
    when its platform differs from the one asked (costs one blob fetch).
    """
    fetched = root or store.get_manifest(ref)
    doc = parse_document(fetched.data, fetched.media_type, what=f"manifest of {reference}")
    results = []
    for want in wanted:
        if isinstance(doc, Manifest):
            desc = Descriptor(fetched.media_type, fetched.digest, fetched.size)
            warning = None
            if check_single:
                actual = config_platform(store.get_blob(doc.config.digest), what=f"image config of {reference}")
                desc = desc.evolve(platform=actual)
                if not only(want).match(actual):
                    warning = (
                        f"{reference} is a single-platform image for {actual.format_all()}, "
                        f"which does not match the requested platform {want.format_all()}"
                    )
            results.append(Resolution(reference, want, None, desc, (), warning))
            continue
        results.append(_walk(store, fetched, doc, want, reference))
    return results


def _walk(store: Store, top: Fetched, index: Index, want: Platform, reference: str) -> Resolution:
    selections = []
    current = index
    matcher = only(want)
    for _depth in range(8):
        sel = select(current.manifests, want, matcher=matcher)
        selections.append(sel)
        chosen = sel.chosen
        if chosen is None:
            raise NoMatchingManifestError(want.format_all(), sel.available, reference=reference)
        if chosen.is_index:
            child = store.get_manifest(chosen.digest)
            doc = parse_document(child.data, child.media_type, what=f"nested index {chosen.digest} of {reference}")
            if not isinstance(doc, Index):
                return Resolution(reference, want, top, chosen, tuple(selections))
            current = doc
            continue
        if chosen.platform is None:
            child = store.get_manifest(chosen.digest)
            doc = parse_document(child.data, child.media_type, what=f"manifest {chosen.digest} of {reference}")
            if isinstance(doc, Manifest):
                actual = config_platform(store.get_blob(doc.config.digest), what=f"config of {chosen.digest}")
                if not matcher.match(actual):
                    raise NoMatchingManifestError(want.format_all(), sel.available, reference=reference)
                chosen = chosen.evolve(platform=actual)
        return Resolution(reference, want, top, chosen, tuple(selections))
    raise NoMatchingManifestError(want.format_all(), [], reference=reference + " (indexes nested too deeply)")
