"""Stages 1-2: decoding, detectors, mouth crops, ark/scp, dumping, bad input, interruption."""
import json
import subprocess
import sys

import cv2
import kaldiio
import numpy as np
import pytest

import avdm.video  # noqa: F401
from avdm.bin import dump_audio
from avdm.bin import extract_lips as lips_cli
from avdm.fileio import read_kv
from avdm.registry import LANDMARK_DETECTORS
from avdm.video.decode import VideoError, probe, read_frames, write_video
from avdm.video.roi import NoFaceError


@pytest.fixture(scope="module")
def astronaut_video(tmp_path_factory):
    """The astronaut photo moving on a known path: the true mouth centre of every frame is known."""
    from avdm.data.face import base_face

    img, pts = base_face()
    mouth = pts[48:68].mean(axis=0)
    frames, centres = [], []
    for k in range(20):
        dx, dy = 3 * np.sin(k / 3), 2 * np.cos(k / 4)
        M = np.array([[0.8, 0, 30 + dx], [0, 0.8, 10 + dy]])
        frames.append(cv2.warpAffine(img, M, (360, 288), borderMode=cv2.BORDER_REFLECT))
        centres.append(M[:, :2] @ mouth + M[:, 2])
    path = tmp_path_factory.mktemp("astro") / "astronaut.mp4"
    write_video(path, np.stack(frames), fps=25)
    return path, np.array(centres)


@pytest.mark.parametrize("key,tol", [("dlib68", 3.0), ("haar", 12.0)])
def test_mouth_found_on_a_real_face(astronaut_video, key, tol):
    path, centres = astronaut_video
    frames = read_frames(path)
    assert frames.shape == (20, 288, 360)
    track = LANDMARK_DETECTORS.build(key).track(frames)
    assert not track.failed.any()
    err = np.linalg.norm(track.centre - centres, axis=1)
    assert err.max() < tol, err


def test_crop_is_centred_on_the_mouth(astronaut_video, tmp_path):
    path, centres = astronaut_video
    skipped = lips_cli.run({"astro": str(path)}, tmp_path, preview=True)
    assert skipped == {}
    lips = kaldiio.load_scp(str(tmp_path / "lip.scp"))["astro"]
    assert lips.dtype == np.uint8 and lips.shape == (20, 96, 96)
    assert read_kv(tmp_path / "lip_shape") == {"astro": "20,96,96"}
    assert (tmp_path / "preview" / "astro.png").is_file()
    # the dark gap between the lips is near the crop centre: darkest row within a few pixels
    prof = lips.astype(float).mean(axis=(0, 2))
    assert abs(int(np.argmin(prof[20:76])) + 20 - 48) < 10
    # the crop centre (after smoothing) is within 2 crop pixels of the true landmark centre 48-67
    from avdm.video.roi import fill_and_smooth

    track = LANDMARK_DETECTORS.build("dlib68").track(read_frames(path))
    used, side = fill_and_smooth(track)
    assert np.abs(used - centres).max() * 96 / side < 2.0
    # and the crops equal crops cut at the true centres up to that shift
    from avdm.video.roi import crop_mouths

    true = crop_mouths(read_frames(path), centres, side).astype(float)
    assert np.abs(lips.astype(float) - true).mean() < 8.0


def test_ark_scp_round_trip_through_espnet_loader(astronaut_video, tmp_path):
    from espnet2.train.dataset import ESPnetDataset

    from avdm.preprocess import AVPreprocessor

    path, _ = astronaut_video
    lips_cli.run({"astro": str(path)}, tmp_path)
    raw = kaldiio.load_scp(str(tmp_path / "lip.scp"))["astro"]
    ds = ESPnetDataset([(str(tmp_path / "lip.scp"), "lip", "kaldi_ark")],
                       preprocess=AVPreprocessor(train=False, segment_frames=None))
    uid, data = ds["astro"]
    assert data["lip"].dtype == np.float32 and data["lip"].shape == (20, 88, 88)
    assert np.array_equal(data["lip"], raw[:, 4:92, 4:92].astype(np.float32))


def test_bad_videos_are_skipped_with_reasons(astronaut_video, tmp_path):
    path, _ = astronaut_video
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00" * 1000)
    noface = tmp_path / "noface.mp4"
    write_video(noface, np.random.default_rng(0).integers(0, 255, (10, 120, 160), dtype=np.uint8))
    videos = {"astro": str(path), "corrupt": str(corrupt), "missing": str(tmp_path / "nope.mpg"),
              "noface": str(noface)}
    skipped = lips_cli.run(videos, tmp_path / "out")
    assert set(skipped) == {"corrupt", "missing", "noface"}
    assert "no such file" in skipped["missing"]
    assert "no face found" in skipped["noface"]
    assert read_kv(tmp_path / "out" / "lip_shape") == {"astro": "20,96,96"}
    assert read_kv(tmp_path / "out" / "skipped", allow_empty_value=True).keys() == skipped.keys()


def test_interrupted_job_rerun_gives_the_same_ark(astronaut_video, tmp_path, monkeypatch):
    path, _ = astronaut_video
    videos = {"a": str(path), "b": str(path)}
    lips_cli.run(videos, tmp_path / "clean")
    real = lips_cli.extract_lips
    calls = []

    def dying(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    lips_cli.run({"a": str(path)}, tmp_path / "broken")  # an older complete run in the same place
    monkeypatch.setattr(lips_cli, "extract_lips", dying)
    with pytest.raises(KeyboardInterrupt):
        lips_cli.run(videos, tmp_path / "broken")
    # nothing a later stage could trust: the old scp (pointing into the rewritten ark) is gone too
    assert not (tmp_path / "broken" / "lip.scp").exists()
    monkeypatch.setattr(lips_cli, "extract_lips", real)
    lips_cli.run(videos, tmp_path / "broken")
    assert (tmp_path / "broken" / "lip.ark").read_bytes() == (tmp_path / "clean" / "lip.ark").read_bytes()
    offsets = lambda d: {k: v.split(":")[-1] for k, v in read_kv(d / "lip.scp").items()}  # noqa: E731
    assert offsets(tmp_path / "broken") == offsets(tmp_path / "clean")


def test_detector_registry_errors():
    with pytest.raises(ValueError, match="unknown landmark_detector 'dlib86'.*Did you mean 'dlib68'"):
        LANDMARK_DETECTORS.build("dlib86")
    with pytest.raises(TypeError, match="'scale'.*; accepted: detect_scale, upsample, max_box_change, "
                                        "min_similarity, full_res_fallback$"):
        LANDMARK_DETECTORS.build("dlib68", {"scale": 2})
    with pytest.raises(TypeError, match=r"'detect_scal' \(did you mean 'detect_scale'\?\)"):
        LANDMARK_DETECTORS.build("haar", {"detect_scal": 0.5})
    with pytest.raises(ValueError, match=r"detect_scale must be in \(0, 1\], got 2"):
        LANDMARK_DETECTORS.build("haar", {"detect_scale": 2})
    assert LANDMARK_DETECTORS.keys() == ["dlib68", "haar"]


def test_probe_reads_stream_facts_without_ffprobe(astronaut_video, tmp_path):
    path, _ = astronaut_video
    info = probe(path)
    assert (info.width, info.height, info.fps, info.has_audio) == (360, 288, 25.0, False)
    with pytest.raises(VideoError, match="no video stream"):
        (tmp_path / "x.mp4").write_bytes(b"garbage")
        probe(tmp_path / "x.mp4")


def test_other_frame_rates_are_resampled(astronaut_video, tmp_path):
    frames = read_frames(astronaut_video[0])
    p50 = tmp_path / "fast.mp4"
    write_video(p50, np.repeat(frames, 2, axis=0), fps=50)
    assert probe(p50).fps == 50
    assert len(read_frames(p50)) == 20


def test_length_check_trims_pads_or_refuses():
    x = np.ones(640 * 10 + 300, np.float32)
    assert len(dump_audio.trim_or_zero_pad(x, 6400)) == 6400
    assert len(dump_audio.trim_or_zero_pad(np.ones(6000, np.float32), 6400)) == 6400
    with pytest.raises(ValueError, match=r"frames off"):
        dump_audio.trim_or_zero_pad(np.ones(5000, np.float32), 6400)


def test_dump_skips_silent_short_and_mismatched_audio(tmp_path):
    from avdm.audio_io import save_wav

    rng = np.random.default_rng(0)
    d = tmp_path / "data"
    d.mkdir()
    files = {"s1_good": 0.1 * rng.standard_normal(6400), "s1_silent": np.zeros(6400),
             "s1_long": 0.1 * rng.standard_normal(9000), "s1_trim": 0.1 * rng.standard_normal(6700)}
    for k, x in files.items():
        save_wav(tmp_path / f"{k}.wav", x)
    (tmp_path / "empty.wav").write_bytes(b"")
    scp = {k: str(tmp_path / f"{k}.wav") for k in files}
    scp["s1_empty"] = str(tmp_path / "empty.wav")
    (d / "wav.scp").write_text("".join(f"{k} {v}\n" for k, v in sorted(scp.items())))
    shapes = {k: "10,96,96" for k in scp}
    skipped = dump_audio.run(sorted(scp), d, tmp_path / "out", shapes)
    assert set(skipped) == {"s1_silent", "s1_long", "s1_empty"}
    assert skipped["s1_silent"] == "silent audio"
    assert "frames off" in skipped["s1_long"]
    n = read_kv(tmp_path / "out" / "utt2num_samples")
    assert n == {"s1_good": "6400", "s1_trim": "6400"}


def test_stage_scripts_refuse_missing_inputs(tmp_path):
    r = subprocess.run([sys.executable, "-m", "avdm.bin.stage_lips", "--data_dir", str(tmp_path / "data"),
                        "--out_dir", str(tmp_path / "lip")], capture_output=True, text=True)
    assert r.returncode == 1 and "run stage 0 first" in r.stderr
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "wav.scp").write_text("u /x.wav\n")
    r = subprocess.run([sys.executable, "-m", "avdm.bin.stage_dump", "--data_dir", str(tmp_path / "data"),
                        "--out_dir", str(tmp_path / "raw"), "--lip_dir", str(tmp_path / "lip")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "run stage 1 first" in r.stderr


def test_lip_stats(tmp_path):
    from avdm.bin.stage_dump import lip_stats

    a = np.full((4, 96, 96), 100, np.uint8)
    b = np.full((4, 96, 96), 200, np.uint8)
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/l.ark,{tmp_path}/l.scp", write_function="numpy") as w:
        w("a", a)
        w("b", b)
    s = lip_stats(tmp_path / "l.scp")
    assert s["mean"] == pytest.approx(150.0) and s["std"] == pytest.approx(50.0, rel=1e-4)
    json.dumps(s)


@pytest.mark.real_grid
def test_real_grid_clip_lips(grid_samples, tmp_path):
    clip = sorted(grid_samples.glob("*.mpg"))[0]
    skipped = lips_cli.run({"real": str(clip)}, tmp_path)
    assert skipped == {}
    assert read_kv(tmp_path / "lip_shape")["real"] == "75,96,96"
