"""Hostile input: every bad argument, document, archive and registry reply is refused cleanly.

Each case runs the real CLI in-process and must end with exit 2–6, one ``error:`` line
(optionally followed by one indented hint line), no traceback, and, for a write command,
nothing written: the working directory (every layout a test uses lives in it) is
unchanged, and the registry saw no write. Property-style cases use stdlib ``random``
with fixed seeds.

No case may reach the network: names other than loopback do not resolve here, and the
registry replies come from pytest-httpx.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import shutil
import socket
import tarfile
from pathlib import Path

import httpx
import pytest

from helpers import run
import manifold.store.registry as registry_module
from manifold import mediatypes as mt
from manifold.__main__ import main
from manifold.models import parse_document

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "layout"
OI, OM, DM = mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST
AMD64 = "sha256:f1c3b2c5abdd0b5ff577cd1b456ddd8e49ac867a0008ab79a6188fbb0f16d316"
DEEP = 100_000  # far beyond what json can nest (the interpreter's recursion limit)
USAGE_HINT = re.compile(r"\(see 'manifold( \w+)? --help'\)")  # a usage error's second line (docs/cli.md)


# --- the harness ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def sandbox(monkeypatch, tmp_path):
    """cwd is tmp_path; no credentials, no outside network, millisecond backoff."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / ".docker"))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / ".no-auth.json"))
    monkeypatch.delenv("MANIFOLD_INSECURE_REGISTRIES", raising=False)
    monkeypatch.setattr(registry_module, "_BACKOFF_BASE", 0.001)
    real = socket.getaddrinfo

    def loopback_only(host, *args, **kw):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise socket.gaierror(socket.EAI_NONAME, f"{host}: no outside network in these tests")
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)


@pytest.fixture
def fx(tmp_path) -> str:
    """A writable copy of the fixture layout, as ``oci:PATH``."""
    shutil.copytree(FIXTURE, tmp_path / "fx")
    return f"oci:{tmp_path / 'fx'}"




def assert_refused(code: int, err: str, expected: int | tuple[int, ...] = (2, 3, 4, 5, 6)) -> None:
    """Exit code in ``expected``; one ``error:`` line and at most one indented hint; no traceback."""
    wanted = (expected,) if isinstance(expected, int) else expected
    assert code in wanted, f"exit {code}: {err}"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert err.startswith("error: ") and "Traceback" not in err, err
    assert len(lines) <= 2 and all(ln[:1].isspace() or USAGE_HINT.fullmatch(ln) for ln in lines[1:]), err
    assert "\x1b" not in err


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with the content of regular files (pytest's own files aside)."""
    out: dict[str, bytes | None] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            full = Path(folder, name)
            rel = str(full.relative_to(root))
            out[rel] = full.read_bytes() if full.is_file() and not full.is_symlink() else None
    return out


def refused_and_unwritten(capsys, tmp_path: Path, expected, *args: str) -> str:
    before = snapshot(tmp_path)
    code, out, err = run(capsys, *args)
    assert_refused(code, err, expected)
    assert snapshot(tmp_path) == before, "a refused command wrote something"
    assert out == ""
    return err


def write_layout(root: Path, docs: dict[str, tuple[bytes, str]], extra: tuple[dict, ...] = ()) -> str:
    """A layout holding ``docs`` (tag -> raw bytes, descriptor media type) written by hand."""
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    entries = list(extra)
    for tag, (data, media_type) in docs.items():
        digest = hashlib.sha256(data).hexdigest()
        (root / "blobs" / "sha256" / digest).write_bytes(data)
        entry = {"digest": f"sha256:{digest}", "size": len(data), "annotations": {mt.REF_NAME_ANNOTATION: tag}}
        entries.append({"mediaType": media_type, **entry} if media_type else entry)
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": OI, "manifests": entries}))
    return f"oci:{root}"


def doc(**fields) -> bytes:
    return json.dumps({"schemaVersion": 2, **fields}).encode()


# --- references -------------------------------------------------------------------------------

INVALID_REFERENCES = [
    "", " ", "team/CASE:tag", "a" * 300, "node:tag@sha256:short", "oci:", "oci-archive:", "node:-bad",
    "node@sha256:" + "g" * 64, "node@sha256:" + "A" * 64, "node@md5:d41d8cd98f00b204e9800998ecf8427e",
    "\x00", "http://registry.test/x", "node:20\n", "node::20", "node:" + "t" * 200, "[::1/x:1", "héllo:1",
    "node@", "@sha256:" + "a" * 64, ":tag", "x//y", "x:y:z", "oci:\x00", "oci:fx@sha256:..",
    "oci:fx@sha256:" + "a" * 63, "oci:fx:tag@sha256:zz", "registry.test/" + "a/" * 200 + "b",
]  # fmt: skip
READERS = [
    ["resolve", "{ref}", "-p", "linux/amd64"],
    ["inspect", "{ref}"],
    ["platforms", "{ref}"],
    ["check", "{ref}", "-p", "amd64"],
    ["verify", "{ref}"],
]


@pytest.mark.parametrize("ref", INVALID_REFERENCES, ids=repr)
@pytest.mark.parametrize("command", READERS, ids=lambda c: c[0])
def test_an_invalid_reference_is_exit_2(capsys, fx, ref, command):
    code, _out, err = run(capsys, *[a.replace("{ref}", ref) for a in command])
    assert_refused(code, err, 2)


@pytest.mark.parametrize("ref", INVALID_REFERENCES, ids=repr)
def test_an_invalid_create_target_writes_nothing(capsys, fx, tmp_path, ref):
    refused_and_unwritten(capsys, tmp_path, 2, "create", ref, f"{fx}:app-amd64")


@pytest.mark.parametrize("ref", INVALID_REFERENCES, ids=repr)
def test_an_invalid_create_source_writes_nothing(capsys, fx, tmp_path, ref):
    refused_and_unwritten(capsys, tmp_path, 2, "create", f"oci:{tmp_path / 'out'}:v1", f"{fx}:app-amd64", ref)


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("oci:{tmp}/absent:app", 3),
        ("oci:{tmp}/fx:no-such-tag", 3),
        ("oci:{tmp}/fx@sha256:" + "0" * 64, 3),
        ("oci-archive:{tmp}/absent.tar:app", 3),
        ("oci-archive:/etc/passwd:app", 5),
        ("oci-archive:{tmp}/fx:app", 2),  # a directory given as an archive
        ("oci:/etc/passwd:app", 3),
        ("registry.test/team/app:v1", 5),  # does not resolve (no outside network here)
    ],
)
def test_a_reference_to_nothing_usable_is_refused(capsys, fx, tmp_path, ref, expected):
    ref = ref.replace("{tmp}", str(tmp_path))
    for command in READERS:
        code, _out, err = run(capsys, *[a.replace("{ref}", ref) for a in command])
        assert_refused(code, err, expected)
    refused_and_unwritten(capsys, tmp_path, expected, "create", f"oci:{tmp_path / 'out'}:v1", ref)


def test_a_digest_is_no_create_target(capsys, fx, tmp_path):
    err = refused_and_unwritten(capsys, tmp_path, 2, "create", f"{fx}@{AMD64}", f"{fx}:app-amd64")
    assert "must be a tag" in err


@pytest.mark.parametrize("seed", range(4))
def test_random_reference_noise_is_refused_cleanly(capsys, fx, tmp_path, seed):
    """Mutations of valid references (fixed seeds): a clean answer or a clean refusal, never a crash."""
    rng = random.Random(seed)
    alphabet = "abcAZ09:/@._-+ \t\n\x00%é[]"
    bases = [f"{fx}:app", "registry.test/team/app:v1", f"{fx}@{AMD64}", "127.0.0.1:1/x:y"]
    for _ in range(40):
        text = list(rng.choice(bases))
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(text) + 1)
            op = rng.choice(("insert", "delete", "replace"))
            if op == "insert":
                text.insert(i, rng.choice(alphabet))
            elif text and i < len(text):
                if op == "delete":
                    del text[i]
                else:
                    text[i] = rng.choice(alphabet)
        ref = "".join(text)
        code, _out, err = run(capsys, "resolve", ref, "-p", "linux/amd64")
        if code != 0:
            assert_refused(code, err)


# --- platforms, annotations, SOURCE=PLATFORM and other create options ----------------------------

INVALID_PLATFORMS = ["linux/", "/amd64", "linux/arm/v7/extra", "linux//amd64", "linux(/amd64", "\x00", "os/arch/var/x/y", "a" * 1000]


@pytest.mark.parametrize("platform", ["", " ", "linux/amd64\n", *INVALID_PLATFORMS], ids=repr)
@pytest.mark.parametrize(
    "command",
    [
        ["resolve", "{fx}:app", "-p", "{p}"],
        ["check", "{fx}:app", "-p", "{p}"],
        ["inspect", "{fx}:app", "-p", "{p}"],
        ["create", "oci:out:v1", "{fx}:app-amd64", "-p", "{p}"],
        ["create", "oci:out:v1", "{fx}:app-amd64={p}"],
    ],
    ids=["resolve", "check", "inspect", "create-keep", "create-override"],
)
def test_an_invalid_platform_is_exit_2(capsys, fx, tmp_path, platform, command):
    refused_and_unwritten(capsys, tmp_path, 2, *[a.replace("{fx}", fx).replace("{p}", platform) for a in command])


@pytest.mark.parametrize("platform", INVALID_PLATFORMS, ids=repr)
@pytest.mark.parametrize("command", [["matrix", "{fx}:app", "-p", "{p}"], ["verify", "{fx}:app", "--require", "{p}"]], ids=["matrix", "verify"])
def test_an_invalid_required_platform_is_exit_2(capsys, fx, platform, command):
    code, _out, err = run(capsys, *[a.replace("{fx}", fx).replace("{p}", platform) for a in command])
    assert_refused(code, err, 2)


INVALID_ANNOTATIONS = [
    "=v", "novalue", "index:=v", "index:k", "unknowntype:k=v", "manifest:k=v", "index,manifest:k=v",
    "manifest-descriptor[bad platform]:k=v", "manifest-descriptor[linux/amd64:k=v", "manifest-descriptor[]:k=v",
]  # fmt: skip


@pytest.mark.parametrize("annotation", INVALID_ANNOTATIONS, ids=repr)
def test_an_invalid_annotation_writes_nothing(capsys, fx, tmp_path, annotation):
    err = refused_and_unwritten(capsys, tmp_path, 2, "create", "oci:out:v1", f"{fx}:app-amd64", "--annotation", annotation)
    assert "annotation" in err


@pytest.mark.parametrize(
    "sources, expected",
    [
        (["{fx}:app-amd64="], 2),
        (["=linux/amd64"], 2),
        (["{fx}:app-amd64=linux/"], 2),
        (["="], 2),
        (["{fx}:app-amd64==linux/amd64"], 2),
        (["sha256:abc"], 2),
        (["{fx}:app-amd64", "{fx}:app-arm64=linux/amd64"], 2),  # two sources for one platform
        (["{fx}:app-amd64", "{fx}:docker-amd64"], 2),
        (["{fx}:app-arm64", "{fx}:app-armv7=linux/arm64/v8"], 2),
        (["riscv64"], 3),  # a platform word whose image (out:v1-riscv64) does not exist
        (["{fx}:app-amd64", "{fx}:no-such-tag"], 3),
    ],
)
def test_bad_sources_write_nothing(capsys, fx, tmp_path, sources, expected):
    refused_and_unwritten(capsys, tmp_path, expected, "create", "oci:out:v1", *[s.replace("{fx}", fx) for s in sources])


@pytest.mark.parametrize(
    "options",
    [
        ["--media-type", "evil"],
        ["--tag", "../escape"],
        ["--tag", ""],
        ["--tag", "a" * 200],
        ["--source-template", "{tag"],
        ["--source-template", "{nope}"],
        ["--source-template", "{0}"],
        ["--metadata-file", "{tmp}/no/such/dir/md.json"],
        ["--metadata-file", "{tmp}"],
        ["--bogus-flag"],
    ],
    ids=repr,
)
def test_bad_create_options_write_nothing(capsys, fx, tmp_path, options):
    args = [o.replace("{tmp}", str(tmp_path)) for o in options]
    source = "amd64" if "--source-template" in options else f"{fx}:app-amd64"
    refused_and_unwritten(capsys, tmp_path, 2, "create", f"oci:{tmp_path / 'out'}:v1", source, *args)


def test_a_target_directory_that_is_not_a_layout_is_left_alone(capsys, fx, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    err = refused_and_unwritten(capsys, tmp_path, 2, "create", f"oci:{tmp_path / 'notes'}:v1", f"{fx}:app-amd64")
    assert "not an OCI image layout" in err


# --- documents: manifests and indexes written by hand into a layout ------------------------------

DESC = {"mediaType": OM, "digest": "sha256:" + "a" * 64, "size": 12, "platform": {"os": "linux", "architecture": "amd64"}}
DOCUMENTS = {
    "not-json": (b"\xff\xfe garbage", OI),
    "empty": (b"", OI),
    "array": (b"[1, 2, 3]", OI),
    "deep-array": (b"[" * DEEP + b"]" * DEEP, OI),
    "deep-object": (b'{"a":' * DEEP + b"1" + b"}" * DEEP, OI),
    "deep-undeclared": (b"[" * DEEP + b"]" * DEEP, ""),  # no media type anywhere: detected from the bytes
    "schema-as-string": (doc(mediaType=OI, manifests=[]).replace(b"2", b'"2"', 1), OI),
    "schema-1": (json.dumps({"schemaVersion": 1, "mediaType": mt.DOCKER_SCHEMA1, "fsLayers": []}).encode(), mt.DOCKER_SCHEMA1),
    "manifests-not-a-list": (doc(mediaType=OI, manifests="x"), OI),
    "entry-not-an-object": (doc(mediaType=OI, manifests=[None, 1, "x"]), OI),
    "size-as-string": (doc(mediaType=OI, manifests=[{**DESC, "size": "12"}]), OI),
    "size-negative": (doc(mediaType=OI, manifests=[{**DESC, "size": -1}]), OI),
    "size-infinite": (doc(mediaType=OI, manifests=[DESC]).replace(b"12", b"1e400"), OI),
    "size-nan": (doc(mediaType=OI, manifests=[DESC]).replace(b"12", b"NaN"), OI),
    "size-bool": (doc(mediaType=OI, manifests=[{**DESC, "size": True}]), OI),
    "digest-as-number": (doc(mediaType=OI, manifests=[{**DESC, "digest": 123}]), OI),
    "digest-dotdot": (doc(mediaType=OI, manifests=[{**DESC, "digest": "sha256:../../../../etc/passwd"}]), OI),
    "digest-absolute": (doc(mediaType=OI, manifests=[{**DESC, "digest": "/etc/passwd"}]), OI),
    "digest-uppercase": (doc(mediaType=OI, manifests=[{**DESC, "digest": "sha256:" + "A" * 64}]), OI),
    "platform-as-string": (doc(mediaType=OI, manifests=[{**DESC, "platform": "linux/amd64"}]), OI),
    "platform-nested": (doc(mediaType=OI, manifests=[{**DESC, "platform": {"os": "linux", "architecture": {"x": [1]}}}]), OI),
    "annotations-not-strings": (doc(mediaType=OI, manifests=[], annotations={"a": 1}), OI),
    "media-type-not-a-string": (doc(mediaType=["x"], manifests=[]), OI),
    "unknown-media-type": (doc(mediaType="application/vnd.evil+json", layers=[]), "application/vnd.evil+json"),
    "index-with-config": (doc(mediaType=OI, manifests=[], config=DESC), OI),
    "manifest-with-manifests": (doc(mediaType=OM, config=DESC, layers=[], manifests=[]), OM),
    "manifest-without-config": (doc(mediaType=OM, layers=[]), OM),
    "declared-type-disagrees": (doc(mediaType=OM, config=DESC, layers=[]), OI),
    "too-large": (doc(mediaType=OI, manifests=[], pad="x" * mt.MAX_MANIFEST_SIZE), OI),
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> str:
    """Written once (several documents are megabytes): tests only read it."""
    return write_layout(tmp_path_factory.mktemp("hostile") / "layout", DOCUMENTS)


@pytest.mark.parametrize("tag", DOCUMENTS)
@pytest.mark.parametrize("command", READERS, ids=lambda c: c[0])
def test_a_hostile_document_is_refused_with_exit_5(capsys, hostile, tag, command):
    code, _out, err = run(capsys, *[a.replace("{ref}", f"{hostile}:{tag}") for a in command])
    assert_refused(code, err, 5)


@pytest.mark.parametrize("tag", DOCUMENTS)
def test_a_hostile_source_document_writes_nothing(capsys, hostile, tmp_path, tag):
    refused_and_unwritten(capsys, tmp_path, 5, "create", f"oci:{tmp_path / 'out'}:v1", f"{hostile}:{tag}")


def test_a_hostile_document_as_the_index_to_amend_writes_nothing(capsys, fx, hostile, tmp_path):
    root = Path(hostile.split(":", 1)[1])
    before = snapshot(root)
    for tag in ("deep-array", "entry-not-an-object", "unknown-media-type", "too-large"):
        refused_and_unwritten(capsys, tmp_path, 5, "create", f"{hostile}:{tag}", "--amend", f"{fx}:app-amd64")
    assert snapshot(root) == before


def test_a_blob_that_does_not_match_its_digest_is_refused(capsys, fx, tmp_path):
    blob = tmp_path / "fx" / "blobs" / "sha256" / AMD64.split(":")[1]
    data = blob.read_bytes()
    blob.write_bytes(data.replace(b"sha256:5", b"sha256:6", 1))  # same size, other bytes
    assert blob.read_bytes() != data
    for command in READERS[1:4]:
        code, _out, err = run(capsys, *[a.replace("{ref}", f"{fx}:app-amd64") for a in command])
        assert_refused(code, err, 5)
        assert "digest mismatch" in err
    refused_and_unwritten(capsys, tmp_path, 5, "create", f"oci:{tmp_path / 'out'}:v1", f"{fx}:app-amd64")


def test_an_index_whose_child_is_missing_is_never_tagged(capsys, tmp_path):
    """Found only while copying (no child is fetched before): the copy fails and no tag is written."""
    child = {**DESC, "digest": "sha256:" + "b" * 64}
    src = write_layout(tmp_path / "src", {"dangling": (doc(mediaType=OI, manifests=[child]), OI)})
    code, out, err = run(capsys, "create", f"oci:{tmp_path / 'out'}:v1", f"{src}:dangling")
    assert_refused(code, err, 3)
    assert "sha256:" + "b" * 64 in err and json.loads((tmp_path / "out" / "index.json").read_bytes())["manifests"] == []


UNREADABLE_INDEX_JSON = {
    "not-json": b"{not json",
    "deep": b"[" * DEEP + b"]" * DEEP,
    "manifests-not-a-list": b'{"schemaVersion": 2, "manifests": "x"}',
    "not-utf8": b"\xff\xfe{}",
}


@pytest.mark.parametrize("name", UNREADABLE_INDEX_JSON)
def test_an_unreadable_index_json_is_refused_for_reading_and_writing(capsys, fx, tmp_path, name):
    root = tmp_path / "broken"
    write_layout(root, {})
    (root / "index.json").write_bytes(UNREADABLE_INDEX_JSON[name])
    for command in READERS:
        code, _out, err = run(capsys, *[a.replace("{ref}", f"oci:{root}:v1") for a in command])
        assert_refused(code, err, 5)
    refused_and_unwritten(capsys, tmp_path, 5, "create", f"oci:{root}:v2", f"{fx}:app-amd64")


@pytest.mark.parametrize("digest", ["sha256:../../../etc/passwd", "/etc/passwd", "sha256:" + "A" * 64, 42], ids=repr)
def test_an_index_json_entry_with_a_hostile_digest_is_refused_and_never_a_path(capsys, fx, tmp_path, digest):
    root = tmp_path / "broken"
    entry = {"mediaType": OM, "digest": digest, "size": 1, "annotations": {mt.REF_NAME_ANNOTATION: "v1"}}
    write_layout(root, {}, extra=(entry,))
    for command in READERS:
        code, _out, err = run(capsys, *[a.replace("{ref}", f"oci:{root}:v1") for a in command])
        assert_refused(code, err, 5)
        assert "invalid digest" in err
    # another tag can still be written; the entry it does not understand is kept as it was
    code, _out, err = run(capsys, "create", f"oci:{root}:v2", f"{fx}:app-amd64")
    assert code == 0, err
    assert json.loads((root / "index.json").read_bytes())["manifests"][0] == entry
    assert sorted(os.listdir(tmp_path)) == ["broken", "fx"]


def test_hostile_tag_names_in_index_json_are_never_paths_nor_extra_lines(capsys, fx, tmp_path):
    names = ["../../escape", "/etc/passwd", "a\nerror: forged", "\x1b[31mred"]
    root = tmp_path / "named"
    manifest = (FIXTURE / "blobs" / "sha256" / AMD64.split(":")[1]).read_bytes()
    entries = tuple({"mediaType": OM, "digest": AMD64, "size": len(manifest), "annotations": {mt.REF_NAME_ANNOTATION: n}} for n in names)
    write_layout(root, {"v1": (manifest, OM)}, extra=entries)
    shutil.copytree(FIXTURE / "blobs" / "sha256", root / "blobs" / "sha256", dirs_exist_ok=True)
    code, _out, err = run(capsys, "inspect", f"oci:{root}:missing")
    assert_refused(code, err, 3)
    assert "tags:" in err and "escape" in err  # the hint lists them, on its one line
    code, _out, err = run(capsys, "create", f"oci:{root}:v2", "--amend", f"{fx}:app-arm64")
    assert code == 0, err
    assert [e["annotations"][mt.REF_NAME_ANNOTATION] for e in json.loads((root / "index.json").read_bytes())["manifests"]] == [*names, "v1", "v2"]
    assert sorted(os.listdir(tmp_path)) == ["fx", "named"] and not Path("/escape").exists()


@pytest.mark.parametrize(
    "header, expected",
    [(b'{"imageLayoutVersion": "2.0.0"}', 5), (b"not json", 5), (b"[" * DEEP, 5), (b"[]", 5)],
    ids=["version", "not-json", "deep", "array"],
)
def test_a_hostile_oci_layout_file_is_refused(capsys, fx, tmp_path, header, expected):
    (tmp_path / "fx" / "oci-layout").write_bytes(header)
    code, _out, err = run(capsys, "resolve", f"{fx}:app", "-p", "amd64")
    assert_refused(code, err, expected)
    refused_and_unwritten(capsys, tmp_path, expected, "create", f"{fx}:v2", f"oci:{FIXTURE}:app-amd64")


def test_a_blob_path_that_is_a_directory_or_a_link_is_refused(capsys, fx, tmp_path):
    blobs = tmp_path / "fx" / "blobs" / "sha256"
    (blobs / AMD64.split(":")[1]).unlink()
    (blobs / AMD64.split(":")[1]).mkdir()
    code, _out, err = run(capsys, "inspect", f"{fx}:app-amd64")
    assert_refused(code, err, 5)
    (blobs / AMD64.split(":")[1]).rmdir()
    (blobs / AMD64.split(":")[1]).symlink_to("/etc/passwd")
    code, _out, err = run(capsys, "inspect", f"{fx}:app-amd64")
    assert_refused(code, err, 5)
    assert "root:" not in err  # the content behind the link is never shown


# --- oci-archive: absolute paths, .., links ------------------------------------------------------


def archive(path: Path, members: list[tuple[str, bytes | None, bytes]]) -> str:
    """A tar of (name, content or None, type) members: type tarfile.REGTYPE, SYMTYPE (content = target) …"""
    with tarfile.open(path, "w") as tar:
        for name, content, kind in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.REGTYPE:
                info.size = len(content or b"")
                tar.addfile(info, io.BytesIO(content or b""))
            else:
                info.linkname = (content or b"").decode()
                tar.addfile(info)
    return f"oci-archive:{path}"


def fixture_members() -> list[tuple[str, bytes, bytes]]:
    out = [("oci-layout", (FIXTURE / "oci-layout").read_bytes(), tarfile.REGTYPE), ("index.json", (FIXTURE / "index.json").read_bytes(), tarfile.REGTYPE)]
    for blob in sorted((FIXTURE / "blobs" / "sha256").iterdir()):
        out.append((f"blobs/sha256/{blob.name}", blob.read_bytes(), tarfile.REGTYPE))
    return out


def replace_member(members, name: str, *new) -> list:
    return [m for m in members if m[0] != name] + [new]


AMD64_BLOB = f"blobs/sha256/{AMD64.split(':')[1]}"
ARCHIVES = {
    "index-json-symlink": lambda m: replace_member(m, "index.json", "index.json", b"/etc/passwd", tarfile.SYMTYPE),
    "index-json-hardlink": lambda m: replace_member(m, "index.json", "index.json", b"oci-layout", tarfile.LNKTYPE),
    "blob-symlink-out": lambda m: replace_member(m, AMD64_BLOB, AMD64_BLOB, b"/etc/passwd", tarfile.SYMTYPE),
    "blob-symlink-dotdot": lambda m: replace_member(m, AMD64_BLOB, AMD64_BLOB, b"../../../../etc/passwd", tarfile.SYMTYPE),
    "blob-hardlink": lambda m: replace_member(m, AMD64_BLOB, AMD64_BLOB, b"index.json", tarfile.LNKTYPE),
    "blob-device": lambda m: replace_member(m, AMD64_BLOB, AMD64_BLOB, None, tarfile.CHRTYPE),
    "blob-fifo": lambda m: replace_member(m, AMD64_BLOB, AMD64_BLOB, None, tarfile.FIFOTYPE),
    "layout-only-absolute": lambda m: replace_member(m, "oci-layout", "/oci-layout", m[0][1], tarfile.REGTYPE),
    "layout-only-dotdot": lambda m: replace_member(m, "oci-layout", "../oci-layout", m[0][1], tarfile.REGTYPE),
    "index-only-absolute": lambda m: replace_member(m, "index.json", "/index.json", m[1][1], tarfile.REGTYPE),
    "blob-only-dotdot": lambda m: replace_member(m, AMD64_BLOB, f"x/../../{AMD64_BLOB}", b"{}", tarfile.REGTYPE),
}


@pytest.mark.parametrize("name", ARCHIVES)
def test_a_hostile_archive_is_refused_and_nothing_is_extracted(capsys, tmp_path, name):
    ref = archive(tmp_path / "evil.tar", ARCHIVES[name](fixture_members()))
    for command in READERS[:4]:
        code, _out, err = run(capsys, *[a.replace("{ref}", f"{ref}:app-amd64") for a in command])
        assert_refused(code, err, (3, 5))
    refused_and_unwritten(capsys, tmp_path, (3, 5), "create", f"oci:{tmp_path / 'out'}:v1", f"{ref}:app-amd64")
    for escaped in (tmp_path.parent / "oci-layout", tmp_path.parent / "index.json", Path("/oci-layout"), Path("/index.json")):
        assert not escaped.exists()


@pytest.mark.parametrize(
    "content",
    [b"", b"not a tar at all", b"\x1f\x8b\x08\x00garbage", (FIXTURE.parent / "app.tar").read_bytes()[:5000]],
    ids=["empty", "text", "bad-gzip", "truncated"],
)
def test_an_unreadable_archive_is_one_error_line(capsys, tmp_path, content):
    (tmp_path / "bad.tar").write_bytes(content)
    code, _out, err = run(capsys, "inspect", f"oci-archive:{tmp_path / 'bad.tar'}:app")
    assert_refused(code, err, (3, 5))


def test_an_archive_target_drops_unsafe_members_and_writes_inside_only(capsys, fx, tmp_path):
    members = fixture_members() + [
        ("/abs-escape.txt", b"x", tarfile.REGTYPE), ("../dotdot-escape.txt", b"x", tarfile.REGTYPE),
        ("link-out", b"/etc/passwd", tarfile.SYMTYPE),
    ]  # fmt: skip
    ref = archive(tmp_path / "target.tar", members)
    code, _out, err = run(capsys, "create", f"{ref}:v1", f"{fx}:app-amd64")
    assert code == 0, err
    with tarfile.open(tmp_path / "target.tar") as tar:
        names = tar.getnames()
        assert all(m.isreg() or m.isdir() for m in tar.getmembers())
    assert not any(n.startswith(("/", "..")) or "escape" in n or n == "link-out" for n in names)
    assert not (tmp_path.parent / "dotdot-escape.txt").exists() and not Path("/abs-escape.txt").exists()


# --- registry replies (pytest-httpx) --------------------------------------------------------------

REG = "https://registry.test/v2/team/app"
REF = "registry.test/team/app:v1"
MANIFEST = (FIXTURE / "blobs" / "sha256" / AMD64.split(":")[1]).read_bytes()
CONFIG_DIGEST = json.loads(MANIFEST)["config"]["digest"]
GOOD = {"Content-Type": OM, "Docker-Content-Digest": AMD64}


def reply(status: int = 200, content: bytes = b"", **headers: str) -> httpx.Response:
    return httpx.Response(status, content=content, headers={k.replace("_", "-"): v for k, v in headers.items()})


def challenge(value: str) -> httpx.Response:
    return httpx.Response(401, headers={"WWW-Authenticate": value})


REPLIES = [
    pytest.param(lambda r: httpx.Response(401), 4, id="401-without-challenge"),
    pytest.param(lambda r: challenge('Bearer realm=""'), 4, id="bearer-empty-realm"),
    pytest.param(lambda r: challenge('Bearer realm="ftp://registry.test/token"'), 4, id="bearer-ftp-realm"),
    pytest.param(lambda r: challenge('Bearer realm="https://[::1"'), 4, id="bearer-unparsable-realm"),
    pytest.param(lambda r: challenge('Bearer realm="https://bad host/token"'), 4, id="bearer-realm-host-with-space"),
    pytest.param(lambda r: challenge("Basic realm="), 4, id="basic-garbage"),
    pytest.param(lambda r: challenge('Negotiate abc, Foo bar="baz'), 4, id="unknown-schemes"),
    pytest.param(lambda r: challenge("\x7f\x01" * 50), 4, id="binary-challenge"),
    pytest.param(lambda r: reply(307, Location=str(r.url)), 5, id="manifest-redirect-loop"),
    pytest.param(lambda r: reply(500, b"<html><body><h1>Oops</h1>\n<p>upstream\nfailed</p></body></html>", Content_Type="text/html"), 5, id="html-500"),
    pytest.param(lambda r: reply(500, json.dumps({"errors": [{"code": "X", "message": "line1\nerror: forged\x1b[31m red"}]}).encode()), 5, id="multiline-escape-error"),
    pytest.param(lambda r: reply(500, b'{"errors": ' + b"[" * DEEP + b"]" * DEEP + b"}"), 5, id="deep-error-body"),
    pytest.param(lambda r: reply(502, b"\xff\xfe\x00binary"), 5, id="binary-502"),
    pytest.param(lambda r: reply(404, b"nothing here\n"), 3, id="text-404"),
    pytest.param(lambda r: reply(200, b"<html>hello</html>", Content_Type="text/html"), 5, id="html-200"),
    pytest.param(lambda r: reply(200, b"[" * DEEP + b"]" * DEEP, Content_Type="application/json"), 5, id="deep-json-200"),
    pytest.param(lambda r: reply(200, b"[" * DEEP + b"]" * DEEP, Content_Type=OI), 5, id="deep-index-200"),
    pytest.param(lambda r: reply(200, MANIFEST, Content_Type=OM, Docker_Content_Digest="sha256:" + "0" * 64), 5, id="digest-header-mismatch"),
    pytest.param(lambda r: reply(200, b"{}", Content_Type=OM, Content_Length=str(64 << 20)), 5, id="content-length-over-cap"),
    pytest.param(lambda r: reply(200, doc(mediaType="application/vnd.evil+json"), Content_Type="application/vnd.evil+json"), 5, id="unknown-media-type"),
    pytest.param(lambda r: reply(429, b"", Retry_After="99999"), 5, id="429-retry-after-too-long"),
    pytest.param(lambda r: reply(429, b"", Retry_After="soon"), 5, id="429-retry-after-garbage"),
    pytest.param(lambda r: reply(503, b"", Retry_After="nan"), 5, id="503-retry-after-nan"),
]


@pytest.mark.httpx_mock(assert_all_responses_were_requested=False)
@pytest.mark.parametrize("answer, expected", REPLIES)
@pytest.mark.parametrize("command", [["inspect", REF], ["resolve", REF, "-p", "linux/amd64"], ["create", "oci:out:v1", REF]], ids=["inspect", "resolve", "create-from"])
def test_a_hostile_registry_reply_is_refused(capsys, httpx_mock, tmp_path, answer, expected, command):
    httpx_mock.add_callback(answer, url=f"{REG}/manifests/v1", is_reusable=True)
    if command[0] == "create":
        refused_and_unwritten(capsys, tmp_path, expected, *command)
    else:
        code, _out, err = run(capsys, *command)
        assert_refused(code, err, expected)


TOKEN_REPLIES = [
    pytest.param(lambda r: reply(500, b"down"), 5, id="500"),
    pytest.param(lambda r: reply(200, b"<html>login</html>", Content_Type="text/html"), 4, id="html"),
    pytest.param(lambda r: reply(200, b'{"token": 12}', Content_Type="application/json"), 4, id="token-not-a-string"),
    pytest.param(lambda r: reply(200, b"[" * DEEP + b"]" * DEEP, Content_Type="application/json"), 4, id="deep-json"),
    pytest.param(lambda r: reply(302, Location=str(r.url)), 4, id="redirect-loop"),
    pytest.param(lambda r: reply(200, b'{"token": "t", "expires_in": "forever", "issued_at": "yesterday"}'), 4, id="odd-fields-token-refused"),
]


@pytest.mark.httpx_mock(assert_all_responses_were_requested=False)
@pytest.mark.parametrize("answer, expected", TOKEN_REPLIES)
def test_a_hostile_token_server_on_another_host_is_refused(capsys, httpx_mock, answer, expected):
    realm = "https://auth.other.test/token"
    httpx_mock.add_callback(
        lambda r: challenge(f'Bearer realm="{realm}",service="registry.test",scope="repository:team/app:pull"'),
        url=f"{REG}/manifests/v1", is_reusable=True,
    )  # fmt: skip
    httpx_mock.add_callback(answer, url=httpx.URL(realm, params={"service": "registry.test", "scope": "repository:team/app:pull"}), is_reusable=True)
    code, _out, err = run(capsys, "inspect", REF)
    assert_refused(code, err, expected)


@pytest.mark.httpx_mock(assert_all_responses_were_requested=False)
def test_a_blob_redirect_loop_is_refused(capsys, httpx_mock):
    httpx_mock.add_response(url=f"{REG}/manifests/v1", content=MANIFEST, headers=GOOD, is_reusable=True)
    httpx_mock.add_callback(lambda r: reply(307, Location=str(r.url)), url=f"{REG}/blobs/{CONFIG_DIGEST}", is_reusable=True)
    code, _out, err = run(capsys, "platforms", REF)
    assert_refused(code, err, 5)
    assert "redirect" in err.lower()


UPLOAD_REPLIES = [
    pytest.param({"status_code": 202}, 5, id="no-location"),
    pytest.param({"status_code": 202, "headers": {"Location": "http://[bad"}}, 5, id="unparsable-location"),
    pytest.param({"status_code": 202, "headers": {"Location": "ftp://registry.test/upload"}}, 5, id="ftp-location"),
    pytest.param({"status_code": 200, "content": b"{}"}, 5, id="200-not-202"),
    pytest.param({"status_code": 201, "headers": {"Location": "/v2/team/app/blobs/x"}}, 5, id="201-without-mount"),
]


@pytest.mark.httpx_mock(assert_all_responses_were_requested=False)
@pytest.mark.parametrize("post, expected", UPLOAD_REPLIES)
def test_a_hostile_upload_session_is_refused(capsys, httpx_mock, fx, post, expected):
    httpx_mock.add_callback(lambda r: reply(404), method="HEAD", is_reusable=True)
    httpx_mock.add_exception(httpx.ConnectError("no such host"), url=re.compile(r"^http://"), is_reusable=True, is_optional=True)
    httpx_mock.add_exception(httpx.UnsupportedProtocol("unsupported protocol 'ftp://'"), url=re.compile(r"^ftp://"), is_reusable=True, is_optional=True)
    httpx_mock.add_response(method="POST", url=f"{REG}/blobs/uploads/", is_reusable=True, **post)
    code, _out, err = run(capsys, "create", REF, f"{fx}:app-amd64")
    assert_refused(code, err, expected)
    assert not [r for r in httpx_mock.get_requests() if r.method == "PUT" and "/manifests/" in r.url.path]


@pytest.mark.httpx_mock(assert_all_responses_were_requested=False)
def test_a_registry_that_stores_other_bytes_is_refused(capsys, httpx_mock, fx):
    for blob in parse_document(MANIFEST).blobs:  # the image's blobs are there already
        httpx_mock.add_response(method="HEAD", url=f"{REG}/blobs/{blob.digest}", headers={"Content-Length": str(blob.size)})
    httpx_mock.add_response(method="PUT", url=f"{REG}/manifests/{AMD64}", status_code=201, headers={"Docker-Content-Digest": AMD64})
    httpx_mock.add_response(method="PUT", url=f"{REG}/manifests/v1", status_code=201, headers={"Docker-Content-Digest": "sha256:" + "2" * 64})
    code, _out, err = run(capsys, "create", REF, f"{fx}:app-amd64")
    assert_refused(code, err, 5)
    assert "stored" in err


# --- matrix and pin: hostile lists and files ---------------------------------------------------


def test_matrix_of_hostile_references_stays_valid_json(capsys, fx, tmp_path):
    lines = ["", "# comment", "UPPER:x", "\x00", f"{fx}:no-such-tag", f"{fx}:app", "oci:", "node@sha256:" + "g" * 64]
    (tmp_path / "refs.txt").write_text("\n".join(lines) + "\n")
    code, out, err = run(capsys, "matrix", "--file", "refs.txt", "--format", "json")
    assert code == 1 and "Traceback" not in err
    rows = json.loads(out)
    assert [r["error"] is None for r in rows] == [False, False, False, True, False, False]


DOCKERFILES = {
    "binary": b"\x00\x01\x02FROM \xff\xfe\n\x00",
    "not-utf8": b"FROM caf\xe9:latest\nFROM \xc3\x28:1\n",
    "invalid-references": b"FROM UPPER/Case:1\nFROM node:-bad\nFROM a@sha256:zz\nFROM :tag\nFROM \n",
    "huge-line": b"FROM " + b"a" * 2_000_000 + b":1\n",
    "many-lines": b"RUN x \\\n" * 50_000 + b"FROM scratch\n",
    "crlf-and-bom": b"\xef\xbb\xbfFROM UPPER:1\r\nFROM scratch\r\n",
    "variables": b"ARG B=x\nFROM $B\nFROM ${B:-y}\nFROM --platform=$BUILDPLATFORM ${B}\n",
    "escape-directive": b"# escape=`\nFROM UPPER:1 `\n  AS x\n",
}


@pytest.mark.parametrize("name", DOCKERFILES)
@pytest.mark.parametrize("check", [False, True], ids=["pin", "check"])
def test_pin_never_rewrites_a_hostile_dockerfile(capsys, tmp_path, name, check):
    path = tmp_path / "Dockerfile"
    path.write_bytes(DOCKERFILES[name])
    code, out, err = run(capsys, "pin", *(["--check"] if check else []), "Dockerfile")
    assert code == 0 and "Traceback" not in err
    assert all(ln.startswith(("warning:", "nothing to pin")) for ln in err.splitlines() if ln.strip()), err
    assert path.read_bytes() == DOCKERFILES[name]


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"FROM 127.0.0.1:1/team/app:1\n", 5),  # nothing listens there
        (b"FROM registry.test/team/app:1\n", 5),  # does not resolve here
    ],
    ids=["unreachable", "unresolvable"],
)
def test_pin_that_cannot_look_up_writes_nothing(capsys, tmp_path, content, expected):
    (tmp_path / "Dockerfile").write_bytes(content)
    refused_and_unwritten(capsys, tmp_path, expected, "pin", "Dockerfile")


@pytest.mark.parametrize("target", ["missing/Dockerfile", "."], ids=["missing", "directory"])
def test_pin_of_something_that_is_not_a_file_is_exit_2(capsys, tmp_path, target):
    refused_and_unwritten(capsys, tmp_path, 2, "pin", target)
