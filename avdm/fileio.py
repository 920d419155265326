"""Small file helpers shared by every stage: atomic writes and Kaldi-style key/value files."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Tuple, Union

PathLike = Union[str, os.PathLike]


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success.

    An interrupted writer therefore never leaves a half file under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w", **kwargs):
    """``open`` for writing whose result appears under ``path`` only when the block succeeds."""
    if not any(m in mode for m in "wx"):
        raise ValueError("atomic_open is for writing")
    with atomic_path(path) as tmp:
        with open(tmp, mode.replace("x", "w"), **kwargs) as f:
            yield f


def read_kv(path: PathLike, allow_empty_value: bool = False) -> Dict[str, str]:
    """Read a Kaldi-style ``key value...`` file (scp, text, utt2spk) into an ordered dict.

    Raises ``ValueError`` naming the file and line for a malformed or duplicated line.
    """
    out: Dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            parts = line.split(maxsplit=1)
            key = parts[0]
            value = parts[1].strip() if len(parts) > 1 else ""
            if not value and not allow_empty_value:
                raise ValueError(f"{path}:{lineno}: key '{key}' has no value")
            if key in out:
                raise ValueError(f"{path}:{lineno}: duplicated key '{key}'")
            out[key] = value
    return out


def write_kv(path: PathLike, items: Union[Dict[str, object], Iterable[Tuple[str, object]]],
             sort: bool = True) -> None:
    """Write ``key value`` lines atomically, sorted by key (C locale order) by default."""
    pairs: List[Tuple[str, object]] = list(items.items() if isinstance(items, dict) else items)
    if sort:
        pairs.sort(key=lambda kv: kv[0])
    with atomic_open(path, "w", encoding="utf-8") as f:
        for k, v in pairs:
            if any(c.isspace() for c in k):
                raise ValueError(f"{path}: key {k!r} contains white space")
            f.write(f"{k} {v}\n")


def require_files(*paths: PathLike, stage_hint: str = "") -> None:
    """Raise ``FileNotFoundError`` listing every missing input (and which stage writes it)."""
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        hint = f" (run {stage_hint} first)" if stage_hint else ""
        raise FileNotFoundError(f"missing input(s){hint}: {', '.join(missing)}")
