"""Stage 0: data dirs from GRID layouts, splits, validation, noisy sets, bad input."""
import shutil
import subprocess
import sys

import numpy as np
import pytest

from avdm.data.datadir import DataDirError, fix_data_dir, validate_data_dir, write_data_dir
from avdm.data.grid_prep import GridLayoutError, prepare, scan_grid, split_speakers
from avdm.data.mixing import active_power, mix, snr_db
from avdm.fileio import read_kv


@pytest.fixture(scope="module")
def prepared(minigrid, tmp_path_factory):
    out = tmp_path_factory.mktemp("prep") / "data"
    prepare(minigrid, out, seed=0, snrs=[-5, 5], noise_files=1, nj=2)
    return out


def test_speaker_disjoint_splits_and_files(prepared):
    spk = {s: set(read_kv(prepared / s / "utt2spk").values()) for s in ("train", "dev", "test")}
    assert spk["train"] == {"s1"} and spk["dev"] == {"s2"} and spk["test"] == {"s3"}
    for s in ("train", "dev", "test"):
        assert validate_data_dir(prepared / s) == 2
        text = read_kv(prepared / s / "text")
        for utt, words in text.items():
            assert utt.startswith(read_kv(prepared / s / "utt2spk")[utt] + "_")
            assert len(words.split()) == 6


def test_noisy_condition_sets(prepared):
    conds = (prepared / "test" / "condition_sets").read_text().split()
    assert conds == ["test_snr-5_seen", "test_snr5_seen", "test_snr-5_heldout", "test_snr5_heldout"]
    from avdm.audio_io import load_audio
    from avdm.data.noise_bank import HELDOUT_TYPES, TRAIN_TYPES

    for c in conds:
        d = prepared / c
        assert (d / "base_set").read_text().strip() == "test"
        validate_data_dir(d)
        kinds = set(read_kv(d / "utt2noise").values())
        assert kinds <= set(HELDOUT_TYPES if c.endswith("heldout") else TRAIN_TYPES)
        for utt, path in read_kv(d / "noisy.scp").items():
            clean = load_audio(read_kv(d / "wav.scp")[utt])
            noisy = load_audio(path)
            noise = load_audio(read_kv(d / "noise.scp")[utt])
            assert len(noisy) == len(clean)
            target = float(read_kv(d / "utt2snr")[utt])
            # the files are 16-bit, so measure on what was written: speech = noisy - noise
            assert abs(snr_db(noisy - noise, noise) - target) < 0.1
            # the reference is the speech at its level in the mixture, even where that was scaled
            assert np.abs(noisy - noise - clean).max() < 3 / 32768, (c, utt)


def test_mixing_hits_the_snr_and_ignores_silence():
    rng = np.random.default_rng(0)
    speech = np.concatenate([np.zeros(16000), 0.3 * rng.standard_normal(16000), np.zeros(16000)])
    noise = rng.standard_normal(64000)
    for snr in (-5.0, 0.0, 7.5):
        mixture, scaled, ref = mix(speech, noise, snr, np.random.default_rng(1))
        assert abs(snr_db(mixture - scaled, scaled) - snr) < 0.01
        np.testing.assert_array_equal(mixture, ref + scaled)
    # the level of the speech is that of its active part, not diluted by the silence
    assert abs(10 * np.log10(active_power(speech) / 0.09)) < 0.3
    with pytest.raises(ValueError, match="silent speech"):
        mix(np.zeros(1000), noise, 0.0)


def test_mixing_that_would_clip_scales_speech_and_noise_together():
    rng = np.random.default_rng(0)
    speech = 0.5 * np.sin(np.arange(16000) / 7.0)
    noise = np.zeros(16000)
    noise[::400] = 1.0  # clicks: loud peaks for little power
    mixture, scaled, ref = mix(speech, noise, -5.0, rng)
    assert abs(np.abs(mixture).max() - 0.99) < 1e-6
    gain = float(ref @ speech / (speech @ speech))
    assert gain < 0.2  # the clicks forced it far down
    np.testing.assert_allclose(ref, gain * speech, atol=1e-6)
    assert abs(snr_db(ref, scaled) - (-5.0)) < 0.01


def test_no_written_signal_clips_even_where_speech_and_noise_cancel():
    speech = 0.8 * np.sin(np.arange(16000) / 5.0)
    noise = -1.5 * speech  # the mixture is smaller than the noise alone
    mixture, scaled, ref = mix(speech, noise, -3.5, np.random.default_rng(0))
    assert max(np.abs(mixture).max(), np.abs(scaled).max(), np.abs(ref).max()) <= 0.99 + 1e-6
    assert abs(np.abs(scaled).max() - 0.99) < 1e-6  # the noise set the gain, not the mixture
    np.testing.assert_allclose(mixture, ref + scaled, atol=1e-6)


def test_noise_types_registered_with_disjoint_splits():
    from avdm.data.noise_bank import HELDOUT_TYPES, TRAIN_TYPES
    from avdm.registry import NOISE_TYPES

    assert not set(TRAIN_TYPES) & set(HELDOUT_TYPES)
    assert set(TRAIN_TYPES) | set(HELDOUT_TYPES) <= set(NOISE_TYPES.keys())
    rng = np.random.default_rng(0)
    for key in TRAIN_TYPES + HELDOUT_TYPES:
        x = NOISE_TYPES.get(key)(16000, 16000, rng)
        assert x.shape == (16000,) and np.isfinite(x).all() and x.std() > 0.01


def test_noise_power_lies_in_the_audible_band():
    """The SNR a condition is named after counts noise one can hear: no type keeps more than 1% of
    its power below 20 Hz (brown noise once had 99.6% there, pink 45%), and the coloured types keep
    their slope above it (brown falls 6 dB per octave more steeply than pink)."""
    from avdm.data.noise_bank import HELDOUT_TYPES, TRAIN_TYPES
    from avdm.registry import NOISE_TYPES

    fs, n = 16000, 4 * 16000
    f = np.fft.rfftfreq(n, 1.0 / fs)
    slope = {}
    for key in TRAIN_TYPES + HELDOUT_TYPES:
        x = NOISE_TYPES.get(key)(n, fs, np.random.default_rng(3))
        p = np.abs(np.fft.rfft(x)) ** 2
        assert p[f < 20].sum() / p.sum() < 0.01, key
        if key in ("pink", "brown"):
            band = lambda lo: p[(f >= lo) & (f < 2 * lo)].mean()  # noqa: E731
            slope[key] = 10 * np.log10(band(1000) / band(250)) / 2  # dB per octave
    assert slope["pink"] == pytest.approx(-3.0, abs=0.5)
    assert slope["brown"] == pytest.approx(-6.0, abs=0.5)


def test_babble_depends_on_the_seed_alone():
    """espeak-ng carries state between syntheses in one process; babble must not: the same seed
    gives the same samples however much was synthesised before it in this process."""
    from avdm.data.espeak import Espeak, Voice
    from avdm.registry import NOISE_TYPES

    make = NOISE_TYPES.get("babble")
    first = make(16000, 16000, np.random.default_rng(5))
    tts = Espeak.get()
    for _ in range(2):  # advances the in-process state this guards against
        tts.synthesize("bin blue at f two now", Voice("en+f2"))
    again = make(16000, 16000, np.random.default_rng(5))
    np.testing.assert_array_equal(first, again)
    other = make(16000, 16000, np.random.default_rng(6))
    assert np.sqrt(np.mean(first ** 2)) == pytest.approx(0.1, rel=1e-3)
    assert np.abs(first - other).mean() > 0.02  # another seed, other talkers


def test_bad_utterances_are_logged_and_skipped(minigrid, tmp_path, caplog):
    root = tmp_path / "grid"
    shutil.copytree(minigrid, root)
    victim = sorted(root.glob("s1/*.mpg"))[0]
    victim.write_bytes(victim.read_bytes()[:4000])  # truncated video
    missing = sorted(root.glob("s2/*.mpg"))[0]
    (root / "audio_25k" / "s2" / f"{missing.stem}.wav").unlink()  # missing wav
    (root / "s3" / "notgrid.mpg").write_bytes(sorted(root.glob("s3/*.mpg"))[0].read_bytes())  # no transcript
    (root / "align" / "s3" / "notgrid.align").write_text("0 75000 sil\n")  # ... and an empty one
    counts = prepare(root, tmp_path / "data", snrs=[0], noise_files=1, nj=1)
    skipped = read_kv(tmp_path / "data" / "skipped")
    assert "unreadable video" in skipped[f"s1_{victim.stem}"]
    assert "missing wav" in skipped[f"s2_{missing.stem}"]
    assert skipped["s3_notgrid"] == "empty transcript"
    assert counts == {"train": 1, "dev": 1, "test": 2}


def test_unrecognisable_root_is_one_clear_error(tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "a.txt").write_text("x")
    with pytest.raises(GridLayoutError, match="does not look like the GRID corpus"):
        scan_grid(tmp_path)
    r = subprocess.run([sys.executable, "-m", "avdm.bin.prepare_grid", "--grid_root", str(tmp_path),
                        "--out", str(tmp_path / "data")], capture_output=True, text=True)
    assert r.returncode == 1 and "does not look like the GRID corpus" in r.stderr


def test_speaker_split_options():
    assert split_speakers([f"s{i}" for i in range(1, 21)]) == {
        "train": [f"s{i}" for i in range(1, 17)], "dev": ["s17", "s18"], "test": ["s19", "s20"]}
    assert split_speakers(["s1", "s2", "s3", "s4"], dev=["s1"], test=["s2"])["train"] == ["s3", "s4"]
    with pytest.raises(ValueError, match="not in the corpus"):
        split_speakers(["s1", "s2"], test=["s9"])


def test_data_dir_validation_names_the_first_bad_line(tmp_path):
    d = tmp_path / "d"
    write_data_dir(d, {"wav.scp": {"s1_a": "/a.wav", "s1_b": "/b.wav"}, "text": {"s1_a": "x", "s1_b": "y"},
                       "utt2spk": {"s1_a": "s1", "s1_b": "s1"}})
    (d / "text").write_text("s1_b y\ns1_a x\n")
    with pytest.raises(DataDirError, match=r"text:2: key 's1_a' not sorted"):
        validate_data_dir(d)
    (d / "text").write_text("s1_a x\n")
    with pytest.raises(DataDirError, match="keys differ from wav.scp: 's1_b' of wav.scp missing"):
        validate_data_dir(d)
    assert fix_data_dir(d) == 1
    assert validate_data_dir(d) == 1
    (d / "utt2spk").write_text("s1_a s2\n")
    (d / "spk2utt").write_text("s2 s1_a\n")
    with pytest.raises(DataDirError, match="must start with its speaker id 's2'"):
        validate_data_dir(d)


@pytest.mark.real_grid
def test_real_grid_clips_prepare(grid_samples, tmp_path):
    root = tmp_path / "GRID"
    (root / "s1").mkdir(parents=True)
    for clip in sorted(grid_samples.glob("*.mpg")):
        (root / "s1" / clip.name).symlink_to(clip)
    prepare(root, tmp_path / "data", snrs=[0], noise_files=1, nj=1)
    text = {}
    for s in ("train", "dev", "test"):
        text.update(read_kv(tmp_path / "data" / s / "text"))
    assert text["s1_bbaf2n"] == "bin blue at f two now"
    assert text["s1_swiz3n"] == "set white in z three now"
    # no audio_25k: wav.scp points at the videos and the audio is demuxed at 16 kHz
    from avdm.audio_io import load_audio

    wav = read_kv(tmp_path / "data" / "train" / "wav.scp")
    x = load_audio(next(iter(wav.values())))
    assert 2.9 * 16000 < len(x) < 3.1 * 16000
