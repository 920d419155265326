"""avdm.parallel: split -> run -> merge over an scp, the mechanism of every --nj stage."""
import sys

import pytest

from avdm.parallel import job_dir, merge_lists, run_split


def test_split_run_merge_keeps_job_order_and_relocates_scp_paths(tmp_path):
    scp = tmp_path / "in.scp"
    scp.write_text("".join(f"u{i} x\n" for i in range(5)))
    stage, final = tmp_path / ".out.partial", tmp_path / "out"
    # each job lists its keys with a path inside the staging dir, and a reason list
    script = ("import sys, pathlib; part, out = sys.argv[1:]; d = pathlib.Path(out); d.mkdir(parents=True); "
              "keys = [l.split()[0] for l in open(part)]; "
              "(d / 'a.scp').write_text(''.join(f'{k} {d}/{k}.wav\\n' for k in keys)); "
              "(d / 'skipped').write_text('')")
    n = run_split(scp, 2, [sys.executable, "-c", script, str(tmp_path / "p.JOB.scp"), str(job_dir(stage))],
                  tmp_path / "p.JOB.scp", tmp_path / "log" / "p.JOB.log")
    assert n == 2 and (tmp_path / "log" / "p.2.log").is_file()
    lists = merge_lists(stage, n, ("*.scp", "skipped"), required=("skipped",), relocate=(stage, final))
    assert list(lists["a.scp"]) == [f"u{i}" for i in range(5)]
    assert lists["a.scp"]["u4"] == f"{final}/split/2/u4.wav" and lists["skipped"] == {}


def test_merge_lists_missing_job_dir_and_missing_list(tmp_path):
    d = job_dir(tmp_path, 2)
    d.mkdir(parents=True)
    (d / "skipped").write_text("u1 unreadable\n")
    assert merge_lists(tmp_path, 2, ("skipped",), missing_ok=True) == {"skipped": {"u1": "unreadable"}}
    with pytest.raises(FileNotFoundError, match=r"run dump job 1 first.*split/1/skipped"):
        merge_lists(tmp_path, 2, ("skipped",), required=("skipped",), stage_hint="dump job JOB")
