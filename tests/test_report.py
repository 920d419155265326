"""Stage 6 report from fixture score files: tables, rows, WER, reproduce lines, figures, determinism."""
import json

import numpy as np
import pytest

from avdm.data.condition import write_condition
from avdm.report import build_report


def _fixture_scores(d, pesq_wb, estoi, extra=None, wer=None):
    d.mkdir(parents=True, exist_ok=True)
    s = {m: {"mean": v, "ci95": 0.1, "n": 4} for m, v in
         {"pesq_wb": pesq_wb, "pesq_nb": pesq_wb + 0.1, "stoi": 0.8, "estoi": estoi, "sisdr": 5.0}.items()}
    if wer is not None:
        s["wer"] = {"mean": wer, "ci95": 3.0, "n": 4}
        s["asr_model"] = "exp/asr"
    s.update(extra or {})
    (d / "scores.json").write_text(json.dumps(s))


def _exp(tmp_path, wer=False):
    exp = tmp_path / "exp"
    for tag, enc in (("av", "light_cnn"), ("ao", "none")):
        (exp / tag).mkdir(parents=True)
        (exp / tag / "config.yaml").write_text(f"config: conf/{tag}.yaml\nvisual_encoder: {enc}\n"
                                               "model_conf:\n  mode: conditional\n")
        for snr, p in ((-5, 1.5), (5, 2.5)):
            run = exp / tag / f"enhance_test_snr{snr}_seen"
            _fixture_scores(run / "scoring", p + (0.2 if tag == "av" else 0), 0.6, {"nfe": 8.0, "rtf": 0.4},
                            wer=(20.0 if tag == "av" else 30.0) if wer else None)
            (run / "decode_config.yaml").write_text("sampler: dpm2m\nsampler_conf: {steps: 8}\nguidance: 1.0\n")
    for snr in (-5, 5):
        _fixture_scores(exp / "noisy_input" / f"test_snr{snr}_seen" / "scoring", 1.2, 0.5,
                        wer=50.0 if wer else None)
        # the dumps say what each set is (stage 0 writes it, stage 2 copies it)
        dump = tmp_path / "dump" / "raw" / f"test_snr{snr}_seen"
        dump.mkdir(parents=True)
        write_condition(dump, "test", snr, "seen")
    (tmp_path / "dump" / "raw" / "test").mkdir()
    return exp


def test_the_condition_comes_from_the_dump_not_the_name(tmp_path):
    exp = _exp(tmp_path)
    dump = tmp_path / "dump" / "raw" / "test_snr-5_seen"
    write_condition(dump, "test", 2.5, "talker")
    text = build_report(exp, tmp_path / "RESULTS.md", figures=False)
    assert "### test: SNR 2.5 dB, competing talker" in text and "SNR -5 dB" not in text
    # a noisy set dumped before conditions were recorded: a clear error saying what to rerun
    (dump / "condition").unlink()
    (dump / "noisy.scp").write_text("u1 x.wav\n")
    with pytest.raises(ValueError, match=r"test_snr-5_seen is a noisy set without a 'condition' file .* "
                                         r"rerun stages 0-2"):
        build_report(exp, tmp_path / "RESULTS.md", figures=False)


def test_report_from_fixture_scores(tmp_path):
    exp = _exp(tmp_path)
    out = tmp_path / "RESULTS.md"
    text = build_report(exp, out)
    assert "### test: SNR -5 dB, seen noise types" in text
    assert "| system | PESQ-WB | PESQ-NB | STOI | ESTOI | SI-SDR | WER % | NFE | RTF |" in text
    assert "| noisy input | 1.20 | 1.30 | 0.800 | 0.500 | 5.0 | – | – | – |" in text
    assert "| av (AV) | 1.70 | 1.80 | 0.800 | 0.600 | 5.0 | – | 8 | 0.40 |" in text
    assert "| ao (audio-only) | 1.50 |" in text
    assert text.index("SNR -5 dB") < text.index("SNR 5 dB")
    assert text.index("| noisy input") < text.index("| av (AV)") < text.index("| ao (audio-only)")
    # every table names its configs and the command that reproduces it
    assert text.count('Reproduce (stages 0–6): `./run.sh --train_config "conf/ao.yaml conf/av.yaml" '
                      '--inference_jobs enhance`') == 2
    assert "`conf/av.yaml` (AV)" in text and "`conf/ao.yaml` (audio-only)" in text
    assert "--skip_asr true" in text
    # the intervals are over utterances; the reader is told that one row is one training seed
    assert "one training seed" in text.split("\n## ")[0]
    assert (tmp_path / "figures" / "pesq_vs_snr.png").is_file()
    assert "](figures/pesq_vs_snr.png)" in text
    first, png = out.read_bytes(), (tmp_path / "figures" / "pesq_vs_snr.png").read_bytes()
    build_report(exp, out)
    assert out.read_bytes() == first  # rerunning regenerates the same file
    assert (tmp_path / "figures" / "pesq_vs_snr.png").read_bytes() == png


def test_report_with_wer_and_the_clean_reference(tmp_path):
    exp = _exp(tmp_path, wer=True)
    _fixture_scores(exp / "reference" / "test" / "scoring", 4.5, 1.0, wer=4.0)
    json_path = exp / "reference" / "test" / "scoring" / "scores.json"
    s = json.loads(json_path.read_text())
    json_path.write_text(json.dumps({"wer": s["wer"], "asr_model": "exp/asr", "system": "reference"}))
    text = build_report(exp, tmp_path / "RESULTS.md", figures=False)
    assert text.count("| clean reference | – | – | – | – | – | 4.0 | – | – |") == 2
    assert "| av (AV) | 1.70 | 1.80 | 0.800 | 0.600 | 5.0 | 20.0 | 8 | 0.40 |" in text
    assert "| noisy input | 1.20 | 1.30 | 0.800 | 0.500 | 5.0 | 50.0 | – | – |" in text
    assert "by the ASR model `exp/asr`" in text
    assert "figures/" not in text


def test_spectrogram_figure_from_fixture_dumps(tmp_path):
    import kaldiio

    from avdm.audio_io import save_wav

    exp = _exp(tmp_path)
    dump = tmp_path / "dump" / "raw" / "test_snr-5_seen"
    rng = np.random.default_rng(0)
    scp = {}
    for name in ("clean", "noisy", "enh"):
        lines = []
        for u in ("u1", "u2", "u3"):
            save_wav(tmp_path / f"{name}_{u}.wav", 0.1 * rng.standard_normal(6400).astype(np.float32))
            lines.append(f"{u} {tmp_path}/{name}_{u}.wav\n")
        scp[name] = "".join(lines)
    (dump / "wav.scp").write_text(scp["clean"])
    (dump / "noisy.scp").write_text(scp["noisy"])
    (exp / "av" / "enhance_test_snr-5_seen" / "wav.scp").write_text(scp["enh"])
    with kaldiio.WriteHelper(f"ark,scp:{dump}/lip.ark,{dump}/lip.scp", write_function="numpy") as w:
        for u in ("u1", "u2", "u3"):
            w(u, rng.integers(0, 255, (10, 96, 96), dtype=np.uint8))
    text = build_report(exp, tmp_path / "RESULTS.md", dump_dir=tmp_path / "dump" / "raw")
    assert "![Spectrograms of u1, u2: lip ROIs, clean, noisy (test_snr-5_seen), enhance: av]" \
           "(figures/spectrograms.png)" in text
    png = tmp_path / "figures" / "spectrograms.png"
    assert png.stat().st_size > 10000
    first = png.read_bytes()
    build_report(exp, tmp_path / "RESULTS.md", dump_dir=tmp_path / "dump" / "raw")
    assert png.read_bytes() == first


def test_report_without_scores_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="run stages 4 and 5 first"):
        build_report(tmp_path, tmp_path / "R.md")


def test_report_cli(tmp_path):
    from avdm.bin.report import main

    exp = _exp(tmp_path)
    assert main(["--exp_dir", str(exp), "--dump_dir", str(tmp_path / "dump" / "raw"), "--out", str(tmp_path / "R.md"),
                 "--no_figures"]) == 0
    assert (tmp_path / "R.md").read_text().startswith("# Results")
    assert main(["--exp_dir", str(tmp_path / "none"), "--out", str(tmp_path / "R2.md")]) == 1


def test_report_names_the_sampler_start_and_the_front_end_probe(tmp_path):
    exp = _exp(tmp_path)
    (exp / "av" / "enhance_test_snr-5_seen" / "decode_config.yaml").write_text(
        "sampler: dpm2m\nsampler_conf: {steps: 8}\nguidance: 2.0\nstart: lip_envelope\nt_start: 0.01\n")
    (exp / "lip_frontend").mkdir()
    (exp / "lip_frontend" / "probe.json").write_text(json.dumps(
        {"steps": 800, "dev": {"utterances": 60, "broadband_r": 0.9787, "band_r": 0.8896, "render_estoi": 0.3355},
         "test": {"utterances": 10, "broadband_r": 0.98, "band_r": 0.85}}))  # an older probe: no rendering
    text = build_report(exp, tmp_path / "RESULTS.md", figures=False)
    assert "`av` (exp/av/config.yaml) sampled with `dpm2m` {\"steps\": 8}, guidance 2.0, started at t 0.01 " \
           "from the lip_envelope" in text
    assert "`ao` (exp/ao/config.yaml) sampled with `dpm2m` {\"steps\": 8}, guidance 1.0;" in text  # from noise
    assert "| set | utterances | broadband r | band r | render ESTOI |" in text
    assert "| dev | 60 | 0.979 | 0.890 | 0.336 |" in text and "| test | 10 | 0.980 | 0.850 | – |" in text
