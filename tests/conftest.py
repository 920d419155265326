import logging
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
GRID_SAMPLES = SHARED / "data" / "grid_samples"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
logging.getLogger("nltk").setLevel(logging.ERROR)


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@pytest.fixture
def grid_samples() -> Path:
    """The optional real GRID clips of ../shared (skip when absent)."""
    clips = sorted(GRID_SAMPLES.glob("**/*.mpg")) if GRID_SAMPLES.is_dir() else []
    if not clips:
        pytest.skip("real GRID clips not available in ../shared/data/grid_samples")
    return GRID_SAMPLES


@pytest.fixture(autouse=True)
def _seed():
    import random

    import numpy as np

    random.seed(0)
    np.random.seed(0)
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture(scope="session")
def minigrid(tmp_path_factory):
    """A small generated corpus shared by the data tests: 3 speakers x 2 utterances."""
    from avdm.data.minigrid import generate

    out = tmp_path_factory.mktemp("minigrid") / "grid"
    generate(out, num_speakers=3, utts_per_speaker=2, seed=7, nj=2)
    return out
