"""Stage 4: inference jobs over dumped sets, in parallel.

    python -m avdm.bin.stage_infer --job generate|enhance|enhance_unsup --model_dir exp/<tag>
        --data_dir dump/raw/<set>[,dump/raw/<set2>...] --out_dir exp/<tag>/<job>_<set>[,...]
        --inference_config conf/decode_<job>.yaml --nj N [--ngpu 0] [--seed 0]

Each out_dir is built beside itself (``.<name>.partial``) and replaces the earlier one only once
complete.  An utterance that fails (a missing ark, a short file, ...) is logged and listed in
``skipped`` with the reason; the others go on.  Several sets (comma-separated, paired with as many output dirs) share the N jobs, so the model
is loaded N times in all rather than N times per set.  Writes every out_dir/{wav/<utt>.wav,
wav.scp, utt2nfe, utt2rtf, decode_config.yaml, skipped}, and, once every set succeeded, the
decode config beside the model (<model_dir>/decode_<job>.yaml, used by avdm-enhance/-generate
and carried by avdm-pack; not with ``--probe``).  Results are deterministic for a seed
(each utterance draws from its own seeded generator).
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from avdm.data.dumpset import DumpSet
from avdm.inference.decode_config import load_decode_config, utt_seed
from avdm.inference.job_list import JOBS, job as job_of
from avdm.fileio import atomic_open, read_kv, replace_dir, require_files, staging_dir, write_kv
from avdm.logging_setup import setup_logging
from avdm.launch import JobsFailed
from avdm.parallel import job_dir, merge_lists, run_split

logger = logging.getLogger("stage_infer")


def run_part(keys, data_dirs, model_dir: Path, job: str, config: dict, out_dirs, seed: int,
             device: str) -> None:
    """Process ``keys`` ("<set index>/<utt>") of ``data_dirs``, writing into the matching ``out_dirs``."""
    import torch

    from avdm.audio_io import save_wav
    from avdm.inference.jobs import DecodeConfig, Decoder
    from avdm.inference.model_io import load_model

    torch.set_num_threads(1)
    model, _ = load_model(model_dir, device)
    decoder = Decoder(model, job, DecodeConfig.from_dict(config), device)
    by_set = {}
    for key in keys:
        idx, utt = key.split("/", 1)
        by_set.setdefault(int(idx), []).append(utt)
    for idx, utts in sorted(by_set.items()):
        _run_set(utts, Path(data_dirs[idx]), Path(out_dirs[idx]), model, decoder, job, seed)


def input_lists(job: str):
    """The lists of a dump dir that ``job`` reads."""
    return ("lip.scp", "lip_shape") + (("noisy.scp",) if job_of(job).noisy_input else ())


def _run_set(keys, data_dir: Path, out_dir: Path, model, decoder, job: str, seed: int) -> None:
    from avdm.audio_io import save_wav

    ds, noisy_input = DumpSet(data_dir), job_of(job).noisy_input
    for name in input_lists(job):
        ds.list(name)  # a malformed list fails the job, before any utterance
    wavs, nfes, rtfs, skipped = {}, {}, {}, {}
    for utt in tqdm(keys, desc=f"{job} {data_dir.name}", unit="utt", mininterval=5):
        try:
            lips = None if model.audio_only else ds.lips(utt)
            n_frames = ds.n_frames(utt)
            noisy = ds.audio("noisy.scp", utt, n_frames) if noisy_input else None
            res = decoder(lips, noisy, n_frames, seed=utt_seed(seed, utt))
        except Exception as e:  # one bad utterance (a missing ark, a short file...) is logged and skipped
            reason = " ".join(f"{type(e).__name__}: {e}".split())
            logger.warning("skipping %s of %s: %s", utt, data_dir, reason)
            skipped[utt] = reason
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
    p.add_argument("--job", required=True, choices=JOBS)
    p.add_argument("--model_dir", required=True)
    p.add_argument("--data_dir", required=True, help="dump dir(s), comma-separated")
    p.add_argument("--out_dir", required=True, help="output dir(s), comma-separated, one per data dir")
    p.add_argument("--inference_config", required=True)
    p.add_argument("--nj", type=int, default=1)
    p.add_argument("--ngpu", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--probe", action="store_true",
                   help="leave the model dir alone: no decode config is written beside the model "
                        "(a trial decode, e.g. tools/bench/score_dev.sh, must not replace the recipe's)")
    p.add_argument("--keys", default=None, help="(internal) run one job on these keys")
    args = p.parse_args(argv)
    setup_logging()
    datas = [Path(d) for d in args.data_dir.split(",") if d]
    outs = [Path(d) for d in args.out_dir.split(",") if d]
    model_dir = Path(args.model_dir)
    if len(datas) != len(outs):
        logger.error("%d data dirs but %d output dirs", len(datas), len(outs))
        return 2
    device = "cuda" if args.ngpu > 0 else "cpu"
    config = load_decode_config(args.inference_config)
    if args.keys:
        run_part(list(read_kv(args.keys)), datas, model_dir, args.job, config, outs, args.seed, device)
        return 0
    try:
        for data in datas:
            DumpSet(data).require(*input_lists(args.job))
        require_files(model_dir, stage_hint="stage 3")
        from avdm.inference.jobs import DecodeConfig

        DecodeConfig.from_dict(config)
    except (FileNotFoundError, ValueError) as e:
        logger.error("%s", e)
        return 1

    # each set is built in a staging dir beside its out_dir and replaces it only once complete:
    # the finished results of an earlier run stay until then (and stay if this run fails)
    stages = [staging_dir(o) for o in outs]
    logdir = stages[0] / "logdir"
    all_keys = {f"{i}/{utt}": utt for i, d in enumerate(datas) for utt in DumpSet(d).list("lip_shape")}
    write_kv(logdir / "keys.scp", all_keys, sort=False)
    parts = logdir / "keys.JOB.scp"
    split_outs = ",".join(str(job_dir(s)) for s in stages)
    cmd = [sys.executable, "-m", "avdm.bin.stage_infer", "--job", args.job, "--model_dir", str(model_dir),
           "--data_dir", args.data_dir, "--out_dir", split_outs, "--inference_config",
           args.inference_config, "--ngpu", str(args.ngpu), "--seed", str(args.seed),
           "--keys", str(parts)]
    try:
        n_jobs = run_split(logdir / "keys.scp", args.nj, cmd, parts, logdir / "infer.JOB.log", gpus=args.ngpu)
    except JobsFailed as e:
        logger.error("stage 4 failed (earlier results, if any, are unchanged): %s", e)
        return 1
    failed = False
    for data, out, stage in zip(datas, outs, stages):
        if _merge(stage, out, n_jobs, args, config, model_dir, data):
            replace_dir(stage, out)
        else:
            failed = True
    if not failed and model_dir.is_dir() and not args.probe:
        # beside the model, so avdm-enhance / avdm-generate / avdm-pack decode as the recipe did
        from avdm.inference.model_io import decode_config_file_name

        with atomic_open(model_dir / decode_config_file_name(args.job)) as f:
            yaml.safe_dump(config, f)
    return 1 if failed else 0


def _merge(stage: Path, out: Path, n_parts: int, args, config: dict, model_dir: Path, data: Path) -> bool:
    """Merge the jobs' outputs inside ``stage``; the lists name the files where they will be once
    ``stage`` has become ``out``.  False (``out`` is left alone) when no utterance was processed."""
    names = ("wav.scp", "utt2nfe", "utt2rtf", "skipped")
    # a job without an utterance of this set has no dir for it
    merged = {name: {} for name in names}
    merged.update(merge_lists(stage, n_parts, names, required=names, missing_ok=True))
    (stage / "wav").mkdir(parents=True, exist_ok=True)
    final = {}
    for utt, path in merged["wav.scp"].items():
        name = Path(path).name
        shutil.move(path, stage / "wav" / name)
        final[utt] = str(out / "wav" / name)
    for name in ("utt2nfe", "utt2rtf", "skipped"):
        write_kv(stage / name, merged[name])
    with atomic_open(stage / "decode_config.yaml") as f:
        yaml.safe_dump({"job": args.job, "model_dir": str(model_dir), "seed": args.seed, **config}, f)
    write_kv(stage / "wav.scp", final)
    if (stage / "split").exists():
        shutil.rmtree(stage / "split")
    if not final:
        logger.error("stage 4: no utterance of %s was processed (see %s); %s is left as it was", data,
                     stage / "skipped", out)
        return False
    rtf = np.mean([float(v) for v in merged["utt2rtf"].values()])
    logger.info("stage 4: %s: %d utterances (%d skipped), NFE %s, mean RTF %.3f", out, len(final),
                len(merged["skipped"]), sorted(set(merged["utt2nfe"].values())), rtf)
    return True


if __name__ == "__main__":
    from avdm.launch import die_with_driver

    die_with_driver()  # a driver killed with -9 leaves no stage behind (nor its jobs)
    sys.exit(main())
