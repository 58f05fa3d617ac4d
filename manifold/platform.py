"""The ``Platform`` value type: parse, format and normalise as containerd/platforms v1.0.0-rc.5 does.

Grammar of a platform specifier (containerd ``Parse``)::

    specifier  = os-part | arch | os-part "/" arch [ "/" variant ]
    os-part    = os [ "(" [ os-version ] *( "+" feature ) ")" ]
    os         = 1*( ALPHA / DIGIT / "_" / "-" )
    os-version = *( ALPHA / DIGIT / "_" / "." / "%" / "-" )        ; %-encoded
    feature    = 1*( ALPHA / DIGIT / "_" / "." / "%" / "-" )       ; %-encoded
    arch       = 1*( ALPHA / DIGIT / "_" / "." / "-" )
    variant    = arch

- ``*`` anywhere is refused ("wildcards not yet supported"); four or more parts are refused.
- One part: a known OS takes the host's architecture (and the host's arm variant unless it is
  ``v7``); otherwise it must be a known architecture (after normalisation) and takes the host's OS.
- Two parts are not validated (``linux/armv7l`` parses). ``arm`` + ``v7`` becomes ``arm``.
- Three parts: ``arm64`` whose variant normalises away gets ``v8`` back (formatting only).
- The OS is lower-cased and ``macos`` becomes ``darwin``; os.version and features are
  ``%``-decoded; feature order is kept (``format_all`` sorts).

``format_all`` writes ``os(<version>+<f1>+<f2>)/arch/variant`` with ``% + ( ) /`` encoded inside
the parentheses; ``str(p)`` is that form. ``normalize`` applies containerd's ``Normalize``
(aarch64→arm64, armhf→arm/v7, x86_64→amd64, amd64/v1→amd64, arm64/v8→arm64, ...).
This module is pure: the host is always an argument.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidPlatformError

__all__ = ["KNOWN_ARCHES", "KNOWN_OSES", "Platform", "normalize_arch", "normalize_os"]

KNOWN_OSES = frozenset(
    "aix android darwin dragonfly freebsd hurd illumos ios js linux nacl netbsd openbsd plan9 "
    "solaris windows zos".split()
)
KNOWN_ARCHES = frozenset(
    "386 amd64 amd64p32 arm armbe arm64 arm64be ppc64 ppc64le loong64 mips mipsle mips64 mips64le "
    "mips64p32 mips64p32le ppc riscv riscv64 s390 s390x sparc sparc64 wasm".split()
)

# --- grammar, from named pieces ------------------------------------------------------
_OS_NAME = r"[A-Za-z0-9_-]+"
_OPTION_CHARS = r"[A-Za-z0-9_.%-]"
_OS_VERSION = rf"{_OPTION_CHARS}*"
_FEATURES = rf"(?:\+{_OPTION_CHARS}+)*"
_OS_PART = re.compile(rf"(?P<os>{_OS_NAME})(?:\((?P<version>{_OS_VERSION})(?P<features>{_FEATURES})\))?")
_COMPONENT = re.compile(r"[A-Za-z0-9_.-]+")
_OS_SYNTAX = "<os>[(<os.version>[+<feature>]...)] using letters, digits, '_', '-' (and '.', '%' inside the parentheses)"
_COMPONENT_SYNTAX = "letters, digits, '_', '.' and '-'"
_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")

_ENCODE = (("%", "%25"), ("+", "%2B"), ("(", "%28"), (")", "%29"), ("/", "%2F"))  # "%" first
_DEFAULT_HOST_OS, _DEFAULT_HOST_ARCH = "linux", "amd64"
_OCI_STRING_FIELDS = (("os", "os"), ("architecture", "architecture"), ("variant", "variant"), ("os.version", "os_version"))


def normalize_os(os: str, *, host_os: str = _DEFAULT_HOST_OS) -> str:
    """containerd ``normalizeOS``: empty → host OS, lower-case, ``macos`` → ``darwin``."""
    if not os:
        return host_os
    os = os.lower()
    return "darwin" if os == "macos" else os


def normalize_arch(arch: str, variant: str) -> tuple[str, str]:
    """containerd ``normalizeArch`` (behaviour.md §1.3 table)."""
    arch, variant = arch.lower(), variant.lower()
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        if variant in ("8", "v8", "v8.0"):
            variant = ""
        elif variant in ("9", "9.0", "v9.0"):
            variant = "v9"
        return "arm64", variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if variant in ("", "7"):
            variant = "v7"
        elif variant in ("5", "6", "8"):
            variant = "v" + variant
    return arch, variant


def _go_path_join(*elems: str) -> str:
    """Go ``path.Join``: join the non-empty elements with ``/`` and clean the result."""
    parts = [e for e in elems if e]
    if not parts:
        return ""
    rooted = parts[0].startswith("/")
    out: list[str] = []
    for seg in "/".join(parts).split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(seg)
    cleaned = "/".join(out)
    return ("/" + cleaned) if rooted else (cleaned or ".")


def _encode_option(value: str) -> str:
    for char, escaped in _ENCODE:
        value = value.replace(char, escaped)
    return value


def _decode_option(value: str) -> str:
    """Go ``url.PathUnescape`` when the value contains ``%``; ValueError on a bad escape."""
    if "%" not in value:
        return value
    if _ESCAPE.search(value):
        raise ValueError(f"invalid URL escape in {value!r}")
    from urllib.parse import unquote_to_bytes

    return unquote_to_bytes(value).decode("utf-8")


def _as_features(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)):
        raise TypeError("os_features must be a sequence of strings, not a string")
    features = tuple(value)
    if not all(isinstance(f, str) for f in features):
        raise TypeError("os_features must contain only strings")
    return features


@dataclass(frozen=True, slots=True)
class Platform:
    """An OCI image-spec platform. Values are kept as given; ``normalize()`` gives the canonical one."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("os", "architecture", "variant", "os_version"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"Platform.{name} must be a str, not {type(getattr(self, name)).__name__}")
        object.__setattr__(self, "os_features", _as_features(self.os_features))

    # --- parsing ---------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str, *, host: Platform | None = None) -> Platform:
        """containerd ``Parse``; ``host`` (default linux/amd64) fills in what a one-part specifier omits."""
        if not isinstance(text, str):
            raise InvalidPlatformError(repr(text), "a platform specifier must be a string")
        if "*" in text:
            raise InvalidPlatformError(text, "wildcards not yet supported")
        if not text:
            raise InvalidPlatformError(text, "empty platform specifier")
        parts = text.split("/", 3)
        m = _OS_PART.fullmatch(parts[0])
        if m is None:
            raise InvalidPlatformError(text, _bad_component(parts[0], "OS component", _OS_SYNTAX))
        for part in parts[1:]:
            if not _COMPONENT.fullmatch(part):
                raise InvalidPlatformError(text, _bad_component(part, "component", _COMPONENT_SYNTAX))
        os = normalize_os(m["os"])
        try:
            os_version = _decode_option(m["version"] or "")
        except ValueError as e:
            raise InvalidPlatformError(text, f"invalid OS version {m['version']!r}: {e}") from None
        features: list[str] = []
        raw_features = m["features"][1:].split("+") if m["features"] else []
        for raw in raw_features:
            if not raw:
                raise InvalidPlatformError(text, "empty os feature")
            try:
                feature = _decode_option(raw)
            except ValueError as e:
                raise InvalidPlatformError(text, f"invalid os feature {raw!r}: {e}") from None
            if feature:
                features.append(feature)
        opts = {"os_version": os_version, "os_features": tuple(features)}

        if len(parts) == 1:
            h = (host or cls(_DEFAULT_HOST_OS, _DEFAULT_HOST_ARCH)).normalize()
            if os in KNOWN_OSES:
                variant = h.variant if h.architecture == "arm" and h.variant != "v7" else ""
                return cls(os, h.architecture, variant, **opts)
            arch, variant = normalize_arch(parts[0], "")
            if arch == "arm" and variant == "v7":
                variant = ""
            if arch in KNOWN_ARCHES:
                return cls(h.os, arch, variant, **opts)
            raise InvalidPlatformError(text, "unknown operating system or architecture")
        if len(parts) == 2:
            arch, variant = normalize_arch(parts[1], "")
            if arch == "arm" and variant == "v7":
                variant = ""
            return cls(os, arch, variant, **opts)
        if len(parts) == 3:
            arch, variant = normalize_arch(parts[1], parts[2])
            if arch == "arm64" and variant == "":
                variant = "v8"
            return cls(os, arch, variant, **opts)
        raise InvalidPlatformError(text, "cannot parse platform specifier")

    @classmethod
    def parse_arg(cls, text: str, *, host: Platform | None = None) -> Platform:
        """``parse`` for what users type on the command line, plus ``ARCH/VARIANT``.

        containerd reads a two-part ``arm/v7`` as OS ``arm`` with architecture
        ``v7``, which matches nothing; when the first part is a known architecture
        and not a known OS, manifold reads it as architecture/variant on the host's
        OS instead (``arm/v7`` → ``linux/arm/v7``, ``arm64/v8`` → ``linux/arm64/v8``).
        Everything else is exactly ``parse``.
        """
        parts = text.split("/") if isinstance(text, str) else []
        if len(parts) == 2 and parts[0].lower() not in KNOWN_OSES:
            arch, _variant = normalize_arch(parts[0].lower(), "")
            if arch in KNOWN_ARCHES:
                h = (host or cls(_DEFAULT_HOST_OS, _DEFAULT_HOST_ARCH)).normalize()
                try:
                    return cls.parse(f"{h.os}/{text}", host=host)
                except InvalidPlatformError:
                    raise InvalidPlatformError(text, "invalid architecture/variant") from None
        return cls.parse(text, host=host)

    @classmethod
    def from_oci(cls, obj: Mapping[str, Any]) -> Platform:
        """From an OCI ``platform`` object; missing (or JSON null) fields become empty."""
        if not isinstance(obj, Mapping):
            raise InvalidPlatformError(_show(obj), "a platform must be a JSON object")
        values: dict[str, str] = {}
        for key, attr in _OCI_STRING_FIELDS:
            value = obj.get(key)
            if value is not None and not isinstance(value, str):
                raise InvalidPlatformError(_show(obj), f"{key!r} must be a string")
            values[attr] = value or ""
        features = obj.get("os.features")
        if features is not None and (not isinstance(features, list) or not all(isinstance(f, str) for f in features)):
            raise InvalidPlatformError(_show(obj), "'os.features' must be a list of strings")
        return cls(os_features=tuple(features or ()), **values)

    def to_oci(self) -> dict[str, Any]:
        """The OCI JSON object (image-spec field order); empty optional fields are omitted."""
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out

    # --- canonical forms ---------------------------------------------------------------
    def normalize(self, *, host_os: str = _DEFAULT_HOST_OS) -> Platform:
        """containerd ``Normalize``; an empty OS becomes ``host_os``; features sorted and de-duplicated."""
        arch, variant = normalize_arch(self.architecture, self.variant)
        return Platform(
            normalize_os(self.os, host_os=host_os), arch, variant, self.os_version, tuple(sorted(set(self.os_features)))
        )

    def format(self) -> str:
        """containerd ``Format``: ``os/arch[/variant]``, ``unknown`` when the OS is empty."""
        if not self.os:
            return "unknown"
        return _go_path_join(self.os, self.architecture, self.variant)

    def format_all(self) -> str:
        """containerd ``FormatAll``: ``Format`` plus ``(os.version+features)`` after the OS."""
        if not self.os:
            return "unknown"
        features = "+".join(_encode_option(f) for f in sorted(set(self.os_features)) if f)
        options = _encode_option(self.os_version) + ("+" + features if features else "")
        os_part = f"{self.os}({options})" if options else self.os
        return _go_path_join(os_part, self.architecture, self.variant)

    def __str__(self) -> str:
        return self.format_all()

    @property
    def key(self) -> tuple[str, str, str, str, tuple[str, ...]]:
        """Hashable identity after normalisation (an empty OS counts as linux; empty features dropped)."""
        n = self.normalize()
        return (n.os, n.architecture, n.variant, n.os_version, tuple(f for f in n.os_features if f))

    def same(self, other: Platform) -> bool:
        """CLI.md "the same platform": equal after normalisation, os.version and os.features included."""
        return self.key == other.key

    def is_unknown(self) -> bool:
        """The ``unknown/unknown`` platform buildx gives attestation manifests."""
        return self.os.lower() == "unknown" and self.architecture.lower() == "unknown"

    def provides(self, want: Platform) -> bool:
        """This listed platform is the one ``want`` asks for, without fallback.

        Equal after normalisation (os, architecture, variant); ``want``'s os.version
        only when it gives one, as a dotted prefix (``10.0.20348`` is provided by
        ``10.0.20348.2340``); ``want``'s os.features only when it gives them. This is
        what ``create --platform``, ``check --exact`` and ``verify --require`` mean.
        """
        h, w = self.normalize(), want.normalize()
        if (h.os, h.architecture, h.variant) != (w.os, w.architecture, w.variant):
            return False
        if w.os_version:
            have, need = h.os_version.split("."), w.os_version.split(".")
            if have[: len(need)] != need:
                return False
        return not w.os_features or set(w.os_features) <= set(h.os_features)

    def compact(self) -> str:
        """Tag-suffix form: ``amd64``, ``arm64``, ``armv7``, ``amd64v3``, ``windows-amd64``."""
        n = self.normalize()
        word = n.architecture + n.variant
        return word if n.os == "linux" else f"{n.os}-{word}"


def _bad_component(part: str, what: str, syntax: str) -> str:
    if not part:
        return f"empty {what} (leading, trailing or doubled '/')"
    return f"{part!r} is an invalid {what}: expected {syntax}"


def _show(obj: Any) -> str:
    try:
        return json.dumps(obj, sort_keys=False)
    except (TypeError, ValueError):
        return repr(obj)
