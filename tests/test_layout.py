"""OCI image layout and oci-archive stores (behaviour.md §5.6), against the committed fixtures."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from manifold import mediatypes as mt
from manifold.digest import Digest
from manifold.errors import (
    IntegrityError,
    InvalidDigestError,
    InvalidInputError,
    InvalidReferenceError,
    ManifoldError,
    NotFoundError,
    UnsupportedDocumentError,
)
from manifold.store.base import Store
from manifold.store.layout import ArchiveStore, LayoutStore, open_layout

ARCHIVE_TAGS = ["app-amd64", "app-arm64", "app-armv7", "app"]


# --- helpers -----------------------------------------------------------------


@pytest.fixture
def layout_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "layout"


@pytest.fixture
def writable(tmp_path: Path, layout_dir: Path) -> Path:
    """A private copy of the fixture layout, for tests that write."""
    dst = tmp_path / "layout"
    shutil.copytree(layout_dir, dst)
    return dst


def index_entries(root: Path) -> list[dict]:
    return json.loads((root / "index.json").read_bytes())["manifests"]


def tag_digest(root: Path, tag: str) -> Digest:
    [entry] = [e for e in index_entries(root) if e.get("annotations", {}).get(mt.REF_NAME_ANNOTATION) == tag]
    return Digest.parse(entry["digest"])


def blob_path(root: Path, d: Digest | str) -> Path:
    alg, _, hexpart = str(d).partition(":")
    return root / "blobs" / alg / hexpart


def manifest_doc(root: Path, tag: str) -> dict:
    return json.loads(blob_path(root, tag_digest(root, tag)).read_bytes())


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def small_manifest(n: int) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": {"n": n}, "layers": []}).encode()


# --- opening -------------------------------------------------------------


def test_missing_layout_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no OCI image layout at"):
        LayoutStore(tmp_path / "absent")


def test_directory_without_oci_layout_file_is_not_found(tmp_path: Path) -> None:
    (tmp_path / "index.json").write_text('{"schemaVersion":2,"manifests":[]}')
    with pytest.raises(NotFoundError, match="no OCI image layout at"):
        LayoutStore(tmp_path)


@pytest.mark.parametrize("header", ['{"imageLayoutVersion":"2.0.0"}', "{}", "not json", "[]"])
def test_unsupported_layout_version_is_refused(tmp_path: Path, header: str) -> None:
    (tmp_path / "oci-layout").write_text(header)
    with pytest.raises(UnsupportedDocumentError) as e:
        LayoutStore(tmp_path)
    assert e.value.exit_code == 5


def test_display_is_oci_and_the_path_as_given(layout_dir: Path) -> None:
    assert LayoutStore(str(layout_dir)).display == f"oci:{layout_dir}"


@pytest.mark.parametrize("kind, cls", [("oci", LayoutStore), ("oci-archive", ArchiveStore)])
def test_open_layout_picks_the_store_for_the_kind(fixtures_dir: Path, kind: str, cls: type) -> None:
    path = fixtures_dir / ("layout" if kind == "oci" else "app.tar")
    store = open_layout(kind, str(path))
    assert type(store) is cls and isinstance(store, Store)


def test_open_layout_refuses_an_unknown_kind(layout_dir: Path) -> None:
    with pytest.raises(InvalidInputError, match="docker-archive"):
        open_layout("docker-archive", str(layout_dir))


def test_module_import_does_not_load_tarfile() -> None:
    code = "import sys, manifold.store.layout; print('tarfile' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# --- reading ---------------------------------------------------------------


def test_tags_are_the_ref_names_of_index_json_in_order(layout_dir: Path) -> None:
    want = [e["annotations"][mt.REF_NAME_ANNOTATION] for e in index_entries(layout_dir)]
    assert LayoutStore(layout_dir).tags() == want


@pytest.mark.parametrize(
    "tag, media_type",
    [
        ("app", mt.OCI_INDEX),
        ("app-amd64", mt.OCI_MANIFEST),
        ("app-buildx-arm64", mt.OCI_INDEX),
        ("docker-list", mt.DOCKER_LIST),
        ("docker-amd64", mt.DOCKER_MANIFEST),
        ("nested", mt.OCI_INDEX),
    ],
)
def test_get_by_tag_returns_the_tagged_blob(layout_dir: Path, tag: str, media_type: str) -> None:
    got = LayoutStore(layout_dir).get_manifest(tag)
    want = tag_digest(layout_dir, tag)
    assert (got.media_type, got.digest, got.data) == (media_type, want, blob_path(layout_dir, want).read_bytes())


def test_get_by_digest_returns_the_same_bytes_as_by_tag(layout_dir: Path) -> None:
    store = LayoutStore(layout_dir)
    by_tag = store.get_manifest("windows")
    assert store.get_manifest(by_tag.digest) == by_tag


def test_get_by_digest_string_works_like_a_digest(layout_dir: Path) -> None:
    store = LayoutStore(layout_dir)
    d = tag_digest(layout_dir, "app-arm64")
    assert store.get_manifest(str(d)).data == store.get_manifest(d).data


def test_untagged_child_by_digest_has_its_media_type_detected(layout_dir: Path) -> None:
    inner = Digest.parse(manifest_doc(layout_dir, "nested")["manifests"][0]["digest"])
    assert inner not in [tag_digest(layout_dir, t) for t in LayoutStore(layout_dir).tags()]
    assert LayoutStore(layout_dir).get_manifest(inner).media_type == mt.OCI_INDEX


def test_head_by_tag_agrees_with_get(layout_dir: Path) -> None:
    store = LayoutStore(layout_dir)
    got = store.get_manifest("docker-list")
    info = store.head_manifest("docker-list")
    assert info is not None and (info.media_type, info.digest, info.size) == (got.media_type, got.digest, got.size)


def test_head_by_digest_agrees_with_get(layout_dir: Path) -> None:
    store = LayoutStore(layout_dir)
    got = store.get_manifest("app-s390x")
    info = store.head_manifest(got.digest)
    assert info is not None and (info.media_type, info.size) == (got.media_type, got.size)


@pytest.mark.parametrize("ref", ["no-such-tag", Digest.of(b"never stored")])
def test_head_of_something_absent_is_none(layout_dir: Path, ref: str | Digest) -> None:
    assert LayoutStore(layout_dir).head_manifest(ref) is None


def test_absent_tag_is_not_found_naming_tag_and_layout(layout_dir: Path) -> None:
    store = LayoutStore(layout_dir)
    with pytest.raises(NotFoundError) as e:
        store.get_manifest("no-such-tag")
    assert "'no-such-tag'" in str(e.value) and store.display in str(e.value) and e.value.exit_code == 3


def test_latest_does_not_fall_back_when_the_layout_has_many_entries(layout_dir: Path) -> None:
    with pytest.raises(NotFoundError, match="'latest'"):
        LayoutStore(layout_dir).get_manifest("latest")


@pytest.mark.parametrize("ref", ["latest", ""])
def test_single_untagged_entry_is_read_without_a_tag(tmp_path: Path, ref: str) -> None:
    store = LayoutStore(tmp_path / "l", create=True)
    d = store.put_manifest(small_manifest(1), mt.OCI_MANIFEST)
    entry = {"mediaType": mt.OCI_MANIFEST, "digest": str(d), "size": len(small_manifest(1))}
    (tmp_path / "l" / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    assert store.get_manifest(ref).digest == d


def test_two_untagged_entries_need_a_digest(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path / "l", create=True)
    entries = []
    for n in (1, 2):
        d = store.put_manifest(small_manifest(n), mt.OCI_MANIFEST)
        entries.append({"mediaType": mt.OCI_MANIFEST, "digest": str(d), "size": len(small_manifest(n))})
    (tmp_path / "l" / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entries}))
    with pytest.raises(NotFoundError):
        store.get_manifest("latest")


def test_reading_writes_nothing_into_the_layout(layout_dir: Path) -> None:
    before = tree(layout_dir)
    store = LayoutStore(layout_dir)
    for tag in store.tags():
        store.head_manifest(tag)
        store.get_manifest(tag)
    assert tree(layout_dir) == before


# --- blobs -------------------------------------------------------------------


def test_blob_info_gives_the_size(layout_dir: Path) -> None:
    config = manifest_doc(layout_dir, "app-amd64")["config"]
    info = LayoutStore(layout_dir).blob_info(Digest.parse(config["digest"]))
    assert info is not None and info.size == config["size"]


def test_blob_info_of_an_absent_blob_is_none(layout_dir: Path) -> None:
    assert LayoutStore(layout_dir).blob_info(Digest.of(b"absent")) is None


def test_get_blob_returns_the_verified_config(layout_dir: Path) -> None:
    d = Digest.parse(manifest_doc(layout_dir, "app-armv7")["config"]["digest"])
    assert json.loads(LayoutStore(layout_dir).get_blob(d))["variant"] == "v7"


def test_get_blob_refuses_more_than_max_size(layout_dir: Path) -> None:
    d = Digest.parse(manifest_doc(layout_dir, "app-armv7")["config"]["digest"])
    with pytest.raises(UnsupportedDocumentError):
        LayoutStore(layout_dir).get_blob(d, max_size=10)


def test_open_blob_streams_the_layer(layout_dir: Path) -> None:
    layer = manifest_doc(layout_dir, "app-amd64")["layers"][0]
    data = b"".join(LayoutStore(layout_dir).open_blob(Digest.parse(layer["digest"])))
    assert len(data) == layer["size"] and f"sha256:{hashlib.sha256(data).hexdigest()}" == layer["digest"]


def test_open_blob_yields_chunks_of_at_most_one_mib(writable: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 5)
    d = Digest.of(data)
    store = LayoutStore(writable)
    store.put_blob(d, len(data), [data])
    sizes = [len(c) for c in store.open_blob(d)]
    assert max(sizes) <= 1 << 20 and sum(sizes) == len(data)


def test_open_blob_of_an_absent_blob_fails_at_once(layout_dir: Path) -> None:
    with pytest.raises(NotFoundError):
        LayoutStore(layout_dir).open_blob(Digest.of(b"absent"))


def corrupt(root: Path, d: Digest | str) -> None:
    p = blob_path(root, d)
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(data))


def test_corrupt_blob_fails_open_blob_at_the_end(writable: Path) -> None:
    d = Digest.parse(manifest_doc(writable, "app-amd64")["layers"][0]["digest"])
    corrupt(writable, d)
    with pytest.raises(IntegrityError, match="digest mismatch"):
        list(LayoutStore(writable).open_blob(d))


def test_corrupt_blob_fails_get_blob(writable: Path) -> None:
    d = Digest.parse(manifest_doc(writable, "app-amd64")["config"]["digest"])
    corrupt(writable, d)
    with pytest.raises(IntegrityError):
        LayoutStore(writable).get_blob(d)


def test_corrupt_manifest_fails_get_by_tag(writable: Path) -> None:
    corrupt(writable, tag_digest(writable, "app"))
    with pytest.raises(IntegrityError) as e:
        LayoutStore(writable).get_manifest("app")
    assert e.value.exit_code == 5


def test_missing_blob_of_a_tag_is_not_found(writable: Path) -> None:
    blob_path(writable, tag_digest(writable, "app")).unlink()
    with pytest.raises(NotFoundError):
        LayoutStore(writable).get_manifest("app")


def test_head_of_a_tag_whose_blob_is_missing_is_none(writable: Path) -> None:
    blob_path(writable, tag_digest(writable, "app")).unlink()
    assert LayoutStore(writable).head_manifest("app") is None


@pytest.mark.parametrize("as_callable", [False, True], ids=["iterable", "callable"])
def test_put_blob_stores_verified_content(tmp_path: Path, as_callable: bool) -> None:
    store = LayoutStore(tmp_path / "l", create=True)
    chunks = [b"hello ", b"world"]
    d = Digest.of(b"hello world")
    store.put_blob(d, 11, (lambda: iter(chunks)) if as_callable else iter(chunks))
    assert blob_path(tmp_path / "l", d).read_bytes() == b"hello world"


@pytest.mark.parametrize(
    "claimed_size, chunks",
    [(11, [b"hello there"]), (5, [b"hello world"]), (20, [b"hello world"])],
    ids=["wrong-content", "too-long", "too-short"],
)
def test_put_blob_refuses_content_that_does_not_match(tmp_path: Path, claimed_size: int, chunks: list) -> None:
    store = LayoutStore(tmp_path / "l", create=True)
    d = Digest.of(b"hello world")
    with pytest.raises(IntegrityError):
        store.put_blob(d, claimed_size, chunks)
    assert list((tmp_path / "l" / "blobs" / "sha256").iterdir()) == []  # no blob, no temp file


def test_put_blob_of_a_present_blob_reads_nothing(writable: Path) -> None:
    layer = manifest_doc(writable, "app-amd64")["layers"][0]

    def source() -> list[bytes]:
        raise AssertionError("the source should not be opened")

    LayoutStore(writable).put_blob(Digest.parse(layer["digest"]), layer["size"], source)
    assert blob_path(writable, layer["digest"]).exists()


# --- writing manifests and tags -------------------------------------------------


def test_put_manifest_with_a_tag_can_be_read_back(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path / "l", create=True)
    d = store.put_manifest(small_manifest(1), mt.OCI_MANIFEST, tag="v1")
    got = store.get_manifest("v1")
    assert (got.digest, got.data, got.media_type, store.tags()) == (d, small_manifest(1), mt.OCI_MANIFEST, ["v1"])


def test_put_manifest_writes_a_plain_descriptor_entry(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path / "l", create=True)
    d = store.put_manifest(small_manifest(1), mt.OCI_MANIFEST, tag="v1")
    assert index_entries(tmp_path / "l") == [
        {
            "mediaType": mt.OCI_MANIFEST,
            "digest": str(d),
            "size": len(small_manifest(1)),
            "annotations": {mt.REF_NAME_ANNOTATION: "v1"},
        }
    ]


def test_retag_replaces_the_entry_in_place(writable: Path) -> None:
    store = LayoutStore(writable)
    tags_before = store.tags()
    d = store.put_manifest(small_manifest(7), mt.OCI_MANIFEST, tag="app")
    assert store.tags() == tags_before and store.get_manifest("app").digest == d


def test_retag_leaves_one_entry_per_tag(writable: Path) -> None:
    store = LayoutStore(writable)
    for n in range(3):
        store.put_manifest(small_manifest(n), mt.OCI_MANIFEST, tag="app")
    names = [e["annotations"][mt.REF_NAME_ANNOTATION] for e in index_entries(writable)]
    assert names.count("app") == 1


def test_retag_of_duplicate_entries_keeps_the_first_position(tmp_path: Path) -> None:
    root = tmp_path / "l"
    store = LayoutStore(root, create=True)
    for n, tag in enumerate(["a", "dup", "b"]):
        store.put_manifest(small_manifest(n), mt.OCI_MANIFEST, tag=tag)
    index = json.loads((root / "index.json").read_bytes())
    index["manifests"].append(dict(index["manifests"][1]))  # another writer left a duplicate
    (root / "index.json").write_text(json.dumps(index))
    store.put_manifest(small_manifest(9), mt.OCI_MANIFEST, tag="dup")
    assert store.tags() == ["a", "dup", "b"] and len(index_entries(root)) == 3


def test_retag_with_the_same_content_leaves_index_json_byte_identical(writable: Path) -> None:
    before = (writable / "index.json").read_bytes()
    store = LayoutStore(writable)
    got = store.get_manifest("app-amd64")
    store.put_manifest(got.data, got.media_type, tag="app-amd64")
    assert (writable / "index.json").read_bytes() == before


def test_put_manifest_without_a_tag_stores_only_the_blob(writable: Path) -> None:
    before = (writable / "index.json").read_bytes()
    d = LayoutStore(writable).put_manifest(small_manifest(3), mt.OCI_MANIFEST)
    assert blob_path(writable, d).read_bytes() == small_manifest(3)
    assert (writable / "index.json").read_bytes() == before


def test_index_json_keeps_unknown_fields_when_rewritten(writable: Path) -> None:
    index = json.loads((writable / "index.json").read_bytes())
    index["annotations"] = {"org.example.keep": "me"}
    index["manifests"][0]["x-unknown"] = 1
    (writable / "index.json").write_text(json.dumps(index))
    LayoutStore(writable).put_manifest(small_manifest(1), mt.OCI_MANIFEST, tag="new")
    after = json.loads((writable / "index.json").read_bytes())
    assert after["annotations"] == {"org.example.keep": "me"} and after["manifests"][0]["x-unknown"] == 1


@pytest.mark.parametrize("tag", ["", "-leading", "has space", "../up", "a//b", "trailing."])
def test_put_manifest_refuses_an_invalid_tag(tmp_path: Path, tag: str) -> None:
    store = LayoutStore(tmp_path / "l", create=True)
    with pytest.raises(InvalidReferenceError):
        store.put_manifest(small_manifest(1), mt.OCI_MANIFEST, tag=tag)


@pytest.mark.parametrize("tag", ["latest", "v1.2.3", "team/app:1.0", "a--b", "x@y+z", "A0"])
def test_put_manifest_accepts_ref_name_grammar(tmp_path: Path, tag: str) -> None:
    store = LayoutStore(tmp_path / "l", create=True)
    store.put_manifest(small_manifest(1), mt.OCI_MANIFEST, tag=tag)
    assert store.tags() == [tag]


def test_put_manifest_refuses_an_oversize_manifest(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path / "l", create=True)
    with pytest.raises(UnsupportedDocumentError) as e:
        store.put_manifest(b" " * (mt.MAX_MANIFEST_SIZE + 1), mt.OCI_MANIFEST, tag="big")
    assert e.value.exit_code == 5 and store.tags() == []


def test_get_manifest_refuses_an_oversize_manifest(tmp_path: Path) -> None:
    root = tmp_path / "l"
    LayoutStore(root, create=True)
    data = small_manifest(1) + b" " * mt.MAX_MANIFEST_SIZE
    d = Digest.of(data)
    blob_path(root, d).write_bytes(data)
    entry = {
        "mediaType": mt.OCI_MANIFEST,
        "digest": str(d),
        "size": len(data),
        "annotations": {mt.REF_NAME_ANNOTATION: "big"},
    }
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    with pytest.raises(UnsupportedDocumentError, match="rejecting"):
        LayoutStore(root).get_manifest("big")


# --- creating -----------------------------------------------------------------


def test_create_makes_an_empty_layout(tmp_path: Path) -> None:
    root = tmp_path / "new" / "layout"
    LayoutStore(root, create=True)
    assert json.loads((root / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}
    assert json.loads((root / "index.json").read_bytes())["manifests"] == []
    assert (root / "blobs").is_dir() and LayoutStore(root).tags() == []


def test_create_in_an_empty_directory(tmp_path: Path) -> None:
    LayoutStore(tmp_path, create=True)
    assert (tmp_path / "oci-layout").is_file()


def test_create_refuses_a_directory_holding_other_things(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="not empty"):
        LayoutStore(tmp_path, create=True)


def test_create_on_an_existing_layout_keeps_it(writable: Path) -> None:
    before = LayoutStore(writable).tags()
    assert LayoutStore(writable, create=True).tags() == before


def _write_tags(root: str, worker: int, count: int) -> None:
    store = LayoutStore(root, create=True)
    for i in range(count):
        store.put_manifest(small_manifest(worker * 1000 + i), mt.OCI_MANIFEST, tag=f"w{worker}-t{i}")


def test_concurrent_writer_processes_lose_no_tag(tmp_path: Path) -> None:
    root = str(tmp_path / "shared")
    workers, per_worker = 6, 10
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_tags, args=(root, w, per_worker)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * workers
    store = LayoutStore(root)
    want = {f"w{w}-t{i}" for w in range(workers) for i in range(per_worker)}
    assert set(store.tags()) == want and len(index_entries(Path(root))) == workers * per_worker
    for w in range(workers):
        for i in range(per_worker):
            assert store.get_manifest(f"w{w}-t{i}").data == small_manifest(w * 1000 + i)


# --- hostile and broken input -----------------------------------------------------


HOSTILE = [
    Digest("sha256", "../../../etc/passwd"),
    Digest("sha256", "A" * 64),
    Digest("md5", "d41d8cd98f00b204e9800998ecf8427e"),
    Digest("sha256", "/etc/passwd"),
]


@pytest.mark.parametrize("d", HOSTILE, ids=str)
@pytest.mark.parametrize("call", ["blob_info", "get_blob", "open_blob", "get_manifest", "put_blob"])
def test_hostile_digests_never_reach_the_filesystem(writable: Path, d: Digest, call: str) -> None:
    store = LayoutStore(writable)
    before = tree(writable.parent)
    with pytest.raises(InvalidDigestError) as e:
        if call == "put_blob":
            store.put_blob(d, 3, [b"abc"])
        else:
            getattr(store, call)(d)
    assert e.value.exit_code == 2 and tree(writable.parent) == before


@pytest.mark.parametrize("text", ["sha256:" + "A" * 64, "sha256:../../etc/passwd", "sha512:abc"])
def test_malformed_digest_strings_are_invalid_not_tags(layout_dir: Path, text: str) -> None:
    with pytest.raises(InvalidDigestError):
        LayoutStore(layout_dir).get_manifest(text)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"[]", b'{"schemaVersion":2}', b'{"manifests":{}}', b"\xff\xfe"],
    ids=["invalid-json", "empty", "array", "no-manifests", "manifests-not-list", "not-utf8"],
)
def test_broken_index_json_is_a_clear_error(writable: Path, content: bytes) -> None:
    (writable / "index.json").write_bytes(content)
    with pytest.raises(UnsupportedDocumentError, match="index.json") as e:
        LayoutStore(writable).get_manifest("app")
    assert e.value.exit_code == 5


def test_put_on_a_broken_index_json_leaves_it_alone(writable: Path) -> None:
    (writable / "index.json").write_bytes(b"{not json")
    with pytest.raises(UnsupportedDocumentError):
        LayoutStore(writable).put_manifest(small_manifest(1), mt.OCI_MANIFEST, tag="x")
    assert (writable / "index.json").read_bytes() == b"{not json"


def test_tagged_entry_with_a_bad_digest_is_a_clear_error(writable: Path) -> None:
    index = json.loads((writable / "index.json").read_bytes())
    index["manifests"][0]["digest"] = "sha256:../../x"
    (writable / "index.json").write_text(json.dumps(index))
    with pytest.raises(UnsupportedDocumentError, match="invalid digest"):
        LayoutStore(writable).get_manifest("app-amd64")


def test_unknown_files_and_media_types_cause_no_error(writable: Path) -> None:
    (writable / "README").write_text("hello")
    (writable / "blobs" / "md5").mkdir()
    index = json.loads((writable / "index.json").read_bytes())
    weird = {"mediaType": "application/x.unknown", "digest": "sha256:" + "0" * 64, "size": 1, "foo": [1],
             "annotations": {mt.REF_NAME_ANNOTATION: "weird"}}
    index["manifests"] += [weird, "not an object", {"no": "digest"}]
    (writable / "index.json").write_text(json.dumps(index))
    store = LayoutStore(writable)
    assert "weird" in store.tags() and store.get_manifest("app").media_type == mt.OCI_INDEX


def test_non_regular_file_at_a_blob_path_is_refused(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path / "l", create=True)
    d = Digest.of(b"dir")
    blob_path(tmp_path / "l", d).mkdir()
    with pytest.raises(IntegrityError, match="not a regular file"):
        store.blob_info(d)


def test_a_failed_write_is_a_manifold_error_not_a_traceback(writable: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    store = LayoutStore(writable)
    with pytest.raises(ManifoldError, match="No space left") as e:
        store.put_manifest(small_manifest(1), mt.OCI_MANIFEST, tag="x")
    assert e.value.exit_code == 5 and "x" not in store.tags()


# --- mounts --------------------------------------------------------------------


def test_mount_hard_links_between_layouts(writable: Path, tmp_path: Path) -> None:
    d = Digest.parse(manifest_doc(writable, "app-amd64")["layers"][0]["digest"])
    target = LayoutStore(tmp_path / "other", create=True)
    assert target.mount_blob(d, LayoutStore(writable)) is True
    assert blob_path(tmp_path / "other", d).stat().st_ino == blob_path(writable, d).stat().st_ino


def test_mount_from_an_archive_is_declined(tmp_path: Path, fixtures_dir: Path) -> None:
    archive = ArchiveStore(fixtures_dir / "app.tar")
    d = archive.get_manifest("app").digest
    assert LayoutStore(tmp_path / "l", create=True).mount_blob(d, archive) is False


def test_mount_across_filesystems_is_declined(writable: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def exdev(src: str, dst: str) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", exdev)
    d = tag_digest(writable, "app")
    target = LayoutStore(tmp_path / "other", create=True)
    assert target.mount_blob(d, LayoutStore(writable)) is False and target.blob_info(d) is None


def test_mount_of_a_blob_the_source_lacks_is_declined(writable: Path, tmp_path: Path) -> None:
    target = LayoutStore(tmp_path / "other", create=True)
    assert target.mount_blob(Digest.of(b"nowhere"), LayoutStore(writable)) is False


# --- oci-archive: reading -----------------------------------------------------------


def test_archive_tags(fixtures_dir: Path) -> None:
    assert ArchiveStore(fixtures_dir / "app.tar").tags() == ARCHIVE_TAGS


def test_archive_display(fixtures_dir: Path) -> None:
    path = str(fixtures_dir / "app.tar")
    assert ArchiveStore(path).display == f"oci-archive:{path}"


@pytest.mark.parametrize("tag", ARCHIVE_TAGS)
def test_archive_holds_the_same_content_as_the_layout(fixtures_dir: Path, tag: str) -> None:
    a = ArchiveStore(fixtures_dir / "app.tar").get_manifest(tag)
    assert a == LayoutStore(fixtures_dir / "layout").get_manifest(tag)


def test_archive_blobs_stream_verified(fixtures_dir: Path) -> None:
    store = ArchiveStore(fixtures_dir / "app.tar")
    doc = json.loads(store.get_manifest("app-arm64").data)
    for desc in [doc["config"], *doc["layers"]]:
        assert len(b"".join(store.open_blob(Digest.parse(desc["digest"])))) == desc["size"]


def test_archive_is_read_without_extracting(tmp_path: Path, fixtures_dir: Path) -> None:
    shutil.copy(fixtures_dir / "app.tar", tmp_path / "app.tar")
    store = ArchiveStore(tmp_path / "app.tar")
    for tag in store.tags():
        store.get_manifest(tag)
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.tar"]


def test_missing_archive_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        ArchiveStore(tmp_path / "absent.tar")


def test_a_file_that_is_not_a_tar_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.tar").write_bytes(b"this is not a tar archive" * 40)
    with pytest.raises(UnsupportedDocumentError):
        ArchiveStore(tmp_path / "x.tar")


def test_archive_without_oci_layout_is_not_found(tmp_path: Path) -> None:
    make_tar(tmp_path / "x.tar", [file_member("index.json", b'{"schemaVersion":2,"manifests":[]}')])
    with pytest.raises(NotFoundError, match="no OCI image layout"):
        ArchiveStore(tmp_path / "x.tar")


def test_archive_with_a_corrupt_blob_fails_verification(tmp_path: Path, fixtures_dir: Path) -> None:
    members = read_tar(fixtures_dir / "app.tar")
    d = tag_digest(fixtures_dir / "layout", "app")
    name = f"blobs/sha256/{d.hex}"
    members = [(i, data.replace(b"arm64", b"arm65") if i.name == name else data) for i, data in members]
    make_tar(tmp_path / "bad.tar", members)
    with pytest.raises(IntegrityError):
        ArchiveStore(tmp_path / "bad.tar").get_manifest("app")


def test_gzipped_archive_is_read(tmp_path: Path, fixtures_dir: Path) -> None:
    import gzip

    (tmp_path / "app.tar.gz").write_bytes(gzip.compress((fixtures_dir / "app.tar").read_bytes()))
    got = ArchiveStore(tmp_path / "app.tar.gz").get_manifest("app")
    assert got == LayoutStore(fixtures_dir / "layout").get_manifest("app")


@pytest.mark.parametrize("compress", [False, True], ids=["tar", "tar.gz"])
def test_truncated_archive_is_a_clear_error(tmp_path: Path, fixtures_dir: Path, compress: bool) -> None:
    import gzip

    data = (fixtures_dir / "app.tar").read_bytes()
    data = gzip.compress(data) if compress else data
    (tmp_path / "cut.tar").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises((IntegrityError, UnsupportedDocumentError)) as e:
        store = ArchiveStore(tmp_path / "cut.tar")
        for tag in store.tags():
            store.get_manifest(tag)
    assert e.value.exit_code == 5


def test_archive_serves_concurrent_readers(tmp_path: Path) -> None:
    blobs = [os.urandom(3 * (1 << 20) + n) for n in range(4)]
    path = tmp_path / "big.tar"
    with ArchiveStore(path, create=True) as store:
        for data in blobs:
            store.put_blob(Digest.of(data), len(data), [data])
    store = ArchiveStore(path)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda data: b"".join(store.open_blob(Digest.of(data))), blobs * 4))
    assert results == blobs * 4


@pytest.mark.parametrize("d", HOSTILE, ids=str)
def test_archive_refuses_hostile_digests(fixtures_dir: Path, d: Digest) -> None:
    with pytest.raises(InvalidDigestError):
        ArchiveStore(fixtures_dir / "app.tar").blob_info(d)


# hostile archives: a valid layout whose "app" blob is (also) offered in a dangerous way


def file_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def link_member(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, b""


def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)


def read_tar(path: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(path) as tf:
        return [(m, tf.extractfile(m).read() if m.isreg() else b"") for m in tf.getmembers()]


def base_members(tag_data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    d = Digest.of(tag_data)
    entry = {
        "mediaType": mt.OCI_MANIFEST,
        "digest": str(d),
        "size": len(tag_data),
        "annotations": {mt.REF_NAME_ANNOTATION: "app"},
    }
    return [
        file_member("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
        file_member("index.json", json.dumps({"schemaVersion": 2, "manifests": [entry]}).encode()),
    ]


def test_absolute_member_is_ignored_and_not_written(tmp_path: Path) -> None:
    data = small_manifest(1)
    outside = tmp_path / "outside" / "blobs" / "sha256" / Digest.of(data).hex
    make_tar(tmp_path / "x.tar", base_members(data) + [file_member(str(outside), data)])
    store = ArchiveStore(tmp_path / "x.tar")
    with pytest.raises(NotFoundError):
        store.get_manifest("app")
    assert not (tmp_path / "outside").exists()


@pytest.mark.parametrize("prefix", ["blobs/sha256/../../../escaped/", "other/../", "./blobs/../"])
def test_dotdot_member_is_ignored_and_not_written(tmp_path: Path, prefix: str) -> None:
    data = small_manifest(1)
    (tmp_path / "sub").mkdir()
    name = f"{prefix}blobs/sha256/{Digest.of(data).hex}"
    make_tar(tmp_path / "sub" / "x.tar", base_members(data) + [file_member(name, data)])
    with pytest.raises(NotFoundError):
        ArchiveStore(tmp_path / "sub" / "x.tar").get_manifest("app")
    assert not (tmp_path / "escaped").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE], ids=["symlink", "hardlink"])
def test_link_member_at_a_blob_path_is_never_followed(tmp_path: Path, kind: bytes) -> None:
    data = small_manifest(1)
    secret = tmp_path / "secret"
    secret.write_bytes(data)  # would even verify, if the link were followed
    name = f"blobs/sha256/{Digest.of(data).hex}"
    target = str(secret) if kind == tarfile.SYMTYPE else "oci-layout"
    make_tar(tmp_path / "x.tar", base_members(data) + [link_member(name, target, kind)])
    store = ArchiveStore(tmp_path / "x.tar")
    with pytest.raises(IntegrityError, match="link"):
        store.get_manifest("app")


def test_link_member_shadowing_a_regular_blob_wins(tmp_path: Path) -> None:
    data = small_manifest(1)
    name = f"blobs/sha256/{Digest.of(data).hex}"
    make_tar(tmp_path / "x.tar", base_members(data) + [file_member(name, data), link_member(name, "/etc/passwd")])
    with pytest.raises(IntegrityError):
        ArchiveStore(tmp_path / "x.tar").blob_info(Digest.of(data))


def test_symlinked_index_json_is_refused(tmp_path: Path) -> None:
    members = [file_member("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), link_member("index.json", "/etc/passwd")]
    make_tar(tmp_path / "x.tar", members)
    with pytest.raises(IntegrityError):
        ArchiveStore(tmp_path / "x.tar").tags()


# --- oci-archive: writing -----------------------------------------------------------


@pytest.fixture
def archive_copy(tmp_path: Path, fixtures_dir: Path) -> Path:
    dst = tmp_path / "work" / "app.tar"
    dst.parent.mkdir()
    shutil.copy(fixtures_dir / "app.tar", dst)
    return dst


def test_archive_write_round_trip(archive_copy: Path) -> None:
    store = ArchiveStore(archive_copy)
    layer = b"layer bytes"
    store.put_blob(Digest.of(layer), len(layer), [layer])
    d = store.put_manifest(small_manifest(5), mt.OCI_MANIFEST, tag="extra")
    store.close()
    again = ArchiveStore(archive_copy)
    assert again.tags() == ARCHIVE_TAGS + ["extra"] and again.get_manifest("extra").digest == d
    assert again.get_blob(Digest.of(layer)) == layer


def test_archive_write_keeps_the_old_content(archive_copy: Path, fixtures_dir: Path) -> None:
    with ArchiveStore(archive_copy) as store:
        store.put_manifest(small_manifest(5), mt.OCI_MANIFEST, tag="extra")
    layout = LayoutStore(fixtures_dir / "layout")
    again = ArchiveStore(archive_copy)
    for tag in ARCHIVE_TAGS:
        doc = json.loads(again.get_manifest(tag).data)
        for desc in doc.get("manifests", []) + doc.get("layers", []) + [doc.get("config", {})]:
            if desc:
                assert b"".join(again.open_blob(Digest.parse(desc["digest"]))) == b"".join(
                    layout.open_blob(Digest.parse(desc["digest"]))
                )


def test_archive_write_leaves_no_staging_behind(archive_copy: Path) -> None:
    with ArchiveStore(archive_copy) as store:
        store.put_manifest(small_manifest(5), mt.OCI_MANIFEST, tag="extra")
    assert sorted(p.name for p in archive_copy.parent.iterdir()) == ["app.tar"]


def test_archive_written_has_only_regular_sorted_members(archive_copy: Path) -> None:
    with ArchiveStore(archive_copy) as store:
        store.put_manifest(small_manifest(5), mt.OCI_MANIFEST, tag="extra")
    members = [m for m, _ in read_tar(archive_copy)]
    names = [m.name for m in members]
    assert names == sorted(names) and all(m.isreg() or m.isdir() for m in members)
    assert {"oci-layout", "index.json"} <= set(names)


def test_archive_close_without_changes_writes_nothing(archive_copy: Path) -> None:
    before = archive_copy.stat()
    store = ArchiveStore(archive_copy)
    store.get_manifest("app")
    store.put_manifest(store.get_manifest("app-amd64").data, mt.OCI_MANIFEST)  # already present
    store.close()
    after = archive_copy.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_archive_not_written_when_the_with_block_fails(archive_copy: Path) -> None:
    before = archive_copy.read_bytes()
    with pytest.raises(RuntimeError):
        with ArchiveStore(archive_copy) as store:
            store.put_manifest(small_manifest(5), mt.OCI_MANIFEST, tag="extra")
            raise RuntimeError("boom")
    assert archive_copy.read_bytes() == before
    assert sorted(p.name for p in archive_copy.parent.iterdir()) == ["app.tar"]


def test_archive_created_from_nothing(tmp_path: Path) -> None:
    path = tmp_path / "new.tar"
    with ArchiveStore(path, create=True) as store:
        d = store.put_manifest(small_manifest(1), mt.OCI_MANIFEST, tag="v1")
    assert ArchiveStore(path).get_manifest("v1").digest == d


def test_archive_create_without_writes_makes_no_file(tmp_path: Path) -> None:
    ArchiveStore(tmp_path / "new.tar", create=True).close()
    assert not (tmp_path / "new.tar").exists()


def test_archive_writes_are_deterministic(tmp_path: Path) -> None:
    outputs = []
    for name in ("a.tar", "b.tar"):
        with ArchiveStore(tmp_path / name, create=True) as store:
            store.put_manifest(small_manifest(1), mt.OCI_MANIFEST, tag="v1")
            store.put_blob(Digest.of(b"x"), 1, [b"x"])
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]


def test_archive_mount_from_a_layout_lands_in_the_archive(archive_copy: Path, writable: Path) -> None:
    d = tag_digest(writable, "docker-list")
    with ArchiveStore(archive_copy) as store:
        assert store.mount_blob(d, LayoutStore(writable)) is True
    assert ArchiveStore(archive_copy).blob_info(d) is not None
