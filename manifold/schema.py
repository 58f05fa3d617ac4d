"""Strict schema checks of OCI / Docker documents, for ``verify`` (pydantic v2).

``models.py`` reads documents tolerantly (unknown fields and types pass through, as
the specs require of consumers). A CI gate should be stricter about what it lets
out of the door, and say exactly where a document is wrong, as a JSON path:

- ``schemaVersion`` is 2; a present ``mediaType`` is one of the index/manifest types;
- descriptors: ``mediaType`` in RFC 6838 form, ``digest`` in the OCI grammar with a
  registered algorithm's length, ``size`` a non-negative integer, ``urls`` strings,
  ``annotations`` string to string, ``data`` base64 that matches ``digest`` and ``size``;
- platforms have a non-empty ``architecture`` and ``os``; a Docker manifest list
  entry must have a platform;
- an image manifest whose config is the empty type declares ``artifactType``.

pydantic is imported only here, and this module only by ``verify``: the resolve and
create paths never pay for it.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, field_validator, model_validator

from . import mediatypes as mt
from .digest import Digest
from .errors import InvalidDigestError

__all__ = ["SchemaProblem", "validate_document"]

_MEDIA_TYPE = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)


class PlatformSchema(_Strict):
    architecture: StrictStr = Field(min_length=1)
    os: StrictStr = Field(min_length=1)
    os_version: Optional[StrictStr] = Field(None, alias="os.version")
    os_features: Optional[list[StrictStr]] = Field(None, alias="os.features")
    variant: Optional[StrictStr] = None
    features: Optional[list[StrictStr]] = None


class DescriptorSchema(_Strict):
    mediaType: StrictStr = Field(pattern=_MEDIA_TYPE)
    digest: StrictStr
    size: StrictInt = Field(ge=0)
    urls: Optional[list[StrictStr]] = None
    annotations: Optional[dict[StrictStr, StrictStr]] = None
    data: Optional[StrictStr] = None
    platform: Optional[PlatformSchema] = None
    artifactType: Optional[StrictStr] = Field(None, pattern=_MEDIA_TYPE)

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        try:
            Digest.parse(value)
        except InvalidDigestError as e:
            raise ValueError(e.reason) from None
        return value

    @model_validator(mode="after")
    def _data_matches(self) -> "DescriptorSchema":
        if self.data is None:
            return self
        try:
            raw = base64.b64decode(self.data, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("data is not valid base64") from None
        if len(raw) != self.size:
            raise ValueError(f"data is {len(raw)} bytes, size says {self.size}")
        d = Digest.parse(self.digest)
        if Digest.of(raw, d.algorithm) != d:
            raise ValueError("data does not hash to digest")
        return self


class IndexSchema(_Strict):
    schemaVersion: Literal[2]
    mediaType: Optional[Literal["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"]] = None
    artifactType: Optional[StrictStr] = Field(None, pattern=_MEDIA_TYPE)
    manifests: list[DescriptorSchema]
    subject: Optional[DescriptorSchema] = None
    annotations: Optional[dict[StrictStr, StrictStr]] = None

    @model_validator(mode="after")
    def _docker_platforms(self) -> "IndexSchema":
        if self.mediaType == mt.DOCKER_LIST:
            for i, d in enumerate(self.manifests):
                if d.platform is None:
                    raise ValueError(f"manifests[{i}]: a Docker manifest list entry must have a platform")
        return self


class ManifestSchema(_Strict):
    schemaVersion: Literal[2]
    mediaType: Optional[Literal["application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"]] = None
    artifactType: Optional[StrictStr] = Field(None, pattern=_MEDIA_TYPE)
    config: DescriptorSchema
    layers: list[DescriptorSchema]
    subject: Optional[DescriptorSchema] = None
    annotations: Optional[dict[StrictStr, StrictStr]] = None

    @model_validator(mode="after")
    def _artifact_type(self) -> "ManifestSchema":
        if self.config.mediaType == mt.OCI_EMPTY and not self.artifactType:
            raise ValueError("artifactType is required when config is the empty descriptor")
        return self


SchemaProblem = tuple[str, str]  # (JSON path, message)


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def _message(err: Any) -> str:
    if err["type"] == "string_pattern_mismatch":
        return "not a media type of the form type/subtype"
    msg = str(err["msg"])
    return msg[len("Value error, ") :] if msg.startswith("Value error, ") else msg


def validate_document(data: bytes, media_type: str | None = None) -> list[SchemaProblem]:
    """Schema problems of a manifest or index, as (JSON path, message); [] when clean."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        return [("(document)", f"not valid JSON: {e}")]
    if not isinstance(obj, dict):
        return [("(document)", "not a JSON object")]
    kind = mt.detect(obj) or mt.base(media_type)
    model: type[BaseModel]
    if mt.is_index(kind):
        model = IndexSchema
    elif mt.is_manifest(kind):
        model = ManifestSchema
    else:
        return [("mediaType", f"neither an index nor an image manifest: {kind or '(none)'}")]
    try:
        model.model_validate(obj)
    except ValidationError as e:
        return [(_path(tuple(err["loc"])), _message(err)) for err in e.errors(include_url=False)]
    return []
