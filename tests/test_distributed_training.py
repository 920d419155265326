"""Distributed training (DDP) of the avdm task: two processes on the CPU (gloo) train a few steps.

The same path as multi-GPU and multi-node training (espnet2's DistributedOption, sharded batches,
the model wrapped in DistributedDataParallel); only the backend and the device differ.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import soundfile as sf
import yaml

ROOT = Path(__file__).resolve().parents[1]


def tiny_dump(root: Path) -> Path:
    d = root / "dump" / "train"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    wavs = {}
    with kaldiio.WriteHelper(f"ark,scp:{d}/lip.ark,{d}/lip.scp", write_function="numpy") as w:
        for i in range(4):
            utt = f"s1_u{i}"
            w(utt, rng.integers(0, 255, (30, 96, 96), dtype=np.uint8))
            sf.write(d / f"{utt}.flac", (0.1 * rng.standard_normal(30 * 640)).astype(np.float32), 16000)
            wavs[utt] = d / f"{utt}.flac"
    (d / "wav.scp").write_text("".join(f"{k} {v}\n" for k, v in wavs.items()))
    (d / "utt2num_samples").write_text("".join(f"{k} {30 * 640}\n" for k in wavs))
    (d / "lip_stats.json").write_text(json.dumps({"mean": 127.0, "std": 70.0}))
    conf = {"sde": "vp", "sde_conf": {}, "score_model": "ncsnpp_lite",
            "score_model_conf": {"base_channels": 8, "channel_mults": [1, 2]}, "visual_encoder": "light_cnn",
            "visual_encoder_conf": {"channels": 4, "output_dim": 8},
            "model_conf": {"mode": "prior", "p_uncond": 0.5}, "preprocessor_conf": {"segment_frames": 25},
            "seed": 0, "num_workers": 0, "iterator_type": "sequence", "batch_type": "unsorted", "batch_size": 2,
            "max_epoch": 1, "num_iters_per_epoch": 2, "optim": "adam", "optim_conf": {"lr": 0.001},
            "use_matplotlib": False, "log_interval": 1}
    (root / "tiny.yaml").write_text(yaml.safe_dump(conf))
    return root


@pytest.mark.slow
def test_two_processes_train_a_few_steps_with_gloo(tmp_path):
    root = tiny_dump(tmp_path)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "avdm.bin.stage_train", "--config", "tiny.yaml", "--dump_dir", "dump",
                        "--train_set", "train", "--valid_set", "train", "--exp_dir", "exp/ddp", "--nproc", "2"],
                       cwd=root, env=env, capture_output=True, text=True, timeout=240)
    log = (root / "exp" / "ddp" / "train.log").read_text()
    assert r.returncode == 0, log[-3000:]
    assert "--nproc_per_node 2" in log and "--dist_backend gloo" in log
    assert "0/2]" in log and "1epoch results" in log  # rank 0 of a world of 2 finished its epoch
    from avdm.inference.model_io import load_model

    model, _ = load_model(root / "exp" / "ddp")
    assert model.mode == "prior"
