"""Helpers shared by the test modules: run the CLI in-process, seed a registry from the fixtures."""

from __future__ import annotations

from pathlib import Path

from manifold.__main__ import main
from manifold.api import Client
from manifold.copy import Copier

LAYOUT = Path(__file__).resolve().parent.parent / "fixtures" / "layout"
F = f"oci:{LAYOUT}"


def run(capsys, *args: str) -> tuple[int, str, str]:
    """``manifold ARGS`` in this process: (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def seed(registry, repo: str, *tags: str) -> None:
    """Copy fixture tags into ``registry``/``repo`` under the same tag names."""
    with Client() as c:
        src = c.open(c.parse(F))
        dst = c.open(c.parse(f"{registry.host}/{repo}"))
        with Copier(dst) as cp:
            for tag in tags:
                fetched = src.get_manifest(tag)
                cp.manifest(src, fetched.digest)
                dst.put_manifest(fetched.data, fetched.media_type, tag=tag)
