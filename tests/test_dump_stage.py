"""Stage 2 as the recipe runs it: flac and ark dumps that espnet2's loader reads back, the
audio/video length check, skipped utterances, condition sets, noise banks, lip statistics, and
a dump job killed half-way then rerun."""
import json
import os
import subprocess
import sys

import kaldiio
import numpy as np
import pytest
import soundfile as sf

from avdm.data.condition import Condition, condition_of, write_condition
from avdm.audio_io import load_audio, save_wav
from avdm.fileio import read_kv, write_kv

ENV = dict(os.environ, OMP_NUM_THREADS="1")
T_LIP = {"s1_u1": 10, "s1_u2": 12, "s2_u3": 10, "s2_u4": 10}  # s2_u5 has no lips (stage 1 skipped it)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("dump")
    rng = np.random.default_rng(3)
    # stage 1 output of the base set: uint8 lips
    lip = root / "lip"
    lip.mkdir()
    lips = {k: rng.integers(0, 256, (t, 96, 96), dtype=np.uint8) for k, t in T_LIP.items()}
    with kaldiio.WriteHelper(f"ark,scp:{lip}/lip.ark,{lip}/lip.scp", write_function="numpy") as w:
        for k, v in lips.items():
            w(k, v)
    write_kv(lip / "lip_shape", {k: f"{t},96,96" for k, t in T_LIP.items()})
    # clean audio: 44.1 kHz stereo (resampled on the way), a trim, silence, 2 frames off, no lips
    wav = root / "wav"
    wav.mkdir()
    sf.write(wav / "s1_u1.wav", 0.1 * rng.standard_normal((17640, 2)), 44100, subtype="PCM_16")
    save_wav(wav / "s1_u2.wav", 0.1 * rng.standard_normal(12 * 640 + 200))
    save_wav(wav / "s2_u3.wav", np.zeros(6400))
    save_wav(wav / "s2_u4.wav", 0.1 * rng.standard_normal(8 * 640))
    save_wav(wav / "s2_u5.wav", 0.1 * rng.standard_normal(6400))
    keys = ["s1_u1", "s1_u2", "s2_u3", "s2_u4", "s2_u5"]
    train = root / "data" / "train"
    write_kv(train / "wav.scp", {k: wav / f"{k}.wav" for k in keys})
    write_kv(train / "text", {k: f"WORDS OF {k.upper()}" for k in keys})
    write_kv(train / "utt2spk", {k: k[:2] for k in keys})
    # a condition set: same keys, noisy and noise at 16 kHz
    cond = root / "data" / "train_snr0_seen"
    for name in ("wav.scp", "text", "utt2spk"):
        write_kv(cond / name, read_kv(train / name))
    for kind in ("noisy", "noise"):
        for k in keys:
            n = len(load_audio(wav / f"{k}.wav"))
            save_wav(wav / f"{k}_{kind}.wav", 0.05 * rng.standard_normal(n))
        write_kv(cond / f"{kind}.scp", {k: wav / f"{k}_{kind}.wav" for k in keys})
    write_kv(cond / "utt2snr", {k: "0" for k in keys})
    write_kv(cond / "utt2noise", {k: "babble" for k in keys})
    write_condition(cond, "train", 0, "seen")
    # a noise bank: any lengths, no speakers, no lips
    noise = root / "data" / "noise_train"
    for i, n in enumerate((3000, 5000, 7000)):
        save_wav(wav / f"n{i}.wav", 0.2 * rng.standard_normal(n))
    write_kv(noise / "wav.scp", {f"noise{i}": wav / f"n{i}.wav" for i in range(3)})
    return root, lips


def stage_dump(data, out, *extra):
    return subprocess.run([sys.executable, "-m", "avdm.bin.stage_dump", "--data_dir", str(data), "--out_dir",
                           str(out), "--nj", "2", "--min_utts_per_job", "1", *extra], capture_output=True, text=True, env=ENV)


def test_a_small_set_gets_fewer_jobs_than_nj(corpus):
    root, _ = corpus
    out = root / "raw" / "noise"
    r = subprocess.run([sys.executable, "-m", "avdm.bin.stage_dump", "--data_dir", str(root / "data" / "noise_train"),
                        "--out_dir", str(out), "--nj", "2"], capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr[-2000:]
    # 3 utterances < 2 x 20 (--min_utts_per_job): one job does them all
    assert (out / "logdir" / "dump.1.log").is_file() and not (out / "logdir" / "dump.2.log").exists()
    assert list(read_kv(out / "wav.scp")) == ["noise0", "noise1", "noise2"]


def expected_audio(path, frames):
    x = load_audio(path)
    n = frames * 640
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


def test_flac_dump_of_the_training_set(corpus):
    from espnet2.train.dataset import ESPnetDataset

    root, lips = corpus
    out = root / "raw" / "train"
    r = stage_dump(root / "data" / "train", out, "--lip_dir", str(root / "lip"), "--write_stats")
    assert r.returncode == 0, r.stderr[-2000:]
    kept = ["s1_u1", "s1_u2"]
    skipped = read_kv(out / "skipped")
    assert skipped["s2_u3"] == "silent audio"
    assert "(-2.0 frames off)" in skipped["s2_u4"]
    assert skipped["s2_u5"] == "no lips (skipped in stage 1)"
    for name in ("wav.scp", "lip.scp", "lip_shape", "utt2num_samples", "text", "utt2spk"):
        assert list(read_kv(out / name)) == kept, name
    assert read_kv(out / "spk2utt") == {"s1": "s1_u1 s1_u2"}
    assert read_kv(out / "utt2num_samples") == {"s1_u1": "6400", "s1_u2": "7680"}  # 640 per frame exactly
    assert (out / "audio_format").read_text() == "flac\n"
    logs = "".join((out / "logdir" / f"dump.{j}.log").read_text() for j in (1, 2))
    assert "skipping s2_u3: silent audio" in logs and "skipping s2_u5: no lips" in logs
    stats = json.loads((out / "lip_stats.json").read_text())
    pix = np.concatenate([lips[k].ravel() for k in kept]).astype(np.float64)
    assert stats["mean"] == pytest.approx(pix.mean()) and stats["std"] == pytest.approx(pix.std())
    assert stats["num_utts"] == 2
    # espnet2's data loader reads the dump as training will (uint8 lips need a cast in preprocess)
    ds = ESPnetDataset([(str(out / "wav.scp"), "speech", "sound"), (str(out / "lip.scp"), "lip", "kaldi_ark")],
                       preprocess=lambda uid, d: {**d, "lip": d["lip"].astype(np.float32)})
    wav = read_kv(root / "data" / "train" / "wav.scp")
    for k in kept:
        _, d = ds[k]
        assert d["lip"].shape == (T_LIP[k], 96, 96) and np.array_equal(d["lip"], lips[k])
        assert d["speech"].shape == (T_LIP[k] * 640,)
        np.testing.assert_allclose(d["speech"], expected_audio(wav[k], T_LIP[k]), atol=1.5 / 32768)


def test_ark_dump_of_a_condition_set(corpus):
    from espnet2.train.dataset import ESPnetDataset

    root, lips = corpus
    out = root / "raw" / "train_snr0_seen"
    cond = root / "data" / "train_snr0_seen"
    r = stage_dump(cond, out, "--lip_dir", str(root / "lip"), "--audio_format", "ark")
    assert r.returncode == 0, r.stderr[-2000:]
    kept = ["s1_u1", "s1_u2"]
    for name in ("wav.scp", "noisy.scp", "noise.scp", "lip.scp", "utt2num_samples", "utt2snr", "utt2noise"):
        assert list(read_kv(out / name)) == kept, name
    assert (out / "base_set").read_text() == "train\n"
    assert condition_of(out) == Condition("train", 0.0, "seen")  # what the set is travels with it
    assert (out / "audio_format").read_text() == "ark\n"
    assert not (out / "lip_stats.json").exists()  # only with --write_stats
    ds = ESPnetDataset([(str(out / "wav.scp"), "speech", "kaldi_ark"),
                        (str(out / "noisy.scp"), "speech_mix", "kaldi_ark")])
    noisy = read_kv(cond / "noisy.scp")
    for k in kept:
        _, d = ds[k]
        assert d["speech"].dtype == np.float32 and d["speech"].shape == (T_LIP[k] * 640,)
        assert np.array_equal(d["speech_mix"], expected_audio(noisy[k], T_LIP[k]))


def test_noise_bank_and_option_errors(corpus):
    root, _ = corpus
    out = root / "raw" / "noise_train"
    r = stage_dump(root / "data" / "noise_train", out)
    assert r.returncode == 0, r.stderr[-2000:]
    assert read_kv(out / "utt2num_samples") == {"noise0": "3000", "noise1": "5000", "noise2": "7000"}
    assert not (out / "lip.scp").exists() and read_kv(out / "skipped", allow_empty_value=True) == {}
    r = stage_dump(root / "data" / "noise_train", root / "raw" / "x", "--write_stats")
    assert r.returncode == 2 and "--write_stats needs --lip_dir" in r.stderr
    # a wav.scp with the same key twice: refused with the file and line, nothing half-written
    bad = root / "data" / "noise_dup"
    bad.mkdir()
    first = (root / "data" / "noise_train" / "wav.scp").read_text().splitlines()[0]
    (bad / "wav.scp").write_text(f"{first}\n{first}\n")
    r = stage_dump(bad, root / "raw" / "noise_dup")
    assert r.returncode == 1 and "wav.scp:2: duplicated key 'noise0'" in r.stderr, r.stderr[-2000:]
    assert not (root / "raw" / "noise_dup" / "wav.scp").exists()


def test_a_killed_dump_job_rerun_gives_the_same_ark_and_scp(corpus, tmp_path):
    root, _ = corpus
    cond = root / "data" / "train_snr0_seen"
    write_kv(tmp_path / "keys", read_kv(cond / "wav.scp"))
    job = ["--keys", str(tmp_path / "keys"), "--data_dir", str(cond), "--lip_shape", str(root / "lip" / "lip_shape"),
           "--audio_format", "ark", "--out_dir"]
    clean, broken = tmp_path / "clean", tmp_path / "broken"
    r = subprocess.run([sys.executable, "-m", "avdm.bin.dump_audio", *job, str(clean)], env=ENV, capture_output=True)
    assert r.returncode == 0
    killer = (
        "import os, signal, sys\n"
        "import avdm.bin.dump_audio as m\n"
        "real, n = m.load_audio, [0]\n"
        "def dying(*a, **k):\n"
        "    n[0] += 1\n"
        "    if n[0] == 5:  # the second utterance (3 signals each) is being read\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(*a, **k)\n"
        "m.load_audio = dying\n"
        "sys.exit(m.main(sys.argv[1:]))\n"
    )
    r = subprocess.run([sys.executable, "-c", killer, *job, str(broken)], env=ENV, capture_output=True)
    assert r.returncode == -9
    assert (broken / "wav.ark").stat().st_size > 0 and not (broken / "wav.scp").exists()
    r = subprocess.run([sys.executable, "-m", "avdm.bin.dump_audio", *job, str(broken)], env=ENV, capture_output=True)
    assert r.returncode == 0
    for kind in ("wav", "noisy", "noise"):
        assert (broken / f"{kind}.ark").read_bytes() == (clean / f"{kind}.ark").read_bytes()
    for name in ("wav.scp", "noisy.scp", "noise.scp", "utt2num_samples", "skipped"):
        assert (broken / name).read_text().replace(str(broken), str(clean)) == (clean / name).read_text(), name
    assert not list(broken.glob(".*.tmp"))


def test_an_error_inside_an_ark_dump_leaves_no_list_and_no_temp_file(corpus, tmp_path, monkeypatch):
    import avdm.bin.dump_audio as dump_audio

    root, _ = corpus
    cond = root / "data" / "train_snr0_seen"
    lip_shape = read_kv(root / "lip" / "lip_shape")
    calls = [0]
    real = dump_audio.load_audio

    def failing(*a, **k):
        calls[0] += 1
        if calls[0] == 4:  # first signal of the second utterance
            raise RuntimeError("disk went away")
        return real(*a, **k)

    monkeypatch.setattr(dump_audio, "load_audio", failing)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="disk went away"):
        dump_audio.run(list(read_kv(cond / "wav.scp")), cond, out, lip_shape=lip_shape, audio_format="ark")
    assert sorted(p.name for p in out.iterdir()) == ["noise.ark", "noisy.ark", "wav.ark"]
    # the same call succeeding renames every list into place and leaves no temp file behind
    monkeypatch.setattr(dump_audio, "load_audio", real)
    skipped = dump_audio.run(list(read_kv(cond / "wav.scp")), cond, out, lip_shape=lip_shape, audio_format="ark")
    assert set(skipped) == {"s2_u3", "s2_u4", "s2_u5"}
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{k}.{e}" for k in ("wav", "noisy", "noise") for e in ("ark", "scp")] + ["skipped", "utt2num_samples"])
    assert list(read_kv(out / "wav.scp")) == ["s1_u1", "s1_u2"]


def test_an_earlier_dump_stays_until_its_replacement_is_complete(corpus, tmp_path):
    root, _ = corpus
    noise = tmp_path / "noise_train"
    noise.mkdir()
    write_kv(noise / "wav.scp", read_kv(root / "data" / "noise_train" / "wav.scp"))
    out = tmp_path / "raw" / "noise_train"
    assert stage_dump(noise, out, "--audio_format", "ark").returncode == 0
    before = {k: np.asarray(kaldiio.load_mat(v)) for k, v in read_kv(out / "wav.scp").items()}
    # a rerun whose every utterance fails leaves the finished dump as it was
    write_kv(noise / "wav.scp", {k: tmp_path / "gone.wav" for k in before})
    r = stage_dump(noise, out, "--audio_format", "ark")
    assert r.returncode == 1 and "is left as it was" in r.stderr
    after = {k: np.asarray(kaldiio.load_mat(v)) for k, v in read_kv(out / "wav.scp").items()}
    assert after.keys() == before.keys() and all(np.array_equal(after[k], before[k]) for k in before)
