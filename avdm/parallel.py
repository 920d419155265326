"""Split an scp into jobs, run them, merge their outputs: the one implementation behind every ``--nj``
stage (lips, dumping, inference, scoring).

:func:`run_split` splits the list into parts (a path pattern with ``JOB``) and runs one command per
part (``JOB`` replaced by 1..n; :func:`avdm.launch.run_jobs`: local processes or Slurm, one log
each).  Each job writes Kaldi-style lists into its own dir
(:func:`job_dir`); :func:`merge_lists` reads them back in job order.  A failed job raises
:class:`avdm.launch.JobsFailed`, whose message names its log.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from avdm.fileio import read_kv, require_files
from avdm.launch import run_jobs, split_scp


def job_dir(root, job="JOB") -> Path:
    """The output dir of one job under ``root`` (``root/split/<job>``; "JOB" in a command)."""
    return Path(root) / "split" / str(job)


def run_split(scp, nj: int, cmd: Sequence[str], parts, logs, min_lines_per_part: int = 1, **run_kw) -> int:
    """Split ``scp`` into the files ``parts`` (a pattern with ``JOB``; at most ``nj`` of them, see
    :func:`avdm.launch.split_scp`) and run ``cmd`` once per part, logging to ``logs`` (a pattern with
    ``JOB``); returns the number of jobs."""
    n_jobs = len(split_scp(str(scp), nj, str(parts), min_lines_per_part))
    run_jobs(cmd, n_jobs, str(logs), **run_kw)
    return n_jobs


def merge_lists(root, n_jobs: int, names: Sequence[str], required: Sequence[str] = (),
                relocate: Optional[Tuple[Path, Path]] = None, missing_ok: bool = False,
                stage_hint: str = "") -> Dict[str, Dict[str, str]]:
    """The lists ``names`` (file names or glob patterns) of the jobs' dirs under ``root``, each merged
    over the jobs in job order: ``{file name: {key: value}}``.

    ``required`` names files every job must have written; with ``missing_ok`` a job dir that does
    not exist (the job had nothing to do) is passed over.  ``relocate=(old, new)``: in the ``*.scp``
    lists a path under ``old`` (a staging dir) is given as under ``new`` (where it will be).
    """
    merged: Dict[str, Dict[str, str]] = {}
    for j in range(1, n_jobs + 1):
        d = job_dir(root, j)
        if missing_ok and not d.is_dir():
            continue
        require_files(*(d / r for r in required), stage_hint=stage_hint.replace("JOB", str(j)))
        for path in _matching(d, names):
            lists = read_kv(path, allow_empty_value=True)
            if relocate and path.suffix == ".scp":
                old, new = str(relocate[0]), str(relocate[1])
                lists = {k: new + v[len(old):] if v.startswith(old) else v for k, v in lists.items()}
            merged.setdefault(path.name, {}).update(lists)
    return merged


def _matching(d: Path, names: Sequence[str]) -> List[Path]:
    out: List[Path] = []
    for n in names:
        out += sorted(d.glob(n)) if any(c in n for c in "*?[") else ([d / n] if (d / n).is_file() else [])
    return out
