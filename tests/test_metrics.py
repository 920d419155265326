"""Metrics against known cases, confidence intervals, the scoring CLIs (avdm-score, stage 5)."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from avdm.metrics import LengthMismatchError, align_lengths, mean_ci, pesq, score_pair, si_sdr, stoi


def speechlike(seconds=3.0, seed=0):
    """A deterministic speech-like signal: harmonic bursts with a syllable-rate envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    x = sum(np.sin(k * phase) / k for k in range(1, 20))
    env = np.clip(np.sin(2 * np.pi * 3 * t), 0, None) ** 2
    return (0.2 * x * env + 0.001 * rng.standard_normal(len(t))).astype(np.float64)


def test_identical_signals():
    x = speechlike()
    s = score_pair(x, x)
    assert s["pesq_wb"] > 4.4 and s["pesq_nb"] > 4.4
    assert s["stoi"] > 0.999 and s["estoi"] > 0.999
    assert s["sisdr"] > 80


@pytest.mark.parametrize("target", [-5.0, 0.0, 10.0, 20.0])
def test_si_sdr_of_a_known_snr(target):
    x = speechlike()
    rng = np.random.default_rng(1)
    n = rng.standard_normal(len(x))
    xc = x - x.mean()
    n = n - n.mean()
    n -= np.dot(n, xc) / np.dot(xc, xc) * xc  # orthogonal to the reference
    n *= math.sqrt(np.dot(xc, xc) / np.dot(n, n) / 10 ** (target / 10))
    assert si_sdr(x, x + n) == pytest.approx(target, abs=1e-6)
    assert si_sdr(x, 3.0 * (x + n)) == pytest.approx(target, abs=1e-6)  # scale invariant


def test_pesq_stoi_match_the_reference_implementations():
    from pesq import pesq as ref_pesq
    from pystoi import stoi as ref_stoi

    x = speechlike()
    y = x + 0.05 * np.random.default_rng(2).standard_normal(len(x))
    assert pesq(x, y, 16000, "wb") == pytest.approx(ref_pesq(16000, x, y, "wb"))
    assert stoi(x, y) == pytest.approx(ref_stoi(x, y, 16000))
    assert stoi(x, y, extended=True) == pytest.approx(ref_stoi(x, y, 16000, extended=True))
    # more noise, lower scores
    z = x + 0.3 * np.random.default_rng(2).standard_normal(len(x))
    assert pesq(x, z) < pesq(x, y) and stoi(x, z) < stoi(x, y)


def test_confidence_interval_arithmetic():
    mean, half, n = mean_ci([1.0, 2.0, 3.0, 4.0])
    # t(0.975, 3) = 3.182446; s = sqrt(5/3)
    assert mean == 2.5 and n == 4
    assert half == pytest.approx(3.182446 * math.sqrt(5 / 3) / 2, rel=1e-5)
    assert mean_ci([float("nan"), 2.0])[2] == 1
    assert math.isnan(mean_ci([])[0])


def test_length_mismatch_is_explicit():
    x = np.zeros(16000)
    a, b = align_lengths(x, np.zeros(16100))
    assert len(a) == len(b) == 16000
    with pytest.raises(LengthMismatchError, match="0.50 s apart"):
        align_lengths(x, np.zeros(24000), utt="u1")


def test_score_cli_missing_utterance_is_an_error(tmp_path):
    from avdm.audio_io import save_wav

    x = speechlike(1.0)
    save_wav(tmp_path / "a.wav", x)
    (tmp_path / "ref.scp").write_text(f"u1 {tmp_path}/a.wav\n")
    (tmp_path / "inf.scp").write_text(f"u1 {tmp_path}/a.wav\nu2 {tmp_path}/a.wav\n")
    r = subprocess.run([sys.executable, "-m", "avdm.bin.score", "--ref", str(tmp_path / "ref.scp"),
                        "--inf", str(tmp_path / "inf.scp")], capture_output=True, text=True)
    assert r.returncode == 1 and "utterance 'u2' has no reference" in r.stderr
    (tmp_path / "inf.scp").write_text(f"u1 {tmp_path}/a.wav\n")
    r = subprocess.run([sys.executable, "-m", "avdm.bin.score", "--ref", str(tmp_path / "ref.scp"),
                        "--inf", str(tmp_path / "inf.scp"), "--out_dir", str(tmp_path / "sc")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "sc" / "result_pesq_wb.txt").read_text().startswith("pesq_wb 4.")
    assert json.loads((tmp_path / "sc" / "scores.json").read_text())["stoi"]["n"] == 1


def test_pesq_nb_is_pesq_of_the_8k_pair_and_metric_subsets():
    from pesq import pesq as ref_pesq

    from avdm.audio_io import resample

    x = speechlike(2.0)
    y = x + 0.05 * np.random.default_rng(3).standard_normal(len(x))
    x8, y8 = resample(x, 16000, 8000), resample(y, 16000, 8000)
    assert pesq(x, y, 16000, "nb") == pytest.approx(ref_pesq(8000, x8.astype(np.float64), y8.astype(np.float64), "nb"))
    s = score_pair(x, y, metrics=("sisdr", "stoi"))
    assert set(s) == {"sisdr", "stoi"}
    with pytest.raises(ValueError, match="unknown metric"):
        score_pair(x, y, metrics=("mos",))


def test_confidence_interval_by_hand():
    # t quantiles by hand (tables): t(0.975, 1) = 12.7062, t(0.975, 9) = 2.262157
    v = [3.0, 5.0]
    assert mean_ci(v)[1] == pytest.approx(12.7062 * math.sqrt(2.0) / math.sqrt(2), rel=1e-5)
    v = list(range(10))
    s = math.sqrt(sum((x - 4.5) ** 2 for x in v) / 9)
    assert mean_ci(v) == pytest.approx((4.5, 2.262157 * s / math.sqrt(10), 10), rel=1e-6)
    assert mean_ci([7.0]) == (7.0, pytest.approx(float("nan"), nan_ok=True), 1)


def _stage_fixture(tmp_path, n=4, bad_len=None):
    """dump/raw/<cond set> with clean/noisy audio and exp/<tag>/enhance_<set> whose output is clean + a little noise."""
    from avdm.audio_io import save_wav

    rng = np.random.default_rng(5)
    ref = tmp_path / "dump" / "raw" / "test_snr0_seen"
    inf = tmp_path / "exp" / "m" / "enhance_test_snr0_seen"
    (ref / "wav").mkdir(parents=True)
    (inf / "wav").mkdir(parents=True)
    lines = {"wav.scp": [], "noisy.scp": [], "out": []}
    for i in range(n):
        u = f"u{i}"
        x = speechlike(1.0, seed=i).astype(np.float32)
        noisy = x + 0.2 * rng.standard_normal(len(x)).astype(np.float32)
        out = x + 0.02 * rng.standard_normal(len(x)).astype(np.float32)
        if u == bad_len:
            out = np.concatenate([out, out])  # 1 s too long: skipped with a reason
        for name, sig, d in (("wav.scp", x, ref / "wav" / f"{u}.wav"), ("noisy.scp", noisy, ref / "wav" / f"{u}_n.wav"),
                             ("out", out, inf / "wav" / f"{u}.wav")):
            save_wav(d, sig)
            lines[name].append(f"{u} {d}\n")
    (ref / "wav.scp").write_text("".join(lines["wav.scp"]))
    (ref / "noisy.scp").write_text("".join(lines["noisy.scp"]))
    (inf / "wav.scp").write_text("".join(lines["out"]))
    (inf / "utt2rtf").write_text("".join(f"u{i} 0.5\n" for i in range(n)))
    return ref, inf


def test_stage_score_parallel_jobs_noisy_input_and_skips(tmp_path):
    from avdm.bin.stage_score import main

    ref, inf = _stage_fixture(tmp_path, bad_len="u3")
    noisy = tmp_path / "exp" / "noisy_input" / ref.name
    assert main(["--ref_dir", str(ref), "--inf_dir", str(noisy), "--noisy_input", "--nj", "1"]) == 0
    assert main(["--ref_dir", str(ref), "--inf_dir", str(inf), "--nj", "2"]) == 0
    sys_scores = json.loads((inf / "scoring" / "scores.json").read_text())
    noisy_scores = json.loads((noisy / "scoring" / "scores.json").read_text())
    assert (tmp_path / "exp" / "m" / "enhance_test_snr0_seen" / "logdir" / "score.2.log").is_file()
    assert sys_scores["system"] == "m" and sys_scores["job"] == "enhance" and sys_scores["rtf"] == 0.5
    assert noisy_scores["system"] == "noisy" and noisy_scores["pesq_wb"]["n"] == 4
    assert sys_scores["pesq_wb"]["n"] == 3 and sys_scores["n_skipped"] == 1
    assert "u3" in (inf / "scoring" / "skipped").read_text() and "s apart" in (inf / "scoring" / "skipped").read_text()
    for m in ("pesq_wb", "pesq_nb", "stoi", "estoi", "sisdr"):
        assert sys_scores[m]["mean"] > noisy_scores[m]["mean"]  # less noise scores better
    # per-utterance values equal a direct computation
    from avdm.audio_io import load_audio

    utt2 = dict(line.split() for line in (inf / "scoring" / "utt2sisdr").read_text().splitlines())
    x, y = load_audio(ref / "wav" / "u1.wav"), load_audio(inf / "wav" / "u1.wav")
    assert float(utt2["u1"]) == pytest.approx(si_sdr(x, y), abs=1e-4)
    # the parallel run gives what one job gives (to rounding: numpy's SIMD paths differ by process)
    assert main(["--ref_dir", str(ref), "--inf_dir", str(inf), "--nj", "1"]) == 0
    again = json.loads((inf / "scoring" / "scores.json").read_text())
    for m in ("pesq_wb", "pesq_nb", "stoi", "estoi", "sisdr"):
        assert again[m]["mean"] == pytest.approx(sys_scores[m]["mean"], rel=1e-9)
        assert again[m]["n"] == sys_scores[m]["n"]


def test_stage_score_missing_output_is_an_error(tmp_path, capsys):
    from avdm.bin.stage_score import main

    ref, inf = _stage_fixture(tmp_path, n=3)
    (inf / "wav.scp").write_text("".join(l for l in (inf / "wav.scp").read_text().splitlines(True) if "u1" not in l))
    assert main(["--ref_dir", str(ref), "--inf_dir", str(inf)]) == 1
    assert "utterance 'u1' of the reference set has no output" in capsys.readouterr().err
    (inf / "skipped").write_text("u1 face not found\n")  # stage 4 said why: scored without it
    assert main(["--ref_dir", str(ref), "--inf_dir", str(inf)]) == 0
    assert json.loads((inf / "scoring" / "scores.json").read_text())["stoi"]["n"] == 2
    assert main(["--ref_dir", str(ref), "--inf_dir", str(tmp_path / "nowhere")]) == 1
    assert "run stage 4 first" in capsys.readouterr().err
    assert main(["--ref_dir", str(ref), "--inf_dir", str(inf), "--clean_input"]) == 2
