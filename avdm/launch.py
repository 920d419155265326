"""Parallel jobs for every ``--nj`` stage: split an scp, run N jobs, one log each.

Backends:

* ``local`` (default): at most ``max_parallel`` child processes at once on this machine.
* ``slurm``: one ``sbatch --wait`` per job (the batch system runs them in parallel).

The backend comes from the argument, else ``$AVDM_CMD_BACKEND`` (exported by ``cmd.sh``);
extra Slurm options from ``$AVDM_SLURM_OPTS``.  Any failed job fails the whole call with
:class:`JobsFailed`, whose message carries the tail of the first failed job's log.  Ctrl-C (or
SIGTERM) kills every child process group (and ``scancel``s submitted Slurm jobs); a local job
also dies with the process that started it, even one killed with -9 (:func:`die_with_parent`).
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from avdm.fileio import atomic_open

logger = logging.getLogger(__name__)

BACKENDS = ("local", "slurm")


class JobsFailed(RuntimeError):
    """One or more jobs exited non-zero."""

    def __init__(self, failed: Dict[int, int], logs: Dict[int, str], message: str):
        super().__init__(message)
        self.failed = failed
        self.logs = logs


def split_scp(scp: str, nj: int, out_pattern: str, min_lines_per_part: int = 1) -> List[str]:
    """Split ``scp`` into ``nj`` contiguous parts of (almost) equal line counts.

    ``out_pattern`` contains ``JOB`` (replaced by 1..nj).  Lines keep their order; the number of
    parts shrinks so that each has at least ``min_lines_per_part`` lines (one part at the least;
    a job costs a process start, so small lists get fewer).  Returns the part paths.
    """
    if "JOB" not in out_pattern:
        raise ValueError(f"split_scp: output pattern {out_pattern!r} has no JOB")
    if nj < 1:
        raise ValueError(f"split_scp: nj must be >= 1, got {nj}")
    with open(scp, encoding="utf-8") as f:
        lines = [ln for ln in f if ln.strip()]
    if not lines:
        raise ValueError(f"split_scp: {scp} is empty")
    nj = max(1, min(nj, len(lines) // max(1, min_lines_per_part)))
    base, extra = divmod(len(lines), nj)
    parts, start = [], 0
    for j in range(nj):
        n = base + (1 if j < extra else 0)
        path = out_pattern.replace("JOB", str(j + 1))
        with atomic_open(path, "w", encoding="utf-8") as f:
            f.writelines(lines[start:start + n])
        parts.append(path)
        start += n
    return parts


def _substitute(cmd: Sequence[str], job: int) -> List[str]:
    return [str(c).replace("JOB", str(job)) for c in cmd]


def _as_shell(cmd: Sequence[str]) -> str:
    # a single argument is taken as a shell command line; several as an argv list
    return cmd[0] if len(cmd) == 1 else " ".join(shlex.quote(c) for c in cmd)


def _tail(path: str, n: int = 20) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return f"(log unreadable: {e})"


def run_jobs(cmd: Sequence[str], nj: int, log_pattern: str, backend: Optional[str] = None,
             max_parallel: Optional[int] = None, env: Optional[Dict[str, str]] = None,
             slurm_opts: Optional[str] = None, gpus: int = 0, cwd: Optional[str] = None) -> None:
    """Run ``cmd`` (``JOB`` replaced by 1..nj) as ``nj`` jobs logging to ``log_pattern``."""
    if nj < 1:
        raise ValueError(f"run_jobs: nj must be >= 1, got {nj}")
    if nj > 1 and "JOB" not in log_pattern:
        raise ValueError(f"run_jobs: log pattern {log_pattern!r} needs JOB when nj > 1")
    backend = backend or os.environ.get("AVDM_CMD_BACKEND", "local")
    if backend not in BACKENDS:
        raise ValueError(f"run_jobs: unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.pop("AVDM_DRIVER_PID", None)  # a job's parent is this process, not the driver
    logs = {j: log_pattern.replace("JOB", str(j)) for j in range(1, nj + 1)}
    for path in logs.values():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    if backend == "local":
        codes = _run_local(cmd, logs, max_parallel or nj, full_env, cwd)
    else:
        opts = slurm_opts if slurm_opts is not None else os.environ.get("AVDM_SLURM_OPTS", "")
        codes = _run_slurm(cmd, logs, opts, gpus, full_env, cwd)
    failed = {j: c for j, c in codes.items() if c != 0}
    if failed:
        first = min(failed)
        msg = (f"{len(failed)} of {nj} job(s) failed (job {first} exit {failed[first]}); "
               f"log {logs[first]}:\n{_tail(logs[first])}")
        raise JobsFailed(failed, logs, msg)


def _write_header(log: str, argv: Sequence[str]) -> None:
    with open(log, "w", encoding="utf-8") as f:
        f.write(f"# {_as_shell(argv)}\n# started at {time.strftime('%Y-%m-%d %H:%M:%S')}\n")


def _write_footer(log: str, code: int, seconds: float) -> None:
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"# accounting: time={seconds:.0f} s\n# ended (code {code}) at "
                f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")


def restore_sigint() -> None:
    """Let Ctrl-C interrupt this process (KeyboardInterrupt) even when a script started it in the
    background, where SIGINT is ignored and the ignoring would pass on to every child process."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def die_with_parent(sig: int = signal.SIGTERM, parent: Optional[int] = None) -> None:
    """Have the kernel send ``sig`` to this process when its parent dies (Linux; elsewhere a no-op).

    The recipe driver starts stages and trainings in the background: killed with -9 it cannot pass
    a signal on, so each child asks for this itself (and is given it as ``preexec_fn``).  With
    ``parent`` (the pid the parent had), a parent that died before the request took effect is
    noticed too."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(sig), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)


def die_with_driver() -> None:
    """:func:`die_with_parent` for a stage the recipe driver started (it exports its pid as
    ``AVDM_DRIVER_PID``; :func:`run_jobs` keeps that from the jobs, whose parent is the stage)."""
    pid = os.environ.get("AVDM_DRIVER_PID", "")
    die_with_parent(parent=int(pid) if pid.isdigit() else None)


def _child_of_me():
    """A ``preexec_fn`` that ties the child to this process (see :func:`die_with_parent`)."""
    return functools.partial(die_with_parent, parent=os.getpid())


class _Interrupt(Exception):
    pass


_signalled: List[int] = []  # signals seen inside _interruptible, even where their exception was lost


def _raise_interrupt(signum, frame):  # pragma: no cover - exercised through a subprocess test
    # a signal arriving during a fork runs this in an at-fork hook, which swallows the exception:
    # the flag lets the job loop notice it anyway
    _signalled.append(signum)
    raise _Interrupt(signum)


@contextlib.contextmanager
def _interruptible():
    """SIGTERM and SIGINT raise :class:`_Interrupt` inside the block (the jobs can be cleaned up).
    SIGINT too: a shell starts background jobs with SIGINT ignored, and Ctrl-C (or kill -INT)
    must still end the jobs rather than leave them running."""
    _signalled.clear()
    old = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _run_local(cmd, logs, max_parallel, env, cwd) -> Dict[int, int]:
    pending = sorted(logs)
    running: Dict[int, tuple] = {}
    codes: Dict[int, int] = {}
    with _interruptible():
        try:
            while pending or running:
                while pending and len(running) < max_parallel:
                    j = pending.pop(0)
                    argv = _substitute(cmd, j)
                    _write_header(logs[j], argv)
                    logf = open(logs[j], "a", encoding="utf-8")
                    if len(argv) == 1:
                        proc = subprocess.Popen(["bash", "-c", argv[0]], stdout=logf,
                                                stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                                start_new_session=True, preexec_fn=_child_of_me())
                    else:
                        proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT,
                                                env=env, cwd=cwd, start_new_session=True,
                                                preexec_fn=_child_of_me())
                    running[j] = (proc, logf, time.time())
                time.sleep(0.05)
                if _signalled:
                    raise _Interrupt(_signalled[0])
                for j, (proc, logf, t0) in list(running.items()):
                    code = proc.poll()
                    if code is not None:
                        logf.close()
                        _write_footer(logs[j], code, time.time() - t0)
                        codes[j] = code
                        del running[j]
                        if code != 0:
                            logger.error("job %d failed (exit %d), log: %s", j, code, logs[j])
        except (KeyboardInterrupt, _Interrupt):
            logger.error("interrupted: killing %d running job(s)", len(running))
            for proc, logf, _ in running.values():
                _kill_group(proc)
                logf.close()
            raise KeyboardInterrupt from None
    return codes


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    except ProcessLookupError:
        pass


def _run_slurm(cmd, logs, opts, gpus, env, cwd) -> Dict[int, int]:
    procs: Dict[int, tuple] = {}
    job_ids: Dict[int, str] = {}
    codes: Dict[int, int] = {}
    for j in sorted(logs):
        argv = _substitute(cmd, j)
        _write_header(logs[j], argv)
        sb = ["sbatch", "--wait", "--parsable", f"--job-name=avdm.{Path(logs[j]).stem}",
              f"--open-mode=append", f"--output={logs[j]}"]
        if gpus:
            sb.append(f"--gres=gpu:{gpus}")
        sb += shlex.split(opts or "")
        sb += ["--wrap", _as_shell(argv)]
        proc = subprocess.Popen(sb, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, cwd=cwd, start_new_session=True)
        procs[j] = (proc, time.time())
    with _interruptible():
        try:
            for j, (proc, t0) in procs.items():
                out, err = proc.communicate()
                jid = (out or "").strip().split(";")[0]
                if jid:
                    job_ids[j] = jid
                code = proc.returncode
                if code != 0 and err:
                    with open(logs[j], "a", encoding="utf-8") as f:
                        f.write(f"# sbatch: {err.strip()}\n")
                _write_footer(logs[j], code, time.time() - t0)
                codes[j] = code
        except (KeyboardInterrupt, _Interrupt):
            logger.error("interrupted: cancelling Slurm jobs")
            for proc, _ in procs.values():
                _kill_group(proc)
            if job_ids:
                subprocess.run(["scancel", *job_ids.values()], check=False)
            raise KeyboardInterrupt from None
    return codes


TRAINERS: List[subprocess.Popen] = []  # what run_logged started: a SIGTERM handler ends them first


def run_logged(cmd, log: Path, echo=("epoch results", "Error", "error:", "Traceback")) -> int:
    """Run a trainer, appending its output to ``log`` and echoing the lines that matter; it dies with us."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as f:
        f.write("# " + " ".join(cmd) + "\n")
        f.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                preexec_fn=functools.partial(die_with_parent, parent=os.getpid()))
        TRAINERS.append(proc)
        try:
            for line in proc.stdout:
                f.write(line)
                if any(e in line for e in echo):
                    sys.stderr.write(line)
            return proc.wait()
        except KeyboardInterrupt:
            proc.terminate()  # it had the Ctrl-C too; make sure it ends before we do
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            logger.error("interrupted; the checkpoint of the last finished epoch stays (rerun to resume)")
            return 130
