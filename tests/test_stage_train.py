"""Stage 3 (avdm.bin.stage_train): no resume with another setup, one run per exp dir, no orphans."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from avdm.bin import stage_train
from avdm.dir_lock import acquire


def setup_of(lr=0.001, seed=0, extra=()):
    return {"config": {"seed": seed, "optim_conf": {"lr": lr}}, "extra_args": list(extra),
            "lip_stats": [100.0, 40.0], "train_data": "dump/raw/train", "valid_data": "dump/raw/dev"}


def trained(exp, setup):
    exp.mkdir(parents=True)
    stage_train.check_resumable(exp, setup, restart=False)
    (exp / "checkpoint.pth").write_bytes(b"x")
    (exp / "1epoch.pth").write_bytes(b"x")
    return exp


def test_a_changed_setup_is_refused_against_an_existing_checkpoint(tmp_path):
    exp = trained(tmp_path / "exp", setup_of())
    stage_train.check_resumable(exp, setup_of(), restart=False)  # same setup: resume
    with pytest.raises(ValueError) as e:
        stage_train.check_resumable(exp, setup_of(lr=0.002, seed=1), restart=False)
    msg = str(e.value)
    assert "optim_conf.lr: 0.001 -> 0.002" in msg and "seed: 0 -> 1" in msg and "--restart true" in msg
    with pytest.raises(ValueError, match=r"extra_args: \[\] -> \['--max_epoch', '3'\]"):
        stage_train.check_resumable(exp, setup_of(extra=["--max_epoch", "3"]), restart=False)
    assert (exp / "checkpoint.pth").exists()  # nothing discarded by a refusal


def test_restart_discards_the_old_training_and_records_the_new_setup(tmp_path):
    exp = trained(tmp_path / "exp", setup_of())
    acquire(exp)  # the lock of the running stage stays
    stage_train.check_resumable(exp, setup_of(lr=0.002), restart=True)
    assert sorted(p.name for p in exp.iterdir()) == [".avdm.lock", "train_setup.yaml"]
    assert yaml.safe_load((exp / "train_setup.yaml").read_text())["config"]["optim_conf"]["lr"] == 0.002


def test_a_training_from_before_the_setup_was_recorded_is_checked_against_its_config(tmp_path):
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "checkpoint.pth").write_bytes(b"x")
    (exp / "config.yaml").write_text(yaml.safe_dump({"seed": 0, "optim_conf": {"lr": 0.001}, "max_epoch": 5}))
    stage_train.check_resumable(exp, setup_of(), restart=False)
    (exp / "train_setup.yaml").unlink()
    with pytest.raises(ValueError, match="optim_conf.lr: 0.001 -> 0.002"):
        stage_train.check_resumable(exp, setup_of(lr=0.002), restart=False)


@pytest.fixture
def dumps(tmp_path):
    for s in ("train", "dev"):
        d = tmp_path / "dump" / s
        d.mkdir(parents=True)
        for name in ("wav.scp", "lip.scp"):
            (d / name).write_text("u1 x\n")
        (d / "utt2num_samples").write_text("u1 16000\n")
    (tmp_path / "dump" / "train" / "lip_stats.json").write_text(json.dumps({"mean": 100.0, "std": 40.0}))
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"seed": 0, "model_conf": {"mode": "prior"}}))
    return tmp_path


def test_a_second_training_in_the_same_exp_dir_is_refused(dumps, capfd):
    exp = dumps / "exp" / "c"
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        acquire(exp, pid=sleeper.pid)
        rc = stage_train.main(["--config", str(dumps / "c.yaml"), "--dump_dir", str(dumps / "dump"),
                               "--exp_dir", str(exp)])
    finally:
        sleeper.kill()
        sleeper.wait()
    assert rc == 1
    assert f"in use by another run (pid {sleeper.pid}" in capfd.readouterr().err
    assert not (exp / "train.log").exists()


def _gone(pid, within=10.0):
    t0 = time.time()
    while time.time() - t0 < within:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # a zombie (dead, not yet reaped by init) counts as gone
            if open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except OSError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_jobs_die_with_the_driver_even_when_it_is_killed_with_minus_9(tmp_path):
    # a driver shell starts a stage in the background, which starts a job (as avdm.sh -> stage_train
    # -> trainer, or stage_infer -> run_jobs); kill -9 of the shell must not leave either running
    stage = (
        "import os, sys, subprocess\n"
        "from avdm.launch import die_with_parent, run_jobs\n"
        "die_with_parent()\n"
        f"open({str(tmp_path / 'stage.pid')!r}, 'w').write(str(os.getpid()))\n"
        f"run_jobs(['echo $$ > {tmp_path}/job.pid; exec sleep 60'], 1, {str(tmp_path / 'job.log')!r})\n")
    driver = subprocess.Popen(["bash", "-c", f'{sys.executable} -c "$0" & wait', stage],
                              start_new_session=True)
    try:
        for _ in range(300):
            if (tmp_path / "job.pid").exists() and (tmp_path / "job.pid").read_text().strip():
                break
            time.sleep(0.05)
        stage_pid, job_pid = (int((tmp_path / f).read_text()) for f in ("stage.pid", "job.pid"))
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        assert _gone(stage_pid) and _gone(job_pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)


def test_scp_pipes_are_refused_before_espnet2_could_run_them(dumps, capfd):
    (dumps / "dump" / "dev" / "lip.scp").write_text(f"u1 touch {dumps / 'ran'} |\n")
    rc = stage_train.main(["--config", str(dumps / "c.yaml"), "--dump_dir", str(dumps / "dump"),
                           "--exp_dir", str(dumps / "exp" / "c")])
    assert rc == 1 and not (dumps / "ran").exists()
    assert "dev/lip.scp: u1: refusing the pipe entry" in capfd.readouterr().err


def test_the_training_corpus_is_recorded_with_the_model(tmp_path):
    train, exp = tmp_path / "train", tmp_path / "exp"
    train.mkdir()
    (train / "corpus").write_text("mini-GRID (synthetic, --size demo --seed 0)\n")
    stage_train.record_corpus(train, exp)
    assert (exp / "corpus").read_text() == "mini-GRID (synthetic, --size demo --seed 0)\n"


def test_a_model_file_cut_by_a_kill_is_mended_before_resuming(tmp_path):
    import torch

    exp = tmp_path / "exp"
    exp.mkdir()
    weights = {"w": torch.arange(4.0)}
    torch.save({"model": weights, "reporter": {"epoch": 2, "stats": {}}}, exp / "checkpoint.pth")
    torch.save({"w": torch.zeros(4)}, exp / "1epoch.pth")
    torch.save(weights, exp / "2epoch.pth")
    (exp / "2epoch.pth").write_bytes((exp / "2epoch.pth").read_bytes()[:100])  # killed while espnet2 saved it
    stage_train.repair_interrupted(exp)
    assert torch.equal(torch.load(exp / "2epoch.pth", weights_only=True)["w"], weights["w"])
    # a cut checkpoint cannot be resumed from: the training starts again
    (exp / "checkpoint.pth").write_bytes((exp / "checkpoint.pth").read_bytes()[:100])
    stage_train.repair_interrupted(exp)
    assert not list(exp.glob("*.pth"))


def test_a_child_whose_parent_died_before_it_asked_dies_at_once():
    code = "from avdm.launch import die_with_parent; die_with_parent(parent=999999999); print('alive')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == -signal.SIGTERM and "alive" not in r.stdout
