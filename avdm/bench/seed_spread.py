"""Two systems over several training seeds: is their difference larger than what another seed moves?

A paired interval over test utterances says how sure one comparison of *two trained models* is; it
says nothing of training. This reads the scored outputs of each seed of each system (directories
with ``scoring/utt2<metric>``, as ``tools/bench/score_dev.sh`` writes them, keys
``<condition set>__<utterance>``) and reports, per seed and over the seeds, the pooled means, the
paired difference of the first system minus the second with its 95% interval over utterances, and
the same per condition (SNR and interferer kind: seen or held-out noise, competing talker).
``tools/bench/seeds_dev.sh`` trains the seeds and runs this.

  python -m avdm.bench.seed_spread --system AV=exp/dev_av_s0,exp/dev_av_s1 \\
      --system audio-only=exp/dev_ao_s0,exp/dev_ao_s1 --noisy exp/dev_noisy --out exp/seeds.json
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from avdm.fileio import read_kv
from avdm.markdown_table import number, table
from avdm.metrics import mean_ci
from avdm.data.condition import condition_of
from avdm.report import COLUMNS

METRICS = ("pesq_wb", "stoi", "estoi", "sisdr")
TITLE = {key: title for key, title, _ in COLUMNS}
DIGITS = {key: digits for key, _, digits in COLUMNS}


def load_scores(run_dir: Path, metric: str) -> Dict[str, float]:
    path = Path(run_dir) / "scoring" / f"utt2{metric}"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: score {run_dir} first (tools/bench/score_dev.sh)")
    return {k: float(v) for k, v in read_kv(path).items()}


def common_keys(runs: Sequence[Dict[str, float]], names: Sequence[str]) -> List[str]:
    """The utterances every run scored; a run that lacks some is an error naming them (a silent
    drop would compare different utterance sets)."""
    keys = set(runs[0])
    for run, name in zip(runs[1:], names[1:]):
        if set(run) != keys:
            missing = sorted(keys ^ set(run))
            raise ValueError(f"{name} and {names[0]} scored different utterances, e.g. {', '.join(missing[:3])}")
    return sorted(keys)


def condition_key(key: str, dump_dir: Path) -> Optional[Tuple[float, str]]:
    """(SNR, kind) of a ``<condition set>__<utterance>`` key, read from the set's dump in ``dump_dir``;
    None for a set without a condition."""
    cond = condition_of(Path(dump_dir) / key.split("__", 1)[0])
    return (cond.snr, cond.interferer) if cond else None


def spread(systems: Dict[str, List[Path]], noisy: Optional[Path] = None, dump_dir: Path = Path("dump/raw")) -> dict:
    """Per seed and over seeds: pooled means of every system, the paired difference of the first
    system minus the second (mean and 95% interval over utterances), and both per condition."""
    names = list(systems)
    if len(names) != 2:
        raise ValueError(f"give exactly two systems, got {len(names)}: {', '.join(names)}")
    n_seeds = {len(v) for v in systems.values()}
    if len(n_seeds) != 1:
        raise ValueError("both systems need the same number of seeds (seed i of one is paired with seed i of the other)")
    a, b = names
    out: dict = {"systems": names, "seeds": n_seeds.pop(), "metrics": {}}
    for m in METRICS:
        runs = {name: [load_scores(d, m) for d in dirs] for name, dirs in systems.items()}
        labels = [f"{name} seed {i}" for name in names for i in range(len(runs[name]))]
        flat = [r for name in names for r in runs[name]]
        ref = load_scores(noisy, m) if noisy else None
        keys = common_keys(flat + ([ref] if ref else []), labels + (["noisy input"] if ref else []))
        cond = {k: condition_key(k, dump_dir) for k in keys}
        rec: dict = {"per_seed": [], "by_condition": {}}
        for ra, rb in zip(runs[a], runs[b]):
            diff, half, n = mean_ci(ra[k] - rb[k] for k in keys)
            rec["per_seed"].append({a: statistics.fmean(ra[k] for k in keys),
                                    b: statistics.fmean(rb[k] for k in keys), "diff": diff, "diff_ci95": half})
        for name in names:
            rec[f"mean_{name}"] = statistics.fmean(s[name] for s in rec["per_seed"])
        diffs = [s["diff"] for s in rec["per_seed"]]
        rec["mean_diff"] = statistics.fmean(diffs)
        rec["diff_range"] = [min(diffs), max(diffs)]
        if ref:
            rec["noisy"] = statistics.fmean(ref[k] for k in keys)
        for c in sorted({v for v in cond.values() if v is not None}, key=lambda c: (c[1], c[0])):
            ks = [k for k in keys if cond[k] == c]
            row = {name: statistics.fmean(statistics.fmean(r[k] for k in ks) for r in runs[name]) for name in names}
            if ref:
                row["noisy"] = statistics.fmean(ref[k] for k in ks)
            seeds = [mean_ci(ra[k] - rb[k] for k in ks) for ra, rb in zip(runs[a], runs[b])]
            row["diff_per_seed"] = [d for d, _, _ in seeds]
            row["diff_ci95_per_seed"] = [h for _, h, _ in seeds]
            row["mean_diff"] = statistics.fmean(row["diff_per_seed"])
            row["n_utts"] = len(ks)
            rec["by_condition"][f"{c[0]:g} {c[1]}"] = row
        out["metrics"][m] = rec
    out["n_utts"] = len(keys)
    return out


def _f(v: float, m: str, sign: bool = False) -> str:
    """``v`` of metric ``m`` with the decimals RESULTS.md gives that metric."""
    return number(v, DIGITS[m], sign)


def _paired(diff: float, half: float, m: str) -> str:
    """A paired difference with its 95% interval (left out when there is none, e.g. one utterance)."""
    return _f(diff, m, True) + (f" +- {_f(half, m)}" if math.isfinite(half) else "")


def to_markdown(res: dict, focus: str = "estoi") -> str:
    a, b = res["systems"]
    ms = res["metrics"]
    head = " / ".join(TITLE[m] for m in METRICS)
    rows = []
    for i in range(res["seeds"]):
        cell = {n: " / ".join(_f(ms[m]["per_seed"][i][n], m) for m in METRICS) for n in (a, b)}
        s = ms[focus]["per_seed"][i]
        rows.append([i, cell[a], cell[b], _paired(s["diff"], s["diff_ci95"], focus)])
    mean = {n: " / ".join(_f(ms[m][f"mean_{n}"], m) for m in METRICS) for n in (a, b)}
    rows.append(["mean", mean[a], mean[b], _f(ms[focus]["mean_diff"], focus, True)])
    lines = [f"{res['n_utts']} utterances, pooled; {head}", ""]
    lines += table(["seed", a, b, f"{a} - {b} {TITLE[focus]} (95% paired interval)"], rows)
    if "noisy" in ms[focus]:
        lines += ["", "noisy input: " + " / ".join(_f(ms[m]["noisy"], m) for m in METRICS)]
    by = ms[focus]["by_condition"]
    if by:
        cols = [c for c in ("noisy", a, b) if c in next(iter(by.values()))]
        lines += ["", f"{TITLE[focus]} per condition (SNR dB, interferer), means over the seeds; {a} - {b} "
                  "per seed with its 95% paired interval over the condition's utterances:", ""]
        rows = []
        for name, row in by.items():
            per_seed = ", ".join(_paired(d, h, focus) for d, h in zip(row["diff_per_seed"], row["diff_ci95_per_seed"]))
            rows.append([name, *(_f(row[c], focus) for c in cols), per_seed, _f(row["mean_diff"], focus, True)])
        lines += table(["condition", *("noisy input" if c == "noisy" else c for c in cols), f"{a} - {b} per seed",
                        "mean"], rows)
    return "\n".join(lines) + "\n"


def parse_system(text: str) -> Tuple[str, List[Path]]:
    name, sep, dirs = text.partition("=")
    if not sep or not name or not dirs:
        raise argparse.ArgumentTypeError(f"--system wants NAME=dir1,dir2,..., got '{text}'")
    return name, [Path(d) for d in dirs.split(",") if d]


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--system", action="append", type=parse_system, required=True,
                   help="NAME=scored_dir_seed0,scored_dir_seed1,... (twice: the first minus the second)")
    p.add_argument("--noisy", type=Path, help="the scored noisy input (score_dev.sh noisy - - DIR)")
    p.add_argument("--dump_dir", type=Path, default=Path("dump/raw"),
                   help="the dumps of the scored sets (their conditions: avdm.data.condition)")
    p.add_argument("--focus", default="estoi", choices=METRICS, help="the metric of the difference column")
    p.add_argument("--out", type=Path, help="also write the numbers as JSON here")
    args = p.parse_args(argv)
    systems = dict(args.system)
    try:
        res = spread(systems, args.noisy, args.dump_dir)
    except (FileNotFoundError, ValueError) as e:
        print(f"seed_spread: {e}", file=sys.stderr)
        return 1
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1))
    sys.stdout.write(to_markdown(res, args.focus))
    return 0


if __name__ == "__main__":
    sys.exit(main())
