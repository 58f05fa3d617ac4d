"""Host default platform: behaviour.md §1.9 (vectors CV, the cpuinfo table, amd64 levels)."""

from __future__ import annotations

import platform as stdlib_platform

import pytest

from manifold import host
from manifold.host import amd64_level, cpu_variant_from_arch, cpu_variant_from_cpuinfo, host_platform
from manifold.platform import KNOWN_ARCHES, Platform

V2 = "pni ssse3 cx16 sse4_1 sse4_2 popcnt lahf_lm"
V3 = V2 + " fma movbe xsave avx f16c bmi1 avx2 bmi2 abm"
V4 = V3 + " avx512f avx512dq avx512cd avx512bw avx512vl"
BASELINE = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 syscall nx lm"


def cpuinfo_amd64(flags: str) -> str:
    return f"processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: {BASELINE} {flags}\nbugs\t\t: spectre_v1\n\nprocessor\t: 1\nflags\t\t: {BASELINE}\n"


def cpuinfo_arm(arch: str, model: str = "ARMv7 Processor rev 4 (v7l)") -> str:
    return f"processor\t: 0\nmodel name\t: {model}\nBogoMIPS\t: 38.40\nCPU implementer\t: 0x41\nCPU architecture: {arch}\nCPU variant\t: 0x0\n"


# --- vectors CV: getCPUVariantFromArch -----------------------------------------------------------


@pytest.mark.parametrize(
    ("machine", "variant"),
    [
        pytest.param("aarch64", "8", id="CV1"),
        pytest.param("Armv8", "8", id="CV2"),
        pytest.param("armv7", "7", id="CV3"),
        pytest.param("armv6", "6", id="CV4"),
        pytest.param("armv5", "5", id="CV5"),
        pytest.param("armv4", "4", id="CV6"),
        pytest.param("armv3", "3", id="CV7"),
        pytest.param("armv9", "unknown", id="CV8"),
        pytest.param("armv7l", "7", id="armv7l"),
        pytest.param("armv6l", "6", id="armv6l"),
        pytest.param("armv8l", "8", id="armv8l"),
    ],
)
def test_cpu_variant_from_arch_vectors_cv(machine, variant):
    assert cpu_variant_from_arch(machine) == variant


@pytest.mark.parametrize(
    "machine",
    [pytest.param("armxxxx", id="CV9"), pytest.param("armv", id="CV10"), pytest.param("x86_64", id="x86_64"), pytest.param("", id="empty")],
)
def test_cpu_variant_from_arch_invalid_vectors_cv(machine):
    with pytest.raises(ValueError):
        cpu_variant_from_arch(machine)


# --- cpuinfo "CPU architecture" table --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "variant"),
    [
        ("8", "v8"),
        ("AArch64", "v8"),
        ("7", "v7"),
        ("7M", "v7"),
        *[(f"?({n})", "v7") for n in range(12, 18)],
        ("6", "v6"),
        ("6TEJ", "v6"),
        ("5", "v5"),
        ("5T", "v5"),
        ("5TE", "v5"),
        ("5TEJ", "v5"),
        ("4", "v4"),
        ("4T", "v4"),
        ("3", "v3"),
        ("9", "unknown"),
        ("?(18)", "unknown"),
    ],
)
def test_cpuinfo_variant_table(value, variant):
    assert cpu_variant_from_cpuinfo(cpuinfo_arm(value), "arm64") == variant


@pytest.mark.parametrize(
    ("goarch", "arch", "model", "variant"),
    [
        ("arm", "7", "ARMv6-compatible processor rev 7 (v6l)", "v6"),
        ("arm", "7", "armv6-compatible processor", "v6"),
        ("arm", "7", "ARMv7 Processor rev 4 (v7l)", "v7"),
        ("arm64", "7", "ARMv6-compatible processor rev 7 (v6l)", "v7"),
        ("arm", "8", "ARMv6-compatible processor rev 7 (v6l)", "v8"),
    ],
)
def test_cpuinfo_raspberry_pi_quirk(goarch, arch, model, variant):
    assert cpu_variant_from_cpuinfo(cpuinfo_arm(arch, model), goarch) == variant


@pytest.mark.parametrize("key", ["CPU architecture", "Cpu architecture", "cpu ARCHITECTURE", "  CPU architecture\t"])
def test_cpuinfo_key_is_case_insensitive_and_trimmed(key):
    assert cpu_variant_from_cpuinfo(f"{key}: 7\n", "arm64") == "v7"


def test_cpuinfo_first_line_wins():
    assert cpu_variant_from_cpuinfo("CPU architecture: 8\nCPU architecture: 7\n", "arm64") == "v8"


@pytest.mark.parametrize("text", ["", "processor : 0\nmodel name : QEMU Virtual CPU\n", "CPU architecture\n"])
def test_cpuinfo_without_architecture_line_is_none(text):
    assert cpu_variant_from_cpuinfo(text, "arm64") is None


# --- amd64 levels ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "level"),
    [
        ("", "v1"),
        (BASELINE, "v1"),
        (V2, "v2"),
        (V3, "v3"),
        (V4, "v4"),
        (V2.replace("lahf_lm", ""), "v1"),
        (V2.replace("pni", ""), "v1"),
        (V3.replace("abm", ""), "v2"),
        (V3.replace("avx2", ""), "v2"),
        (V4.replace("avx512vl", ""), "v3"),
        (V4.replace("cx16", ""), "v1"),  # a higher level needs every lower one
        (V3.replace("movbe", "") + " avx512f avx512dq avx512cd avx512bw avx512vl", "v2"),
    ],
)
def test_amd64_level_from_flags(flags, level):
    assert amd64_level(set(flags.split())) == level


# --- host_platform with injected machines -------------------------------------------------------


@pytest.mark.parametrize(
    ("system", "machine", "cpuinfo", "want"),
    [
        ("Linux", "x86_64", cpuinfo_amd64(V3), "linux/amd64/v3"),
        ("Linux", "x86_64", cpuinfo_amd64(V4), "linux/amd64/v4"),
        ("Linux", "x86_64", cpuinfo_amd64(V2), "linux/amd64/v2"),
        ("Linux", "x86_64", cpuinfo_amd64(""), "linux/amd64"),
        ("Linux", "x86_64", "processor : 0\n", "linux/amd64"),
        ("Linux", "aarch64", cpuinfo_arm("8", "Cortex-A72"), "linux/arm64/v8"),
        ("Linux", "aarch64", "processor : 0\n", "linux/arm64/v8"),  # emulated: no key → uname
        ("Linux", "armv7l", cpuinfo_arm("7"), "linux/arm/v7"),
        ("Linux", "armv7l", cpuinfo_arm("7", "ARMv6-compatible processor rev 7 (v6l)"), "linux/arm/v6"),
        ("Linux", "armv6l", "", "linux/arm/v6"),
        ("Linux", "armv7l", "model name : ARMv6-compatible processor rev 7 (v6l)\n", "linux/arm/v6"),
        ("Linux", "armv8l", cpuinfo_arm("8"), "linux/arm/v8"),
        ("Linux", "armv5tel", cpuinfo_arm("5TEJ"), "linux/arm/v5"),
        ("Linux", "i686", "", "linux/386"),
        ("Linux", "ppc64le", "", "linux/ppc64le"),
        ("Linux", "s390x", "", "linux/s390x"),
        ("Linux", "riscv64", "", "linux/riscv64"),
        ("Linux", "loongarch64", "", "linux/loong64"),
        ("Linux", "mips64", "", "linux/mips64"),
        ("Darwin", "arm64", None, "darwin/arm64/v8"),
        ("Darwin", "x86_64", None, "darwin/amd64"),
        ("Windows", "ARM64", None, "windows/arm64/v8"),
        ("Windows", "AMD64", None, "windows/amd64"),
        ("FreeBSD", "arm64", None, "freebsd/arm64/v8"),
        ("FreeBSD", "armv7", None, "freebsd/arm/unknown"),
        ("FreeBSD", "amd64", None, "freebsd/amd64"),
        ("SunOS", "i86pc", None, "solaris/386"),
        ("CYGWIN_NT-10.0", "x86_64", None, "windows/amd64"),
        ("OpenBSD", "armv7", None, "openbsd/arm"),
    ],
)
def test_host_platform_injected(system, machine, cpuinfo, want):
    assert host_platform(system=system, machine=machine, cpuinfo=cpuinfo, os_version="").format_all() == want


def test_host_platform_without_docker_amd64_level_is_containerd_default():
    assert host_platform(system="Linux", machine="x86_64", cpuinfo=cpuinfo_amd64(V4), docker_amd64_level=False) == Platform(
        "linux", "amd64"
    )


def test_host_platform_amd64_level_from_given_cpuinfo_on_any_os():
    assert host_platform(system="Darwin", machine="x86_64", cpuinfo=cpuinfo_amd64(V3)).format_all() == "darwin/amd64/v3"


@pytest.mark.parametrize(
    ("system", "os_version", "want"),
    [("Windows", "10.0.20348", "windows(10.0.20348)/amd64"), ("Linux", "10.0.20348", "linux/amd64")],
)
def test_host_platform_os_version_only_for_windows(system, os_version, want):
    assert host_platform(system=system, machine="AMD64", cpuinfo="", os_version=os_version).format_all() == want


@pytest.mark.parametrize(
    ("machine", "cpuinfo"),
    [("armhf", "processor : 0\n"), ("arm", ""), ("aarch64", "CPU architecture:\n"), ("", ""), ("weird-cpu", "junk\x00:::")],
)
def test_host_platform_never_raises_on_a_weird_machine(machine, cpuinfo):
    p = host_platform(system="Linux", machine=machine, cpuinfo=cpuinfo)
    assert p.os == "linux" and p.architecture != ""


def test_host_platform_unreadable_cpuinfo_gives_no_variant(monkeypatch, tmp_path):
    monkeypatch.setattr(host, "_CPUINFO_PATH", str(tmp_path / "missing"))
    assert (host_platform(system="Linux", machine="aarch64"), host_platform(system="Linux", machine="x86_64")) == (
        Platform("linux", "arm64"),
        Platform("linux", "amd64"),
    )


def test_host_platform_reads_cpuinfo_file(monkeypatch, tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo_arm("7", "ARMv6-compatible processor rev 7 (v6l)"))
    monkeypatch.setattr(host, "_CPUINFO_PATH", str(path))
    assert host_platform(system="Linux", machine="armv7l") == Platform("linux", "arm", "v6")


def test_host_platform_of_this_machine():
    p = host_platform()
    assert p.os == stdlib_platform.system().lower()
    assert p.architecture in KNOWN_ARCHES
