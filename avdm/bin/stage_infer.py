"""Stage 4: inference jobs over a dumped set, in parallel.

    python -m avdm.bin.stage_infer --job generate|enhance|enhance_unsup --model_dir exp/<tag>
        --data_dir dump/raw/<set> --out_dir exp/<tag>/<job>_<set>
        --inference_config conf/decode_<job>.yaml --nj N [--ngpu 0] [--seed 0]

Writes out_dir/{wav/<utt>.wav, wav.scp, utt2nfe, utt2rtf, decode_config.yaml, skipped}.
Results are deterministic for a seed (each utterance draws from its own seeded generator).
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import shutil
import sys
from pathlib import Path

import kaldiio
import numpy as np
import yaml
from tqdm import tqdm

from avdm import SAMPLES_PER_FRAME
from avdm.fileio import atomic_open, read_kv, require_files, write_kv
from avdm.logging_setup import setup_logging

logger = logging.getLogger("stage_infer")


def utt_seed(seed: int, utt: str) -> int:
    return (seed * 7919 + int(hashlib.md5(utt.encode()).hexdigest()[:8], 16)) % (2 ** 31)


def load_decode_config(path) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def run_part(keys, data_dir: Path, model_dir: Path, job: str, config: dict, out_dir: Path, seed: int,
             device: str) -> None:
    import torch

    from avdm.audio_io import save_wav
    from avdm.inference.jobs import DecodeConfig, Decoder
    from avdm.inference.model_io import load_model

    torch.set_num_threads(1)
    model, _ = load_model(model_dir, device)
    decoder = Decoder(model, job, DecodeConfig.from_dict(config), device)
    lip_scp = kaldiio.load_scp(str(data_dir / "lip.scp"))
    audio_fmt = (data_dir / "audio_format").read_text().strip() if (data_dir / "audio_format").exists() else "flac"
    noisy_scp = read_kv(data_dir / "noisy.scp") if job != "generate" else {}
    shapes = read_kv(data_dir / "lip_shape")
    wavs, nfes, rtfs, skipped = {}, {}, {}, {}
    for utt in tqdm(keys, desc=f"{job} {data_dir.name}", unit="utt", mininterval=5):
        try:
            lips = None if model.audio_only else np.asarray(lip_scp[utt])
            n_frames = int(shapes[utt].split(",")[0])
            noisy = None
            if job != "generate":
                if audio_fmt == "ark":
                    noisy = np.asarray(kaldiio.load_mat(noisy_scp[utt]), np.float32)
                else:
                    from avdm.audio_io import load_audio

                    noisy = load_audio(noisy_scp[utt])
                noisy = noisy[:n_frames * SAMPLES_PER_FRAME]
            res = decoder(lips, noisy, n_frames, seed=utt_seed(seed, utt))
        except (KeyError, ValueError, RuntimeError) as e:
            logger.warning("skipping %s: %s", utt, e)
            skipped[utt] = str(e).replace("\n", " ")
            continue
        path = out_dir / "wav" / f"{utt}.wav"
        peak = float(np.abs(res.wav).max())
        save_wav(path, res.wav * (0.99 / peak) if peak > 0.99 else res.wav)
        wavs[utt], nfes[utt], rtfs[utt] = str(path), res.nfe, f"{res.rtf:.4f}"
    write_kv(out_dir / "utt2nfe", nfes)
    write_kv(out_dir / "utt2rtf", rtfs)
    write_kv(out_dir / "skipped", skipped)
    write_kv(out_dir / "wav.scp", wavs)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="stage_infer", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--job", required=True, choices=("generate", "enhance", "enhance_unsup"))
    p.add_argument("--model_dir", required=True)
    p.add_argument("--data_dir", required=True)
    p.add_argument("--out_dir", required=True)
    p.add_argument("--inference_config", required=True)
    p.add_argument("--nj", type=int, default=1)
    p.add_argument("--ngpu", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keys", default=None, help="(internal) run one job on these utterances")
    args = p.parse_args(argv)
    setup_logging()
    data, out, model_dir = Path(args.data_dir), Path(args.out_dir), Path(args.model_dir)
    device = "cuda" if args.ngpu > 0 else "cpu"
    config = load_decode_config(args.inference_config)
    if args.keys:
        run_part(list(read_kv(args.keys)), data, model_dir, args.job, config, out, args.seed, device)
        return 0
    need = [data / "lip.scp", data / "lip_shape"] + ([data / "noisy.scp"] if args.job != "generate" else [])
    try:
        require_files(*need, stage_hint="stage 2")
        require_files(model_dir, stage_hint="stage 3")
        from avdm.inference.jobs import DecodeConfig

        DecodeConfig.from_dict(config)
    except (FileNotFoundError, ValueError) as e:
        logger.error("%s", e)
        return 1
    from avdm.launch import JobsFailed, run_jobs, split_scp

    if out.exists():
        shutil.rmtree(out)
    logdir = out / "logdir"
    parts = split_scp(str(data / "lip_shape"), args.nj, str(logdir / "keys.JOB.scp"))
    cmd = [sys.executable, "-m", "avdm.bin.stage_infer", "--job", args.job, "--model_dir", str(model_dir),
           "--data_dir", str(data), "--out_dir", str(out / "split" / "JOB"), "--inference_config",
           args.inference_config, "--ngpu", str(args.ngpu), "--seed", str(args.seed),
           "--keys", str(logdir / "keys.JOB.scp")]
    try:
        run_jobs(cmd, len(parts), str(logdir / "infer.JOB.log"), gpus=args.ngpu)
    except JobsFailed as e:
        logger.error("stage 4 failed: %s", e)
        return 1
    merged = {}
    for j in range(1, len(parts) + 1):
        for name in ("wav.scp", "utt2nfe", "utt2rtf", "skipped"):
            merged.setdefault(name, {}).update(read_kv(out / "split" / str(j) / name, allow_empty_value=True))
    (out / "wav").mkdir(parents=True, exist_ok=True)
    final = {}
    for utt, path in merged["wav.scp"].items():
        dst = out / "wav" / Path(path).name
        shutil.move(path, dst)
        final[utt] = str(dst)
    for name in ("utt2nfe", "utt2rtf", "skipped"):
        write_kv(out / name, merged[name])
    with atomic_open(out / "decode_config.yaml") as f:
        yaml.safe_dump({"job": args.job, "model_dir": str(model_dir), "seed": args.seed, **config}, f)
    write_kv(out / "wav.scp", final)
    shutil.rmtree(out / "split")
    if not final:
        logger.error("stage 4: no utterance of %s was processed (see %s)", data, out / "skipped")
        return 1
    rtf = np.mean([float(v) for v in merged["utt2rtf"].values()])
    logger.info("stage 4: %s: %d utterances, NFE %s, mean RTF %.3f", out, len(final),
                sorted(set(merged["utt2nfe"].values())), rtf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
