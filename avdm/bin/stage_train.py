"""Stage 3: train one model with espnet2 (resumable).

    python -m avdm.bin.stage_train --config conf/X.yaml --dump_dir dump/raw --train_set train
        --valid_set dev --exp_dir exp/<tag> --ngpu N [extra espnet2 arguments ...]

The espnet2 log goes to exp/<tag>/train.log; the per-epoch summary lines are echoed here.
Rerunning after an interruption resumes from exp/<tag>/checkpoint.pth (espnet2's --resume), but
only with the setup that made it (config, extra arguments, data, recorded in
exp/<tag>/train_setup.yaml): a changed one is refused unless ``--restart true`` discards the old
training.  exp/<tag> is locked while training (a second run there is refused), and the trainer
dies with this process, which dies with its parent (the recipe driver, even if killed with -9).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import zipfile
from pathlib import Path

import yaml

from avdm.data.dumpset import DumpSet
from avdm.dir_lock import LOCK_NAME, DirLockedError, locked
from avdm.fileio import atomic_open, atomic_path, read_kv, refuse_pipes, require_files, write_kv
from avdm.inference.model_io import inference_model_file
from avdm.launch import TRAINERS, die_with_driver, restore_sigint, run_logged
from avdm.logging_setup import setup_logging

logger = logging.getLogger("stage_train")


SETUP_FILE = "train_setup.yaml"


def _flat(d, prefix=""):
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def setup_changes(old: dict, new: dict) -> list:
    """``key: old -> new`` for every setting that differs (nested keys dotted)."""
    a, b = _flat(old), _flat(new)
    return [f"{k}: {a.get(k, '(unset)')} -> {b.get(k, '(unset)')}" for k in sorted(set(a) | set(b))
            if a.get(k, "(unset)") != b.get(k, "(unset)")]


def has_training(exp: Path) -> bool:
    return (exp / "checkpoint.pth").exists() or any(exp.glob("*epoch.pth"))


def check_resumable(exp: Path, setup: dict, restart: bool) -> None:
    """Refuse (ValueError) to resume a training of ``exp`` made with another setup; with
    ``restart``, discard the old training instead.  Records ``setup`` for the next run."""
    if has_training(exp):
        recorded = exp / SETUP_FILE
        if restart:
            logger.warning("--restart: discarding the training in %s", exp)
            for f in exp.iterdir():
                if f.name != LOCK_NAME:
                    shutil.rmtree(f) if f.is_dir() else f.unlink()
        elif recorded.is_file():
            changes = setup_changes(yaml.safe_load(recorded.read_text()) or {}, setup)
            if changes:
                raise ValueError(
                    f"{exp} holds a training made with another setup ({'; '.join(changes)}); resuming it "
                    f"would mix the two.  Use another --tag, or --restart true to discard it and train anew")
        else:
            old = yaml.safe_load((exp / "config.yaml").read_text()) if (exp / "config.yaml").is_file() else {}
            new = _flat(setup["config"])
            changes = setup_changes({k: v for k, v in _flat(old).items() if k in new},
                                    {k: v for k, v in new.items() if k in _flat(old)})
            if changes:  # a training from before the setup was recorded: compare with espnet2's config
                raise ValueError(f"{exp} holds a training made with another config ({'; '.join(changes)}); use "
                                 "another --tag, or --restart true to discard it and train anew")
    with atomic_open(exp / SETUP_FILE) as f:
        yaml.safe_dump(setup, f, sort_keys=True)


def _complete(f: Path) -> bool:
    """torch.save writes a zip: a file cut by a kill fails its directory or CRC check."""
    try:
        with zipfile.ZipFile(f) as z:
            return z.testzip() is None
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


def repair_interrupted(exp: Path) -> None:
    """Mend what a kill during espnet2's saves leaves (it writes the files in place, not atomically).

    A cut ``<N>epoch.pth`` of the checkpoint's epoch is rewritten from ``checkpoint.pth`` (which
    espnet2 saved just before it, with the same weights); a cut ``checkpoint.pth`` cannot be
    resumed from, so the training starts again from the first epoch (same seed: same result).
    """
    ckpt = exp / "checkpoint.pth"
    if not ckpt.exists():
        return
    import torch

    if not _complete(ckpt):
        logger.warning("%s was cut by an interruption: training %s again from the first epoch", ckpt, exp)
        for f in [ckpt, *exp.glob("*.pth")]:
            f.unlink(missing_ok=True)
        return
    for f in sorted(exp.glob("*epoch.pth")):
        if f.is_symlink() or _complete(f):
            continue
        state = torch.load(ckpt, map_location="cpu", weights_only=False)  # our own file, written by espnet2
        epoch = state["reporter"]["epoch"]
        if f.name != f"{epoch}epoch.pth":
            raise ValueError(f"{f} is damaged and is not the checkpoint's epoch ({epoch}); "
                             "use --restart true to train anew")
        logger.warning("%s was cut by an interruption: rewritten from %s", f, ckpt)
        with atomic_path(f) as tmp:
            torch.save(state["model"], tmp)


def record_corpus(train: Path, exp: Path) -> None:
    """exp/<tag>/corpus: the corpus named by stage 0 for the training set (avdm-pack carries it,
    the CLIs show it and warn about the synthetic mini-GRID)."""
    from avdm.inference.model_io import CORPUS_FILE

    corpus = (train / CORPUS_FILE).read_text().strip() if (train / CORPUS_FILE).is_file() else "(not recorded)"
    with atomic_open(exp / CORPUS_FILE) as f:
        f.write(corpus + "\n")


def _sigterm_as_interrupt(signum, frame):
    # end the trainer here: should the KeyboardInterrupt be lost (a signal during a fork runs this
    # in a hook that swallows exceptions), the trainer's end still ends run_logged's loop
    for proc in TRAINERS:
        if proc.poll() is None:
            proc.terminate()
    raise KeyboardInterrupt


def main(argv=None) -> int:
    restore_sigint()  # stage 3 starts the trainings in the background of avdm.sh
    p = argparse.ArgumentParser(prog="stage_train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True)
    p.add_argument("--dump_dir", default="dump/raw")
    p.add_argument("--train_set", default="train")
    p.add_argument("--valid_set", default="dev")
    p.add_argument("--exp_dir", required=True)
    p.add_argument("--ngpu", type=int, default=0)
    p.add_argument("--noise_set", default="noise_train", help="dump dir of the dynamic-mixing noise")
    p.add_argument("--frontend", default="",
                   help="the pretrained lip front-end a lip_envelope encoder loads (overrides the config's path)")
    p.add_argument("--nproc", type=int, default=1,
                   help="training processes on this node (DDP through torchrun; gloo on the CPU, nccl with "
                        "--ngpu 1 per process); multi-GPU on one node: --ngpu N instead (espnet2 spawns N)")
    p.add_argument("--nnodes", type=int, default=1,
                   help="nodes of a multi-node training (run this on every node, e.g. by srun, with the same "
                        "--rdzv_endpoint); the node with SLURM_NODEID 0 (or NODE_RANK 0) keeps the exp dir's books")
    p.add_argument("--rdzv_endpoint", default=None, help="host:port where the nodes meet (multi-node)")
    p.add_argument("--restart", choices=("true", "false"), default="false",
                   help="discard an existing training of exp_dir made with another setup instead of refusing")
    args, extra = p.parse_known_args(argv)
    setup_logging()
    dump = Path(args.dump_dir)
    train, valid, exp = dump / args.train_set, dump / args.valid_set, Path(args.exp_dir)
    try:
        require_files(args.config)
        require_files(train / "wav.scp", train / "lip.scp", train / "lip_stats.json", train / "utt2num_samples",
                      valid / "wav.scp", valid / "lip.scp", valid / "utt2num_samples", stage_hint="stage 2")
        for d in (train, valid):  # espnet2 reads them through kaldiio, which would run a "cmd |" entry
            refuse_pipes(d / "wav.scp")
            refuse_pipes(d / "lip.scp")
    except (FileNotFoundError, ValueError) as e:
        logger.error("%s", e)
        return 1
    with open(args.config, encoding="utf-8") as f:
        config = yaml.safe_load(f) or {}
    stats = json.loads((train / "lip_stats.json").read_text())
    mode = (config.get("model_conf") or {}).get("mode", "prior")
    py = [sys.executable, "-m", "avdm.bin.train"]
    common = ["--config", args.config, "--ngpu", str(args.ngpu)]
    if args.nproc > 1 or args.nnodes > 1:  # torchrun sets RANK / WORLD_SIZE / MASTER_*, espnet2 reads them
        if args.nnodes > 1 and not args.rdzv_endpoint:
            p.error("--nnodes > 1 needs --rdzv_endpoint host:port (the first node, reachable from the others)")
        meet = (["--nnodes", str(args.nnodes), "--rdzv_backend", "c10d", "--rdzv_endpoint", args.rdzv_endpoint,
                 "--rdzv_id", exp.name] if args.nnodes > 1 else ["--standalone"])
        py = [sys.executable, "-m", "torch.distributed.run", *meet, "--nproc_per_node", str(args.nproc),
              "-m", "avdm.bin.train"]
        common += ["--multiprocessing_distributed", "false", "--dist_backend", "nccl" if args.ngpu else "gloo"]
    # 1. shape files: espnet2's batch samplers read "utt length" lists; stage 2 wrote them as
    # utt2num_samples, so the collect-stats pass (a whole process start and a pass over the
    # data, for statistics this model does not use) is not needed
    stats_dir = exp / "stats"
    for split, d in (("train", train), ("valid", valid)):
        shapes = read_kv(d / "utt2num_samples")
        if not shapes:
            logger.error("%s is empty: no utterance survived stage 2", d / "utt2num_samples")
            return 1
        write_kv(stats_dir / split / "speech_shape", shapes)
    # 2. training
    cmd = py + common + ["--output_dir", str(exp), "--resume", "true",
                         "--train_shape_file", str(stats_dir / "train" / "speech_shape"),
                         "--valid_shape_file", str(stats_dir / "valid" / "speech_shape"),
                         "--model_conf", f"lip_mean={stats['mean']}", "--model_conf", f"lip_std={stats['std']}"]
    for d, prefix in ((train, "train"), (valid, "valid")):
        cmd += DumpSet(d).espnet_args(prefix, (("wav.scp", "speech", None), ("lip.scp", "lip", "kaldi_ark")))
    if mode == "conditional":
        noise = dump / args.noise_set / "wav.scp"
        talkers = float((config.get("preprocessor_conf") or {}).get("talker_prob", 0)) > 0
        try:
            require_files(noise, *([train / "utt2spk"] if talkers else []), stage_hint="stage 2")
        except FileNotFoundError as e:
            logger.error("%s (a conditional model mixes training noise on the fly)", e)
            return 1
        cmd += ["--preprocessor_conf", f"noise_scp={noise}"]
        if talkers:  # competing talkers: other training speakers' utterances
            cmd += ["--preprocessor_conf", f"talker_scp={train / 'wav.scp'}",
                    "--preprocessor_conf", f"talker_utt2spk={train / 'utt2spk'}"]
    if args.frontend and str(config.get("visual_encoder")).lower() == "lip_envelope":
        cmd += ["--visual_encoder_conf", f"pretrained={args.frontend}"]  # this recipe's front-end, not another's
    cmd += extra
    setup = {"config": config, "extra_args": list(extra), "lip_stats": [stats["mean"], stats["std"]],
             "train_data": str(train), "valid_data": str(valid), "nproc": args.nproc, "nnodes": args.nnodes,
             "frontend": args.frontend}
    # in a multi-node run one node keeps the books (lock, setup check, corpus, log); the others train
    books = args.nnodes == 1 or os.environ.get("SLURM_NODEID", os.environ.get("NODE_RANK", "0")) == "0"
    try:
        with (locked(exp) if books else contextlib.nullcontext()):
            if books:
                check_resumable(exp, setup, args.restart == "true")
                repair_interrupted(exp)
                record_corpus(train, exp)
            logger.info("training %s (%s mode) -> %s", args.config, mode, exp)
            log = exp / "train.log" if books else exp / f"train.node{os.environ.get('SLURM_NODEID', 'x')}.log"
            if run_logged(cmd, log) != 0:
                logger.error("training failed; see %s", log)
                return 1
    except (DirLockedError, ValueError) as e:
        logger.error("%s", e)
        return 1
    model = inference_model_file(exp)
    logger.info("stage 3: %s done; inference will use %s", exp, model)
    return 0


if __name__ == "__main__":
    die_with_driver()
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)  # end the trainer and release the lock
    sys.exit(main())
