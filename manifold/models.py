"""Views of OCI / Docker documents: descriptors, indexes, image manifests, configs.

Bytes are the truth. A parsed ``Index`` or ``Manifest`` keeps the exact bytes it
came from (``raw``), and every descriptor keeps the JSON object it came from, so
unknown fields and unknown media types pass through a round trip untouched. A new
index is serialised once, deterministically, the way buildx does
(``json.MarshalIndent(…, "", "  ")``: OCI field order, 2-space indent, Go's HTML
escaping, no trailing newline); those bytes are what gets digested and pushed.

These are plain frozen dataclasses over ``json``, not pydantic models: the resolve
path must stay light (pydantic costs ~55 ms to import, more than the whole budget
the benchmarks allow above the HTTP floor). Structural validation happens here,
with errors that name the document and the field at fault (exit 5).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from . import mediatypes as mt
from .digest import Digest
from .errors import IntegrityError, InvalidDigestError, InvalidPlatformError, UnsupportedDocumentError
from .platform import Platform

__all__ = [
    "Descriptor",
    "Index",
    "Manifest",
    "config_platform",
    "dumps",
    "parse_document",
]

_DESCRIPTOR_KEYS = ("mediaType", "digest", "size", "urls", "annotations", "data", "platform", "artifactType")


def dumps(obj: Any) -> bytes:
    """Serialise like Go's ``json.MarshalIndent(v, "", "  ")`` (HTML-safe escapes)."""
    text = json.dumps(obj, indent=2, ensure_ascii=False, separators=(",", ": "))
    text = (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
    return text.encode("utf-8")


def _fail(what: str, msg: str) -> IntegrityError:
    return IntegrityError(f"malformed {what}: {msg}")


def _str_map(obj: Any, what: str, key: str) -> dict[str, str]:
    if obj is None:
        return {}
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in obj.items()):
        raise _fail(what, f"{key} must be an object of strings")
    return dict(obj)


@dataclass(frozen=True, slots=True, eq=False)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str | None = None
    #: the JSON object this descriptor was read from (unknown fields survive)
    raw: Mapping[str, Any] | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Descriptor):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash((self.media_type, self.digest, self.size))

    # --- parsing ---------------------------------------------------------
    @classmethod
    def from_json(cls, obj: Any, *, what: str = "descriptor") -> "Descriptor":
        if not isinstance(obj, dict):
            raise _fail(what, "a descriptor must be a JSON object")
        media_type = obj.get("mediaType")
        if not isinstance(media_type, str) or not media_type:
            raise _fail(what, "descriptor without mediaType")
        digest_text = obj.get("digest")
        if not isinstance(digest_text, str):
            raise _fail(what, "descriptor without digest")
        try:
            digest = Digest.parse(digest_text)
        except InvalidDigestError as e:
            raise _fail(what, e.message) from None
        size = obj.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _fail(what, f"descriptor {digest_text} has an invalid size {size!r}")
        platform = None
        if obj.get("platform") is not None:
            if not isinstance(obj["platform"], dict):
                raise _fail(what, f"descriptor {digest_text} has a platform that is not an object")
            try:
                platform = Platform.from_oci(obj["platform"])
            except InvalidPlatformError as e:
                raise _fail(what, f"descriptor {digest_text}: {e.message}") from None
        annotations = _str_map(obj.get("annotations"), what, "annotations")
        artifact_type = obj.get("artifactType")
        if artifact_type is not None and not isinstance(artifact_type, str):
            raise _fail(what, f"descriptor {digest_text} has a non-string artifactType")
        return cls(media_type, digest, size, platform, annotations, artifact_type, obj)

    # --- serialising -----------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        raw = self.raw or {}
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if "urls" in raw:
            out["urls"] = raw["urls"]
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))
        if "data" in raw:
            out["data"] = raw["data"]
        if self.platform is not None:
            raw_platform = raw.get("platform")
            if isinstance(raw_platform, dict) and Platform.from_oci(raw_platform) == self.platform:
                out["platform"] = raw_platform  # unknown platform fields survive
            else:
                out["platform"] = self.platform.to_oci()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        for k, v in raw.items():
            if k not in _DESCRIPTOR_KEYS:
                out[k] = v
        return out

    def evolve(self, **changes: Any) -> "Descriptor":
        return replace(self, **changes)

    def summary(self) -> dict[str, Any]:
        """The entry as ``inspect --format json`` and ``--metadata-file`` list it."""
        return {
            "platform": self.platform.format_all() if self.platform is not None else None,
            "digest": str(self.digest),
            "mediaType": self.media_type,
            "size": self.size,
            "annotations": dict(self.annotations),
        }

    # --- classification ----------------------------------------------------
    @property
    def is_attestation(self) -> bool:
        return self.annotations.get(mt.REF_TYPE_ANNOTATION) == "attestation-manifest"

    @property
    def subject(self) -> str | None:
        """For an attestation entry, the digest of the image it describes."""
        return self.annotations.get(mt.REF_DIGEST_ANNOTATION)

    @property
    def is_index(self) -> bool:
        return mt.is_index(self.media_type)

    @property
    def platform_text(self) -> str:
        """``linux/arm64/v8`` as written in the entry (not normalised); ``""`` when absent."""
        return self.platform.format_all() if self.platform is not None else ""


def _check_schema_version(obj: dict, what: str) -> None:
    if obj.get("schemaVersion") != 2:
        raise _fail(what, f"schemaVersion must be 2, got {obj.get('schemaVersion')!r}")


def _descriptors(obj: dict, key: str, what: str) -> tuple[Descriptor, ...]:
    """``obj[key]``: an array of descriptors (absent or null means empty)."""
    items = obj.get(key)
    if items is None:
        return ()
    if not isinstance(items, list):
        raise _fail(what, f"{key} must be an array")
    return tuple(Descriptor.from_json(x, what=what) for x in items)


def _subject(obj: dict, what: str) -> Descriptor | None:
    return Descriptor.from_json(obj["subject"], what=what) if obj.get("subject") is not None else None


@dataclass(frozen=True, slots=True, eq=False)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str | None = None
    subject: Descriptor | None = None
    raw: bytes | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_obj(cls, obj: dict, *, media_type: str, raw: bytes | None = None, what: str = "index") -> "Index":
        _check_schema_version(obj, what)
        manifests = _descriptors(obj, "manifests", what)
        subject = _subject(obj, what)
        extra = {k: v for k, v in obj.items() if k not in _INDEX_KEYS}
        return cls(
            media_type=media_type,
            manifests=manifests,
            annotations=_str_map(obj.get("annotations"), what, "annotations"),
            artifact_type=obj.get("artifactType") if isinstance(obj.get("artifactType"), str) else None,
            subject=subject,
            raw=raw,
            extra=extra,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": 2, "mediaType": self.media_type}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["manifests"] = [d.to_json() for d in self.manifests]
        if self.subject is not None:
            out["subject"] = self.subject.to_json()
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))
        out.update(self.extra)
        return out

    def to_bytes(self) -> bytes:
        """The exact bytes to push: ``raw`` when unchanged, else a fresh serialisation."""
        return self.raw if self.raw is not None else dumps(self.to_json())

    def evolve(self, **changes: Any) -> "Index":
        changes.setdefault("raw", None)
        return replace(self, **changes)

    @property
    def images(self) -> tuple[Descriptor, ...]:
        """Entries that are not attestations."""
        return tuple(d for d in self.manifests if not d.is_attestation)


_INDEX_KEYS = ("schemaVersion", "mediaType", "artifactType", "manifests", "subject", "annotations")


@dataclass(frozen=True, slots=True, eq=False)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str | None = None
    subject: Descriptor | None = None
    raw: bytes | None = None

    @classmethod
    def from_obj(cls, obj: dict, *, media_type: str, raw: bytes | None = None, what: str = "manifest") -> "Manifest":
        _check_schema_version(obj, what)
        if "config" not in obj:
            raise _fail(what, "image manifest without config")
        config = Descriptor.from_json(obj["config"], what=what)
        layers = _descriptors(obj, "layers", what)
        subject = _subject(obj, what)
        return cls(
            media_type=media_type,
            config=config,
            layers=layers,
            annotations=_str_map(obj.get("annotations"), what, "annotations"),
            artifact_type=obj.get("artifactType") if isinstance(obj.get("artifactType"), str) else None,
            subject=subject,
            raw=raw,
        )

    @property
    def blobs(self) -> tuple[Descriptor, ...]:
        """Config first, then layers: what must exist before the manifest is pushed."""
        return (self.config, *self.layers)


def parse_document(data: bytes, media_type: str | None = None, *, what: str = "manifest") -> Index | Manifest:
    """Parse manifest bytes as an index or an image manifest.

    ``media_type`` is the type the store reported (``Content-Type``); the
    document's own ``mediaType`` must agree with it when both are present. A
    document that is neither an index nor an image manifest is refused with
    ``UnsupportedDocumentError`` naming its media type.
    """
    if len(data) > mt.MAX_MANIFEST_SIZE:
        raise UnsupportedDocumentError(
            f"refusing {what}: {len(data)} bytes is larger than the {mt.MAX_MANIFEST_SIZE}-byte limit"
        )
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: nested too deep
        raise _fail(what, f"not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise _fail(what, "not a JSON object")
    declared = obj.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise _fail(what, "mediaType must be a string")
    reported = mt.base(media_type)
    detected = mt.detect(obj)
    if declared and reported and mt.is_known_document(reported) and mt.base(declared) != reported:
        raise _fail(what, f"mediaType {declared!r} disagrees with the Content-Type {reported!r}")
    kind = mt.base(declared) if declared else (reported if mt.is_known_document(reported) else detected)
    if mt.is_index(kind):
        if "config" in obj or "layers" in obj:
            raise _fail(what, f"declared {kind} but has config/layers")
        return Index.from_obj(obj, media_type=kind, raw=data, what=what)
    if mt.is_manifest(kind):
        if "manifests" in obj:
            raise _fail(what, f"declared {kind} but has manifests")
        return Manifest.from_obj(obj, media_type=kind, raw=data, what=what)
    if kind in (mt.DOCKER_SCHEMA1, mt.DOCKER_SCHEMA1_SIGNED):
        raise UnsupportedDocumentError(f"refusing {what}: Docker schema 1 manifests are deprecated and not supported")
    raise UnsupportedDocumentError(
        f"refusing {what}: media type {kind or reported or '(none)'!r} is neither an image index nor an image manifest"
    )


def config_platform(data: bytes, *, what: str = "image config") -> Platform:
    """The platform an image config declares (top-level architecture, os, variant, os.version, os.features)."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: nested too deep
        raise _fail(what, f"not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise _fail(what, "not a JSON object")
    try:
        return Platform.from_oci(obj)
    except InvalidPlatformError as e:
        raise _fail(what, e.message) from None
