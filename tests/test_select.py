"""select(): containerd's choice from an index (behaviour.md §1.11 vectors S, §1.12 rules)."""

from __future__ import annotations

import hashlib
import re

import pytest

from manifold import mediatypes as mt
from manifold.digest import Digest
from manifold.models import Descriptor
from manifold.platform import Platform
from manifold.resolve import select

ATT = {"vnd.docker.reference.type": "attestation-manifest"}


def plat(spec: str) -> Platform:
    """A platform as written in an index entry (not normalised): ``windows(10.0.17763)/amd64``."""
    m = re.match(r"^(\w+)(?:\(([^)]*)\))?/(.*)$", spec)
    assert m, spec
    os_name, osv, rest = m.groups()
    arch, _, variant = rest.partition("/")
    return Platform(os_name, arch, variant, osv or "")


def entry(spec: str | None, *, name: str, media_type: str = mt.OCI_MANIFEST, annotations=None) -> Descriptor:
    platform = plat(spec) if spec is not None else None
    return Descriptor(media_type, Digest.of(name.encode()), 100, platform, annotations or {})


def index(*specs: str) -> list[Descriptor]:
    return [entry(s, name=f"{i}:{s}") for i, s in enumerate(specs)]


def chosen_spec(specs, wanted: str) -> str | None:
    entries = index(*specs)
    sel = select(entries, Platform.parse(wanted))
    return None if sel.chosen is None else specs[entries.index(sel.chosen)]


S8_INDEX = ("linux/amd64", "linux/arm/v5", "linux/arm/v6", "linux/arm64/v8", "windows(10.0.14393)/amd64")


@pytest.mark.parametrize(
    "vector, specs, wanted, expected",
    [
        ("S2", ("linux/amd64", "linux/amd64/v3"), "linux/amd64", "linux/amd64"),
        ("S3", ("linux/amd64", "linux/amd64/v3"), "linux/amd64/v3", "linux/amd64/v3"),
        ("S1", ("linux/amd64", "linux/amd64/v3"), "linux/amd64/v4", "linux/amd64/v3"),
        ("S4", ("linux/amd64/v3",), "linux/amd64/v4", "linux/amd64/v3"),
        ("S5", ("linux/amd64/v3",), "linux/amd64", None),
        ("S6", ("linux/amd64/v2", "linux/amd64/v3"), "linux/amd64/v4", "linux/amd64/v3"),
        ("S8", S8_INDEX, "linux/arm64/v8", "linux/arm64/v8"),
        ("S9", S8_INDEX, "linux/amd64", "linux/amd64"),
        ("S10", S8_INDEX, "windows/amd64", "windows(10.0.14393)/amd64"),
        ("S11", S8_INDEX, "linux/arm", "linux/arm/v6"),
        ("S12", S8_INDEX, "linux/arm/v5", "linux/arm/v5"),
        ("S13", S8_INDEX, "linux/arm/v8", "linux/arm/v6"),
        ("S14", S8_INDEX, "linux/s390x", None),
        (
            "S16",
            ("windows(10.0.14393)/amd64", "windows(10.0.17763)/amd64", "windows(10.0.18362)/amd64"),
            "windows/amd64",
            "windows(10.0.14393)/amd64",
        ),
        (
            "S-A1",
            ("linux/amd64", "linux/arm/v6", "linux/arm/v7", "linux/arm64/v8", "linux/386", "linux/ppc64le", "linux/s390x"),
            "linux/amd64",
            "linux/amd64",
        ),
        ("S-A2", ("linux/amd64", "linux/arm/v6", "linux/arm/v7", "linux/arm64/v8"), "linux/arm/v5", None),
        ("S-A3", ("linux/386", "linux/arm/v7"), "linux/amd64", "linux/386"),
        ("S-A5", ("linux/arm/v5", "linux/arm/v6"), "linux/arm64", "linux/arm/v6"),
        ("S-A6", ("linux/arm64/v8.2", "linux/arm64"), "linux/arm64/v9", "linux/arm64/v8.2"),
        ("rule5 aliases: index order", ("linux/aarch64", "linux/arm64/v8", "linux/arm64"), "linux/arm64", "linux/aarch64"),
        ("rule5 arm == arm/v7", ("linux/arm/v7", "linux/arm"), "linux/arm", "linux/arm/v7"),
        ("fallback prefers nearest", ("linux/arm/v5", "linux/arm/v7", "linux/arm/v6"), "linux/arm64", "linux/arm/v7"),
    ],
)
def test_selection_vectors(vector, specs, wanted, expected):
    assert chosen_spec(specs, wanted) == expected, vector


def test_attestations_are_never_chosen_even_for_unknown():
    img = entry("linux/amd64", name="img")
    att = entry("unknown/unknown", name="att", annotations={**ATT, "vnd.docker.reference.digest": str(img.digest)})
    assert select([att, img], Platform.parse("linux/amd64")).chosen is img
    assert select([img, att], Platform("unknown", "unknown")).chosen is None


def test_platformless_entries_rank_after_every_match():
    bare = entry(None, name="bare")
    amd = entry("linux/amd64", name="amd")
    sel = select([bare, amd], Platform.parse("linux/amd64"))
    assert sel.chosen is amd
    sel = select([bare, entry("linux/arm64", name="arm")], Platform.parse("linux/amd64"))
    assert sel.chosen is bare


def test_unknown_media_types_are_skipped():
    odd = entry("linux/amd64", name="odd", media_type="application/vnd.example.thing+json")
    ok = entry("linux/amd64", name="ok")
    assert select([odd, ok], Platform.parse("linux/amd64")).chosen is ok


def test_explanation_marks_every_candidate():
    entries = index("linux/amd64", "linux/arm/v6", "linux/arm64/v8")
    sel = select(entries, Platform.parse("linux/arm64"))
    by_pos = {c.position: c for c in sel.candidates}
    assert [c.chosen for c in sel.candidates] == [False, False, True]
    assert by_pos[0].matched is False and "does not run on linux/arm64" in by_pos[0].reason
    assert by_pos[1].matched is True and by_pos[1].rank and by_pos[1].rank > 0
    assert by_pos[2].rank == 0 and "exact match" in by_pos[2].reason


def test_available_lists_platforms_without_attestations():
    img = entry("linux/amd64", name="img")
    att = entry("unknown/unknown", name="att", annotations=ATT)
    sel = select([img, att, entry("linux/arm/v7", name="arm")], Platform.parse("linux/s390x"))
    assert sel.chosen is None
    assert sel.available == ["linux/amd64", "linux/arm/v7"]


def test_digest_helper_is_deterministic():
    assert entry("linux/amd64", name="x").digest == Digest("sha256", hashlib.sha256(b"x").hexdigest())
