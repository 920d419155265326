"""Metrics against known cases, confidence intervals, scoring CLI errors, the report."""
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


def _fixture_scores(d, pesq_wb, estoi, extra=None):
    d.mkdir(parents=True, exist_ok=True)
    s = {m: {"mean": v, "ci95": 0.1, "n": 4} for m, v in
         {"pesq_wb": pesq_wb, "pesq_nb": pesq_wb + 0.1, "stoi": 0.8, "estoi": estoi, "sisdr": 5.0}.items()}
    s.update(extra or {})
    (d / "scores.json").write_text(json.dumps(s))


def test_report_from_fixture_scores(tmp_path):
    from avdm.report import build_report

    exp = tmp_path / "exp"
    for tag, enc in (("av", "light_cnn"), ("ao", "none")):
        (exp / tag).mkdir(parents=True)
        (exp / tag / "config.yaml").write_text(f"visual_encoder: {enc}\nmodel_conf:\n  mode: conditional\n")
        for snr, p in ((-5, 1.5), (5, 2.5)):
            run = exp / tag / f"enhance_test_snr{snr}_seen"
            _fixture_scores(run / "scoring", p + (0.2 if tag == "av" else 0), 0.6, {"nfe": 8.0, "rtf": 0.4})
            (run / "decode_config.yaml").write_text("sampler: dpm2m\nsampler_conf: {steps: 8}\nguidance: 1.0\n")
    for snr in (-5, 5):
        _fixture_scores(exp / "noisy_input" / f"test_snr{snr}_seen" / "scoring", 1.2, 0.5)
    out = tmp_path / "RESULTS.md"
    text = build_report(exp, out)
    assert "### test: SNR -5 dB, seen noise types" in text
    assert "| noisy input | 1.20 | 1.30 | 0.800 | 0.500 | 5.0 | – | – | – |" in text
    assert "| av (AV) | 1.70 | 1.80 | 0.800 | 0.600 | 5.0 | – | 8 | 0.40 |" in text
    assert "| ao (audio-only) | 1.50 |" in text
    assert text.index("SNR -5 dB") < text.index("SNR 5 dB")
    assert (tmp_path / "figures" / "pesq_vs_snr.png").is_file()
    first = out.read_bytes()
    build_report(exp, out)
    assert out.read_bytes() == first  # rerunning regenerates the same file


def test_report_without_scores_is_a_clear_error(tmp_path):
    from avdm.report import build_report

    with pytest.raises(FileNotFoundError, match="run stages 4 and 5 first"):
        build_report(tmp_path, tmp_path / "R.md")
