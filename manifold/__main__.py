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
    from .cli import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
