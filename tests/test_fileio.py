"""avdm.fileio: atomic writes keep the mode a plain open would give; dirs are replaced whole."""
import os

import numpy as np

from avdm.audio_io import save_wav
from avdm.fileio import atomic_open, replace_dir, staging_dir, write_kv


def test_atomic_writes_follow_the_umask_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_open(tmp_path / "a.txt") as f:
            f.write("x")
        write_kv(tmp_path / "wav.scp", {"u": "p"})
        save_wav(tmp_path / "x.wav", np.zeros(160, np.float32))
        os.umask(0o002)  # a lab sharing an experiment dir
        with atomic_open(tmp_path / "b.txt") as f:
            f.write("x")
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {"a.txt": 0o644, "wav.scp": 0o644, "x.wav": 0o644, "b.txt": 0o664}


def test_replace_dir_swaps_in_the_new_dir_and_drops_the_old(tmp_path):
    final = tmp_path / "res"
    final.mkdir()
    (final / "a").write_text("old")
    new = staging_dir(final)
    assert (final / "a").read_text() == "old"  # untouched while the replacement is built
    (new / "a").write_text("new")
    replace_dir(new, final)
    assert (final / "a").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]


def test_a_swap_killed_between_its_two_renames_is_undone(tmp_path):
    final = tmp_path / "res"
    final.mkdir()
    (final / "a").write_text("old")
    final.rename(tmp_path / ".res.old")  # killed after moving the old dir aside
    new = staging_dir(final)
    assert (final / "a").read_text() == "old"  # the earlier results are back
    (new / "a").write_text("new")
    replace_dir(new, final)
    assert (final / "a").read_text() == "new" and not (tmp_path / ".res.old").exists()
