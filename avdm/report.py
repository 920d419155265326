"""Stage 6: RESULTS.md tables and figures from the scoring dirs of stages 4-5.

One table per job type and test condition; rows for the noisy input and every system (AV and its
audio-only twin), columns PESQ-WB, PESQ-NB, STOI, ESTOI, SI-SDR, WER, NFE, RTF.  The output only
depends on the score files (sorted, no timestamps), so rerunning gives the same file.
"""
from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import yaml

logger = logging.getLogger(__name__)

COLUMNS = (("pesq_wb", "PESQ-WB", 2), ("pesq_nb", "PESQ-NB", 2), ("stoi", "STOI", 3), ("estoi", "ESTOI", 3),
           ("sisdr", "SI-SDR", 1), ("wer", "WER %", 1))
JOB_TITLES = {"enhance": "Supervised AV enhancement (enhance)",
              "enhance_unsup": "Unsupervised AV enhancement (enhance_unsup)",
              "generate": "Lip-to-speech generation (generate)"}
_COND = re.compile(r"^(?P<base>.+)_snr(?P<snr>-?[\d.]+)_(?P<kind>seen|heldout)$")


@dataclass
class System:
    tag: str
    job: str
    set: str
    scores: dict
    audio_only: bool
    config: str
    decode: dict


def _load_json(p: Path) -> dict:
    return json.loads(p.read_text())


def find_systems(exp_dir: Path) -> List[System]:
    systems = []
    for scores in sorted(exp_dir.glob("*/*/scoring/scores.json")):
        run_dir = scores.parent.parent
        tag_dir = run_dir.parent
        if tag_dir.name == "noisy_input":
            systems.append(System("noisy input", "noisy", run_dir.name, _load_json(scores), True, "", {}))
            continue
        m = re.match(r"^(generate|enhance_unsup|enhance)_(.+)$", run_dir.name)
        if not m or not (tag_dir / "config.yaml").is_file():
            continue
        config = yaml.safe_load((tag_dir / "config.yaml").read_text()) or {}
        enc = str(config.get("visual_encoder")).lower()
        decode = {}
        if (run_dir / "decode_config.yaml").is_file():
            decode = yaml.safe_load((run_dir / "decode_config.yaml").read_text()) or {}
        systems.append(System(tag_dir.name, m.group(1), m.group(2), _load_json(scores), enc in ("none", "null"),
                              str(config.get("config", "")), decode))
    return systems


def condition_of(set_name: str):
    m = _COND.match(set_name)
    if not m:
        return None
    return m.group("base"), float(m.group("snr")), m.group("kind")


def _fmt(v: Optional[float], digits: int) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{digits}f}"


def _row(name: str, s: System) -> str:
    cells = [name]
    for key, _, digits in COLUMNS:
        entry = s.scores.get(key)
        cells.append(_fmt(entry["mean"] if isinstance(entry, dict) else entry, digits))
    cells.append(_fmt(s.scores.get("nfe"), 0) if "nfe" in s.scores else "–")
    cells.append(_fmt(s.scores.get("rtf"), 2) if "rtf" in s.scores else "–")
    return "| " + " | ".join(cells) + " |"


def _header() -> List[str]:
    names = ["system"] + [c[1] for c in COLUMNS] + ["NFE", "RTF"]
    return ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]


def _label(s: System) -> str:
    return f"{s.tag} ({'audio-only' if s.audio_only else 'AV'})"


def build_report(exp_dir: Path, out: Path, command: str = "./run.sh --stage 5 --stop_stage 6",
                 figures: bool = True) -> str:
    exp_dir, out = Path(exp_dir), Path(out)
    systems = find_systems(exp_dir)
    if not systems:
        raise FileNotFoundError(f"no scoring results under {exp_dir}/*/*/scoring: run stages 4 and 5 first")
    lines = ["# Results", "",
             "Produced by stage 6 of the recipe from the stage-5 score files; regenerate with "
             f"`{command}`. Values are means over the test utterances (95% confidence intervals in "
             "each `scoring/result_*.txt`); RTF is wall time over audio duration of the sampling on "
             "this machine. WER columns show – when no ASR model was used (`--skip_asr true`).", ""]
    noisy = {s.set: s for s in systems if s.job == "noisy"}
    for job in ("enhance", "enhance_unsup", "generate"):
        js = [s for s in systems if s.job == job]
        if not js:
            continue
        lines += [f"## {JOB_TITLES[job]}", ""]
        sets = sorted({s.set for s in js}, key=lambda n: (condition_of(n) or (n, 0.0, ""))[1:] + (n,))
        for set_name in sets:
            cond = condition_of(set_name)
            title = (f"### {cond[0]}: SNR {cond[1]:g} dB, {'seen' if cond[2] == 'seen' else 'held-out'} noise types"
                     if cond else f"### {set_name}")
            lines += [title, ""] + _header()
            if set_name in noisy:
                lines.append(_row("noisy input", noisy[set_name]))
            for s in sorted((s for s in js if s.set == set_name), key=lambda s: (s.audio_only, s.tag)):
                lines.append(_row(_label(s), s))
            lines.append("")
        decodes = sorted({(s.tag, s.decode.get("sampler", "?"), json.dumps(s.decode.get("sampler_conf", {}),
                                                                            sort_keys=True),
                           s.decode.get("guidance", 1.0)) for s in js})
        lines.append("Systems: " + "; ".join(f"`{t}` (exp/{t}/config.yaml) sampled with `{smp}` {conf}, "
                                              f"guidance {g}" for t, smp, conf, g in decodes) + ".")
        lines.append("")
    if figures:
        fig_lines = make_figures(exp_dir, out.parent / "figures", systems)
        if fig_lines:
            lines += ["## Figures", ""] + fig_lines + [""]
    text = "\n".join(lines)
    from avdm.fileio import atomic_open

    with atomic_open(out) as f:
        f.write(text)
    return text


def make_figures(exp_dir: Path, fig_dir: Path, systems: List[System]) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    # PESQ versus SNR per enhancement system
    series: Dict[tuple, list] = {}
    for s in systems:
        cond = condition_of(s.set)
        if cond is None or s.job not in ("noisy", "enhance", "enhance_unsup"):
            continue
        name = "noisy input" if s.job == "noisy" else f"{_label(s)} {s.job}"
        series.setdefault((name, cond[2]), []).append((cond[1], s.scores["pesq_wb"]["mean"]))
    if series:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for (name, kind), pts in sorted(series.items()):
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", linestyle="-" if kind == "seen" else "--",
                    label=f"{name} [{kind}]")
        ax.set_xlabel("SNR (dB)")
        ax.set_ylabel("PESQ-WB")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(fig_dir / "pesq_vs_snr.png", dpi=110, metadata={"Software": None})
        plt.close(fig)
        lines.append("![PESQ-WB versus SNR (solid: seen noise types, dashed: held-out)](figures/pesq_vs_snr.png)")
    spec = _spectrogram_figure(exp_dir, fig_dir, systems)
    if spec:
        lines += ["", spec]
    return lines


def _spectrogram_figure(exp_dir: Path, fig_dir: Path, systems: List[System]) -> Optional[str]:
    import kaldiio
    import matplotlib.pyplot as plt
    import numpy as np

    from avdm.bin.score import load_signal
    from avdm.fileio import read_kv

    enh = [s for s in systems if s.job == "enhance" and not s.audio_only and (condition_of(s.set) or (0, 1))[1] <= 0]
    if not enh:
        return None
    target = sorted(enh, key=lambda s: (condition_of(s.set)[1], s.set))[0]
    dump = exp_dir.parent / "dump" / "raw" / target.set
    if not dump.is_dir():
        return None
    gen = [s for s in systems if s.job == "generate" and not s.audio_only]
    utts = sorted(read_kv(exp_dir / target.tag / f"enhance_{target.set}" / "wav.scp"))[:2]
    rows = []
    for utt in utts:
        sig = {"clean": load_signal(read_kv(dump / "wav.scp")[utt]),
               "noisy": load_signal(read_kv(dump / "noisy.scp")[utt]),
               "enhanced": load_signal(read_kv(exp_dir / target.tag / f"enhance_{target.set}" / "wav.scp")[utt])}
        if gen:
            g = gen[0]
            scp = exp_dir / g.tag / f"generate_{g.set}" / "wav.scp"
            if scp.is_file() and utt in read_kv(scp):
                sig["generated"] = load_signal(read_kv(scp)[utt])
        lips = np.asarray(kaldiio.load_mat(read_kv(dump / "lip.scp")[utt]))
        rows.append((utt, sig, lips))
    ncol = max(len(r[1]) for r in rows) + 1
    fig, axes = plt.subplots(len(rows), ncol, figsize=(3.2 * ncol, 2.6 * len(rows)), squeeze=False)
    for i, (utt, sig, lips) in enumerate(rows):
        strip = np.concatenate(list(lips[::max(1, len(lips) // 6)][:6]), axis=1)
        axes[i, 0].imshow(strip, cmap="gray")
        axes[i, 0].set_title(f"{utt}: lips", fontsize=7)
        axes[i, 0].axis("off")
        for j, (name, x) in enumerate(sig.items(), start=1):
            axes[i, j].specgram(x, NFFT=512, Fs=16000, noverlap=384, cmap="magma", vmin=-120)
            axes[i, j].set_title(name, fontsize=8)
            axes[i, j].set_ylim(0, 8000)
            axes[i, j].tick_params(labelsize=6)
        for j in range(len(sig) + 1, ncol):
            axes[i, j].axis("off")
    fig.tight_layout()
    fig.savefig(fig_dir / "spectrograms.png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return (f"![Spectrograms: clean, noisy ({target.set}), enhanced by {target.tag}, generated from lips]"
            "(figures/spectrograms.png)")
