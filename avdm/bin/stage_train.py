"""Stage 3: train one model with espnet2 (resumable).

    python -m avdm.bin.stage_train --config conf/X.yaml --dump_dir dump/raw --train_set train
        --valid_set dev --exp_dir exp/<tag> --ngpu N [extra espnet2 arguments ...]

The espnet2 log goes to exp/<tag>/train.log; the per-epoch summary lines are echoed here.
Rerunning after an interruption resumes from exp/<tag>/checkpoint.pth (espnet2's --resume).
"""
from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

import yaml

from avdm.fileio import read_kv, require_files, write_kv
from avdm.launch import restore_sigint
from avdm.logging_setup import setup_logging

logger = logging.getLogger("stage_train")


def data_args(dump: Path, split: str, prefix: str):
    fmt = (dump / "audio_format").read_text().strip() if (dump / "audio_format").is_file() else "flac"
    audio_type = "kaldi_ark" if fmt == "ark" else "sound"
    return [f"--{prefix}_data_path_and_name_and_type", f"{dump}/wav.scp,speech,{audio_type}",
            f"--{prefix}_data_path_and_name_and_type", f"{dump}/lip.scp,lip,kaldi_ark"]


def run_logged(cmd, log: Path, echo=("epoch results", "Error", "error:", "Traceback")) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as f:
        f.write("# " + " ".join(cmd) + "\n")
        f.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        try:
            for line in proc.stdout:
                f.write(line)
                if any(e in line for e in echo):
                    sys.stderr.write(line)
            return proc.wait()
        except KeyboardInterrupt:
            proc.terminate()  # it had the Ctrl-C too; make sure it ends before we do
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            logger.error("interrupted; the checkpoint of the last finished epoch stays (rerun to resume)")
            return 130


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
    args, extra = p.parse_known_args(argv)
    setup_logging()
    dump = Path(args.dump_dir)
    train, valid, exp = dump / args.train_set, dump / args.valid_set, Path(args.exp_dir)
    try:
        require_files(args.config)
        require_files(train / "wav.scp", train / "lip.scp", train / "lip_stats.json", train / "utt2num_samples",
                      valid / "wav.scp", valid / "lip.scp", valid / "utt2num_samples", stage_hint="stage 2")
    except FileNotFoundError as e:
        logger.error("%s", e)
        return 1
    with open(args.config, encoding="utf-8") as f:
        config = yaml.safe_load(f) or {}
    stats = json.loads((train / "lip_stats.json").read_text())
    mode = (config.get("model_conf") or {}).get("mode", "prior")
    py = [sys.executable, "-m", "avdm.bin.train"]
    common = ["--config", args.config, "--ngpu", str(args.ngpu)]
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
    cmd += data_args(train, args.train_set, "train") + data_args(valid, args.valid_set, "valid")
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
    logger.info("training %s (%s mode) -> %s", args.config, mode, exp)
    if run_logged(cmd, exp / "train.log") != 0:
        logger.error("training failed; see %s", exp / "train.log")
        return 1
    model = inference_model_file(exp)
    logger.info("stage 3: %s done; inference will use %s", exp, model)
    return 0


def inference_model_file(exp: Path) -> Path:
    """The weights inference uses: the n-best average if espnet2 made one, else the best, else the last."""
    for name in ("valid.loss.ave.pth", "valid.loss.best.pth", "latest.pth"):
        if (exp / name).exists():
            return exp / name
    epochs = sorted(exp.glob("*epoch.pth"), key=lambda p: int(p.name.split("epoch")[0]))
    if epochs:
        return epochs[-1]
    raise FileNotFoundError(f"no model weights in {exp}: run stage 3 first")


if __name__ == "__main__":
    sys.exit(main())
