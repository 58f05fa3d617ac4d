"""The package surface: lazy public API, light imports, pure modules stay pure."""

from __future__ import annotations

import subprocess
import sys

from pathlib import Path

import pytest

import manifold

LAYOUT = Path(__file__).resolve().parent.parent / "fixtures" / "layout"

PURE = ["manifold.reference", "manifold.digest", "manifold.platform", "manifold.match", "manifold.models",
        "manifold.build", "manifold.resolve", "manifold.mediatypes", "manifold.errors"]
HEAVY = ("httpx", "typer", "pydantic", "tabulate")


def loaded_after(stmt: str) -> set[str]:
    code = f"import sys; {stmt}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


@pytest.mark.parametrize("name", sorted(manifold.__all__))
def test_every_exported_name_resolves(name):
    assert getattr(manifold, name) is not None


def test_all_is_sorted():
    assert manifold.__all__ == sorted(manifold.__all__)


def test_import_manifold_is_free():
    mods = loaded_after("import manifold")
    assert not {m for m in mods if m.startswith("manifold.")}
    assert not mods & set(HEAVY)


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_io_libraries(module):
    mods = loaded_after(f"import {module}")
    assert not mods & set(HEAVY), mods & set(HEAVY)
    assert "manifold.store.registry" not in mods and "manifold.host" not in mods


def test_layout_commands_never_load_httpx():
    mods = loaded_after(f"from manifold.api import Client; Client().resolve('oci:{LAYOUT}:app', ['linux/amd64'])")
    assert "httpx" not in mods and "pydantic" not in mods


def test_version_does_not_load_typer():
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "manifold", "--version"], capture_output=True, text=True)
    assert out.stdout.strip() == f"manifold {manifold.__version__}"
    assert "typer" not in out.stderr and "httpx" not in out.stderr
