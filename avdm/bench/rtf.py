"""Benchmark 2: real-time factor per sampler and model size, on the CPU and, where there is one,
the GPU (``rtf.json``).

Every model of ``--rtf_models`` (a training config: an untrained model of that size, since the
cost of a network evaluation does not depend on the weights; or a trained model dir) enhances
one synthetic ``--rtf_seconds`` utterance (random lips and noise) with its decode config as it is
(``default``), with every sampler at ``--rtf_nfe`` NFE, and with ``pc`` at 60 NFE (SGMSE+).  All
of them are timed side by side in this one run: on the CPU with ``--threads`` threads, on the GPU
when torch sees one.  RTF = processing time / audio duration (the Decoder's own timing, lips,
STFT and inverse included), median of ``--repeat`` runs after a warm-up; a configuration whose one
run exceeds ``--rtf_budget_s / --repeat`` is timed once.  Target: the lite model's default
(``conf/decode_enhance.yaml``) RTF <= 0.5 on 2 CPU cores.  A model/device pair the Decoder cannot
run is recorded with its error (and shown as failed in the summary) rather than stopping the run.
"""
from __future__ import annotations

import logging
import statistics
from pathlib import Path
from typing import List

import numpy as np

from avdm import SAMPLES_PER_FRAME, VIDEO_FPS
from avdm.bench import evaluate, nfe
from avdm.bench.models import load_any
from avdm.bench.nfe_quality import base_conf
from avdm.bench.record import header

logger = logging.getLogger(__name__)

DEFAULT_MODELS = "conf/train_cond_lite.yaml,conf/train_cond_full.yaml"


def add_arguments(p) -> None:
    g = p.add_argument_group("rtf (benchmark 2)")
    g.add_argument("--rtf_models", default=DEFAULT_MODELS,
                   help="comma-separated training configs (untrained models of that size) or model dirs")
    g.add_argument("--rtf_nfe", type=int, default=8, help="NFE every sampler is timed at (pc also at 60)")
    g.add_argument("--rtf_seconds", type=float, default=3.0, help="length of the timed utterance")
    g.add_argument("--repeat", type=int, default=3, help="timed runs per configuration (median reported)")
    g.add_argument("--rtf_budget_s", type=float, default=60.0,
                   help="time one configuration may take; beyond it a single run is reported")


def synthetic_input(seconds: float, seed: int = 0):
    """``(lips uint8 (T, 96, 96), noisy float32, n_frames)`` of random content."""
    rng = np.random.default_rng(seed)
    n_frames = max(1, int(round(seconds * VIDEO_FPS)))
    lips = rng.integers(0, 256, (n_frames, 96, 96), dtype=np.uint8)
    noisy = (0.1 * rng.standard_normal(n_frames * SAMPLES_PER_FRAME)).astype(np.float32)
    return lips, noisy, n_frames


def configurations(decode: dict, samplers: List[str], nfe_target: int) -> List[dict]:
    """``default`` (the decode config as it is), every sampler at ``nfe_target``, pc at 60 NFE."""
    out = [{"name": "default", "sampler": decode.get("sampler"),
            "sampler_conf": dict(decode.get("sampler_conf") or {})}]
    for s in samplers:
        conf, _ = nfe.conf_for_nfe(s, nfe_target, base_conf(s, decode))
        out.append({"name": f"{s}@{nfe_target}", "sampler": s, "sampler_conf": conf})
    conf, _ = nfe.conf_for_nfe("pc", 60, base_conf("pc", decode))
    out.append({"name": "pc@60 (SGMSE+)", "sampler": "pc", "sampler_conf": conf})
    return out


def time_config(model, decode: dict, cfg: dict, inputs, device: str, repeat: int, budget_s: float) -> dict:
    lips, noisy, n_frames = inputs
    dec = evaluate.make_decoder(model, "enhance", decode, device, sampler=cfg["sampler"],
                                sampler_conf=cfg["sampler_conf"])
    lip = None if model.audio_only else lips
    rtfs, nfe_counted = [], None
    for i in range(max(1, repeat)):
        res = dec(lip, noisy, n_frames, seed=i)
        rtfs.append(res.rtf)
        nfe_counted = res.nfe
        if res.rtf * n_frames / VIDEO_FPS * repeat > budget_s:
            break
    med = statistics.median(rtfs)
    return {**cfg, "nfe": nfe_counted, "rtf": med, "rtf_min": min(rtfs), "runs": len(rtfs),
            "rtf_per_nfe": med / nfe_counted if nfe_counted else None}


def devices(no_gpu: bool) -> List[str]:
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() and not no_gpu else [])


def run(args, argv) -> dict:
    import torch

    from avdm.inference.decode_config import load_decode_config
    from avdm.fileio import require_files

    require_files(args.decode_enhance)
    decode = load_decode_config(args.decode_enhance)
    samplers = [s for s in args.samplers.split(",") if s and s != "posterior_nmf"]
    cfgs = configurations(decode, samplers, args.rtf_nfe)
    inputs = synthetic_input(args.rtf_seconds, args.seed)
    warm = synthetic_input(min(1.0, args.rtf_seconds), args.seed + 1)
    rec = header("rtf", argv, args.threads)
    rec.update(decode_config=str(args.decode_enhance), seconds=inputs[2] / VIDEO_FPS, threads=args.threads,
               note="Untrained models built from a training config are timed: the cost of a network "
                    "evaluation does not depend on the weights.", entries=[])
    for path in [m for m in args.rtf_models.split(",") if m]:
        name = Path(path).stem if path.endswith((".yaml", ".yml")) else Path(path).name
        for device in devices(args.no_gpu):
            entry = {"model": name, "source": path, "device": device,
                     "threads": torch.get_num_threads() if device == "cpu" else None}
            try:
                model, trained = load_any(path, device)
                entry.update(trained=trained, parameters=sum(p.numel() for p in model.net.parameters()),
                             audio_only=model.audio_only)
                time_config(model, decode, cfgs[0], warm, device, 1, float("inf"))  # warm-up
                entry["configs"] = [time_config(model, decode, c, inputs, device, args.repeat, args.rtf_budget_s)
                                    for c in cfgs]
            except (RuntimeError, ValueError, TypeError) as e:  # e.g. a device the decoder cannot use
                logger.error("rtf: %s on %s failed: %s", name, device, e)
                entry["error"] = f"{type(e).__name__}: {e}"
            rec["entries"].append(entry)
            for c in entry.get("configs", []):
                logger.info("rtf %s %s %s: NFE %s RTF %.3f", name, device, c["name"], c["nfe"], c["rtf"])
    rec["target_entry"] = _target_entry(rec["entries"])
    rec["ratios"] = _ratios(rec["entries"])
    return rec


def _default(entry: dict):
    return next((c for c in entry.get("configs", []) if c["name"] == "default"), None)


def _target_entry(entries: List[dict]):
    cpu = [e for e in entries if e["device"] == "cpu" and _default(e)]
    pick = next((e for e in cpu if "lite" in e["model"]), cpu[0] if cpu else None)
    if pick is None:
        return None
    d = _default(pick)
    return {"model": pick["model"], "device": "cpu", "threads": pick["threads"], "sampler": d["sampler"],
            "nfe": d["nfe"], "rtf": d["rtf"]}


def _ratios(entries: List[dict]) -> List[dict]:
    """Side-by-side ratios of this run: SGMSE+'s pc@60 over the default, per model and device."""
    out = []
    for e in entries:
        d = _default(e)
        pc = next((c for c in e.get("configs", []) if c["name"].startswith("pc@60")), None)
        if d and pc and d["rtf"] > 0:
            out.append({"model": e["model"], "device": e["device"], "pc60_over_default": pc["rtf"] / d["rtf"]})
    return out


def report_lines(rec: dict) -> List[str]:
    lines = []
    for e in rec["entries"]:
        if "error" in e:
            lines.append(f"  {e['model']} on {e['device']}: {e['error']}")
            continue
        row = ", ".join(f"{c['name']} {c['rtf']:.3f}" for c in e["configs"])
        lines.append(f"  {e['model']} on {e['device']} (threads {e['threads']}): RTF {row}")
    for r in rec["ratios"]:
        lines.append(f"  {r['model']} on {r['device']}: pc@60 takes {r['pc60_over_default']:.1f}x the default's time")
    return lines
