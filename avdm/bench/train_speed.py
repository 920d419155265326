"""Benchmark 6: training steps/s and inference RTF per speed option, side by side (``train_speed.json``).

The model of ``--config`` is built once per variant, untrained and fed random inputs (the cost of a
step does not depend on the weights or the data), with the same initial weights:

* ``config``: the config as it is (its ``model_conf: precision``; on a GPU its ``use_amp``);
* ``fp32``: the same model in plain float32;
* every variant of ``--speed_variants``: ``+``-joined options, each one of ``fp32``/``bf16``
  (the model's precision, avdm.precision), ``channels_last`` (memory format of the networks),
  ``compile`` (``torch.compile`` of the score network and visual encoder; its compile time is
  recorded) and ``amp`` (espnet2's ``use_amp``: CUDA autocast with a gradient scaler, a no-op on
  the CPU as in espnet2's trainer).

Training: a batch of ``batch_size`` random crops of the config's ``segment_frames``; a step is
forward, backward, gradient clipping at ``grad_clip`` and the config's optimiser, as espnet2's
trainer does it.  After ``--warmup_steps`` steps each, ``--steps`` steps per variant are timed in
turn (one step of each variant, then the next round), so that load from other processes falls on
all of them alike; steps/s is one over the median step time.  Inference: the RTF of the config's
default decode (``--decode_enhance`` for a conditional model, ``--decode_generate`` for a prior)
on one random ``--infer_seconds`` utterance, the variants in turn, median of ``--infer_repeat``
(never compiled: compiling for inference is a separate graph).  On the CPU with ``--threads``
threads, and on the GPU where torch sees one (unless ``--no_gpu``).  Beside wall-clock times the
CPU time of the process is recorded (``CPU s``, ``CPU RTF``): with one thread it is what a step
costs on an idle core, a check on a machine that others load.  The output ends with
``speedup <ratio>``: the config's steps/s over float32's, on the first device timed.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import statistics
import time
from typing import Dict, List, Tuple

import torch
from tqdm import tqdm

from avdm import SAMPLES_PER_FRAME
from avdm.bench.record import header
from avdm.markdown_table import number
from avdm.precision import PRECISIONS, check_precision, device_has_bf16

logger = logging.getLogger(__name__)

OPTIONS = ("channels_last", "compile", "amp")  # besides a precision
DEFAULT_VARIANTS = "bf16"


def add_arguments(p) -> None:
    g = p.add_argument_group("train_speed (benchmark 6)")
    g.add_argument("--config", default="conf/train_cond_lite.yaml", help="the training config to time")
    g.add_argument("--steps", type=int, default=10, help="timed training steps per variant")
    g.add_argument("--warmup_steps", type=int, default=2, help="untimed steps per variant first")
    g.add_argument("--speed_variants", default=DEFAULT_VARIANTS,
                   help="variants besides 'config' and 'fp32', comma-separated, each options joined by '+' "
                        f"(a precision: {', '.join(PRECISIONS)}; {', '.join(OPTIONS)}); '' for none")
    g.add_argument("--infer_seconds", type=float, default=3.0, help="length of the decoded utterance")
    g.add_argument("--infer_repeat", type=int, default=5, help="decodes per variant (median; 0: no inference)")


# ---------------------------------------------------------------------------------------- variants
def parse_variant(spec: str, config_precision: str, config_amp: bool) -> dict:
    """``{"name", "precision", "channels_last", "compile", "amp"}`` of a variant spec such as
    ``bf16+channels_last``; ``config`` is the config's own settings, ``fp32`` plain float32."""
    if spec == "config":
        return {"name": "config", "precision": config_precision, "channels_last": False, "compile": False,
                "amp": config_amp}
    out = {"name": spec, "precision": "fp32", "channels_last": False, "compile": False, "amp": False}
    for opt in spec.split("+"):
        if opt in PRECISIONS:
            out["precision"] = opt
        elif opt in OPTIONS:
            out[opt] = True
        else:
            raise ValueError(f"train_speed: unknown option '{opt}' in variant '{spec}'; known: "
                             f"{', '.join([*PRECISIONS, *OPTIONS])}")
    return out


def variants_of(extra: str, config_precision: str, config_amp: bool) -> List[dict]:
    specs = ["config", "fp32"] + [s for s in extra.split(",") if s.strip()]
    seen, out = set(), []
    for s in (s.strip() for s in specs):
        if s not in seen:
            seen.add(s)
            out.append(parse_variant(s, config_precision, config_amp))
    return out


def effective_precision(v: dict, device: str) -> str:
    """The precision a variant really runs at on ``device`` (bf16 falls back to fp32 without support)."""
    return v["precision"] if v["precision"] == "fp32" or device_has_bf16(torch.device(device).type) else "fp32"


def amp_context(v: dict, device: str):
    """espnet2's ``use_amp`` autocast (CUDA only, bfloat16 where supported, else float16)."""
    if not (v["amp"] and device.startswith("cuda")):
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)


# ---------------------------------------------------------------------------------------- building
def build_variant(args, v: dict, device: str, seed: int):
    """``(model, optimiser, scaler)`` of variant ``v`` on ``device``, with the weights of ``seed``."""
    from espnet2.tasks.abs_task import optim_classes

    from avdm.task import AVDMTask

    a = copy.deepcopy(args)
    a.model_conf = {**(a.model_conf or {}), "precision": v["precision"]}
    torch.manual_seed(seed)
    model = AVDMTask.build_model(a).to(device)
    if v["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    optim_cls = optim_classes.get(a.optim)
    if optim_cls is None:
        raise ValueError(f"train_speed: unknown optim '{a.optim}'; known: {', '.join(optim_classes)}")
    opt = optim_cls(model.parameters(), **(a.optim_conf or {}))
    if v["compile"]:
        for k in ("score", "visual"):
            model.net[k] = torch.compile(model.net[k])
    use_scaler = v["amp"] and device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda") if use_scaler else None
    return model, opt, scaler


def random_batch(args, device: str, seed: int) -> Dict[str, torch.Tensor]:
    """A training batch of random content shaped as the config's preprocessor crops it."""
    pre = args.preprocessor_conf or {}
    frames, crop, B = int(pre.get("segment_frames", 25)), int(pre.get("lip_crop", 88)), int(args.batch_size)
    n = frames * SAMPLES_PER_FRAME
    g = torch.Generator().manual_seed(seed)
    speech = 0.1 * torch.randn(B, n, generator=g)
    batch = {"speech": speech, "speech_lengths": torch.full((B,), n),
             "lip": torch.randint(0, 256, (B, frames, crop, crop), generator=g).float(),
             "lip_lengths": torch.full((B,), frames)}
    if (args.model_conf or {}).get("mode", "prior") == "conditional":
        batch["speech_mix"] = speech + 0.1 * torch.randn(B, n, generator=g)
        batch["speech_mix_lengths"] = torch.full((B,), n)
    return {k: t.to(device) for k, t in batch.items()}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def train_step(model, opt, scaler, batch, v: dict, device: str, grad_clip: float) -> Tuple[float, float]:
    """One timed step as espnet2's trainer takes it: (wall seconds, CPU seconds of this process)."""
    _sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    with amp_context(v, device):
        loss, _, _ = model(**batch)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
    else:
        loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if scaler is not None:
        scaler.step(opt)
        scaler.update()
    else:
        opt.step()
    opt.zero_grad(set_to_none=True)
    _sync(device)
    return time.perf_counter() - t0, time.process_time() - c0


# ---------------------------------------------------------------------------------------- timing
def _stats(times: List[Tuple[float, float]]) -> dict:
    """Wall-clock statistics of the steps, and the median CPU time of this process per step: with one
    thread that is what the step costs on an idle core, whatever else the machine runs."""
    wall = [w for w, _ in times]
    med = statistics.median(wall)
    return {"steps": len(wall), "median_s": med, "min_s": min(wall), "max_s": max(wall), "steps_per_s": 1.0 / med,
            "cpu_median_s": statistics.median(c for _, c in times), "step_times_s": wall}


def time_training(args, variants: List[dict], device: str, steps: int, warmup: int, seed: int) -> List[dict]:
    batch = random_batch(args, device, seed)
    clip = float(getattr(args, "grad_clip", 0) or 0)
    built = []
    for v in variants:
        model, opt, scaler = build_variant(args, v, device, seed)
        t0 = time.perf_counter()
        first = [train_step(model, opt, scaler, batch, v, device, clip) for _ in range(max(1, warmup))]
        built.append((model, opt, scaler, {"warmup_s": time.perf_counter() - t0, "first_step_s": first[0][0]}))
    times = [[] for _ in variants]
    for _ in tqdm(range(steps), desc=f"train_speed {device}", unit="round", mininterval=5):  # one step of each
        for i, v in enumerate(variants):
            model, opt, scaler, _ = built[i]
            times[i].append(train_step(model, opt, scaler, batch, v, device, clip))
    return [{**v, "runs_at": effective_precision(v, device), **built[i][3], **_stats(times[i])}
            for i, v in enumerate(variants)]


def decode_job(args):
    """``(job, decode config path)`` of the config's model: enhance for a conditional model, else generate."""
    mode = (args.model_conf or {}).get("mode", "prior")
    return ("enhance", "decode_enhance") if mode == "conditional" else ("generate", "decode_generate")


def time_inference(args, variants: List[dict], device: str, decode: dict, job: str, seconds: float,
                   repeat: int, seed: int) -> List[dict]:
    from avdm.bench import evaluate
    from avdm.bench.rtf import synthetic_input

    lips, noisy, n_frames = synthetic_input(seconds, seed)
    decoders = []
    for v in variants:
        model, _, _ = build_variant(args, {**v, "compile": False}, device, seed)
        model.eval()
        dec = evaluate.make_decoder(model, job, decode, device)
        dec(None if model.audio_only else lips[:25], None if job == "generate" else noisy[:25 * SAMPLES_PER_FRAME],
            min(25, n_frames), seed=0)  # warm-up
        decoders.append(dec)
    rtfs, cpu, nfes = [[] for _ in variants], [[] for _ in variants], [0] * len(variants)
    for r in range(repeat):  # interleaved, as the training steps
        for i, dec in enumerate(decoders):
            c0 = time.process_time()
            res = dec(None if dec.model.audio_only else lips, None if job == "generate" else noisy, n_frames, seed=r)
            cpu[i].append((time.process_time() - c0) / seconds)
            rtfs[i].append(res.rtf)
            nfes[i] = res.nfe
    return [{"name": v["name"], "rtf": statistics.median(rtfs[i]), "rtf_min": min(rtfs[i]), "rtf_max": max(rtfs[i]),
             "rtf_cpu": statistics.median(cpu[i]), "runs": len(rtfs[i]), "nfe": nfes[i]} for i, v in enumerate(variants)]


def _check_steps(args) -> None:
    if args.steps < 1:
        raise ValueError(f"train_speed: --steps must be >= 1, got {args.steps}")
    if args.warmup_steps < 0 or args.infer_repeat < 0:
        raise ValueError("train_speed: --warmup_steps and --infer_repeat must be >= 0")


def run(args, argv) -> dict:
    from avdm.bench.models import config_args
    from avdm.bench.rtf import devices
    from avdm.inference.decode_config import load_decode_config
    from avdm.fileio import require_files

    _check_steps(args)
    require_files(args.config)
    targs = config_args(args.config)
    config_precision = check_precision((targs.model_conf or {}).get("precision", "fp32"))
    variants = variants_of(args.speed_variants, config_precision, bool(getattr(targs, "use_amp", False)))
    job, decode_key = decode_job(targs)
    decode_path = getattr(args, decode_key)
    if args.infer_repeat > 0:
        require_files(decode_path)
    pre = targs.preprocessor_conf or {}
    rec = header("train_speed", argv, args.threads)
    rec.update(config=str(args.config), batch_size=int(targs.batch_size),
               segment_seconds=int(pre.get("segment_frames", 25)) * SAMPLES_PER_FRAME / 16000,
               optim=targs.optim, steps=args.steps, warmup_steps=args.warmup_steps, decode_config=decode_path,
               job=job, infer_seconds=args.infer_seconds, threads=torch.get_num_threads(), entries=[],
               note="Untrained model, random inputs; variants timed in turn (one step each per round).")
    for device in devices(args.no_gpu):
        entry = {"device": device, "threads": torch.get_num_threads() if device == "cpu" else None,
                 "bf16_native": device_has_bf16(torch.device(device).type)}
        logger.info("train_speed: %s on %s, variants %s", args.config, device, ", ".join(v["name"] for v in variants))
        entry["train"] = time_training(targs, variants, device, args.steps, args.warmup_steps, args.seed)
        if args.infer_repeat > 0:
            decode = load_decode_config(decode_path)
            entry["infer"] = time_inference(targs, variants, device, decode, job, args.infer_seconds,
                                            args.infer_repeat, args.seed)
        entry["speedup"] = speedups(entry["train"])
        rec["entries"].append(entry)
    first = rec["entries"][0]
    rec["speedup"] = first["speedup"].get("config")
    rec["speedup_device"] = first["device"]
    return rec


def speedups(train: List[dict]) -> Dict[str, float]:
    """steps/s of every variant over float32's (same run)."""
    base = next(t for t in train if t["name"] == "fp32")["steps_per_s"]
    return {t["name"]: t["steps_per_s"] / base for t in train}


def report_lines(rec: dict) -> List[str]:
    lines = [f"  {rec['config']}: batch {rec['batch_size']} x {rec['segment_seconds']:g} s, {rec['optim']}, "
             f"{rec['steps']} timed steps per variant after {rec['warmup_steps']}, in turn; "
             f"{rec['job']} RTF of {rec['decode_config']} on {rec['infer_seconds']:g} s"]
    for e in rec["entries"]:
        infer = {r["name"]: r for r in e.get("infer", [])}
        where = f"{e['device']}" + (f", {e['threads']} thread(s)" if e["threads"] else "")
        lines.append(f"  {where}, native bf16: {'yes' if e['bf16_native'] else 'no'}")
        lines.append(f"  {'variant':<22} {'runs at':<7} {'steps/s':>7} {'s/step (min-max)':>20} {'CPU s':>6} "
                     f"{'x fp32':>6} {'RTF':>6} {'CPU RTF':>7}")
        for t in e["train"]:
            spread = f"{t['median_s']:.3f} ({t['min_s']:.2f}-{t['max_s']:.2f})"
            r = infer.get(t["name"]) or {}
            lines.append(f"  {t['name']:<22} {t['runs_at']:<7} {t['steps_per_s']:>7.3f} {spread:>20} "
                         f"{t['cpu_median_s']:>6.3f} {e['speedup'][t['name']]:>6.2f} {number(r.get('rtf')):>6} "
                         f"{number(r.get('rtf_cpu')):>7}")
    lines.append(f"speedup {rec['speedup']:.2f}")
    return lines
