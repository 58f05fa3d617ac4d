"""resolve / inspect / platforms / check against the real registry: Docker's choice, request economy, output shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import run
from manifold import mediatypes as mt
from manifold.__main__ import main
from manifold.api import Client
from manifold.copy import Copier
from manifold.digest import Digest
from manifold.models import Index, parse_document

LAYOUT = Path(__file__).resolve().parent.parent / "fixtures" / "layout"
TAGS = ["app", "app-amd64", "app-arm64", "docker-list", "nested", "windows", "arm-variants", "amd64-levels", "no-platform"]


@pytest.fixture(scope="module")
def repo(registry) -> str:
    """The fixture tags pushed to ``<registry>/resolver/img``, plus an index with attestations first."""
    with Client() as c:
        src = c.open(c.parse(f"oci:{LAYOUT}"))
        dst = c.open(c.parse(f"{registry.host}/resolver/img"))
        with Copier(dst) as cp:
            for tag in TAGS:
                f = src.get_manifest(tag)
                cp.manifest(src, f.digest)
                dst.put_manifest(f.data, f.media_type, tag=tag)
        app = parse_document(src.get_manifest("app").data)
        atts_first = Index(mt.OCI_INDEX, tuple(sorted(app.manifests, key=lambda d: not d.is_attestation)))
        dst.put_manifest(atts_first.to_bytes(), mt.OCI_INDEX, tag="atts-first")
    return f"{registry.host}/resolver/img"


def digest_of(tag: str) -> str:
    with Client() as c:
        return str(c.fetch(f"oci:{LAYOUT}:{tag}")[2].digest)


def child(index_tag: str, platform: str) -> str:
    """Digest of the entry of fixture ``index_tag`` whose platform is written ``platform``."""
    with Client() as c:
        source_tag = {"atts-first": "app"}.get(index_tag, index_tag)
        doc = parse_document(c.fetch(f"oci:{LAYOUT}:{source_tag}")[2].data)
        return next(str(d.digest) for d in doc.manifests if d.platform and d.platform.format_all() == platform)




@pytest.mark.parametrize(
    "tag, platform, index_entry",
    [
        ("app", "linux/amd64", "linux/amd64"),
        ("app", "linux/arm64", "linux/arm64/v8"),
        ("app", "linux/arm64/v8", "linux/arm64/v8"),
        ("app", "linux/aarch64", "linux/arm64/v8"),
        ("app", "linux/arm/v7", "linux/arm/v7"),
        ("app", "linux/arm/v8", "linux/arm/v7"),
        ("app", "linux/386", None),
        ("atts-first", "linux/amd64", "linux/amd64"),
        ("atts-first", "linux/arm64", "linux/arm64/v8"),
        ("arm-variants", "linux/arm/v6", "linux/arm/v6"),
        ("arm-variants", "linux/arm/v7", "linux/arm/v7"),
        ("arm-variants", "linux/arm", "linux/arm/v7"),
        ("arm-variants", "linux/arm/v8", "linux/arm/v7"),
        ("arm-variants", "linux/arm64/v8", "linux/arm64"),
        ("arm-variants", "linux/arm/v5", "linux/arm/v5"),
        ("arm-variants", "linux/arm/v4", None),
        ("amd64-levels", "linux/amd64", "linux/amd64"),
        ("amd64-levels", "linux/amd64/v2", "linux/amd64"),
        ("amd64-levels", "linux/amd64/v3", "linux/amd64/v3"),
        ("amd64-levels", "linux/amd64/v4", "linux/amd64/v3"),
        ("windows", "windows/amd64", "windows(10.0.17763.5576)/amd64"),
        ("windows", "linux/amd64", "linux/amd64"),
        ("windows", "windows/arm64", None),
        ("docker-list", "linux/arm64", "linux/arm64/v8"),
        ("docker-list", "linux/arm/v7", None),
    ],
)
def test_resolve_chooses_what_docker_pulls(capsys, repo, tag, platform, index_entry):
    code, out, err = run(capsys, "resolve", f"{repo}:{tag}", "--platform", platform)
    if index_entry is None:
        assert code == 3
        assert err.startswith(f"error: no matching manifest for {platform} in the manifest list entries")
        assert "available platforms:" in err
        return
    assert code == 0, err
    assert out == f"{repo}@{child(tag, index_entry)}\n"


def test_nested_index_is_descended(capsys, repo):
    code, out, err = run(capsys, "resolve", f"{repo}:nested", "-p", "linux/arm64", "-p", "linux/s390x", "--format", "json")
    assert code == 0, err
    arm, s390 = json.loads(out)
    assert arm["manifest"]["digest"] == digest_of("app-arm64")
    assert arm["index"]["digest"] == digest_of("nested")
    assert s390["manifest"]["platform"] == "linux/s390x"


def test_platformless_entry_is_accepted_only_when_its_config_matches(capsys, repo):
    with Client() as c:
        [entry] = parse_document(c.fetch(f"oci:{LAYOUT}:no-platform")[2].data).manifests
    assert entry.platform is None
    code, out, _err = run(capsys, "resolve", f"{repo}:no-platform", "-p", "linux/amd64", "--format", "json")
    assert code == 0
    [r] = json.loads(out)
    assert r["manifest"]["digest"] == str(entry.digest) and r["manifest"]["platform"] == "linux/amd64"
    code, _out, err = run(capsys, "resolve", f"{repo}:no-platform", "-p", "linux/arm64")
    assert code == 3 and "no matching manifest for linux/arm64" in err


def test_single_image_resolves_to_itself(capsys, repo):
    code, out, _err = run(capsys, "resolve", f"{repo}:app-arm64", "-p", "linux/amd64")
    assert code == 0 and out == f"{repo}@{digest_of('app-arm64')}\n"


def test_resolve_costs_one_manifest_request_for_several_platforms(capsys, repo, registry):
    registry.mark()
    code, _out, err = run(capsys, "resolve", f"{repo}:app", "-p", "linux/amd64", "-p", "linux/arm64", "-p", "arm/v7")
    assert code == 0, err
    reqs = registry.requests()
    assert [(m, p) for m, p, _s in reqs] == [("GET", "/v2/resolver/img/manifests/app")]


@pytest.mark.parametrize("args", [["check", "-p", "linux/amd64", "-p", "linux/arm64"], ["platforms"], ["inspect"]])
def test_check_platforms_inspect_cost_one_request(capsys, repo, registry, args):
    registry.mark()
    cmd, *rest = args
    code, _out, err = run(capsys, cmd, f"{repo}:app", *rest)
    assert code == 0, err
    assert len(registry.requests()) == 1
    assert not [p for _m, p, _s in registry.requests() if "/blobs/" in p]


def test_resolve_json_shape(capsys, repo):
    code, out, _err = run(capsys, "resolve", f"{repo}:app", "-p", "linux/arm64", "--format", "json", "--explain")
    assert code == 0
    [r] = json.loads(out)
    assert set(r) == {"reference", "platform", "index", "manifest", "candidates"}
    assert r["reference"] == f"{repo}:app" and r["platform"] == "linux/arm64"
    assert set(r["index"]) == {"digest", "mediaType"} and r["index"]["mediaType"] == mt.OCI_INDEX
    assert set(r["manifest"]) == {"digest", "mediaType", "size", "platform"}
    assert r["manifest"]["platform"] == "linux/arm64/v8"
    chosen = [c for c in r["candidates"] if c["chosen"]]
    assert len(chosen) == 1 and chosen[0]["digest"] == r["manifest"]["digest"]
    assert all(not c["matched"] for c in r["candidates"] if c["platform"] == "unknown/unknown")


def test_explain_in_text_mode_goes_to_stderr(capsys, repo):
    code, out, err = run(capsys, "resolve", f"{repo}:app", "-p", "linux/arm/v8", "--explain")
    assert code == 0 and out.count("\n") == 1
    assert "platform linux/arm/v8:" in err and "fallback rank" in err and "attestation" in err


def test_inspect_json_and_raw(capsys, repo):
    code, out, _err = run(capsys, "inspect", f"{repo}:app", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"reference", "digest", "mediaType", "size", "manifests"}
    assert [m["platform"] for m in doc["manifests"]] == [
        "linux/amd64", "linux/arm64/v8", "linux/arm/v7", "unknown/unknown", "unknown/unknown"
    ]
    assert set(doc["manifests"][0]) == {"platform", "digest", "mediaType", "size", "annotations"}
    main(["inspect", f"{repo}:app", "--raw"])
    raw = capsys.readouterr().out
    assert str(Digest.of(raw.encode())) == doc["digest"] == digest_of("app")


def test_inspect_with_platform_shows_the_chosen_manifest(capsys, repo):
    code, out, _err = run(capsys, "inspect", f"{repo}:app", "-p", "linux/arm64", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["digest"] == digest_of("app-arm64") and doc["manifests"] == []


def test_inspect_table_marks_attestations(capsys, repo):
    code, out, _err = run(capsys, "inspect", f"{repo}:app")
    assert code == 0
    assert "attestation → linux/amd64" in out and "attestation → linux/arm64/v8" in out


def test_platforms_text_and_all(capsys, repo):
    code, out, _err = run(capsys, "platforms", f"{repo}:app")
    assert code == 0 and out.splitlines() == ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]
    code, out, _err = run(capsys, "platforms", f"{repo}:app", "--all", "--format", "json")
    plats = json.loads(out)
    assert len(plats) == 5 and plats[3].startswith("unknown/unknown")


@pytest.mark.parametrize(
    "platforms, exact, code, lines",
    [
        (["linux/amd64", "linux/arm64"], False, 0, ["linux/amd64: sha256:", "linux/arm64: sha256:"]),
        (["linux/arm/v8"], False, 0, ["linux/arm/v8: sha256:"]),
        (["linux/arm/v8"], True, 1, ["linux/arm/v8: missing"]),
        (["linux/arm64"], True, 0, ["linux/arm64: sha256:"]),
        (["linux/amd64", "linux/s390x"], False, 1, ["linux/amd64: sha256:", "linux/s390x: missing"]),
    ],
)
def test_check(capsys, repo, platforms, exact, code, lines):
    args = ["check", f"{repo}:app"] + [a for p in platforms for a in ("-p", p)] + (["--exact"] if exact else [])
    got, out, _err = run(capsys, *args)
    assert got == code
    assert [ln[: len(want)] for ln, want in zip(out.splitlines(), lines)] == lines


def test_missing_tag_and_repository_exit_3(capsys, repo, registry):
    code, _out, err = run(capsys, "resolve", f"{repo}:nope", "-p", "linux/amd64")
    assert code == 3 and err.startswith("error:")
    code, _out, err = run(capsys, "platforms", f"{registry.host}/no/such/repo:1")
    assert code == 3 and err.startswith("error:")


def test_layouts_and_archives_resolve_the_same(capsys, repo):
    archive = LAYOUT.parent / "app.tar"
    outs = []
    for ref in (f"{repo}:app", f"oci:{LAYOUT}:app", f"oci-archive:{archive}:app"):
        code, out, err = run(capsys, "resolve", ref, "-p", "linux/arm/v7")
        assert code == 0, err
        outs.append(out.strip().rsplit("@", 1)[1])
    assert len(set(outs)) == 1


@pytest.mark.parametrize(
    "platforms, exact, code, lines",
    [
        (["linux/amd64"], False, 0, ["linux/amd64: sha256:"]),
        (["linux/amd64", "linux/arm64"], False, 1, ["linux/amd64: sha256:", "linux/arm64: missing"]),
        (["linux/amd64"], True, 0, ["linux/amd64: sha256:"]),
        (["linux/386"], False, 1, ["linux/386: missing"]),
    ],
)
def test_check_on_a_single_image_reads_its_platform(capsys, repo, registry, platforms, exact, code, lines):
    registry.mark()
    args = ["check", f"{repo}:app-amd64"] + [a for p in platforms for a in ("-p", p)] + (["--exact"] if exact else [])
    got, out, _err = run(capsys, *args)
    assert got == code
    assert [ln[: len(want)] for ln, want in zip(out.splitlines(), lines)] == lines
    assert [m for m, _p, _s in registry.requests()] == ["GET", "GET"]  # the manifest, then its config


@pytest.mark.parametrize(
    "platform, served",
    [("windows/amd64", True), ("windows(10.0.20348)/amd64", True), ("windows(10.0.19041)/amd64", False), ("windows/arm64", False)],
)
def test_check_exact_windows_builds(capsys, repo, platform, served):
    code, out, _err = run(capsys, "check", f"{repo}:windows", "-p", platform, "--exact")
    assert (code == 0) is served and ("missing" in out) is not served


def test_platforms_looks_into_nested_indexes_and_platformless_entries(capsys, repo):
    assert run(capsys, "platforms", f"{repo}:nested")[1].splitlines() == ["linux/amd64", "linux/arm64/v8", "linux/s390x"]
    assert run(capsys, "platforms", f"{repo}:no-platform")[1].splitlines() == ["linux/amd64"]
