"""Stage 6: RESULTS.md tables and figures from the scoring dirs of stages 4-5.

One table per job type and test condition; rows for the noisy input and every system (AV and its
audio-only twin), columns PESQ-WB, PESQ-NB, STOI, ESTOI, SI-SDR, WER, NFE, RTF.  The output only
depends on the score files (sorted, no timestamps), so rerunning gives the same file.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import yaml

from avdm.data.condition import Condition, condition_of
from avdm.inference.job_list import INFERENCE_JOBS, is_audio_only, job as job_of, parse_output_dir_name
from avdm.markdown_table import number, row, table

logger = logging.getLogger(__name__)

COLUMNS = (("pesq_wb", "PESQ-WB", 2), ("pesq_nb", "PESQ-NB", 2), ("stoi", "STOI", 3), ("estoi", "ESTOI", 3),
           ("sisdr", "SI-SDR", 1), ("wer", "WER %", 1))
# the report's sections: the enhancement jobs first, then generation
JOB_TITLES = {j.name: j.title for j in sorted(INFERENCE_JOBS, key=lambda j: not j.noisy_input)}
NO_VALUE = "–"  # the cell of a score that was not measured
KIND_TITLES = {"seen": "seen noise types", "heldout": "held-out noise types",
               "talker": "competing talker (another unseen speaker)"}


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
        if tag_dir.name == "reference":
            systems.append(System("clean reference", "reference", run_dir.name, _load_json(scores), True, "", {}))
            continue
        job_and_set = parse_output_dir_name(run_dir.name)
        if not job_and_set or not (tag_dir / "config.yaml").is_file():
            continue
        config = yaml.safe_load((tag_dir / "config.yaml").read_text()) or {}
        decode = {}
        if (run_dir / "decode_config.yaml").is_file():
            decode = yaml.safe_load((run_dir / "decode_config.yaml").read_text()) or {}
        systems.append(System(tag_dir.name, *job_and_set, _load_json(scores), is_audio_only(config),
                              str(config.get("config", "")), decode))
    return systems


def set_conditions(systems: List[System], dump_dir: Path) -> Dict[str, Optional[Condition]]:
    """The condition of every scored set, read from its stage-2 dump dir (None: a clean set)."""
    return {s.set: condition_of(dump_dir / s.set) for s in systems}


def _row(name: str, s: System) -> str:
    cells = [name]
    for key, _, digits in COLUMNS:
        entry = s.scores.get(key)
        cells.append(number(entry["mean"] if isinstance(entry, dict) else entry, digits, missing=NO_VALUE))
    cells.append(number(s.scores.get("nfe"), 0, missing=NO_VALUE))
    cells.append(number(s.scores.get("rtf"), 2, missing=NO_VALUE))
    return row(cells)


def _header() -> List[str]:
    return table(["system"] + [c[1] for c in COLUMNS] + ["NFE", "RTF"])


def _label(s: System) -> str:
    return f"{s.tag} ({'audio-only' if s.audio_only else 'AV'})"


def _wer_note(systems: List[System]) -> str:
    models = sorted({str(s.scores["asr_model"]) for s in systems if "asr_model" in s.scores})
    if not models:
        return "WER columns show – when no ASR model was used (`--skip_asr true`)."
    return ("WER (%, errors over reference words; the `clean reference` row is the ASR's own error on "
            "clean speech) by the ASR model " + ", ".join(f"`{m}`" for m in models) + ".")


def _reproduce(js: List[System], job: str, run_command: str) -> str:
    configs = sorted({(s.config or f"exp/{s.tag}/config.yaml", s.audio_only) for s in js})
    names = ", ".join(f"`{c}` ({'audio-only' if ao else 'AV'})" for c, ao in configs)
    cmd = f'{run_command} --train_config "{" ".join(c for c, _ in configs)}" --inference_jobs {job}'
    return f"Models: {names}. Reproduce (stages 0–6): `{cmd}`."


def build_report(exp_dir: Path, out: Path, command: str = "./run.sh --stage 5 --stop_stage 6",
                 figures: bool = True, dump_dir: Optional[Path] = None, run_command: str = "./run.sh") -> str:
    exp_dir, out = Path(exp_dir), Path(out)
    dump_dir = Path(dump_dir) if dump_dir else exp_dir.parent / "dump" / "raw"
    systems = find_systems(exp_dir)
    if not systems:
        raise FileNotFoundError(f"no scoring results under {exp_dir}/*/*/scoring: run stages 4 and 5 first")
    conds = set_conditions(systems, dump_dir)
    lines = ["# Results", "",
             "Produced by stage 6 of the recipe from the stage-5 score files; regenerate with "
             f"`{command}`. Values are means over the test utterances (95% confidence intervals in "
             "each `scoring/result_*.txt`); RTF is wall time over audio duration of the sampling on "
             "this machine. Each row is one trained model (one training seed): the intervals cover the "
             "test utterances, not training, so compare two systems over several seeds before reading a "
             "small difference between them as an effect. " + _wer_note(systems), ""]
    noisy = {s.set: s for s in systems if s.job == "noisy"}
    reference = {s.set: s for s in systems if s.job == "reference"}
    for job in JOB_TITLES:
        js = [s for s in systems if s.job == job]
        if not js:
            continue
        lines += [f"## {JOB_TITLES[job]}", ""]
        sets = sorted({s.set for s in js}, key=lambda n: (conds[n].snr, conds[n].interferer, n) if conds[n]
                      else (0.0, "", n))
        for set_name in sets:
            cond = conds[set_name]
            title = (f"### {cond.base}: SNR {cond.snr:g} dB, {KIND_TITLES[cond.interferer]}" if cond
                     else f"### {set_name}")
            lines += [title, ""] + _header()
            base = cond.base if cond else set_name
            if base in reference:
                lines.append(_row("clean reference", reference[base]))
            if set_name in noisy:
                lines.append(_row("noisy input", noisy[set_name]))
            rows = sorted((s for s in js if s.set == set_name), key=lambda s: (s.audio_only, s.tag))
            for s in rows:
                lines.append(_row(_label(s), s))
            lines += ["", _reproduce(rows, job, run_command), ""]
        decodes = sorted({(s.tag, s.decode.get("sampler", "?"), json.dumps(s.decode.get("sampler_conf", {}),
                                                                            sort_keys=True),
                           s.decode.get("guidance", 1.0), _start(s.decode)) for s in js})
        lines.append("Systems: " + "; ".join(f"`{t}` (exp/{t}/config.yaml) sampled with `{smp}` {conf}, "
                                              f"guidance {g}{start}" for t, smp, conf, g, start in decodes) + ".")
        lines.append("")
    lines += _frontend_section(exp_dir)
    if figures:
        fig_lines = make_figures(exp_dir, out.parent / "figures", systems, dump_dir, conds)
        if fig_lines:
            lines += ["## Figures", ""] + fig_lines + [""]
    text = "\n".join(lines)
    from avdm.fileio import atomic_open

    with atomic_open(out) as f:
        f.write(text)
    return text


def _start(decode: Dict) -> str:
    """Where the sampler starts, when not from noise at T."""
    if decode.get("start", "noise") == "noise":
        return ""
    return (f", started at t {decode.get('t_start')} from the {decode['start']} (a model without a lip front-end "
            "starts from noise)")


def _frontend_section(exp_dir: Path) -> List[str]:
    """The lip front-end's probe: how well the lips alone predict the speech envelope of held-out speakers."""
    probe = exp_dir / "lip_frontend" / "probe.json"
    if not probe.is_file():
        return []
    res = _load_json(probe)
    rows = [(k, v) for k, v in sorted(res.items()) if isinstance(v, dict) and "broadband_r" in v]
    lines = ["## Lip front-end probe", "",
             f"The visual encoder pretrained in stage 3 ({res.get('steps', '?')} steps) predicts the speech's log-mel "
             "envelope from the lips alone; Pearson r between predicted and true envelope on held-out speakers "
             "(broadband: log energy over all frames; bands: the standardised 20-band envelope); render ESTOI: the "
             "predicted envelope rendered as shaped noise, scored against the speech (what lip-to-speech can take "
             "from it). From `exp/lip_frontend/probe.json`.", ""]
    lines += table(["set", "utterances", "broadband r", "band r", "render ESTOI"],
                   [[k, v["utterances"], *(number(v.get(r), missing=NO_VALUE)
                                           for r in ("broadband_r", "band_r", "render_estoi"))]
                    for k, v in rows])
    return lines + [""]


def make_figures(exp_dir: Path, fig_dir: Path, systems: List[System], dump_dir: Path,
                 conds: Dict[str, Optional[Condition]]) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    # PESQ versus SNR per enhancement system
    series: Dict[tuple, list] = {}
    for s in systems:
        cond = conds[s.set]
        if cond is None or not (s.job == "noisy" or (s.job in JOB_TITLES and job_of(s.job).noisy_input)):
            continue
        name = "noisy input" if s.job == "noisy" else f"{_label(s)} {s.job}"
        series.setdefault((name, cond.interferer), []).append((cond.snr, s.scores["pesq_wb"]["mean"]))
    if series:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for (name, kind), pts in sorted(series.items()):
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                    linestyle={"seen": "-", "heldout": "--"}.get(kind, ":"),
                    label=f"{name} [{kind}]")
        ax.set_xlabel("SNR (dB)")
        ax.set_ylabel("PESQ-WB")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(fig_dir / "pesq_vs_snr.png", dpi=110, metadata={"Software": None})
        plt.close(fig)
        lines.append("![PESQ-WB versus SNR (solid: seen noise types, dashed: held-out, dotted: competing talker)]"
                     "(figures/pesq_vs_snr.png)")
    spec = _spectrogram_figure(exp_dir, fig_dir, systems, dump_dir, conds)
    if spec:
        lines += ["", spec]
    return lines


def _spectrogram_figure(exp_dir: Path, fig_dir: Path, systems: List[System], dump_dir: Path,
                        conds: Dict[str, Optional[Condition]], n_utts: int = 2) -> Optional[str]:
    """Clean / noisy / every AV system's output / generated speech of a few utterances, with lips."""
    import matplotlib.pyplot as plt
    import numpy as np

    from avdm.fileio import load_ark, read_kv
    from avdm.data.dumpset import load_signal

    av = [s for s in systems if not s.audio_only and s.job in JOB_TITLES]
    noisy_sets = sorted({s.set for s in av if conds[s.set]}, key=lambda n: (conds[n].snr, n))
    gen = [s for s in av if s.job == "generate"]
    if noisy_sets:
        target = noisy_sets[0]
    elif gen:
        target = gen[0].set
    else:
        return None
    dump = dump_dir / target
    if not (dump / "wav.scp").is_file():
        logger.warning("no spectrogram figure: %s not found (stage 2 output)", dump / "wav.scp")
        return None
    base = conds[target].base if conds[target] else target
    columns = [("clean", read_kv(dump / "wav.scp"))]
    if (dump / "noisy.scp").is_file():
        columns.append((f"noisy ({target})", read_kv(dump / "noisy.scp")))
    for s in sorted(av, key=lambda s: (list(JOB_TITLES).index(s.job), s.tag)):
        if s.set == target or (s.job == "generate" and s.set == base):
            scp = exp_dir / s.tag / f"{s.job}_{s.set}" / "wav.scp"
            if scp.is_file():
                columns.append((f"{'generated' if s.job == 'generate' else s.job}: {s.tag}", read_kv(scp)))
    lip_scp = next((p for p in (dump / "lip.scp", dump_dir / base / "lip.scp") if p.is_file()), None)
    utts = sorted(set.intersection(*(set(scp) for _, scp in columns)))[:n_utts]
    if lip_scp is None or not utts or len(columns) < 2:
        return None
    lips_of = read_kv(lip_scp)
    ncol = len(columns) + 1
    fig, axes = plt.subplots(len(utts), ncol, figsize=(3.0 * ncol, 2.5 * len(utts)), squeeze=False)
    for i, utt in enumerate(utts):
        ax = axes[i, 0]
        if utt in lips_of:
            lips = np.asarray(load_ark(lips_of[utt], str(lip_scp)))
            strip = np.concatenate(list(lips[:: max(1, len(lips) // 6)][:6]), axis=1)
            ax.imshow(strip, cmap="gray")
        ax.set_title(f"{utt}: lip ROIs", fontsize=7)
        ax.axis("off")
        for j, (name, scp) in enumerate(columns, start=1):
            ax = axes[i, j]
            with np.errstate(divide="ignore"):  # digital silence: log10(0) = -inf, drawn as the floor
                ax.specgram(load_signal(scp[utt]), NFFT=512, Fs=16000, noverlap=384, cmap="magma", vmin=-120)
            ax.set_title(name, fontsize=7)
            ax.set_ylim(0, 8000)
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    fig.savefig(fig_dir / "spectrograms.png", dpi=80, metadata={"Software": None})
    plt.close(fig)
    return (f"![Spectrograms of {', '.join(utts)}: lip ROIs, {', '.join(n for n, _ in columns)}]"
            "(figures/spectrograms.png)")
