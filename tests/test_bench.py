"""avdm-bench: NFE budgets, the 97% rule, the summary's targets, the peer's data, budget and
side-by-side run, and the CLI end to end on tiny untrained models and a few synthetic utterances.
(The peer's espnet2 training, its first step, takes about a minute even for a tiny model on 2
cores, so it is not part of the suite; the side-by-side run uses an untrained peer.)"""
import json
import math
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch
import yaml

from avdm.audio_io import save_wav
from avdm.data.condition import write_condition

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "sde": "ouve", "score_model": "ncsnpp_lite",
    "score_model_conf": {"base_channels": 8, "channel_mults": [1, 2]},
    "visual_encoder": "light_cnn", "visual_encoder_conf": {"channels": 4, "output_dim": 8},
    "model_conf": {"mode": "conditional", "ema_decay": 0.99}, "preprocessor_conf": {"segment_frames": 25},
    "seed": 0, "batch_size": 2, "max_epoch": 1, "num_iters_per_epoch": 1, "optim": "adam",
    "optim_conf": {"lr": 0.001},
}
DECODE = {"decode_enhance": {"sampler": "dpm2m", "sampler_conf": {"steps": 2, "t_eps": 0.03}, "guidance": 1.0},
          "decode_generate": {"sampler": "dpm2m", "sampler_conf": {"steps": 2, "t_eps": 0.001}, "guidance": 2.0}}


def make_dump(d, n=2, frames=13, snr=-5, seed=0):
    """A stage-2 style dump of ``n`` synthetic utterances (tone pairs in white noise, random lips)."""
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True)
    rows = {k: {} for k in ("wav.scp", "noisy.scp", "lip_shape", "utt2num_samples", "utt2snr")}
    with kaldiio.WriteHelper(f"ark,scp:{d}/lip.ark,{d}/lip.scp", write_function="numpy") as w:
        for i in range(n):
            utt = f"s1_u{i}"
            t = np.arange(frames * 640) / 16000
            clean = 0.3 * np.sin(2 * np.pi * (200 + 90 * i) * t) * (1.2 + np.sin(2 * np.pi * 3 * t)) / 2.2
            for name, sig in (("wav.scp", clean), ("noisy.scp", clean + 0.2 * rng.standard_normal(len(t)))):
                path = d / f"{utt}_{name[:-4]}.flac"
                save_wav(path, np.clip(sig, -0.99, 0.99))
                rows[name][utt] = str(path)
            w(utt, rng.integers(0, 255, (frames, 96, 96), dtype=np.uint8))
            rows["lip_shape"][utt] = f"{frames},96,96"
            rows["utt2num_samples"][utt] = str(frames * 640)
            rows["utt2snr"][utt] = str(snr)
    for name, content in rows.items():
        (d / name).write_text("".join(f"{k} {v}\n" for k, v in sorted(content.items())))
    (d / "audio_format").write_text("flac\n")
    write_condition(d, "test", snr, "seen")
    return d


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    """A recipe-like dir: tiny untrained models (AV, audio-only twin, prior), decode configs, dumps."""
    from avdm.bench.models import write_untrained_exp

    root = tmp_path_factory.mktemp("bench")
    make_dump(root / "dump" / "test_snr-5_x", snr=-5)
    make_dump(root / "dump" / "test_snr0_x", snr=0, seed=1)
    make_dump(root / "dump" / "test", seed=2)
    variants = {"cond": {}, "cond_ao": {"visual_encoder": "none", "visual_encoder_conf": {}},
                "prior": {"model_conf": {"mode": "prior", "ema_decay": 0.99}}}
    for tag, over in variants.items():
        (root / f"{tag}.yaml").write_text(yaml.safe_dump({**TINY, **over}))
        write_untrained_exp(root / f"{tag}.yaml", root / "exp" / tag)
    (root / "conf").mkdir()
    for name, conf in DECODE.items():
        (root / "conf" / f"{name}.yaml").write_text(yaml.safe_dump(conf))
    return root


# ---------------------------------------------------------------------------------------- NFE
def gaussian_score(sde):
    def fn(x, t):
        a, s = sde.mean_coeff(t)[:, None], sde.std(t)[:, None]
        return -(x - a * 0.5) / (a ** 2 * 0.09 + s ** 2)
    return fn


@pytest.mark.parametrize("key", ["em", "pc", "ode_heun", "dpm2m", "dpm3m", "posterior_nmf"])
def test_nfe_budget_maps_to_the_nfe_counted(key):
    from avdm.bench.nfe import NFE_LIST, conf_for_nfe
    from avdm.registry import SAMPLERS, SDES

    for target in NFE_LIST:
        conf, nominal = conf_for_nfe(key, target, {"t_eps": 0.03})
        assert 1 <= nominal <= target
        if key in ("em", "dpm2m", "dpm3m", "posterior_nmf") or (key == "pc" and target % 2 == 0):
            assert nominal == target, (key, target, conf)
        if key == "ode_heun":
            assert nominal == target - (1 - target % 2)  # 2 * steps - 1: the odd number at or below
        if key == "posterior_nmf":
            continue  # needs an observation; its count is nominal by construction (one NFE per step)
        sde = SDES.build("vp")
        g = torch.Generator().manual_seed(0)
        _, counted = SAMPLERS.build(key, conf)(sde, gaussian_score(sde), torch.randn(8, 1, generator=g), None, g)
        assert counted == nominal, (key, target, conf)
    assert conf_for_nfe("pc", 1)[0]["corrector_steps"] == 0  # one NFE: the predictor alone
    assert conf_for_nfe("pc", 60, {"snr": 0.3})[0] == {"snr": 0.3, "steps": 30}


def test_smallest_nfe_reaching_the_reference():
    from avdm.bench.nfe import smallest_nfe_reaching, smallest_over_samplers

    curve = {1: 1.2, 2: 1.9, 4: 2.43, 8: 2.6, 16: 2.55}
    assert smallest_nfe_reaching(curve, 2.5) == 4  # 0.97 * 2.5 = 2.425
    assert smallest_nfe_reaching(curve, 2.5, fraction=1.0) == 8
    assert smallest_nfe_reaching(curve, 3.0) is None
    assert smallest_nfe_reaching({1: float("nan"), 2: 2.0}, 2.0) == 2
    assert smallest_nfe_reaching(curve, float("nan")) is None
    assert smallest_over_samplers({"a": curve, "b": {8: 1.0}}, 2.5) == {"a": 4, "b": None}


# ---------------------------------------------------------------------------------------- data
def test_other_lips_are_shifted_and_fitted():
    from avdm.data.dumpset import Utterance, crop_or_repeat_last_frame, shifted_lips

    utts = [Utterance(f"u{i}", n, np.zeros(1), lips=np.full((n, 2, 2), i, np.uint8)) for i, n in enumerate((3, 5, 4))]
    other = shifted_lips(utts)
    assert [o.shape[0] for o in other] == [3, 5, 4]
    assert [int(o[0, 0, 0]) for o in other] == [1, 2, 0]
    assert np.array_equal(crop_or_repeat_last_frame(utts[0].lips, 5)[3:], np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="at least 2"):
        shifted_lips(utts[:1])


def test_same_speaker_lips_come_from_another_utterance_of_that_speaker():
    from avdm.data.dumpset import Utterance, same_speaker_lips

    spk = ["a", "b", "a", "b", "a"]
    utts = [Utterance(f"{s}_u{i}", 3, np.zeros(1), lips=np.full((4, 2, 2), i, np.uint8), spk=s)
            for i, s in enumerate(spk)]
    other = same_speaker_lips(utts)
    assert [int(o[0, 0, 0]) for o in other] == [2, 3, 4, 1, 0]  # a: 0->2->4->0, b: 1->3->1
    assert all(o.shape[0] == 3 for o in other)
    with pytest.raises(ValueError, match="speaker\\(s\\) c have a single utterance"):
        same_speaker_lips(utts + [Utterance("c_u9", 3, np.zeros(1), lips=utts[0].lips, spk="c")])
    with pytest.raises(ValueError, match="u7: no speaker"):
        same_speaker_lips([Utterance("u7", 3, np.zeros(1), lips=utts[0].lips)])


def test_train_log_speed_and_budget(tmp_path):
    from avdm.bench.record import budget_of, parse_train_log, same_budget

    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "config.yaml").write_text(yaml.safe_dump({**TINY, "max_epoch": 2, "num_iters_per_epoch": 10}))
    (exp / "train.log").write_text(
        "1epoch results: [train] iter_time=1.0e-04, loss=1.2, train_time=0.500, time=5 seconds, total_count=10, "
        "[valid] loss=1.1, time=1 second, total_count=2\n"
        "2epoch results: [train] iter_time=1.0e-04, loss=1.0, train_time=0.250, time=2.5 seconds, total_count=20\n")
    speed = parse_train_log(exp / "train.log")
    assert speed["epochs_logged"] == 2 and speed["seconds_per_step"] == pytest.approx(0.375)
    assert speed["train_seconds"] == pytest.approx(7.5)  # the epochs' training time, validation apart
    from avdm.bench.record import duration_seconds

    assert duration_seconds("train_time=1.752, time=1 minute and 32.84 seconds, total_count=53") == pytest.approx(92.84)
    assert duration_seconds("x=1, time=1 hour, 2 minutes and 3 seconds, total_count=3") == pytest.approx(3723.0)
    assert duration_seconds("train_time=0.3") is None
    b = budget_of(exp)
    assert b["steps"] == 20 and b["segment_seconds"] == 1.0 and b["train_seconds_estimate"] == pytest.approx(7.5)
    assert b["audio_hours_seen"] == pytest.approx(20 * 2 * 1.0 / 3600)
    assert same_budget(b, dict(b)) and not same_budget(b, {**b, "steps": 21, "batch_size": 3})


# ---------------------------------------------------------------------------------------- summary
def fixture_records():
    def point(nfe, pesq):
        return {"nfe": nfe, "all": {"pesq_wb": pesq, "estoi": 0.5, "sisdr": 3.0, "rtf": 0.1 * nfe}}

    nfe = {"command": "avdm-bench nfe --cond_model exp/a", "model": "exp/a", "n_utts": {"test_snr-5_heldout": 4},
           "noisy": {"all": {"pesq_wb": 1.1, "estoi": 0.4, "sisdr": -5.0}}, "fraction": 0.97,
           "curves": {"pc": [point(2, 1.5), point(60, 2.345)], "dpm2m": [point(4, 2.2), point(16, 2.31)]},
           "reference": {"sampler": "pc", "nfe": 60, "pesq_wb": 2.345},
           "smallest_nfe": {"pc": 60, "dpm2m": 16}, "smallest_nfe_any": {"sampler": "dpm2m", "nfe": 16},
           "budget": {"model_dir": "exp/a", "max_epoch": 5, "steps": 100, "batch_size": 6, "segment_seconds": 1.0}}
    rtf = {"command": "avdm-bench rtf", "seconds": 3.0, "entries": [
        {"model": "train_cond_lite", "device": "cpu", "threads": 2, "parameters": 2.1e6,
         "configs": [{"name": "default", "sampler": "dpm2m", "nfe": 8, "rtf": 0.321}]}],
        "target_entry": {"model": "train_cond_lite", "rtf": 0.321, "nfe": 8}, "ratios": []}
    visual = {"command": "avdm-bench visual", "budget": {"equal": True}, "enhance": {"by_snr": {"-5": {
        "av": {"pesq_wb": 1.456, "estoi": 0.61, "n": 4}, "ao": {"pesq_wb": 1.4, "estoi": 0.5},
        "noisy": {"pesq_wb": 1.1, "estoi": 0.4}, "delta": {"pesq_wb": 0.056, "estoi": 0.11}}},
        "talker": {"0": {"av": {"pesq_wb": 1.3, "estoi": 0.6}, "ao": {"pesq_wb": 1.2, "estoi": 0.45},
                         "noisy": {"pesq_wb": 1.1, "estoi": 0.5}, "delta": {"pesq_wb": 0.1, "estoi": 0.15},
                         "other_lips": {"estoi": 0.58}, "lips_gap": {"estoi": 0.02}}}},
        "lip_to_speech": {"data_dir": "dump/raw/test", "n": 4, "shift": 1, "true_lips": {"estoi": 0.3},
                          "other_lips": {"estoi": 0.1}, "estoi_gap": 0.2}}
    return {"nfe": nfe, "rtf": rtf, "visual": visual}


def test_summary_shows_values_and_marks_missed_targets(tmp_path):
    from avdm.bench import summary
    from avdm.bench.record import write_json

    for name, rec in fixture_records().items():
        write_json(tmp_path, name, rec)
    text = summary.write(tmp_path).read_text()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert "16 (dpm2m)" in rows["smallest NFE reaching 97% of the pc 60-NFE PESQ <= 8"]
    assert rows["smallest NFE reaching 97% of the pc 60-NFE PESQ <= 8"].endswith("**missed** |")
    assert rows["lite default at its default NFE: RTF <= 0.5 on the CPU"].endswith("| 0.321 | met |")
    assert "+0.056 | **missed**" in rows["AV - audio-only at -5 dB: PESQ >= +0.15"]
    assert rows["AV - audio-only at -5 dB: ESTOI >= +0.05"].endswith("met |")
    assert rows["lip-to-speech, true lips - other lips: ESTOI >= +0.15"].endswith("| +0.200 | met |")
    assert rows["competing talker 0 dB: AV - audio-only ESTOI >= +0.1"].endswith("| +0.150 | met |")
    assert "+0.020 | **missed**" in rows["competing talker 0 dB: true - other lips (same speaker) ESTOI >= +0.05"]
    assert rows["avdm inference time <= 0.2 x the peer's"].endswith("not measured |")
    for value in ("2.345", "2.310", "1.456", "avdm-bench nfe --cond_model exp/a"):
        assert value in text
    assert "## peer: not measured (no peer.json)" in text
    assert "| exp/a | 100 | 6 |" in text  # the training budget is stated


# ---------------------------------------------------------------------------------------- CLI
def run_cli(argv, cwd, monkeypatch):
    from avdm.bin.bench import main

    monkeypatch.chdir(cwd)
    return main(argv)


def test_help_lists_every_benchmark(capsys):
    from avdm.bin.bench import main

    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name in ("nfe", "rtf", "visual", "peer", "throughput", "train_speed", "summary", "all"):
        assert name in out


def finite(v):
    return isinstance(v, (int, float)) and math.isfinite(v)


def test_nfe_end_to_end_writes_json(recipe, monkeypatch):
    rc = run_cli(["nfe", "--cond_model", "exp/cond", "--data_dir", "dump/test_snr-5_x,dump/test_snr0_x", "--samplers",
                  "pc,dpm2m", "--nfe_list", "1,2", "--threads", "1", "--out", "bench"], recipe, monkeypatch)
    assert rc == 0
    rec = json.loads((recipe / "bench" / "nfe.json").read_text())
    for key in ("command", "machine", "budget", "noisy", "curves", "reference", "smallest_nfe", "smallest_nfe_any"):
        assert key in rec, key
    assert rec["n_utts"] == {"test_snr-5_x": 2, "test_snr0_x": 2}
    assert [p["nfe"] for p in rec["curves"]["pc"]] == [1, 2] and [p["nfe"] for p in rec["curves"]["dpm2m"]] == [1, 2]
    assert rec["reference"]["nfe"] == 60  # measured although the sweep stopped at 2
    for pts in rec["curves"].values():
        for p in pts:
            assert all(finite(p["all"][m]) for m in ("pesq_wb", "estoi", "sisdr", "rtf")), p
            assert p["all"]["n"] == 4 and set(p["per_set"]) == {"test_snr-5_x", "test_snr0_x"}
    assert finite(rec["reference"]["pesq_wb"]) and set(rec["smallest_nfe"]) == {"pc", "dpm2m"}


def test_rtf_and_visual_end_to_end(recipe, monkeypatch):
    common = ["--threads", "1", "--out", "bench", "--cond_model", "exp/cond", "--cond_ao_model", "exp/cond_ao"]
    rc = run_cli(["rtf", "--rtf_models", "cond.yaml,exp/cond_ao", "--rtf_seconds", "0.4", "--repeat", "1",
                  "--rtf_nfe", "1", "--samplers", "em,ode_heun", "--no_gpu"] + common, recipe, monkeypatch)
    assert rc == 0
    rec = json.loads((recipe / "bench" / "rtf.json").read_text())
    assert [(e["model"], e["trained"]) for e in rec["entries"]] == [("cond", False), ("cond_ao", True)]
    assert [c["name"] for c in rec["entries"][0]["configs"]] == ["default", "em@1", "ode_heun@1", "pc@60 (SGMSE+)"]
    assert [c["nfe"] for c in rec["entries"][0]["configs"]] == [2, 1, 1, 60]
    assert rec["target_entry"]["model"] == "cond" and finite(rec["target_entry"]["rtf"])
    rc = run_cli(["visual", "--data_dir", "dump/test_snr-5_x,dump/test_snr0_x", "--prior_model", "exp/prior",
                  "--generate_data_dir", "dump/test", "--sweep_data_dir", "dump/test", "--guidance_list", "0,2"]
                 + common, recipe, monkeypatch)
    assert rc == 0
    rec = json.loads((recipe / "bench" / "visual.json").read_text())
    assert sorted(rec["enhance"]["by_snr"]) == ["-5", "0"] and rec["budget"]["equal"]
    assert finite(rec["enhance"]["by_snr"]["-5"]["delta"]["estoi"]) and finite(rec["lip_to_speech"]["estoi_gap"])
    assert [r["guidance"] for r in rec["guidance_sweep"]["results"]] == [0.0, 2.0]
    assert run_cli(["summary", "--out", "bench"], recipe, monkeypatch) == 0
    assert "## 3. Does the lip video help?" in (recipe / "bench" / "summary.md").read_text()


def test_missing_inputs_fail_with_a_clear_message(recipe, monkeypatch, capsys):
    assert run_cli(["nfe", "--data_dir", "dump/test", "--out", "bench"], recipe, monkeypatch) == 1
    assert "ERROR: nfe: --cond_model (a conditional model dir) is required" in capsys.readouterr().err
    assert run_cli(["nfe", "--cond_model", "exp/nothing", "--data_dir", "dump/test", "--out", "bench"],
                   recipe, monkeypatch) == 1
    assert "exp/nothing: no such model" in capsys.readouterr().err
    assert run_cli(["visual", "--out", "bench"], recipe, monkeypatch) == 1
    assert "visual: nothing to measure" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------- peer
def test_peer_noisy_copy_is_deterministic(tmp_path):
    from avdm.bench.peer_data import write_noisy_copy
    from avdm.fileio import read_kv
    from avdm.scoring import load_signal

    src = make_dump(tmp_path / "train", n=3)
    noise = tmp_path / "noise"
    noise.mkdir()
    save_wav(noise / "n1.flac", 0.1 * np.random.default_rng(3).standard_normal(20000))
    save_wav(noise / "n2.flac", 0.1 * np.sin(np.arange(20000) * 0.3))
    (noise / "wav.scp").write_text(f"n1 {noise}/n1.flac\nn2 {noise}/n2.flac\n")
    a = write_noisy_copy(src, noise / "wav.scp", tmp_path / "a", (-5, 10), seed=0)
    b = write_noisy_copy(src, noise / "wav.scp", tmp_path / "b", (-5, 10), seed=0)
    assert read_kv(a / "utt2snr") == read_kv(b / "utt2snr") and len(read_kv(a / "utt2snr")) == 3
    assert all(-5 <= float(v) <= 10 for v in read_kv(a / "utt2snr").values())
    for utt in read_kv(a / "wav.scp"):
        assert np.array_equal(load_signal(read_kv(a / "noisy.scp")[utt]), load_signal(read_kv(b / "noisy.scp")[utt]))
    other = write_noisy_copy(src, noise / "wav.scp", tmp_path / "c", (-5, 10), seed=1)
    assert read_kv(other / "utt2snr") != read_kv(a / "utt2snr")


def test_peer_budget_follows_the_avdm_model():
    from avdm.bench.peer_sgmse import budget_overrides

    args = budget_overrides({**TINY, "grad_clip": 5.0})
    pairs = dict(zip(args[::2], args[1::2]))
    assert pairs["--max_epoch"] == "1" and pairs["--batch_size"] == "2" and pairs["--optim_conf"] == "lr=0.001"
    assert pairs["--preprocessor_conf"] == "speech_segment=16000" and pairs["--grad_clip"] == "5.0"
    with pytest.raises(ValueError, match="whole seconds"):
        budget_overrides({"preprocessor_conf": {"segment_frames": 10}})


def test_peer_wall_clock_budget(tmp_path):
    """avdm's training seconds (model epochs + the front-end it loads) set the peer's step count."""
    from avdm.bench.peer_budget import avdm_seconds, steps_in

    exp, front = tmp_path / "exp", tmp_path / "front"
    exp.mkdir()
    front.mkdir()
    (exp / "train.log").write_text(
        "1epoch results: [train] loss=1.2, train_time=0.500, time=12.5 seconds, total_count=10, "
        "[valid] loss=1.1, time=30 seconds, total_count=2\n"
        "2epoch results: [train] loss=1.0, train_time=0.250, time=7.5 seconds, total_count=20\n")
    (front / "probe.json").write_text(json.dumps({"train_seconds": 40.0}))
    conf = {"visual_encoder_conf": {"pretrained": str(front / "frontend.pth")}}
    got = avdm_seconds(exp, conf)
    assert got["model_steps_seconds"] == pytest.approx(20.0) and got["frontend_seconds"] == 40.0
    assert got["seconds"] == pytest.approx(60.0)  # validation (30 s) not counted
    assert avdm_seconds(exp, {})["seconds"] == pytest.approx(20.0)  # audio-only: no front-end
    assert steps_in(60.0, 7.0) == 8 and steps_in(60.0, 100.0) == 1
    (front / "probe.json").write_text(json.dumps({"train_loss": 0.3}))
    with pytest.raises(ValueError, match="probe.json: no train_seconds"):
        avdm_seconds(exp, conf)
    (exp / "train.log").write_text("nothing logged yet\n")
    with pytest.raises(ValueError, match="train.log: no epoch results"):
        avdm_seconds(exp, {})


def test_peer_step_is_timed_at_the_requested_precision(tmp_path):
    """The calibration runs real training steps (the weights change) and wraps the score network."""
    from espnet2.tasks.enh import EnhancementTask

    from avdm.bench.peer_budget import measure_step_seconds

    conf = yaml.safe_load((ROOT / "conf" / "bench" / "peer_sgmse.yaml").read_text())
    conf["diffusion_model_conf"]["score_model_conf"].update(nf=8, ch_mult=[1, 2])
    (tmp_path / "peer.yaml").write_text(yaml.safe_dump(conf))
    model = EnhancementTask.build_model(EnhancementTask.get_parser().parse_args(["--config", str(tmp_path / "peer.yaml")]))
    before = [p.detach().clone() for p in model.parameters()]
    seconds = measure_step_seconds(model, 2, 4000, "bf16", steps=1)
    assert seconds > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    x = torch.randn(1, 2, 256, 16, dtype=torch.complex64)
    out = model.diffusion.dnn(x, torch.full((1,), 0.5))
    assert out.dtype == torch.complex64  # back to full precision after the bfloat16 network


def test_espnet_main_takes_out_the_precision_option():
    from avdm.bench.espnet_enh_main import pop_option

    argv = ["--config", "a.yaml", "--avdm_precision", "bf16", "--ngpu", "0"]
    assert pop_option(argv, "--avdm_precision", "fp32") == "bf16"
    assert argv == ["--config", "a.yaml", "--ngpu", "0"]
    assert pop_option(argv, "--avdm_precision", "fp32") == "fp32"


def test_peer_without_sgmse_is_a_clear_error(recipe, monkeypatch, capsys):
    from avdm.bench import peer_sgmse

    why = "espnet X: EnhancementTask has no 'diffusion_model: sgmse'"
    monkeypatch.setattr(peer_sgmse, "peer_unavailable", lambda: why)
    assert run_cli(["peer", "--cond_model", "exp/cond", "--data_dir", "dump/test", "--out", "bench"],
                   recipe, monkeypatch) == 1
    assert "peer: espnet X: EnhancementTask has no 'diffusion_model: sgmse'" in capsys.readouterr().err


def write_untrained_peer(config, exp):
    """An espnet2 EnhancementTask experiment dir holding an untrained SGMSE+ of ``config``."""
    from espnet2.tasks.enh import EnhancementTask
    from espnet2.utils.yaml_no_alias_safe_dump import yaml_no_alias_safe_dump

    exp.mkdir(parents=True)
    args = EnhancementTask.get_parser().parse_args(["--config", str(config)])
    with open(exp / "config.yaml", "w") as f:
        yaml_no_alias_safe_dump(vars(args), f, indent=4, sort_keys=False)
    torch.save(EnhancementTask.build_model(args).state_dict(), exp / "1epoch.pth")


def test_peer_runs_side_by_side(recipe, monkeypatch):
    """espnet2's SGMSE+ (tiny, untrained; training is the subcommand's first step, skipped here)
    enhances the same utterances as avdm in the same run: scores, NFE counted, time ratio."""
    from avdm.bench.peer_sgmse import peer_unavailable

    assert peer_unavailable() is None  # espnet 202511 has diffusion_model: sgmse
    conf = yaml.safe_load((ROOT / "conf" / "bench" / "peer_sgmse.yaml").read_text())
    conf["diffusion_model_conf"]["score_model_conf"].update(nf=8, ch_mult=[1, 2])
    (recipe / "peer_tiny.yaml").write_text(yaml.safe_dump(conf))
    write_untrained_peer(recipe / "peer_tiny.yaml", recipe / "exp" / "peer")
    rc = run_cli(["peer", "--cond_model", "exp/cond", "--data_dir", "dump/test_snr-5_x", "--peer_exp", "exp/peer",
                  "--peer_skip_train", "--peer_steps", "2", "--threads", "1", "--out", "bench"], recipe, monkeypatch)
    assert rc == 0
    rec = json.loads((recipe / "bench" / "peer.json").read_text())
    assert rec["results"]["peer"]["nfe"] == 4 and rec["results"]["avdm"]["nfe"] == 2  # PC: 2 steps x 2
    for k in ("avdm", "peer", "noisy"):
        assert all(finite(rec["results"][k][m]) for m in ("pesq_wb", "estoi", "sisdr")), k
    assert finite(rec["time_ratio"]) and rec["time_ratio"] > 0 and rec["time_ratio_utts"] == 2
    assert rec["peer"]["sampler"]["N"] == 2 and rec["peer"]["parameters"] > 0
    d = rec["paired"]["test_snr-5_x"]["estoi"]  # avdm - peer over the same utterances, with its interval
    assert d["n"] == 2 and finite(d["ci95"])
    assert d["diff"] == pytest.approx(rec["per_set"]["avdm"]["test_snr-5_x"]["estoi"]
                                      - rec["per_set"]["peer"]["test_snr-5_x"]["estoi"])
    cache = json.loads((recipe / "bench" / "peer_utts" / "test_snr-5_x.json").read_text())
    assert set(cache["per_utt"]) == {"s1_u0", "s1_u1"} and cache["key"]["sampler"]["N"] == 2


def test_peer_scoring_resumes_from_its_per_utterance_file(recipe, monkeypatch):
    """A rerun with the same peer reuses the scores kept per utterance (no decoding: the peer would
    fail); another sampler starts over."""
    from avdm.bench import peer_sgmse

    argv = ["peer", "--cond_model", "exp/cond", "--data_dir", "dump/test_snr-5_x", "--peer_exp", "exp/peer",
            "--peer_skip_train", "--peer_steps", "2", "--threads", "1", "--out", "bench"]
    if not (recipe / "bench" / "peer_utts" / "test_snr-5_x.json").is_file():
        assert run_cli(argv, recipe, monkeypatch) == 0
    first = json.loads((recipe / "bench" / "peer.json").read_text())
    calls = []
    real = peer_sgmse.PeerEnhancer.__call__

    def counting(self, noisy, seed=0):
        calls.append(seed)
        return real(self, noisy, seed)

    monkeypatch.setattr(peer_sgmse.PeerEnhancer, "__call__", counting)
    assert run_cli(argv, recipe, monkeypatch) == 0
    assert len(calls) == 1  # only the untimed warm-up call
    again = json.loads((recipe / "bench" / "peer.json").read_text())
    assert again["per_set"]["peer"] == first["per_set"]["peer"] and again["time_ratio"] is None
    assert run_cli(argv[:-6] + ["--peer_steps", "1", "--threads", "1", "--out", "bench"], recipe, monkeypatch) == 0
    assert len(calls) == 1 + 1 + 2  # warm-up, then both utterances decoded again with the new sampler


def test_throughput_dumping_and_training_speed(recipe, monkeypatch):
    argv = ["throughput", "--lip_videos", "0", "--dump_data_dir", "dump/test_snr-5_x", "--dump_lip_dir",
            "dump/test_snr-5_x", "--cond_model", "exp/cond", "--threads", "1", "--out", "bench"]
    rc = run_cli(argv, recipe, monkeypatch)
    assert rc == 0
    rec = json.loads((recipe / "bench" / "throughput.json").read_text())
    assert rec["lip"] == {"skipped": "--lip_videos 0"}
    assert rec["dump"]["utts"] == 2 and rec["dump"]["utts_per_s"] > 0
    assert rec["train"]["cond"]["steps"] == 1
