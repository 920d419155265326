"""The condition of a noisy set (SNR, interferer, clean base set), written once by stage 0 as data.

A condition set dir (``data/<set>``, copied by stage 2 into ``dump/raw/<set>``) holds ``base_set``
(the clean set it was mixed from) and ``condition``::

    interferer heldout      # seen | heldout (noise types) | talker (another speaker of the set)
    snr -5                  # dB

Every later step reads it with :func:`condition_of`; a set name says nothing.  A set without
``noisy.scp`` is a clean base set (no condition).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from avdm.fileio import atomic_open, read_kv

INTERFERERS = ("seen", "heldout", "talker")


@dataclass(frozen=True)
class Condition:
    base: str        # the clean set it was mixed from
    snr: float       # dB
    interferer: str  # one of INTERFERERS


def write_condition(set_dir, base: str, snr: float, interferer: str) -> None:
    """Record the condition of the set in ``set_dir`` (stage 0)."""
    if interferer not in INTERFERERS:
        raise ValueError(f"unknown interferer {interferer!r}; known: {', '.join(INTERFERERS)}")
    d = Path(set_dir)
    with atomic_open(d / "base_set") as f:
        f.write(base + "\n")
    with atomic_open(d / "condition") as f:
        f.write(f"interferer {interferer}\nsnr {snr:g}\n")


def condition_of(set_dir) -> Optional[Condition]:
    """The condition of the data or dump dir ``set_dir``; None for a clean set.

    A noisy set without the file (made before conditions were recorded) is an error that says to
    remake it; so is a missing dir."""
    d = Path(set_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: no such set (its condition is read from the set's dir; run stages 0-2)")
    if not (d / "condition").is_file():
        if (d / "noisy.scp").is_file():
            raise ValueError(f"{d} is a noisy set without a 'condition' file (it was made before conditions "
                             "were recorded): rerun stages 0-2 (./run.sh --stage 0 --stop_stage 2)")
        return None
    try:
        fields = read_kv(d / "condition")
        base = (d / "base_set").read_text().strip()
        cond = Condition(base, float(fields["snr"]), fields["interferer"])
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"{d}: unreadable condition ({type(e).__name__}: {e}): rerun stages 0-2") from None
    if cond.interferer not in INTERFERERS or not cond.base:
        raise ValueError(f"{d / 'condition'}: interferer {cond.interferer!r} (known: {', '.join(INTERFERERS)}), "
                         f"base set {cond.base!r}: rerun stages 0-2")
    return cond
