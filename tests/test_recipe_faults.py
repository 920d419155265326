"""The recipe killed mid-stage (kill -9 of the driver in stages 2, 3 and 4) and rerun gives the
same outputs as an uninterrupted run, and leaves no process behind.

On the tiny generated corpus of tests/test_recipe_e2e.py: stages 0-4 once without interruption
(run A); run B starts from A's stage 0-1 outputs and is killed once in each of stages 2, 3 and 4,
each time rerun from the stage that was killed.
"""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
TAG = "train_prior_lite"
TRAIN_ARGS = "--max_epoch 3 --num_iters_per_epoch 1 --batch_size 2"


def driver(recipe, *args):
    env = dict(os.environ, AVDM_ROOT=str(ROOT), AVDM_PYTHON=sys.executable, GRID="", OMP_NUM_THREADS="1")
    cmd = ["bash", str(ROOT / "egs" / "TEMPLATE" / "avdm.sh"), "--nj", "2", "--inference_nj", "2",
           "--train_config", f"conf/{TAG}.yaml", "--local_data_opts", "--size tiny --snrs 0",
           "--skip_asr", "true", "--train_args", TRAIN_ARGS,
           "--frontend_config", "conf/frontend_lip_envelope.yaml", "--frontend_args", "--steps 2", *args]
    return cmd, env


def run(recipe, *args):
    cmd, env = driver(recipe, *args)
    r = subprocess.run(cmd, cwd=recipe, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    return r


def kill_when(recipe, ready, *args):
    """Start the driver, kill -9 it as soon as ``ready()`` holds; fail if it finished first."""
    cmd, env = driver(recipe, *args)
    proc = subprocess.Popen(cmd, cwd=recipe, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not ready():
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before the kill point"
        assert time.time() - t0 < 600, "the kill point never came"
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    assert_no_process_left(recipe)


def assert_no_process_left(recipe, within=20.0):
    def alive():
        pids = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                cmdline = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                cwd = os.readlink(d / "cwd")
                state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z" and (str(recipe) in cmdline or cwd.startswith(str(recipe))):
                pids.append(f"{d.name}: {cmdline[:200]}")
        return pids

    t0 = time.time()
    while alive() and time.time() - t0 < within:
        time.sleep(0.2)
    assert not alive(), alive()


def audio_of(recipe, scp):
    out = {}
    for line in (recipe / scp).read_text().splitlines():
        utt, path = line.split(maxsplit=1)
        out[utt] = sf.read(str(recipe / path) if not Path(path).is_absolute() else path)[0]
    return out


def same_audio(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def weights(recipe):
    from avdm.inference.model_io import inference_model_file

    f = inference_model_file(recipe / "exp" / TAG)
    return f.name, torch.load(f, map_location="cpu", weights_only=True)


def new_recipe(path):
    path.mkdir()
    for name in ("path.sh", "cmd.sh", "db.sh", "conf", "local"):
        (path / name).symlink_to(ROOT / "egs" / "grid" / name)
    return path


@pytest.mark.slow
def test_kill_9_in_stages_2_3_and_4_then_rerun_gives_the_uninterrupted_outputs(tmp_path):
    a = new_recipe(tmp_path / "a")
    run(a, "--stop_stage", "4")
    # the model knows what it was trained on (the CLIs warn about the synthetic mini-GRID)
    assert (a / "exp" / TAG / "corpus").read_text().startswith("mini-GRID (synthetic, --size tiny")
    b = new_recipe(tmp_path / "b")
    for d in ("downloads", "data", "dump"):
        shutil.copytree(a / d, b / d, symlinks=True)
    shutil.rmtree(b / "dump" / "raw")

    # stage 2 killed while its dump jobs run
    kill_when(b, lambda: any((b / "dump" / "raw").glob("*/logdir/dump.1.log")), "--stage", "2", "--stop_stage", "4")
    assert not (b / "exp" / TAG / "config.yaml").exists()
    run(b, "--stage", "2", "--stop_stage", "2")
    sets = sorted(p.parent.name for p in (a / "dump" / "raw").glob("*/wav.scp"))
    assert sets == sorted(p.parent.name for p in (b / "dump" / "raw").glob("*/wav.scp"))
    for s in sets:
        for scp in ("wav.scp", "noisy.scp"):
            if (a / "dump" / "raw" / s / scp).exists():
                assert same_audio(audio_of(a, f"dump/raw/{s}/{scp}"), audio_of(b, f"dump/raw/{s}/{scp}")), (s, scp)

    # stage 3 killed after its first epoch, before the last
    kill_when(b, lambda: (b / "exp" / TAG / "1epoch.pth").exists(), "--stage", "3", "--stop_stage", "4")
    assert not (b / "exp" / TAG / "3epoch.pth").exists()
    run(b, "--stage", "3", "--stop_stage", "3")
    (name_a, wa), (name_b, wb) = weights(a), weights(b)
    assert name_a == name_b and wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa), [k for k in wa if not torch.equal(wa[k], wb[k])][:5]

    # stage 4 killed while its jobs run
    kill_when(b, lambda: any((b / "exp" / TAG).glob(".*.partial/logdir/infer.1.log")), "--stage", "4",
              "--stop_stage", "4")
    run(b, "--stage", "4", "--stop_stage", "4")
    outs = sorted(p.parent.name for p in (a / "exp" / TAG).glob("*_*/wav.scp"))
    assert outs and outs == sorted(p.parent.name for p in (b / "exp" / TAG).glob("*_*/wav.scp"))
    for o in outs:
        assert same_audio(audio_of(a, f"exp/{TAG}/{o}/wav.scp"), audio_of(b, f"exp/{TAG}/{o}/wav.scp")), o
    assert not list((b / "exp" / TAG).glob(".*.partial")) and not (b / "exp" / ".avdm.lock").exists()
