"""Stage 1 as the recipe runs it: parallel jobs, merged lists, skipped videos, previews, and a
job killed half-way (SIGKILL, no clean-up) then rerun giving the same ark/scp."""
import os
import subprocess
import sys

import cv2
import kaldiio
import numpy as np
import pytest

from avdm.fileio import read_kv
from avdm.video.decode import write_video

ENV = dict(os.environ, OMP_NUM_THREADS="1")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """data/<set> with two talking-head clips of the astronaut and one corrupt file."""
    from avdm.data.face import base_face

    img, _ = base_face()
    root = tmp_path_factory.mktemp("lipstage")
    videos = {}
    for i, name in enumerate(("spk1_a", "spk1_b", "spk2_c")):
        frames = [cv2.warpAffine(img, np.array([[0.7, 0, 20 + 3 * np.sin(k / 2 + i)], [0, 0.7, 5 + 2 * i]]),
                                 (320, 256), borderMode=cv2.BORDER_REFLECT) for k in range(8 + 2 * i)]
        videos[name] = root / f"{name}.mp4"
        write_video(videos[name], np.stack(frames))
    videos["spk2_bad"] = root / "bad.mp4"
    videos["spk2_bad"].write_bytes(b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 8)
    d = root / "data"
    d.mkdir()
    (d / "video.scp").write_text("".join(f"{k} {v}\n" for k, v in sorted(videos.items())))
    return d


def stage_lips(data_dir, out, *extra):
    return subprocess.run([sys.executable, "-m", "avdm.bin.stage_lips", "--data_dir", str(data_dir),
                           "--out_dir", str(out), "--nj", "2", *extra], capture_output=True, text=True, env=ENV)


def load(out):
    return {k: v for k, v in kaldiio.load_scp_sequential(str(out / "lip.scp"))}


def test_stage1_parallel_jobs_and_rerun_after_a_crash(data_dir, tmp_path):
    out = tmp_path / "lip"
    r = stage_lips(data_dir, out, "--preview")
    assert r.returncode == 0, r.stderr[-2000:]
    lips = load(out)
    assert sorted(lips) == ["spk1_a", "spk1_b", "spk2_c"]
    assert {k: v.shape for k, v in lips.items()} == {"spk1_a": (8, 96, 96), "spk1_b": (10, 96, 96),
                                                     "spk2_c": (12, 96, 96)}
    assert all(v.dtype == np.uint8 for v in lips.values())
    assert read_kv(out / "lip_shape") == {"spk1_a": "8,96,96", "spk1_b": "10,96,96", "spk2_c": "12,96,96"}
    assert (out / "lip_fps").read_text() == "25\n"
    skipped = read_kv(out / "skipped")
    assert list(skipped) == ["spk2_bad"] and "no video stream" in skipped["spk2_bad"]
    # the job that met the bad video says so in its log; the other job ran on
    logs = [(out / "logdir" / f"lips.{j}.log").read_text() for j in (1, 2)]
    assert sum("skipping spk2_bad" in log for log in logs) == 1
    assert sorted(p.name for p in (out / "preview").iterdir()) == ["spk1_a.png", "spk1_b.png", "spk2_c.png"]
    strip = cv2.imread(str(out / "preview" / "spk1_b.png"), cv2.IMREAD_UNCHANGED)
    assert strip.shape == (96, 2 * 96)  # every 5th of 10 crops
    scp_before = (out / "lip.scp").read_text()
    # a crash half-way through a later run: a truncated ark, no scp; the rerun is whole again
    ark = out / "split" / "1" / "lip.ark"
    ark.write_bytes(ark.read_bytes()[:1000])
    (out / "lip.scp").unlink()
    r = stage_lips(data_dir, out)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / "lip.scp").read_text() == scp_before
    again = load(out)
    assert all(np.array_equal(again[k], lips[k]) for k in lips)
    assert not (out / "preview").exists()  # previews of the old run are gone with it


def test_a_killed_job_rerun_gives_the_same_ark_and_scp(data_dir, tmp_path):
    scp = data_dir / "video.scp"
    clean, broken = tmp_path / "clean", tmp_path / "broken"
    cli = [sys.executable, "-m", "avdm.bin.extract_lips", "--scp", str(scp), "--out_dir"]
    assert subprocess.run(cli + [str(clean)], env=ENV, capture_output=True).returncode == 0
    # the same job killed by SIGKILL (no finally, no atexit) while extracting its third video
    killer = (
        "import os, signal, sys\n"
        "import avdm.bin.extract_lips as m\n"
        "real, n = m.extract_lips, [0]\n"
        "def dying(*a, **k):\n"
        "    n[0] += 1\n"
        "    if n[0] == 3:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(*a, **k)\n"
        "m.extract_lips = dying\n"
        "sys.exit(m.main(sys.argv[1:]))\n"
    )
    r = subprocess.run([sys.executable, "-c", killer, "--scp", str(scp), "--out_dir", str(broken)], env=ENV,
                       capture_output=True)
    assert r.returncode == -9
    assert (broken / "lip.ark").stat().st_size > 0  # two utterances were written...
    assert not (broken / "lip.scp").exists()  # ...but nothing a later stage could trust
    assert [p.name for p in broken.glob(".lip.scp.*.tmp")]  # the killed job's temp scp
    assert subprocess.run(cli + [str(broken)], env=ENV, capture_output=True).returncode == 0
    assert (broken / "lip.ark").read_bytes() == (clean / "lip.ark").read_bytes()
    for name in ("lip.scp", "lip_shape", "skipped"):
        text = (broken / name).read_text().replace(str(broken), str(clean))
        assert text == (clean / name).read_text(), name
    assert not list(broken.glob(".*.tmp"))  # the rerun cleared the temp file


def test_avdm_lips_console_script(data_dir, tmp_path):
    videos = read_kv(data_dir / "video.scp")
    r = subprocess.run([sys.executable, "-m", "avdm.bin.extract_lips", videos["spk1_a"], "--out_dir", str(tmp_path),
                        "--detector", "haar"], env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert read_kv(tmp_path / "lip_shape") == {"spk1_a": "8,96,96"}  # utterance id = file stem
    r = subprocess.run([sys.executable, "-m", "avdm.bin.extract_lips", videos["spk1_a"], "--out_dir", str(tmp_path),
                        "--detector", "hog"], env=ENV, capture_output=True, text=True)
    assert r.returncode == 2 and "unknown landmark_detector 'hog'" in r.stderr


def test_a_failed_rerun_leaves_the_earlier_lips_whole(data_dir, tmp_path):
    out = tmp_path / "lip"
    assert stage_lips(data_dir, out).returncode == 0
    before = (out / "lip.scp").read_text()
    lips = load(out)
    bad = tmp_path / "bad_data"
    bad.mkdir()
    (bad / "video.scp").write_text(f"spk2_bad {read_kv(data_dir / 'video.scp')['spk2_bad']}\n")
    r = stage_lips(bad, out)  # no video gives lips: the run fails after its jobs have run
    assert r.returncode == 1 and "is left as it was" in r.stderr
    assert (out / "lip.scp").read_text() == before
    again = load(out)
    assert all(np.array_equal(again[k], lips[k]) for k in lips)
