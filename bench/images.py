"""Seed the benchmark registry with small, distinct per-platform images and indexes.

Every image is valid: an OCI manifest, an image config whose ``architecture``/``os``/
``variant`` give its platform, and one gzip tar layer holding ``/etc/bench-platform``
(plus, for the copy benchmark, one large uncompressed tar layer of random bytes,
which no registry or tool can compress away). Content is written with manifold's
own ``Store`` methods (``put_blob`` / ``put_manifest``) straight to the registry port.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from manifold.api import Client
from manifold.digest import Digest
from manifold.mediatypes import OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_LAYER_GZIP, OCI_MANIFEST

#: (os, architecture, variant, tag suffix): ten platforms, in the order indexes list them
PLATFORMS: list[tuple[str, str, str, str]] = [
    ("linux", "amd64", "", "amd64"),
    ("linux", "arm64", "v8", "arm64"),
    ("linux", "arm", "v7", "armv7"),
    ("linux", "arm", "v6", "armv6"),
    ("linux", "ppc64le", "", "ppc64le"),
    ("linux", "s390x", "", "s390x"),
    ("linux", "riscv64", "", "riscv64"),
    ("linux", "386", "", "386"),
    ("linux", "amd64", "v3", "amd64v3"),
    ("linux", "mips64le", "", "mips64le"),
]
MATRIX_INDEX_SIZES = range(2, 11)  # matrix tags point at indexes of 2..10 platforms
BIG_CHILDREN = 4  # platforms in each large index for the copy benchmark


@dataclass(frozen=True)
class Desc:
    media_type: str
    digest: str
    size: int
    platform: dict[str, str] | None = None

    def json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform:
            d["platform"] = self.platform
        return d


def platform_dict(os_: str, arch: str, variant: str) -> dict[str, str]:
    d = {"architecture": arch, "os": os_}
    if variant:
        d["variant"] = variant
    return d


def small_layer(text: str) -> tuple[bytes, str]:
    """A deterministic gzip tar with one file; returns (blob, diff_id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = text.encode()
        info = tarfile.TarInfo("etc/bench-platform")
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), "sha256:" + hashlib.sha256(tar_bytes).hexdigest()


def random_tar(path: Path, size: int) -> tuple[str, int]:
    """Write an uncompressed tar holding ``size`` random bytes; returns (digest, blob size)."""
    info = tarfile.TarInfo("random.bin")
    info.size, info.mtime, info.mode = size, 0, 0o644
    h = hashlib.sha256()
    total = 0
    with open(path, "wb") as f:

        def put(b: bytes) -> None:
            nonlocal total
            h.update(b)
            f.write(b)
            total += len(b)

        put(info.tobuf(format=tarfile.USTAR_FORMAT))
        left = size
        while left:
            n = min(left, 1 << 20)
            put(os.urandom(n))
            left -= n
        put(b"\0" * ((-size) % 512) + b"\0" * 1024)
    return "sha256:" + h.hexdigest(), total


def file_chunks(path: Path):
    def gen():
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk

    return gen


class Seeder:
    """Writes images into repositories of one registry (direct port, no proxy)."""

    def __init__(self, host: str, scratch: Path) -> None:
        self.host = host
        self.scratch = scratch
        self.client = Client()

    def close(self) -> None:
        self.client.close()

    def store(self, repo: str):
        return self.client.open(self.client.parse(f"{self.host}/{repo}:x"))

    def image(
        self, repo: str, plat: tuple[str, str, str, str], *, salt: str, big: int = 0, tag: str | None = None
    ) -> Desc:
        """Push one image (``big`` > 0 adds a random layer of that many bytes)."""
        st = self.store(repo)
        os_, arch, variant, _ = plat
        layers, diff_ids = [], []
        blob, diff_id = small_layer(f"{os_}/{arch}/{variant} {salt}\n")
        d = Digest.of(blob)
        st.put_blob(d, len(blob), [blob])
        layers.append({"mediaType": OCI_LAYER_GZIP, "digest": str(d), "size": len(blob)})
        diff_ids.append(diff_id)
        if big:
            path = self.scratch / f"big-{os.getpid()}.tar"
            digest, size = random_tar(path, big)
            st.put_blob(Digest.parse(digest), size, file_chunks(path))
            path.unlink()
            layers.append({"mediaType": OCI_LAYER, "digest": digest, "size": size})
            diff_ids.append(digest)
        config = {
            "created": "2024-01-01T00:00:00Z",
            **platform_dict(os_, arch, variant),
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                       "Cmd": ["/bin/sh"], "Labels": {"bench.salt": salt}},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }  # fmt: skip
        cfg = json.dumps(config, indent=2).encode()
        cd = Digest.of(cfg)
        st.put_blob(cd, len(cfg), [cfg])
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": str(cd), "size": len(cfg)},
            "layers": layers,
        }
        data = json.dumps(manifest, indent=2).encode()
        st.put_manifest(data, OCI_MANIFEST, tag=tag)
        return Desc(OCI_MANIFEST, str(Digest.of(data)), len(data), platform_dict(os_, arch, variant))

    def index(self, repo: str, children: list[Desc], tags: list[str]) -> Desc:
        st = self.store(repo)
        doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [c.json() for c in children]}
        data = json.dumps(doc, indent=2).encode()
        for t in tags or [None]:
            st.put_manifest(data, OCI_INDEX, tag=t)
        return Desc(OCI_INDEX, str(Digest.of(data)), len(data))


def populate(host: str, scratch: Path, *, matrix_tags: int, big_sizes: dict[str, int]) -> dict[str, Any]:
    """Everything the operations read. ``big_sizes``: tag → bytes of each child's random layer."""
    s = Seeder(host, scratch)
    try:
        app = [s.image("bench/app", p, salt="app", tag=f"v1-{p[3]}") for p in PLATFORMS]
        for p in PLATFORMS:
            s.image("bench/other", p, salt="other", tag=f"v1-{p[3]}")
        indexes = {k: s.index("bench/app", app[:k], [f"idx{k}"]) for k in MATRIX_INDEX_SIZES}
        ks = list(MATRIX_INDEX_SIZES)
        tags = [f"m{i:03d}" for i in range(matrix_tags)]
        for i, t in enumerate(tags):
            s.index("bench/app", app[: ks[i % len(ks)]], [t])
        big = {}
        for tag, layer in big_sizes.items():
            kids = [s.image("bench/big", p, salt=f"big-{tag}", big=layer) for p in PLATFORMS[:BIG_CHILDREN]]
            big[tag] = (s.index("bench/big", kids, [tag]), sum(layer for _ in kids))
        return {"indexes": indexes, "matrix_tags": tags, "big": big}
    finally:
        s.close()
