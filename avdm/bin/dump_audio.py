"""One stage-2 job: 16 kHz audio of a slice of a data dir, length-checked against the lips.

    python -m avdm.bin.dump_audio --keys part.scp --data_dir data/<set> --out_dir DIR
        [--lip_shape dump/lip/<base>/lip_shape] [--audio_format flac|ark]
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path

import kaldiio
import numpy as np
from tqdm import tqdm

from avdm import SAMPLES_PER_FRAME
from avdm.audio_io import AudioError, load_audio, save_wav
from avdm.fileio import atomic_path, read_kv, write_kv
from avdm.logging_setup import setup_logging

logger = logging.getLogger("dump_audio")
KINDS = (("wav.scp", "wav"), ("noisy.scp", "noisy"), ("noise.scp", "noise"))
SILENCE_PEAK = 1e-4


def trim_or_zero_pad(x: np.ndarray, target: int, tolerance: int = SAMPLES_PER_FRAME) -> np.ndarray:
    """Trim or zero-pad ``x`` to ``target`` samples; ValueError when off by more than ``tolerance``."""
    diff = len(x) - target
    if abs(diff) > tolerance:
        raise ValueError(f"audio has {len(x)} samples but the video needs {target} "
                         f"({diff / SAMPLES_PER_FRAME:+.1f} frames off)")
    return x[:target] if diff >= 0 else np.pad(x, (0, -diff))


def run(keys, data_dir: Path, out_dir: Path, lip_shape: dict = None, audio_format: str = "flac",
        check_silence: bool = True):
    """Dump the audio of ``keys``; returns ``{utt: reason}`` of the skipped ones.

    Every list (scp, utt2num_samples, skipped) appears only when the whole job succeeded; ark
    files are rewritten from the start by a rerun, flac files are written one by one atomically.
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    sources = {kind: read_kv(data_dir / f) for f, kind in KINDS if (data_dir / f).is_file()}
    if "wav" not in sources:
        raise FileNotFoundError(f"{data_dir / 'wav.scp'} is missing (run stage 0 first)")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in [f"{kind}.scp" for kind in sources] + ["utt2num_samples", "skipped"]:
        # an old scp would point into an ark about to be rewritten; temp files are left by a killed job
        for stale in [out_dir / name, *out_dir.glob(f".{name}.*.tmp")]:
            if stale.is_file():
                stale.unlink()
    results = {kind: {} for kind in sources}
    lengths, skipped = {}, {}
    with contextlib.ExitStack() as stack:
        writers = {}
        if audio_format == "ark":
            for kind in sources:  # the scp is renamed into place only when the block succeeds
                tmp_scp = stack.enter_context(atomic_path(out_dir / f"{kind}.scp"))
                writers[kind] = stack.enter_context(kaldiio.WriteHelper(
                    f"ark,scp:{out_dir / (kind + '.ark')},{tmp_scp}", write_function="numpy"))
        for utt in tqdm(keys, desc=f"dump {data_dir.name}", unit="utt", mininterval=5):
            try:
                signals = {}
                for kind, scp in sources.items():
                    if utt not in scp:
                        raise ValueError(f"missing from {kind} list")
                    signals[kind] = load_audio(scp[utt])
                if check_silence and float(np.abs(signals["wav"]).max()) < SILENCE_PEAK:
                    raise ValueError("silent audio")
                if lip_shape is not None:
                    if utt not in lip_shape:
                        raise ValueError("no lips (skipped in stage 1)")
                    target = int(lip_shape[utt].split(",")[0]) * SAMPLES_PER_FRAME
                    signals = {k: trim_or_zero_pad(v, target) for k, v in signals.items()}
                elif len({len(v) for v in signals.values()}) > 1:
                    raise ValueError("clean/noisy/noise lengths differ: "
                                     + ", ".join(f"{k} {len(v)}" for k, v in signals.items()))
            except (AudioError, ValueError) as e:
                reason = " ".join(str(e).split())
                logger.warning("skipping %s: %s", utt, reason)
                skipped[utt] = reason
                continue
            for kind, x in signals.items():
                if audio_format == "ark":
                    writers[kind](utt, x.astype(np.float32))
                else:
                    path = out_dir / "data" / kind / f"{utt}.flac"
                    save_wav(path, x)
                    results[kind][utt] = str(path)
            lengths[utt] = len(signals["wav"])
        write_kv(out_dir / "utt2num_samples", lengths)
        write_kv(out_dir / "skipped", skipped)
        # leaving the block renames the ark scps into place; the flac scps are written here, wav.scp last
        if audio_format != "ark":
            for kind, res in sorted(results.items(), key=lambda kv: kv[0] == "wav"):
                write_kv(out_dir / f"{kind}.scp", res)
    return skipped


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="dump_audio", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--keys", required=True, help="scp whose first column lists the utterances")
    p.add_argument("--data_dir", required=True)
    p.add_argument("--out_dir", required=True)
    p.add_argument("--lip_shape", default=None)
    p.add_argument("--audio_format", choices=("flac", "ark"), default="flac")
    p.add_argument("--no_silence_check", action="store_true")
    args = p.parse_args(argv)
    setup_logging()
    keys = list(read_kv(args.keys))
    lip_shape = read_kv(args.lip_shape) if args.lip_shape else None
    run(keys, Path(args.data_dir), Path(args.out_dir), lip_shape, args.audio_format, not args.no_silence_check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
