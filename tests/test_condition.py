"""avdm.data.condition: the condition of a set is data that stage 0 writes, never its name."""
import pytest

from avdm.data.condition import Condition, condition_of, write_condition


def test_written_once_and_read_back(tmp_path):
    d = tmp_path / "whatever_name"  # the name says nothing
    d.mkdir()
    write_condition(d, "test", -2.5, "talker")
    assert (d / "condition").read_text() == "interferer talker\nsnr -2.5\n"
    assert (d / "base_set").read_text() == "test\n"
    assert condition_of(d) == Condition("test", -2.5, "talker")
    with pytest.raises(ValueError, match="unknown interferer 'music'"):
        write_condition(d, "test", 0, "music")


def test_clean_sets_old_noisy_sets_and_missing_dirs(tmp_path):
    clean = tmp_path / "test_snr0_seen"  # a condition-like name, but no noisy.scp: a clean set
    clean.mkdir()
    (clean / "wav.scp").write_text("u1 a.wav\n")
    assert condition_of(clean) is None
    (clean / "noisy.scp").write_text("u1 b.wav\n")  # a noisy set dumped before conditions were recorded
    with pytest.raises(ValueError, match=r"test_snr0_seen is a noisy set without a 'condition' file.*"
                                         r"rerun stages 0-2 \(./run.sh --stage 0 --stop_stage 2\)"):
        condition_of(clean)
    (clean / "condition").write_text("snr 0\n")
    (clean / "base_set").write_text("test\n")
    with pytest.raises(ValueError, match="unreadable condition \\(KeyError: 'interferer'\\): rerun stages 0-2"):
        condition_of(clean)
    with pytest.raises(FileNotFoundError, match="nope: no such set"):
        condition_of(tmp_path / "nope")
