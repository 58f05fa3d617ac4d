"""`manifold pin`: finding references, rewriting them byte for byte, and pinning against the real registry."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from helpers import run
import manifold.cli_checks  # noqa: F401  (registers the commands before cli.py imports it)
from manifold.__main__ import main
from manifold.api import Client
from manifold.copy import Copier
from manifold.digest import Digest
from manifold.pin import file_kind, find_references, pinned_text, rewrite

ROOT = Path(__file__).resolve().parent.parent / "fixtures"
SAMPLES = ROOT / "pin"
F = f"oci:{ROOT / 'layout'}"
D = Digest.parse("sha256:" + "ab" * 32)




def refs(text: str, kind: str) -> list[str]:
    return [o.text for o in find_references(text, kind)]


# --- Dockerfiles ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, found",
    [
        ("FROM node:20", ["node:20"]),
        ("from node:20 as build", ["node:20"]),
        ("  FROM\tnode:20  AS  build  ", ["node:20"]),
        ("FROM --platform=$BUILDPLATFORM golang:1.22 AS build", ["golang:1.22"]),
        ("FROM --platform=linux/amd64 --some-flag ghcr.io/org/app:1.2", ["ghcr.io/org/app:1.2"]),
        ("FROM 127.0.0.1:5000/team/app", ["127.0.0.1:5000/team/app"]),
        ("FROM node:20@sha256:" + "ab" * 32, ["node:20@sha256:" + "ab" * 32]),
        ("FROM scratch", []),
        ("FROM SCRATCH", []),
        ("FROM ${BASE}", []),
        ("FROM $BASE AS runtime", []),
        ("FROM registry/${IMAGE}:1", []),
        ("# FROM node:20", []),
        ("RUN echo FROM node:20", []),
        ("FROM node:20 extra words", []),
    ],
)
def test_dockerfile_from_lines(line, found):
    assert refs(line + "\n", "dockerfile") == found


def test_stage_names_are_skipped_case_insensitively():
    text = "FROM golang:1.22 AS Build\nFROM build AS test\nFROM BUILD\nFROM alpine:3.20\n"
    assert refs(text, "dockerfile") == ["golang:1.22", "alpine:3.20"]


def test_a_name_used_before_its_stage_is_defined_is_an_image():
    text = "FROM app:1\nFROM alpine:3.20 AS app\nFROM app\n"
    assert refs(text, "dockerfile") == ["app:1", "alpine:3.20"]


@pytest.mark.parametrize(
    "text, found",
    [
        ("RUN echo \\\n    FROM node:20\nFROM alpine:3.20\n", ["alpine:3.20"]),
        ("RUN echo \\\n# a comment inside\n    \\\n  FROM node:20\n", []),
        ("# escape=`\nRUN echo `\n  FROM node:20\nFROM alpine:3.20\n", ["alpine:3.20"]),
        ("# escape=`\nRUN echo \\\nFROM node:20\n", ["node:20"]),  # '\' is no longer the escape
    ],
)
def test_continuation_lines_are_not_instructions(text, found):
    assert refs(text, "dockerfile") == found


def test_sample_dockerfile():
    text = (SAMPLES / "Dockerfile").read_text()
    found = find_references(text, "dockerfile")
    assert [(o.line, o.text) for o in found] == [(5, "golang:1.22"), (14, "alpine:3.20")]
    assert all(text[o.start : o.end] == o.text for o in found)


# --- YAML ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, found",
    [
        ("image: nginx:1.27", ["nginx:1.27"]),
        ('    image: "nginx:1.27"', ["nginx:1.27"]),
        ("    image: 'nginx:1.27'   # proxy", ["nginx:1.27"]),
        ("  - image: ghcr.io/org/app:1.2", ["ghcr.io/org/app:1.2"]),
        ('  "image": redis', ["redis"]),
        ("image: ${TOOL_IMAGE:-busybox:1.36}", []),
        ("image: '{{ .Values.image }}'", []),
        ('image: "{{.Values.image}}"', []),
        ("image: &base nginx:1.27", []),
        ("image: *base", []),
        ("imagePullPolicy: Always", []),
        ("baseimage: nginx:1.27", []),
        ("# image: nginx:1.27", []),
        ("image:nginx", []),
    ],
)
def test_yaml_image_lines(line, found):
    assert refs(line + "\n", "yaml") == found


@pytest.mark.parametrize(
    "text, found",
    [
        ("data:\n  config.yaml: |\n    image: not:1\nimage: real:1\n", ["real:1"]),
        ("args:\n  - |\n    image: not:1\n  - image: real:1\n", ["real:1"]),
        ("- run: >-\n    image: not:1\n  image: real:1\n", ["real:1"]),
        ("a: |  # comment\n  image: not:1\n\n  image: still-not:1\nimage: real:1\n", ["real:1"]),
    ],
)
def test_block_scalar_content_is_not_yaml(text, found):
    assert refs(text, "yaml") == found


@pytest.mark.parametrize(
    "name, found",
    [
        ("compose.yaml", [(4, "nginx:1.27"), (8, "redis"), (10, "postgres:16"), (16, "busybox:1.36@sha256:4be429a5fbb2e71ae7958bfa558bc637cf3a61baf40a708cb8fff532b39e52d0")]),
        ("deployment.yaml", [(19, "ghcr.io/example/shop-migrate:2.1.0"), (23, "ghcr.io/example/shop:2.1.0"), (26, "docker.io/library/nginx:1.27")]),
    ],
)
def test_sample_yaml(name, found):
    text = (SAMPLES / name).read_text()
    assert [(o.line, o.text) for o in find_references(text, "yaml")] == found


@pytest.mark.parametrize(
    "path, text, kind",
    [
        ("Dockerfile", "", "dockerfile"),
        ("build/Containerfile", "", "dockerfile"),
        ("api.Dockerfile", "", "dockerfile"),
        ("Dockerfile.prod", "", "dockerfile"),
        ("compose.yaml", "FROM x\n", "yaml"),
        ("k8s/deploy.yml", "", "yaml"),
        ("build.txt", "# syntax=docker/dockerfile:1\nARG V=1\nFROM node:$V\n", "dockerfile"),
        ("stack.txt", "services:\n  web:\n    image: nginx\n", "yaml"),
    ],
)
def test_file_kind(path, text, kind):
    assert file_kind(path, text) == kind


# --- rewriting ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, pinned",
    [
        ("node:20", f"node:20@{D}"),
        ("node", f"node:latest@{D}"),
        ("docker.io/library/node:20", f"docker.io/library/node:20@{D}"),
        ("localhost:5000/app", f"localhost:5000/app:latest@{D}"),
        (f"node:20@{D}", f"node:20@{D}"),
    ],
)
def test_pinned_text_keeps_the_spelling(written, pinned):
    assert pinned_text(written, D) == pinned


def test_rewrite_changes_only_the_spans():
    text = "a: x\r\nb: yy  # c\r\n"
    assert rewrite(text, {3: (4, "X1"), 9: (11, "Y")}) == "a: X1\r\nb: Y  # c\r\n"


# --- --check needs no registry ----------------------------------------------------------------------


def test_check_lists_unpinned_references(capsys, tmp_path):
    for name in ("Dockerfile", "compose.yaml"):
        shutil.copy(SAMPLES / name, tmp_path / name)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    code, out, err = run(capsys, "pin", "--check", str(tmp_path / "Dockerfile"), str(tmp_path / "compose.yaml"))
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        f"{tmp_path}/Dockerfile:5: golang:1.22 is not pinned",
        f"{tmp_path}/Dockerfile:14: alpine:3.20 is not pinned",
        f"{tmp_path}/compose.yaml:4: nginx:1.27 is not pinned",
        f"{tmp_path}/compose.yaml:8: redis is not pinned",
        f"{tmp_path}/compose.yaml:10: postgres:16 is not pinned",
    ]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_check_passes_when_everything_is_pinned(capsys, tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text(f"FROM node:20@{D} AS build\nFROM scratch\n")
    assert run(capsys, "pin", "--check", str(path)) == (0, "", "")


def test_invalid_reference_is_skipped_with_a_warning(capsys, tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text("FROM Node:20\n")
    code, out, err = run(capsys, "pin", "--check", str(path))
    assert (code, out) == (0, "")
    assert err.startswith(f"warning: {path}:1: skipping 'Node:20': invalid reference")


def test_missing_file_exits_2(capsys, tmp_path):
    code, out, err = run(capsys, "pin", "--check", str(tmp_path / "nope"))
    assert (code, out) == (2, "")
    assert err.startswith("error: cannot read")


# --- against the real registry --------------------------------------------------------------------------


#: sample reference -> (repository in the test registry, fixture tag it holds)
IMAGES = {
    "golang:1.22": ("pin/golang", "app"),
    "alpine:3.20": ("pin/alpine", "app"),
    "nginx:1.27": ("pin/nginx", "docker-list"),
    "redis": ("pin/redis", "app-amd64"),
    "postgres:16": ("pin/postgres", "app"),
    "ghcr.io/example/shop-migrate:2.1.0": ("pin/shop-migrate", "app-amd64"),
    "ghcr.io/example/shop:2.1.0": ("pin/shop", "app"),
    "docker.io/library/nginx:1.27": ("pin/nginx", "docker-list"),
}


def local_name(registry, sample: str) -> str:
    repo, _fixture = IMAGES[sample]
    tag = sample.rpartition(":")[2] if ":" in sample.rsplit("/", 1)[-1] else None
    return f"{registry.host}/{repo}" + (f":{tag}" if tag else "")


@pytest.fixture(scope="module")
def pushed(registry) -> dict[str, str]:
    """Push each sample image; return sample reference -> digest its tag points at."""
    digests = {}
    with Client() as c:
        src = c.open(c.parse(F))
        for sample, (repo, fixture) in IMAGES.items():
            dst = c.open(c.parse(f"{registry.host}/{repo}"))
            fetched = src.get_manifest(fixture)
            with Copier(dst) as cp:
                cp.manifest(src, fetched.digest)
            ref = c.parse(local_name(registry, sample))
            dst.put_manifest(fetched.data, fetched.media_type, tag=ref.tag or "latest")
            digests[sample] = str(fetched.digest)
    return digests


def localise(registry, text: str) -> str:
    """Point the sample's references at the test registry (longest names first)."""
    for sample in sorted(IMAGES, key=len, reverse=True):
        text = re.sub(rf"(?<![\w./:-]){re.escape(sample)}(?![\w.:@/-])", local_name(registry, sample), text)
    return text


@pytest.fixture
def samples(registry, pushed, tmp_path) -> dict[str, Path]:
    out = {}
    for name in ("Dockerfile", "compose.yaml", "deployment.yaml"):
        path = tmp_path / name
        path.write_bytes(localise(registry, (SAMPLES / name).read_text()).encode())
        out[name] = path
    return out


def test_pin_rewrites_to_the_index_digest(capsys, registry, pushed, samples):
    before = {n: p.read_text() for n, p in samples.items()}
    code, out, err = run(capsys, "pin", *map(str, samples.values()))
    assert (code, err) == (0, "")
    after = {n: p.read_text() for n, p in samples.items()}
    expected = {}
    for name, text in before.items():
        for sample in IMAGES:
            local = local_name(registry, sample)
            written = local if ":" in local.rsplit("/", 1)[-1] else local + ":latest"
            text = re.sub(rf"(?<![\w./:-]){re.escape(local)}(?![\w.:@/-])", f"{written}@{pushed[sample]}", text)
        expected[name] = text
    assert after == expected
    assert f"{samples['Dockerfile']}:5: {local_name(registry, 'golang:1.22')} -> {local_name(registry, 'golang:1.22')}@{pushed['golang:1.22']}" in out.splitlines()
    assert len(out.splitlines()) == 8  # 2 in the Dockerfile, 3 in compose (one already pinned), 3 in the Deployment


def test_multi_arch_pins_the_index_not_a_child(capsys, registry, pushed, samples):
    run(capsys, "pin", str(samples["Dockerfile"]))
    text = samples["Dockerfile"].read_text()
    assert f"@{pushed['golang:1.22']}" in text
    children = [e["digest"] for e in json.loads((ROOT / "layout/blobs/sha256" / pushed["golang:1.22"][7:]).read_bytes())["manifests"]]
    assert not any(c in text for c in children)


def test_only_the_references_change(capsys, registry, pushed, samples):
    before = {n: p.read_bytes().splitlines(keepends=True) for n, p in samples.items()}
    run(capsys, "pin", *map(str, samples.values()))
    for name, path in samples.items():
        old, new = before[name], path.read_bytes().splitlines(keepends=True)
        assert len(old) == len(new)
        for a, b in zip(old, new):
            if a != b:  # the changed line is the old one with "@sha256:…" (and maybe ":latest") inserted
                assert re.sub(rb"(:latest)?@sha256:[0-9a-f]{64}", b"", b) == a


def test_second_run_changes_nothing(capsys, registry, pushed, samples):
    run(capsys, "pin", *map(str, samples.values()))
    once = {n: p.read_bytes() for n, p in samples.items()}
    mtimes = {n: os.stat(p).st_mtime_ns for n, p in samples.items()}
    registry.mark()
    code, out, err = run(capsys, "pin", *map(str, samples.values()))
    assert (code, out) == (0, "")
    assert "nothing to pin" in err
    assert {n: p.read_bytes() for n, p in samples.items()} == once
    assert {n: os.stat(p).st_mtime_ns for n, p in samples.items()} == mtimes
    assert [p for _m, p, _s in registry.requests() if p != "/v2/"] == []
    assert run(capsys, "pin", "--check", *map(str, samples.values()))[0] == 0


def test_one_head_per_distinct_reference(capsys, registry, pushed, samples, tmp_path):
    extra = tmp_path / "more.yaml"
    extra.write_text(localise(registry, "a:\n  image: nginx:1.27\nb:\n  image: docker.io/library/nginx:1.27\n"))
    registry.mark()
    code, _out, _err = run(capsys, "pin", str(samples["compose.yaml"]), str(samples["deployment.yaml"]), str(extra))
    reqs = [(m, p) for m, p, _s in registry.requests() if p != "/v2/"]
    assert code == 0
    assert all(m == "HEAD" and "/manifests/" in p for m, p in reqs)
    # nginx:1.27 appears four times (twice spelled the same in the test registry): one HEAD
    assert sorted(p for _m, p in reqs) == sorted(
        {"/v2/pin/nginx/manifests/1.27", "/v2/pin/redis/manifests/latest", "/v2/pin/postgres/manifests/16",
         "/v2/pin/shop-migrate/manifests/2.1.0", "/v2/pin/shop/manifests/2.1.0"}
    )  # fmt: skip


def test_unknown_image_writes_nothing(capsys, registry, pushed, samples):
    path = samples["Dockerfile"]
    path.write_text(path.read_text() + f"FROM {registry.host}/pin/nope:1\n")
    before = {n: p.read_bytes() for n, p in samples.items()}
    code, out, err = run(capsys, "pin", *map(str, samples.values()))
    assert (code, out) == (3, "")
    assert err.startswith(f"error: {path}:24: {registry.host}/pin/nope:1 not found")
    assert {n: p.read_bytes() for n, p in samples.items()} == before


def test_file_mode_is_kept(capsys, registry, pushed, samples):
    path = samples["Dockerfile"]
    os.chmod(path, 0o640)
    run(capsys, "pin", str(path))
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".manifold-pin-")]
