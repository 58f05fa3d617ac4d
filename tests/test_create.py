"""`manifold create` against the real distribution registry and OCI layouts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import run, seed
from manifold import mediatypes as mt
from manifold.__main__ import main
from manifold.api import Client
from manifold.copy import Copier
from manifold.models import Index, parse_document

LAYOUT = Path(__file__).resolve().parent.parent / "fixtures" / "layout"
F = f"oci:{LAYOUT}"






def index_at(ref: str) -> Index:
    with Client() as c:
        _r, _st, fetched = c.fetch(ref)
        doc = parse_document(fetched.data, fetched.media_type)
        assert isinstance(doc, Index)
        return doc


def plats(ref: str) -> list[str]:
    return [d.platform.format_all() for d in index_at(ref).images]


def test_fan_in_by_digest_in_the_same_repository(capsys, registry):
    seed(registry, "fan/same", "app-amd64", "app-arm64")
    with Client() as c:
        amd = c.fetch(f"{registry.host}/fan/same:app-amd64")[2].digest
        arm = c.fetch(f"{registry.host}/fan/same:app-arm64")[2].digest
    registry.mark()
    code, out, err = run(capsys, "create", f"{registry.host}/fan/same:1.0", str(amd), str(arm))
    assert code == 0, err
    reqs = registry.requests()
    # minimal: 2 manifest reads, 2 config reads (platform), 1 index PUT; nothing copied
    assert [m for m, _p, _s in reqs].count("PUT") == 1
    assert not [p for m, p, _s in reqs if m == "POST"]
    assert out.startswith(f"{registry.host}/fan/same@sha256:")
    assert plats(f"{registry.host}/fan/same:1.0") == ["linux/amd64", "linux/arm64/v8"]


def test_platform_words_expand_with_the_template(capsys, registry):
    seed(registry, "fan/words", "app-amd64", "app-arm64", "app-armv7")
    target = f"{registry.host}/fan/words:app"
    code, out, err = run(capsys, "create", target, "amd64", "arm64", "arm/v7")
    assert code == 0, err
    assert plats(target) == ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]


def test_platform_word_whose_image_disagrees_fails_before_writing(capsys, registry):
    seed(registry, "fan/liar", "app-amd64")
    with Client() as c:
        st = c.open(c.parse(f"{registry.host}/fan/liar"))
        f = st.get_manifest("app-amd64")
        st.put_manifest(f.data, f.media_type, tag="v1-arm64")  # an amd64 image under an arm64 name
    code, _out, err = run(capsys, "create", f"{registry.host}/fan/liar:v1", "arm64")
    assert code == 2 and "image config says linux/amd64" in err
    with Client() as c:
        assert c.open(c.parse(f"{registry.host}/fan/liar")).head_manifest("v1") is None


def test_sources_from_another_repository_are_mounted(capsys, registry):
    seed(registry, "base/one", "app-amd64", "app-arm64")
    registry.mark()
    code, _out, err = run(
        capsys, "create", f"{registry.host}/fan/mounted:1", f"{registry.host}/base/one:app-amd64", f"{registry.host}/base/one:app-arm64"
    )
    assert code == 0, err
    reqs = [(m, p.split("?")[0].rsplit("/", 1)[0]) for m, p, _s in registry.requests()]
    # minimal: per source its manifest + config (platform); per child 2 mounts + 1 PUT; 1 index PUT
    assert sorted(reqs) == sorted(
        [("GET", "/v2/base/one/manifests")] * 2 + [("GET", "/v2/base/one/blobs")] * 2
        + [("POST", "/v2/fan/mounted/blobs/uploads")] * 4 + [("PUT", "/v2/fan/mounted/manifests")] * 3
    )
    assert plats(f"{registry.host}/fan/mounted:1") == ["linux/amd64", "linux/arm64/v8"]


def test_sources_from_another_registry_and_a_layout_are_copied(capsys, registry, registry_b):
    seed(registry_b, "elsewhere/app", "app-arm64")
    target = f"{registry.host}/fan/cross:1"
    code, _out, err = run(capsys, "create", target, f"{F}:app-amd64", f"{registry_b.host}/elsewhere/app:app-arm64")
    assert code == 0, err
    assert plats(target) == ["linux/amd64", "linux/arm64/v8"]
    # every child resolves and its blobs are readable in the target repository
    code, out, err = run(capsys, "verify", target)
    assert code == 0, out + err


def test_registry_to_layout(capsys, registry, tmp_path):
    seed(registry, "fan/tolayout", "app-amd64", "app-armv7")
    out_ref = f"oci:{tmp_path / 'out'}:multi"
    code, _out, err = run(
        capsys, "create", out_ref, f"{registry.host}/fan/tolayout:app-amd64", f"{registry.host}/fan/tolayout:app-armv7"
    )
    assert code == 0, err
    assert plats(out_ref) == ["linux/amd64", "linux/arm/v7"]
    blobs = list((tmp_path / "out" / "blobs" / "sha256").iterdir())
    assert len(blobs) == 1 + 2 * 3  # index + 2 × (manifest, config, layer)


def test_buildx_per_arch_indexes_are_flattened_with_attestations(capsys, registry):
    seed(registry, "fan/buildx", "app-buildx-amd64", "app-buildx-arm64")
    target = f"{registry.host}/fan/buildx:1"
    code, _out, err = run(
        capsys, "create", target, f"{registry.host}/fan/buildx:app-buildx-amd64", f"{registry.host}/fan/buildx:app-buildx-arm64"
    )
    assert code == 0, err
    idx = index_at(target)
    assert not any(d.is_index for d in idx.manifests)
    images = {str(d.digest) for d in idx.images}
    atts = [d for d in idx.manifests if d.is_attestation]
    assert len(images) == 2 and len(atts) == 2 and {a.subject for a in atts} == images


def test_docker_children_make_a_docker_list(capsys, registry):
    seed(registry, "fan/docker", "docker-amd64", "docker-arm64")
    target = f"{registry.host}/fan/docker:1"
    code, _out, err = run(capsys, "create", target, f"{registry.host}/fan/docker:docker-amd64", f"{registry.host}/fan/docker:docker-arm64")
    assert code == 0, err
    assert index_at(target).media_type == mt.DOCKER_LIST


def test_amend_replaces_arm64_and_keeps_the_rest(capsys, registry):
    seed(registry, "fan/amend", "app", "app-arm64", "app-amd64")
    target = f"{registry.host}/fan/amend:app"
    before = index_at(target)
    # a rebuilt arm64 image: same platform, different digest (another fixture relabelled)
    code, _out, err = run(capsys, "create", target, "--amend", f"{F}:app-ppc64le=linux/arm64")
    assert code == 0, err
    after = index_at(target)
    assert [d.platform.format_all() for d in after.images] == ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    old_arm = next(d for d in before.images if d.platform.architecture == "arm64")
    assert old_arm.digest not in {d.digest for d in after.manifests}
    assert not any(d.subject == str(old_arm.digest) for d in after.manifests)  # its attestation went too
    assert "replaced linux/arm64/v8" in err


def test_dry_run_writes_nothing(capsys, registry):
    seed(registry, "fan/dry", "app-amd64")
    registry.mark()
    code, out, err = run(capsys, "create", f"{registry.host}/fan/dry:1", f"{registry.host}/fan/dry:app-amd64", "--dry-run")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["mediaType"] == mt.OCI_INDEX and len(doc["manifests"]) == 1
    assert not [m for m, _p, _s in registry.requests() if m in ("PUT", "POST", "PATCH")]


def test_duplicate_platforms_fail_before_any_write(capsys, registry):
    seed(registry, "fan/dup", "app-arm64")
    registry.mark()
    code, _out, err = run(
        capsys, "create", f"{registry.host}/fan/dup:1", f"{registry.host}/fan/dup:app-arm64", f"{F}:app-armv7=linux/arm64/v8"
    )
    assert code == 2 and "two sources for platform linux/arm64" in err
    assert not [m for m, _p, _s in registry.requests() if m in ("PUT", "POST", "PATCH")]


def test_missing_source_fails_with_exit_3_before_any_write(capsys, registry):
    seed(registry, "fan/missing", "app-amd64")
    registry.mark()
    code, _out, err = run(
        capsys, "create", f"{registry.host}/fan/missing:1", f"{registry.host}/fan/missing:app-amd64", f"{registry.host}/fan/missing:nope"
    )
    assert code == 3 and err.startswith("error:") and "nope" in err
    assert not [m for m, _p, _s in registry.requests() if m in ("PUT", "POST", "PATCH")]


def test_no_clobber_refuses_a_different_digest(capsys, registry):
    seed(registry, "fan/clobber", "app-amd64", "app-arm64")
    target = f"{registry.host}/fan/clobber:1"
    assert run(capsys, "create", target, f"{registry.host}/fan/clobber:app-amd64")[0] == 0
    code, _out, err = run(capsys, "create", target, f"{registry.host}/fan/clobber:app-arm64", "--no-clobber")
    assert code == 6 and "--no-clobber" in err
    # the same content again is fine
    assert run(capsys, "create", target, f"{registry.host}/fan/clobber:app-amd64", "--no-clobber")[0] == 0


def test_extra_tags_and_metadata_file(capsys, registry, tmp_path):
    seed(registry, "fan/meta", "app-amd64")
    md = tmp_path / "md.json"
    code, out, err = run(
        capsys, "create", f"{registry.host}/fan/meta:1", f"{registry.host}/fan/meta:app-amd64",
        "--tag", "latest", "--metadata-file", str(md), "--annotation", "index:org.opencontainers.image.version=1",
    )
    assert code == 0, err
    meta = json.loads(md.read_text())
    assert out.strip() == f"{registry.host}/fan/meta@{meta['digest']}"
    assert meta["tags"] == ["1", "latest"] and meta["mediaType"] == mt.OCI_INDEX
    with Client() as c:
        st = c.open(c.parse(f"{registry.host}/fan/meta"))
        assert str(st.head_manifest("latest").digest) == meta["digest"]


def test_main_job_on_the_bundled_fixtures(capsys, tmp_path):
    target = f"oci:{tmp_path / 'demo'}:app"
    code, out, err = run(capsys, "create", target, f"{F}:app-amd64", f"{F}:app-arm64", f"{F}:app-armv7")
    assert code == 0, err
    assert plats(target) == ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]


AMEND_WORKER = """
import sys
from manifold.__main__ import main
sys.exit(main(["-q", "create", sys.argv[1], "--amend", sys.argv[2]]))
"""


@pytest.mark.parametrize("writers, rounds", [(8, 3)])
def test_parallel_amends_lose_no_platform(registry, writers, rounds, tmp_path):
    """8 processes amend one tag at once, each adding its own platform; nothing may be lost."""
    # 8 distinct single-platform images: the fixtures relabelled to 8 platforms
    labels = ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm/v6", "linux/ppc64le", "linux/s390x", "linux/riscv64", "linux/386"]
    fixtures = ["app-amd64", "app-arm64", "app-armv7", "app-ppc64le", "app-s390x", "app-amd64v3", "docker-amd64", "docker-arm64"]
    seed(registry, "race/src", *fixtures)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    lost_total = 0
    for r in range(rounds):
        target = f"{registry.host}/race/app:round{r}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", AMEND_WORKER, target, f"{registry.host}/race/src:{fx}={label}"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
            for fx, label in zip(fixtures, labels)
        ]
        for p in procs:
            out, err = p.communicate(timeout=180)
            assert p.returncode == 0, err.decode()
        got = set(plats(target))
        lost_total += len(set(labels) - got)
    assert lost_total == 0


def test_create_refuses_to_push_an_index_that_verify_would_reject(capsys, tmp_path):
    """The amended base holds two arm64 entries: create runs verify's checks and writes nothing."""
    layout = tmp_path / "layout"
    shutil.copytree(LAYOUT, layout)
    with Client() as c:
        st = c.open(c.parse(f"oci:{layout}"))
        arm, armv7 = st.get_manifest("app-arm64"), st.get_manifest("app-armv7")
        entries = [
            {"mediaType": mt.OCI_MANIFEST, "digest": str(f.digest), "size": f.size, "platform": {"architecture": "arm64", "os": "linux"}}
            for f in (arm, armv7)
        ]
        data = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}).encode()
        st.put_manifest(data, mt.OCI_INDEX, tag="dup")
    before = (layout / "index.json").read_bytes()
    code, _out, err = run(capsys, "create", f"oci:{layout}:dup", "--amend", f"oci:{layout}:app-amd64")
    assert code == 2 and "refusing to push" in err and "duplicate-platform" in err
    assert (layout / "index.json").read_bytes() == before


def test_round_trip_layout_registry_mount_layout_keeps_every_digest(capsys, registry, tmp_path):
    """oci layout → registry repo A → repo B (mounted) → oci layout: one index source is copied byte for byte."""
    with Client() as c:
        want = c.fetch(f"{F}:app")[2]
    hops = [f"{registry.host}/trip/a:app", f"{registry.host}/trip/b:app", f"oci:{tmp_path / 'back'}:app"]
    src = f"{F}:app"
    for i, dst in enumerate(hops):
        if i == 1:
            registry.mark()
        code, out, err = run(capsys, "create", dst, src)
        assert code == 0, err
        assert out.strip().endswith(str(want.digest))
        if i == 1:
            posts = [p for m, p, _s in registry.requests() if m == "POST"]
            assert posts and all("mount=" in p for p in posts)
        src = dst
    with Client() as c:
        st = c.open(c.parse(hops[-1]))
        doc = parse_document(st.get_manifest("app").data)
        for d in doc.manifests:
            child = parse_document(st.get_manifest(d.digest).data)
            for b in child.blobs:
                assert st.get_blob(b.digest, max_size=1 << 30)  # verified on read


def test_amend_overwrites_a_stale_writer_that_restores_the_replaced_digest(tmp_path):
    """A concurrent writer that read before us puts the old arm64 back during our settle
    time: that digest was in the index we read, so it is stale, not newer, and we write again."""
    from manifold.create import CreateRequest, create
    from manifold.platform import Platform

    layout = tmp_path / "layout"
    shutil.copytree(LAYOUT, layout)
    with Client() as c:
        st = c.open(c.parse(f"oci:{layout}"))
        old = st.get_manifest("app")  # amd64, arm64/v8 (old), arm/v7 + attestations
        st.put_manifest(old.data, old.media_type, tag="t")
        sleeps = []

        def stale_writer(seconds: float) -> None:
            if not sleeps:
                st.put_manifest(old.data, old.media_type, tag="t")
            sleeps.append(seconds)

        req = CreateRequest(target=f"oci:{layout}:t", sources=[f"oci:{layout}:app-ppc64le=linux/arm64"], amend=True)
        res = create(req, open_store=c.open, host=Platform("linux", "amd64"), sleep=stale_writer)
        assert res.rounds == 2 and len(sleeps) == 2
        now = parse_document(st.get_manifest("t").data)
        arm = [d for d in now.images if d.platform.architecture == "arm64"]
        assert [str(d.digest) for d in arm] == [str(c.fetch(f"oci:{layout}:app-ppc64le")[2].digest)]


def test_amend_accepts_a_newer_writer_for_the_same_platform(tmp_path):
    """A digest for our platform that this run never read comes from a newer writer: it wins."""
    from manifold.create import CreateRequest, create
    from manifold.platform import Platform

    layout = tmp_path / "layout"
    shutil.copytree(LAYOUT, layout)
    with Client() as c:
        st = c.open(c.parse(f"oci:{layout}"))
        newer = c.fetch(f"oci:{layout}:app-s390x")[2]

        def newer_writer(seconds: float) -> None:
            cur = parse_document(st.get_manifest("t").data)
            entries = [d.to_json() for d in cur.manifests if not (d.platform and d.platform.architecture == "arm64")]
            entries.append({"mediaType": mt.OCI_MANIFEST, "digest": str(newer.digest), "size": newer.size,
                            "platform": {"architecture": "arm64", "os": "linux"}})
            body = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}).encode()
            st.put_manifest(body, mt.OCI_INDEX, tag="t")

        req = CreateRequest(target=f"oci:{layout}:t", sources=[f"oci:{layout}:app-ppc64le=linux/arm64"], amend=True)
        res = create(req, open_store=c.open, host=Platform("linux", "amd64"), sleep=newer_writer)
        assert res.rounds == 1
        arm = [d for d in parse_document(st.get_manifest("t").data).images if d.platform.architecture == "arm64"]
        assert [d.digest for d in arm] == [newer.digest]
