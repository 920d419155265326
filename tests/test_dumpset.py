"""avdm.data.dumpset: the one reader of a stage-2 dump dir."""
import kaldiio
import numpy as np
import pytest

from avdm import SAMPLES_PER_FRAME
from avdm.data.dumpset import DumpSet, load_set


@pytest.fixture
def ark_dump(tmp_path):
    d = tmp_path / "dump" / "test"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    with kaldiio.WriteHelper(f"ark,scp:{d}/lip.ark,{d}/lip.scp", write_function="numpy") as w:
        w("u1", rng.integers(0, 255, (3, 8, 8), dtype=np.uint8))
    with kaldiio.WriteHelper(f"ark,scp:{d}/wav.ark,{d}/wav.scp", write_function="numpy") as w:
        w("u1", rng.standard_normal(3 * SAMPLES_PER_FRAME + 7).astype(np.float32))
    (d / "lip_shape").write_text("u1 3,8,8\n")
    (d / "audio_format").write_text("ark\n")
    return d


def test_audio_cut_to_whole_frames_and_espnet_types_from_the_audio_format(ark_dump):
    ds = DumpSet(ark_dump)
    assert ds.n_frames("u1") == 3 and ds.audio("wav.scp", "u1", 3).shape == (3 * SAMPLES_PER_FRAME,)
    assert ds.lips("u1").dtype == np.uint8
    assert ds.espnet_args("train", [("wav.scp", "speech", None), ("lip.scp", "lip", "kaldi_ark")]) == [
        "--train_data_path_and_name_and_type", f"{ark_dump}/wav.scp,speech,kaldi_ark",
        "--train_data_path_and_name_and_type", f"{ark_dump}/lip.scp,lip,kaldi_ark"]
    (ark_dump / "audio_format").unlink()  # dumps without the file are flac
    assert DumpSet(ark_dump).espnet_args("valid", [("wav.scp", "speech", None)])[1].endswith(",speech,sound")


def test_a_pipe_entry_of_the_lips_is_refused_not_run(ark_dump, tmp_path):
    marker = tmp_path / "ran"
    (ark_dump / "lip.scp").write_text(f"u1 touch {marker} |\n")
    with pytest.raises(ValueError, match="refusing the pipe entry"):
        load_set(ark_dump, noisy=False)
    assert not marker.exists()
