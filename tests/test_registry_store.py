"""RegistryStore against a real CNCF distribution registry (conftest fixtures)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tracemalloc
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import pytest

from manifold import mediatypes as mt
from manifold.auth import Credentials, StaticKeychain
from manifold.digest import Digest
from manifold.errors import (
    IntegrityError,
    RegistryAuthError,
    RegistryError,
    RegistryNotFoundError,
    UnsupportedDocumentError,
)
from manifold.options import Options, RequestEvent
from manifold.store.base import Store
from manifold.store.registry import CHUNK_SIZE, RegistryClient, RegistryStore, referrers_tag

pytestmark = pytest.mark.registry

MIB = 1 << 20


# --- helpers -----------------------------------------------------------------------


def options(**kw) -> Options:
    kw.setdefault("keychain", StaticKeychain({}))  # never the developer's own Docker config
    return Options(**kw)


@pytest.fixture
def client(registry) -> Iterator[RegistryClient]:
    with RegistryClient(registry.host, options()) as c:
        yield c


def new_repo(prefix: str = "test") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(client) -> RegistryStore:
    return client.store(new_repo())


def push_blob(store: RegistryStore, data: bytes) -> Digest:
    d = Digest.of(data)
    store.put_blob(d, len(data), [data])
    return d


def push_image(store: RegistryStore, platform: str, *, media_type: str = mt.OCI_MANIFEST, tag: str | None = None):
    """Config + one layer + manifest; returns (descriptor dict, manifest bytes)."""
    os_, arch = platform.split("/")[:2]
    config = json.dumps({"architecture": arch, "os": os_, "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = f"layer for {platform} {uuid.uuid4()}".encode()
    docker = media_type == mt.DOCKER_MANIFEST
    config_type, layer_type = (mt.DOCKER_CONFIG, mt.DOCKER_LAYER) if docker else (mt.OCI_CONFIG, mt.OCI_LAYER_GZIP)
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_type, "digest": str(push_blob(store, config)), "size": len(config)},
        "layers": [{"mediaType": layer_type, "digest": str(push_blob(store, layer)), "size": len(layer)}],
    }
    data = json.dumps(manifest, indent=3).encode()  # odd indent: the exact bytes must survive
    digest = store.put_manifest(data, media_type, tag=tag)
    platform_ = {"os": os_, "architecture": arch}
    desc = {"mediaType": media_type, "digest": str(digest), "size": len(data), "platform": platform_}
    return desc, data


def index_bytes(children: list[dict], media_type: str) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": children}).encode()


def big_chunks(total_mib: int) -> Iterator[bytes]:
    """Deterministic content, generated one MiB at a time."""
    for i in range(total_mib):
        yield hashlib.sha256(str(i).encode()).digest() * (MIB // 32)


def digest_of_chunks(total_mib: int) -> Digest:
    h = hashlib.sha256()
    for c in big_chunks(total_mib):
        h.update(c)
    return Digest("sha256", h.hexdigest())


# --- protocol -----------------------------------------------------------------------


def test_registry_store_satisfies_the_store_protocol(store):
    assert isinstance(store, Store)


def test_display_defaults_to_host_and_repository(client):
    assert client.store("team/app").display == f"{client.host}/team/app"
    assert client.store("library/node", display="docker.io/library/node").display == "docker.io/library/node"


def test_loopback_registry_is_spoken_to_over_plain_http(client, store):
    assert client.scheme is None
    store.blob_info(Digest.of(b"x"))
    assert client.scheme == "http"


# --- blobs ------------------------------------------------------------------------


def test_small_blob_round_trips(store):
    data = b'{"architecture":"arm64","os":"linux"}'
    d = push_blob(store, data)
    assert store.blob_info(d).size == len(data)
    assert store.get_blob(d) == data
    assert b"".join(store.open_blob(d)) == data


def test_existing_blob_is_not_uploaded_again(registry, store):
    d = push_blob(store, b"already here")
    registry.mark()
    store.put_blob(d, 12, [b"already here"])
    assert [(m, s) for m, _, s in registry.requests()] == [("HEAD", 200)]


def test_empty_blob_uploads(store):
    d = push_blob(store, b"")
    assert store.blob_info(d).size == 0


def test_blob_from_a_reopenable_source(store):
    data = b"re-openable"
    d = Digest.of(data)
    store.put_blob(d, len(data), lambda: iter([data[:3], data[3:]]))
    assert store.get_blob(d) == data


def test_source_that_does_not_match_its_digest_is_refused_and_not_stored(store):
    d = Digest.of(b"promised")
    with pytest.raises(IntegrityError):
        store.put_blob(d, len(b"promised"), [b"provided"])
    assert store.blob_info(d) is None


def test_20_mib_blob_is_streamed_up_and_down_in_bounded_memory(store):
    total = 20
    d = digest_of_chunks(total)
    tracemalloc.start()
    try:
        store.put_blob(d, total * MIB, big_chunks(total))
        _, up_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        h, biggest = hashlib.sha256(), 0
        for chunk in store.open_blob(d):
            h.update(chunk)
            biggest = max(biggest, len(chunk))
        _, down_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert store.blob_info(d).size == total * MIB
    assert h.hexdigest() == d.encoded
    assert biggest <= CHUNK_SIZE
    assert up_peak < 6 * MIB, f"upload peak {up_peak / MIB:.1f} MiB"
    assert down_peak < 6 * MIB, f"download peak {down_peak / MIB:.1f} MiB"


def test_get_blob_refuses_more_than_max_size(store):
    d = push_blob(store, b"x" * 100)
    with pytest.raises(UnsupportedDocumentError):
        store.get_blob(d, max_size=50)


# --- manifests ----------------------------------------------------------------------


def test_manifest_by_tag_and_by_digest_returns_the_exact_bytes(store):
    desc, data = push_image(store, "linux/amd64", tag="v1")
    by_tag = store.get_manifest("v1")
    by_digest = store.get_manifest(Digest.parse(desc["digest"]))
    assert by_tag.data == by_digest.data == data
    assert by_tag.digest == by_digest.digest == Digest.of(data)
    assert by_tag.media_type == mt.OCI_MANIFEST


def test_manifest_by_digest_string(store):
    desc, data = push_image(store, "linux/amd64")
    assert store.get_manifest(desc["digest"]).data == data


def test_docker_manifest_keeps_its_media_type(store):
    desc, _ = push_image(store, "linux/amd64", media_type=mt.DOCKER_MANIFEST, tag="d")
    assert store.get_manifest("d").media_type == mt.DOCKER_MANIFEST
    assert store.head_manifest("d").media_type == mt.DOCKER_MANIFEST


@pytest.mark.parametrize(
    "index_type,child_type",
    [(mt.OCI_INDEX, mt.OCI_MANIFEST), (mt.DOCKER_LIST, mt.DOCKER_MANIFEST)],
)
def test_index_comes_back_as_itself_not_down_converted(store, index_type, child_type):
    children = [push_image(store, p, media_type=child_type)[0] for p in ("linux/amd64", "linux/arm64")]
    data = index_bytes(children, index_type)
    digest = store.put_manifest(data, index_type, tag="multi")
    got = store.get_manifest("multi")
    assert (got.media_type, got.digest, got.data) == (index_type, digest, data)
    info = store.head_manifest("multi")
    assert (info.media_type, info.digest, info.size) == (index_type, digest, len(data))


def test_head_manifest_costs_exactly_one_head(registry, store):
    desc, data = push_image(store, "linux/amd64", tag="cheap")
    registry.mark()
    info = store.head_manifest("cheap")
    assert info.digest == Digest.parse(desc["digest"]) and info.size == len(data)
    assert [(m, s) for m, _, s in registry.requests()] == [("HEAD", 200)]


def test_put_manifest_by_digest_adds_no_tag(store):
    push_image(store, "linux/amd64", tag="only")
    desc, data = push_image(store, "linux/arm64")
    assert store.head_manifest(Digest.parse(desc["digest"])).size == len(data)
    assert store.tags() == ["only"]


def test_index_pushed_before_its_children_is_refused_by_the_registry(store):
    missing = {"mediaType": mt.OCI_MANIFEST, "digest": str(Digest.of(b"never pushed")), "size": 12,
               "platform": {"os": "linux", "architecture": "amd64"}}  # fmt: skip
    with pytest.raises(RegistryError) as e:
        store.put_manifest(index_bytes([missing], mt.OCI_INDEX), mt.OCI_INDEX, tag="early")
    assert e.value.codes == ("MANIFEST_BLOB_UNKNOWN",)
    assert e.value.status == 400 and e.value.exit_code == 5
    assert "PUT manifest" in str(e.value) and "manifest blob unknown" in str(e.value)


def test_delete_manifest(store):
    desc, _ = push_image(store, "linux/amd64", tag="gone")
    store.delete_manifest(Digest.parse(desc["digest"]))
    assert store.head_manifest(Digest.parse(desc["digest"])) is None


# --- not found -------------------------------------------------------------------------

ABSENT = Digest.of(b"absent")


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(lambda s: s.get_manifest("no-such-tag"), id="get_manifest by tag"),
        pytest.param(lambda s: s.get_manifest(ABSENT), id="get_manifest by digest"),
        pytest.param(lambda s: s.get_blob(ABSENT), id="get_blob"),
        pytest.param(lambda s: list(s.open_blob(ABSENT)), id="open_blob"),
        pytest.param(lambda s: s.tags(), id="tags of an unknown repository"),
        pytest.param(lambda s: s.delete_manifest(ABSENT), id="delete_manifest"),
    ],
)
def test_missing_content_raises_exit_code_3(store, operation):
    with pytest.raises(RegistryNotFoundError) as e:
        operation(store)
    assert e.value.exit_code == 3 and e.value.status == 404
    assert store.display in str(e.value)


def test_missing_manifest_message_is_in_go_client_style(store):
    with pytest.raises(RegistryNotFoundError, match=r"GET manifest .*:nope from .*: manifest unknown: manifest unknown"):
        store.get_manifest("nope")


@pytest.mark.parametrize(
    "probe", [lambda s: s.head_manifest("nope"), lambda s: s.blob_info(ABSENT)], ids=["head_manifest", "blob_info"]
)
def test_head_of_missing_content_is_none(store, probe):
    assert probe(store) is None


# --- tags --------------------------------------------------------------------------------


def test_tags_lists_every_tag(registry, store):
    """distribution 2.8 ignores ``n`` and sends no Link (Link paging is covered in test_registry_faults)."""
    desc, data = push_image(store, "linux/amd64")
    names = [f"t{i}" for i in range(7)]
    for name in names:
        store.put_manifest(data, mt.OCI_MANIFEST, tag=name)
    registry.mark()
    got = store.tags(page_size=2)
    assert sorted(got) == names and len(got) == len(names)
    assert [(m, p) for m, p, _ in registry.requests()] == [("GET", f"/v2/{store.repository}/tags/list?n=2")]


# --- mounts -------------------------------------------------------------------------------


def test_mount_between_repositories_moves_no_bytes(registry, client):
    src, dst = client.store(new_repo("src")), client.store(new_repo("dst"))
    d = push_blob(src, b"shared layer")
    registry.mark()
    assert dst.mount_blob(d, src) is True
    seen = registry.requests()
    assert [(m, s) for m, _, s in seen] == [("POST", 201)]
    assert f"mount={d}" in seen[0][1] and f"from={src.repository}" in seen[0][1]
    assert dst.get_blob(d) == b"shared layer"


def test_mount_from_a_repository_without_the_blob_is_false_then_copy_works(registry, client):
    src, dst = client.store(new_repo("src")), client.store(new_repo("dst"))
    data = b"only in dst after copy"
    d = Digest.of(data)
    registry.mark()
    assert dst.mount_blob(d, src) is False
    seen = registry.requests()
    assert [m for m, _, _ in seen] == ["POST", "DELETE"]  # the session the registry opened is cancelled
    assert seen[0][2] == 202
    dst.put_blob(d, len(data), [data])
    assert dst.get_blob(d) == data


def test_mount_from_another_registry_is_false_without_a_request(registry, registry_b, client):
    with RegistryClient(registry_b.host, options()) as other:
        src = other.store(new_repo())
        d = push_blob(src, b"elsewhere")
        registry.mark()
        assert client.store(new_repo()).mount_blob(d, src) is False
        assert registry.requests() == []


# --- referrers -----------------------------------------------------------------------------


def test_referrers_fall_back_to_the_referrers_tag(store):
    """distribution 2.8 has no referrers API (404): the tag ``sha256-<hex>`` is read instead."""
    subject, _ = push_image(store, "linux/amd64")
    subject_digest = Digest.parse(subject["digest"])
    sbom, sig = (push_image(store, p)[0] for p in ("linux/amd64", "linux/arm64"))
    sbom["artifactType"], sig["artifactType"] = "application/spdx+json", "application/vnd.dev.sigstore.bundle+json"
    store.put_manifest(index_bytes([sbom, sig], mt.OCI_INDEX), mt.OCI_INDEX, tag=referrers_tag(subject_digest))
    assert [m["digest"] for m in store.referrers(subject_digest)] == [sbom["digest"], sig["digest"]]
    assert store.referrers(subject_digest, artifact_type="application/spdx+json") == [sbom]


def test_referrers_of_a_manifest_without_any_is_empty(store):
    subject, _ = push_image(store, "linux/amd64")
    assert store.referrers(Digest.parse(subject["digest"])) == []


# --- threads ---------------------------------------------------------------------------------


def test_one_client_serves_a_thread_pool(client):
    store = client.store(new_repo())
    blobs = [f"blob {i}".encode() for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        digests = list(pool.map(lambda b: push_blob(store, b), blobs))
    assert [store.get_blob(d) for d in digests] == blobs


# --- Basic auth --------------------------------------------------------------------------------


def basic_client(registry_basic, username: str | None, password: str | None, events: list | None = None):
    entries = {} if username is None else {registry_basic.host: Credentials(username=username, password=password or "")}
    opts = options(keychain=StaticKeychain(entries), on_request=events.append if events is not None else None)
    return RegistryClient(registry_basic.host, opts)


def test_basic_auth_with_the_right_credentials_pushes_and_pulls(registry_basic):
    with basic_client(registry_basic, registry_basic.username, registry_basic.password) as c:
        c.ping()
        store = c.store(new_repo())
        desc, data = push_image(store, "linux/arm64", tag="auth")
        assert store.get_manifest("auth").data == data


@pytest.mark.parametrize(
    "username,password",
    [("ci-user", "MARKER-s3cret-wrong"), (None, None)],
    ids=["wrong password", "no credentials"],
)
@pytest.mark.parametrize(
    "operation,access",
    [
        (lambda s: s.get_manifest("latest"), "pull"),
        (lambda s: s.put_manifest(b"{}", mt.OCI_MANIFEST, tag="x"), "push"),
    ],
    ids=["pull", "push"],
)
def test_basic_auth_refused_is_exit_code_4(registry_basic, username, password, operation, access):
    with basic_client(registry_basic, username, password) as c:
        store = c.store("team/app")
        with pytest.raises(RegistryAuthError) as e:
            operation(store)
    assert e.value.exit_code == 4 and e.value.status == 401
    assert f"{access} access denied for {store.display}" in str(e.value)


def test_ping_with_wrong_credentials_is_exit_code_4(registry_basic):
    with basic_client(registry_basic, "ci-user", "MARKER-s3cret-wrong") as c:
        with pytest.raises(RegistryAuthError):
            c.ping()


@pytest.mark.parametrize("password_kind", ["right", "wrong"])
def test_verbose_events_and_errors_carry_no_secret(registry_basic, password_kind):
    password = registry_basic.password if password_kind == "right" else "MARKER-s3cret"
    events: list[RequestEvent] = []
    errors: list[str] = []
    with basic_client(registry_basic, registry_basic.username, password, events) as c:
        store = c.store(new_repo())
        try:
            push_image(store, "linux/amd64", tag="v")
            store.get_manifest("v")
        except RegistryError as e:
            errors.append(f"{e} {e.hint} {e.url}")
    assert events, "no events were reported"
    assert any(e.status == 401 for e in events)
    text = repr(events) + repr(errors)
    basic = base64.b64encode(f"{registry_basic.username}:{password}".encode()).decode()
    for secret in (password, basic, "MARKER"):
        assert secret not in text
    assert not re.search(r"_state=(?!REDACTED)", text)  # upload-session state is redacted
    assert (password_kind == "wrong") == bool(errors)
    assert (password_kind == "right") == ("_state=REDACTED" in text)


def test_large_blobs_go_up_in_patch_chunks(registry, monkeypatch):
    """Above UPLOAD_CHUNK a blob is sent as Content-Range PATCHes, then PUT ?digest= with no body."""
    import os as _os

    import manifold.store.registry as registry_module
    from manifold.api import Client

    monkeypatch.setattr(registry_module, "UPLOAD_CHUNK", 4000)
    data = _os.urandom(10_000)
    digest = Digest.of(data)
    with Client() as c:
        st = c.open(c.parse(f"{registry.host}/chunked/blob"))
        registry.mark()
        assert st.put_blob(digest, len(data), lambda: iter([data[i : i + 3000] for i in range(0, len(data), 3000)])) == "uploaded"
        methods = [m for m, _p, _s in registry.requests()]
        assert methods == ["HEAD", "POST", "PATCH", "PATCH", "PATCH", "PUT"]
        assert b"".join(st.open_blob(digest)) == data


def test_a_chunked_upload_whose_source_lies_is_refused(registry, monkeypatch):
    import manifold.store.registry as registry_module
    from manifold.api import Client
    from manifold.errors import IntegrityError

    monkeypatch.setattr(registry_module, "UPLOAD_CHUNK", 4000)
    data = b"x" * 9000
    with Client() as c:
        st = c.open(c.parse(f"{registry.host}/chunked/liar"))
        with pytest.raises(IntegrityError):
            st.put_blob(Digest.of(b"y" * 9000), len(data), lambda: iter([data]))
