"""Output formatting: plain lines, JSON, and tables.

``columns`` aligns plain ASCII columns with no dependency (``inspect``, on the
path the benchmarks time); ``table`` uses tabulate, imported only when called,
for tables whose cells may hold wide characters (``matrix``).
"""

from __future__ import annotations

import json
from typing import Any, Sequence

__all__ = ["columns", "json_text", "table"]


def json_text(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt="plain", disable_numparse=True)


def columns(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Left-aligned columns separated by two spaces (tabulate's ``plain`` layout)."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)
