"""avdm-enhance / avdm-generate / avdm-lips on bad and unusual inputs: a named error, nothing
truncated or replaced in silence, and one bad file of a batch does not stop the others."""
import numpy as np
import pytest
import soundfile as sf

from avdm.bin import enhance as enhance_cli
from avdm.bin import extract_lips as lips_cli
from avdm.bin import generate as generate_cli
from avdm.video.decode import VideoError, iter_frames, probe, write_video
from tests.test_cli_media import face_video, make_exp  # noqa: F401  (face_video is a fixture)


@pytest.fixture(scope="module")
def cond_exp(tmp_path_factory):
    return make_exp(tmp_path_factory.mktemp("models") / "cond", "conditional")


def test_a_wav_much_longer_than_its_video_is_refused_not_cut(tmp_path, face_video, cond_exp, capfd):
    wav = tmp_path / "long.wav"
    sf.write(wav, 0.1 * np.random.default_rng(0).standard_normal(5 * 16000).astype(np.float32), 16000)
    out = tmp_path / "out.wav"
    rc = enhance_cli.main(["--model", str(cond_exp), "--wav", str(wav), "--video", str(face_video / "talk.mp4"),
                           str(out)])
    assert rc == 1 and not out.exists()
    assert "long.wav lasts 5.00 s but the video" in capfd.readouterr().err


@pytest.fixture(scope="module")
def truncated_mpg(tmp_path_factory, face_video):
    from avdm.data.face import base_face
    import cv2

    img, _ = base_face()
    frames = np.stack([cv2.warpAffine(img, np.array([[0.8, 0, 30.0 + k % 3], [0, 0.8, 10.0]]), (360, 288))
                       for k in range(100)])
    d = tmp_path_factory.mktemp("trunc")
    audio = 0.1 * np.random.default_rng(0).standard_normal(100 * 640).astype(np.float32)
    write_video(d / "whole.mpg", frames, audio=audio, vcodec="mpeg1video")
    data = (d / "whole.mpg").read_bytes()
    (d / "cut.mpg").write_bytes(data[:len(data) // 3])
    return d / "cut.mpg"


def test_a_truncated_video_is_an_error_not_a_short_output(tmp_path, truncated_mpg, cond_exp, capfd):
    with pytest.raises(VideoError, match="damaged or truncated video"):
        for _ in iter_frames(truncated_mpg):
            pass
    out = tmp_path / "out.mp4"
    assert enhance_cli.main(["--model", str(cond_exp), str(truncated_mpg), str(out)]) == 1
    assert "damaged or truncated" in capfd.readouterr().err and not out.exists()


def test_an_output_that_would_replace_the_input_is_refused(tmp_path, face_video, cond_exp, capfd):
    src = tmp_path / "talk.mp4"
    src.write_bytes((face_video / "talk.mp4").read_bytes())
    before = src.read_bytes()
    assert enhance_cli.main(["--model", str(cond_exp), str(src), str(tmp_path / "." / "talk.mp4")]) == 1
    assert "would replace an input" in capfd.readouterr().err
    assert src.read_bytes() == before
    wav = tmp_path / "n.wav"
    sf.write(wav, np.zeros(15 * 640, np.float32), 16000)
    assert enhance_cli.main(["--model", str(cond_exp), "--wav", str(wav), "--video", str(src), str(wav)]) == 1
    assert "would replace an input" in capfd.readouterr().err


def test_mpg_output_carries_mpeg_audio_and_unknown_formats_are_refused_first(tmp_path, face_video, cond_exp,
                                                                             capfd):
    out = tmp_path / "out.mpg"
    assert enhance_cli.main(["--model", str(cond_exp), str(face_video / "talk.mp4"), str(out)]) == 0
    info = probe(out)
    assert info.has_audio and info.codec in ("mpeg1video", "mpeg2video")
    assert len(list(iter_frames(out))) == 15
    # refused before the model is even loaded
    assert enhance_cli.main(["--model", str(tmp_path / "nope"), str(face_video / "talk.mp4"),
                             str(tmp_path / "out.xyz")]) == 1
    assert "unknown output format '.xyz'" in capfd.readouterr().err


def test_mux_failure_gives_ffmpegs_reason(tmp_path, face_video):
    from avdm.inference.media import mux

    with pytest.raises(VideoError, match=r"cannot write .*out\.mp4: ffmpeg: .*(Invalid|No such|matches no)"):
        mux(tmp_path / "missing.mp4", np.zeros(640, np.float32), tmp_path / "out.mp4")


def test_one_bad_input_of_a_batch_does_not_stop_the_others(tmp_path, face_video, cond_exp, capfd):
    bad_out, good_out = tmp_path / "bad.mp4", tmp_path / "good.mp4"
    rc = enhance_cli.main(["--model", str(cond_exp), str(face_video / "silent.mp4"), str(bad_out),
                           str(face_video / "talk.mp4"), str(good_out)])
    err = capfd.readouterr().err
    assert rc == 1 and good_out.exists() and not bad_out.exists()
    assert "silent.mp4: not enhanced" in err and "has no audio track" in err and "1 of 2 input(s) failed" in err
    prior = make_exp(tmp_path / "prior", "prior")
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    rc = generate_cli.main(["--model", str(prior), str(tmp_path / "junk.mp4"), str(tmp_path / "g1.mp4"),
                            str(face_video / "silent.mp4"), str(tmp_path / "g2.mp4")])
    assert rc == 1 and (tmp_path / "g2.mp4").exists() and "1 of 2 input(s) failed" in capfd.readouterr().err


def test_avdm_lips_fails_when_no_video_gave_lips(tmp_path, face_video, capfd):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    assert lips_cli.main([str(junk), "--out_dir", str(tmp_path / "a"), "--detector", "haar"]) == 1
    assert "no video gave lips" in capfd.readouterr().err
    assert lips_cli.main([str(junk), str(face_video / "talk.mp4"), "--out_dir", str(tmp_path / "b")]) == 0


def test_a_corrupt_packed_model_gets_a_message_and_leaves_no_temp_dir(tmp_path, cond_exp, monkeypatch):
    import tempfile
    import zipfile

    from avdm.bin.pack import pack
    from avdm.inference.model_io import ModelNotFoundError, load_model

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    zip_path = pack(cond_exp, tmp_path / "m.zip")
    load_model(zip_path)
    assert list((tmp_path / "tmp").iterdir()) == []  # nothing unpacked and left behind
    with zipfile.ZipFile(zip_path) as z:  # a bit flipped inside the weights: the zip's CRC fails
        info = z.getinfo("model.pth")
    data = bytearray(zip_path.read_bytes())
    data[info.header_offset + 30 + len(info.filename) + info.compress_size // 2] ^= 0xFF
    zip_path.write_bytes(bytes(data))
    with pytest.raises(ModelNotFoundError, match=r"m\.zip: unreadable model \(.*\); copy it again, or pack it again"):
        load_model(zip_path)
    (cond_exp.parent / "bad").mkdir()
    (cond_exp.parent / "bad" / "config.yaml").write_text((cond_exp / "config.yaml").read_text())
    (cond_exp.parent / "bad" / "valid.loss.best.pth").write_bytes(b"truncated")
    with pytest.raises(ModelNotFoundError, match="unreadable model"):
        load_model(cond_exp.parent / "bad")


def test_the_clis_say_what_a_model_was_trained_on_and_warn_about_the_mini_grid(tmp_path, face_video, capfd):
    from avdm.bin.pack import pack

    exp = make_exp(tmp_path / "cond", "conditional")
    (exp / "corpus").write_text("mini-GRID (synthetic, --size demo --seed 0)\n")
    zip_path = pack(exp, tmp_path / "m.zip")
    assert enhance_cli.main(["--model", str(zip_path), str(face_video / "talk.mp4"), str(tmp_path / "o.mp4")]) == 0
    err = capfd.readouterr().err
    assert "trained on: mini-GRID (synthetic" in err and "on real video it makes speech worse" in err
    (exp / "corpus").write_text("GRID (/data/GRID)\n")
    assert enhance_cli.main(["--model", str(exp), str(face_video / "talk.mp4"), str(tmp_path / "o2.mp4")]) == 0
    err = capfd.readouterr().err
    assert "trained on: GRID (/data/GRID)" in err and "makes speech worse" not in err
