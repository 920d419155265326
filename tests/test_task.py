"""espnet2 integration: training through AVDMTask, resume, and inference from the trained model."""
import subprocess
import sys

import kaldiio
import numpy as np
import pytest
import yaml

from avdm.audio_io import save_wav
from avdm.fileio import read_kv

TINY = {
    "sde": "ouve", "score_model": "ncsnpp_lite",
    "score_model_conf": {"base_channels": 8, "channel_mults": [1, 2]},
    "visual_encoder": "light_cnn", "visual_encoder_conf": {"channels": 4, "output_dim": 8},
    "model_conf": {"mode": "conditional", "ema_decay": 0.99},
    "preprocessor_conf": {"segment_frames": 10},
    "seed": 0, "num_workers": 0, "iterator_type": "sequence", "batch_type": "unsorted", "batch_size": 2,
    "max_epoch": 1, "num_iters_per_epoch": 2, "optim": "adam", "optim_conf": {"lr": 0.001},
    "keep_nbest_models": 2, "best_model_criterion": [["valid", "loss", "min"]],
}


def make_dump(d, n=4, seed=0):
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True)
    wavs, shapes, lens = {}, {}, {}
    with kaldiio.WriteHelper(f"ark,scp:{d}/lip.ark,{d}/lip.scp", write_function="numpy") as w:
        for i in range(n):
            utt = f"s1_u{i}"
            frames = 12 + i
            x = 0.1 * rng.standard_normal(frames * 640)
            save_wav(d / f"{utt}.flac", x)
            wavs[utt] = str(d / f"{utt}.flac")
            w(utt, rng.integers(0, 255, (frames, 96, 96), dtype=np.uint8))
            shapes[utt] = f"{frames},96,96"
            lens[utt] = str(frames * 640)
    for name, content in (("wav.scp", wavs), ("lip_shape", shapes), ("utt2num_samples", lens)):
        (d / name).write_text("".join(f"{k} {v}\n" for k, v in sorted(content.items())))
    (d / "lip_stats.json").write_text('{"mean": 127.0, "std": 70.0}')
    (d / "audio_format").write_text("flac\n")
    noisy = {}
    for utt, p in wavs.items():
        save_wav(d / f"{utt}_noisy.flac", 0.2 * rng.standard_normal(int(read_kv(d / "utt2num_samples")[utt])))
        noisy[utt] = str(d / f"{utt}_noisy.flac")
    (d / "noisy.scp").write_text("".join(f"{k} {v}\n" for k, v in sorted(noisy.items())))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("task")
    make_dump(root / "dump" / "train")
    make_dump(root / "dump" / "dev", n=2, seed=1)
    noise = root / "dump" / "noise_train"
    noise.mkdir()
    save_wav(noise / "n.flac", 0.1 * np.random.default_rng(3).standard_normal(32000))
    (noise / "wav.scp").write_text(f"n {noise}/n.flac\n")
    cfg = root / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    cmd = [sys.executable, "-m", "avdm.bin.stage_train", "--config", str(cfg), "--dump_dir", str(root / "dump"),
           "--exp_dir", str(root / "exp")]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    assert r.returncode == 0, r.stderr[-3000:]
    return root, cmd, r


def test_training_writes_espnet_outputs(trained):
    root, _, r = trained
    exp = root / "exp"
    for name in ("config.yaml", "train.log", "1epoch.pth", "checkpoint.pth", "stats/train/speech_shape"):
        assert (exp / name).exists(), name
    assert "1epoch results" in r.stderr  # per-epoch lines reach the console
    config = yaml.safe_load((exp / "config.yaml").read_text())
    assert config["model_conf"]["lip_mean"] == 127.0 and config["score_model"] == "ncsnpp_lite"


def test_a_finished_run_reruns_as_a_no_op_and_a_changed_budget_is_refused(trained):
    # resuming after an interruption is tests/test_recipe_faults.py's (kill -9 in stage 3, same weights)
    root, cmd, _ = trained
    exp = root / "exp"
    first = (exp / "1epoch.pth").stat().st_mtime_ns
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (exp / "1epoch.pth").stat().st_mtime_ns == first  # epoch 1 was not trained again
    r = subprocess.run(cmd + ["--max_epoch", "2"], capture_output=True, text=True, cwd=root)
    assert r.returncode == 1 and "extra_args: [] -> ['--max_epoch', '2']" in r.stderr
    assert not (exp / "2epoch.pth").exists() and (exp / "1epoch.pth").stat().st_mtime_ns == first


def test_inference_jobs_from_the_trained_model(trained):
    from avdm.inference.jobs import DecodeConfig, Decoder
    from avdm.inference.model_io import load_model

    root, _, _ = trained
    model, config = load_model(root / "exp")
    assert model.mode == "conditional" and not model.audio_only
    lips = np.asarray(kaldiio.load_scp(str(root / "dump" / "dev" / "lip.scp"))["s1_u0"])
    noisy = 0.1 * np.random.default_rng(0).standard_normal(len(lips) * 640).astype(np.float32)
    dec = Decoder(model, "enhance", DecodeConfig(sampler="dpm2m", sampler_conf={"steps": 3}))
    a = dec(lips, noisy, len(lips), seed=5)
    b = dec(lips, noisy, len(lips), seed=5)
    assert a.wav.shape == (len(lips) * 640,) and a.nfe == 3 and np.isfinite(a.wav).all()
    assert np.array_equal(a.wav, b.wav)  # deterministic for a seed
    with pytest.raises(ValueError, match="needs a prior model"):
        Decoder(model, "generate", DecodeConfig())
    with pytest.raises(ValueError, match="unknown decode option"):
        DecodeConfig.from_dict({"sampler": "pc", "stepz": 3})


def test_inference_loads_the_trained_weights_without_espnet_tasks(trained, tmp_path):
    # load_model builds the model as AVDMTask does but without importing espnet2's task, whose
    # import chain (text front end, nltk, g2p_en) cost ~10 s in every stage-4 job process
    import shutil

    import torch

    from avdm.inference.model_io import ModelNotFoundError, load_model
    from avdm.task import AVDMTask

    root, _, _ = trained
    ours, _ = load_model(root / "exp")
    from avdm.inference.model_io import inference_model_file

    ref, _ = AVDMTask.build_model_from_file(str(root / "exp" / "config.yaml"),
                                            str(inference_model_file(root / "exp")))
    ref_state = ref.state_dict()
    assert ours.state_dict().keys() == ref_state.keys()
    assert all(torch.equal(v, ref_state[k]) for k, v in ours.state_dict().items())

    code = ("import sys; from avdm.inference.model_io import load_model; load_model(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m.startswith('espnet2.tasks') or m in ('nltk', 'g2p_en')))")
    r = subprocess.run([sys.executable, "-c", code, str(root / "exp")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "[]"

    # weights of another architecture: an error naming the files, not a silently partial model
    other = tmp_path / "other"
    shutil.copytree(root / "exp", other)
    conf = yaml.safe_load((other / "config.yaml").read_text())
    conf["score_model_conf"]["base_channels"] = 12
    (other / "config.yaml").write_text(yaml.safe_dump(conf))
    with pytest.raises(ModelNotFoundError, match="does not match the model of"):
        load_model(other)


def test_missing_model_is_a_clear_error(tmp_path):
    from avdm.inference.model_io import ModelNotFoundError, load_model

    with pytest.raises(ModelNotFoundError, match="no such model"):
        load_model(tmp_path / "nothing")
    (tmp_path / "exp").mkdir()
    with pytest.raises(ModelNotFoundError, match="config.yaml: missing"):
        load_model(tmp_path / "exp")
