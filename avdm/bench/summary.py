"""``summary.md`` from the benchmark files of one directory: the targets (met, missed or not
measured), the training budgets, and one section per benchmark with the command that made it.
Writing it measures nothing; it can be rerun at any time."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

from avdm.bench import BENCHES
from avdm.bench.record import read_json
from avdm.bench.targets import MET, MISSED, check_all
from avdm.fileio import atomic_open
from avdm.markdown_table import number, table

NAMES = tuple(BENCHES)


def _q(r: dict) -> List[str]:
    """PESQ, ESTOI, SI-SDR of a result as table cells."""
    return [number(r.get("pesq_wb")), number(r.get("estoi")), number(r.get("sisdr"), 2)]


def _cmd(rec: dict) -> List[str]:
    return [f"Command (run in `{rec.get('cwd', '.')}`, {rec.get('date', '')}):", "", "```", rec.get("command", "?"),
            "```", ""]


def _status(s: str) -> str:
    return {MET: "met", MISSED: "**missed**"}.get(s, s)


def targets_section(checks: List[dict]) -> List[str]:
    lines = ["## Targets", ""] + table(["target", "value", "status"], [
        [c["target"], c["value"] if c["value"] is not None else "-", _status(c["status"])] for c in checks]) + [""]
    missed = [c["target"] for c in checks if c["status"] == MISSED]
    if missed:
        lines += [f"{len(missed)} target(s) missed: " + "; ".join(missed) + ".", ""]
    return lines


def _budgets_in(obj) -> List[dict]:
    """Every training budget (a dict from ``record.budget_of``) anywhere in a record."""
    if isinstance(obj, dict):
        if "model_dir" in obj and "max_epoch" in obj:
            return [obj]
        return [b for v in obj.values() for b in _budgets_in(v)]
    if isinstance(obj, list):
        return [b for v in obj for b in _budgets_in(v)]
    return []


def budget_section(records: Dict[str, Optional[dict]]) -> List[str]:
    budgets = {b["model_dir"]: b for rec in records.values() if rec for b in _budgets_in(rec)}
    if not budgets:
        return []
    rows = [[name, b.get("steps") or "-", b.get("batch_size") or "-", number(b.get("segment_seconds"), 2),
             number(b.get("audio_hours_seen"), 2), number((b.get("train_speed") or {}).get("seconds_per_step"), 2),
             number(b.get("train_seconds_estimate"), 0)] for name, b in sorted(budgets.items())]
    return ["## Training budget", ""] + table(
        ["model", "steps", "batch", "segment (s)", "audio seen (h)", "s/step", "training (s)"], rows) + [""]


def nfe_section(rec: dict) -> List[str]:
    ref, noisy = rec.get("reference") or {}, rec.get("noisy", {}).get("all", {})
    sets = rec.get("n_utts", {})
    lines = ["## 1. NFE versus quality", ""] + _cmd(rec)
    lines += [f"Model `{rec.get('model')}` (enhance), {sum(sets.values())} utterances of "
              + ", ".join(f"`{k}` ({v})" for k, v in sets.items()) +
              f". Reference: {ref.get('sampler')} at {ref.get('nfe')} NFE, PESQ {number(ref.get('pesq_wb'))}; "
              f"noisy input PESQ {number(noisy.get('pesq_wb'))}, ESTOI {number(noisy.get('estoi'))}, "
              f"SI-SDR {number(noisy.get('sisdr'), 2)}.", ""]
    rows = [[s, p["nfe"], *_q(p["all"]), number(p["all"].get("rtf"))]
            for s, pts in rec.get("curves", {}).items() for p in pts]
    lines += table(["sampler", "NFE", "PESQ-WB", "ESTOI", "SI-SDR", "RTF"], rows) + [""]
    smallest = ", ".join(f"{k} {v if v is not None else 'never'}" for k, v in rec.get("smallest_nfe", {}).items())
    return lines + [f"Smallest NFE reaching {rec.get('fraction', 0.97):.0%} of the reference PESQ: {smallest}.", ""]


def rtf_section(rec: dict) -> List[str]:
    lines = ["## 2. Real-time factor", ""] + _cmd(rec)
    lines += [f"One {number(rec.get('seconds'), 1)} s utterance, decode config `{rec.get('decode_config')}`. "
              f"{rec.get('note', '')}", ""]
    rows = []
    for e in rec.get("entries", []):
        if "error" in e:
            rows.append([e["model"], "-", e["device"], "-", f"failed: {e['error']}", "-", "-"])
            continue
        rows += [[e["model"], f"{e.get('parameters', 0) / 1e6:.1f} M", e["device"], e["threads"] or "-", c["name"],
                  c["nfe"], number(c["rtf"])] for c in e["configs"]]
    lines += table(["model", "parameters", "device", "threads", "configuration", "NFE", "RTF"], rows) + [""]
    lines += [f"{r['model']} on {r['device']}: pc at 60 NFE takes {r['pc60_over_default']:.1f}x the time of the "
              "default (same run)." for r in rec.get("ratios", [])]
    return lines + [""]


def visual_section(rec: dict) -> List[str]:
    lines = ["## 3. Does the lip video help?", ""] + _cmd(rec)
    enh = rec.get("enhance")
    if enh:
        eq = (rec.get("budget") or {}).get("equal")
        lines += [f"AV model versus its audio-only twin (same training budget: {'yes' if eq else 'NO'}), "
                  f"decode config `{enh.get('decode_config')}`.", ""]
        rows = [[key, number(r["noisy"]["pesq_wb"]), number(r["av"]["pesq_wb"]), number(r["ao"]["pesq_wb"]),
                 number(r["delta"]["pesq_wb"], sign=True), number(r["noisy"]["estoi"]), number(r["av"]["estoi"]),
                 number(r["ao"]["estoi"]), number(r["delta"]["estoi"], sign=True), r["av"].get("n")]
                for key, r in enh.get("by_snr", {}).items()]
        lines += table(["SNR (dB)", "PESQ noisy", "PESQ AV", "PESQ AO", "dPESQ", "ESTOI noisy", "ESTOI AV",
                        "ESTOI AO", "dESTOI", "n"], rows) + [""]
    l2s = rec.get("lip_to_speech")
    if l2s:
        lines += [f"Lip-to-speech on `{l2s['data_dir']}` ({l2s['n']} utterances, guidance {l2s.get('guidance')}); "
                  f"other lips: those of the utterance {l2s['shift']} further, fitted to the length.", ""]
        rows = [["true", *_q(l2s["true_lips"])], ["another utterance's", *_q(l2s["other_lips"])]]
        if l2s.get("audio_only_prior"):
            rows.append(["none (audio-only prior)", *_q(l2s["audio_only_prior"])])
        lines += table(["lips", "PESQ", "ESTOI", "SI-SDR"], rows) + [""]
        lines += [f"ESTOI gap (true - other): {number(l2s.get('estoi_gap'), sign=True)}.", ""]
    sweep = rec.get("guidance_sweep")
    if sweep:
        lines += [f"Guidance sweep of lip-to-speech on `{sweep['data_dir']}` ({sweep['n']} utterances; a development "
                  "set, reported, not used to pick the default):", ""]
        rows = [[f"{r['guidance']:g}", *_q(r)] for r in sweep["results"]]
        lines += table(["guidance", "PESQ", "ESTOI", "SI-SDR"], rows) + [""]
    return lines


def peer_section(rec: dict) -> List[str]:
    lines = ["## 4. The peer: espnet2's SGMSE+", ""] + _cmd(rec)
    p, a = rec.get("peer", {}), rec.get("avdm", {})
    s = p.get("sampler") or {}
    wall = rec.get("wall_clock")
    if rec.get("peer_budget") == "wall_clock" and wall:
        av, trained = wall.get("avdm") or {}, wall.get("peer_trained") or {}
        budget = (f"Equal training wall-clock: avdm {number(av.get('seconds'), 0)} s (model steps "
                  f"{number(av.get('model_steps_seconds'), 0)} s + lip front-end {number(av.get('frontend_seconds'), 0)} s); "
                  f"the peer {wall.get('peer_steps')} steps at {number(wall.get('peer_step_seconds'), 2)} s each, "
                  f"{number(trained.get('seconds'), 0)} s as logged ({wall.get('precision')}).")
    else:
        budget = f"Same training budget (steps): {'yes' if rec.get('budget_equal') else 'NO'}."
    lines += [f"Peer: espnet {p.get('espnet')} `EnhancementTask` with `diffusion_model: sgmse` (`{p.get('config')}`, "
              f"{(p.get('parameters') or 0) / 1e6:.2f} M parameters, {p.get('precision', 'fp32')}), its PC sampler "
              f"({s.get('predictor')} + {s.get('corrector')}, {s.get('N')} steps, corrector snr {s.get('snr')}). "
              f"avdm: `{a.get('model')}` ({(a.get('parameters') or 0) / 1e6:.2f} M parameters), "
              f"`{a.get('decode_config')}`. {budget}", ""]
    results = rec.get("results", {})
    rows = [[k, *_q(results.get(k, {})), results.get(k, {}).get("nfe", "-"),
             number(results.get(k, {}).get("seconds"), 1)] for k in ("noisy", "avdm", "peer")]
    lines += table(["system", "PESQ-WB", "ESTOI", "SI-SDR", "NFE", "inference time (s)"], rows) + [""]
    per_set, paired = rec.get("per_set") or {}, rec.get("paired") or {}
    if paired:
        lines += ["Per test condition, avdm - peer paired over the same utterances (95% interval):", ""]
        rows = []
        for name, d in paired.items():
            cell = {k: (per_set.get(k) or {}).get(name) or {} for k in ("noisy", "avdm", "peer")}
            rows.append([name, d["estoi"]["n"], *(number(cell[k].get("pesq_wb")) for k in ("noisy", "avdm", "peer")),
                         *(number(cell[k].get("estoi")) for k in ("noisy", "avdm", "peer")),
                         f"{number(d['pesq_wb']['diff'], sign=True)} ± {number(d['pesq_wb']['ci95'])}",
                         f"{number(d['estoi']['diff'], sign=True)} ± {number(d['estoi']['ci95'])}"])
        lines += table(["set", "n", "PESQ noisy", "PESQ avdm", "PESQ peer", "ESTOI noisy", "ESTOI avdm", "ESTOI peer",
                        "PESQ avdm - peer", "ESTOI avdm - peer"], rows) + [""]
    return lines + [f"avdm / peer inference time, side by side in one run ({rec.get('time_ratio_utts', '?')} "
                    f"utterances): {number(rec.get('time_ratio'), 4)}.", ""]


def throughput_section(rec: dict) -> List[str]:
    lines = ["## 5. Pipeline throughput", ""] + _cmd(rec)
    lip = rec.get("lip") or {}
    if "error" in lip or "skipped" in lip:
        lines.append(f"- lip ROI extraction: not measured ({lip.get('error') or lip.get('skipped')})")
    for k, r in lip.get("detectors", {}).items():
        lines.append(f"- lip ROI extraction, {k}: {r['fps_per_core']:.1f} frames/s per core "
                     f"({r['with_decode_fps']:.1f} with video decoding; {lip.get('frames')} frames of "
                     f"{lip.get('source')}; `{lip.get('command')}`)")
    d = rec.get("dump") or {}
    if "utts_per_s" in d:
        lines.append(f"- dumping (stage 2, 1 job) of `{d['data_dir']}`: {d['utts_per_s']:.2f} utterances/s, "
                     f"{d['audio_seconds_per_s']:.1f} s of audio per second")
    elif "error" in d:
        lines.append(f"- dumping: not measured ({d['error']})")
    for name, b in (rec.get("train") or {}).items():
        s = (b.get("train_speed") or {}).get("steps_per_s")
        what = (f"{s:.3f} steps/s (batch {b.get('batch_size')}, {number(b.get('segment_seconds'), 2)} s segments)"
                if s else "no per-epoch speed in its train.log")
        lines.append(f"- training `{name}`: {what}")
    return lines + [""]


def train_speed_section(rec: dict) -> List[str]:
    lines = ["## 6. Training speed per option", ""] + _cmd(rec)
    lines += [f"`{rec.get('config')}`, batch {rec.get('batch_size')} x {number(rec.get('segment_seconds'), 2)} s, "
              f"{rec.get('optim')}, {rec.get('steps')} timed steps per variant in turn; {rec.get('job')} RTF of "
              f"`{rec.get('decode_config')}` on {number(rec.get('infer_seconds'), 1)} s. {rec.get('note', '')}", ""]
    rows = []
    for e in rec.get("entries", []):
        infer = {r["name"]: r for r in e.get("infer", [])}
        rows += [[e["device"], e.get("threads") or "-", t["name"], t.get("runs_at"), number(t["steps_per_s"]),
                  f"{number(t['min_s'], 2)}-{number(t['max_s'], 2)}", number(t.get("cpu_median_s")),
                  number((e.get("speedup") or {}).get(t["name"]), 2), number((infer.get(t["name"]) or {}).get("rtf")),
                  number((infer.get(t["name"]) or {}).get("rtf_cpu"))] for t in e.get("train", [])]
    return lines + table(["device", "threads", "variant", "runs at", "steps/s", "s/step range", "CPU s/step",
                          "x fp32", "RTF", "CPU RTF"], rows) + [""]


SECTIONS = {"nfe": nfe_section, "rtf": rtf_section, "visual": visual_section, "peer": peer_section,
            "throughput": throughput_section, "train_speed": train_speed_section}


def read_records(out_dir) -> Dict[str, Optional[dict]]:
    """``<out_dir>/<name>.json`` of every benchmark (None where it was not measured)."""
    return {n: read_json(out_dir, n) for n in NAMES}


def build(out_dir) -> str:
    records = read_records(out_dir)
    machine = next((r["machine"] for r in records.values() if r and r.get("machine")), {})
    lines = ["# avdm benchmarks", "",
             "Written by `avdm-bench summary` from the JSON files next to it (one per benchmark); every section "
             "names the command that measured it. Targets from the benchmark issue; a missed target is marked "
             "**missed**.", ""]
    if machine:
        lines += [f"Machine: {machine.get('processor')}, {machine.get('cpu_count')} CPU cores, torch "
                  f"{machine.get('torch')}, GPU: {machine.get('gpu', 'none')}.", ""]
    lines += targets_section(check_all(records))
    lines += budget_section(records)
    for name in NAMES:
        lines += SECTIONS[name](records[name]) if records[name] else [f"## {name}: not measured (no {name}.json)", ""]
    return "\n".join(lines).rstrip() + "\n"


def write(out_dir) -> Path:
    path = Path(out_dir) / "summary.md"
    text = build(out_dir)
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path
