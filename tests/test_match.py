"""Matchers: behaviour.md §1.6-§1.11 vectors (O, OS, OO, OOL, OF, §1.7 vectors, W, WM, WL, S)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from manifold.match import (
    all_platforms,
    any_of,
    default_matcher,
    new_matcher,
    only,
    only_os,
    only_strict,
    ordered,
    platform_vector,
    rank,
    sort_platforms,
    windows_compatible,
)
from manifold.platform import Platform


def plat(text: str) -> Platform:
    """A platform in the vectors' notation: ``os/arch[/variant]`` taken literally, or FormatAll form."""
    if "(" in text:
        return Platform.parse(text)
    return Platform(*text.split("/"))


def win(os_version: str = "", arch: str = "amd64") -> Platform:
    return Platform("windows", arch, "", os_version)


ARM = ["linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7", "linux/arm/v8"]
WINDOWS = ["windows/amd64", "windows/arm"]
ARM64_V8_MINORS = [f"linux/arm64/v8.{n}" for n in range(1, 10)]


def check(matcher, yes: Sequence[str], no: Sequence[str]) -> tuple[list[str], list[str]]:
    """(platforms wrongly refused, platforms wrongly accepted): both empty when the matcher is right."""
    return [q for q in yes if not matcher.match(plat(q))], [q for q in no if matcher.match(plat(q))]


# --- vectors O: Only(p).Match(q) -----------------------------------------------------------

O_ROWS = [
    ("O1", "linux/amd64", ["linux/amd64", "linux/386"], ["linux/amd64/v2", "linux/arm/v7", "linux/arm64", *WINDOWS]),
    (
        "O2",
        "linux/amd64/v2",
        ["linux/amd64", "linux/amd64/v1", "linux/amd64/v2", "linux/386"],
        ["linux/amd64/v3", "linux/amd64/v4", "linux/arm/v7", "linux/arm64", *WINDOWS],
    ),
    ("O3", "linux/386", ["linux/386"], ["linux/amd64", "linux/arm/v7", "linux/arm64", *WINDOWS]),
    (
        "O4",
        "windows/amd64",
        ["windows/amd64", "windows(10.0.17763)/amd64"],
        ["linux/amd64", "linux/arm/v7", "linux/arm64", "windows/arm"],
    ),
    ("O5", "linux/arm/v8", ARM, ["linux/amd64", "linux/arm/v4", "linux/arm64", *WINDOWS]),
    (
        "O6",
        "linux/arm/v7",
        ["linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7"],
        ["linux/amd64", "linux/arm/v4", "linux/arm/v8", "linux/arm64", *WINDOWS],
    ),
    (
        "O7",
        "linux/arm/v6",
        ["linux/arm/v5", "linux/arm/v6"],
        ["linux/amd64", "linux/arm", "linux/arm/v4", "linux/arm/v7", "linux/arm/v8", "linux/arm64", *WINDOWS],
    ),
    (
        "O8",
        "linux/arm/v5",
        ["linux/arm/v5"],
        ["linux/arm", "linux/arm/v4", "linux/arm/v6", "linux/arm/v7", "linux/arm/v8", "linux/amd64", "linux/arm64", *WINDOWS],
    ),
    (
        "O9",
        "linux/arm/v4",
        ["linux/arm/v4"],
        ["linux/arm", *ARM[1:], "linux/amd64", "linux/arm64", *WINDOWS],
    ),
    (
        "O10",
        "linux/arm64/v9.6",
        [*ARM, "linux/arm64", "linux/arm64/v8", *ARM64_V8_MINORS, "linux/arm64/v9"]
        + [f"linux/arm64/v9.{n}" for n in range(0, 7)],
        ["linux/amd64", "linux/arm/v4", *WINDOWS, "linux/arm64/v8.10", "linux/arm64/v9.7"],
    ),
    (
        "O11",
        "linux/arm64/v9",
        [*ARM, "linux/arm64", "linux/arm64/v8", *ARM64_V8_MINORS[:5], "linux/arm64/v9", "linux/arm64/v9.0"],
        ["linux/amd64", "linux/arm/v4", *WINDOWS, "linux/arm64/v8.6", "linux/arm64/v9.1"],
    ),
    (
        "O12",
        "linux/arm64/v8.1",
        [*ARM, "linux/arm64", "linux/arm64/v8", "linux/arm64/v8.1"],
        ["linux/amd64", "linux/arm/v4", "linux/arm/v9", "linux/arm64/v9", "linux/arm64/v8.2", *WINDOWS],
    ),
    (
        "O13",
        "linux/arm64",
        [*ARM, "linux/arm64", "linux/arm64/v8"],
        ["linux/amd64", "linux/arm/v4", "linux/arm/v9", "linux/arm64/v9", "linux/arm64/v8.1", *WINDOWS],
    ),
]


@pytest.mark.parametrize(("spec", "yes", "no"), [pytest.param(*r[1:], id=r[0]) for r in O_ROWS])
def test_only_match_vectors_o(spec, yes, no):
    assert check(only(plat(spec)), yes, no) == ([], [])


# --- vectors OS: OnlyStrict(p).Match(q) ------------------------------------------------------

OS_ROWS = [
    ("OS1", "linux/amd64", ["linux/amd64"], ["linux/386", "linux/arm/v7", "linux/arm64", *WINDOWS]),
    ("OS2", "linux/386", ["linux/386"], ["linux/amd64", "linux/arm/v7", "linux/arm64", *WINDOWS]),
    (
        "OS3",
        "windows/amd64",
        ["windows/amd64", "windows(10.0.17763)/amd64"],
        ["linux/amd64", "linux/arm/v7", "linux/arm64", "windows/arm"],
    ),
    (
        "OS4",
        "windows(10.0.17763)/amd64",
        ["windows/amd64", "windows(10.0.17763)/amd64"],
        ["linux/amd64", "linux/386", "linux/arm/v7", "linux/arm64", "windows/arm"],
    ),
    ("OS5", "linux/arm/v8", ["linux/arm/v8"], [*ARM[:4], "linux/arm/v4", "linux/amd64", "linux/arm64", *WINDOWS]),
    (
        "OS6",
        "linux/arm/v7",
        ["linux/arm", "linux/arm/v7"],
        ["linux/arm/v5", "linux/arm/v6", "linux/arm/v4", "linux/arm/v8", "linux/amd64", "linux/arm64", *WINDOWS],
    ),
    (
        "OS7",
        "linux/arm/v6",
        ["linux/arm/v6"],
        ["linux/arm/v5", "linux/arm", "linux/arm/v4", "linux/arm/v7", "linux/arm/v8", "linux/amd64", "linux/arm64", *WINDOWS],
    ),
    ("OS8", "linux/arm/v5", ["linux/arm/v5"], ["linux/arm", *ARM[2:], "linux/arm/v4", "linux/amd64", "linux/arm64", *WINDOWS]),
    ("OS9", "linux/arm/v4", ["linux/arm/v4"], [*ARM, "linux/amd64", "linux/arm64", *WINDOWS]),
    (
        "OS10",
        "linux/arm64/v9.5",
        ["linux/arm64/v9.5"],
        [*ARM, "linux/arm64/v8", "linux/arm64/v8.1", "linux/arm64/v9", "linux/arm64/v9.1", "linux/arm64/v9.4"]
        + ["linux/amd64", *WINDOWS],
    ),
    (
        "OS11",
        "linux/arm64/v9",
        ["linux/arm64/v9", "linux/arm64/v9.0"],
        [*ARM, "linux/arm/v9", "linux/arm64/v8", "linux/arm64/v8.1", "linux/amd64", *WINDOWS],
    ),
    (
        "OS12",
        "linux/arm64/v8.1",
        ["linux/arm64/v8.1"],
        [*ARM, "linux/arm/v9", "linux/arm64/v8", "linux/arm64/v9", "linux/amd64", *WINDOWS],
    ),
    (
        "OS13",
        "linux/arm64",
        ["linux/arm64", "linux/arm64/v8"],
        [*ARM, "linux/arm/v9", "linux/arm64/v9", "linux/amd64", *WINDOWS],
    ),
]


@pytest.mark.parametrize(("spec", "yes", "no"), [pytest.param(*r[1:], id=r[0]) for r in OS_ROWS])
def test_only_strict_match_vectors_os(spec, yes, no):
    assert check(only_strict(plat(spec)), yes, no) == ([], [])


# --- vectors OO / OOL: OnlyOS ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "yes", "no"),
    [
        pytest.param(
            "linux/amd64", ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/386"], ["windows/amd64", "darwin/arm64"], id="OO1"
        ),
        pytest.param(
            "windows(10.0.17763)/amd64",
            ["windows/amd64", "windows/arm64", "windows(10.0.17763)/amd64", "windows(10.0.17763)/arm64"],
            ["linux/amd64", "windows(10.0.20348)/amd64"],
            id="OO2",
        ),
        pytest.param(
            "linux(+gpu)/amd64", ["linux/arm64", "linux(+gpu)/amd64"], ["windows/amd64", "linux(+gpu+simd)/amd64"], id="OO3"
        ),
    ],
)
def test_only_os_match_vectors_oo(spec, yes, no):
    assert check(only_os(plat(spec)), yes, no) == ([], [])


@pytest.mark.parametrize(
    ("spec", "items", "want"),
    [
        pytest.param(
            "linux/amd64",
            ["linux/arm64", "linux/386", "linux/amd64", "windows/amd64"],
            ["linux/amd64", "linux/arm64", "linux/386", "windows/amd64"],
            id="OOL1",
        ),
        pytest.param(
            "linux/arm64",
            ["linux/amd64", "linux/arm/v7", "linux/arm64", "windows/arm64"],
            ["linux/arm64", "linux/amd64", "linux/arm/v7", "windows/arm64"],
            id="OOL2",
        ),
        pytest.param(
            "linux/amd64",
            ["windows/amd64", "darwin/amd64", "linux/arm64", "linux/amd64"],
            ["linux/amd64", "linux/arm64", "windows/amd64", "darwin/amd64"],
            id="OOL3",
        ),
    ],
)
def test_only_os_order_vectors_ool(spec, items, want):
    assert sort_platforms(only_os(plat(spec)), items, key=plat) == want


# --- vectors OF: ordering with os.features ------------------------------------------------------

OF_ROWS = [
    (
        "OF1",
        "linux/amd64",
        ["windows/amd64", "linux/amd64", "linux(+other)/amd64", "linux/arm64"],
        ["linux/amd64", "linux(+other)/amd64", "windows/amd64", "linux/arm64"],
    ),
    (
        "OF2",
        "linux(+none)/amd64",
        ["windows/amd64", "linux/amd64", "linux/arm64", "linux(+other)/amd64"],
        ["linux/amd64", "linux(+other)/amd64", "windows/amd64", "linux/arm64"],
    ),
    (
        "OF3",
        "linux(+other)/amd64",
        ["windows/amd64", "linux/amd64", "linux/arm64", "linux(+other)/amd64"],
        ["linux(+other)/amd64", "linux/amd64", "windows/amd64", "linux/arm64"],
    ),
    (
        "OF4",
        "linux(+af+other+zf)/amd64",
        ["windows/amd64", "linux/amd64", "linux/arm64", "linux(+other)/amd64"],
        ["linux(+other)/amd64", "linux/amd64", "windows/amd64", "linux/arm64"],
    ),
    (
        "OF5",
        "linux(+f1+f2)/amd64",
        ["linux/amd64", "linux(+f2)/amd64", "linux(+f1)/amd64", "linux(+f1+f2)/amd64"],
        ["linux(+f1+f2)/amd64", "linux(+f2)/amd64", "linux(+f1)/amd64", "linux/amd64"],
    ),
    (
        "OF6",
        "linux(7.2+other)/amd64",
        ["linux/amd64", "linux(+other)/amd64", "linux(7.1)/amd64", "linux(7.2+other)/amd64"],
        ["linux(+other)/amd64", "linux(7.2+other)/amd64", "linux/amd64", "linux(7.1)/amd64"],
    ),
]
MATCHER_KINDS = {
    "only": only,
    "only_strict": only_strict,
    "ordered": lambda p: ordered(p),
    "any_of": lambda p: any_of(p),
}


@pytest.mark.parametrize("kind", MATCHER_KINDS)
@pytest.mark.parametrize(("spec", "items", "want"), [pytest.param(*r[1:], id=r[0]) for r in OF_ROWS])
def test_feature_ordering_vectors_of(spec, items, want, kind):
    assert sort_platforms(MATCHER_KINDS[kind](plat(spec)), items, key=plat) == want


def test_candidate_with_extra_feature_does_not_match_of1():
    assert not only(plat("linux/amd64")).match(plat("linux(+other)/amd64"))


# --- §1.7 fallback vectors ----------------------------------------------------------------------

ARM_V8_DOWN = ["linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]


@pytest.mark.parametrize(
    ("spec", "vector"),
    [
        ("linux/amd64", ["linux/amd64", "linux/386"]),
        ("linux/amd64/v2", ["linux/amd64/v2", "linux/amd64", "linux/386"]),
        ("linux/amd64/v3", ["linux/amd64/v3", "linux/amd64/v2", "linux/amd64", "linux/386"]),
        ("linux/amd64/v4", ["linux/amd64/v4", "linux/amd64/v3", "linux/amd64/v2", "linux/amd64", "linux/386"]),
        ("linux/x86_64/v1", ["linux/amd64", "linux/386"]),
        ("linux/386", ["linux/386"]),
        ("linux/arm64", ["linux/arm64", *ARM_V8_DOWN]),
        ("linux/arm64/v8", ["linux/arm64", *ARM_V8_DOWN]),
        ("linux/aarch64", ["linux/arm64", *ARM_V8_DOWN]),
        ("linux/arm64/v8.2", ["linux/arm64/v8.2", "linux/arm64/v8.1", "linux/arm64", *ARM_V8_DOWN]),
        ("linux/arm64/v9", ["linux/arm64/v9", *[f"linux/arm64/v8.{n}" for n in range(5, 0, -1)], "linux/arm64", *ARM_V8_DOWN]),
        ("linux/arm64/v9.0", ["linux/arm64/v9", *[f"linux/arm64/v8.{n}" for n in range(5, 0, -1)], "linux/arm64", *ARM_V8_DOWN]),
        (
            "linux/arm64/v9.1",
            ["linux/arm64/v9.1", "linux/arm64/v9", *[f"linux/arm64/v8.{n}" for n in range(6, 0, -1)], "linux/arm64", *ARM_V8_DOWN],
        ),
        (
            "linux/arm64/v9.6",
            [f"linux/arm64/v9.{n}" for n in range(6, 0, -1)]
            + ["linux/arm64/v9", *[f"linux/arm64/v8.{n}" for n in range(9, 0, -1)], "linux/arm64", *ARM_V8_DOWN],
        ),
        ("linux/arm64/v8.10", []),
        ("linux/arm64/v7", []),
        ("linux/arm/v8", ARM_V8_DOWN),
        ("linux/arm", ARM_V8_DOWN[1:]),
        ("linux/arm/v7", ARM_V8_DOWN[1:]),
        ("linux/armhf", ARM_V8_DOWN[1:]),
        ("linux/arm/v6", ["linux/arm/v6", "linux/arm/v5"]),
        ("linux/armel", ["linux/arm/v6", "linux/arm/v5"]),
        ("linux/arm/v5", ["linux/arm/v5"]),
        ("linux/arm/v4", ["linux/arm/v4"]),
        ("linux/ppc64le", ["linux/ppc64le"]),
        ("linux/s390x", ["linux/s390x"]),
        ("linux/riscv64", ["linux/riscv64"]),
        ("linux/loong64", ["linux/loong64"]),
        ("linux/mips64le", ["linux/mips64le"]),
        ("windows/amd64", ["windows/amd64", "windows/386"]),
        ("windows(10.0.17763)/amd64", ["windows(10.0.17763)/amd64", "windows(10.0.17763)/386"]),
        ("linux(+gpu)/arm/v6", ["linux(+gpu)/arm/v6", "linux(+gpu)/arm/v5"]),
    ],
)
def test_platform_vector_table(spec, vector):
    assert [p.normalize().format_all() for p in platform_vector(plat(spec))] == vector


def test_unknown_arm64_variant_matches_nothing_not_even_itself():
    assert not only(plat("linux/arm64/v8.10")).match(plat("linux/arm64/v8.10"))


def test_huge_numbered_variant_does_not_build_a_huge_vector():
    assert len(platform_vector(plat("linux/amd64/v99999999999"))) == 2


# --- vectors W / WM / WL: Windows os.version -----------------------------------------------------


@pytest.mark.parametrize(
    ("host", "ctr", "runs"),
    [
        pytest.param(17763, 17763, True, id="W1"),
        pytest.param(17763, 20348, False, id="W2"),
        pytest.param(20348, 17763, False, id="W3"),
        pytest.param(20348, 20348, True, id="W4"),
        pytest.param(22621, 17763, False, id="W5"),
        pytest.param(22621, 20348, True, id="W6"),
        pytest.param(25398, 17763, False, id="W7"),
        pytest.param(25398, 20348, True, id="W8"),
        pytest.param(26100, 20348, True, id="W9"),
        pytest.param(20348, 26100, False, id="W10"),
        pytest.param(20348, 22621, False, id="W11"),
        pytest.param(26100, 22621, True, id="W12"),
        pytest.param(26200, 20348, True, id="W13-rc5"),
        pytest.param(26200, 26100, True, id="W14"),
        pytest.param(26200, 22621, True, id="W15-rc5"),
        pytest.param(26200, 17763, False, id="W16"),
    ],
)
def test_windows_compat_vectors_w(host, ctr, runs):
    assert windows_compatible(f"10.0.{host}", f"10.0.{ctr}.1") is runs


@pytest.mark.parametrize(
    ("host", "ctr", "runs"),
    [
        ("6.3.20348", "10.0.20348", False),  # major.minor must agree
        ("10.1.20348", "10.0.20348", False),
        ("", "10.0.17763", True),  # no host version: don't care
        ("10.0.17763", "", True),  # no container version: don't care
        ("10.0", "10.0.17763", True),  # fewer than two dots: unparsable host = empty
        ("99.99.99.99", "", True),  # TestFallbackOnOSVersion
        ("10.0.17763", "10.0", False),  # unparsable container = 0.0.0
        ("10.0.17763", "garbage", False),
        ("10.0.99999", "10.0.17763", True),  # build over uint16: unparsable host
        ("10.0.+17763", "10.0.17763", True),  # Go ParseUint takes no sign
    ],
)
def test_windows_compat_edges(host, ctr, runs):
    assert windows_compatible(host, ctr) is runs


@pytest.mark.parametrize(
    ("host", "test", "match"),
    [
        pytest.param("10.0.17763", "10.0.17763", True, id="WM1"),
        pytest.param("10.0.17763", "10.0.20348", False, id="WM2"),
        pytest.param("10.0.20348", "10.0.17763", False, id="WM3"),
        pytest.param("10.0.20348", "10.0.20348", True, id="WM4"),
        pytest.param("10.0.22621", "10.0.17763", False, id="WM5"),
        pytest.param("10.0.22621", "10.0.20348", True, id="WM6"),
        pytest.param("", "10.0.17763", True, id="WM7"),
        pytest.param("", "", True, id="WM8"),
        pytest.param("", "10.0.22621", True, id="WM9"),
    ],
)
def test_windows_new_matcher_vectors_wm(host, test, match):
    assert new_matcher(win(host)).match(win(test)) is match


@pytest.mark.parametrize(
    ("features", "match"),
    [(("win32k",), True), (("win32k", "gpu"), False), ((), True)],
)
def test_windows_matcher_ignores_win32k(features, match):
    candidate = Platform("windows", "amd64", "", "10.0.20348.1", features)
    assert new_matcher(win("10.0.20348")).match(candidate) is match


def test_linux_matcher_does_not_ignore_win32k():
    assert not new_matcher(plat("linux/amd64")).match(plat("linux(+win32k)/amd64"))


def test_windows_less_vector_wl1():
    m = default_matcher(win("10.0.17763.1"))
    versions = ["10.0.17764.1", "", "10.0.17763.1", "10.0.17763.2", "10.0.17762.1"]
    got = sort_platforms(m, versions, key=win)
    assert got == ["10.0.17763.2", "10.0.17763.1", "", "10.0.17764.1", "10.0.17762.1"]


@pytest.mark.parametrize(
    ("host", "candidates", "first"),
    [
        pytest.param("10.0.20348.3091", ["linux/amd64", "10.0.20348.3091", "10.0.26100.2894"], "10.0.20348.3091", id="WL2"),
        pytest.param("10.0.26100.2894", ["linux/amd64", "10.0.20348.3091", "10.0.26100.2894"], "10.0.26100.2894", id="WL3"),
        pytest.param("10.0.26100.2894", ["linux/amd64", "10.0.20348.3091", "10.0.26100.3000"], "10.0.26100.3000", id="WL4"),
        pytest.param("10.0.26200.0", ["linux/amd64", "10.0.20348.3091"], "10.0.20348.3091", id="WL5-rc5"),
    ],
)
def test_windows_default_picks_vectors_wl(host, candidates, first):
    items = [plat(c) if c.startswith("linux") else win(c) for c in candidates]
    chosen = select(default_matcher(win(host)), items)
    assert chosen is not None and chosen.os_version == first


def test_windows_less_compares_strings_pitfall():
    m = default_matcher(win("10.0.17763.1"))
    assert m.less(win("10.0.17763.9"), win("10.0.17763.10"))


# --- selection (vectors S) -------------------------------------------------------------------


def select(m, entries: Sequence[Platform | None]) -> Platform | None:
    """Test-only copy of the selection algorithm: filter by match, stable sort by less, first.

    ``None`` stands for an entry without a platform: kept, and ranked after every match.
    """
    kept = [p for p in entries if p is not None and m.match(p)]
    ranked = sort_platforms(m, kept, key=lambda p: p) + [p for p in entries if p is None]
    return ranked[0] if ranked else None


S8_INDEX = ["linux/amd64", "linux/arm/v5", "linux/arm/v6", "linux/arm64/v8", "windows(10.0.14393)/amd64"]
WIN_INDEX = ["windows(10.0.14393)/amd64", "windows(10.0.17763)/amd64", "windows(10.0.18362)/amd64", "windows(10.0.19041)/amd64"]
A1_INDEX = [
    "linux/amd64",
    "linux/arm/v6",
    "linux/arm/v7",
    "linux/arm64/v8",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
    "unknown/unknown",
]

# (id, host, requested or None for the host default, index, Only → first, OnlyStrict → first or "skip")
S_ROWS = [
    ("S1", "linux/amd64/v4", None, ["linux/amd64", "linux/amd64/v3"], "linux/amd64/v3", "skip"),
    ("S2", "linux/amd64/v4", "linux/amd64", ["linux/amd64", "linux/amd64/v3"], "linux/amd64", "linux/amd64"),
    ("S3", "linux/amd64/v4", "linux/amd64/v3", ["linux/amd64", "linux/amd64/v3"], "linux/amd64/v3", "linux/amd64/v3"),
    ("S4", "linux/amd64/v4", None, ["linux/amd64/v3"], "linux/amd64/v3", "skip"),
    ("S5", "linux/amd64/v4", "linux/amd64", ["linux/amd64/v3"], None, None),
    ("S6", "linux/amd64/v4", None, ["linux/amd64/v2", "linux/amd64/v3"], "linux/amd64/v3", "skip"),
    ("S7", "linux/amd64/v4", "linux/amd64/v4", ["linux/amd64/v2", "linux/amd64/v3"], "linux/amd64/v3", None),
    ("S8", "linux/arm64/v8", None, S8_INDEX, "linux/arm64/v8", "skip"),
    ("S9", "linux/arm64/v8", "linux/amd64", S8_INDEX, "linux/amd64", "linux/amd64"),
    ("S10", "linux/arm64/v8", "windows/amd64", S8_INDEX, "windows(10.0.14393)/amd64", "windows(10.0.14393)/amd64"),
    ("S11", "linux/arm64/v8", "linux/arm", S8_INDEX, "linux/arm/v6", None),
    ("S12", "linux/arm64/v8", "linux/arm/v5", S8_INDEX, "linux/arm/v5", "linux/arm/v5"),
    ("S13", "linux/arm64/v8", "linux/arm/v8", S8_INDEX, "linux/arm/v6", None),
    ("S14", "linux/arm64/v8", "linux/s390x", S8_INDEX, None, None),
    ("S15", "windows(10.0.18362)/amd64", None, WIN_INDEX, "windows(10.0.18362)/amd64", "skip"),
    ("S16", "windows(10.0.18362)/amd64", "windows/amd64", WIN_INDEX, "windows(10.0.14393)/amd64", "skip"),
    ("S-A1", "linux/amd64", None, A1_INDEX, "linux/amd64", "skip"),
    ("S-A2", "linux/arm/v5", None, A1_INDEX, None, "skip"),
    ("S-A3", "linux/amd64", None, ["linux/386", "linux/arm/v7"], "linux/386", "skip"),
    ("S-A4", "linux/amd64", None, ["linux/amd64/v3"], None, "skip"),
    ("S-A4-docker-v3", "linux/amd64/v3", None, ["linux/amd64/v3"], "linux/amd64/v3", "skip"),
    ("S-A5", "linux/arm64", None, ["linux/arm/v5", "linux/arm/v6"], "linux/arm/v6", "skip"),
    ("S-A6", "linux/arm64/v9", "linux/arm64/v9", ["linux/arm64/v8.2", "linux/arm64"], "linux/arm64/v8.2", None),
    ("S-F1", "linux/amd64", None, ["linux(+gpu)/amd64", "linux/amd64"], "linux/amd64", "skip"),
    (
        "S-W1",
        "windows(10.0.20348)/amd64",
        None,
        ["windows(10.0.17763.5576)/amd64", "windows(10.0.20348.2340)/amd64", "linux/amd64"],
        "windows(10.0.20348.2340)/amd64",
        "skip",
    ),
]


def _requested_matcher(host: str, requested: str | None, strict: bool):
    if requested is None:
        return default_matcher(plat(host))
    return (only_strict if strict else only)(plat(requested))


@pytest.mark.parametrize(("host", "requested", "index", "first"), [pytest.param(*r[1:5], id=r[0]) for r in S_ROWS])
def test_selection_vectors_s(host, requested, index, first):
    chosen = select(_requested_matcher(host, requested, strict=False), [plat(e) for e in index])
    assert (chosen.format_all() if chosen else None) == first


@pytest.mark.parametrize(
    ("host", "requested", "index", "first"),
    [pytest.param(r[1], r[2], r[3], r[5], id=r[0]) for r in S_ROWS if r[5] != "skip"],
)
def test_selection_vectors_s_strict(host, requested, index, first):
    chosen = select(_requested_matcher(host, requested, strict=True), [plat(e) for e in index])
    assert (chosen.format_all() if chosen else None) == first


def test_selection_equal_entries_keep_index_order_s_a7():
    x, y = Platform("linux", "amd64"), Platform("linux", "x86_64", "v1")
    entries = [("X", x), ("Y", y)]
    assert sort_platforms(only(Platform("linux", "amd64")), entries, key=lambda e: e[1])[0][0] == "X"


def test_selection_platformless_entry_ranks_last_s_n1():
    assert select(only(plat("linux/amd64")), [None, plat("linux/amd64")]) == plat("linux/amd64")


@pytest.mark.parametrize(
    ("requested", "index", "first"),
    [
        ("linux/arm64", ["linux/arm64", "linux/arm64/v8"], "linux/arm64"),
        ("linux/arm64", ["linux/arm64/v8", "linux/arm64"], "linux/arm64/v8"),
        ("linux/arm64/v8", ["linux/aarch64", "linux/arm64"], "linux/aarch64"),
        ("linux/arm/v7", ["linux/arm", "linux/arm/v7"], "linux/arm"),
        ("linux/arm", ["linux/armhf", "linux/arm"], "linux/armhf"),
        ("linux/amd64", ["linux/amd64/v1", "linux/amd64"], "linux/amd64/v1"),
        ("linux/amd64", ["linux/x86_64", "linux/amd64"], "linux/x86_64"),
    ],
)
def test_equivalent_spellings_carry_no_preference(requested, index, first):
    assert select(only(plat(requested)), [plat(e) for e in index]) == plat(first)


def test_sort_is_stable_for_long_lists():
    m = only(plat("linux/arm64"))
    items = [(i, plat(s)) for i, s in enumerate(["linux/arm/v7", "linux/arm64", "linux/s390x"] * 10)]
    got = sort_platforms(m, items, key=lambda e: e[1])
    assert [i for i, _ in got[:10]] == list(range(1, 30, 3))
    assert [i for i, _ in got[10:20]] == list(range(0, 30, 3))


# --- rank, other combinators, defaults ---------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "candidate", "position"),
    [
        ("linux/amd64/v3", "linux/amd64/v3", 0),
        ("linux/amd64/v3", "linux/amd64/v2", 1),
        ("linux/amd64/v3", "linux/amd64", 2),
        ("linux/amd64/v3", "linux/386", 3),
        ("linux/amd64/v3", "linux/arm64", None),
        ("linux/arm64", "linux/arm64/v8", 0),
        ("linux/arm64", "linux/arm/v7", 2),
    ],
)
def test_rank_is_position_in_vector(spec, candidate, position):
    assert rank(only(plat(spec)), plat(candidate)) == position


def test_rank_of_plain_matcher():
    class Exact:
        def match(self, p: Platform) -> bool:
            return p.architecture == "s390x"

        def less(self, a: Platform, b: Platform) -> bool:
            return False

    assert (rank(Exact(), plat("linux/s390x")), rank(Exact(), plat("linux/amd64"))) == (0, None)


def test_ordered_prefers_earlier_platforms():
    m = ordered(plat("linux/arm64"), plat("linux/amd64"))
    items = ["linux/amd64", "linux/s390x", "linux/aarch64"]
    assert sort_platforms(m, items, key=plat) == ["linux/aarch64", "linux/amd64", "linux/s390x"]


def test_any_of_matches_without_preference():
    m = any_of(plat("linux/arm64"), plat("linux/amd64"))
    items = ["linux/s390x", "linux/amd64", "linux/aarch64"]
    assert (m.match(plat("linux/amd64")), sort_platforms(m, items, key=plat)) == (
        True,
        ["linux/amd64", "linux/aarch64", "linux/s390x"],
    )


def test_all_platforms_matches_everything_in_index_order():
    m = all_platforms()
    items = ["unknown/unknown", "windows/arm64", "linux/amd64"]
    assert ([m.match(plat(i)) for i in items], sort_platforms(m, items, key=plat)) == ([True] * 3, items)


@pytest.mark.parametrize(
    ("host", "yes", "no"),
    [
        ("linux/arm64/v8", ["linux/arm64", "linux/arm/v7"], ["darwin/arm64", "linux/amd64"]),
        ("darwin/arm64/v8", ["darwin/arm64", "linux/arm64"], ["linux/arm/v7", "darwin/amd64"]),
        ("freebsd/arm64/v8", ["freebsd/arm64", "linux/arm64/v8"], ["linux/arm/v7"]),
        ("windows(10.0.20348)/amd64", ["windows(10.0.20348.1)/amd64", "windows/amd64"], ["windows/386", "linux/amd64"]),
    ],
)
def test_default_matcher_per_host_os(host, yes, no):
    assert check(default_matcher(plat(host)), yes, no) == ([], [])


def test_darwin_default_prefers_darwin_then_linux():
    m = default_matcher(plat("darwin/arm64/v8"))
    assert sort_platforms(m, ["linux/arm64", "darwin/arm64"], key=plat) == ["darwin/arm64", "linux/arm64"]


@pytest.mark.parametrize(("host_os", "match"), [("linux", True), ("windows", False)])
def test_empty_candidate_os_is_the_host_os(host_os, match):
    assert only(plat("linux/amd64"), host_os=host_os).match(Platform("", "amd64")) is match


def test_new_matcher_ignores_non_windows_os_version():
    assert new_matcher(plat("linux(7.2)/amd64")).match(plat("linux(7.1)/amd64"))


def test_new_matcher_feature_subset():
    m = new_matcher(plat("linux(+gpu+simd)/amd64"))
    assert check(m, ["linux/amd64", "linux(+gpu)/amd64", "linux(+simd+gpu)/amd64"], ["linux(+gpu+tpu)/amd64"]) == ([], [])
