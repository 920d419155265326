"""The GRID recipe end to end on a tiny generated corpus: every stage writes what it must.

One lip-conditioned prior model (so generate and enhance_unsup both run), one SNR, a training
run of a single step: the point is the plumbing of stages 0-6, not the quality.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_run_sh_stages_0_to_6(tmp_path):
    recipe = tmp_path / "grid"
    recipe.mkdir()
    for name in ("path.sh", "cmd.sh", "db.sh", "conf", "local"):
        (recipe / name).symlink_to(ROOT / "egs" / "grid" / name)
    env = dict(os.environ, AVDM_ROOT=str(ROOT), AVDM_PYTHON=sys.executable, GRID="", OMP_NUM_THREADS="1")
    cmd = ["bash", str(ROOT / "egs" / "TEMPLATE" / "avdm.sh"), "--nj", "2", "--inference_nj", "2",
           "--train_config", "conf/train_prior_lite.yaml",
           "--frontend_config", "conf/frontend_lip_envelope.yaml", "--frontend_args", "--steps 2",
           "--local_data_opts", "--size tiny --snrs 0", "--skip_asr", "true",
           "--train_args", "--max_epoch 1 --num_iters_per_epoch 1 --batch_size 2"]
    r = subprocess.run(cmd, cwd=recipe, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    for stage in range(7):
        assert f"stage {stage} done in" in r.stderr
    must = [
        "data/train/wav.scp", "data/train/video.scp", "data/train/text", "data/train/utt2spk", "data/train/spk2utt",
        "data/test/condition_sets", "data/test_snr0_seen/noisy.scp", "data/test_snr0_heldout/utt2noise",
        "dump/lip/train/lip.scp", "dump/lip/train/lip_shape", "dump/lip/test/skipped",
        "dump/raw/train/wav.scp", "dump/raw/train/lip_stats.json", "dump/raw/test_snr0_seen/noisy.scp",
        "dump/raw/dev_snr0_heldout/noisy.scp",
        "dump/raw/noise_train/wav.scp",
        "exp/lip_frontend/frontend.pth", "exp/lip_frontend/probe.json",
        "exp/train_prior_lite/config.yaml", "exp/train_prior_lite/train.log",
        "exp/train_prior_lite/generate_test/wav.scp", "exp/train_prior_lite/generate_test/utt2nfe",
        "exp/train_prior_lite/enhance_unsup_test_snr0_heldout/wav.scp",
        "exp/train_prior_lite/decode_generate.yaml", "exp/train_prior_lite/decode_enhance_unsup.yaml",
        "exp/train_prior_lite/generate_test/scoring/result_pesq_wb.txt",
        "exp/noisy_input/test_snr0_seen/scoring/scores.json",
        "RESULTS.md", "figures/pesq_vs_snr.png",
    ]
    missing = [m for m in must if not (recipe / m).exists()]
    assert not missing, missing
    # the decode config stage 4 used travels with the model (avdm-enhance / avdm-pack use it)
    used = yaml.safe_load((recipe / "exp/train_prior_lite/decode_enhance_unsup.yaml").read_text())
    assert used == yaml.safe_load((recipe / "conf/decode_enhance_unsup.yaml").read_text())
    # a trial decode on the dev sets scores them pooled and leaves the recipe's decode config alone
    trial = recipe / "conf_trial.yaml"
    trial.write_text(yaml.safe_dump({**used, "sampler_conf": {**used["sampler_conf"], "steps": 1}}))
    r3 = subprocess.run(["bash", "-c", ". ./path.sh && " + str(ROOT / "tools/bench/score_dev.sh")
                         + " exp/train_prior_lite enhance_unsup conf_trial.yaml exp/dev_trial --nj 2"],
                        cwd=recipe, env=env, capture_output=True, text=True, timeout=300)
    assert r3.returncode == 0, r3.stderr[-3000:]
    assert " pesq_wb " in r3.stdout and " estoi " in r3.stdout
    pooled = (recipe / "exp/dev_trial/inf.scp").read_text().splitlines()
    assert {line.split("__")[0] for line in pooled} == {"dev_snr0_seen", "dev_snr0_heldout"}
    assert yaml.safe_load((recipe / "exp/train_prior_lite/decode_enhance_unsup.yaml").read_text()) == used
    report = (recipe / "RESULTS.md").read_text()
    assert "Unsupervised AV enhancement" in report and "Lip-to-speech generation" in report
    assert "| noisy input |" in report and "train_prior_lite (AV)" in report
    assert "## Lip front-end probe" in report and "| test | 2 |" in report
    # stage 5-6 alone regenerate the same report
    r2 = subprocess.run(cmd + ["--stage", "5", "--stop_stage", "6"], cwd=recipe, env=env, capture_output=True,
                        text=True, timeout=600)
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert (recipe / "RESULTS.md").read_text() == report
