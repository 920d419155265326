"""Benchmark 1: NFE versus quality for every sampler (``nfe.json``).

The conditional (supervised AV) model enhances the noisy test sets with every sampler at every
target NFE (default 1, 2, 4, 8, 16, 30, 60; each target mapped to the sampler's steps by
:func:`avdm.bench.nfe.conf_for_nfe`, the NFE reported is the one counted).  PESQ-WB, ESTOI and
SI-SDR are pooled over all utterances of all sets (per-set means are kept too).  The reference
is ``pc`` at 60 NFE (SGMSE+'s sampler and budget); the result is the smallest NFE whose PESQ
reaches 97% of it, per sampler and over all samplers (target: <= 8).

``posterior_nmf`` (unsupervised enhancement with the prior model, ``--prior_model``) may be added
with ``--samplers``; its curve is reported but it does not count for the supervised target.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List

from avdm.bench import evaluate, nfe
from avdm.data.dumpset import load_set
from avdm.bench.models import load_with_decode
from avdm.bench.record import budget_of, header

logger = logging.getLogger(__name__)

SUPERVISED = ("em", "pc", "ode_heun", "dpm2m", "dpm3m")
REFERENCE = ("pc", 60)


def add_arguments(p) -> None:
    g = p.add_argument_group("nfe (benchmark 1)")
    g.add_argument("--samplers", default=",".join(SUPERVISED),
                   help="samplers to sweep (add posterior_nmf to include unsupervised enhancement with --prior_model)")
    g.add_argument("--nfe_list", default=",".join(str(n) for n in nfe.NFE_LIST), help="target NFEs")
    g.add_argument("--fraction", type=float, default=0.97, help="fraction of the reference PESQ to reach")


def base_conf(sampler: str, decode: dict) -> dict:
    """Options of ``sampler`` from the decode config: all of them for its own sampler, else only
    ``t_eps`` (every sampler integrates to the same end time)."""
    conf = dict(decode.get("sampler_conf") or {})
    if decode.get("sampler") == sampler:
        return conf
    return {"t_eps": conf["t_eps"]} if "t_eps" in conf else {}


def sweep(model, job: str, decode: dict, sampler: str, targets: List[int], sets: Dict[str, list],
          seed: int, device: str) -> List[dict]:
    """One point per distinct configuration: the targets it serves, the NFE counted, the scores."""
    points, by_conf = [], {}
    for target in targets:
        conf, nominal = nfe.conf_for_nfe(sampler, target, base_conf(sampler, decode))
        key = repr(sorted(conf.items()))
        if key in by_conf:  # e.g. ode_heun: targets 1 and 2 both give one step
            by_conf[key]["target_nfe"].append(target)
            continue
        dec = evaluate.make_decoder(model, job, decode, device, sampler=sampler, sampler_conf=conf)
        res = evaluate.over_sets(sets, lambda utts, name: evaluate.run_decoder(
            dec, utts, seed, desc=f"{sampler} NFE {nominal} {name}"))
        point = {"target_nfe": [target], "nfe": res["all"].get("nfe"), "nominal_nfe": nominal,
                 "sampler_conf": conf, "all": res["all"], "per_set": res["per_set"]}
        logger.info("%s NFE %s: PESQ %.3f ESTOI %.3f SI-SDR %.2f RTF %.3f", sampler, point["nfe"],
                    res["all"]["pesq_wb"], res["all"]["estoi"], res["all"]["sisdr"], res["all"].get("rtf", 0.0))
        by_conf[key] = point
        points.append(point)
    return points


def run(args, argv) -> dict:
    samplers = [s for s in args.samplers.split(",") if s]
    targets = sorted({int(n) for n in args.nfe_list.split(",") if n})
    if not args.cond_model:
        raise ValueError("nfe: --cond_model (a conditional model dir) is required")
    model, trained, decode = load_with_decode(args.cond_model, args.decode_enhance, args.device)
    if model.mode != "conditional":
        raise ValueError(f"nfe: {args.cond_model} is a {model.mode} model; --cond_model needs a conditional one")
    data_dirs = [d for d in args.data_dir.split(",") if d]
    sets = {Path(d).name: load_set(d, args.max_utts) for d in data_dirs}
    rec = header("nfe", argv, args.threads)
    rec.update(model=str(args.cond_model), trained=trained, budget=budget_of(args.cond_model) if trained else None,
               decode_config=str(args.decode_enhance), decode=decode, data_dirs=data_dirs,
               n_utts={k: len(v) for k, v in sets.items()}, metrics=list(evaluate.METRICS), fraction=args.fraction,
               seed=args.seed)
    noisy = evaluate.over_sets(sets, lambda utts, name: evaluate.score_inputs(utts))
    rec["noisy"] = {"all": noisy["all"], "per_set": noisy["per_set"]}
    curves = {}
    for sampler in samplers:
        if sampler == "posterior_nmf":
            curves[sampler] = _unsup_curve(args, targets, sets)
            continue
        curves[sampler] = sweep(model, "enhance", decode, sampler, targets, sets, args.seed, args.device)
    rec["curves"] = curves
    ref = next((p for p in curves.get(REFERENCE[0], []) if p["nfe"] == REFERENCE[1]), None)
    if ref is None:  # the reference is always measured, even when the sweep leaves it out
        ref = sweep(model, "enhance", decode, REFERENCE[0], [REFERENCE[1]], sets, args.seed, args.device)[0]
    rec["reference"] = {"sampler": REFERENCE[0], "nfe": ref["nfe"], "pesq_wb": ref["all"]["pesq_wb"],
                        "estoi": ref["all"]["estoi"], "sisdr": ref["all"]["sisdr"]}
    pesq_curves = {k: {p["nfe"]: p["all"]["pesq_wb"] for p in pts} for k, pts in curves.items()}
    smallest = nfe.smallest_over_samplers(pesq_curves, rec["reference"]["pesq_wb"], args.fraction)
    rec["smallest_nfe"] = smallest
    supervised = {k: v for k, v in smallest.items() if k != "posterior_nmf" and v is not None}
    rec["smallest_nfe_any"] = ({"sampler": min(supervised, key=supervised.get), "nfe": min(supervised.values())}
                               if supervised else {"sampler": None, "nfe": None})
    return rec


def _unsup_curve(args, targets, sets) -> List[dict]:
    if not args.prior_model:
        raise ValueError("nfe: posterior_nmf needs --prior_model (a prior model dir)")
    prior, _, decode = load_with_decode(args.prior_model, args.decode_enhance_unsup, args.device)
    return sweep(prior, "enhance_unsup", decode, "posterior_nmf", targets, sets, args.seed, args.device)


def report_lines(rec: dict) -> List[str]:
    ref = rec["reference"]
    lines = [f"reference: {ref['sampler']} at {ref['nfe']} NFE, PESQ {ref['pesq_wb']:.3f}; "
             f"noisy input PESQ {rec['noisy']['all']['pesq_wb']:.3f}"]
    for k, pts in rec["curves"].items():
        row = ", ".join(f"{p['nfe']}: {p['all']['pesq_wb']:.2f}" for p in pts)
        lines.append(f"  {k:9s} NFE: PESQ  {row}   (smallest reaching {rec['fraction']:.0%}: {rec['smallest_nfe'][k]})")
    return lines
