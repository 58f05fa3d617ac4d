"""OCI and Docker media types (behaviour.md §5.1), as plain strings, with predicates."""

from __future__ import annotations

import json

__all__ = [
    "ACCEPT_MANIFESTS",
    "ATTESTATION_ARTIFACT_TYPE",
    "DOCKER_CONFIG",
    "DOCKER_LAYER",
    "DOCKER_LIST",
    "DOCKER_MANIFEST",
    "DOCKER_SCHEMA1",
    "DOCKER_SCHEMA1_SIGNED",
    "MAX_MANIFEST_SIZE",
    "OCI_CONFIG",
    "OCI_EMPTY",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_LAYER_GZIP",
    "OCI_LAYOUT_HEADER",
    "OCI_MANIFEST",
    "REF_DIGEST_ANNOTATION",
    "REF_NAME_ANNOTATION",
    "REF_TYPE_ANNOTATION",
    "base",
    "detect",
    "is_config",
    "is_docker",
    "is_index",
    "is_manifest",
    "is_known_document",
]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"

DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

ATTESTATION_ARTIFACT_TYPE = "application/vnd.docker.attestation.manifest.v1+json"
REF_TYPE_ANNOTATION = "vnd.docker.reference.type"
REF_DIGEST_ANNOTATION = "vnd.docker.reference.digest"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"

#: containerd's cap (4*1048*1048, sic), behaviour.md §2.4
MAX_MANIFEST_SIZE = 4 * 1048 * 1048

#: Every manifest type manifold understands, so no registry down-converts (§10.1).
ACCEPT_MANIFESTS = ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST])

_INDEX = frozenset({OCI_INDEX, DOCKER_LIST})
_MANIFEST = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
_CONFIG = frozenset({OCI_CONFIG, DOCKER_CONFIG})


def base(media_type: str | None) -> str:
    """Drop parameters and case from a Content-Type value."""
    if not media_type:
        return ""
    return media_type.split(";", 1)[0].strip().lower()


def is_index(media_type: str | None) -> bool:
    return base(media_type) in _INDEX


def is_manifest(media_type: str | None) -> bool:
    return base(media_type) in _MANIFEST


def is_config(media_type: str | None) -> bool:
    return base(media_type) in _CONFIG


def is_known_document(media_type: str | None) -> bool:
    return is_index(media_type) or is_manifest(media_type)


def is_docker(media_type: str | None) -> bool:
    return base(media_type).startswith("application/vnd.docker.")


def detect(obj: object) -> str | None:
    """The media type of a parsed manifest document, as containerd/buildx detect it.

    The ``mediaType`` field wins; otherwise ``manifests`` means an OCI index,
    ``config`` an OCI manifest, ``fsLayers`` Docker schema 1. ``None`` when unknown.
    """
    if not isinstance(obj, dict):
        return None
    mt = obj.get("mediaType")
    if isinstance(mt, str) and mt:
        return base(mt)
    if "manifests" in obj:
        return OCI_INDEX
    if "config" in obj:
        return OCI_MANIFEST
    if "fsLayers" in obj:
        return DOCKER_SCHEMA1
    return None


def detect_bytes(data: bytes) -> str | None:
    try:
        return detect(json.loads(data))
    except (ValueError, RecursionError):
        return None


__all__ += ["detect_bytes"]
__all__.sort()
