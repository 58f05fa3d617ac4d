"""`manifold matrix`: rows, columns, JSON, exit codes, and one manifest request per image."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from helpers import run
import manifold.cli_checks  # noqa: F401  (registers the commands before cli.py imports it)
from manifold.__main__ import main
from manifold.api import Client
from manifold.copy import Copier
from manifold.matrix import Row, column_order, read_reference_lines, render_table
from manifold.platform import Platform

LAYOUT = Path(__file__).resolve().parent.parent / "fixtures" / "layout"
F = f"oci:{LAYOUT}"
APP = "sha256:92deab99a10933e4563afa9f4f06d987e58aa139aebc7a709ffd2a5dea21aca1"




def seed(registry, repo: str, tags: dict[str, str]) -> None:
    """Copy fixture tags into ``registry``/``repo``: ``{new tag: fixture tag}``, each manifest copied once."""
    with Client() as c:
        src = c.open(c.parse(F))
        dst = c.open(c.parse(f"{registry.host}/{repo}"))
        fetched = {t: src.get_manifest(t) for t in set(tags.values())}
        with Copier(dst) as cp:
            for f in fetched.values():
                cp.manifest(src, f.digest)
        for new, old in tags.items():
            dst.put_manifest(fetched[old].data, fetched[old].media_type, tag=new)


def row(*specs: str, ref: str = "x", error: str | None = None) -> Row:
    return Row(ref, None, None, tuple(Platform.parse(s).normalize() for s in specs), error)


# --- pure parts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, refs",
    [
        ("node:20\npython:3.12\n", ["node:20", "python:3.12"]),
        ("# base images\n\nnode:20\n   \n", ["node:20"]),
        ("  alpine:3.20   # the small one\n", ["alpine:3.20"]),
        ("oci:fixtures/layout:app\r\n", ["oci:fixtures/layout:app"]),
        ("", []),
    ],
)
def test_reference_lines(text, refs):
    assert read_reference_lines(io.StringIO(text)) == refs


def test_columns_sorted_by_os_then_arch_then_variant():
    rows = [
        row("windows/amd64", "linux/arm64", "linux/arm/v7"),
        row("linux/arm/v6", "linux/amd64", "linux/s390x", "linux/amd64/v3"),
    ]
    assert [p.format_all() for p in column_order(rows)] == [
        "linux/amd64",
        "linux/amd64/v3",
        "linux/arm/v6",
        "linux/arm/v7",
        "linux/arm64",
        "linux/s390x",
        "windows/amd64",
    ]


@pytest.mark.parametrize("ascii_only, mark", [(False, "✓"), (True, "x")])
def test_table_cells(ascii_only, mark):
    text = render_table([row("linux/amd64", ref="a"), row("linux/arm64", ref="b")], ascii_only=ascii_only)
    header, a, b = [line.split() for line in text.splitlines()]
    assert header == ["IMAGE", "linux/amd64", "linux/arm64"]
    assert (a, b) == (["a", mark, "-"], ["b", "-", mark])


def test_table_error_column_only_when_something_failed():
    ok = render_table([row("linux/amd64", ref="a")])
    failed = render_table([row("linux/amd64", ref="a"), row(ref="b", error="tag 'b' not found")])
    assert "ERROR" not in ok
    assert failed.splitlines()[0].split()[-1] == "ERROR"
    assert failed.splitlines()[2].split() == ["b", "tag", "'b'", "not", "found"]


def test_row_json_keys_are_the_contract():
    r = row("linux/arm64/v8", "linux/arm", ref="node:20")
    assert r.to_json() == {
        "reference": "node:20",
        "digest": None,
        "mediaType": None,
        "platforms": ["linux/arm64", "linux/arm/v7"],
        "error": None,
    }


# --- through the CLI, on the fixture layout --------------------------------------------------


def test_layout_rows_in_order_with_normalised_platforms(capsys):
    refs = [f"{F}:app", f"{F}:app-armv7", f"{F}:windows", f"{F}:nested", f"{F}:docker-list", f"{F}:no-platform"]
    code, out, err = run(capsys, "matrix", *refs, "--format", "json")
    doc = json.loads(out)
    assert (code, err) == (0, "")
    assert [r["reference"] for r in doc] == refs
    assert [r["platforms"] for r in doc] == [
        ["linux/amd64", "linux/arm64", "linux/arm/v7"],  # attestations left out, arm64/v8 normalised
        ["linux/arm/v7"],  # a single image: its config
        ["windows(10.0.17763.5576)/amd64", "windows(10.0.20348.2340)/amd64", "linux/amd64"],
        ["linux/amd64", "linux/arm64", "linux/s390x"],  # the nested index is read
        ["linux/amd64", "linux/arm64"],
        ["linux/amd64"],  # an entry without platform: its config
    ]
    assert doc[0]["digest"] == APP and doc[0]["mediaType"] == "application/vnd.oci.image.index.v1+json"


def test_failures_are_rows_and_stdout_stays_json(capsys):
    code, out, err = run(capsys, "matrix", f"{F}:app", f"{F}:nope", "Bad::Ref", f"{F}:app-amd64", "--format", "json")
    doc = json.loads(out)
    assert code == 1
    assert [r["error"] is None for r in doc] == [True, False, False, True]
    assert doc[1] == {"reference": f"{F}:nope", "digest": None, "mediaType": None, "platforms": [], "error": f"tag 'nope' not found in {F}"}
    assert "invalid reference 'Bad::Ref'" in doc[2]["error"]
    assert "2 of 4 images could not be read" in err


@pytest.mark.parametrize(
    "platforms, code, note",
    [
        (["linux/arm64"], 0, None),
        (["linux/arm/v8"], 0, None),  # listed nowhere, served by arm/v7 through Docker's fallback
        (["linux/arm/v7,linux/arm64"], 0, None),
        (["linux/amd64/v3"], 0, None),  # runs the amd64 image
        (["linux/arm/v6"], 1, f"{F}:app does not serve linux/arm/v6"),
        (["linux/s390x"], 1, f"{F}:app does not serve linux/s390x"),
    ],
)
def test_platform_requirement_uses_fallback_rules(capsys, platforms, code, note):
    args = [a for p in platforms for a in ("--platform", p)]
    got, out, err = run(capsys, "matrix", f"{F}:app", *args)
    assert got == code
    assert out.splitlines()[0].split()[0] == "IMAGE"
    if note:
        assert note in err
    else:
        assert err == ""


def test_single_image_platform_requirement(capsys):
    assert run(capsys, "matrix", f"{F}:app-armv7", "-p", "linux/arm/v8")[0] == 0
    assert run(capsys, "matrix", f"{F}:app-armv7", "-p", "linux/arm64")[0] == 0  # arm64 runs arm/v7
    assert run(capsys, "matrix", f"{F}:app-armv7", "-p", "linux/arm/v6")[0] == 1


def test_file_and_stdin(capsys, tmp_path, monkeypatch):
    listing = tmp_path / "images.txt"
    listing.write_text(f"# images\n{F}:app\n\n{F}:app-amd64  # amd64 only\n")
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{F}:docker-list\n"))
    code, out, _err = run(capsys, "matrix", f"{F}:windows", "--file", str(listing), "--format", "json")
    assert code == 0
    assert [r["reference"] for r in json.loads(out)] == [f"{F}:windows", f"{F}:app", f"{F}:app-amd64"]
    code, out, _err = run(capsys, "matrix", "--file", "-", "--format", "json")
    assert [r["reference"] for r in json.loads(out)] == [f"{F}:docker-list"]


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "matrix needs at least one REF"),
        (["--file", "/nonexistent/images.txt"], "cannot read --file"),
        ([f"{F}:app", "--platform", "linux/*"], "invalid platform"),
        ([f"{F}:app", "--format", "csv"], "invalid --format"),
    ],
)
def test_invalid_input_exits_2(capsys, args, message):
    code, out, err = run(capsys, "matrix", *args)
    assert (code, out) == (2, "")
    assert err.startswith("error: ") and message in err


@pytest.mark.parametrize("no_color, mark", [(None, "✓"), ("1", "x")])
def test_no_color_gives_ascii_marks(capsys, monkeypatch, no_color, mark):
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    code, out, _err = run(capsys, "matrix", f"{F}:app-amd64")
    assert code == 0
    assert out.splitlines()[1].split() == [f"{F}:app-amd64", mark]


# --- against the real registry -----------------------------------------------------------------


KINDS = ["app", "docker-list", "app-amd64"]  # an OCI index, a Docker list, a single image


@pytest.fixture(scope="module")
def many(registry) -> list[str]:
    """54 tags over three manifests in one repository."""
    tags = {f"t{i:02d}": KINDS[i % 3] for i in range(54)}
    seed(registry, "matrix/many", tags)
    return [f"{registry.host}/matrix/many:{t}" for t in tags]


def test_one_manifest_request_per_image(capsys, registry, many):
    registry.mark()
    code, out, _err = run(capsys, "matrix", *many, "--format", "json")
    reqs = registry.requests()
    doc = json.loads(out)
    assert code == 0
    manifest_gets = [p for m, p, _s in reqs if "/manifests/" in p]
    assert sorted(manifest_gets) == sorted(f"/v2/matrix/many/manifests/{r.rsplit(':', 1)[1]}" for r in many)
    assert all(m == "GET" for m, p, _s in reqs if "/manifests/" in p)
    singles = [r for r in doc if r["mediaType"].endswith("manifest.v1+json")]
    assert len(singles) == 18
    assert len([p for m, p, _s in reqs if "/blobs/" in p]) == len(singles)  # one config per single image
    assert [r["platforms"] for r in doc[:3]] == [["linux/amd64", "linux/arm64", "linux/arm/v7"], ["linux/amd64", "linux/arm64"], ["linux/amd64"]]


def test_registry_platform_check_costs_no_extra_request(capsys, registry, many):
    registry.mark()
    code, _out, err = run(capsys, "matrix", *many[:3], "--platform", "linux/arm64")
    reqs = [p for _m, p, _s in registry.requests() if "/manifests/" in p]
    assert code == 1
    assert len(reqs) == 3
    assert err.strip() == f"{many[2]} does not serve linux/arm64"


def test_registry_missing_tag_is_a_row(capsys, registry, many):
    missing = f"{registry.host}/matrix/many:nope"
    code, out, _err = run(capsys, "matrix", many[0], missing, many[1], "--format", "json")
    doc = json.loads(out)
    assert code == 1
    assert [r["reference"] for r in doc] == [many[0], missing, many[1]]
    assert doc[1]["error"] and "nope" in doc[1]["error"]
    assert doc[0]["error"] is None and doc[2]["error"] is None
