"""The start-up floor: a one-command typer app that imports httpx and returns.

    python bench/floor.py oci:fixtures/layout:app --platform linux/amd64

Any Python CLI built on typer that talks HTTP with httpx pays at least this much
before doing any work; ``bench/run.py`` compares ``manifold resolve`` on a local
``oci:`` layout with it (target: at most 25 ms more).

With ``--get URL`` it also makes one GET with an ``httpx.Client`` (which loads httpx's
transport, httpcore and h11, on first use): the floor for a command that reads one
manifest, which the benchmark times beside ``manifold inspect`` at each RTT.

With ``BENCH_FLOOR_LEAN=1`` in the environment the floor is what it would be in a clean
install of typer + httpx: here ``click`` and ``trio`` are installed for unrelated packages,
and ``import httpx`` / httpcore would load them (see below). The benchmark reports both.
"""

import os
import sys

if os.environ.get("BENCH_FLOOR_LEAN"):
    # what a clean install of typer + httpx gets. Without click, ``import httpx`` skips its optional
    # command-line client (httpx._main: click, rich, pygments); without trio, httpcore does not
    # import it. Both are installed here for unrelated packages. (anyio is httpx's own dependency: kept.)
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
    sys.modules["trio"] = None  # type: ignore[assignment]

import httpx  # noqa: E402,F401  (the import is the point)
import typer  # noqa: E402

app = typer.Typer(add_completion=False)


ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])  # fmt: skip


@app.command()
def main(
    ref: str,
    platform: list[str] = typer.Option([], "--platform", "-p"),
    get: str = typer.Option("", "--get", help="also GET this manifest URL (the request floor)"),
) -> None:
    """Parse the arguments and return; with ``--get``, make one plain-HTTP request first."""
    if get:
        with httpx.Client(verify=False) as client:  # plain HTTP on loopback: no CA bundle to load
            client.get(get, headers={"Accept": ACCEPT}).raise_for_status()


if __name__ == "__main__":
    app()
