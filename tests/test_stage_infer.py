"""Stage 4 (avdm.bin.stage_infer): a bad utterance is skipped with its reason, and earlier
results are replaced only by complete new ones."""
import kaldiio
import numpy as np
import pytest
import yaml

from avdm.bin import stage_infer
from avdm.fileio import read_kv
from tests.test_cli_media import make_exp

N_FRAMES = 6


@pytest.fixture
def infer_setup(tmp_path):
    """A prior model, a dump dir of three utterances and a one-step generate config."""
    exp = make_exp(tmp_path / "exp" / "prior", "prior")
    dump = tmp_path / "dump" / "test"
    dump.mkdir(parents=True)
    rng = np.random.default_rng(0)
    with kaldiio.WriteHelper(f"ark,scp:{dump}/lip.ark,{dump}/lip.scp", write_function="numpy") as w:
        for utt in ("u1", "u2", "u3"):
            w(utt, rng.integers(0, 255, (N_FRAMES, 96, 96), dtype=np.uint8))
    (dump / "lip_shape").write_text("".join(f"{u} {N_FRAMES},96,96\n" for u in ("u1", "u2", "u3")))
    conf = tmp_path / "decode.yaml"
    conf.write_text(yaml.safe_dump({"sampler": "dpm2m", "sampler_conf": {"steps": 1}}))
    out = tmp_path / "exp" / "prior" / "generate_test"
    args = ["--job", "generate", "--model_dir", str(exp), "--data_dir", str(dump), "--out_dir", str(out),
            "--inference_config", str(conf), "--nj", "2"]
    return dump, out, args


def test_an_utterance_whose_ark_is_missing_is_skipped_with_the_reason(infer_setup):
    dump, out, args = infer_setup
    lines = (dump / "lip.scp").read_text().splitlines()
    lines[1] = "u2 " + str(dump / "gone.ark") + ":12"
    (dump / "lip.scp").write_text("\n".join(lines) + "\n")
    assert stage_infer.main(args) == 0
    assert sorted(read_kv(out / "wav.scp")) == ["u1", "u3"]
    reason = read_kv(out / "skipped")["u2"]
    assert "FileNotFoundError" in reason and "gone.ark" in reason
    for path in read_kv(out / "wav.scp").values():  # the list names the files where they are now
        assert path.startswith(str(out / "wav")) and (out / "wav" / path.rsplit("/", 1)[1]).is_file()


def test_earlier_results_stay_until_the_new_ones_are_complete(infer_setup):
    dump, out, args = infer_setup
    assert stage_infer.main(args) == 0
    before = {p.name: p.read_bytes() for p in (out / "wav").iterdir()}
    assert len(before) == 3
    # every utterance now fails: nothing to replace the finished results with
    (dump / "lip.ark").unlink()
    assert stage_infer.main(args) == 1
    assert {p.name: p.read_bytes() for p in (out / "wav").iterdir()} == before
    assert sorted(read_kv(out / "wav.scp")) == ["u1", "u2", "u3"]
    # a job that crashes (here: at loading corrupt weights) leaves them alone too
    exp = out.parent
    (exp / "valid.loss.best.pth").write_bytes(b"not a checkpoint")
    assert stage_infer.main(args) == 1
    assert sorted(read_kv(out / "wav.scp")) == ["u1", "u2", "u3"]


def test_a_pipe_entry_is_refused_not_run(infer_setup, tmp_path):
    dump, out, args = infer_setup
    marker = tmp_path / "ran"
    lines = (dump / "lip.scp").read_text().splitlines()
    lines[0] = f"u1 touch {marker} |"
    (dump / "lip.scp").write_text("\n".join(lines) + "\n")
    assert stage_infer.main(args) == 0
    assert not marker.exists()
    assert "refusing the pipe entry" in read_kv(out / "skipped")["u1"]
    assert sorted(read_kv(out / "wav.scp")) == ["u2", "u3"]
