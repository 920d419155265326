"""The targets of the benchmark issue, checked against the benchmark records.

Each check gives ``{"id", "target", "value", "status"}`` with status ``met``, ``missed`` or
``not measured`` (the record, or the part of it the target needs, is absent).
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional

from avdm.markdown_table import number

MET, MISSED, NOT_MEASURED = "met", "missed", "not measured"

NFE_MAX = 8                 # smallest NFE reaching 97% of the pc 60-NFE PESQ
RTF_MAX = 0.5               # lite default at its default NFE, 2 CPU cores
AV_GAIN_PESQ = 0.15         # AV minus audio-only twin at -5 dB
AV_GAIN_ESTOI = 0.05
LIP_GAP_ESTOI = 0.15        # lip-to-speech: true lips minus lips of another utterance
TALKER_GAIN_ESTOI = 0.10    # competing talker at 0 dB: AV minus audio-only twin
TALKER_LIPS_GAP_ESTOI = 0.05  # competing talker: true lips minus another utterance's lips (same speaker)
TALKER_SNR = 0.0
PEER_TIME_RATIO = 0.2       # avdm inference time / peer's
PEER_TIME_RATIO_60NFE = 0.02  # issue 26: the same against the peer at its default 60 NFE
LIP_FPS_MIN = 100.0         # issue 4: dlib68 lip ROI frames/s per core
TRAIN_SPEEDUP_MIN = 1.6     # issue 26: the config's training steps/s over float32's, CPU
RTF_DEFAULT_MAX = 0.05      # issue 26: the config's default decode, CPU
LOW_SNR = -5.0


def _get(d: Optional[dict], *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check(tid: str, target: str, value, ok: Callable[[float], bool], digits: int = 3, sign: bool = False) -> dict:
    if not _finite(value):
        return {"id": tid, "target": target, "value": None, "status": NOT_MEASURED}
    return {"id": tid, "target": target, "value": number(value, digits, sign), "status": MET if ok(value) else MISSED}


def snr_key(snr: float) -> str:
    return f"{snr:g}"


def check_all(records: Dict[str, Optional[dict]]) -> List[dict]:
    out = []
    nfe = records.get("nfe")
    best = _get(nfe, "smallest_nfe_any")
    item = {"id": "nfe", "target": f"smallest NFE reaching 97% of the pc 60-NFE PESQ <= {NFE_MAX}"}
    if nfe is None or _get(nfe, "reference", "pesq_wb") is None:
        item.update(value=None, status=NOT_MEASURED)
    elif not best or best.get("nfe") is None:
        item.update(value="no sampler reaches it", status=MISSED)
    else:
        item.update(value=f"{best['nfe']} ({best['sampler']})", status=MET if best["nfe"] <= NFE_MAX else MISSED)
    out.append(item)

    rtf = _get(records.get("rtf"), "target_entry", "rtf")
    out.append(_check("rtf", f"lite default at its default NFE: RTF <= {RTF_MAX} on the CPU", rtf,
                      lambda v: v <= RTF_MAX))

    vis = records.get("visual")
    low = _get(vis, "enhance", "by_snr", snr_key(LOW_SNR), "delta")
    out.append(_check("av_pesq", f"AV - audio-only at {LOW_SNR:g} dB: PESQ >= +{AV_GAIN_PESQ}",
                      _get(low, "pesq_wb"), lambda v: v >= AV_GAIN_PESQ, sign=True))
    out.append(_check("av_estoi", f"AV - audio-only at {LOW_SNR:g} dB: ESTOI >= +{AV_GAIN_ESTOI}",
                      _get(low, "estoi"), lambda v: v >= AV_GAIN_ESTOI, sign=True))
    talker = _get(vis, "enhance", "talker", snr_key(TALKER_SNR))
    out.append(_check("talker_estoi", f"competing talker {TALKER_SNR:g} dB: AV - audio-only ESTOI >= "
                      f"+{TALKER_GAIN_ESTOI}", _get(talker, "delta", "estoi"), lambda v: v >= TALKER_GAIN_ESTOI,
                      sign=True))
    out.append(_check("talker_lips", f"competing talker {TALKER_SNR:g} dB: true - other lips (same speaker) "
                      f"ESTOI >= +{TALKER_LIPS_GAP_ESTOI}", _get(talker, "lips_gap", "estoi"),
                      lambda v: v >= TALKER_LIPS_GAP_ESTOI, sign=True))
    out.append(_check("lip_gap", f"lip-to-speech, true lips - other lips: ESTOI >= +{LIP_GAP_ESTOI}",
                      _get(vis, "lip_to_speech", "estoi_gap"), lambda v: v >= LIP_GAP_ESTOI, sign=True))

    peer = records.get("peer")
    for metric, name in (("pesq_wb", "PESQ"), ("estoi", "ESTOI")):
        per_set = [_get(d, metric, "diff") for d in (_get(peer, "paired") or {}).values()]
        if per_set and all(_finite(v) for v in per_set):  # every test condition: the smallest lead counts
            diff, where = min(per_set), "in every test condition (smallest lead)"
        else:
            a, p = _get(peer, "results", "avdm", metric), _get(peer, "results", "peer", metric)
            diff, where = (a - p if _finite(a) and _finite(p) else None), "pooled"
        out.append(_check(f"peer_{metric}", f"avdm AV at its default NFE: {name} >= the peer's (SGMSE+), {where}",
                          diff, lambda v: v >= 0, sign=True))
    out.append(_check("peer_time", f"avdm inference time <= {PEER_TIME_RATIO:g} x the peer's",
                      _get(peer, "time_ratio"), lambda v: v <= PEER_TIME_RATIO))
    at_60 = _get(peer, "results", "peer", "nfe") == 60
    out.append(_check("peer_time_60nfe", f"avdm inference time <= {PEER_TIME_RATIO_60NFE:g} x the peer's at its "
                      "default 60 NFE (issue 26)", _get(peer, "time_ratio") if at_60 else None,
                      lambda v: v <= PEER_TIME_RATIO_60NFE, digits=4))

    fps = _get(records.get("throughput"), "lip", "detectors", "dlib68", "fps_per_core")
    out.append(_check("lip_fps", f"lip ROI extraction (dlib68) >= {LIP_FPS_MIN:g} frames/s per core (issue 4)",
                      fps, lambda v: v >= LIP_FPS_MIN, digits=1))

    speed = records.get("train_speed")
    cpu = next((e for e in (_get(speed, "entries") or []) if e.get("device") == "cpu"), None)
    out.append(_check("train_speedup", f"training steps/s, config over float32 on the CPU >= {TRAIN_SPEEDUP_MIN:g} "
                      "(issue 26)", _get(cpu, "speedup", "config"), lambda v: v >= TRAIN_SPEEDUP_MIN, digits=2))
    rtf_cfg = next((r.get("rtf") for r in (_get(cpu, "infer") or []) if r.get("name") == "config"), None)
    out.append(_check("rtf_default", f"inference RTF of the default decode on the CPU <= {RTF_DEFAULT_MAX:g} "
                      "(issue 26)", rtf_cfg, lambda v: v <= RTF_DEFAULT_MAX))
    return out
