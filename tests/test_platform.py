"""Platform: Parse / Format / FormatAll / Normalize vectors from behaviour.md §1.3-§1.5 (P, PE, PF)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from manifold.errors import InvalidInputError, InvalidPlatformError
from manifold.platform import Platform

LINUX_AMD64 = Platform("linux", "amd64")

# (host, GOOS, GOARCH, V): V is the host arm variant a one-part OS specifier inherits.
HOSTS = [
    pytest.param(Platform("linux", "amd64"), "linux", "amd64", "", id="host=linux/amd64"),
    pytest.param(Platform("linux", "arm", "v6"), "linux", "arm", "v6", id="host=linux/arm/v6"),
    pytest.param(Platform("linux", "arm", "v7"), "linux", "arm", "", id="host=linux/arm/v7"),
    pytest.param(Platform("darwin", "arm64", "v8"), "darwin", "arm64", "", id="host=darwin/arm64/v8"),
]


def raw(text: str) -> Platform:
    """``os/arch[/variant]`` taken literally, without Parse's normalisation."""
    return Platform(*text.split("/"))


# --- vectors P ----------------------------------------------------------------------------
# (id, input, expected (os, arch, variant, os.version, features), formatted). {GOOS} {GOARCH} {V}
# are the host's; {/V} is "/" + V when V is not empty.
P_ROWS = [
    ("P1", "linux/arm64", ("linux", "arm64", "", "", ()), "linux/arm64"),
    ("P2", "linux/arm64/v8", ("linux", "arm64", "v8", "", ()), "linux/arm64/v8"),
    ("P3", "linux/arm", ("linux", "arm", "", "", ()), "linux/arm"),
    ("P4", "linux/arm/v6", ("linux", "arm", "v6", "", ()), "linux/arm/v6"),
    ("P5", "linux/arm/v7", ("linux", "arm", "v7", "", ()), "linux/arm/v7"),
    ("P6", "arm", ("{GOOS}", "arm", "", "", ()), "{GOOS}/arm"),
    ("P7", "armel", ("{GOOS}", "arm", "v6", "", ()), "{GOOS}/arm/v6"),
    ("P8", "armhf", ("{GOOS}", "arm", "", "", ()), "{GOOS}/arm"),
    ("P9", "Aarch64", ("{GOOS}", "arm64", "", "", ()), "{GOOS}/arm64"),
    ("P10", "x86_64", ("{GOOS}", "amd64", "", "", ()), "{GOOS}/amd64"),
    ("P11", "Linux/x86_64", ("linux", "amd64", "", "", ()), "linux/amd64"),
    ("P12", "i386", ("{GOOS}", "386", "", "", ()), "{GOOS}/386"),
    ("P13", "linux", ("linux", "{GOARCH}", "{V}", "", ()), "linux/{GOARCH}{/V}"),
    ("P14", "s390x", ("{GOOS}", "s390x", "", "", ()), "{GOOS}/s390x"),
    ("P15", "linux/s390x", ("linux", "s390x", "", "", ()), "linux/s390x"),
    ("P16", "macOS", ("darwin", "{GOARCH}", "{V}", "", ()), "darwin/{GOARCH}{/V}"),
    ("P17", "windows", ("windows", "{GOARCH}", "{V}", "", ()), "windows/{GOARCH}{/V}"),
    ("P18", "windows()", ("windows", "{GOARCH}", "{V}", "", ()), "windows/{GOARCH}{/V}"),
    ("P19", "windows(10.0.17763)", ("windows", "{GOARCH}", "{V}", "10.0.17763", ()), "windows(10.0.17763)/{GOARCH}{/V}"),
    (
        "P20",
        "windows(10.0.17763+win32k)",
        ("windows", "{GOARCH}", "{V}", "10.0.17763", ("win32k",)),
        "windows(10.0.17763+win32k)/{GOARCH}{/V}",
    ),
    ("P21", "linux(+gpu)", ("linux", "{GOARCH}", "{V}", "", ("gpu",)), "linux(+gpu)/{GOARCH}{/V}"),
    ("P22", "linux(+gpu+simd)", ("linux", "{GOARCH}", "{V}", "", ("gpu", "simd")), "linux(+gpu+simd)/{GOARCH}{/V}"),
    (
        "P23",
        "linux(+unsorted+erofs)",
        ("linux", "{GOARCH}", "{V}", "", ("unsorted", "erofs")),
        "linux(+erofs+unsorted)/{GOARCH}{/V}",
    ),
    (
        "P24",
        "windows(10.0.17763%2Bbuild.42)",
        ("windows", "{GOARCH}", "{V}", "10.0.17763+build.42", ()),
        "windows(10.0.17763%2Bbuild.42)/{GOARCH}{/V}",
    ),
    (
        "P25",
        "windows(10.0.17763%2Bbuild.42+win32k)",
        ("windows", "{GOARCH}", "{V}", "10.0.17763+build.42", ("win32k",)),
        "windows(10.0.17763%2Bbuild.42+win32k)/{GOARCH}{/V}",
    ),
    ("P26", "windows(50%25done)", ("windows", "{GOARCH}", "{V}", "50%done", ()), "windows(50%25done)/{GOARCH}{/V}"),
]
P_PARAMS = [pytest.param(text, want, formatted, id=pid) for pid, text, want, formatted in P_ROWS]


def fill(template: str, goos: str, goarch: str, v: str) -> str:
    return template.format(GOOS=goos, GOARCH=goarch, V=v, **{"/V": f"/{v}" if v else ""})


@pytest.mark.parametrize(("host", "goos", "goarch", "v"), HOSTS)
@pytest.mark.parametrize(("text", "want", "formatted"), P_PARAMS)
def test_parse_vectors_p(text, want, formatted, host, goos, goarch, v):
    os_, arch, variant, os_version, features = want
    expected = Platform(
        fill(os_, goos, goarch, v), fill(arch, goos, goarch, v), fill(variant, goos, goarch, v), os_version, features
    )
    assert Platform.parse(text, host=host) == expected


@pytest.mark.parametrize(("host", "goos", "goarch", "v"), HOSTS)
@pytest.mark.parametrize(("text", "want", "formatted"), P_PARAMS)
def test_format_all_vectors_p(text, want, formatted, host, goos, goarch, v):
    assert Platform.parse(text, host=host).format_all() == fill(formatted, goos, goarch, v)


@pytest.mark.parametrize(("host", "goos", "goarch", "v"), HOSTS)
@pytest.mark.parametrize(("text", "want", "formatted"), P_PARAMS)
def test_round_trip_vectors_p(text, want, formatted, host, goos, goarch, v):
    once = Platform.parse(text, host=host).format_all()
    assert Platform.parse(once, host=host).format_all() == once


def test_parse_defaults_to_linux_amd64_host():
    assert Platform.parse("linux") == Platform("linux", "amd64")
    assert Platform.parse("arm64") == Platform("linux", "arm64")


@pytest.mark.parametrize(
    ("text", "formatted"),
    [
        ("windows(10.0.17763)/amd64", "windows/amd64"),
        ("linux(+gpu)/arm64", "linux/arm64"),
        ("linux/arm/v7", "linux/arm/v7"),
        ("Linux/x86_64", "linux/amd64"),
    ],
)
def test_format_drops_os_options(text, formatted):
    assert Platform.parse(text).format() == formatted


@pytest.mark.parametrize(
    "p",
    [
        Platform("linux", "amd64"),
        Platform("linux", "arm", "v7"),
        Platform("linux", "arm64", "v8"),
        Platform("linux", "riscv64"),
        Platform("windows", "amd64", "", "10.0.17763.1"),
        Platform("windows", "amd64", "", "10.0.17763+build.42", ("win32k",)),
        Platform("linux", "amd64", "", "", ("erofs", "gpu")),
        Platform("freebsd", "arm64", "v8"),
    ],
    ids=str,
)
def test_parse_str_round_trips_value(p):
    assert Platform.parse(str(p)) == p


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("linux/arm/7", Platform("linux", "arm", "v7")),
        ("linux/aarch64/8", Platform("linux", "arm64", "v8")),
        ("linux/arm64/v9.0", Platform("linux", "arm64", "v9")),
        ("linux/amd64/v1", Platform("linux", "amd64")),
        ("linux/amd64/V3", Platform("linux", "amd64", "v3")),
        ("linux/armhf/v5", Platform("linux", "arm", "v7")),
    ],
)
def test_parse_three_parts_normalises_arch_and_variant(text, want):
    assert Platform.parse(text) == want


# --- "also matches" column of P ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "others"),
    [
        pytest.param("linux/arm64", ["linux/aarch64", "linux/aarch64/v8", "linux/arm64/v8"], id="P1"),
        pytest.param("linux/arm64/v8", ["linux/aarch64", "linux/aarch64/v8", "linux/arm64"], id="P2"),
        pytest.param("linux/arm", ["linux/arm/v7", "linux/armhf", "linux/arm/7"], id="P3"),
        pytest.param("linux/arm/v6", ["linux/armel"], id="P4"),
        pytest.param("linux/arm/v7", ["linux/arm", "linux/armhf"], id="P5"),
    ],
)
def test_parsed_platform_matches_aliases(text, others):
    from manifold.match import new_matcher

    m = new_matcher(Platform.parse(text))
    assert [o for o in others if not m.match(raw(o))] == []


# --- vectors PE -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param("", "empty", id="PE1"),
        pytest.param("/linux/arm", "empty", id="PE2"),
        pytest.param("linux/arm/", "empty", id="PE3"),
        pytest.param("linux /arm", "invalid OS component", id="PE4"),
        pytest.param("linux/&arm", "invalid component", id="PE5"),
        pytest.param("linux/arm/foo/bar", "cannot parse platform specifier", id="PE6"),
        pytest.param("*", "wildcards not yet supported", id="PE7-star"),
        pytest.param("linux/*", "wildcards not yet supported", id="PE7-linux/star"),
        pytest.param("*/arm64", "wildcards not yet supported", id="PE7-star/arm64"),
        pytest.param("foobar", "unknown operating system or architecture", id="PE8"),
        pytest.param("armv7l", "unknown operating system or architecture", id="PE9"),
        pytest.param("linux//arm", "empty", id="double-slash"),
        pytest.param("linux\n", "invalid OS component", id="trailing-newline"),
        pytest.param("windows(%zz)", "invalid OS version", id="bad-escape"),
        pytest.param("linux(+a++b)", "invalid OS component", id="empty-feature"),
        pytest.param("linux(10 .0)", "invalid OS component", id="space-in-version"),
    ],
)
def test_parse_errors_vectors_pe(text, reason):
    with pytest.raises(InvalidPlatformError) as info:
        Platform.parse(text)
    assert reason in info.value.reason
    assert info.value.text == text
    assert repr(text) in str(info.value)


def test_parse_error_is_invalid_input_with_exit_code_2():
    with pytest.raises(InvalidInputError) as info:
        Platform.parse("foobar")
    assert info.value.exit_code == 2


def test_two_part_specifier_is_not_validated_pe10():
    assert Platform.parse("linux/armv7l") == Platform("linux", "armv7l")


# --- vectors PF -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "formatted"),
    [
        pytest.param(Platform("windows", "amd64", "", "10.0.17763+build.42"), "windows(10.0.17763%2Bbuild.42)/amd64", id="PF1"),
        pytest.param(
            Platform("windows", "amd64", "", "10.0.17763+build.42", ("win32k",)),
            "windows(10.0.17763%2Bbuild.42+win32k)/amd64",
            id="PF2",
        ),
        pytest.param(Platform("windows", "amd64", "", "50%done"), "windows(50%25done)/amd64", id="PF3"),
        pytest.param(Platform("windows", "amd64", "", "1.0(beta)"), "windows(1.0%28beta%29)/amd64", id="PF4"),
        pytest.param(Platform("windows", "amd64", "", "a/b"), "windows(a%2Fb)/amd64", id="PF5"),
        pytest.param(Platform("windows", "amd64", "", "10.0.17763"), "windows(10.0.17763)/amd64", id="PF6"),
        pytest.param(Platform("linux", "amd64", "", "", ("feat+v2",)), "linux(+feat%2Bv2)/amd64", id="PF7"),
        pytest.param(Platform("linux", "amd64", "", "", ("100%gpu",)), "linux(+100%25gpu)/amd64", id="PF8"),
        pytest.param(Platform("windows", "amd64", "", "10.0+build", ("feat+1",)), "windows(10.0%2Bbuild+feat%2B1)/amd64", id="PF9"),
        pytest.param(Platform("linux", "amd64", "", "", ("", "gpu", "", "simd")), "linux(+gpu+simd)/amd64", id="PF10"),
        pytest.param(Platform("linux", "amd64", "", "", ("",)), "linux/amd64", id="only-empty-features"),
        pytest.param(Platform("linux", "amd64", "", "", ("simd", "gpu", "simd")), "linux(+gpu+simd)/amd64", id="dup-features"),
    ],
)
def test_format_all_vectors_pf(p, formatted):
    assert p.format_all() == formatted
    assert str(p) == formatted


@pytest.mark.parametrize(
    "p",
    [Platform("", "amd64"), Platform("", "arm64", "v8", "10.0.17763", ("gpu",))],
    ids=["plain", "with-options"],
)
def test_empty_os_formats_as_unknown_pf11(p):
    assert p.format() == "unknown"
    assert p.format_all() == "unknown"


@pytest.mark.parametrize(
    ("text", "os_version", "features"),
    [
        ("windows(10.0.17763%2Bbuild.42)/amd64", "10.0.17763+build.42", ()),
        ("windows(1.0%28beta%29)/amd64", "1.0(beta)", ()),
        ("windows(a%2Fb)/amd64", "a/b", ()),
        ("linux(+feat%2Bv2)/amd64", "", ("feat+v2",)),
        ("linux(+100%25gpu)/amd64", "", ("100%gpu",)),
    ],
)
def test_parse_decodes_os_options(text, os_version, features):
    p = Platform.parse(text)
    assert (p.os_version, p.os_features) == (os_version, features)


# --- normalisation (§1.3 table) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("arch", "variant", "want_arch", "want_variant"),
    [
        ("i386", "", "386", ""),
        ("i386", "v7", "386", ""),
        ("x86_64", "v1", "amd64", ""),
        ("x86-64", "v1", "amd64", ""),
        ("amd64", "v1", "amd64", ""),
        ("AMD64", "V1", "amd64", ""),
        ("x86_64", "", "amd64", ""),
        ("x86_64", "v3", "amd64", "v3"),
        ("amd64", "v2", "amd64", "v2"),
        ("x86-64", "v4", "amd64", "v4"),
        ("aarch64", "8", "arm64", ""),
        ("arm64", "v8", "arm64", ""),
        ("arm64", "v8.0", "arm64", ""),
        ("AArch64", "V8", "arm64", ""),
        ("aarch64", "9", "arm64", "v9"),
        ("arm64", "9.0", "arm64", "v9"),
        ("arm64", "v9.0", "arm64", "v9"),
        ("arm64", "v8.2", "arm64", "v8.2"),
        ("aarch64", "v9.1", "arm64", "v9.1"),
        ("armhf", "", "arm", "v7"),
        ("armhf", "v5", "arm", "v7"),
        ("armel", "", "arm", "v6"),
        ("armel", "v7", "arm", "v6"),
        ("arm", "", "arm", "v7"),
        ("arm", "7", "arm", "v7"),
        ("arm", "5", "arm", "v5"),
        ("arm", "6", "arm", "v6"),
        ("arm", "8", "arm", "v8"),
        ("arm", "v6", "arm", "v6"),
        ("arm", "v4", "arm", "v4"),
        ("ARM", "V7", "arm", "v7"),
        ("ppc64le", "", "ppc64le", ""),
        ("s390x", "", "s390x", ""),
        ("riscv64", "", "riscv64", ""),
        ("loong64", "", "loong64", ""),
        ("mips64le", "", "mips64le", ""),
        ("armv7l", "", "armv7l", ""),
        ("i686", "", "i686", ""),
        ("ppc64el", "", "ppc64el", ""),
        ("PPC64LE", "Power9", "ppc64le", "power9"),
    ],
)
def test_normalize_arch_table(arch, variant, want_arch, want_variant):
    n = Platform("linux", arch, variant).normalize()
    assert (n.architecture, n.variant) == (want_arch, want_variant)


@pytest.mark.parametrize(
    ("os", "host_os", "want"),
    [
        ("", "linux", "linux"),
        ("", "windows", "windows"),
        ("Linux", "linux", "linux"),
        ("macos", "linux", "darwin"),
        ("MacOS", "linux", "darwin"),
        ("Windows", "linux", "windows"),
        ("FreeBSD", "linux", "freebsd"),
    ],
)
def test_normalize_os(os, host_os, want):
    assert Platform(os, "amd64").normalize(host_os=host_os).os == want


def test_normalize_sorts_and_dedupes_features_keeps_os_version():
    n = Platform("windows", "amd64", "", "10.0.17763.1", ("win32k", "gpu", "win32k")).normalize()
    assert (n.os_version, n.os_features) == ("10.0.17763.1", ("gpu", "win32k"))


def test_normalize_is_idempotent():
    once = Platform("Linux", "aarch64", "8", "", ("b", "a")).normalize()
    assert once.normalize() == once


# --- same() / key ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (raw("linux/arm64"), raw("linux/arm64/v8"), True),
        (raw("linux/arm64"), raw("linux/aarch64"), True),
        (raw("linux/aarch64/v8"), raw("linux/arm64/v8"), True),
        (raw("linux/arm"), raw("linux/arm/v7"), True),
        (raw("linux/arm"), raw("linux/armhf"), True),
        (raw("linux/armhf"), raw("linux/arm/v7"), True),
        (raw("linux/amd64"), raw("linux/amd64/v1"), True),
        (raw("linux/amd64"), raw("linux/x86_64"), True),
        (raw("Linux/AMD64"), raw("linux/amd64"), True),
        (raw("linux/armel"), raw("linux/arm/v6"), True),
        (raw("linux/arm64/v9"), raw("linux/arm64/v9.0"), True),
        (raw("linux/amd64"), raw("linux/amd64/v2"), False),
        (raw("linux/arm/v6"), raw("linux/arm/v7"), False),
        (raw("linux/arm64"), raw("linux/arm/v8"), False),
        (raw("linux/amd64"), raw("windows/amd64"), False),
        (Platform("windows", "amd64", "", "10.0.17763"), Platform("windows", "amd64", "", "10.0.20348"), False),
        (Platform("windows", "amd64", "", "10.0.17763"), Platform("windows", "amd64"), False),
        (Platform("linux", "amd64", "", "", ("gpu",)), Platform("linux", "amd64"), False),
        (Platform("linux", "amd64", "", "", ("gpu", "simd")), Platform("linux", "amd64", "", "", ("simd", "gpu")), True),
        (Platform("linux", "amd64", "", "", ("gpu", "gpu")), Platform("linux", "amd64", "", "", ("gpu",)), True),
    ],
    ids=lambda v: v if isinstance(v, bool) else str(v),
)
def test_same_platform(a, b, same):
    assert a.same(b) is same
    assert b.same(a) is same
    assert (a.key == b.key) is same


def test_key_is_hashable_for_upserts():
    index = {raw("linux/arm64/v8").key: "first"}
    index[raw("linux/aarch64").key] = "second"
    assert index == {raw("linux/arm64").key: "second"}


# --- compact() ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "word"),
    [
        (raw("linux/amd64"), "amd64"),
        (raw("linux/amd64/v1"), "amd64"),
        (raw("linux/amd64/v3"), "amd64v3"),
        (raw("linux/arm64"), "arm64"),
        (raw("linux/arm64/v8"), "arm64"),
        (raw("linux/arm"), "armv7"),
        (raw("linux/arm/v7"), "armv7"),
        (raw("linux/arm/v6"), "armv6"),
        (raw("linux/armhf"), "armv7"),
        (raw("linux/riscv64"), "riscv64"),
        (raw("windows/amd64"), "windows-amd64"),
        (raw("darwin/arm64"), "darwin-arm64"),
        (Platform.parse("armhf"), "armv7"),
    ],
    ids=str,
)
def test_compact(p, word):
    assert p.compact() == word


# --- is_unknown() --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "unknown"),
    [(raw("unknown/unknown"), True), (raw("linux/unknown"), False), (raw("unknown/amd64"), False), (raw("linux/amd64"), False)],
    ids=str,
)
def test_is_unknown(p, unknown):
    assert p.is_unknown() is unknown


# --- OCI JSON -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm", "os": "linux", "variant": "v7"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
        {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.5576"},
        {"architecture": "amd64", "os": "windows", "os.version": "10.0.20348.1", "os.features": ["win32k"]},
        {"architecture": "unknown", "os": "unknown"},
    ],
    ids=lambda o: json.dumps(o),
)
def test_oci_round_trip_keeps_key_order(obj):
    p = Platform.from_oci(obj)
    assert json.dumps(p.to_oci()) == json.dumps(obj)


def test_to_oci_key_order():
    p = Platform("windows", "arm64", "v8", "10.0.26100.1", ("win32k",))
    assert list(p.to_oci()) == ["architecture", "os", "os.version", "os.features", "variant"]


def test_from_oci_missing_and_null_fields_are_empty():
    assert Platform.from_oci({"os": "linux", "variant": None}) == Platform("linux", "")
    assert Platform.from_oci({"architecture": "amd64", "os": "linux", "os.features": None}) == Platform("linux", "amd64")


def test_from_oci_keeps_values_unnormalised():
    p = Platform.from_oci({"architecture": "aarch64", "os": "Linux", "variant": "8", "os.features": ["b", "a"]})
    assert p == Platform("Linux", "aarch64", "8", "", ("b", "a"))


def test_from_oci_ignores_unknown_fields():
    assert Platform.from_oci({"architecture": "amd64", "os": "linux", "features": ["sse4"]}) == Platform("linux", "amd64")


@pytest.mark.parametrize(
    "obj",
    [
        {"architecture": 64, "os": "linux"},
        {"architecture": "amd64", "os": ["linux"]},
        {"architecture": "amd64", "os": "linux", "variant": 7},
        {"architecture": "amd64", "os": "windows", "os.version": 10.0},
        {"architecture": "amd64", "os": "linux", "os.features": "gpu"},
        {"architecture": "amd64", "os": "linux", "os.features": ["gpu", 1]},
        ["linux", "amd64"],
        "linux/amd64",
    ],
    ids=lambda o: json.dumps(o),
)
def test_from_oci_rejects_wrong_json_types(obj):
    with pytest.raises(InvalidPlatformError):
        Platform.from_oci(obj)


# --- value type ----------------------------------------------------------------------------


def test_platform_is_frozen_and_hashable():
    p = Platform("linux", "amd64")
    with pytest.raises(AttributeError):
        p.os = "windows"  # type: ignore[misc]
    assert {p: 1}[Platform("linux", "amd64")] == 1


def test_features_list_becomes_tuple():
    assert Platform("linux", "amd64", os_features=["gpu"]).os_features == ("gpu",)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"os": None, "architecture": "amd64"},
        {"os": "linux", "architecture": 64},
        {"os": "linux", "architecture": "amd64", "os_features": "gpu"},
        {"os": "linux", "architecture": "amd64", "os_features": (1,)},
    ],
)
def test_constructor_validates_types(kwargs):
    with pytest.raises(TypeError):
        Platform(**kwargs)


def test_pure_modules_import_no_heavy_dependencies():
    code = (
        "import sys, manifold.platform, manifold.match; "
        "print(','.join(sorted(m for m in ('httpx', 'typer', 'pydantic', 'tabulate') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    "text, expected",
    [
        ("arm/v7", "linux/arm/v7"),
        ("arm/v6", "linux/arm/v6"),
        ("arm64/v8", "linux/arm64/v8"),
        ("amd64/v3", "linux/amd64/v3"),
        ("linux/arm/v7", "linux/arm/v7"),
        ("arm64", "linux/arm64"),
        ("windows/amd64", "windows/amd64"),
    ],
)
def test_parse_arg_reads_arch_variant_shorthand(text, expected):
    assert Platform.parse_arg(text, host=Platform("linux", "amd64")).format_all() == expected


def test_parse_arg_keeps_parse_errors():
    with pytest.raises(InvalidPlatformError, match="unknown operating system or architecture"):
        Platform.parse_arg("foobar")


@pytest.mark.parametrize(
    "have, want, provided",
    [
        (Platform("linux", "arm64", "v8"), Platform("linux", "arm64"), True),
        (Platform("linux", "arm", ""), Platform("linux", "arm", "v7"), True),
        (Platform("linux", "arm", "v6"), Platform("linux", "arm", "v7"), False),
        (Platform("linux", "amd64", "v3"), Platform("linux", "amd64"), False),
        (Platform("windows", "amd64", os_version="10.0.20348.2340"), Platform("windows", "amd64"), True),
        (Platform("windows", "amd64", os_version="10.0.20348.2340"), Platform("windows", "amd64", os_version="10.0.20348"), True),
        (Platform("windows", "amd64", os_version="10.0.17763.1"), Platform("windows", "amd64", os_version="10.0.20348"), False),
        (Platform("windows", "amd64", os_version="10.0.203481"), Platform("windows", "amd64", os_version="10.0.20348"), False),
        (Platform("linux", "amd64", os_features=("gpu", "x")), Platform("linux", "amd64", os_features=("gpu",)), True),
        (Platform("linux", "amd64"), Platform("linux", "amd64", os_features=("gpu",)), False),
    ],
)
def test_provides(have, want, provided):
    assert have.provides(want) is provided
