"""Small file helpers shared by every stage: atomic writes and Kaldi-style key/value files."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Tuple, Union

PathLike = Union[str, os.PathLike]


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success.

    An interrupted writer therefore never leaves a half file under the final name.  The file gets
    the mode a plain ``open`` would give it (0666 less the umask), not mkstemp's private 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~current_umask())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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


def _old_dir(final: Path) -> Path:
    return final.parent / f".{final.name}.old"


def staging_dir(final: PathLike) -> Path:
    """An empty sibling dir in which a stage builds the replacement of the dir ``final``.

    ``final`` stays untouched (still readable, still complete) until :func:`replace_dir` puts the
    finished replacement in its place; a leftover staging dir of an interrupted run is discarded.
    """
    final = Path(final)
    _restore_interrupted_swap(final)
    stage = final.parent / f".{final.name}.partial"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    return stage


def replace_dir(new: PathLike, final: PathLike) -> None:
    """Put the complete dir ``new`` in place of ``final``; the old ``final`` is removed only after."""
    new, final = Path(new), Path(final)
    _restore_interrupted_swap(final)
    old = _old_dir(final)
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


def _restore_interrupted_swap(final: Path) -> None:
    # killed between the two renames of replace_dir: the old results are complete, put them back
    old = _old_dir(final)
    if old.exists() and not final.exists():
        os.replace(old, final)


def is_pipe(value: str) -> bool:
    """An scp value of the form ``cmd |`` (Kaldi's convention: run ``cmd`` and read its output)."""
    return value.rstrip().endswith("|")


def load_ark(value: str, where: str = "scp"):
    """The array of an scp value ``file.ark:offset`` (as stages 1-2 write them).

    A pipe value (``cmd |``) is refused (ValueError): avdm never runs commands named in its scp
    files, so a data dir cannot make it run code.
    """
    if is_pipe(value):
        raise ValueError(f"{where}: refusing the pipe entry {value.strip()!r} (avdm runs no commands from scp files)")
    import kaldiio

    return kaldiio.load_mat(value)


def refuse_pipes(scp: PathLike) -> None:
    """ValueError naming the first pipe entry (``cmd |``) of ``scp``, e.g. before espnet2 reads it."""
    for key, value in read_kv(scp, allow_empty_value=True).items():
        if is_pipe(value):
            raise ValueError(f"{scp}: {key}: refusing the pipe entry {value.strip()!r} "
                             "(avdm runs no commands from scp files)")
