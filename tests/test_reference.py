"""Image references: behaviour.md §7 vectors (distribution/reference) and OCI layout references."""

from __future__ import annotations

import subprocess
import sys

import pytest

from manifold.digest import Digest
from manifold.errors import InvalidReferenceError
from manifold.reference import (
    DOCKER_API_HOST,
    LayoutReference,
    Reference,
    is_loopback,
    parse_any,
    split_host_port,
)

F64 = "f" * 64
F34 = "f" * 34
F128 = "f" * 128
BUSYBOX = "sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
E669 = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"
DBCC = "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"
HEX64_NAME = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"


def _parts(r: Reference) -> tuple[str, str, str | None, str | None]:
    return r.name, r.domain, r.tag, str(r.digest) if r.digest else None


# --- Vectors R: parse_strict (distribution/reference Parse) ----------------------------

R_VALID = [
    # input, name, domain, tag, digest
    ("R1", "test_com", "test_com", "", None, None),
    ("R2", "test.com:tag", "test.com", "", "tag", None),
    ("R3", "test.com:5000", "test.com", "", "5000", None),
    ("R4", "test.com/repo:tag", "test.com/repo", "test.com", "tag", None),
    ("R5", "test:5000/repo", "test:5000/repo", "test:5000", None, None),
    ("R6", "test:5000/repo:tag", "test:5000/repo", "test:5000", "tag", None),
    ("R7", f"test:5000/repo@sha256:{F64}", "test:5000/repo", "test:5000", None, f"sha256:{F64}"),
    ("R8", f"test:5000/repo:tag@sha256:{F64}", "test:5000/repo", "test:5000", "tag", f"sha256:{F64}"),
    ("R17", "lowercase:Uppercase", "lowercase", "", "Uppercase", None),
    ("R19", "a/" * 127 + "a:tag-puts-this-over-max", "a/" * 127 + "a", "a", "tag-puts-this-over-max", None),
    ("R21", "sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", None, None),
    ("R21", "sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com",
     "some-long-tag", None),
    ("R22", "b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io/test.example.com/my-app", "b.gcr.io",
     "test.example.com", None),
    ("R23", "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage", "xn--n3h.com", "xn--n3h.com", None),
    ("R24", f"xn--7o8h.com/myimage:xn--7o8h.com@sha256:{F64}", "xn--7o8h.com/myimage", "xn--7o8h.com",
     "xn--7o8h.com", f"sha256:{F64}"),
    ("R24", f"xn--7o8h.com/myimage:xn--7o8h.com@sha512:{F128}", "xn--7o8h.com/myimage", "xn--7o8h.com",
     "xn--7o8h.com", f"sha512:{F128}"),
    ("R25", "foo_bar.com:8080", "foo_bar.com", "", "8080", None),
    ("R26", "foo/foo_bar.com:8080", "foo/foo_bar.com", "foo", "8080", None),
    ("R27", "192.168.1.1", "192.168.1.1", "", None, None),
    ("R27", "192.168.1.1:tag", "192.168.1.1", "", "tag", None),
    ("R27", "192.168.1.1:5000", "192.168.1.1", "", "5000", None),
    ("R28", "192.168.1.1/repo", "192.168.1.1/repo", "192.168.1.1", None, None),
    ("R28", "192.168.1.1:5000/repo", "192.168.1.1:5000/repo", "192.168.1.1:5000", None, None),
    ("R28", "192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo", "192.168.1.1:5000", "5050", None),
    ("R30", "[2001:db8::1]/repo", "[2001:db8::1]/repo", "[2001:db8::1]", None, None),
    ("R30", "[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]/repo", "[2001:db8:1:2:3:4:5:6]", "tag", None),
    ("R30", "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", None, None),
    ("R30", "[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "tag", None),
    ("R30", f"[2001:db8::1]:5000/repo@sha256:{F64}", "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", None,
     f"sha256:{F64}"),
    ("R30", f"[2001:db8::1]:5000/repo:tag@sha256:{F64}", "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "tag",
     f"sha256:{F64}"),
    ("R30", "[2001:db8::]:5000/repo", "[2001:db8::]:5000/repo", "[2001:db8::]:5000", None, None),
    ("R30", "[::1]:5000/repo", "[::1]:5000/repo", "[::1]:5000", None, None),
    ("R32", "example.com/" + "a" * 255 + ":tag", "example.com/" + "a" * 255, "example.com", "tag", None),
]


@pytest.mark.parametrize(("vector", "text", "name", "domain", "tag", "digest"), R_VALID)
def test_parse_strict_vectors(
    vector: str, text: str, name: str, domain: str, tag: str | None, digest: str | None
) -> None:
    assert _parts(Reference.parse_strict(text)) == (name, domain, tag, digest)


@pytest.mark.parametrize(("vector", "text"), [(v[0], v[1]) for v in R_VALID])
def test_parse_strict_string_round_trips(vector: str, text: str) -> None:
    assert str(Reference.parse_strict(text)) == text


R_INVALID = [
    ("R9", "", "repository name must have at least one component"),
    ("R10", ":justtag", "invalid reference format"),
    ("R11", f"@sha256:{F64}", "invalid reference format"),
    ("R12", f"repo@sha256:{F34}", "64 hex characters"),
    ("R13", f"validname@invaliddigest:{F64}", "unsupported digest algorithm"),
    ("R15", "Uppercase:tag", "repository name must be lowercase"),
    ("R16", "test:5000/Uppercase/lowercase:tag", "repository name must be lowercase"),
    ("R18", "domain/" + "a" * 256 + ":tag", "repository name must not be more than 255 characters"),
    ("R20", "aa/asdf$$^/aa", "invalid reference format"),
    ("R29", "[2001:db8::1]", "invalid reference format"),
    ("R29", "[2001:db8::1]:5000", "invalid reference format"),
    ("R29", "[2001:db8::1]:tag", "invalid reference format"),
    ("R31", "[fe80::1%eth0]:5000/repo", "invalid reference format"),
    ("R31", "[fe80::1%@invalidzone]:5000/repo", "invalid reference format"),
]


@pytest.mark.parametrize(("vector", "text", "reason"), R_INVALID)
def test_parse_strict_rejects(vector: str, text: str, reason: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        Reference.parse_strict(text)
    assert reason in info.value.reason
    assert info.value.text == text


def test_parse_strict_does_not_normalise() -> None:
    r = Reference.parse_strict("index.docker.io/ubuntu")
    assert _parts(r) == ("index.docker.io/ubuntu", "index.docker.io", None, None)


# --- R14: sha512 (deliberate deviation: accepted) ----------------------------------------


@pytest.mark.parametrize("parse", [Reference.parse, Reference.parse_strict])
def test_sha512_digest_is_accepted_unlike_go_default(parse) -> None:  # type: ignore[no-untyped-def]
    # R14: distribution/reference refuses sha512 unless the Go program imports crypto/sha512;
    # OCI registers sha512, so manifold accepts it.
    assert parse(f"validname@sha512:{F128}").digest == Digest("sha512", F128)


# --- Vectors RN: Reference.parse (ParseNormalizedNamed) ----------------------------------

RN = [
    # vector, input, full name, familiar name, domain, path
    ("RN1", "localhost/fooo", "localhost/fooo", "localhost/fooo", "localhost", "fooo"),
    ("RN2", "LOCALDOMAIN/fooo/bar", "LOCALDOMAIN/fooo/bar", "LOCALDOMAIN/fooo/bar", "LOCALDOMAIN", "fooo/bar"),
    ("RN3", "fooo/bar", "docker.io/fooo/bar", "fooo/bar", "docker.io", "fooo/bar"),
    ("RN3", "docker.io/fooo/bar", "docker.io/fooo/bar", "fooo/bar", "docker.io", "fooo/bar"),
    ("RN3", "index.docker.io/fooo/bar", "docker.io/fooo/bar", "fooo/bar", "docker.io", "fooo/bar"),
    ("RN4", "ubuntu", "docker.io/library/ubuntu", "ubuntu", "docker.io", "library/ubuntu"),
    ("RN4", "library/ubuntu", "docker.io/library/ubuntu", "ubuntu", "docker.io", "library/ubuntu"),
    ("RN4", "docker.io/library/ubuntu", "docker.io/library/ubuntu", "ubuntu", "docker.io", "library/ubuntu"),
    ("RN5", "other/library", "docker.io/other/library", "other/library", "docker.io", "other/library"),
    ("RN6", "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase",
     "127.0.0.1:8000", "private/moonbase"),
    ("RN7", "example.com:8000/privatebasee", "example.com:8000/privatebasee", "example.com:8000/privatebasee",
     "example.com:8000", "privatebasee"),
    ("RN8", "ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base", "ubuntu-12.04-base", "docker.io",
     "library/ubuntu-12.04-base"),
    ("RN8", "index.docker.io/library/ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base", "ubuntu-12.04-base",
     "docker.io", "library/ubuntu-12.04-base"),
    ("RN9", "foo", "docker.io/library/foo", "foo", "docker.io", "library/foo"),
    ("RN9", "docker.io/foo", "docker.io/library/foo", "foo", "docker.io", "library/foo"),
    ("RN10", "library/foo/bar", "docker.io/library/foo/bar", "library/foo/bar", "docker.io", "library/foo/bar"),
    ("RN11", "store/foo/bar", "docker.io/store/foo/bar", "store/foo/bar", "docker.io", "store/foo/bar"),
    ("RN12", "Foo/bar", "Foo/bar", "Foo/bar", "Foo", "bar"),
    ("RN12", "FOO/bar", "FOO/bar", "FOO/bar", "FOO", "bar"),
    ("RN13", "test_com/foo", "docker.io/test_com/foo", "test_com/foo", "docker.io", "test_com/foo"),
    ("RN14", "test-com:8080/foo", "test-com:8080/foo", "test-com:8080/foo", "test-com:8080", "foo"),
    ("RN15", "xn--n3h.com:18080/foo", "xn--n3h.com:18080/foo", "xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
    ("RN15", "xn--n3h.com/foo", "xn--n3h.com/foo", "xn--n3h.com/foo", "xn--n3h.com", "foo"),
    ("RN", "test.com:8080/foo", "test.com:8080/foo", "test.com:8080/foo", "test.com:8080", "foo"),
    ("RN", "docker/migrator", "docker.io/docker/migrator", "docker/migrator", "docker.io", "docker/migrator"),
    ("RN", "docker.io/library/foo/bar", "docker.io/library/foo/bar", "library/foo/bar", "docker.io", "library/foo/bar"),
]


@pytest.mark.parametrize(("vector", "text", "full", "familiar", "domain", "path"), RN)
def test_parse_normalises(vector: str, text: str, full: str, familiar: str, domain: str, path: str) -> None:
    r = Reference.parse(text)
    assert (str(r), r.familiar_name, r.domain, r.path) == (full, familiar, domain, path)


def test_parse_keeps_tag_and_digest_rn16() -> None:
    r = Reference.parse(f"busybox:latest@{BUSYBOX}")
    assert str(r) == f"docker.io/library/busybox:latest@{BUSYBOX}"
    assert r.familiar() == f"busybox:latest@{BUSYBOX}"


def test_parse_adds_no_default_tag() -> None:
    assert Reference.parse("node").tag is None


# --- Vectors RD: docker_ref (ParseDockerRef) ----------------------------------------------

RD = [
    ("RD1", "busybox", "docker.io/library/busybox:latest"),
    ("RD1", "busybox:latest", "docker.io/library/busybox:latest"),
    ("RD1", "library/busybox", "docker.io/library/busybox:latest"),
    ("RD1", "docker.io/busybox", "docker.io/library/busybox:latest"),
    ("RD1", "docker.io/library/busybox", "docker.io/library/busybox:latest"),
    ("RD1", "docker.io/busybox:latest", "docker.io/library/busybox:latest"),
    ("RD1", "library/busybox:latest", "docker.io/library/busybox:latest"),
    ("RD1", "docker.io/library/busybox:latest", "docker.io/library/busybox:latest"),
    ("RD2", f"busybox@{E669}", f"docker.io/library/busybox@{E669}"),
    ("RD3", "gcr.io/library/busybox", "gcr.io/library/busybox:latest"),
    ("RD4", f"gcr.io/library/busybox:latest@{E669}", f"gcr.io/library/busybox@{E669}"),
]


@pytest.mark.parametrize(("vector", "text", "expected"), RD)
def test_docker_ref(vector: str, text: str, expected: str) -> None:
    out = Reference.parse(text).docker_ref()
    assert str(out) == expected
    assert Reference.parse_strict(str(out)) == out


# --- Vectors RA: ParseAnyReference, where it applies to Reference.parse -------------------

RA = [
    ("RA1", "redis", "docker.io/library/redis"),
    ("RA1", "redis:latest", "docker.io/library/redis:latest"),
    ("RA1", "docker.io/library/redis:latest", "docker.io/library/redis:latest"),
    ("RA1", f"redis@sha256:{DBCC}", f"docker.io/library/redis@sha256:{DBCC}"),
    ("RA2", f"dmcgowan/myapp@sha256:{DBCC}", f"docker.io/dmcgowan/myapp@sha256:{DBCC}"),
    ("RA2", "dmcgowan/myapp:latest", "docker.io/dmcgowan/myapp:latest"),
    ("RA2", "docker.io/mcgowan/myapp:latest", "docker.io/mcgowan/myapp:latest"),
    ("RA5", DBCC[:63], f"docker.io/library/{DBCC[:63]}"),
    ("RA6", "dbcc1", "docker.io/library/dbcc1"),
]


@pytest.mark.parametrize(("vector", "text", "expected"), RA)
def test_parse_any_reference_vectors(vector: str, text: str, expected: str) -> None:
    assert str(Reference.parse(text)) == expected


@pytest.mark.parametrize(
    ("vector", "text", "reason"),
    [
        # RA3/RA4: ParseAnyReference turns these into digest-only references. A manifold Reference
        # always names a repository, so Reference.parse refuses them. (RA3 is also refused by
        # ParseNormalizedNamed; for RA4 ParseNormalizedNamed would read "docker.io/library/sha256"
        # tagged with the hex — a deliberate deviation.)
        ("RA3", DBCC, "cannot specify 64-byte hexadecimal strings"),
        ("RA4", f"sha256:{DBCC}", "a digest alone is not a reference"),
        ("RA4", f"sha512:{F128}", "a digest alone is not a reference"),
    ],
)
def test_bare_digests_are_not_references(vector: str, text: str, reason: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        Reference.parse(text)
    assert reason in info.value.reason


# --- Valid / invalid names (TestValidateReferenceName, TestValidateRemoteName) -------------

VALID_NAMES = [
    "docker/docker",
    "library/debian",
    "debian",
    "docker.io/docker/docker",
    "docker.io/library/debian",
    "docker.io/debian",
    "index.docker.io/docker/docker",
    "index.docker.io/library/debian",
    "index.docker.io/debian",
    "localhost/library/debian",
    "localhost/debian",
    "LOCALDOMAIN/library/debian",
    "127.0.0.1:5000/docker/docker",
    "127.0.0.1:5000/library/debian",
    "127.0.0.1:5000/debian",
    "192.168.0.1",
    "192.168.0.1:80",
    "192.168.0.1:8/debian",
    "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "[fc00::1]:5000/docker",
    "[fc00::1]:5000/docker/docker",
    "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
    f"docker.io/{HEX64_NAME}",
    "Docker/docker",
    "DOCKER/docker",
    "docker-rules/docker",
    "docker---rules/docker",
    "doc/docker",
    "d/docker",
    "jess/t",
    "dock__er/docker",
]

INVALID_NAMES = [
    "https://github.com/docker/docker",
    "docker/Docker",
    "-docker",
    "-docker/docker",
    "-docker.io/docker/docker",
    "docker///docker",
    "docker.io/docker/Docker",
    "docker.io/docker///docker",
    "[fc00::1]",
    "[fc00::1]:5000",
    "fc00::1:5000/debian",
    "[fe80::1%eth0]:5000/debian",
    "[2001:db8:3:4::192.0.2.33]:5000/debian",
    HEX64_NAME,
    "docker-/docker",
    "-docker-/docker",
    "____/____",
    "_docker/_docker",
    "dock..er/docker",
    "dock_.er/docker",
    "dock-.er/docker",
    "docker/",
    "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_" * 4 + "/docker",
]


@pytest.mark.parametrize("text", VALID_NAMES)
def test_valid_names_parse(text: str) -> None:
    r = Reference.parse(text)
    assert Reference.parse(str(r)) == r


@pytest.mark.parametrize("text", INVALID_NAMES)
def test_invalid_names_are_refused(text: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        Reference.parse(text)
    assert info.value.text == text
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("docker/Docker", "invalid reference format: repository name (docker/Docker) must be lowercase"),
        (HEX64_NAME, "cannot specify 64-byte hexadecimal strings"),
        ("", "repository name must have at least one component"),
        ("a" + "/a" * 200, "repository name must not be more than 255 characters"),
        ("node:-bad", "invalid reference format"),
    ],
)
def test_parse_error_reasons_use_upstream_wording(text: str, reason: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        Reference.parse(text)
    assert reason in info.value.reason


def test_short_digest_like_string_is_a_tag_as_upstream() -> None:
    # Only a complete registered digest is refused; anything else follows ParseNormalizedNamed.
    assert str(Reference.parse("sha256:abc")) == "docker.io/library/sha256:abc"


def test_domain_that_fails_the_domain_grammar_is_refused() -> None:
    # Deviation: upstream would return a domain-less name "foo_bar.com/app" that cannot be pulled.
    with pytest.raises(InvalidReferenceError, match="not a valid registry host"):
        Reference.parse("foo_bar.com/app")


def test_non_string_is_refused() -> None:
    with pytest.raises(InvalidReferenceError, match="not a string"):
        Reference.parse(None)  # type: ignore[arg-type]


def test_trailing_newline_is_refused() -> None:
    with pytest.raises(InvalidReferenceError):
        Reference.parse("node:20\n")


def test_unicode_word_characters_are_not_tag_characters() -> None:
    with pytest.raises(InvalidReferenceError):
        Reference.parse("node:é")


# --- Round trips and canonical forms -------------------------------------------------------

ROUND_TRIP = [
    "node:20",
    "ghcr.io/org/app:1.2",
    f"127.0.0.1:5000/team/app@sha256:{F64}",
    f"repo:tag@sha256:{F64}",
    "localhost:5000/a/b/c",
    "[::1]:5000/repo:v1",
    "Foo/bar:baz",
    f"validname@sha512:{F128}",
    "library/foo/bar",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_parse_round_trips(text: str) -> None:
    r = Reference.parse(text)
    assert Reference.parse(str(r)) == r


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_familiar_form_parses_back(text: str) -> None:
    r = Reference.parse(text)
    assert Reference.parse(r.familiar()) == r


@pytest.mark.parametrize(
    ("text", "familiar"),
    [
        ("docker.io/library/node:20", "node:20"),
        ("node", "node"),
        ("docker.io/fooo/bar", "fooo/bar"),
        ("docker.io/library/foo/bar", "library/foo/bar"),
        ("ghcr.io/org/app:1.2", "ghcr.io/org/app:1.2"),
        (f"docker.io/library/node@sha256:{F64}", f"node@sha256:{F64}"),
    ],
)
def test_familiar(text: str, familiar: str) -> None:
    assert Reference.parse(text).familiar() == familiar


@pytest.mark.parametrize(
    ("text", "api_host"),
    [
        ("node:20", DOCKER_API_HOST),
        ("docker.io/library/node", "registry-1.docker.io"),
        ("index.docker.io/fooo/bar", "registry-1.docker.io"),
        ("ghcr.io/org/app", "ghcr.io"),
        ("127.0.0.1:5000/app", "127.0.0.1:5000"),
        ("[::1]:5000/app", "[::1]:5000"),
        ("localhost/app", "localhost"),
    ],
)
def test_api_host(text: str, api_host: str) -> None:
    assert Reference.parse(text).api_host == api_host


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("node", "latest"),
        ("node:20", "20"),
        (f"node@sha256:{F64}", f"sha256:{F64}"),
        (f"node:20@sha256:{F64}", f"sha256:{F64}"),
    ],
)
def test_ref_is_what_the_registry_is_asked_for(text: str, ref: str) -> None:
    assert Reference.parse(text).ref == ref


def test_legacy_index_domain_uses_the_docker_api_host() -> None:
    assert Reference.parse_strict("index.docker.io/library/node").api_host == DOCKER_API_HOST


def test_name_of_a_domainless_strict_reference_is_its_path() -> None:
    assert Reference.parse_strict("test_com:tag").name == "test_com"


# --- with_tag / with_digest ---------------------------------------------------------------


def test_with_tag_replaces_tag_and_drops_digest() -> None:
    r = Reference.parse(f"node:20@sha256:{F64}").with_tag("22")
    assert str(r) == "docker.io/library/node:22"


def test_with_tag_validates() -> None:
    with pytest.raises(InvalidReferenceError, match="invalid tag format"):
        Reference.parse("node").with_tag("-x")


@pytest.mark.parametrize("digest", [f"sha256:{F64}", Digest("sha256", F64)])
def test_with_digest_drops_tag(digest: Digest | str) -> None:
    assert str(Reference.parse("node:20").with_digest(digest)) == f"docker.io/library/node@sha256:{F64}"


def test_with_digest_validates() -> None:
    with pytest.raises(InvalidReferenceError, match="invalid digest"):
        Reference.parse("node").with_digest("sha256:abc")


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"domain": "docker.io", "path": "Node"}, "must be lowercase"),
        ({"domain": "docker.io", "path": ""}, "at least one component"),
        ({"domain": "bad_host", "path": "node"}, "invalid domain"),
        ({"domain": "docker.io", "path": "library/node", "tag": "-x"}, "invalid tag format"),
        ({"domain": "docker.io", "path": "library/node", "digest": Digest("sha256", "abc")}, "invalid digest"),
    ],
)
def test_constructor_validates(kwargs: dict, reason: str) -> None:
    with pytest.raises(InvalidReferenceError, match=reason):
        Reference(**kwargs)


def test_reference_is_immutable() -> None:
    r = Reference.parse("node")
    with pytest.raises(AttributeError):
        r.tag = "x"  # type: ignore[misc]


# --- LayoutReference ---------------------------------------------------------------------

LAYOUTS = [
    # text, kind, path, tag, digest
    ("oci:./out", "oci", "./out", None, None),
    ("oci:out", "oci", "out", None, None),
    ("oci:/abs/path/layout", "oci", "/abs/path/layout", None, None),
    ("oci:/abs/path/layout:v1.2", "oci", "/abs/path/layout", "v1.2", None),
    ("oci:../rel/dir:latest", "oci", "../rel/dir", "latest", None),
    ("oci:/tmp/a:b/layout:v1", "oci", "/tmp/a:b/layout", "v1", None),
    ("oci:/tmp/user@host/layout", "oci", "/tmp/user@host/layout", None, None),
    (f"oci:./out@sha256:{F64}", "oci", "./out", None, f"sha256:{F64}"),
    (f"oci:./out:v1@sha256:{F64}", "oci", "./out", "v1", f"sha256:{F64}"),
    ("oci-archive:image.tar", "oci-archive", "image.tar", None, None),
    ("oci-archive:/tmp/image.tar:v1", "oci-archive", "/tmp/image.tar", "v1", None),
    (f"oci-archive:image.tar@sha512:{F128}", "oci-archive", "image.tar", None, f"sha512:{F128}"),
]


@pytest.mark.parametrize(("text", "kind", "path", "tag", "digest"), LAYOUTS)
def test_layout_parse(text: str, kind: str, path: str, tag: str | None, digest: str | None) -> None:
    lr = LayoutReference.parse(text)
    assert (lr.kind, lr.path, lr.tag, str(lr.digest) if lr.digest else None) == (kind, path, tag, digest)


@pytest.mark.parametrize("text", [row[0] for row in LAYOUTS])
def test_layout_round_trips(text: str) -> None:
    lr = LayoutReference.parse(text)
    assert str(lr) == text
    assert LayoutReference.parse(str(lr)) == lr


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("oci:", "empty path"),
        ("oci::v1", "empty path"),
        (f"oci:@sha256:{F64}", "empty path"),
        ("oci:dir:-v1", "invalid tag format"),
        ("oci:dir:", "invalid tag format"),
        ("oci:dir:" + "t" * 129, "invalid tag format"),
        ("oci:dir:v1@", "invalid digest"),
        ("oci:dir@sha256:abc", "invalid digest"),
        (f"oci:dir@md5:{F64}", "invalid digest"),
        ("oci:a:b:c", "may not contain"),
        ("docker:foo", "expected oci:PATH"),
    ],
)
def test_layout_errors(text: str, reason: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        LayoutReference.parse(text)
    assert reason in info.value.reason
    assert info.value.text == text


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("oci:dir", "latest"),
        ("oci:dir:v1", "v1"),
        (f"oci:dir:v1@sha256:{F64}", f"sha256:{F64}"),
    ],
)
def test_layout_ref(text: str, ref: str) -> None:
    assert LayoutReference.parse(text).ref == ref


def test_layout_with_tag_and_with_digest() -> None:
    lr = LayoutReference.parse(f"oci:dir:v1@sha256:{F64}")
    assert str(lr.with_tag("v2")) == "oci:dir:v2"
    assert str(lr.with_digest(f"sha256:{F64}")) == f"oci:dir@sha256:{F64}"


def test_layout_with_tag_validates() -> None:
    with pytest.raises(InvalidReferenceError, match="invalid tag format"):
        LayoutReference.parse("oci:dir").with_tag("bad tag")


# --- parse_any ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "canonical"),
    [
        ("oci:./out:v1", LayoutReference, "oci:./out:v1"),
        ("oci-archive:img.tar", LayoutReference, "oci-archive:img.tar"),
        ("node:20", Reference, "docker.io/library/node:20"),
        ("ghcr.io/org/oci:1", Reference, "ghcr.io/org/oci:1"),
        ("ocifoo:1", Reference, "docker.io/library/ocifoo:1"),
    ],
)
def test_parse_any(text: str, kind: type, canonical: str) -> None:
    r = parse_any(text)
    assert isinstance(r, kind)
    assert str(r) == canonical


# --- hosts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("LOCALHOST:5000", True),
        ("127.0.0.1", True),
        ("127.0.0.1:5000", True),
        ("127.1.2.3", True),
        ("[::1]:5000", True),
        ("[::1]", True),
        ("::1", True),
        ("example.com", False),
        ("example.com:5000", False),
        ("10.0.0.1", False),
        ("128.0.0.1", False),
        ("localhost.example.com", False),
        ("docker.io", False),
        ("[2001:db8::1]:5000", False),
        ("localhost:notaport", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("host", "split"),
    [
        ("example.com", ("example.com", None)),
        ("example.com:443", ("example.com", 443)),
        ("127.0.0.1:5000", ("127.0.0.1", 5000)),
        ("[::1]:5000", ("::1", 5000)),
        ("[::1]", ("::1", None)),
        ("::1", ("::1", None)),
    ],
)
def test_split_host_port(host: str, split: tuple[str, int | None]) -> None:
    assert split_host_port(host) == split


@pytest.mark.parametrize("host", ["example.com:", "example.com:http", "example.com:70000", "[::1", "[::1]x"])
def test_split_host_port_rejects(host: str) -> None:
    with pytest.raises(InvalidReferenceError):
        split_host_port(host)


# --- purity --------------------------------------------------------------------------------


def test_reference_module_is_pure() -> None:
    code = (
        "import sys, manifold.reference; "
        "print(','.join(m for m in ('httpx', 'typer', 'pydantic', 'tabulate') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
