"""Strict schema checks (pydantic) used by `verify`: every problem named by its JSON path."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from manifold import mediatypes as mt
from manifold.__main__ import main
from manifold.api import Client
from manifold.digest import Digest
from manifold.schema import validate_document

LAYOUT = Path(__file__).resolve().parent.parent / "fixtures" / "layout"
D = "sha256:" + "a" * 64


def desc(**kw):
    return {"mediaType": mt.OCI_MANIFEST, "digest": D, "size": 10, **kw}


def index(*entries, **kw):
    return json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": list(entries), **kw}).encode()


def test_fixtures_are_clean():
    for tag in ("app", "docker-list", "windows", "nested", "app-amd64", "docker-amd64"):
        with Client() as c:
            f = c.fetch(f"oci:{LAYOUT}:{tag}")[2]
        assert validate_document(f.data, f.media_type) == [], tag


@pytest.mark.parametrize(
    "doc, path, message",
    [
        (index(desc(size=-1)), "manifests[0].size", "greater than or equal to 0"),
        (index(desc(size="10")), "manifests[0].size", "integer"),
        (index(desc(digest="sha256:abc")), "manifests[0].digest", "64 hex characters"),
        (index(desc(digest="md5:" + "a" * 32)), "manifests[0].digest", "unsupported digest algorithm"),
        (index(desc(mediaType="not a type")), "manifests[0].mediaType", "type/subtype"),
        (index(desc(platform={"os": "linux"})), "manifests[0].platform.architecture", "Field required"),
        (index(desc(platform={"architecture": "", "os": "linux"})), "manifests[0].platform.architecture", "at least 1"),
        (index(desc(annotations={"a": 1})), "manifests[0].annotations.a", "string"),
        (index(desc(urls="http://x")), "manifests[0].urls", "list"),
        (index(desc(data="e30=", size=2)), "manifests[0]", "does not hash to digest"),
        (index(desc(data="!!", size=2)), "manifests[0]", "base64"),
        (index(schemaVersion=1), "schemaVersion", "2"),
        (json.dumps({"schemaVersion": 2, "mediaType": mt.DOCKER_LIST, "manifests": [desc()]}).encode(), "(document)", "must have a platform"),
        (
            json.dumps({"schemaVersion": 2, "config": {"mediaType": mt.OCI_EMPTY, "digest": D, "size": 2}, "layers": []}).encode(),
            "(document)",
            "artifactType is required",
        ),
        (b"[1, 2]", "(document)", "not a JSON object"),
        (b"{nope", "(document)", "not valid JSON"),
        (json.dumps({"schemaVersion": 2, "mediaType": "application/x-thing"}).encode(), "mediaType", "neither an index"),
    ],
)
def test_schema_problems_name_the_path(doc, path, message):
    problems = validate_document(doc)
    assert any(p == path and message in m for p, m in problems), problems


def test_data_field_that_matches_is_fine():
    raw = b"{}"
    d = desc(digest=str(Digest.of(raw)), size=2, data=base64.b64encode(raw).decode())
    assert validate_document(index(d)) == []


def test_verify_reports_schema_findings(tmp_path, capsys):
    layout = tmp_path / "layout"
    shutil.copytree(LAYOUT, layout)
    with Client() as c:
        st = c.open(c.parse(f"oci:{layout}"))
        amd = st.get_manifest("app-amd64")
        entry = {"mediaType": mt.OCI_MANIFEST, "digest": str(amd.digest), "size": amd.size, "platform": {"architecture": "amd64"}}
        st.put_manifest(index(entry), mt.OCI_INDEX, tag="odd")
    code = main(["verify", f"oci:{layout}:odd", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["ok"] is False
    assert [f["code"] for f in report["findings"]] == ["schema"]
    assert "manifests[0].platform.os: Field required" in report["findings"][0]["message"]


def test_resolve_path_never_imports_pydantic():
    code = (
        "import sys; from manifold.__main__ import main; "
        f"main(['resolve', 'oci:{LAYOUT}:app', '-p', 'linux/arm64']); "
        "print('pydantic' in sys.modules, 'tabulate' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False False"
