"""Output formatting: plain lines, JSON, and tables (tabulate, imported only for tables)."""

from __future__ import annotations

import json
from typing import Any, Sequence

__all__ = ["json_text", "short_digest", "table"]


def json_text(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)


def short_digest(digest: str, n: int = 12) -> str:
    alg, _, hexpart = digest.partition(":")
    return f"{alg}:{hexpart[:n]}" if hexpart else digest


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt="plain", disable_numparse=True)
