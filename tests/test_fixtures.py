"""The committed fixtures are what ``scripts/make_fixtures.py`` writes, and they are sound."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from manifold import mediatypes as mt

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_fixtures.py"

UNKNOWN = "unknown/unknown"

#: tag -> (media type, platforms of its entries in order, as os/arch[/variant][@os.version]; None for an image)
TAGS = {
    "app-amd64": (mt.OCI_MANIFEST, None),
    "app-arm64": (mt.OCI_MANIFEST, None),
    "app-armv7": (mt.OCI_MANIFEST, None),
    "app-ppc64le": (mt.OCI_MANIFEST, None),
    "app-amd64v3": (mt.OCI_MANIFEST, None),
    "app-s390x": (mt.OCI_MANIFEST, None),
    "app": (mt.OCI_INDEX, ["linux/amd64", "linux/arm64/v8", "linux/arm/v7", UNKNOWN, UNKNOWN]),
    "app-buildx-amd64": (mt.OCI_INDEX, ["linux/amd64", UNKNOWN]),
    "app-buildx-arm64": (mt.OCI_INDEX, ["linux/arm64/v8", UNKNOWN]),
    "docker-amd64": (mt.DOCKER_MANIFEST, None),
    "docker-arm64": (mt.DOCKER_MANIFEST, None),
    "docker-list": (mt.DOCKER_LIST, ["linux/amd64", "linux/arm64/v8"]),
    "nested": (mt.OCI_INDEX, [None, "linux/s390x"]),
    "windows": (mt.OCI_INDEX, ["windows/amd64@10.0.17763.5576", "windows/amd64@10.0.20348.2340", "linux/amd64"]),
    "arm-variants": (mt.OCI_INDEX, ["linux/arm/v5", "linux/arm/v6", "linux/arm/v7", "linux/arm64"]),
    "amd64-levels": (mt.OCI_INDEX, ["linux/amd64", "linux/amd64/v3"]),
    "no-platform": (mt.OCI_INDEX, [None]),
    "mislabelled": (mt.OCI_INDEX, ["linux/amd64", "linux/arm64/v8"]),
}

#: (tag, index position) whose config deliberately disagrees with its descriptor
MISLABELLED = {("mislabelled", 1)}


def fmt(p: dict | None) -> str | None:
    if p is None:
        return None
    s = "/".join([p["os"], p["architecture"]] + ([p["variant"]] if p.get("variant") else []))
    return s + (f"@{p['os.version']}" if p.get("os.version") else "")


# --- helpers -----------------------------------------------------------------


@pytest.fixture(scope="module")
def layout() -> Path:
    return Path(__file__).resolve().parent.parent / "fixtures" / "layout"


def blob(root: Path, digest: str) -> bytes:
    alg, _, hexpart = digest.partition(":")
    return (root / "blobs" / alg / hexpart).read_bytes()


def tagged(root: Path) -> dict[str, dict]:
    index = json.loads((root / "index.json").read_bytes())
    return {e["annotations"][mt.REF_NAME_ANNOTATION]: e for e in index["manifests"]}


def doc(root: Path, tag: str) -> dict:
    return json.loads(blob(root, tagged(root)[tag]["digest"]))


def documents(root: Path) -> dict[str, dict]:
    """Every manifest or index blob in the layout, by digest."""
    out = {}
    for p in (root / "blobs" / "sha256").iterdir():
        try:
            d = json.loads(p.read_bytes())
        except ValueError:
            continue
        if isinstance(d, dict) and d.get("schemaVersion") == 2:
            out[f"sha256:{p.name}"] = d
    return out


# --- reproducible -------------------------------------------------------------


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fixtures")
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], check=True)
    return out


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_script_reproduces_the_committed_fixtures_byte_for_byte(fresh: Path, layout: Path) -> None:
    committed = layout.parent
    produced = files_under(fresh)
    assert produced, "the script wrote nothing"
    differing = [name for name, data in produced.items() if (committed / name).read_bytes() != data]
    assert differing == [], "rerun `python scripts/make_fixtures.py` and commit the result"


def test_committed_layout_holds_nothing_the_script_does_not_write(fresh: Path, layout: Path) -> None:
    assert sorted(files_under(layout)) == sorted(files_under(fresh / "layout"))


def test_script_rerun_into_the_same_directory_is_identical(fresh: Path, tmp_path: Path) -> None:
    before = files_under(fresh)
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(fresh)], check=True)
    assert files_under(fresh) == before


# --- sound -----------------------------------------------------------------------


def test_oci_layout_header(layout: Path) -> None:
    assert json.loads((layout / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}


def test_every_blob_hashes_to_its_name(layout: Path) -> None:
    blobs = sorted((layout / "blobs" / "sha256").iterdir())
    assert len(blobs) > 20
    wrong = [p.name for p in blobs if hashlib.sha256(p.read_bytes()).hexdigest() != p.name]
    assert wrong == []


def test_every_descriptor_points_at_a_blob_of_its_size(layout: Path) -> None:
    problems = []
    descriptors = list(tagged(layout).values())
    for d in documents(layout).values():
        descriptors += d.get("manifests", []) + d.get("layers", []) + ([d["config"]] if "config" in d else [])
    for desc in descriptors:
        try:
            if len(blob(layout, desc["digest"])) != desc["size"]:
                problems.append(f"size of {desc['digest']}")
        except FileNotFoundError:
            problems.append(f"missing {desc['digest']}")
    assert len(descriptors) > 50 and problems == []


def test_every_index_child_has_the_media_type_its_descriptor_claims(layout: Path) -> None:
    docs = documents(layout)
    wrong = [
        e["digest"]
        for d in docs.values()
        for e in d.get("manifests", [])
        if docs[e["digest"]].get("mediaType") != e["mediaType"]
    ]
    assert wrong == []


@pytest.mark.parametrize("tag, want", list(TAGS.items()), ids=list(TAGS))
def test_tag_media_type_and_platforms(layout: Path, tag: str, want: tuple) -> None:
    d = doc(layout, tag)
    platforms = [fmt(e.get("platform")) for e in d["manifests"]] if "manifests" in d else None
    assert (tagged(layout)[tag]["mediaType"], d["mediaType"], platforms) == (want[0], want[0], want[1])


def test_index_json_tags_are_the_documented_ones_in_order(layout: Path) -> None:
    assert list(tagged(layout)) == list(TAGS)


def test_readme_lists_every_tag(layout: Path) -> None:
    text = (layout.parent / "README.md").read_text()
    assert [t for t in TAGS if f"| `{t}` |" not in text] == [] and "python scripts/make_fixtures.py" in text


@pytest.mark.parametrize("tag", [t for t, (_, p) in TAGS.items() if p is not None])
def test_entry_platforms_match_their_image_configs(layout: Path, tag: str) -> None:
    mismatched = []
    for i, e in enumerate(doc(layout, tag)["manifests"]):
        if e.get("platform") is None or e["platform"]["os"] == "unknown" or mt.is_index(e["mediaType"]):
            continue
        config = json.loads(blob(layout, json.loads(blob(layout, e["digest"]))["config"]["digest"]))
        if fmt(config) != fmt(e["platform"]):
            mismatched.append(i)
    assert {(tag, i) for i in mismatched} == {m for m in MISLABELLED if m[0] == tag}


def test_no_platform_entry_has_a_linux_amd64_config(layout: Path) -> None:
    [entry] = doc(layout, "no-platform")["manifests"]
    config = json.loads(blob(layout, json.loads(blob(layout, entry["digest"]))["config"]["digest"]))
    assert "platform" not in entry and fmt(config) == "linux/amd64"


def test_mislabelled_arm64_entry_is_the_amd64_image(layout: Path) -> None:
    entries = doc(layout, "mislabelled")["manifests"]
    assert entries[1]["digest"] == tagged(layout)["app-amd64"]["digest"]


def test_nested_index_holds_amd64_and_arm64(layout: Path) -> None:
    inner = doc(layout, "nested")["manifests"][0]
    assert inner["mediaType"] == mt.OCI_INDEX
    assert [fmt(e["platform"]) for e in json.loads(blob(layout, inner["digest"]))["manifests"]] == [
        "linux/amd64",
        "linux/arm64/v8",
    ]


@pytest.mark.parametrize("tag", ["app", "app-buildx-amd64", "app-buildx-arm64"])
def test_attestations_reference_a_subject_in_the_same_index(layout: Path, tag: str) -> None:
    entries = doc(layout, tag)["manifests"]
    images = {e["digest"] for e in entries if e.get("platform", {}).get("os") != "unknown"}
    atts = [e for e in entries if e.get("annotations", {}).get(mt.REF_TYPE_ANNOTATION) == "attestation-manifest"]
    assert atts and all(a["annotations"][mt.REF_DIGEST_ANNOTATION] in images for a in atts)
    assert all(fmt(a["platform"]) == UNKNOWN for a in atts)


def test_attestation_manifests_are_buildkit_shaped(layout: Path) -> None:
    for a in doc(layout, "app")["manifests"][3:]:
        m = json.loads(blob(layout, a["digest"]))
        config = json.loads(blob(layout, m["config"]["digest"]))
        [layer] = m["layers"]
        statement = json.loads(blob(layout, layer["digest"]))
        assert (config["architecture"], config["os"]) == ("unknown", "unknown")
        assert layer["mediaType"] == "application/vnd.in-toto+json"
        assert layer["annotations"]["in-toto.io/predicate-type"] == statement["predicateType"]
        assert "sha256:" + statement["subject"][0]["digest"]["sha256"] == a["annotations"][mt.REF_DIGEST_ANNOTATION]


@pytest.mark.parametrize("tag", ["app-amd64", "docker-arm64", "app-s390x"])
def test_layer_is_a_deterministic_gzip_whose_diff_id_is_in_the_config(layout: Path, tag: str) -> None:
    m = doc(layout, tag)
    [layer] = m["layers"]
    data = blob(layout, layer["digest"])
    raw = gzip.decompress(data)
    config = json.loads(blob(layout, m["config"]["digest"]))
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        content = tf.extractfile("etc/manifold-fixture").read().decode()
    assert data[4:8] == b"\0\0\0\0"  # gzip mtime 0
    assert config["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]}
    assert fmt(config) in content


@pytest.mark.parametrize(
    "tag, indent", [("app", 2), ("app-amd64", 2), ("docker-list", 3), ("docker-amd64", 3)]
)
def test_documents_are_serialised_as_their_tools_write_them(layout: Path, tag: str, indent: int) -> None:
    data = blob(layout, tagged(layout)[tag]["digest"])
    assert json.dumps(json.loads(data), indent=indent).encode() == data and not data.endswith(b"\n")


def test_image_configs_carry_env_cmd_and_a_fixed_date(layout: Path) -> None:
    config = json.loads(blob(layout, doc(layout, "app-armv7")["config"]["digest"]))
    assert config["config"]["Cmd"] == ["/bin/sh"] and config["config"]["Env"][0].startswith("PATH=")
    assert (config["created"], config["variant"]) == ("2024-01-01T00:00:00Z", "v7")


# --- the archive -----------------------------------------------------------------


def test_archive_holds_its_four_tags_and_every_blob_they_reach(layout: Path) -> None:
    with tarfile.open(layout.parent / "app.tar") as tf:
        files = {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isreg()}
    index = json.loads(files["index.json"])
    tags = [e["annotations"][mt.REF_NAME_ANNOTATION] for e in index["manifests"]]
    assert tags == ["app-amd64", "app-arm64", "app-armv7", "app"]
    todo, missing = [e["digest"] for e in index["manifests"]], []
    while todo:
        dg = todo.pop()
        name = "blobs/" + dg.replace(":", "/")
        if name not in files:
            missing.append(dg)
            continue
        d = json.loads(files[name]) if files[name].startswith(b"{") else {}
        if d.get("schemaVersion") == 2:
            todo += [c["digest"] for c in d.get("manifests", []) + d.get("layers", []) + [d.get("config") or {}] if c]
    assert missing == []


def test_archive_members_are_sorted_with_fixed_metadata(layout: Path) -> None:
    with tarfile.open(layout.parent / "app.tar") as tf:
        members = tf.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names) and all(m.isreg() or m.isdir() for m in members)
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", 1704067200)}
