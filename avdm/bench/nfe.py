"""Network evaluations (NFE) as a budget: the sampler configuration spending at most a target NFE,
and the smallest NFE whose quality reaches a fraction of a reference.

Samplers count NFE differently (``nominal_nfe``): ``em``, ``dpm2m``, ``dpm3m`` and
``posterior_nmf`` make one per step, ``pc`` two (predictor + one corrector step), ``ode_heun``
``2 * steps - 1``.  :func:`conf_for_nfe` takes the most steps that stay within the target; where
even one step costs more (``pc`` at NFE 1) it drops the corrector.  The NFE a run really made is
the one :class:`avdm.sampling.CountingScore` counted (``Result.nfe``); benchmarks report that.
"""
from __future__ import annotations

import inspect
import math
from typing import Dict, Mapping, Optional, Tuple

import avdm.sampling  # noqa: F401  (registers the samplers)
from avdm.registry import SAMPLERS

NFE_LIST = (1, 2, 4, 8, 16, 30, 60)


def _nominal(key: str, conf: dict) -> int:
    return int(SAMPLERS.build(key, conf).nominal_nfe())


def conf_for_nfe(key: str, nfe: int, base: Optional[Mapping] = None) -> Tuple[dict, int]:
    """``(sampler_conf, nominal NFE)`` with the most ``steps`` whose NFE is at most ``nfe``.

    ``base`` supplies the other options (``t_eps``, ``snr`` ...); its ``steps`` is replaced.
    """
    if nfe < 1:
        raise ValueError(f"a target NFE must be >= 1, got {nfe}")
    base = {k: v for k, v in dict(base or {}).items() if k != "steps"}
    best = None
    lo, hi = 1, nfe  # nominal NFE grows with the steps: bisect for the largest steps within budget
    while lo <= hi:
        mid = (lo + hi) // 2
        n = _nominal(key, {**base, "steps": mid})
        if n <= nfe:
            best, lo = ({**base, "steps": mid}, n), mid + 1
        else:
            hi = mid - 1
    if best is None and "corrector_steps" in inspect.signature(SAMPLERS.get(key)).parameters:
        conf = {**base, "steps": 1, "corrector_steps": 0}  # the predictor alone
        n = _nominal(key, conf)
        if n <= nfe:
            best = (conf, n)
    if best is None:
        raise ValueError(f"sampler '{key}' cannot run within {nfe} NFE")
    return best


def smallest_nfe_reaching(curve: Mapping[int, float], reference: float, fraction: float = 0.97) -> Optional[int]:
    """The smallest NFE of ``curve`` (NFE -> quality) whose quality is at least ``fraction * reference``;
    None when no point reaches it (non-finite values never do)."""
    if reference is None or not math.isfinite(reference):
        return None
    need = fraction * reference
    ok = [n for n, v in curve.items() if v is not None and math.isfinite(v) and v >= need]
    return min(ok) if ok else None


def smallest_over_samplers(curves: Mapping[str, Mapping[int, float]], reference: float,
                           fraction: float = 0.97) -> Dict[str, Optional[int]]:
    """:func:`smallest_nfe_reaching` of every sampler's curve."""
    return {k: smallest_nfe_reaching(c, reference, fraction) for k, c in curves.items()}
