"""Decode utterances with an :class:`avdm.inference.jobs.Decoder` and score them against the clean
reference: per-utterance scores, means with 95% confidence intervals, the NFE counted and the RTF."""
from __future__ import annotations

import logging
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
from tqdm import tqdm

from avdm.data.dumpset import Utterance
from avdm.metrics import mean_ci, score_pair

logger = logging.getLogger(__name__)

METRICS = ("pesq_wb", "estoi", "sisdr")


def summarise(per_utt: Dict[str, dict], metrics: Sequence[str] = METRICS) -> dict:
    """Means (and 95% CI half-widths) of ``per_utt`` scores; mean RTF and the NFE range when present."""
    out = {"n": len(per_utt)}
    for m in metrics:
        mean, half, n = mean_ci(v.get(m) for v in per_utt.values())
        out[m], out[f"{m}_ci95"] = mean, half
    if per_utt and all("rtf" in v for v in per_utt.values()):
        out["rtf"] = float(np.mean([v["rtf"] for v in per_utt.values()]))
    if per_utt and all("nfe" in v for v in per_utt.values()):
        nfes = [v["nfe"] for v in per_utt.values()]
        out["nfe"], out["nfe_min"] = max(nfes), min(nfes)
    if per_utt and all("seconds" in v for v in per_utt.values()):
        out["seconds"] = float(np.sum([v["seconds"] for v in per_utt.values()]))
    return out


def score_inputs(utts: List[Utterance], metrics: Sequence[str] = METRICS) -> dict:
    """The noisy input as a system of its own (same layout as :func:`run_decoder`)."""
    per_utt = {u.utt: score_pair(u.clean, u.noisy, utt=u.utt, metrics=metrics) for u in utts}
    return {"per_utt": per_utt, **summarise(per_utt, metrics)}


def run_decoder(decoder, utts: List[Utterance], seed: int = 0, metrics: Sequence[str] = METRICS,
                lips: Optional[List[np.ndarray]] = None, desc: str = "decode") -> dict:
    """Decode every utterance (its own lips, or ``lips[i]`` when given) and score it.

    Returns ``{"per_utt": {utt: {metric..., nfe, rtf}}, **means}``.  The seed of an utterance is
    the one stage 4 gives it, so the numbers match ``./run.sh --stage 4`` for the same config.
    """
    from avdm.inference.decode_config import utt_seed

    use_lips = not decoder.model.audio_only
    per_utt = {}
    for i, u in enumerate(tqdm(utts, desc=desc, unit="utt", mininterval=5)):
        lip = (lips[i] if lips is not None else u.lips) if use_lips else None
        res = decoder(lip, None if decoder.job == "generate" else u.noisy, u.n_frames, seed=utt_seed(seed, u.utt))
        scores = score_pair(u.clean, res.wav, utt=u.utt, metrics=metrics)
        per_utt[u.utt] = {**scores, "nfe": int(res.nfe), "rtf": float(res.rtf)}
    return {"per_utt": per_utt, **summarise(per_utt, metrics)}


def make_decoder(model, job: str, decode: dict, device: str = "cpu", **override) -> "object":
    """A Decoder for ``decode`` (a decode config dict) with ``override`` applied
    (``sampler``, ``sampler_conf``, ``guidance``)."""
    from avdm.inference.jobs import DecodeConfig, Decoder

    conf = {**decode, **override}
    return Decoder(model, job, DecodeConfig.from_dict(conf), device)


def over_sets(sets: Dict[str, List[Utterance]], fn: Callable[[List[Utterance], str], dict]) -> dict:
    """``fn`` on every set, plus the pooled summary of all their utterances (``all``)."""
    per_set = {name: fn(utts, name) for name, utts in sets.items()}
    pooled = {}
    for name, r in per_set.items():
        pooled.update({f"{name}/{u}": v for u, v in r["per_utt"].items()})
    metrics = [m for m in METRICS if any(m in v for v in pooled.values())]
    return {"all": summarise(pooled, metrics), "per_set": {k: {kk: vv for kk, vv in v.items() if kk != "per_utt"}
                                                            for k, v in per_set.items()},
            "per_utt": pooled}
