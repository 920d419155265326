"""avdm.bench.seed_spread: two systems compared over training seeds, from fixture score files."""
import json
import math
import subprocess
from pathlib import Path

import pytest

from avdm.bench.seed_spread import METRICS, main, spread, to_markdown
from avdm.data.condition import write_condition

KEYS = ["dev_snr-5_heldout__u1", "dev_snr-5_heldout__u2", "dev_snr5_seen__u1", "dev_snr5_seen__u2"]


def _dumps(root):
    """The dumps of the condition sets of KEYS: their conditions are read there."""
    for name, snr, kind in (("dev_snr-5_heldout", -5, "heldout"), ("dev_snr5_seen", 5, "seen")):
        (root / "dump" / name).mkdir(parents=True)
        write_condition(root / "dump" / name, "dev", snr, kind)
    return root / "dump"


def _scored(root, name, values):
    """A scored run: scoring/utt2<metric> for every metric, `values` (one per key) for all of them."""
    d = root / name / "scoring"
    d.mkdir(parents=True)
    for m in METRICS:
        (d / f"utt2{m}").write_text("".join(f"{k} {v:.4f}\n" for k, v in zip(KEYS, values)))
    return root / name


def test_per_seed_differences_means_and_snr_groups(tmp_path):
    a = [_scored(tmp_path, "a0", [0.5, 0.7, 0.8, 0.6]), _scored(tmp_path, "a1", [0.4, 0.4, 0.6, 0.6])]
    b = [_scored(tmp_path, "b0", [0.4, 0.6, 0.7, 0.5]), _scored(tmp_path, "b1", [0.5, 0.5, 0.7, 0.7])]
    noisy = _scored(tmp_path, "noisy", [0.3, 0.3, 0.5, 0.5])
    res = spread({"AV": a, "AO": b}, noisy, _dumps(tmp_path))
    e = res["metrics"]["estoi"]
    assert res["seeds"] == 2 and res["n_utts"] == 4
    assert e["per_seed"][0]["AV"] == pytest.approx(0.65) and e["per_seed"][0]["AO"] == pytest.approx(0.55)
    assert e["per_seed"][0]["diff"] == pytest.approx(0.1)
    assert e["per_seed"][0]["diff_ci95"] == pytest.approx(0.0, abs=1e-9)  # the same +0.1 on every utterance
    assert e["per_seed"][1]["diff"] == pytest.approx(-0.1)
    assert e["mean_diff"] == pytest.approx(0.0, abs=1e-12)  # seeds that disagree cancel
    assert e["diff_range"] == pytest.approx([-0.1, 0.1])
    assert e["mean_AV"] == pytest.approx(0.575) and e["noisy"] == pytest.approx(0.4)
    # per condition: the mean over seeds of each seed's mean over that condition's utterances, and
    # each seed's paired difference there
    low, high = e["by_condition"]["-5 heldout"], e["by_condition"]["5 seen"]
    assert {k: low[k] for k in ("AV", "AO", "noisy")} == pytest.approx({"AV": 0.5, "AO": 0.5, "noisy": 0.3})
    assert {k: high[k] for k in ("AV", "AO", "noisy")} == pytest.approx({"AV": 0.65, "AO": 0.65, "noisy": 0.5})
    assert low["diff_per_seed"] == pytest.approx([0.1, -0.1]) and low["mean_diff"] == pytest.approx(0.0, abs=1e-12)
    assert low["n_utts"] == 2
    md = to_markdown(res)
    assert "| 0 | 0.65 / 0.650 / 0.650 / 0.7 | 0.55 / 0.550 / 0.550 / 0.6 | +0.100 +- 0.000 |" in md
    assert "| mean |" in md and "+0.000 |" in md
    assert "| -5 heldout | 0.300 | 0.500 | 0.500 | +0.100 +- 0.000, -0.100 +- 0.000 | +0.000 |" in md


def test_a_score_that_is_not_a_number_shows_as_a_dash_not_nan(tmp_path):
    """A NaN score makes the run's mean NaN: its cells read "-" as in every avdm table; the paired
    difference leaves the NaN utterance out (``metrics.mean_ci``)."""
    a = [_scored(tmp_path, "a0", [0.5, math.nan, 0.8, 0.6])]
    b = [_scored(tmp_path, "b0", [0.4, 0.6, 0.7, 0.5])]
    md = to_markdown(spread({"AV": a, "AO": b}, dump_dir=_dumps(tmp_path)))
    assert "nan" not in md
    assert "| 0 | - / - / - / - | 0.55 / 0.550 / 0.550 / 0.6 | +0.100 +- 0.000 |" in md
    assert "| -5 heldout | - | 0.500 | +0.100 | +0.100 |" in md  # one utterance left: no interval


def test_runs_that_scored_different_utterances_are_an_error(tmp_path):
    a = [_scored(tmp_path, "a0", [0.5] * 4)]
    b = _scored(tmp_path, "b0", [0.4] * 4)
    lines = (b / "scoring" / "utt2estoi").read_text().splitlines()
    (b / "scoring" / "utt2estoi").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match="AO seed 0 and AV seed 0 scored different utterances, e.g. dev_snr5_seen__u2"):
        spread({"AV": a, "AO": [b]}, dump_dir=_dumps(tmp_path))


def test_unequal_seed_counts_and_three_systems_are_refused(tmp_path):
    a = [_scored(tmp_path, f"a{i}", [0.5] * 4) for i in range(2)]
    b = [_scored(tmp_path, "b0", [0.4] * 4)]
    with pytest.raises(ValueError, match="same number of seeds"):
        spread({"AV": a, "AO": b})
    with pytest.raises(ValueError, match="exactly two systems"):
        spread({"AV": a, "AO": a, "X": a})


def test_cli_writes_json_and_names_a_missing_score_dir(tmp_path, capsys):
    _scored(tmp_path, "a0", [0.5, 0.6, 0.7, 0.8])
    _scored(tmp_path, "b0", [0.5, 0.5, 0.5, 0.5])
    out = tmp_path / "seeds.json"
    assert main(["--system", f"AV={tmp_path / 'a0'}", "--system", f"AO={tmp_path / 'b0'}", "--out", str(out),
                 "--dump_dir", str(_dumps(tmp_path))]) == 0
    assert json.loads(out.read_text())["metrics"]["pesq_wb"]["per_seed"][0]["diff"] == pytest.approx(0.15)
    assert "| AV - AO ESTOI" in capsys.readouterr().out.replace("| seed | AV | AO ", "")
    assert main(["--system", f"AV={tmp_path / 'a0'}", "--system", f"AO={tmp_path / 'nope'}"]) == 1
    assert f"{tmp_path / 'nope' / 'scoring' / 'utt2pesq_wb'} not found" in capsys.readouterr().err


def _seeds_dev(cwd, *args):
    script = Path(__file__).resolve().parents[1] / "tools" / "bench" / "seeds_dev.sh"
    return subprocess.run(["bash", str(script), *args], cwd=cwd, capture_output=True, text=True)


def test_seeds_dev_refuses_a_missing_config_or_one_without_a_seed_before_training(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "decode_enhance.yaml").write_text("sampler: dpm2m\n")
    (tmp_path / "a.yaml").write_text("seed: 0\nbatch_size: 6\n")
    (tmp_path / "b.yaml").write_text("batch_size: 6\n")  # no top-level seed
    r = _seeds_dev(tmp_path)
    assert r.returncode == 2 and "seeds_dev.sh <config_a.yaml> <config_b.yaml> <out_dir>" in r.stderr
    r = _seeds_dev(tmp_path, "a.yaml", "nope.yaml", "out")
    assert r.returncode == 1 and "nope.yaml not found" in r.stderr
    r = _seeds_dev(tmp_path, "a.yaml", "b.yaml", "out")
    assert r.returncode == 1 and "b.yaml has no top-level 'seed:' line to vary" in r.stderr
    r = _seeds_dev(tmp_path, "a.yaml", "a.yaml", "out", "--bogus", "1")
    assert r.returncode == 2 and "unknown option --bogus" in r.stderr
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written
