"""Competing talkers: stage 0's talker condition sets and the training mixer's speech interferers."""
import numpy as np
import pytest
import soundfile as sf

from avdm.data.datadir import write_data_dir
from avdm.data.grid_prep import make_condition_sets
from avdm.data.mixing import active_power, mix
from avdm.fileio import read_kv, write_kv
from avdm.preprocess import AVPreprocessor


def _speech(rng, n=48000, start=8000, stop=40000):
    """A speech-like signal: silence around a burst of modulated noise."""
    x = np.zeros(n, np.float32)
    env = 0.5 + 0.5 * np.sin(np.arange(stop - start) / 400.0)
    x[start:stop] = 0.2 * env * rng.standard_normal(stop - start)
    return x


@pytest.fixture
def two_speaker_set(tmp_path):
    """data/test with two speakers x two utterances, and the two test noise sets of stage 0."""
    rng = np.random.default_rng(0)
    out = tmp_path / "data"
    wav, video, text, spk = {}, {}, {}, {}
    for s in ("s1", "s2"):
        for k in range(2):
            utt = f"{s}_u{k}"
            p = tmp_path / "wav" / f"{utt}.wav"
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(p, _speech(rng), 16000)
            wav[utt], video[utt], text[utt], spk[utt] = str(p), str(p), "bin blue at a one again", s
    write_data_dir(out / "test", {"wav.scp": wav, "video.scp": video, "text": text, "utt2spk": spk})
    for name, kind in (("noise_test_seen", "white"), ("noise_heldout", "brown")):
        p = tmp_path / "wav" / f"{name}.wav"
        sf.write(p, 0.1 * rng.standard_normal(64000).astype(np.float32), 16000)
        (out / name).mkdir(parents=True)
        write_kv(out / name / "wav.scp", {name: str(p)})
        write_kv(out / name / "utt2noise", {name: kind})
    return out


def test_talker_sets_mix_another_speaker_of_the_set_at_the_snr(two_speaker_set):
    from avdm.audio_io import load_audio

    out = two_speaker_set
    names = make_condition_sets(out, "test", [-10], seed=0, talker_snrs=[0, -5])
    assert names == ["test_snr-10_seen", "test_snr-10_heldout", "test_snr0_talker", "test_snr-5_talker"]
    utt2spk = read_kv(out / "test" / "utt2spk")
    for cond, snr in (("test_snr0_talker", 0.0), ("test_snr-5_talker", -5.0)):
        d = out / cond
        assert (d / "base_set").read_text().strip() == "test"
        noise_of = read_kv(d / "utt2noise")
        assert len(noise_of) == 4
        for utt, label in noise_of.items():
            kind, other = label.split(":")
            assert kind == "talker" and utt2spk[other] != utt2spk[utt]  # never the target's own voice
            noisy, noise = load_audio(read_kv(d / "noisy.scp")[utt]), load_audio(read_kv(d / "noise.scp")[utt])
            clean = load_audio(read_kv(d / "wav.scp")[utt])
            # both levels on active speech: the talker's pauses do not count
            measured = 10 * np.log10(active_power(noisy - noise) / active_power(noise))
            assert abs(measured - snr) < 0.2, (cond, utt, measured)
            assert np.abs(noisy - noise - clean).max() < 3 / 32768


def test_a_one_speaker_set_gets_no_talker_sets_and_says_why(two_speaker_set, caplog):
    out = two_speaker_set
    keep = lambda name: {k: v for k, v in read_kv(out / "test" / name).items() if k.startswith("s1_")}  # noqa: E731
    write_data_dir(out / "test", {n: keep(n) for n in ("wav.scp", "video.scp", "text", "utt2spk")})
    names = make_condition_sets(out, "test", [0], seed=0, talker_snrs=[0])
    assert names == ["test_snr0_seen", "test_snr0_heldout"]
    assert "one speaker (s1): no competing-talker sets" in caplog.text


def test_active_level_mixing_counts_only_the_talker_s_speech():
    rng = np.random.default_rng(1)
    target, talker = _speech(rng), _speech(rng, start=20000, stop=28000)  # a talker mostly silent
    _, scaled_mean, speech_mean = mix(target, talker, 0.0, np.random.default_rng(0), noise_level="mean")
    _, scaled_active, speech_active = mix(target, talker, 0.0, np.random.default_rng(0), noise_level="active")
    assert abs(10 * np.log10(active_power(speech_active) / active_power(scaled_active))) < 0.2
    # measured over the whole segment, the pauses would make the talker far louder than 0 dB
    assert 10 * np.log10(active_power(speech_mean) / active_power(scaled_mean)) < -3
    with pytest.raises(ValueError, match="unknown noise_level 'peak'"):
        mix(target, talker, 0.0, noise_level="peak")


def test_training_mixer_draws_talkers_of_other_speakers(tmp_path):
    rng = np.random.default_rng(2)
    scp, spk = {}, {}
    for s, k in (("s1", 0), ("s1", 1), ("s2", 0)):
        utt = f"{s}_u{k}"
        p = tmp_path / f"{utt}.wav"
        sig = _speech(rng, n=16000, start=0, stop=16000)
        sf.write(p, sig, 16000)
        scp[utt], spk[utt] = str(p), s
    write_kv(tmp_path / "wav.scp", scp)
    write_kv(tmp_path / "utt2spk", spk)
    other = np.asarray(sf.read(scp["s2_u0"])[0], np.float32)
    pre = AVPreprocessor(train=True, segment_frames=None, noise_scp=str(tmp_path / "wav.scp"), talker_prob=1.0,
                         talker_snr_range=(0, 0), talker_scp=str(tmp_path / "wav.scp"),
                         talker_utt2spk=str(tmp_path / "utt2spk"))
    target = np.asarray(sf.read(scp["s1_u0"])[0], np.float32)
    np.random.seed(0)
    for _ in range(3):
        out = pre("s1_u0", {"speech": target})
        interferer = out["speech_mix"] - out["speech"]
        # the only utterance of another speaker (same length: not cropped), at 0 dB on active levels
        assert np.corrcoef(interferer, other)[0, 1] > 0.999
        assert abs(10 * np.log10(active_power(out["speech"]) / active_power(interferer))) < 0.3


def test_talker_prob_without_the_speech_lists_is_refused():
    with pytest.raises(ValueError, match="talker_prob > 0 needs talker_scp and talker_utt2spk"):
        AVPreprocessor(train=True, talker_prob=0.3)
    with pytest.raises(ValueError, match=r"talker_prob must be in \[0, 1\]"):
        AVPreprocessor(train=True, talker_prob=1.5)
