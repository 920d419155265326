"""avdm-bench train_speed on a tiny config: the variants, the table, the JSON and the closing
``speedup <ratio>`` line (no timing is asserted)."""
import json
import re

import pytest
import yaml

from avdm.bench.train_speed import parse_variant, variants_of

TINY = {
    "sde": "ouve", "score_model": "ncsnpp_lite",
    "score_model_conf": {"base_channels": 8, "channel_mults": [1, 2]},
    "visual_encoder": "light_cnn", "visual_encoder_conf": {"channels": 4, "output_dim": 8},
    "model_conf": {"mode": "conditional", "ema_decay": 0.99, "precision": "bf16"},
    "preprocessor_conf": {"segment_frames": 5, "lip_crop": 88},
    "seed": 0, "batch_size": 2, "optim": "adam", "optim_conf": {"lr": 0.001}, "grad_clip": 5.0,
}
DECODE = {"sampler": "dpm2m", "sampler_conf": {"steps": 1, "t_eps": 0.03}, "guidance": 1.0}


@pytest.fixture
def recipe(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    (tmp_path / "conf" / "decode_enhance.yaml").write_text(yaml.safe_dump(DECODE))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(argv):
    from avdm.bin.bench import main

    return main(["train_speed", "--config", "conf/tiny.yaml", "--threads", "1", "--no_gpu", "--out", "bench"] + argv)


def test_variants_are_parsed_with_config_and_fp32_first():
    vs = variants_of("bf16,fp32+channels_last, bf16", "bf16", False)
    assert [v["name"] for v in vs] == ["config", "fp32", "bf16", "fp32+channels_last"]
    assert vs[0]["precision"] == "bf16" and vs[1]["precision"] == "fp32"
    assert vs[3]["channels_last"] and not vs[3]["compile"]
    assert parse_variant("bf16+compile+amp", "fp32", False) == {
        "name": "bf16+compile+amp", "precision": "bf16", "channels_last": False, "compile": True, "amp": True}
    with pytest.raises(ValueError, match="unknown option 'fp8' in variant 'fp8'; known: fp32, bf16, channels_last"):
        parse_variant("fp8", "fp32", False)


def test_train_speed_prints_a_table_and_ends_with_the_speedup(recipe, capsys):
    assert run(["--steps", "2", "--warmup_steps", "1", "--speed_variants", "bf16,channels_last",
                "--infer_seconds", "0.4", "--infer_repeat", "1"]) == 0
    out = capsys.readouterr().out.rstrip("\n").splitlines()
    assert re.fullmatch(r"speedup \d+\.\d\d", out[-1]), out[-1]
    rec = json.loads((recipe / "bench" / "train_speed.json").read_text())
    (entry,) = rec["entries"]
    assert entry["device"] == "cpu" and entry["threads"] == 1
    assert [t["name"] for t in entry["train"]] == ["config", "fp32", "bf16", "channels_last"]
    assert [t["precision"] for t in entry["train"]] == ["bf16", "fp32", "bf16", "fp32"]
    assert all(t["steps"] == 2 and len(t["step_times_s"]) == 2 and t["steps_per_s"] > 0 for t in entry["train"])
    assert entry["speedup"]["fp32"] == 1.0 and rec["speedup"] == entry["speedup"]["config"]
    assert out[-1] == f"speedup {rec['speedup']:.2f}"
    assert [r["name"] for r in entry["infer"]] == ["config", "fp32", "bf16", "channels_last"]
    assert all(r["nfe"] == 1 and r["rtf"] > 0 for r in entry["infer"])
    assert rec["job"] == "enhance" and rec["batch_size"] == 2 and rec["segment_seconds"] == 0.2
    table = "\n".join(out)
    for name in ("config", "fp32", "bf16", "channels_last"):
        assert re.search(rf"^  {name} ", table, re.M), name
    from avdm.bin.bench import main

    assert main(["summary", "--out", "bench"]) == 0
    summary = (recipe / "bench" / "summary.md").read_text()
    assert "## 6. Training speed per option" in summary and "| cpu | 1 | bf16 |" in summary
    assert f"| training steps/s, config over float32 on the CPU >= 1.6 (issue 26) | {rec['speedup']:.2f} |" in summary
    assert "| inference RTF of the default decode on the CPU <= 0.05 (issue 26) |" in summary


def test_train_speed_refuses_bad_settings_clearly(recipe, capsys):
    assert run(["--speed_variants", "fp8"]) == 1
    assert "train_speed: unknown option 'fp8'" in capsys.readouterr().err
    assert run(["--steps", "0"]) == 1
    assert "train_speed: --steps must be >= 1, got 0" in capsys.readouterr().err
    assert run(["--config", "conf/missing.yaml"]) == 1
    assert "conf/missing.yaml" in capsys.readouterr().err
