"""Kaldi data directories: write, validate and fix them (the way Kaldi's ``utils/`` do).

A data dir holds ``wav.scp``, ``video.scp``, ``text``, ``utt2spk`` and ``spk2utt`` (and for noisy
sets ``noisy.scp``, ``noise.scp``, ``utt2snr``, ``utt2noise``), every file sorted by key, every
per-utterance file with the same keys, utterance ids prefixed by their speaker id.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterable, List

from avdm.fileio import read_kv, write_kv

logger = logging.getLogger(__name__)

UTT_FILES = ("wav.scp", "video.scp", "text", "utt2spk", "noisy.scp", "noise.scp", "utt2snr", "utt2noise")
REQUIRED = ("wav.scp", "text", "utt2spk")


class DataDirError(ValueError):
    """A data dir that is inconsistent; the message names the file, line and reason."""


def spk2utt_from(utt2spk: Dict[str, str]) -> Dict[str, str]:
    spk: Dict[str, List[str]] = defaultdict(list)
    for utt in sorted(utt2spk):
        spk[utt2spk[utt]].append(utt)
    return {s: " ".join(u) for s, u in spk.items()}


def write_data_dir(d: Path, files: Dict[str, Dict[str, str]]) -> None:
    """Write ``{filename: {utt: value}}`` plus ``spk2utt``; then validate."""
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        write_kv(d / name, content)
    if "utt2spk" in files:
        write_kv(d / "spk2utt", spk2utt_from(files["utt2spk"]))
    validate_data_dir(d)


def _check_sorted(path: Path) -> None:
    prev = None
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                raise DataDirError(f"{path}:{lineno}: empty line")
            key = line.split(maxsplit=1)[0]
            if prev is not None and key <= prev:
                what = "duplicated" if key == prev else "not sorted"
                raise DataDirError(f"{path}:{lineno}: key '{key}' {what} (after '{prev}'); "
                                   f"run fix_data_dir")
            prev = key


def validate_data_dir(d: Path, required: Iterable[str] = REQUIRED) -> int:
    """Raise :class:`DataDirError` on the first problem; return the number of utterances."""
    d = Path(d)
    if not d.is_dir():
        raise DataDirError(f"{d}: not a directory")
    for name in required:
        if not (d / name).is_file():
            raise DataDirError(f"{d}/{name}: missing")
    keys = None
    for name in UTT_FILES:
        path = d / name
        if not path.is_file():
            continue
        _check_sorted(path)
        try:
            content = read_kv(path, allow_empty_value=False)
        except ValueError as e:
            raise DataDirError(str(e)) from None
        if keys is None:
            keys, ref = set(content), name
        elif set(content) != keys:
            extra = sorted(set(content) - keys)
            missing = sorted(keys - set(content))
            what = f"'{extra[0]}' not in {ref}" if extra else f"'{missing[0]}' of {ref} missing"
            raise DataDirError(f"{path}: keys differ from {ref}: {what}")
    utt2spk = read_kv(d / "utt2spk")
    for lineno, (utt, spk) in enumerate(utt2spk.items(), 1):
        if len(spk.split()) != 1:
            raise DataDirError(f"{d}/utt2spk:{lineno}: '{utt}' must map to one speaker, got '{spk}'")
        if not utt.startswith(spk):
            raise DataDirError(f"{d}/utt2spk:{lineno}: utterance id '{utt}' must start with its speaker "
                               f"id '{spk}' (Kaldi sorting convention)")
    if (d / "spk2utt").is_file():
        if read_kv(d / "spk2utt") != spk2utt_from(utt2spk):
            raise DataDirError(f"{d}/spk2utt: does not match utt2spk; run fix_data_dir")
    return len(utt2spk)


def fix_data_dir(d: Path) -> int:
    """Keep utterances present in every per-utterance file, sort everything, rebuild spk2utt.

    Returns the number of utterances kept; dropped ones are logged with the file that lacked them.
    """
    d = Path(d)
    contents = {n: read_kv(d / n, allow_empty_value=True) for n in UTT_FILES if (d / n).is_file()}
    if not contents:
        raise DataDirError(f"{d}: no data files")
    keys = set.intersection(*(set(c) for c in contents.values()))
    for name, c in contents.items():
        for k in sorted(set(c) - keys):
            lacking = [n for n, other in contents.items() if k not in other]
            logger.warning("%s: dropping '%s' (absent from %s)", d, k, ", ".join(lacking))
    for name, c in contents.items():
        empty = [k for k in keys if not c[k].strip()]
        for k in empty:
            logger.warning("%s/%s: dropping '%s' (empty value)", d, name, k)
        keys -= set(empty)
    for name, c in contents.items():
        write_kv(d / name, {k: c[k] for k in keys})
    if "utt2spk" in contents:
        write_kv(d / "spk2utt", spk2utt_from({k: contents["utt2spk"][k] for k in keys}))
    return len(keys)


def subset_data_dir(src: Path, dst: Path, utts: Iterable[str]) -> None:
    """Copy the lines of ``utts`` from every data file of ``src`` into ``dst``."""
    utts = set(utts)
    files = {}
    for name in UTT_FILES:
        if (Path(src) / name).is_file():
            files[name] = {k: v for k, v in read_kv(Path(src) / name).items() if k in utts}
    write_data_dir(dst, files)
