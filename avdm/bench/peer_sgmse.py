"""Benchmark 4: the peer, side by side (``peer.json``).

The peer is espnet2's own SGMSE+: ``EnhancementTask`` with ``diffusion_model: sgmse``
(``espnet2.enh.diffusion.score_based_diffusion.ScoreModel``: NCSN++ scorer, OUVE process) and its
predictor-corrector sampler (reverse diffusion + annealed Langevin, 30 steps, snr 0.5: 60 NFE,
SGMSE+'s defaults).  ``avdm-bench peer``

1. writes a fixed noisy copy of the training and validation sets with avdm's mixing code
   (:mod:`avdm.bench.peer_data`: the training noise bank, the SNR range of the compared model's
   dynamic mixing, a fixed seed) under ``<peer_exp>/data``;
2. trains the peer (``--peer_config``, default ``conf/bench/peer_sgmse.yaml``) with espnet2's
   ``EnhancementTask`` (``python -m avdm.bench.espnet_enh_main``) and the budget of the compared
   avdm model (``--cond_model``'s ``config.yaml``: batch size, segment length, learning rate,
   gradient clipping, seed) with either its number of steps (``--peer_budget steps``) or its
   training wall-clock (``--peer_budget wall_clock``: as many peer steps as fit in the time the avdm
   model and its lip front-end took to train, :mod:`avdm.bench.peer_budget`); resumable, and
   skipped with ``--peer_skip_train`` (an already trained ``--peer_exp``);
3. enhances the utterances of ``--data_dir`` with the peer's PC sampler and with the avdm model at
   its default decode config, in the same process with the same threads (after one untimed run of
   each), and scores both: per set, the means and the paired avdm - peer difference with its 95%
   interval.  Inference time: the avdm Decoder's call (lips, STFT, sampler, inverse STFT) against
   the peer's STFT encoder, sampler and decoder.  The peer's scores are kept per utterance in
   ``<out>/peer_utts/<set>.json`` as they come, so an interrupted run resumes where it stopped
   (only for the same peer checkpoint, sampler, precision and seed); the time ratio counts only
   utterances both decoded in this run.

The peer runs its score network at the compared avdm model's precision (``model_conf:
precision``; ``--peer_precision`` overrides it), in training and decoding alike
(:mod:`avdm.bench.peer_precision`).

The peer's inference normalises the waveform the way its training does (``model_conf:
normalize``: divided by 1.1 x the mixture's peak, multiplied back after), then runs
``ScoreModel.enhance`` between espnet2's STFT encoder and decoder.  (espnet2's own
``ESPnetDiffusionModel.enhance`` normalises the compressed spectrogram instead, which does not
match its training; that path is not used here.)  espnet2's port trains without the exponential
moving average of the weights that the SGMSE+ paper uses (avdm's models keep one): the peer is
espnet2's SGMSE+ as it is.
"""
from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from avdm import SAMPLES_PER_FRAME, VIDEO_FPS
from avdm.bench import evaluate
from avdm.data.dumpset import DumpSet, load_set
from avdm.bench.record import budget_of, header
from avdm.fileio import atomic_open

logger = logging.getLogger(__name__)

PEER_SAMPLER = {"sampler_type": "pc", "predictor": "reverse_diffusion", "corrector": "ald", "N": 30,
                "corrector_steps": 1, "snr": 0.5}
ESPNET_SEGMENT_UNIT = 16000  # espnet2's EnhPreprocessor crops whole seconds (speech_segment // fs * fs)


class PeerUnavailable(RuntimeError):
    """This espnet2 lacks what the peer needs (the message says what)."""


def add_arguments(p) -> None:
    g = p.add_argument_group("peer (benchmark 4)")
    g.add_argument("--peer_config", default="conf/bench/peer_sgmse.yaml", help="espnet2 EnhancementTask config")
    g.add_argument("--peer_exp", default="exp/peer_sgmse", help="the peer's experiment dir")
    g.add_argument("--peer_skip_train", action="store_true", help="use --peer_exp as it is (no training)")
    g.add_argument("--peer_max_utts", type=int, default=None,
                   help="utterances per set for the peer (default --max_utts)")
    g.add_argument("--peer_steps", type=int, default=PEER_SAMPLER["N"],
                   help="steps of the peer's PC sampler (2 NFE each; SGMSE+: 30)")
    g.add_argument("--peer_budget", default="steps", choices=("steps", "wall_clock"),
                   help="the peer's training: the avdm model's number of steps, or as many as fit in its "
                        "training wall-clock (its lip front-end's included)")
    g.add_argument("--peer_precision", default="",
                   help="fp32 or bf16 for the peer's score network (default: the avdm model's precision)")
    g.add_argument("--dump_dir", default="dump/raw", help="stage-2 dumps (training data of the peer)")
    g.add_argument("--train_set", default="train")
    g.add_argument("--valid_set", default="dev")
    g.add_argument("--noise_set", default="noise_train", help="dump dir of the training noise bank")
    g.add_argument("--ngpu", type=int, default=0, help="GPUs for the peer's training")


def peer_unavailable() -> Optional[str]:
    """None when this espnet2 has SGMSE+ in its EnhancementTask, else the reason why not."""
    try:
        import espnet2
        from avdm.logging_setup import quiet_offline_noise

        quiet_offline_noise(g2p=True)
        from espnet2.tasks.enh import EnhancementTask
    except ImportError as e:
        return f"espnet2 cannot be imported ({e})"
    version = getattr(espnet2, "__version__", None) or _espnet_version()
    choices = [c for c in EnhancementTask.class_choices_list if c.name == "diffusion_model"]
    if not choices or "sgmse" not in choices[0].classes:
        return (f"espnet {version}: EnhancementTask has no 'diffusion_model: sgmse' choice "
                "(espnet2.enh.diffusion.score_based_diffusion.ScoreModel); the peer benchmark needs an "
                "espnet that ships SGMSE+")
    return None


def _espnet_version() -> str:
    try:
        from importlib.metadata import version

        return version("espnet")
    except Exception:  # metadata missing: not fatal, only for the message
        return "(unknown version)"


def espnet_segment(samples: int) -> int:
    """The crop espnet2's EnhPreprocessor makes of a ``samples``-long segment (whole seconds)."""
    return samples // ESPNET_SEGMENT_UNIT * ESPNET_SEGMENT_UNIT


def budget_overrides(avdm_config: dict) -> List[str]:
    """espnet2 options giving the peer the training budget of an avdm model config."""
    out = []
    for key in ("max_epoch", "num_iters_per_epoch", "batch_size", "grad_clip", "seed", "optim"):
        if avdm_config.get(key) is not None:
            out += [f"--{key}", str(avdm_config[key])]
    lr = (avdm_config.get("optim_conf") or {}).get("lr")
    if lr is not None:
        out += ["--optim_conf", f"lr={lr}"]
    frames = (avdm_config.get("preprocessor_conf") or {}).get("segment_frames")
    if frames:
        samples = int(frames) * SAMPLES_PER_FRAME
        effective = espnet_segment(samples)
        if effective == 0:
            raise ValueError(f"the avdm model trains on {samples}-sample segments; espnet2's EnhPreprocessor crops "
                             f"whole seconds, so the peer cannot train on segments shorter than {ESPNET_SEGMENT_UNIT}")
        if effective != samples:
            logger.warning("peer: espnet2 crops whole seconds: %d-sample segments instead of avdm's %d",
                           effective, samples)
        out += ["--preprocessor_conf", f"speech_segment={samples}"]
    return out


def train(args, avdm_config: dict, precision: str = "fp32", extra: Sequence[str] = ()) -> Path:
    """Noisy copies of the training and validation sets, their shape files, then espnet2 training.

    The shape files espnet2's batch samplers read are the ``utt2num_samples`` of the copies (as in
    stage 3): no collect-stats pass, whose statistics SGMSE+ does not use.
    """
    from avdm.bench.peer_data import write_noisy_copy
    from avdm.launch import run_logged
    from avdm.fileio import read_kv, require_files, write_kv

    require_files(args.peer_config)
    exp, dump = Path(args.peer_exp), Path(args.dump_dir)
    noise = dump / args.noise_set / "wav.scp"
    snr_range = (avdm_config.get("preprocessor_conf") or {}).get("snr_range", (-5.0, 10.0))
    tr = write_noisy_copy(dump / args.train_set, noise, exp / "data" / "train", snr_range, seed=0)
    va = write_noisy_copy(dump / args.valid_set, noise, exp / "data" / "valid", snr_range, seed=1)
    py = [sys.executable, "-m", "avdm.bench.espnet_enh_main", "--config", str(args.peer_config),
          "--ngpu", str(args.ngpu), "--avdm_precision", precision]
    stats = exp / "stats"
    for split, d in (("train", tr), ("valid", va)):
        write_kv(stats / split / "speech_mix_shape", read_kv(d / "utt2num_samples"))
    cmd = py + ["--output_dir", str(exp), "--resume", "true",
                "--train_shape_file", str(stats / "train" / "speech_mix_shape"),
                "--valid_shape_file", str(stats / "valid" / "speech_mix_shape")]
    for d, prefix in ((tr, "train"), (va, "valid")):
        cmd += DumpSet(d).espnet_args(prefix, (("noisy.scp", "speech_mix", "sound"),
                                               ("wav.scp", "speech_ref1", "sound")))
    cmd += budget_overrides(avdm_config) + list(extra)  # later options win: the wall-clock step count
    logger.info("peer: training %s -> %s (log: %s)", args.peer_config, exp, exp / "train.log")
    if run_logged(cmd, exp / "train.log") != 0:
        raise RuntimeError(f"peer training failed; see {exp / 'train.log'}")
    return exp


class PeerEnhancer:
    """The trained peer with its PC sampler; ``(wav, nfe, seconds)`` per noisy waveform."""

    def __init__(self, exp_dir, device: str = "cpu", sampler: Optional[dict] = None, precision: str = "fp32"):
        from espnet2.tasks.enh import EnhancementTask

        from avdm.bench.peer_precision import score_network_at
        from avdm.inference.model_io import inference_model_file

        exp = Path(exp_dir)
        self.checkpoint = inference_model_file(exp)
        self.model, _ = EnhancementTask.build_model_from_file(str(exp / "config.yaml"), str(self.checkpoint), device)
        self.model.eval()
        score_network_at(self.model, precision)
        self.precision = precision
        self.device = device
        self.sampler = dict(sampler or PEER_SAMPLER)
        self.nfe = 0
        diffusion = self.model.diffusion
        score_fn = diffusion.score_fn

        def counting(x, t, y):
            self.nfe += 1
            return score_fn(x, t, y)

        diffusion.score_fn = counting  # the sampler looks it up on the instance: every call is counted

    def __call__(self, noisy: np.ndarray, seed: int = 0):
        import torch

        m = self.model
        t0 = time.perf_counter()
        torch.manual_seed(seed)
        self.nfe = 0
        with torch.no_grad():
            x = torch.as_tensor(np.asarray(noisy, np.float32), device=self.device)[None]
            norm = float(x.abs().max()) * 1.1 + 1e-5 if m.normalize else 1.0
            lengths = torch.tensor([x.shape[1]], device=self.device)
            feats, _ = m.encoder(x / norm, lengths)
            spec = m.diffusion.enhance(feats, **self.sampler)
            wav = m.decoder(spec, lengths)[0][0].cpu().numpy() * norm
        return wav, self.nfe, time.perf_counter() - t0


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_peer(peer: PeerEnhancer, utts, seed: int = 0, cache: Optional[Path] = None,
             key: Optional[dict] = None) -> dict:
    """Decode and score ``utts`` with the peer.  With ``cache``, scores already there for the same
    ``key`` (checkpoint, sampler, precision, seed) are reused and each new one is written as it comes;
    reused ones are marked ``"resumed": true``."""
    from avdm.inference.decode_config import utt_seed
    from avdm.metrics import score_pair

    per_utt = {}
    if cache is not None and cache.is_file():
        with open(cache, encoding="utf-8") as f:
            kept = json.load(f)
        if kept.get("key") == key:
            per_utt = {u: {**v, "resumed": True} for u, v in kept["per_utt"].items()}
            logger.info("peer: %d utterance(s) of %s already scored with this peer, reused", len(per_utt), cache)
        else:
            logger.warning("peer: %s was scored with another peer checkpoint or sampler; starting over", cache)
            per_utt = {}
    wanted = {u.utt for u in utts}
    per_utt = {u: v for u, v in per_utt.items() if u in wanted}
    for u in utts:
        if u.utt in per_utt:
            continue
        wav, nfe, seconds = peer(u.noisy, seed=utt_seed(seed, u.utt))
        dur = u.n_frames / VIDEO_FPS
        per_utt[u.utt] = {**score_pair(u.clean, wav, utt=u.utt, metrics=evaluate.METRICS), "nfe": nfe,
                          "rtf": seconds / dur, "seconds": seconds}
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(cache) as f:  # a finished score is never lost to an interruption
                json.dump({"key": key, "per_utt": {k: {kk: vv for kk, vv in v.items() if kk != "resumed"}
                                                   for k, v in per_utt.items()}}, f, indent=1)
    per_utt = {u.utt: per_utt[u.utt] for u in utts}
    return {"per_utt": per_utt, **evaluate.summarise(per_utt)}


def paired(a: Dict[str, dict], b: Dict[str, dict], metrics=evaluate.METRICS) -> dict:
    """Per metric: the mean of ``a - b`` over the utterances both scored, its 95% half-width, n."""
    from avdm.metrics import mean_ci

    out = {}
    for m in metrics:
        diffs = [a[u][m] - b[u][m] for u in a if u in b and a[u].get(m) is not None and b[u].get(m) is not None]
        mean, half, n = mean_ci(diffs)
        out[m] = {"diff": mean, "ci95": half, "n": n}
    return out


def run(args, argv) -> dict:
    import yaml

    from avdm.inference.decode_config import load_decode_config
    from avdm.bench.models import load_any
    from avdm.fileio import require_files

    why = peer_unavailable()
    if why:
        raise PeerUnavailable(why)
    if not args.cond_model:
        raise ValueError("peer: --cond_model (the avdm AV model to compare, whose budget the peer gets) is required")
    require_files(Path(args.cond_model) / "config.yaml", args.decode_enhance, stage_hint="stage 3 of the recipe")
    with open(Path(args.cond_model) / "config.yaml", encoding="utf-8") as f:
        avdm_config = yaml.safe_load(f) or {}
    precision = args.peer_precision or (avdm_config.get("model_conf") or {}).get("precision") or "fp32"
    rec = header("peer", argv, args.threads)
    if not args.peer_skip_train:
        extra = []
        if args.peer_budget == "wall_clock":
            from avdm.bench.peer_budget import equal_time_budget

            samples = int((avdm_config.get("preprocessor_conf") or {}).get("segment_frames") or 25) * SAMPLES_PER_FRAME
            budget = equal_time_budget(args.cond_model, avdm_config, args.peer_config,
                                       int(avdm_config.get("batch_size") or 6),
                                       espnet_segment(samples) or samples, precision,
                                       "cuda" if args.ngpu else "cpu")
            extra = ["--max_epoch", "1", "--num_iters_per_epoch", str(budget["peer_steps"])]
            with atomic_open(Path(args.peer_exp) / "wall_clock_budget.json") as f:
                json.dump(budget, f, indent=1)
        train(args, avdm_config, precision, extra)
    rec["peer_budget"] = args.peer_budget
    if args.peer_budget == "wall_clock":
        from avdm.bench.peer_budget import peer_seconds

        budget_file = Path(args.peer_exp) / "wall_clock_budget.json"
        if budget_file.is_file():
            with open(budget_file, encoding="utf-8") as f:
                rec["wall_clock"] = json.load(f)
            rec["wall_clock"]["peer_trained"] = peer_seconds(args.peer_exp)
    decode = load_decode_config(args.decode_enhance)
    b_avdm, b_peer = budget_of(args.cond_model), budget_of(args.peer_exp)
    keys = ("steps", "batch_size", "segment_seconds", "lr") if args.peer_budget == "steps" else \
        ("batch_size", "segment_seconds", "lr")
    sampler = {**PEER_SAMPLER, "N": args.peer_steps}
    rec.update(seed=args.seed, data_dirs=[d for d in args.data_dir.split(",") if d],
               avdm={"model": str(args.cond_model), "decode_config": str(args.decode_enhance), "decode": decode,
                     "budget": b_avdm},
               peer={"exp_dir": str(args.peer_exp), "config": str(args.peer_config), "sampler": sampler,
                     "precision": precision, "budget": b_peer, "espnet": _espnet_version()},
               budget_equal=all(b_avdm.get(k) == b_peer.get(k) for k in keys))
    model, _ = load_any(args.cond_model, args.device)
    dec = evaluate.make_decoder(model, "enhance", decode, args.device)
    peer = PeerEnhancer(args.peer_exp, args.device, sampler, precision)
    rec["peer"]["checkpoint"] = str(peer.checkpoint)
    rec["peer"]["parameters"] = sum(p.numel() for p in peer.model.diffusion.dnn.parameters())
    rec["avdm"]["parameters"] = sum(p.numel() for p in model.net.parameters())
    max_utts = args.peer_max_utts or args.max_utts
    sets = {Path(d).name: load_set(d, max_utts, lips=not model.audio_only) for d in rec["data_dirs"]}
    key = {"checkpoint_sha256": file_sha256(peer.checkpoint), "sampler": sampler, "precision": precision,
           "seed": args.seed}

    def avdm_run(utts, name):
        r = evaluate.run_decoder(dec, utts, args.seed, desc=f"avdm {name}")
        for u in utts:  # the Decoder's own wall time, for the same total as the peer's
            r["per_utt"][u.utt]["seconds"] = r["per_utt"][u.utt]["rtf"] * u.n_frames / VIDEO_FPS
        r.update(evaluate.summarise(r["per_utt"]))
        return r

    def peer_run(utts, name):
        return run_peer(peer, utts, args.seed, Path(args.out) / "peer_utts" / f"{name}.json", key)

    first = next(iter(sets.values()))[0]  # one untimed run of each first: no start-up cost in the timing
    dec(None if model.audio_only else first.lips, first.noisy, first.n_frames)
    peer(first.noisy)
    results = {"avdm": evaluate.over_sets(sets, avdm_run), "peer": evaluate.over_sets(sets, peer_run),
               "noisy": evaluate.over_sets(sets, lambda u, n: evaluate.score_inputs(u))}
    rec["results"] = {k: v["all"] for k, v in results.items()}
    rec["per_set"] = {k: v["per_set"] for k, v in results.items()}
    a_utt, p_utt = results["avdm"]["per_utt"], results["peer"]["per_utt"]
    rec["paired"] = {name: paired({u: a_utt[f"{name}/{u}"] for u in (x.utt for x in utts)},
                                  {u: p_utt[f"{name}/{u}"] for u in (x.utt for x in utts)})
                     for name, utts in sets.items()}
    rec["paired_all"] = paired(a_utt, p_utt)
    timed = [k for k, v in p_utt.items() if not v.get("resumed")]  # both decoded in this run
    a, p = sum(a_utt[k]["seconds"] for k in timed), sum(p_utt[k]["seconds"] for k in timed)
    rec["time_ratio"] = a / p if timed and p else None
    rec["time_ratio_utts"] = len(timed)
    if timed:
        rec["results"]["avdm"]["seconds"], rec["results"]["peer"]["seconds"] = a, p
    else:
        rec["results"]["avdm"].pop("seconds", None)
        rec["results"]["peer"].pop("seconds", None)
    logger.info("peer: avdm PESQ %.3f ESTOI %.3f; peer PESQ %.3f ESTOI %.3f; inference time ratio %s (%d utterances)",
                rec["results"]["avdm"]["pesq_wb"], rec["results"]["avdm"]["estoi"],
                rec["results"]["peer"]["pesq_wb"], rec["results"]["peer"]["estoi"],
                "%.4f" % rec["time_ratio"] if rec["time_ratio"] else "-", len(timed))
    return rec


def report_lines(rec: dict) -> List[str]:
    r = rec["results"]
    lines = []
    for k in ("noisy", "avdm", "peer"):
        t = f", {r[k]['seconds']:.1f} s (NFE {r[k].get('nfe')})" if "seconds" in r[k] else ""
        lines.append(f"  {k:6s} PESQ {r[k]['pesq_wb']:.3f} ESTOI {r[k]['estoi']:.3f} SI-SDR {r[k]['sisdr']:.2f}{t}")
    for name, d in (rec.get("paired") or {}).items():
        lines.append(f"  {name}: avdm - peer PESQ {d['pesq_wb']['diff']:+.3f} +- {d['pesq_wb']['ci95']:.3f}, "
                     f"ESTOI {d['estoi']['diff']:+.3f} +- {d['estoi']['ci95']:.3f} ({d['estoi']['n']} utterances)")
    if rec.get("time_ratio") is not None:
        lines.append(f"  avdm / peer inference time: {rec['time_ratio']:.4f} (side by side in this run, "
                     f"{rec.get('time_ratio_utts')} utterances)")
    return lines
