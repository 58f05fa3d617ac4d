"""`manifold verify`: the pure index checks, then the store checks against layouts and the real registry."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from helpers import run, seed
import manifold.cli_checks  # noqa: F401  (registers the commands before cli.py imports it)
from manifold import mediatypes as mt
from manifold.__main__ import main
from manifold.api import Client
from manifold.copy import Copier
from manifold.digest import Digest
from manifold.models import Descriptor, Index, dumps, parse_document
from manifold.platform import Platform
from manifold.verify import Finding, check_entries, satisfies

LAYOUT = Path(__file__).resolve().parent.parent / "fixtures" / "layout"
F = f"oci:{LAYOUT}"
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")


# --- helpers ----------------------------------------------------------------------


def plat(spec: str) -> Platform:
    """A platform as written in an index entry (not normalised): ``windows(10.0.17763)/amd64``."""
    m = re.match(r"^(\w+)(?:\(([^)]*)\))?/(.*)$", spec)
    assert m, spec
    os_name, osv, rest = m.groups()
    arch, _, variant = rest.partition("/")
    return Platform(os_name, arch, variant, osv or "")


def entry(spec: str | None, name: str, *, media_type: str = mt.OCI_MANIFEST, annotations=None) -> Descriptor:
    return Descriptor(media_type, Digest.of(name.encode()), 100, plat(spec) if spec else None, annotations or {})


def attestation(for_: Descriptor | str, name: str = "att") -> Descriptor:
    subject = str(for_.digest) if isinstance(for_, Descriptor) else for_
    ann = {mt.REF_TYPE_ANNOTATION: "attestation-manifest", mt.REF_DIGEST_ANNOTATION: subject}
    return Descriptor(mt.OCI_MANIFEST, Digest.of(name.encode()), 100, Platform("unknown", "unknown"), ann)


def index_of(*entries: Descriptor, media_type: str = mt.OCI_INDEX) -> Index:
    return Index(media_type, tuple(entries))


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]






def fixture_entries(tag: str) -> list[dict]:
    with Client() as c:
        fetched = c.open(c.parse(F)).get_manifest(tag)
    return json.loads(fetched.data)["manifests"]


def index_bytes(entries: list[dict], media_type: str = mt.OCI_INDEX) -> bytes:
    return dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": entries})


def push_index(ref_text: str, entries: list[dict], media_type: str = mt.OCI_INDEX) -> None:
    with Client() as c:
        ref = c.parse(ref_text)
        c.open(ref, create=True).put_manifest(index_bytes(entries, media_type), media_type, tag=ref.tag)


def layout_copy(tmp_path: Path) -> str:
    dst = tmp_path / "layout"
    shutil.copytree(LAYOUT, dst)
    return f"oci:{dst}"


# --- pure: check_entries ------------------------------------------------------------


@pytest.mark.parametrize(
    "specs, duplicated",
    [
        (("linux/arm64", "linux/arm64/v8"), "linux/arm64/v8"),
        (("linux/arm", "linux/arm/v7"), "linux/arm/v7"),
        (("linux/amd64", "linux/amd64/v1"), "linux/amd64/v1"),
        (("linux/aarch64", "linux/arm64"), "linux/arm64"),
        (("linux/amd64", "linux/amd64/v3"), None),
        (("linux/arm/v6", "linux/arm/v7"), None),
        (("windows(10.0.17763)/amd64", "windows(10.0.20348)/amd64"), None),
        (("windows(10.0.17763)/amd64", "windows(10.0.17763)/amd64"), "windows(10.0.17763)/amd64"),
    ],
)
def test_duplicate_platforms_are_equal_after_normalisation(specs, duplicated):
    entries = [entry(s, f"{i}") for i, s in enumerate(specs)]
    found = [f for f in check_entries(index_of(*entries)) if f.code == "duplicate-platform"]
    assert [f.platform for f in found] == ([duplicated] if duplicated else [])


def test_duplicate_finding_names_the_first_entry():
    a, b = entry("linux/arm64", "a"), entry("linux/arm64/v8", "b")
    [f] = check_entries(index_of(a, b))
    assert (f.severity, f.digest) == ("error", str(b.digest))
    assert str(a.digest) in f.message


def test_attestations_share_unknown_platform_without_being_duplicates():
    amd, arm = entry("linux/amd64", "amd"), entry("linux/arm64", "arm")
    assert check_entries(index_of(amd, arm, attestation(amd, "a1"), attestation(arm, "a2"))) == []


@pytest.mark.parametrize(
    "subject, expected",
    [
        ("image", []),
        ("sha256:" + "0" * 64, ["dangling-attestation"]),
        ("not-a-digest", ["dangling-attestation"]),
        ("", ["dangling-attestation"]),
        ("attestation", ["dangling-attestation"]),  # points at another attestation, not an image
    ],
)
def test_attestation_must_point_at_an_image_of_the_index(subject, expected):
    image = entry("linux/amd64", "img")
    other = attestation(image, "other")
    target = {"image": str(image.digest), "attestation": str(other.digest)}.get(subject, subject)
    att = attestation(target, "att")
    assert codes(check_entries(index_of(image, other, att))) == expected


@pytest.mark.parametrize(
    "listed, required, missing",
    [
        (("linux/amd64", "linux/arm64/v8"), ("linux/amd64", "linux/arm64"), []),
        (("linux/amd64", "linux/arm64"), ("linux/arm64/v8",), []),
        (("linux/arm/v7",), ("linux/arm",), []),
        (("linux/arm/v7",), ("linux/arm/v6",), ["linux/arm/v6"]),  # exact: no fallback
        (("linux/amd64/v3",), ("linux/amd64",), ["linux/amd64"]),
        (("linux/amd64",), ("linux/s390x", "linux/ppc64le"), ["linux/s390x", "linux/ppc64le"]),
        (("windows(10.0.20348)/amd64",), ("windows/amd64",), []),  # no os.version asked: any will do
        (("windows(10.0.20348)/amd64",), ("windows(10.0.17763)/amd64",), ["windows(10.0.17763)/amd64"]),
        (("linux/amd64",), ("linux/arm64", "linux/arm64/v8"), ["linux/arm64"]),  # asked twice, reported once
    ],
)
def test_required_platforms_must_be_listed(listed, required, missing):
    idx = index_of(*(entry(s, s) for s in listed))
    found = [f for f in check_entries(idx, [Platform.parse(r) for r in required]) if f.code == "missing-platform"]
    assert [f.platform for f in found] == missing


def test_an_attestation_does_not_satisfy_a_required_platform():
    amd = entry("linux/amd64", "amd")
    found = check_entries(index_of(amd, attestation(amd)), [Platform.parse("unknown/unknown")])
    assert codes(found) == ["missing-platform"]


def test_resolved_config_platform_satisfies_a_requirement_for_an_entry_without_platform():
    bare = entry(None, "bare")
    require = [Platform.parse("linux/arm64")]
    assert "missing-platform" in codes(check_entries(index_of(bare), require))
    resolved = {bare.digest: Platform("linux", "arm64", "v8")}
    assert codes(check_entries(index_of(bare), require, resolved=resolved)) == ["no-platform"]


@pytest.mark.parametrize(
    "index_type, child_type, expected",
    [
        (mt.OCI_INDEX, mt.OCI_INDEX, ["nested-index"]),
        (mt.DOCKER_LIST, mt.DOCKER_LIST, ["nested-index"]),
        (mt.DOCKER_LIST, mt.OCI_MANIFEST, ["docker-list-oci-child"]),
        (mt.DOCKER_LIST, mt.DOCKER_MANIFEST, []),
        (mt.OCI_INDEX, mt.DOCKER_MANIFEST, []),
    ],
)
def test_structure_checks(index_type, child_type, expected):
    idx = index_of(entry(None if mt.is_index(child_type) else "linux/amd64", "c", media_type=child_type), media_type=index_type)
    assert codes(check_entries(idx)) == expected


@pytest.mark.parametrize(
    "code, severity",
    [("no-platform", "warning"), ("docker-list-oci-child", "warning"), ("nested-index", "error")],
)
def test_severities(code, severity):
    idx = index_of(
        entry(None, "bare"),
        entry("linux/amd64", "oci", media_type=mt.OCI_MANIFEST),
        entry(None, "nested", media_type=mt.DOCKER_LIST),
        media_type=mt.DOCKER_LIST,
    )
    assert {f.code: f.severity for f in check_entries(idx)}[code] == severity


@pytest.mark.parametrize(
    "have, want, expected",
    [
        ("linux/arm64/v8", "linux/arm64", True),
        ("linux/arm/v7", "linux/arm", True),
        ("linux/arm/v6", "linux/arm", False),
        ("windows(10.0.20348)/amd64", "windows/amd64", True),
        ("windows/amd64", "windows(10.0.20348)/amd64", False),
    ],
)
def test_satisfies(have, want, expected):
    assert satisfies(plat(have), Platform.parse(want)) is expected


def test_finding_text_line():
    f = Finding("platform-mismatch", "error", "sha256:" + "a" * 64, "linux/arm64", "image config says linux/amd64")
    assert str(f) == f"platform-mismatch linux/arm64 sha256:{'a' * 64}: image config says linux/amd64"
    assert str(Finding("missing-platform", "error", None, "linux/s390x", "required")) == "missing-platform linux/s390x: required"


def test_finding_severity_is_validated():
    with pytest.raises(ValueError):
        Finding("x", "fatal", None, None, "m")


# --- through the CLI, on the fixture layout ------------------------------------------------


def test_clean_index_exits_0_with_an_ok_line(capsys):
    code, out, err = run(capsys, "verify", f"{F}:app", "--require", "linux/amd64,linux/arm64", "-r", "linux/arm/v7")
    assert (code, err) == (0, "")
    assert out == f"OK {F}@sha256:92deab99a10933e4563afa9f4f06d987e58aa139aebc7a709ffd2a5dea21aca1: 5 entries verified\n"


def test_mislabelled_entry_is_a_platform_mismatch(capsys):
    code, out, _err = run(capsys, "verify", f"{F}:mislabelled")
    lines = out.splitlines()
    assert code == 1
    amd64 = "sha256:f1c3b2c5abdd0b5ff577cd1b456ddd8e49ac867a0008ab79a6188fbb0f16d316"
    assert lines[0] == f"platform-mismatch linux/arm64/v8 {amd64}: image config says linux/amd64"
    assert lines[-1].startswith(f"FAIL {F}@sha256:6961946284176c812fc31ad551a37ea583433dbfc4f88b6bcb301e59bcc07516: 1 error")


def test_json_shape(capsys):
    code, out, _err = run(capsys, "verify", f"{F}:mislabelled", "--format", "json", "-r", "linux/s390x")
    doc = json.loads(out)
    assert code == 1
    assert list(doc) == ["reference", "digest", "mediaType", "ok", "findings"]
    assert (doc["reference"], doc["ok"], doc["mediaType"]) == (f"{F}:mislabelled", False, mt.OCI_INDEX)
    assert [f["code"] for f in doc["findings"]] == ["platform-mismatch", "missing-platform"]
    assert all(list(f) == ["code", "severity", "digest", "platform", "message"] for f in doc["findings"])


def test_nested_index_fails(capsys):
    code, out, _err = run(capsys, "verify", f"{F}:nested")
    assert code == 1
    assert out.startswith("nested-index sha256:0472b0209cf4")


@pytest.mark.parametrize("tag", ["docker-list", "windows", "arm-variants", "amd64-levels", "app-buildx-amd64"])
def test_well_formed_fixtures_are_clean(capsys, tag):
    code, out, _err = run(capsys, "verify", f"{F}:{tag}")
    assert code == 0, out
    assert out.startswith("OK ")


def test_entry_without_platform_is_a_warning_only(capsys):
    code, out, _err = run(capsys, "verify", f"{F}:no-platform", "-r", "linux/amd64")
    assert code == 0
    assert out.splitlines()[0].startswith("no-platform sha256:f1c3b2c5abdd")
    assert out.splitlines()[1].endswith("1 entry verified, 1 warning")


@pytest.mark.parametrize(
    "required, code",
    [((), 0), (("linux/amd64",), 0), (("amd64",), 0), (("linux/arm64",), 1), (("linux/amd64", "linux/arm/v7"), 1)],
)
def test_single_image_serves_only_its_own_platform(capsys, required, code):
    args = [a for p in required for a in ("--require", p)]
    got, out, _err = run(capsys, "verify", f"{F}:app-amd64", *args)
    assert got == code
    if code:
        assert "missing-platform" in out and "this single image serves only linux/amd64" in out
    else:
        assert out.endswith("image for linux/amd64 verified\n")


@pytest.mark.parametrize(
    "args, exit_code, message",
    [
        (["--require", "linux/*"], 2, "invalid platform"),
        (["--format", "yaml"], 2, "invalid --format"),
    ],
)
def test_invalid_input_exits_2(capsys, args, exit_code, message):
    code, out, err = run(capsys, "verify", f"{F}:app", *args)
    assert (code, out) == (exit_code, "")
    assert err.startswith("error: ") and message in err


def test_unknown_tag_exits_3(capsys):
    code, out, err = run(capsys, "verify", f"{F}:nope")
    assert (code, out) == (3, "")
    assert err.startswith("error: tag 'nope' not found")


# --- broken indexes in a layout (the registry would refuse some of them) -------------------


def test_missing_child_in_a_layout(capsys, tmp_path):
    ref = layout_copy(tmp_path)
    entries = fixture_entries("app")[:3]
    entries.append({"mediaType": mt.OCI_MANIFEST, "digest": "sha256:" + "e" * 64, "size": 10, "platform": {"architecture": "s390x", "os": "linux"}})
    push_index(f"{ref}:broken", entries)
    code, out, _err = run(capsys, "verify", f"{ref}:broken")
    assert code == 1
    assert out.splitlines()[0] == f"missing-child linux/s390x sha256:{'e' * 64}: not found in the store"


def test_size_and_media_type_mismatch(capsys, tmp_path):
    ref = layout_copy(tmp_path)
    entries = fixture_entries("app")[:2]
    entries[0]["size"] += 1
    entries[1]["mediaType"] = mt.DOCKER_MANIFEST
    push_index(f"{ref}:broken", entries)
    code, out, _err = run(capsys, "verify", f"{ref}:broken", "--format", "json")
    found = {(f["code"], f["digest"]) for f in json.loads(out)["findings"]}
    assert code == 1
    assert found == {("size-mismatch", entries[0]["digest"]), ("mediatype-mismatch", entries[1]["digest"])}


def test_missing_config_blob(capsys, tmp_path):
    ref = layout_copy(tmp_path)
    root = Path(ref[len("oci:") :])
    amd = fixture_entries("app")[0]
    config = json.loads((root / "blobs/sha256" / amd["digest"][7:]).read_bytes())["config"]["digest"]
    (root / "blobs/sha256" / config[7:]).unlink()
    code, out, _err = run(capsys, "verify", f"{ref}:app")
    assert code == 1
    assert out.splitlines()[0] == f"missing-config linux/amd64 {amd['digest']}: config blob {config} not found"


# --- against the real registry ----------------------------------------------------------------


def test_registry_index_verified_each_child_fetched_once(capsys, registry):
    seed(registry, "verify/app", "app")
    ref = f"{registry.host}/verify/app:app"
    registry.mark()
    code, out, _err = run(capsys, "verify", ref, "-r", "linux/amd64,linux/arm64")
    reqs = [(m, p) for m, p, _s in registry.requests() if p != "/v2/"]
    assert code == 0
    assert out == f"OK {registry.host}/verify/app@sha256:92deab99a10933e4563afa9f4f06d987e58aa139aebc7a709ffd2a5dea21aca1: 5 entries verified\n"
    manifests = [p.rsplit("/", 1)[1] for m, p in reqs if "/manifests/" in p]
    assert sorted(manifests) == sorted(["app", *(e["digest"] for e in fixture_entries("app"))])
    assert [m for m, p in reqs if "/manifests/sha256:" in p].count("HEAD") == 2  # the attestations
    assert len([p for m, p in reqs if "/blobs/" in p]) == 3  # one config per image


def test_registry_mislabelled_index(capsys, registry):
    seed(registry, "verify/mislabelled", "mislabelled")
    code, out, _err = run(capsys, "verify", f"{registry.host}/verify/mislabelled:mislabelled", "--format", "json")
    doc = json.loads(out)
    assert code == 1
    assert [(f["code"], f["platform"]) for f in doc["findings"]] == [("platform-mismatch", "linux/arm64/v8")]
    assert doc["findings"][0]["message"] == "image config says linux/amd64"


def test_registry_duplicate_platform_and_dangling_attestation(capsys, registry):
    seed(registry, "verify/broken", "app", "app-arm64")
    entries = fixture_entries("app")
    amd, arm, _armv7, att_amd, _att_arm = entries
    dup = dict(arm, platform={"architecture": "arm64", "os": "linux"})  # arm64 == arm64/v8
    att = dict(att_amd, annotations={**att_amd["annotations"], mt.REF_DIGEST_ANNOTATION: "sha256:" + "1" * 64})
    push_index(f"{registry.host}/verify/broken:bad", [amd, arm, dup, att])
    code, out, _err = run(capsys, "verify", f"{registry.host}/verify/broken:bad")
    lines = out.splitlines()
    assert code == 1
    assert lines[0].startswith(f"duplicate-platform linux/arm64 {arm['digest']}: linux/arm64 is already listed by {arm['digest']}")
    assert lines[1] == f"dangling-attestation unknown/unknown {att['digest']}: attestation for sha256:{'1' * 64}, which is not an image in this index"
    assert lines[2].startswith("FAIL ") and "2 errors in 4 entries" in lines[2]


def test_registry_missing_child_after_deletion(capsys, registry):
    """The registry refuses to store an index with an unknown child, so delete a child afterwards."""
    seed(registry, "verify/deleted", "app")
    arm = fixture_entries("app")[1]
    with Client() as c:
        c.open(c.parse(f"{registry.host}/verify/deleted")).delete_manifest(Digest.parse(arm["digest"]))
    code, out, _err = run(capsys, "verify", f"{registry.host}/verify/deleted:app", "--format", "json")
    doc = json.loads(out)
    assert code == 1
    assert [(f["code"], f["digest"], f["platform"]) for f in doc["findings"]] == [
        ("missing-child", arm["digest"], "linux/arm64/v8")
    ]


def test_empty_index_is_a_warning_not_a_failure():
    from manifold.models import Index
    from manifold.verify import WARNING, check_entries

    [finding] = check_entries(Index("application/vnd.oci.image.index.v1+json", ()))
    assert finding.code == "empty-index" and finding.severity == WARNING
