"""Scoring of system outputs against references (stage 5 and ``avdm-score``).

A :class:`ScoreJob` is one (reference, system output) pair.  :func:`run_scoring` scores any number
of them together: the utterances of all jobs are split into ``nj`` parts
(``avdm.launch.split_scp``) and scored by ``python -m avdm.bin.score_job`` processes
(``avdm.launch.run_jobs``: local processes or Slurm), or in this process when ``nj`` is 1.  With an
ASR model every output is also transcribed and its WER computed against the reference ``text``.

Per job, ``<out_dir>`` gets ``utt2<metric>``, ``result_<metric>.txt`` ("mean +- 95% CI (n)"),
``scores.json`` and, with ASR, ``hyp.txt`` and ``utt2wer``; utterances that could not be scored
(unreadable audio, lengths too far apart) are logged and listed with their reason in ``skipped``.
"""
from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from avdm.data.dumpset import load_signal
from avdm.fileio import atomic_open, read_kv, write_kv
from avdm.metrics import METRICS, mean_ci, score_pair

logger = logging.getLogger(__name__)

JOB_OUTPUTS = ("scores", "skipped")  # the lists one parallel scoring job writes (write_job_lists)


@dataclass
class ScoreJob:
    name: str                               # names the pair in messages (e.g. the inference dir)
    ref: Dict[str, str]                     # utt -> reference audio (scp value)
    inf: Dict[str, str]                     # utt -> system output audio (scp value)
    out_dir: Path                           # the scoring dir
    metrics: Sequence[str] = METRICS        # signal metrics ([] e.g. for the clean reference's WER only)
    text: Optional[Dict[str, str]] = None   # reference transcripts (WER when an ASR model is given)
    extra: dict = field(default_factory=dict)  # added to scores.json (system, set, nfe, rtf ...)


def check_coverage(job: ScoreJob, inf_skipped: Sequence[str] = (), require_all_refs: bool = False) -> None:
    """Every output needs a reference; with ``require_all_refs`` every reference needs an output
    (or an entry in ``inf_skipped``, the utterances inference skipped with a reason)."""
    def named(kind: str, utts: List[str]) -> str:
        more = f" (and {len(utts) - 1} more)" if len(utts) > 1 else ""
        return f"{job.name}: utterance '{utts[0]}'{more} {kind}"

    missing = [u for u in job.inf if u not in job.ref]
    if missing:
        raise KeyError(named("has no reference", missing))
    if require_all_refs:
        absent = [u for u in job.ref if u not in job.inf and u not in set(inf_skipped)]
        if absent:
            raise KeyError(named("of the reference set has no output (and is not in the inference "
                                 "'skipped' list)", absent))
    if job.text is not None:
        no_text = [u for u in job.inf if u not in job.text]
        if no_text:
            raise KeyError(named("has no reference transcript", no_text))


def score_entries(entries: Sequence[Tuple[str, Sequence[str], str, str]], transcriber=None,
                  desc: str = "scoring") -> Tuple[Dict[str, dict], Dict[str, str]]:
    """Score ``(key, metrics, ref_value, inf_value)`` entries; returns (results, skipped reasons)."""
    from tqdm import tqdm

    from avdm.audio_io import AudioError
    from avdm.metrics import LengthMismatchError

    results, skipped = {}, {}
    for key, metrics, ref_value, inf_value in tqdm(entries, desc=desc, unit="utt", mininterval=5):
        try:
            est = load_signal(inf_value)
            out = {}
            if metrics:
                out.update(score_pair(load_signal(ref_value), est, 16000, key.split("/", 1)[-1], metrics))
            if transcriber is not None:
                out["hyp"] = transcriber.transcribe(est)
        except (AudioError, LengthMismatchError, OSError) as e:
            skipped[key] = str(e).replace("\n", " ")
            logger.warning("skipping %s: %s", key, skipped[key])
            continue
        results[key] = out
    return results, skipped


def _entries(jobs: Sequence[ScoreJob]) -> List[Tuple[str, Sequence[str], str, str]]:
    return [(f"{i}/{u}", tuple(job.metrics), job.ref[u], job.inf[u])
            for i, job in enumerate(jobs) for u in sorted(job.inf)]


def run_scoring(jobs: Sequence[ScoreJob], nj: int = 1, log_dir: Optional[Path] = None,
                asr_model: Optional[str] = None, asr_decode_conf: Optional[str] = None) -> List[dict]:
    """Score every job (see the module doc); returns the ``scores.json`` summary of each."""
    entries = _entries(jobs)
    if not entries:
        raise ValueError("nothing to score: " + ", ".join(j.name for j in jobs) + " list no utterances")
    if asr_model:
        from avdm.asr.decode import resolve_model

        if any(j.text is None for j in jobs):
            raise ValueError("WER needs reference transcripts: " + ", ".join(j.name for j in jobs if j.text is None))
        resolve_model(asr_model)  # fails early on a missing model; unpacks an archive once, here
    if nj <= 1 or len(entries) == 1:
        transcriber = None
        if asr_model:
            from avdm.asr.decode import Transcriber, load_decode_conf

            transcriber = Transcriber(asr_model, load_decode_conf(asr_decode_conf))
        results, skipped = score_entries(entries, transcriber)
    else:
        results, skipped = _run_parallel(entries, nj, Path(log_dir or "."), asr_model, asr_decode_conf)
    summaries = []
    for i, job in enumerate(jobs):
        prefix = f"{i}/"
        res = {k[len(prefix):]: v for k, v in results.items() if k.startswith(prefix)}
        skip = {k[len(prefix):]: v for k, v in skipped.items() if k.startswith(prefix)}
        summaries.append(write_job_scores(job, res, skip, str(asr_model) if asr_model else None))
    return summaries


def _run_parallel(entries, nj: int, log_dir: Path, asr_model, asr_decode_conf):
    import shutil

    from avdm.parallel import job_dir, merge_lists, run_split

    log_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(log_dir / "score_tasks.scp") as f:
        for key, metrics, ref_value, inf_value in entries:
            f.write(f"{key} {','.join(metrics) or '-'} {ref_value} {inf_value}\n")
    out_root = log_dir / "score_out"
    if out_root.exists():
        shutil.rmtree(out_root)  # a job's lists must be its own, never an earlier run's
    parts = log_dir / "score_tasks.JOB.scp"
    cmd = [sys.executable, "-m", "avdm.bin.score_job", "--tasks", str(parts), "--out_dir", str(job_dir(out_root))]
    if asr_model:
        cmd += ["--asr_model", str(asr_model)]
        if asr_decode_conf:
            cmd += ["--asr_decode_conf", str(asr_decode_conf)]
    logger.info("scoring %d utterances in at most %d jobs (logs: %s)", len(entries), nj, log_dir / "score.*.log")
    n_jobs = run_split(log_dir / "score_tasks.scp", nj, cmd, parts, log_dir / "score.JOB.log",
                       env={"OMP_NUM_THREADS": "1"})
    merged = merge_lists(out_root, n_jobs, JOB_OUTPUTS, required=JOB_OUTPUTS)
    return {k: json.loads(v) for k, v in merged["scores"].items()}, merged["skipped"]


def write_job_lists(out_dir: Path, tasks, results: Dict[str, dict], skipped: Dict[str, str]) -> None:
    """One scoring job's outputs (:data:`JOB_OUTPUTS`): ``scores`` (key, JSON of its scores) and
    ``skipped`` (key, reason), in task order."""
    write_kv(Path(out_dir) / "skipped", [(k, skipped[k]) for k, *_ in tasks if k in skipped], sort=False)
    write_kv(Path(out_dir) / "scores", [(k, json.dumps(results[k], sort_keys=True)) for k, *_ in tasks
                                        if k not in skipped], sort=False)


def read_tasks(path) -> List[Tuple[str, Sequence[str], str, str]]:
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 4:
                raise ValueError(f"{path}:{lineno}: expected 'key metrics ref inf', got {line.strip()!r}")
            key, metrics, ref, inf = parts
            out.append((key, tuple(m for m in metrics.split(",") if m and m != "-"), ref, inf))
    return out


def write_job_scores(job: ScoreJob, per_utt: Dict[str, dict], skipped: Dict[str, str],
                     asr_model: Optional[str] = None) -> dict:
    """utt2<metric>, result_<metric>.txt, hyp.txt/utt2wer, skipped and scores.json of one job."""
    out = Path(job.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not per_utt:
        raise ValueError(f"{job.name}: no utterance could be scored (reasons in {out / 'skipped'})")
    summary: Dict[str, object] = {}
    for m in job.metrics:
        vals = {u: s[m] for u, s in per_utt.items()}
        write_kv(out / f"utt2{m}", {u: f"{v:.4f}" for u, v in vals.items()})
        mean, ci, n = mean_ci(vals.values())
        summary[m] = {"mean": mean, "ci95": ci, "n": n}
        with atomic_open(out / f"result_{m}.txt") as f:
            f.write(f"{m} {mean:.4f} +- {ci:.4f} (n={n})\n")
    with_wer = asr_model is not None
    if with_wer:
        summary["wer"] = write_wer(out, {u: s["hyp"] for u, s in per_utt.items()}, job.text)
    write_kv(out / "skipped", skipped)
    summary["n_skipped"] = len(skipped)
    if with_wer:
        summary["asr_model"] = str(asr_model)
    summary.update(job.extra)
    with atomic_open(out / "scores.json") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    return summary


def write_wer(out: Path, hyps: Dict[str, str], refs: Dict[str, str]) -> dict:
    """Corpus WER (errors over reference words, %) with the t-interval of the per-utterance WERs."""
    from avdm.asr.wer import corpus_errors, total

    errs = corpus_errors(refs, hyps)
    tot = total(errs.values())
    with atomic_open(out / "hyp.txt") as f:
        for u in sorted(hyps):
            f.write(f"{u} {hyps[u]}\n".replace(f"{u} \n", f"{u}\n"))
    write_kv(out / "utt2wer", {u: f"{e.wer:.2f}" for u, e in errs.items()})
    _, ci, n = mean_ci([e.wer for e in errs.values()])
    with atomic_open(out / "result_wer.txt") as f:
        f.write(f"wer {tot.wer:.2f} +- {ci:.2f} (n={n}; {tot.errors} errors / {tot.ref_words} words: "
                f"{tot.sub} sub, {tot.dele} del, {tot.ins} ins)\n")
    return {"mean": tot.wer, "ci95": ci, "n": n, "errors": tot.errors, "words": tot.ref_words,
            "sub": tot.sub, "del": tot.dele, "ins": tot.ins}


def read_skipped(inf_dir: Path) -> List[str]:
    p = Path(inf_dir) / "skipped"
    return list(read_kv(p, allow_empty_value=True)) if p.is_file() else []
