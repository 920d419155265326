"""Benchmark 3: does the lip video help? (``visual.json``)

* **AV versus its audio-only twin** (``--cond_model`` / ``--cond_ao_model``, same config but
  ``visual_encoder: none``, same training budget: checked from their config files) enhancing the
  noisy sets of ``--data_dir``, grouped by SNR (``by_snr``: noise sets; ``talker``: competing-talker
  sets, ``<set>_snr<S>_talker``), with the decode config of both (``--decode_enhance``).
* **The right lips?** On the competing-talker sets the AV model also enhances each mixture with the
  lips of another utterance of the same speaker (``other_lips``): if it follows the lips, the true
  lips score higher.
* **Lip-to-speech with the true lips versus lips of another utterance** (``--prior_model`` on the
  clean ``--generate_data_dir``): utterance ``i`` gets the lips of utterance ``i + --lip_shift``,
  cut or padded to its length.  Target: ESTOI gap >= 0.15.  The audio-only prior
  (``--prior_ao_model``), when given, is a third row: speech with no lips at all.
* **Guidance scale sweep** of lip-to-speech over ``--guidance_list`` on ``--sweep_data_dir``: a
  development set (the recipe's ``dump/raw/dev``), so that reading the sweep never tunes the
  guidance on the test set.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List

from avdm.bench import evaluate
from avdm.data.condition import condition_of
from avdm.data.dumpset import load_set, same_speaker_lips, shifted_lips
from avdm.bench.models import load_any, load_with_decode
from avdm.bench.record import budget_of, header, same_budget
from avdm.bench.targets import snr_key

logger = logging.getLogger(__name__)


def add_arguments(p) -> None:
    g = p.add_argument_group("visual (benchmark 3)")
    g.add_argument("--generate_data_dir", default="", help="clean test dump for lip-to-speech (e.g. dump/raw/test)")
    g.add_argument("--sweep_data_dir", default="",
                   help="dump for the guidance sweep: a development set, not the test set (e.g. dump/raw/dev)")
    g.add_argument("--guidance_list", default="0,1,1.5,2,3", help="guidance scales of the sweep")
    g.add_argument("--lip_shift", type=int, default=1, help="utterance i gets the lips of utterance i + shift")


def _strip(r: dict) -> dict:
    return {k: v for k, v in r.items() if k != "per_utt"}


def av_versus_ao(args) -> dict:
    from avdm.inference.decode_config import load_decode_config

    decode = load_decode_config(args.decode_enhance)
    av, _ = load_any(args.cond_model, args.device)
    ao, _ = load_any(args.cond_ao_model, args.device)
    if av.mode != "conditional" or ao.mode != "conditional":
        raise ValueError("visual: --cond_model and --cond_ao_model must be conditional models")
    if av.audio_only or not ao.audio_only:
        raise ValueError("visual: --cond_model must use the lips and --cond_ao_model be its audio-only twin")
    groups: Dict[tuple, List[str]] = {}
    for d in [d for d in args.data_dir.split(",") if d]:
        cond = condition_of(d)
        if cond is None:
            raise ValueError(f"visual: {d} is a clean set: give noisy condition sets (stage 2 dumps)")
        group = "talker" if cond.interferer == "talker" else "by_snr"
        groups.setdefault((group, snr_key(cond.snr)), []).append(d)
    dec_av = evaluate.make_decoder(av, "enhance", decode, args.device)
    dec_ao = evaluate.make_decoder(ao, "enhance", decode, args.device)
    out = {"decode_config": str(args.decode_enhance), "decode": decode, "by_snr": {}}
    for (group, key), dirs in sorted(groups.items(), key=lambda kv: (kv[0][0], float(kv[0][1]))):
        sets = {Path(d).name: load_set(d, args.max_utts) for d in dirs}
        r_av = evaluate.over_sets(sets, lambda u, n: evaluate.run_decoder(dec_av, u, args.seed, desc=f"AV {n}"))
        r_ao = evaluate.over_sets(sets, lambda u, n: evaluate.run_decoder(dec_ao, u, args.seed, desc=f"AO {n}"))
        r_in = evaluate.over_sets(sets, lambda u, n: evaluate.score_inputs(u))
        delta = {m: r_av["all"][m] - r_ao["all"][m] for m in evaluate.METRICS}
        rec = {"sets": dirs, "av": r_av["all"], "ao": r_ao["all"], "noisy": r_in["all"],
               "delta": delta, "per_set": {"av": r_av["per_set"], "ao": r_ao["per_set"]}}
        if group == "talker":
            r_other = evaluate.over_sets(sets, lambda u, n: evaluate.run_decoder(
                dec_av, u, args.seed, lips=same_speaker_lips(u), desc=f"AV other lips {n}"))
            rec["other_lips"] = r_other["all"]
            rec["lips_gap"] = {m: r_av["all"][m] - r_other["all"][m] for m in evaluate.METRICS}
            logger.info("visual talker %s dB: true - other lips ESTOI %+.3f", key, rec["lips_gap"]["estoi"])
        out.setdefault(group, {})[key] = rec
        logger.info("visual %s %s dB: AV - AO PESQ %+.3f ESTOI %+.3f", group, key, delta["pesq_wb"], delta["estoi"])
    return out


def lip_to_speech(args, prior, decode: dict) -> dict:
    utts = load_set(args.generate_data_dir, args.max_utts, noisy=False)
    dec = evaluate.make_decoder(prior, "generate", decode, args.device)
    true = evaluate.run_decoder(dec, utts, args.seed, desc="lips: true")
    other = evaluate.run_decoder(dec, utts, args.seed, lips=shifted_lips(utts, args.lip_shift), desc="lips: other")
    out = {"data_dir": args.generate_data_dir, "n": len(utts), "shift": args.lip_shift,
           "guidance": decode.get("guidance"), "true_lips": _strip(true), "other_lips": _strip(other),
           "estoi_gap": true["estoi"] - other["estoi"], "pesq_gap": true["pesq_wb"] - other["pesq_wb"]}
    if args.prior_ao_model:
        ao, _ = load_any(args.prior_ao_model, args.device)
        out["audio_only_prior"] = _strip(evaluate.run_decoder(
            evaluate.make_decoder(ao, "generate", decode, args.device), utts, args.seed, desc="no lips"))
    logger.info("lip-to-speech: ESTOI true %.3f other %.3f (gap %+.3f)", true["estoi"], other["estoi"],
                out["estoi_gap"])
    return out


def guidance_sweep(args, prior, decode: dict) -> dict:
    utts = load_set(args.sweep_data_dir, args.max_utts, noisy=False)
    rows = []
    for g in [float(x) for x in args.guidance_list.split(",") if x]:
        dec = evaluate.make_decoder(prior, "generate", decode, args.device, guidance=g)
        rows.append({"guidance": g, **_strip(evaluate.run_decoder(dec, utts, args.seed, desc=f"guidance {g:g}"))})
    return {"data_dir": args.sweep_data_dir, "n": len(utts), "results": rows}


def run(args, argv) -> dict:
    from avdm.fileio import require_files

    rec = header("visual", argv, args.threads)
    rec["seed"] = args.seed
    parts = 0
    if args.cond_model and args.cond_ao_model and args.data_dir:
        require_files(args.decode_enhance)
        b_av, b_ao = budget_of(args.cond_model), budget_of(args.cond_ao_model)
        rec["budget"] = {"av": b_av, "ao": b_ao, "equal": same_budget(b_av, b_ao)}
        if not rec["budget"]["equal"]:
            logger.warning("visual: the AV model and its audio-only twin were trained with different budgets")
        rec["enhance"] = av_versus_ao(args)
        parts += 1
    if args.prior_model and (args.generate_data_dir or args.sweep_data_dir):
        prior, _, decode = load_with_decode(args.prior_model, args.decode_generate, args.device)
        if prior.mode != "prior" or prior.audio_only:
            raise ValueError("visual: --prior_model must be a lip-conditioned prior model (mode: prior, with lips)")
        rec["prior_budget"] = budget_of(args.prior_model)
        rec["decode_generate"] = decode
        if args.generate_data_dir:
            rec["lip_to_speech"] = lip_to_speech(args, prior, decode)
            parts += 1
        if args.sweep_data_dir:
            rec["guidance_sweep"] = guidance_sweep(args, prior, decode)
            parts += 1
    if not parts:
        raise ValueError("visual: nothing to measure: give --cond_model, --cond_ao_model and --data_dir "
                         "(AV versus audio-only), and/or --prior_model with --generate_data_dir or --sweep_data_dir")
    return rec


def report_lines(rec: dict) -> List[str]:
    lines = []
    for group, label in (("by_snr", "noise"), ("talker", "competing talker")):
        for key, r in (rec.get("enhance") or {}).get(group, {}).items():
            line = (f"  {label} {key} dB: PESQ AV {r['av']['pesq_wb']:.3f} AO {r['ao']['pesq_wb']:.3f} "
                    f"({r['delta']['pesq_wb']:+.3f}), ESTOI AV {r['av']['estoi']:.3f} AO {r['ao']['estoi']:.3f} "
                    f"({r['delta']['estoi']:+.3f})")
            if "lips_gap" in r:
                line += f", other lips ESTOI {r['other_lips']['estoi']:.3f} (true - other {r['lips_gap']['estoi']:+.3f})"
            lines.append(line)
    l2s = rec.get("lip_to_speech")
    if l2s:
        lines.append(f"  lip-to-speech ESTOI: true lips {l2s['true_lips']['estoi']:.3f}, other lips "
                     f"{l2s['other_lips']['estoi']:.3f} (gap {l2s['estoi_gap']:+.3f})")
    for r in (rec.get("guidance_sweep") or {}).get("results", []):
        lines.append(f"  guidance {r['guidance']:g}: ESTOI {r['estoi']:.3f} PESQ {r['pesq_wb']:.3f}")
    return lines
