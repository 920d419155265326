"""avdm-bench: the speed and quality benchmarks; each writes <out>/<name>.json, `summary` writes
<out>/summary.md (targets met or missed, with the command behind every number).

  avdm-bench nfe        --cond_model exp/train_cond_lite --data_dir dump/raw/test_snr-5_heldout,...
  avdm-bench rtf        [--rtf_models conf/train_cond_lite.yaml,conf/train_cond_full.yaml] --threads 2
  avdm-bench visual     --cond_model ... --cond_ao_model ... --data_dir ... --prior_model exp/train_prior_lite
                        --generate_data_dir dump/raw/test --sweep_data_dir dump/raw/dev
  avdm-bench peer       --cond_model exp/train_cond_lite --data_dir ...   (trains espnet2's SGMSE+ first)
  avdm-bench throughput --video_scp data/test/video.scp --dump_data_dir data/test_snr0_heldout
                        --dump_lip_dir dump/lip/test --cond_model ...
  avdm-bench train_speed --config conf/train_cond_lite.yaml [--steps 10] [--threads 2]
  avdm-bench summary    --out exp/bench
  avdm-bench all        (every option above; runs them all, then the summary)

Run it from a recipe dir (egs/grid): the scp files there hold paths relative to it.
tools/bench/run_bench.sh prepares the bench-size mini-GRID, trains the models and runs it all.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

from avdm.bench import BENCHES

logger = logging.getLogger("avdm-bench")

HELP = {"nfe": "NFE versus quality for every sampler", "rtf": "real-time factor per sampler and model size",
        "visual": "AV versus audio-only, true versus other lips, guidance sweep",
        "peer": "espnet2's SGMSE+ trained with the same data and budget, side by side",
        "throughput": "lip extraction, dumping and training throughput",
        "train_speed": "training steps/s and inference RTF per speed option (bf16, ...) against float32",
        "summary": "summary.md from the JSON files",
        "all": "every benchmark, then the summary"}


def common_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("common")
    g.add_argument("--out", default="exp/bench", help="where the JSON files and summary.md go")
    g.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    g.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="device of the quality runs")
    g.add_argument("--no_gpu", action="store_true", help="time the CPU only (rtf, train_speed)")
    g.add_argument("--max_utts", type=int, default=10, help="utterances per data set (spread over the sorted keys)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--data_dir", default="", help="noisy test condition dumps, comma-separated")
    g.add_argument("--cond_model", default="", help="conditional AV model dir (supervised enhancement)")
    g.add_argument("--cond_ao_model", default="", help="its audio-only twin")
    g.add_argument("--prior_model", default="", help="lip-conditioned prior model dir (lip-to-speech)")
    g.add_argument("--prior_ao_model", default="", help="its audio-only twin")
    g.add_argument("--decode_enhance", default="conf/decode_enhance.yaml")
    g.add_argument("--decode_generate", default="conf/decode_generate.yaml")
    g.add_argument("--decode_enhance_unsup", default="conf/decode_enhance_unsup.yaml")
    g.add_argument("--verbose", type=int, default=1)
    return p


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="avdm-bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="bench", required=True, metavar="{" + ",".join([*BENCHES, "summary", "all"]) + "}")
    common = common_parser()
    modules = {k: importlib.import_module(m) for k, m in BENCHES.items()}
    for name, mod in modules.items():
        sp = sub.add_parser(name, parents=[common], help=HELP[name], description=mod.__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(sp)
        if name == "rtf":  # --samplers belongs to nfe (one definition for `all`)
            sp.add_argument("--samplers", default=",".join(modules["nfe"].SUPERVISED), help="samplers to time")
    sub.add_parser("summary", parents=[common], help=HELP["summary"])
    sp = sub.add_parser("all", parents=[common], help=HELP["all"])
    for mod in modules.values():
        mod.add_arguments(sp)
    sp.add_argument("--skip", default="", help="benchmarks to leave out, comma-separated (e.g. peer)")
    return p


def run_one(name: str, args, argv) -> int:
    from avdm.bench.record import write_json
    from avdm.inference.model_io import ModelNotFoundError

    mod = importlib.import_module(BENCHES[name])
    try:
        rec = mod.run(args, argv)
    except (FileNotFoundError, ValueError, ModelNotFoundError, RuntimeError) as e:
        msg = str(e)
        logger.error("%s", msg if msg.startswith(f"{name}:") else f"{name}: {msg}")
        return 1
    path = write_json(args.out, name, rec)
    print(f"{name}: {path}")
    for line in mod.report_lines(rec):
        print(line)
    return 0


def write_summary(out) -> int:
    from avdm.bench import summary
    from avdm.bench.targets import MISSED, check_all

    path = summary.write(out)
    print(f"summary: {path}")
    for c in check_all(summary.read_records(out)):
        flag = "MISSED" if c["status"] == MISSED else c["status"]
        print(f"  {c['target']}: {c['value'] if c['value'] is not None else '-'} ({flag})")
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    from avdm.logging_setup import setup_logging

    setup_logging(args.verbose)
    import torch

    torch.set_num_threads(max(1, args.threads))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.bench == "summary":
        return write_summary(args.out)
    if args.bench != "all":
        return run_one(args.bench, args, argv)
    skip = {s for s in args.skip.split(",") if s}
    unknown = skip - set(BENCHES)
    if unknown:
        logger.error("--skip: unknown benchmark(s) %s; known: %s", ", ".join(sorted(unknown)), ", ".join(BENCHES))
        return 2
    failed = [name for name in BENCHES if name not in skip and run_one(name, args, argv) != 0]
    write_summary(args.out)
    if failed:
        logger.error("failed: %s (see the messages above); summary.md marks them not measured", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
