"""Entry point: ``manifold`` and ``python -m manifold``.

``--version`` is answered before typer (or anything else) is imported, so it costs
about as much as starting Python.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):
        from . import __version__

        sys.stdout.write(f"manifold {__version__}\n")
        return 0
    # Start-up: the CLI uses only httpx's sync client. httpcore probes for the async
    # back-ends at import time, and httpx imports its own command line (rich, pygments,
    # click) when those are installed; together ~100 ms per run for nothing. Marking
    # them unimportable in this process makes both fall back cleanly.
    for name in ("trio", "anyio", "httpx._main"):
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    from .cli import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
