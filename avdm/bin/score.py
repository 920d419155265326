"""``avdm-score``: PESQ-WB/NB, STOI, ESTOI and SI-SDR of inferred speech against references.

    avdm-score --ref ref.scp --inf inf.scp [--out_dir DIR] [--nj N]

Every utterance of ``inf.scp`` must be in ``ref.scp`` (a missing one is an error that names it).
Writes DIR/utt2<metric>, DIR/result_<metric>.txt ("mean +- 95% CI (n)") and DIR/scores.json.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict

import numpy as np

from avdm.fileio import atomic_open, read_kv, write_kv
from avdm.logging_setup import setup_logging
from avdm.metrics import METRICS, mean_ci, score_pair

logger = logging.getLogger("avdm-score")


def load_signal(value: str) -> np.ndarray:
    """An scp value: an audio/video file, or an ark entry (``file.ark:offset``) from stage 2."""
    if ".ark:" in value:
        import kaldiio

        return np.asarray(kaldiio.load_mat(value), np.float32)
    from avdm.audio_io import load_audio

    return load_audio(value)


def _score_one(args):
    utt, ref, inf = args
    return utt, score_pair(load_signal(ref), load_signal(inf), 16000, utt)


def score_scp(ref_scp: Dict[str, str], inf_scp: Dict[str, str], nj: int = 1) -> Dict[str, Dict[str, float]]:
    missing = [u for u in inf_scp if u not in ref_scp]
    if missing:
        raise KeyError(f"utterance '{missing[0]}' (and {len(missing) - 1} more) has no reference"
                       if len(missing) > 1 else f"utterance '{missing[0]}' has no reference")
    jobs = [(u, ref_scp[u], inf_scp[u]) for u in sorted(inf_scp)]
    if nj > 1:
        with ProcessPoolExecutor(nj) as pool:
            results = dict(pool.map(_score_one, jobs, chunksize=4))
    else:
        results = dict(map(_score_one, jobs))
    return results


def write_scores(out_dir: Path, per_utt: Dict[str, Dict[str, float]], extra: Dict = None) -> Dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {}
    for m in METRICS:
        vals = {u: s[m] for u, s in per_utt.items()}
        write_kv(out_dir / f"utt2{m}", {u: f"{v:.4f}" for u, v in vals.items()})
        mean, ci, n = mean_ci(vals.values())
        summary[m] = {"mean": mean, "ci95": ci, "n": n}
        with atomic_open(out_dir / f"result_{m}.txt") as f:
            f.write(f"{m} {mean:.4f} +- {ci:.4f} (n={n})\n")
    summary.update(extra or {})
    with atomic_open(out_dir / "scores.json") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="avdm-score", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", required=True)
    p.add_argument("--inf", required=True)
    p.add_argument("--out_dir", default=None, help="default: <dir of inf.scp>/scoring")
    p.add_argument("--nj", type=int, default=1)
    args = p.parse_args(argv)
    setup_logging()
    out = Path(args.out_dir) if args.out_dir else Path(args.inf).parent / "scoring"
    try:
        per_utt = score_scp(read_kv(args.ref), read_kv(args.inf), args.nj)
    except (KeyError, ValueError, FileNotFoundError) as e:
        logger.error("%s", e.args[0] if isinstance(e, KeyError) else e)
        return 1
    summary = write_scores(out, per_utt)
    for m in METRICS:
        s = summary[m]
        print(f"{m:8s} {s['mean']:8.3f} +- {s['ci95']:.3f}  (n={s['n']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
