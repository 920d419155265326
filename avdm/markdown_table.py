"""Markdown tables and the numbers in their cells: the one formatter behind RESULTS.md (stage 6),
the benchmark's summary.md and the seed comparison (``avdm.bench.seed_spread``)."""
from __future__ import annotations

import math
import numbers
from typing import Iterable, List, Sequence

MISSING = "-"


def number(v, digits: int = 3, sign: bool = False, missing: str = MISSING) -> str:
    """``v`` with ``digits`` decimals (a leading ``+`` on positives when ``sign``); ``missing`` for
    anything that is not a finite number (None, NaN, inf, a bool, a string)."""
    if not isinstance(v, numbers.Real) or isinstance(v, bool) or not math.isfinite(v):
        return missing
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def row(cells: Iterable) -> str:
    """One table row; each cell as ``str`` gives it."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table(header: Sequence, rows: Iterable[Sequence] = ()) -> List[str]:
    """The lines of a table: the header, its rule, then one line per row (no blank line after)."""
    return [row(header), "|" + "---|" * len(header)] + [row(r) for r in rows]
