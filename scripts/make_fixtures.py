#!/usr/bin/env python3
"""Write manifold's test fixtures: ``fixtures/layout/`` (an OCI image layout),
``fixtures/app.tar`` (an oci-archive) and ``fixtures/README.md``.

Usage::

    python scripts/make_fixtures.py [--out DIR]      # default: <repo>/fixtures

The output is deterministic: every run writes byte-identical files (fixed dates,
gzip ``mtime=0``, tar members with fixed metadata in sorted order), so the
committed fixtures can be checked against a fresh run. The script uses only the
standard library and writes every file itself, so a change to manifold cannot
change the fixtures.

Serialisation follows the tools that write such content:

* OCI manifests and indexes as buildx/buildkit: ``json.MarshalIndent`` with two
  spaces (``json.dumps(obj, indent=2)``), OCI field order, no trailing newline.
* Docker schema 2 manifests and the manifest list as Docker's distribution
  library (``docker push``, ``docker manifest push``): three-space indent and
  descriptors ordered ``mediaType, size, digest``.
* image configs as compact JSON (buildkit, containerd).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
IN_TOTO = "application/vnd.in-toto+json"
REF_NAME = "org.opencontainers.image.ref.name"

CREATED = "2024-01-01T00:00:00Z"
MTIME = 1704067200  # CREATED as a Unix time, for tar members
ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
PROVENANCE = "https://slsa.dev/provenance/v0.2"

REPO_ROOT = Path(__file__).resolve().parent.parent


# --- content ---------------------------------------------------------------


@dataclass
class Desc:
    """A descriptor and the bytes it describes."""

    media_type: str
    data: bytes
    platform: dict | None = None
    annotations: dict | None = None

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)

    def oci(self, *, platform: bool = True, annotations: dict | None = None) -> dict:
        """OCI descriptor field order: mediaType, digest, size, annotations, platform."""
        d: dict = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        ann = annotations if annotations is not None else self.annotations
        if ann:
            d["annotations"] = dict(sorted(ann.items()))
        if platform and self.platform is not None:
            d["platform"] = self.platform
        return d

    def docker(self, *, platform: bool = True) -> dict:
        """Docker distribution descriptor field order: mediaType, size, digest, platform."""
        d: dict = {"mediaType": self.media_type, "size": self.size, "digest": self.digest}
        if platform and self.platform is not None:
            d["platform"] = self.platform
        return d


@dataclass
class Layout:
    """Blobs by digest and the tagged entries of ``index.json``, in order."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    tags: list[tuple[str, Desc]] = field(default_factory=list)

    def add(self, *descs: Desc) -> None:
        for d in descs:
            self.blobs[d.digest] = d.data


def oci_json(obj: dict) -> bytes:
    return json.dumps(obj, indent=2).encode()


def docker_json(obj: dict) -> bytes:
    return json.dumps(obj, indent=3).encode()


def compact(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def platform_dict(os_: str, arch: str, variant: str = "", os_version: str = "") -> dict:
    """OCI platform field order: architecture, os, os.version, variant."""
    p = {"architecture": arch, "os": os_}
    if os_version:
        p["os.version"] = os_version
    if variant:
        p["variant"] = variant
    return p


def tar_bytes(files: dict[str, bytes]) -> bytes:
    """An uncompressed tar of ``files`` (and their parent directories), deterministic."""
    names: dict[str, bytes | None] = {}
    for path, data in files.items():
        parts = path.split("/")
        for i in range(1, len(parts)):
            names["/".join(parts[:i]) + "/"] = None
        names[path] = data
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in sorted(names):
            data = names[name]
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime, info.uid, info.gid, info.uname, info.gname = MTIME, 0, 0, "", ""
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def image(name: str, plat: dict, *, docker: bool = False) -> tuple[Desc, list[Desc]]:
    """An image manifest for ``plat`` with one tiny layer; returns (manifest, its blobs)."""
    text = f"{name} {'/'.join([plat['os'], plat['architecture']] + ([plat['variant']] if 'variant' in plat else []))}"
    if "os.version" in plat:
        text += f" {plat['os.version']}"
    raw = tar_bytes({"etc/manifold-fixture": (text + "\n").encode()})
    layer = Desc(DOCKER_LAYER if docker else OCI_LAYER_GZIP, gzip.compress(raw, compresslevel=9, mtime=0))
    diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    cfg: dict = {"created": CREATED, "architecture": plat["architecture"], "os": plat["os"]}
    if "os.version" in plat:
        cfg["os.version"] = plat["os.version"]
    if "variant" in plat:
        cfg["variant"] = plat["variant"]
    cfg["config"] = {"Env": ENV, "Cmd": ["/bin/sh"]}
    cfg["rootfs"] = {"type": "layers", "diff_ids": [diff_id]}
    cfg["history"] = [
        {
            "created": CREATED,
            "created_by": "COPY manifold-fixture /etc/manifold-fixture # buildkit",
            "comment": "buildkit.dockerfile.v0",
        }
    ]
    config = Desc(DOCKER_CONFIG if docker else OCI_CONFIG, compact(cfg))
    if docker:
        doc = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": config.docker(),
            "layers": [layer.docker()],
        }
        manifest = Desc(DOCKER_MANIFEST, docker_json(doc), platform=plat)
    else:
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.oci(),
            "layers": [layer.oci()],
        }
        manifest = Desc(OCI_MANIFEST, oci_json(doc), platform=plat)
    return manifest, [manifest, config, layer]


def attestation(subject: Desc) -> tuple[Desc, list[Desc]]:
    """A buildkit attestation manifest (SLSA provenance) for ``subject``, and its index entry."""
    plat = subject.platform or {}
    purl_platform = "%2F".join(
        [plat.get("os", ""), plat.get("architecture", "")] + ([plat["variant"]] if "variant" in plat else [])
    )
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": PROVENANCE,
        "subject": [
            {
                "name": f"pkg:docker/manifold/fixture@latest?platform={purl_platform}",
                "digest": {"sha256": subject.digest.split(":", 1)[1]},
            }
        ],
        "predicate": {"builder": {"id": ""}, "buildType": "https://mobyproject.org/buildkit@v1"},
    }
    layer = Desc(IN_TOTO, compact(statement), annotations={"in-toto.io/predicate-type": PROVENANCE})
    cfg = {
        "architecture": "unknown",
        "os": "unknown",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
    }
    config = Desc(OCI_CONFIG, compact(cfg))
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config.oci(), "layers": [layer.oci()]}
    manifest = Desc(
        OCI_MANIFEST,
        oci_json(doc),
        platform={"architecture": "unknown", "os": "unknown"},
        annotations={
            "vnd.docker.reference.digest": subject.digest,
            "vnd.docker.reference.type": "attestation-manifest",
        },
    )
    return manifest, [manifest, config, layer]


def oci_index(entries: list[dict]) -> Desc:
    return Desc(OCI_INDEX, oci_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}))


def docker_list(children: list[Desc]) -> Desc:
    doc = {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [c.docker() for c in children]}
    return Desc(DOCKER_LIST, docker_json(doc))


# --- the fixture set -----------------------------------------------------

#: tag -> what it is for (README.md is generated from this table)
PURPOSES: dict[str, str] = {
    "app-amd64": "OCI image manifest, config linux/amd64",
    "app-arm64": "OCI image manifest, config linux/arm64 variant v8",
    "app-armv7": "OCI image manifest, config linux/arm/v7",
    "app-ppc64le": "OCI image manifest, config linux/ppc64le",
    "app-amd64v3": "OCI image manifest, config linux/amd64 variant v3",
    "app-s390x": "OCI image manifest, config linux/s390x",
    "app": "OCI index as buildx pushes it: linux/amd64, linux/arm64/v8, linux/arm/v7, then attestation "
    "manifests (platform unknown/unknown, `vnd.docker.reference.*`) for amd64 and arm64",
    "app-buildx-amd64": "per-arch OCI index as `buildx build --push` by digest leaves it: "
    "the amd64 image and its attestation",
    "app-buildx-arm64": "per-arch OCI index: the arm64 image and its attestation",
    "docker-amd64": "Docker schema 2 manifest (Docker config and layer media types), linux/amd64",
    "docker-arm64": "Docker schema 2 manifest, linux/arm64/v8",
    "docker-list": "Docker manifest list of docker-amd64 and docker-arm64 (3-space indent, as `docker manifest push`)",
    "nested": "OCI index whose entries are a nested OCI index (amd64 + arm64 images, no platform on its "
    "descriptor) and the linux/s390x image",
    "windows": "OCI index: windows/amd64 os.version 10.0.17763.5576 and 10.0.20348.2340 (configs match), linux/amd64",
    "arm-variants": "OCI index: linux/arm/v5, linux/arm/v6, linux/arm/v7, "
    "linux/arm64 (no variant, config without variant)",
    "amd64-levels": "OCI index: linux/amd64 and linux/amd64/v3",
    "no-platform": "OCI index whose only entry is an image manifest descriptor without `platform` (config linux/amd64)",
    "mislabelled": "OCI index whose linux/arm64/v8 entry points at the amd64 image (for `verify`)",
}

ARCHIVE_TAGS = ["app", "app-amd64", "app-arm64", "app-armv7"]


def build() -> Layout:
    lay = Layout()

    def img(name: str, plat: dict, **kw: bool) -> Desc:
        m, blobs = image(name, plat, **kw)
        lay.add(*blobs)
        return m

    def att(subject: Desc) -> Desc:
        m, blobs = attestation(subject)
        lay.add(*blobs)
        return m

    def index(entries: list[dict]) -> Desc:
        d = oci_index(entries)
        lay.add(d)
        return d

    amd64 = img("app", platform_dict("linux", "amd64"))
    arm64 = img("app", platform_dict("linux", "arm64", "v8"))
    armv7 = img("app", platform_dict("linux", "arm", "v7"))
    ppc64le = img("app", platform_dict("linux", "ppc64le"))
    amd64v3 = img("app", platform_dict("linux", "amd64", "v3"))
    s390x = img("app", platform_dict("linux", "s390x"))
    armv5 = img("app", platform_dict("linux", "arm", "v5"))
    armv6 = img("app", platform_dict("linux", "arm", "v6"))
    arm64_bare = img("app", platform_dict("linux", "arm64"))
    ltsc2019 = img("app", platform_dict("windows", "amd64", os_version="10.0.17763.5576"))
    ltsc2022 = img("app", platform_dict("windows", "amd64", os_version="10.0.20348.2340"))
    d_amd64 = img("docker", platform_dict("linux", "amd64"), docker=True)
    d_arm64 = img("docker", platform_dict("linux", "arm64", "v8"), docker=True)
    att_amd64, att_arm64 = att(amd64), att(arm64)

    app = index([amd64.oci(), arm64.oci(), armv7.oci(), att_amd64.oci(), att_arm64.oci()])
    bx_amd64 = index([amd64.oci(), att_amd64.oci()])
    bx_arm64 = index([arm64.oci(), att_arm64.oci()])
    dlist = docker_list([d_amd64, d_arm64])
    lay.add(dlist)
    inner = index([amd64.oci(), arm64.oci()])
    nested = index([inner.oci(), s390x.oci()])
    windows = index([ltsc2019.oci(), ltsc2022.oci(), amd64.oci()])
    arm_variants = index([armv5.oci(), armv6.oci(), armv7.oci(), arm64_bare.oci()])
    levels = index([amd64.oci(), amd64v3.oci()])
    no_platform = index([amd64.oci(platform=False)])
    mislabelled = index([amd64.oci(), {**amd64.oci(), "platform": platform_dict("linux", "arm64", "v8")}])

    lay.tags = [
        ("app-amd64", amd64),
        ("app-arm64", arm64),
        ("app-armv7", armv7),
        ("app-ppc64le", ppc64le),
        ("app-amd64v3", amd64v3),
        ("app-s390x", s390x),
        ("app", app),
        ("app-buildx-amd64", bx_amd64),
        ("app-buildx-arm64", bx_arm64),
        ("docker-amd64", d_amd64),
        ("docker-arm64", d_arm64),
        ("docker-list", dlist),
        ("nested", nested),
        ("windows", windows),
        ("arm-variants", arm_variants),
        ("amd64-levels", levels),
        ("no-platform", no_platform),
        ("mislabelled", mislabelled),
    ]
    assert [t for t, _ in lay.tags] == list(PURPOSES), "PURPOSES must list every tag, in order"
    return lay


# --- writing -------------------------------------------------------------


def index_json(tags: list[tuple[str, Desc]]) -> bytes:
    """``index.json``: one descriptor per tag, annotated with its ref.name (as manifold writes it)."""
    entries = [d.oci(platform=False, annotations={REF_NAME: tag}) for tag, d in tags]
    return oci_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})


OCI_LAYOUT = compact({"imageLayoutVersion": "1.0.0"})


def reachable(lay: Layout, roots: list[Desc]) -> dict[str, bytes]:
    """Every blob reachable from ``roots`` (manifests, configs, layers, children)."""
    out: dict[str, bytes] = {}
    todo = [r.digest for r in roots]
    while todo:
        dg = todo.pop()
        if dg in out:
            continue
        data = out[dg] = lay.blobs[dg]
        try:
            doc = json.loads(data)
        except ValueError:
            continue
        if not isinstance(doc, dict) or doc.get("schemaVersion") != 2:
            continue
        for d in doc.get("manifests", []) + doc.get("layers", []) + [doc.get("config") or {}]:
            if d.get("digest"):
                todo.append(d["digest"])
    return out


def layout_files(blobs: dict[str, bytes], tags: list[tuple[str, Desc]]) -> dict[str, bytes]:
    files = {"oci-layout": OCI_LAYOUT, "index.json": index_json(tags)}
    for dg, data in blobs.items():
        alg, hexpart = dg.split(":", 1)
        files[f"blobs/{alg}/{hexpart}"] = data
    return files


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in sorted(files.items()):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def readme(lay: Layout) -> bytes:
    lines = [
        "# manifold test fixtures",
        "",
        "Generated by `python scripts/make_fixtures.py` (deterministic: a rerun gives byte-identical",
        "files, and `tests/test_fixtures.py` checks that the committed files match a fresh run).",
        "Do not edit by hand: change the script and rerun it.",
        "",
        "- `layout/`: an OCI image layout (`oci:fixtures/layout:TAG`).",
        f"- `app.tar`: an oci-archive (a tar of a layout, as `docker buildx build --output type=oci` "
        f"writes) holding the tags {', '.join(f'`{t}`' for t in ARCHIVE_TAGS)} and their blobs "
        "(`oci-archive:fixtures/app.tar:TAG`).",
        "",
        "Every image has a real image config (architecture, os, variant / os.version, `rootfs.diff_ids`,",
        f"`config.Env`, `config.Cmd`, created {CREATED}) and one gzip layer holding `/etc/manifold-fixture`",
        "with the image's platform. OCI documents are serialised as buildx writes them (2-space indent);",
        "Docker schema 2 documents as Docker's distribution library does (3-space indent).",
        "",
        "| tag | digest | what it is for |",
        "|---|---|---|",
    ]
    for tag, d in lay.tags:
        lines.append(f"| `{tag}` | `{d.digest[:19]}…` | {PURPOSES[tag]} |")
    lines.append("")
    return "\n".join(lines).encode()


def write(out: Path) -> None:
    lay = build()
    layout_dir = out / "layout"
    if layout_dir.exists():
        shutil.rmtree(layout_dir)
    write_tree(layout_dir, layout_files(lay.blobs, lay.tags))

    archive_tags = [(t, d) for t, d in lay.tags if t in ARCHIVE_TAGS]
    files = layout_files(reachable(lay, [d for _, d in archive_tags]), archive_tags)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".app.tar.tmp"
    tmp.write_bytes(tar_bytes(files))
    os.replace(tmp, out / "app.tar")
    (out / "README.md").write_bytes(readme(lay))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "fixtures", help="output directory")
    args = ap.parse_args(argv)
    write(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
