"""combine(): flatten, upsert by platform, media type, annotations (pure; behaviour.md §3.3/§3.4)."""

from __future__ import annotations

import json

import pytest

from manifold import mediatypes as mt
from manifold.build import SourceImage, combine, parse_annotation
from manifold.digest import Digest
from manifold.errors import InvalidAnnotationError, InvalidInputError
from manifold.models import Descriptor, Index, parse_document
from manifold.platform import Platform

ATT_TYPE = "attestation-manifest"


def image(name: str, platform: str, media_type: str = mt.OCI_MANIFEST) -> SourceImage:
    """A single-image source whose config says ``platform``."""
    desc = Descriptor(media_type, Digest.of(name.encode()), 500)
    return SourceImage(name, desc, None, Platform.parse(platform))


def img_entry(name: str, platform: str, media_type: str = mt.OCI_MANIFEST) -> Descriptor:
    os_, arch, *variant = platform.split("/")
    return Descriptor(media_type, Digest.of(name.encode()), 500, Platform(os_, arch, variant[0] if variant else ""))


def att_entry(name: str, subject: Descriptor) -> Descriptor:
    return Descriptor(
        mt.OCI_MANIFEST,
        Digest.of(name.encode()),
        300,
        Platform("unknown", "unknown"),
        {"vnd.docker.reference.digest": str(subject.digest), "vnd.docker.reference.type": ATT_TYPE},
    )


def index_source(label: str, *entries: Descriptor, media_type: str = mt.OCI_INDEX) -> SourceImage:
    idx = Index(media_type, tuple(entries))
    data = idx.to_bytes()
    idx = Index(media_type, tuple(entries), raw=data)
    return SourceImage(label, Descriptor(media_type, Digest.of(data), len(data)), idx)


def platforms(c) -> list[str]:
    return [d.platform.format_all() for d in c.index.manifests]


def test_two_images_make_an_oci_index_in_source_order():
    c = combine([image("a", "linux/amd64"), image("b", "linux/arm64")])
    assert c.index.media_type == mt.OCI_INDEX
    assert platforms(c) == ["linux/amd64", "linux/arm64"]
    assert c.digest == Digest.of(c.data)
    assert parse_document(c.data).manifests == c.index.manifests


def test_serialisation_matches_buildx_layout():
    c = combine([image("a", "linux/arm/v7")])
    doc = json.loads(c.data)
    assert list(doc) == ["schemaVersion", "mediaType", "manifests"]
    assert list(doc["manifests"][0]) == ["mediaType", "digest", "size", "platform"]
    assert list(doc["manifests"][0]["platform"]) == ["architecture", "os", "variant"]
    assert c.data.startswith(b'{\n  "schemaVersion": 2,') and not c.data.endswith(b"\n")


def test_docker_children_only_make_a_docker_list_C8():
    c = combine([image("a", "linux/amd64", mt.DOCKER_MANIFEST), image("b", "linux/arm64", mt.DOCKER_MANIFEST)])
    assert c.index.media_type == mt.DOCKER_LIST


def test_docker_children_plus_attestation_make_an_oci_index_C9():
    a = img_entry("a", "linux/amd64", mt.DOCKER_MANIFEST)
    src = index_source("buildx", a, att_entry("att-a", a))
    c = combine([src, image("b", "linux/arm64", mt.DOCKER_MANIFEST)])
    assert c.index.media_type == mt.OCI_INDEX


def test_annotations_choose_an_oci_index_instead_of_dropping_them():
    anns = parse_annotation("index:org.opencontainers.image.version=1.2")
    c = combine([image("a", "linux/amd64", mt.DOCKER_MANIFEST)], annotations=anns)
    assert c.index.media_type == mt.OCI_INDEX
    assert c.index.annotations == {"org.opencontainers.image.version": "1.2"}


def test_docker_media_type_refuses_oci_children():
    with pytest.raises(InvalidInputError, match="Docker manifest list holds only Docker"):
        combine([image("a", "linux/amd64")], media_type="docker")


def test_single_index_source_is_a_carbon_copy_C10():
    a = img_entry("a", "linux/amd64")
    src = index_source("idx", a, img_entry("b", "linux/arm64"))
    c = combine([src])
    assert c.data == src.index.raw and c.digest == src.descriptor.digest


def test_index_sources_are_flattened_with_attestations_after_images():
    a, b = img_entry("a", "linux/amd64"), img_entry("b", "linux/arm64/v8")
    c = combine([index_source("amd", a, att_entry("att-a", a)), index_source("arm", b, att_entry("att-b", b))])
    kinds = [(d.platform.format_all(), d.subject) for d in c.index.manifests]
    assert kinds == [
        ("linux/amd64", None),
        ("linux/arm64/v8", None),
        ("unknown/unknown", str(a.digest)),
        ("unknown/unknown", str(b.digest)),
    ]
    assert not any(d.is_index for d in c.index.manifests)


@pytest.mark.parametrize(
    "first, second",
    [
        ("linux/arm64", "linux/arm64/v8"),
        ("linux/arm64", "linux/aarch64"),
        ("linux/arm/v7", "linux/arm"),
        ("linux/amd64", "linux/x86_64"),
    ],
)
def test_two_sources_for_one_normalised_platform_are_an_error(first, second):
    with pytest.raises(InvalidInputError, match="two sources for platform") as e:
        combine([image("a", first), image("b", second)])
    assert e.value.exit_code == 2


def test_windows_versions_are_different_platforms():
    a = Descriptor(mt.OCI_MANIFEST, Digest.of(b"w1"), 1, Platform("windows", "amd64", os_version="10.0.17763.1"))
    b = Descriptor(mt.OCI_MANIFEST, Digest.of(b"w2"), 1, Platform("windows", "amd64", os_version="10.0.20348.1"))
    c = combine([index_source("w", a, b)])
    assert len(c.index.manifests) == 2


def test_same_digest_twice_is_one_entry_with_merged_annotations_C12():
    a1 = img_entry("a", "linux/amd64").evolve(annotations={"a": "1", "b": "1"})
    a2 = img_entry("a", "linux/amd64").evolve(annotations={"a": "2"})
    c = combine([index_source("one", a1, img_entry("x", "linux/s390x")), index_source("two", a2)])
    assert len(c.index.manifests) == 2
    assert c.index.manifests[0].annotations == {"a": "2", "b": "1"}


def test_amend_replaces_by_platform_in_place_and_drops_the_old_attestation():
    old_arm = img_entry("old-arm", "linux/arm64/v8")
    amd = img_entry("amd", "linux/amd64")
    base = Index(mt.OCI_INDEX, (amd, old_arm, img_entry("s390", "linux/s390x"), att_entry("att-old", old_arm)))
    c = combine([image("new-arm", "linux/arm64")], base=base)
    assert platforms(c) == ["linux/amd64", "linux/arm64", "linux/s390x"]
    assert c.index.manifests[1].digest == Digest.of(b"new-arm")
    assert {str(d.digest) for d in c.replaced} == {str(old_arm.digest), str(Digest.of(b"att-old"))}
    assert c.origins[str(amd.digest)] is None and c.origins[str(Digest.of(b"new-arm"))] == 0


def test_amend_keeps_index_annotations_and_adds_new_platforms_at_the_end():
    base = Index(mt.OCI_INDEX, (img_entry("amd", "linux/amd64"),), {"keep": "me"})
    c = combine([image("arm", "linux/arm/v7")], base=base)
    assert platforms(c) == ["linux/amd64", "linux/arm/v7"]
    assert c.index.annotations == {"keep": "me"}


def test_amend_is_idempotent():
    base = combine([image("amd", "linux/amd64"), image("arm", "linux/arm64")]).index
    again = combine([image("arm", "linux/arm64")], base=base)
    assert again.digest == Digest.of(base.to_bytes())


def test_platform_filter_keeps_images_and_their_attestations_PF_BX():
    a, b = img_entry("a", "linux/amd64"), img_entry("b", "linux/arm64")
    src = index_source("idx", a, b, att_entry("att-a", a), att_entry("att-b", b))
    c = combine([src], keep=[Platform.parse("linux/arm64")])
    assert [d.digest for d in c.index.manifests] == [b.digest, Digest.of(b"att-b")]


def test_override_relabels_a_single_image():
    src = image("a", "linux/arm64")
    src = SourceImage(src.label, src.descriptor, None, src.platform, Platform.parse("linux/arm64/v8"))
    c = combine([src])
    assert platforms(c) == ["linux/arm64/v8"]


def test_descriptor_annotations_A9():
    anns = [
        a
        for text in ("index:foo=bar", "index:bar=baz", "manifest-descriptor:foo=bar", "manifest-descriptor[linux/amd64]:bar=baz")
        for a in parse_annotation(text)
    ]
    c = combine([image("a", "linux/amd64"), image("b", "linux/arm64")], annotations=anns)
    assert c.index.annotations == {"foo": "bar", "bar": "baz"}
    assert c.index.manifests[0].annotations == {"foo": "bar", "bar": "baz"}
    assert c.index.manifests[1].annotations == {"foo": "bar"}


def test_descriptor_annotation_platform_matches_normalised():
    [ann] = parse_annotation("manifest-descriptor[linux/arm64]:k=v")
    c = combine([image("b", "linux/arm64/v8")], annotations=[ann])
    assert c.index.manifests[0].annotations == {"k": "v"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a=b", [("index", "a", "b", None)]),
        ("com.example=a", [("index", "com.example", "a", None)]),
        ("index:k=v=w", [("index", "k", "v=w", None)]),
        ("index,manifest-descriptor:k=v", [("index", "k", "v", None), ("manifest-descriptor", "k", "v", None)]),
        ("manifest-descriptor[linux/arm/v7]:k=", [("manifest-descriptor", "k", "", "linux/arm/v7")]),
    ],
)
def test_parse_annotation(text, expected):
    got = [(a.kind, a.key, a.value, a.platform.format_all() if a.platform else None) for a in parse_annotation(text)]
    assert got == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("novalue", "expected KEY=VALUE"),
        ("bad:k=v", "unknown annotation type"),
        ("manifest:k=v", "manifest annotations"),
        ("index-descriptor:k=v", "index-descriptor annotations are invalid"),
        ("index[linux/amd64]:k=v", "only manifest-descriptor"),
        ("manifest-descriptor[foobar]:k=v", "unknown operating system or architecture"),
        ("=v", "empty key"),
    ],
)
def test_parse_annotation_errors(text, message):
    with pytest.raises(InvalidAnnotationError, match=message) as e:
        parse_annotation(text)
    assert e.value.exit_code == 2


def test_platform_filter_without_os_version_keeps_every_windows_build():
    a = Descriptor(mt.OCI_MANIFEST, Digest.of(b"w1"), 1, Platform("windows", "amd64", os_version="10.0.17763.1"))
    b = Descriptor(mt.OCI_MANIFEST, Digest.of(b"w2"), 1, Platform("windows", "amd64", os_version="10.0.20348.1"))
    c = combine([index_source("w", a, b, img_entry("l", "linux/amd64"))], keep=[Platform.parse("windows/amd64")])
    assert [d.digest for d in c.index.manifests] == [a.digest, b.digest]
    c = combine([index_source("w", a, b)], keep=[Platform.parse("windows(10.0.20348)/amd64")])
    assert [d.digest for d in c.index.manifests] == [b.digest]


def test_platform_filter_that_keeps_nothing_is_an_error():
    with pytest.raises(InvalidInputError, match="none of the sources' images match"):
        combine([image("a", "linux/amd64")], keep=[Platform.parse("linux/s390x")])
