import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from avdm.launch import JobsFailed, run_jobs, split_scp


def write_scp(path, n):
    path.write_text("".join(f"utt{i:02d} /x/{i}.wav\n" for i in range(n)))
    return path


def test_split_scp_contiguous_and_complete(tmp_path):
    scp = write_scp(tmp_path / "wav.scp", 10)
    parts = split_scp(str(scp), 3, str(tmp_path / "split" / "wav.JOB.scp"))
    assert [Path(p).name for p in parts] == ["wav.1.scp", "wav.2.scp", "wav.3.scp"]
    lines = [Path(p).read_text().splitlines() for p in parts]
    assert [len(x) for x in lines] == [4, 3, 3]
    assert sum(lines, []) == scp.read_text().splitlines()


def test_split_scp_fewer_lines_than_jobs(tmp_path):
    scp = write_scp(tmp_path / "wav.scp", 2)
    parts = split_scp(str(scp), 5, str(tmp_path / "wav.JOB.scp"))
    assert len(parts) == 2


def test_split_scp_gives_small_lists_fewer_parts(tmp_path):
    scp = tmp_path / "wav.scp"
    scp.write_text("".join(f"u{i} x\n" for i in range(45)))
    parts = split_scp(str(scp), 4, str(tmp_path / "wav.JOB.scp"), min_lines_per_part=20)
    assert [len(open(p).readlines()) for p in parts] == [23, 22]
    one = split_scp(str(scp), 4, str(tmp_path / "one.JOB.scp"), min_lines_per_part=100)
    assert [len(open(p).readlines()) for p in one] == [45]


def test_split_scp_errors(tmp_path):
    scp = write_scp(tmp_path / "wav.scp", 2)
    with pytest.raises(ValueError, match="no JOB"):
        split_scp(str(scp), 2, str(tmp_path / "wav.scp.x"))
    (tmp_path / "empty.scp").write_text("")
    with pytest.raises(ValueError, match="is empty"):
        split_scp(str(tmp_path / "empty.scp"), 2, str(tmp_path / "e.JOB"))


def test_local_jobs_write_one_log_each(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    run_jobs(["bash", "-c", f"echo job JOB says hi; echo JOB > {out}/JOB.txt"], 3,
             str(tmp_path / "log" / "hello.JOB.log"), backend="local", max_parallel=2)
    for j in (1, 2, 3):
        log = (tmp_path / "log" / f"hello.{j}.log").read_text()
        assert f"job {j} says hi" in log and "# ended (code 0)" in log
        assert (out / f"{j}.txt").read_text().strip() == str(j)


def test_local_single_string_runs_in_shell(tmp_path):
    run_jobs([f"echo a | tr a b > {tmp_path}/JOB.out"], 2, str(tmp_path / "l.JOB.log"))
    assert (tmp_path / "2.out").read_text().strip() == "b"


def test_failure_propagates_with_log_tail(tmp_path):
    with pytest.raises(JobsFailed) as e:
        run_jobs(["bash", "-c", "echo output of JOB; if [ JOB = 2 ]; then echo boom-JOB >&2; exit 3; fi"],
                 3, str(tmp_path / "f.JOB.log"))
    assert e.value.failed == {2: 3}
    msg = str(e.value)
    assert "job 2 exit 3" in msg and "boom-2" in msg and "f.2.log" in msg
    # the other jobs still ran to completion
    assert "# ended (code 0)" in (tmp_path / "f.3.log").read_text()


def test_max_parallel_is_respected(tmp_path):
    # each job records the number of running jobs from a shared directory
    d = tmp_path / "running"
    d.mkdir()
    cmd = (f"touch {d}/JOB; ls {d} | wc -l > {tmp_path}/count.JOB; sleep 0.3; rm {d}/JOB")
    run_jobs([cmd], 4, str(tmp_path / "p.JOB.log"), max_parallel=2)
    counts = [int((tmp_path / f"count.{j}").read_text()) for j in range(1, 5)]
    assert max(counts) <= 2


def test_unknown_backend(tmp_path):
    with pytest.raises(ValueError, match="unknown backend 'pbs'"):
        run_jobs(["true"], 1, str(tmp_path / "x.log"), backend="pbs")


FAKE_SBATCH = """#!/usr/bin/env bash
# fake sbatch: records its arguments, runs --wrap with output to --output, returns its code
echo "$@" >> "{calls}"
out=""; wrap=""
while [ $# -gt 0 ]; do
  case "$1" in
    --output=*) out=${{1#--output=}} ;;
    --wrap) wrap=$2; shift ;;
  esac
  shift
done
echo "424242"
bash -c "$wrap" >> "$out" 2>&1
"""


def test_slurm_backend_with_fake_sbatch(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "calls.txt"
    sb = bindir / "sbatch"
    sb.write_text(FAKE_SBATCH.format(calls=calls))
    sb.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("AVDM_CMD_BACKEND", "slurm")
    monkeypatch.setenv("AVDM_SLURM_OPTS", "--partition=test --mem=1G")
    run_jobs(["echo", "slurm job JOB"], 2, str(tmp_path / "s.JOB.log"), gpus=1)
    assert "slurm job 2" in (tmp_path / "s.2.log").read_text()
    recorded = calls.read_text().splitlines()
    assert len(recorded) == 2
    assert all("--wait" in c and "--partition=test" in c and "--gres=gpu:1" in c for c in recorded)
    # a failing Slurm job fails the call
    with pytest.raises(JobsFailed, match="job 1 exit 7"):
        run_jobs(["bash", "-c", "exit 7"], 1, str(tmp_path / "bad.JOB.log"))


def test_cli_and_ctrl_c_kills_children(tmp_path):
    """SIGINT to the launcher ends its jobs (their process groups) instead of orphaning them."""
    pidfile = tmp_path / "pids"
    script = f"echo $$ >> {pidfile}; sleep 60"
    proc = subprocess.Popen([sys.executable, "-m", "avdm.bin.launch", "JOB=1:2",
                             str(tmp_path / "k.JOB.log"), "--", script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60  # the machine may be busy: wait for both jobs to start
    while time.time() < deadline:
        if pidfile.exists() and len(pidfile.read_text().split()) == 2:
            break
        time.sleep(0.05)
    try:
        pids = [int(p) for p in pidfile.read_text().split()]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.2)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_cli_failure_exit_code(tmp_path):
    r = subprocess.run([sys.executable, "-m", "avdm.bin.launch", "JOB=1:2", str(tmp_path / "c.JOB.log"),
                        "--", "bash", "-c", "exit JOB"], capture_output=True, text=True)
    assert r.returncode == 1
    assert "job 1 exit 1" in r.stderr


def test_restore_sigint_makes_a_background_process_interruptible():
    """A script's background job starts with SIGINT ignored (stage 3 trains that way): without
    restore_sigint, Ctrl-C would leave the training running."""
    code = ("import sys, time\nfrom avdm.launch import restore_sigint\n"
            "if sys.argv[1] == 'restore':\n    restore_sigint()\n"
            "print('ready', flush=True)\ntime.sleep(30)\n")
    ends = {}
    for mode in ("restore", "keep"):
        proc = subprocess.Popen([sys.executable, "-c", code, mode], stdout=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        try:
            assert proc.stdout.readline().strip() == "ready"
            proc.send_signal(signal.SIGINT)
            try:
                ends[mode] = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                ends[mode] = None  # still running: the signal was ignored
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert ends["restore"] not in (None, 0)  # KeyboardInterrupt ended it
    assert ends["keep"] is None
