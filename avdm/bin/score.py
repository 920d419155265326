"""``avdm-score``: PESQ-WB/NB, STOI, ESTOI and SI-SDR (and WER) of inferred speech against references.

    avdm-score --ref ref.scp --inf inf.scp [--out_dir DIR] [--nj N]
               [--asr_model exp/asr|model.zip --text ref_text] [--asr_decode_conf conf/decode_asr.yaml]

Every utterance of ``inf.scp`` must be in ``ref.scp`` (a missing one is an error that names it).
Lengths may differ by at most 0.1 s (the longer signal is trimmed); more is logged and the
utterance listed in DIR/skipped.  Writes DIR/utt2<metric>, DIR/result_<metric>.txt
("mean +- 95% CI (n)") and DIR/scores.json; with an ASR model also DIR/hyp.txt, DIR/utt2wer.
``--nj N`` runs N jobs through avdm.launch (local processes, or Slurm with AVDM_CMD_BACKEND=slurm).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from avdm.fileio import read_kv
from avdm.logging_setup import setup_logging
from avdm.metrics import METRICS
from avdm.scoring import ScoreJob, check_coverage, load_signal, run_scoring  # noqa: F401  (load_signal: API)

logger = logging.getLogger("avdm-score")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="avdm-score", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", required=True, help="reference scp (clean speech)")
    p.add_argument("--inf", required=True, help="scp of the speech to score")
    p.add_argument("--out_dir", default=None, help="default: <dir of inf.scp>/scoring")
    p.add_argument("--nj", type=int, default=1)
    p.add_argument("--asr_model", default=None,
                   help="ESPnet ASR exp dir or packed model: adds WER.  espnet2 loads it with a full unpickling: "
                        "a model file can run code, so give only models you trust as you would their code")
    p.add_argument("--asr_decode_conf", default=None)
    p.add_argument("--text", default=None, help="reference transcripts (Kaldi text) for WER; "
                                                "default: 'text' beside ref.scp")
    args = p.parse_args(argv)
    setup_logging()
    out = Path(args.out_dir) if args.out_dir else Path(args.inf).parent / "scoring"
    try:
        text = None
        if args.asr_model:
            text_file = Path(args.text) if args.text else Path(args.ref).parent / "text"
            text = read_kv(text_file, allow_empty_value=True)
        job = ScoreJob(str(args.inf), read_kv(args.ref), read_kv(args.inf), out, text=text)
        check_coverage(job)
        summary = run_scoring([job], args.nj, out / "logdir", args.asr_model, args.asr_decode_conf)[0]
    except (KeyError, ValueError, FileNotFoundError, RuntimeError) as e:
        logger.error("%s", e.args[0] if isinstance(e, KeyError) else e)
        return 1
    for m in list(METRICS) + (["wer"] if args.asr_model else []):
        s = summary[m]
        print(f"{m:8s} {s['mean']:8.3f} +- {s['ci95']:.3f}  (n={s['n']})")
    if summary["n_skipped"]:
        print(f"skipped  {summary['n_skipped']} (see {out / 'skipped'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
