"""The report of a chaos run: one table, and a last line of JSON to compare runs by."""

from __future__ import annotations

import json
import textwrap

from common_py.chaos.experiments import Row

COLUMNS = ("experiment", "expected", "outcome", "lost", "duplicated", "seconds")


def summary(rows: list[Row]) -> dict:
    return {"experiments": len(rows), "passed": sum(r.passed for r in rows), "lost": sum(r.lost for r in rows),
            "duplicated": sum(r.duplicated for r in rows), "seconds": round(sum(r.seconds for r in rows))}


def _cells(row: Row) -> tuple[str, ...]:
    outcome = ("" if row.passed else "FAILED: ") + row.outcome
    return row.name, row.expected, outcome, str(row.lost), str(row.duplicated), f"{row.seconds:.0f}"


def table(rows: list[Row], width: int = 60) -> str:
    """A plain-text table; long cells wrap inside their column."""
    widths = [30, 34, width, 4, 10, 7]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths)), "  ".join("-" * w for w in widths)]
    for row in rows:
        wrapped = [textwrap.wrap(c, w) or [""] for c, w in zip(_cells(row), widths)]
        for i in range(max(len(w) for w in wrapped)):
            lines.append("  ".join((w[i] if i < len(w) else "").ljust(n) for w, n in zip(wrapped, widths)).rstrip())
    return "\n".join(lines)


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(row)) + " |")
    return "\n".join(lines)


def json_line(rows: list[Row]) -> str:
    return json.dumps(summary(rows))
