"""The running machine's platform, as Docker computes its default (behaviour.md §1.9).

This is the one module that reads the machine (``platform.uname()``, ``/proc/cpuinfo``,
``sys.getwindowsversion()``); every input can be injected so tests never depend on the host.

- OS: ``platform.system()`` lower-cased (``Darwin`` → ``darwin``, ``Windows`` → ``windows``).
- Architecture: uname ``machine`` mapped to Go's GOARCH (``x86_64`` → ``amd64``,
  ``aarch64`` → ``arm64``, ``armv7l`` → ``arm``, ``i686`` → ``386`` ...).
- arm/arm64 variant (containerd ``cpuVariant``): on Linux the first ``CPU architecture`` line of
  ``/proc/cpuinfo`` (with the Raspberry Pi ARMv6 quirk), else uname ``machine``; windows/darwin:
  arm64 → v8, arm → v7; freebsd: arm64 → v8. An unreadable source gives no variant (as
  containerd logs and carries on); a value it does not know gives ``unknown``, as upstream.
- amd64 level (Docker only, ``archvariant.AMD64Variant``): v2..v4 from the cpuinfo ``flags``
  (the derived mapping of §1.9); v1 is written as no variant.
- Windows: ``os.version`` is ``major.minor.build``.
"""

from __future__ import annotations

import logging
import platform as _stdlib_platform
import sys

from .platform import Platform

__all__ = ["amd64_level", "cpu_variant_from_arch", "cpu_variant_from_cpuinfo", "host_platform"]

log = logging.getLogger(__name__)

_CPUINFO_PATH = "/proc/cpuinfo"

_GOARCH = {
    "x86_64": "amd64", "amd64": "amd64", "x64": "amd64",
    "i386": "386", "i486": "386", "i586": "386", "i686": "386", "x86": "386", "i86pc": "386",
    "aarch64": "arm64", "arm64": "arm64", "armv8b": "arm64be", "aarch64_be": "arm64be",
    "ppc64le": "ppc64le", "ppc64el": "ppc64le", "ppc64": "ppc64", "ppc": "ppc",
    "s390x": "s390x", "riscv64": "riscv64", "loongarch64": "loong64",
    "mips": "mips", "mipsel": "mipsle", "mips64": "mips64", "mips64el": "mips64le",
}  # fmt: skip

_LEVEL_FLAGS = (
    ("v2", frozenset("pni ssse3 cx16 sse4_1 sse4_2 popcnt lahf_lm".split())),
    ("v3", frozenset("fma movbe xsave avx f16c bmi1 avx2 bmi2 abm".split())),
    ("v4", frozenset("avx512f avx512dq avx512cd avx512bw avx512vl".split())),
)

_ARM_VARIANTS = {
    "8": "v8", "aarch64": "v8",
    "7": "v7", "7m": "v7", "?(12)": "v7", "?(13)": "v7", "?(14)": "v7", "?(15)": "v7", "?(16)": "v7", "?(17)": "v7",
    "6": "v6", "6tej": "v6",
    "5": "v5", "5t": "v5", "5te": "v5", "5tej": "v5",
    "4": "v4", "4t": "v4",
    "3": "v3",
}  # fmt: skip


def _goos(system: str) -> str:
    s = system.strip().lower()
    if s.startswith(("cygwin", "msys", "mingw")):
        return "windows"
    return {"sunos": "solaris", "": "linux"}.get(s, s)


def _goarch(machine: str) -> str:
    m = machine.strip().lower()
    if m in _GOARCH:
        return _GOARCH[m]
    if m.startswith("arm"):  # armv7l, armv6l, armv8l (32-bit userland), armhf ...
        return "arm"
    return m


def _cpuinfo_value(text: str, key: str) -> str | None:
    """containerd ``getCPUInfo``: the value of the first line whose key equals ``key`` (any case)."""
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) > 1 and fields[0].strip().casefold() == key.casefold():
            return fields[1].strip()
    return None


def cpu_variant_from_arch(machine: str) -> str:
    """containerd ``getCPUVariantFromArch``: ``"8"``, ``"7"`` … ``"3"`` or ``"unknown"``.

    Raises ValueError for a machine name that is neither ``aarch64`` nor ``armv<X>...``.
    """
    arch = machine.lower()
    if arch == "aarch64":
        return "8"
    if arch.startswith("armv") and len(arch) >= 5:
        return {"v8": "8", "v7": "7", "v6": "6", "v5": "5", "v4": "4", "v3": "3"}.get(arch[3:5], "unknown")
    raise ValueError(f"invalid arch {machine!r}: expected aarch64 or armv<N>...")


def cpu_variant_from_cpuinfo(text: str, goarch: str) -> str | None:
    """The arm variant (``v8`` … ``v3`` or ``unknown``) from ``/proc/cpuinfo`` text.

    None when the text has no ``CPU architecture`` line (e.g. under emulation).
    """
    value = _cpuinfo_value(text, "Cpu architecture")
    return None if value is None else _map_variant(value, goarch, text)


def _map_variant(raw: str, goarch: str, cpuinfo: str) -> str:
    """containerd ``getCPUVariant``'s last steps: the Raspberry Pi quirk, then the table."""
    if goarch == "arm" and raw == "7":
        model = _cpuinfo_value(cpuinfo, "model name")
        if model is not None and model.lower().startswith("armv6-compatible"):
            raw = "6"  # ARMv6 Raspberry Pi boards report 7
    return _ARM_VARIANTS.get(raw.lower(), "unknown")


def amd64_level(flags: set[str] | frozenset[str]) -> str:
    """The x86-64 micro-architecture level ``v1`` … ``v4`` that a set of cpuinfo flags supports."""
    level = "v1"
    needed: set[str] = set()
    for name, extra in _LEVEL_FLAGS:
        needed |= extra
        if not needed <= flags:
            break
        level = name
    return level


def _read_cpuinfo() -> str | None:
    try:
        with open(_CPUINFO_PATH, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError as e:
        log.debug("cannot read %s: %s", _CPUINFO_PATH, e)
        return None


def _arm_variant(os: str, goarch: str, machine: str, cpuinfo: str | None) -> str:
    if os == "linux":
        if cpuinfo is None:
            return ""  # containerd: an unreadable /proc/cpuinfo is an error → no variant
        found = cpu_variant_from_cpuinfo(cpuinfo, goarch)
        if found is not None:
            return found
        try:
            return _map_variant(cpu_variant_from_arch(machine), goarch, cpuinfo)
        except ValueError as e:
            log.warning("cannot tell the CPU variant: %s", e)
            return ""
    if os in ("windows", "darwin"):
        return "v8" if goarch == "arm64" else "v7"
    if os == "freebsd":
        return "v8" if goarch == "arm64" else "unknown"
    log.warning("cannot tell the CPU variant on %s", os)
    return ""


def _windows_version() -> str:
    getter = getattr(sys, "getwindowsversion", None)
    if getter is None:
        return ""
    v = getter()
    return f"{v.major}.{v.minor}.{v.build}"


def host_platform(
    *,
    system: str | None = None,
    machine: str | None = None,
    cpuinfo: str | None = None,
    docker_amd64_level: bool = True,
    os_version: str | None = None,
) -> Platform:
    """The platform Docker uses by default on this machine (or on the one described).

    ``None`` means read the real machine: ``platform.uname()`` for ``system``/``machine``,
    ``/proc/cpuinfo`` on Linux for ``cpuinfo``, ``sys.getwindowsversion()`` for a Windows
    ``os_version``. With ``docker_amd64_level=False`` amd64 gets no level (containerd's default).
    Never raises for an unusual machine: what cannot be told is left empty.
    """
    if system is None or machine is None:
        uname = _stdlib_platform.uname()
        system = uname.system if system is None else system
        machine = uname.machine if machine is None else machine
    os = _goos(system)
    goarch = _goarch(machine) or "amd64"
    if cpuinfo is None and os == "linux" and goarch in ("arm", "arm64", "amd64"):
        cpuinfo = _read_cpuinfo()
    variant = ""
    if goarch in ("arm", "arm64"):
        variant = _arm_variant(os, goarch, machine, cpuinfo)
    elif goarch == "amd64" and docker_amd64_level and cpuinfo is not None:
        flags = _cpuinfo_value(cpuinfo, "flags")
        level = amd64_level(set(flags.split())) if flags else "v1"
        variant = "" if level == "v1" else level
    if os_version is None:
        os_version = _windows_version() if os == "windows" and sys.platform == "win32" else ""
    return Platform(os, goarch, variant, os_version if os == "windows" else "")
