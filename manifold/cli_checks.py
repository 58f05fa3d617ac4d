"""The CI checks on the command line: ``verify``, ``matrix`` and ``pin``.

Registered on the typer ``app`` of ``cli.py`` when that module imports this one. The
work lives in ``verify.py``, ``matrix.py`` and ``pin.py``, imported inside each command so
that start-up stays cheap. Findings and rows are data (stdout); notes go to stderr.
"""

from __future__ import annotations

import os
import sys
from typing import List, Optional

import typer

from .cli import _format, _out, _state, app
from .errors import InvalidInputError

__all__ = ["matrix", "pin", "verify"]


def _platform_words(values: Optional[List[str]]) -> list[str]:
    """``-p linux/amd64,linux/arm64`` and repeated ``-p`` both work (a platform has no comma)."""
    return [w.strip() for v in values or [] for w in v.split(",") if w.strip()]


@app.command(
    epilog="""\b
Examples:
  manifold verify ghcr.io/org/app:1.2 --require linux/amd64,linux/arm64
  manifold verify oci:fixtures/layout:mislabelled --format json
"""
)
def verify(
    ctx: typer.Context,
    ref: str = typer.Argument(..., metavar="REF"),
    require: Optional[List[str]] = typer.Option(
        None, "--require", "-r", metavar="P", help="Platform that must be listed (normalised); repeatable or comma-separated."
    ),
    fmt: str = typer.Option("text", "--format", metavar="text|json", help="Output format."),
) -> None:
    """Check an index: children exist as described, platforms match their configs, no duplicates,
    no dangling attestations, required platforms present. Exit 0 clean, 1 with findings."""
    from .verify import run_verify

    st = _state(ctx)
    fmt = _format(fmt, ("text", "json"))
    report = run_verify(st.client, ref, _platform_words(require))
    if fmt == "json":
        from .render import json_text

        _out(json_text(report.to_json()))
    else:
        for finding in report.findings:
            _out(str(finding))
        _out(report.summary(st.client.repository(ref)))
    if not report.ok:
        raise typer.Exit(1)


def _ascii_only() -> bool:
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    return bool(os.environ.get("NO_COLOR")) or encoding != "utf8"


def _read_refs(path: str) -> list[str]:
    from .matrix import read_reference_lines

    if path == "-":
        return read_reference_lines(sys.stdin)
    try:
        with open(path, encoding="utf-8") as f:
            return read_reference_lines(f)
    except OSError as e:
        raise InvalidInputError(f"cannot read --file {path!r}: {e.strerror}") from None


@app.command(
    epilog="""\b
Examples:
  manifold matrix node:20 python:3.12 alpine:3.20
  manifold matrix --file images.txt --platform linux/arm64 --format json
  kubectl get pods -A -o jsonpath='{..image}' | xargs -n1 | sort -u | manifold matrix --file -
"""
)
def matrix(
    ctx: typer.Context,
    refs: Optional[List[str]] = typer.Argument(None, metavar="REF", help="Image references (or oci:PATH[:TAG])."),
    file: Optional[str] = typer.Option(None, "--file", "-f", metavar="F", help="References one per line ('#' comments; '-' = stdin)."),
    platform: Optional[List[str]] = typer.Option(
        None, "--platform", "-p", metavar="P", help="Each image must serve P (Docker's fallback rules); repeatable."
    ),
    fmt: str = typer.Option("table", "--format", metavar="table|json", help="Output format."),
) -> None:
    """Which platforms each image serves: rows are images, columns platforms."""
    from .matrix import matrix as build_matrix, render_table

    st = _state(ctx)
    fmt = _format(fmt, ("table", "json"))
    wanted = [st.client.platform(p) for p in _platform_words(platform)]
    items = list(refs or []) + (_read_refs(file) if file else [])
    if not items:
        raise InvalidInputError("matrix needs at least one REF (or --file F)")
    rows = build_matrix(st.client, items, wanted=wanted)
    if fmt == "json":
        from .render import json_text

        _out(json_text([r.to_json() for r in rows]))
    else:
        _out(render_table(rows, ascii_only=_ascii_only()))
    failed = [r for r in rows if r.error]
    for r in rows:
        if r.error and fmt == "json":
            st.note(f"{r.reference}: {r.error}")
        if r.missing:
            st.note(f"{r.reference} does not serve {', '.join(p.format_all() for p in r.missing)}")
    if failed:
        st.note(f"{len(failed)} of {len(rows)} images could not be read")
    if not all(r.ok for r in rows):
        raise typer.Exit(1)


@app.command(
    epilog="""\b
Examples:
  manifold pin Dockerfile compose.yaml k8s/deployment.yaml
  manifold pin --check Dockerfile      (exit 1 if a FROM is not pinned)
"""
)
def pin(
    ctx: typer.Context,
    files: List[str] = typer.Argument(..., metavar="FILE", help="Dockerfiles, compose files, Kubernetes manifests."),
    check: bool = typer.Option(False, "--check", help="Change nothing; exit 1 when a reference is not pinned."),
) -> None:
    """Rewrite image references (FROM, image:) to name:tag@sha256:<index digest>."""
    from .pin import pin_files

    st = _state(ctx)
    report = pin_files(st.client, files, check=check)
    for f in report.files:
        for occ in f.invalid:
            st.warn(f"{f.path}:{occ.line}: skipping {occ.text!r}: {occ.problem}")
    if check:
        for path, occ in report.unpinned:
            _out(f"{path}:{occ.line}: {occ.text} is not pinned")
        if report.unpinned:
            raise typer.Exit(1)
        return
    for c in report.changes:
        _out(f"{c.path}:{c.line}: {c.old} -> {c.new}")
    if not report.changes:
        count = sum(1 for f in report.files for o in f.occurrences if o.pinned)
        st.note(f"nothing to pin ({count} reference{'s' if count != 1 else ''} already pinned)")
