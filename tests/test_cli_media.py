"""avdm-pack / avdm-enhance / avdm-generate on a real-face video, and their error cases."""
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from avdm.bin import enhance as enhance_cli
from avdm.bin import generate as generate_cli
from avdm.bin.pack import pack
from avdm.inference.decode_config import decoder_for, resolve_decode_config, shipped_decode_config_path
from avdm.video.decode import probe, write_video

ROOT = Path(__file__).resolve().parents[1]


def make_exp(path, mode, visual="light_cnn"):
    from avdm.task import AVDMTask

    conf = {"sde": "vp" if mode == "prior" else "ouve", "sde_conf": {},
            "score_model": "ncsnpp_lite", "score_model_conf": {"base_channels": 8, "channel_mults": [1, 2]},
            "visual_encoder": visual, "visual_encoder_conf": {"output_dim": 8} if visual == "none" else
            {"channels": 4, "output_dim": 8}, "model_conf": {"mode": mode, "p_uncond": 0.1}, "init": None}
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump(conf))
    import argparse

    torch.manual_seed(0)
    model = AVDMTask.build_model(argparse.Namespace(**conf))
    torch.save(model.state_dict(), path / "valid.loss.best.pth")
    return path


@pytest.fixture(scope="module")
def face_video(tmp_path_factory):
    import cv2

    from avdm.data.face import base_face

    img, _ = base_face()
    frames = [cv2.warpAffine(img, np.array([[0.8, 0, 30 + k % 3], [0, 0.8, 10.0]]), (360, 288)) for k in range(15)]
    d = tmp_path_factory.mktemp("media")
    audio = 0.1 * np.random.default_rng(0).standard_normal(15 * 640).astype(np.float32)
    write_video(d / "talk.mp4", np.stack(frames), audio=audio)
    write_video(d / "silent.mp4", np.stack(frames))
    return d


def test_pack_then_enhance_round_trip(tmp_path, face_video):
    exp = make_exp(tmp_path / "exp_cond", "conditional")
    zip_path = pack(exp, tmp_path / "model.zip")
    out = tmp_path / "enhanced.mp4"
    assert enhance_cli.main(["--model", str(zip_path), str(face_video / "talk.mp4"), str(out)]) == 0
    src, dst = probe(face_video / "talk.mp4"), probe(out)
    assert dst.has_audio and (dst.width, dst.height) == (src.width, src.height)
    assert abs(dst.duration - src.duration) < 0.1


def test_unsupervised_enhancement_of_a_wav_with_a_prior_model(tmp_path, face_video):
    from avdm.audio_io import load_audio

    exp = make_exp(tmp_path / "exp_prior", "prior")
    out = tmp_path / "out.wav"
    rc = enhance_cli.main(["--model", str(exp), "--wav", str(face_video / "talk.mp4"), "--video",
                           str(face_video / "talk.mp4"), str(out),
                           "--inference_config", str(write_conf(tmp_path))])
    assert rc == 0
    assert len(load_audio(out)) == 15 * 640


def write_conf(tmp_path):
    p = tmp_path / "decode.yaml"
    p.write_text(yaml.safe_dump({"sampler": "posterior_nmf", "sampler_conf": {"steps": 3}}))
    return p


def test_the_decode_config_stored_with_the_model_is_the_default(tmp_path, caplog):
    import logging
    import zipfile

    exp = make_exp(tmp_path / "exp_cond", "conditional")
    from avdm.inference.model_io import load_model

    model, _ = load_model(exp)
    # nothing stored: the shipped default, the recipe's conf/decode_enhance.yaml
    shipped = yaml.safe_load((ROOT / "conf" / "decode_enhance.yaml").read_text())
    with caplog.at_level(logging.INFO):
        assert decoder_for(model, "enhance", None, exp).sampler.steps == shipped["sampler_conf"]["steps"]
    assert "the shipped default" in caplog.text
    # stage 4 leaves the recipe's choice beside the model; avdm-pack carries it
    (exp / "decode_enhance.yaml").write_text(yaml.safe_dump({"sampler": "dpm2m", "sampler_conf": {"steps": 1}}))
    with caplog.at_level(logging.INFO):
        assert decoder_for(model, "enhance", None, exp).sampler.steps == 1
    assert "stored with" in caplog.text
    zip_path = pack(exp, tmp_path / "model.zip")
    assert "decode_enhance.yaml" in zipfile.ZipFile(zip_path).namelist()
    assert decoder_for(model, "enhance", None, zip_path).sampler.steps == 1
    # an explicit --inference_config wins
    conf = tmp_path / "mine.yaml"
    conf.write_text(yaml.safe_dump({"sampler": "pc", "sampler_conf": {"steps": 5}}))
    dec = decoder_for(model, "enhance", conf, zip_path)
    assert dec.sampler.key == "pc" and dec.sampler.steps == 5


@pytest.mark.parametrize("job", ["generate", "enhance", "enhance_unsup"])
def test_cli_defaults_are_the_recipe_decode_configs(job):
    # one source of decode defaults: the recipe's conf/decode_<job>.yaml is the shipped file itself
    recipe = ROOT / "conf" / f"decode_{job}.yaml"
    assert recipe.resolve() == shipped_decode_config_path(job).resolve()
    conf, source = resolve_decode_config(job)
    assert conf == yaml.safe_load(recipe.read_text()) and "shipped default" in source


def test_cli_decoders_use_the_shipped_defaults_of_each_job(tmp_path):
    from avdm.inference.model_io import load_model

    prior, _ = load_model(make_exp(tmp_path / "exp_prior", "prior"))
    for job in ("generate", "enhance_unsup"):
        shipped = yaml.safe_load(shipped_decode_config_path(job).read_text())
        dec = decoder_for(prior, job, None, tmp_path / "exp_prior")
        assert dec.cfg.sampler == shipped["sampler"] and dec.cfg.sampler_conf == shipped["sampler_conf"]
        assert dec.cfg.guidance == shipped.get("guidance", 1.0)


def test_a_missing_inference_config_is_a_clear_error(tmp_path, face_video, capfd):
    exp = make_exp(tmp_path / "exp_cond", "conditional")
    missing = tmp_path / "nope.yaml"
    assert enhance_cli.main(["--model", str(exp), str(face_video / "talk.mp4"), str(tmp_path / "o.mp4"),
                             "--inference_config", str(missing)]) == 1
    assert f"{missing}: no such decode config" in capfd.readouterr().err
    with pytest.raises(ValueError, match="unknown job 'denoise'"):
        shipped_decode_config_path("denoise")


def test_generate_round_trip(tmp_path, face_video):
    exp = make_exp(tmp_path / "exp_prior", "prior")
    out = tmp_path / "spoken.mp4"
    assert generate_cli.main(["--model", str(exp), str(face_video / "silent.mp4"), str(out)]) == 0
    info = probe(out)
    assert info.has_audio and abs(info.duration - probe(face_video / "silent.mp4").duration) < 0.1


def test_errors_are_clear(tmp_path, face_video, capfd):
    assert enhance_cli.main(["--model", str(tmp_path / "missing.zip"), str(face_video / "talk.mp4"),
                             str(tmp_path / "o.mp4")]) == 1
    assert "no such model" in capfd.readouterr().err
    exp = make_exp(tmp_path / "exp_cond", "conditional")
    assert enhance_cli.main(["--model", str(exp), str(face_video / "silent.mp4"), str(tmp_path / "o.mp4")]) == 1
    assert "has no audio track" in capfd.readouterr().err
    assert generate_cli.main(["--model", str(exp), str(face_video / "silent.mp4"), str(tmp_path / "g.mp4")]) == 1
    assert "needs a lip-conditioned prior model" in capfd.readouterr().err


def test_no_face_falls_back_only_when_the_model_allows(tmp_path):
    from avdm.inference.media import visual_input
    from avdm.inference.model_io import load_model
    from avdm.video.decode import VideoError

    model, _ = load_model(make_exp(tmp_path / "a", "conditional"))
    assert visual_input(model, None, "x.mp4") is None  # trained with visual dropout: null embedding
    model.p_uncond = 0.0
    with pytest.raises(VideoError, match="no face found"):
        visual_input(model, None, "x.mp4")
    ao, _ = load_model(make_exp(tmp_path / "b", "conditional", visual="none"))
    ao.p_uncond = 0.0
    assert visual_input(ao, None, "x.mp4") is None
