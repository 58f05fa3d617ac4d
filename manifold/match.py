"""containerd-compatible platform matchers (containerd/platforms v1.0.0-rc.5), pure.

A matcher answers two questions about a candidate platform: does it run here (``match``), and is
one candidate preferred to another (``less``, used for a *stable* sort). Selection is: keep the
candidates that match, stable-sort them by ``less``, take the first (behaviour.md §1.8).

- ``new_matcher(p)``: equality after normalisation; for a Windows matcher the candidate's
  os.version must be compatible (§1.10) and ``win32k`` is ignored; the candidate's os.features
  must be a subset of the matcher's.
- ``only(p)``: ``ordered(*platform_vector(p))``, p plus the platforms that run on it, best first
  (amd64/v3 → v2 → v1 → 386; arm64 → arm/v8 … v5; arm/v7 → v6 → v5; arm64/v9.x → v9.* → v8.*).
- ``only_strict(p)``, ``ordered(*ps)``, ``any_of(*ps)``, ``all_platforms()``, ``only_os(p)``.
- ``default_matcher(host)``: containerd ``Default()`` for that host's OS.

The host is always an argument (``host_os`` fills in an empty OS, as Go's ``runtime.GOOS`` does).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import cmp_to_key
from typing import Protocol, TypeVar

from .platform import Platform, normalize_os

__all__ = [
    "Matcher",
    "all_platforms",
    "any_of",
    "default_matcher",
    "new_matcher",
    "only",
    "only_os",
    "only_strict",
    "ordered",
    "platform_vector",
    "rank",
    "sort_platforms",
    "windows_compatible",
]

T = TypeVar("T")

#: Windows builds: ltsc2022 (20348) and ltsc2025 (26100) form the stable-ABI list (§1.10).
_LTSC_RELEASES = (20348, 26100)
_INT = re.compile(r"[+-]?[0-9]+")
_UINT = re.compile(r"[0-9]+")
#: numbered variants above this are treated as unparsable, so a typo cannot build a huge vector
_MAX_LEVEL = 1024
_ARM64_VERSIONS: dict[str, tuple[tuple[int, int], ...]] = {
    "v8": ((8, 0),),
    "v8.0": ((8, 0),),
    **{f"v8.{n}": ((8, n),) for n in range(1, 10)},
    "v9": ((9, 0), (8, 5)),
    "v9.0": ((9, 0), (8, 5)),
    **{f"v9.{n}": ((9, n), (8, min(n + 5, 9))) for n in range(1, 8)},
}


class Matcher(Protocol):
    def match(self, p: Platform) -> bool: ...

    def less(self, a: Platform, b: Platform) -> bool: ...


# --- Windows os.version ---------------------------------------------------------------


def _windows_version(text: str) -> tuple[int, int, int]:
    """``getWindowsOSVersion``: (major, minor, build) or (0, 0, 0) when unparsable."""
    pieces = text.split(".", 3)
    if len(pieces) < 3:
        return (0, 0, 0)
    out = []
    for piece, bits in zip(pieces[:3], (8, 8, 16)):
        if not _UINT.fullmatch(piece) or int(piece) >= 1 << bits:
            return (0, 0, 0)
        out.append(int(piece))
    return (out[0], out[1], out[2])


def _windows_compat(host: tuple[int, int, int], ctr: tuple[int, int, int]) -> bool:
    if host[:2] != ctr[:2]:
        return False
    if host[2] < _LTSC_RELEASES[0]:
        return host[2] == ctr[2]
    floor = _LTSC_RELEASES[0]
    for i in range(len(_LTSC_RELEASES) - 1, -1, -1):
        if host[2] >= _LTSC_RELEASES[i]:
            floor = _LTSC_RELEASES[max(i - 1, 0)]  # rc.5: the LTSC before the host's own generation
            break
    return floor <= ctr[2] <= host[2]


def windows_compatible(host_version: str, container_version: str) -> bool:
    """Can a container built for ``container_version`` run on a ``host_version`` host (§1.10, rc.5)?

    An empty or unparsable host version, or an empty container version, means "don't care".
    """
    host = _windows_version(host_version)
    if host == (0, 0, 0) or container_version == "":
        return True
    return _windows_compat(host, _windows_version(container_version))


# --- single-platform matcher (NewMatcher) ---------------------------------------------


class _PlatformMatcher:
    """containerd ``NewMatcher``."""

    def __init__(self, p: Platform, host_os: str) -> None:
        self.platform = p.normalize(host_os=host_os)
        self.host_os = host_os
        self.windows = self.platform.os == "windows"

    def match(self, q: Platform) -> bool:
        n = q.normalize(host_os=self.host_os)
        m = self.platform
        if (n.os, n.architecture, n.variant) != (m.os, m.architecture, m.variant):
            return False
        if self.windows and not windows_compatible(m.os_version, q.os_version):
            return False
        features = [f for f in n.os_features if not (self.windows and f == "win32k")]
        return set(features) <= set(m.os_features)

    def less(self, a: Platform, b: Platform) -> bool:
        return self.match(a) and not self.match(b)

    def rank(self, q: Platform) -> int | None:
        return 0 if self.match(q) else None

    def __repr__(self) -> str:
        return f"new_matcher({self.platform.format_all()!r})"


def new_matcher(p: Platform, *, host_os: str = "linux") -> Matcher:
    return _PlatformMatcher(p, host_os)


# --- combinators ------------------------------------------------------------------------


def _strip(p: Platform) -> Platform:
    return replace(p, os_features=())


class _Ordered:
    """containerd ``Ordered``: match any; prefer the earlier matcher, then more os.features."""

    def __init__(self, platforms: Sequence[Platform], host_os: str) -> None:
        self.matchers = [_PlatformMatcher(p, host_os) for p in platforms]

    def match(self, p: Platform) -> bool:
        return any(m.match(p) for m in self.matchers)

    def less(self, a: Platform, b: Platform) -> bool:
        for m in self.matchers:
            am, bm = m.match(a), m.match(b)
            if am and not bm:
                return True
            if am or bm:
                return am and bm and len(a.os_features) > len(b.os_features)
        if a.os_features or b.os_features:
            return self.less(_strip(a), _strip(b))
        return False

    def rank(self, p: Platform) -> int | None:
        return next((i for i, m in enumerate(self.matchers) if m.match(p)), None)

    def __repr__(self) -> str:
        return f"ordered({', '.join(repr(m.platform.format_all()) for m in self.matchers)})"


class _Any(_Ordered):
    """containerd ``Any``: match any, no preference among the platforms."""

    def less(self, a: Platform, b: Platform) -> bool:
        am = bm = False
        for m in self.matchers:
            am = am or m.match(a)
            bm = bm or m.match(b)
            if am and bm:
                return len(a.os_features) > len(b.os_features)
        if not am and not bm and (a.os_features or b.os_features):
            return self.less(_strip(a), _strip(b))
        return am and not bm

    def rank(self, p: Platform) -> int | None:
        return 0 if self.match(p) else None


class _All:
    def match(self, p: Platform) -> bool:
        return True

    def less(self, a: Platform, b: Platform) -> bool:
        return False

    def rank(self, p: Platform) -> int | None:
        return 0


class _OnlyOS:
    """containerd ``OnlyOS`` (rc.4+): same OS, Windows version and feature subset, any architecture."""

    def __init__(self, p: Platform, host_os: str) -> None:
        self.platform = p.normalize(host_os=host_os)
        self.host_os = host_os
        self.arch_order = _Ordered([self.platform], host_os)

    def match(self, p: Platform) -> bool:
        n = p.normalize(host_os=self.host_os)
        if n.os != self.platform.os:
            return False
        if n.os == "windows" and not windows_compatible(self.platform.os_version, p.os_version):
            return False
        return set(n.os_features) <= set(self.platform.os_features)

    def less(self, a: Platform, b: Platform) -> bool:
        am, bm = self.match(a), self.match(b)
        if am and not bm:
            return True
        if not am:
            return False
        return self.arch_order.less(a, b)

    def rank(self, p: Platform) -> int | None:
        if not self.match(p):
            return None
        return 0 if self.arch_order.match(p) else 1


class _WindowsDefault:
    """containerd ``windowsMatchComparer``: exact match; the larger os.version *string* first."""

    def __init__(self, host: Platform, host_os: str) -> None:
        self.inner = _PlatformMatcher(host, host_os)

    def match(self, p: Platform) -> bool:
        return self.inner.match(p)

    def less(self, a: Platform, b: Platform) -> bool:
        am, bm = self.match(a), self.match(b)
        if am and bm:
            return a.os_version > b.os_version
        return am and not bm

    def rank(self, p: Platform) -> int | None:
        return 0 if self.match(p) else None


# --- fallback vector ------------------------------------------------------------------------


def _level(variant: str) -> int | None:
    """Go ``strconv.Atoi(strings.TrimPrefix(variant, "v"))``, bounded."""
    text = variant[1:] if variant.startswith("v") else variant
    if not _INT.fullmatch(text):
        return None
    value = int(text)
    return value if abs(value) <= _MAX_LEVEL else None


def platform_vector(p: Platform, *, host_os: str = "linux") -> list[Platform]:
    """containerd ``platformVector(Normalize(p))``: p and what runs on it, most preferred first (§1.7)."""
    p = p.normalize(host_os=host_os)

    def like(arch: str, variant: str = "") -> Platform:
        return replace(p, architecture=arch, variant=variant)

    if p.architecture == "amd64":
        level = _level(p.variant) or 0
        return [p, *(like("amd64", f"v{v}") for v in range(level - 1, 0, -1)), like("386")]
    if p.architecture == "arm":
        level = _level(p.variant) or 0
        return [p, *(like("arm", f"v{v}") for v in range(level - 1, 4, -1))] if level > 5 else [p]
    if p.architecture == "arm64":
        versions = _ARM64_VERSIONS.get(p.variant or "v8")
        if versions is None:
            return []  # upstream breaks out before even adding p: matches nothing
        vector = [
            like("arm64", f"v{major}.{minor}" if minor else f"v{major}")
            for major, top in versions
            for minor in range(top, -1, -1)
        ]
        return vector + platform_vector(like("arm", "v8"), host_os=host_os)
    return [p]


# --- constructors ---------------------------------------------------------------------------


def only(p: Platform, *, host_os: str = "linux") -> Matcher:
    """containerd ``Only``: p and every platform in its fallback vector, in that order."""
    return _Ordered(platform_vector(p, host_os=host_os), host_os)


def only_strict(p: Platform, *, host_os: str = "linux") -> Matcher:
    """containerd ``OnlyStrict``: p only, modulo normalisation (arm64 ≡ arm64/v8, arm ≡ arm/v7)."""
    return _Ordered([p.normalize(host_os=host_os)], host_os)


def ordered(*ps: Platform, host_os: str = "linux") -> Matcher:
    return _Ordered(ps, host_os)


def any_of(*ps: Platform, host_os: str = "linux") -> Matcher:
    return _Any(ps, host_os)


def all_platforms() -> Matcher:
    return _All()


def only_os(p: Platform, *, host_os: str = "linux") -> Matcher:
    return _OnlyOS(p, host_os)


def default_matcher(host: Platform) -> Matcher:
    """containerd ``Default()`` on ``host`` (whose OS also fills in an empty candidate OS)."""
    host_os = normalize_os(host.os)
    if host_os == "windows":
        return _WindowsDefault(host, host_os)
    if host_os == "darwin":
        return _Ordered([host, Platform("linux", host.architecture)], host_os)
    if host_os == "freebsd":
        return _Ordered([host, Platform("linux", host.architecture, host.variant)], host_os)
    return only(host, host_os=host_os)


# --- sorting and ranking ----------------------------------------------------------------------


def sort_platforms(m: Matcher, items: Sequence[T], key: Callable[[T], Platform]) -> list[T]:
    """Stable sort by ``m.less``, as Go's ``sort.SliceStable`` does.

    Up to 20 items this is Go's own insertion sort, so even an inconsistent ``less`` (candidates
    that match nothing but carry os.features) orders exactly as upstream; longer lists use
    Python's stable sort, which agrees whenever ``less`` is a consistent preference.
    """
    pairs = [(key(item), item) for item in items]
    if len(pairs) > 20:
        cmp = cmp_to_key(lambda x, y: -1 if m.less(x[0], y[0]) else 0)
        return [item for _, item in sorted(pairs, key=cmp)]
    for i in range(1, len(pairs)):
        j = i
        while j > 0 and m.less(pairs[j][0], pairs[j - 1][0]):
            pairs[j], pairs[j - 1] = pairs[j - 1], pairs[j]
            j -= 1
    return [item for _, item in pairs]


def rank(m: Matcher, p: Platform) -> int | None:
    """Position of the first vector element (matcher) that accepts p; None when nothing does."""
    ranker = getattr(m, "rank", None)
    if callable(ranker):
        result = ranker(p)
        return result if isinstance(result, int) or result is None else None
    return 0 if m.match(p) else None
