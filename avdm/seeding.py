"""Per-utterance seeds: a run's random draws for one utterance depend only on its name and the run
seed, never on the order or the split of the utterances (so ``--nj`` does not change a result).

One hash of the utterance name, :func:`utt_hash`, composed with the run seed in two ways:

- :func:`utt_seed`: an int seed (below 2^31) for a torch generator: the decoding noise of stage 4,
  the CLIs and the benchmark;
- :func:`utt_rng`: a numpy generator seeded by the hash alone (the fixed crops and mixtures of the
  validation set in :mod:`avdm.preprocess`) or by ``[seed, hash]`` (the benchmark's noisy copies).

The compositions differ because each has seeded stored results; they are kept as they were.
"""
from __future__ import annotations

import hashlib
from typing import Optional

import numpy as np

SEED_LIMIT = 2 ** 31  # torch and numpy accept every seed below this


def utt_hash(utt: str) -> int:
    """The first 32 bits of the md5 digest of the utterance name (UTF-8), as an int."""
    return int(hashlib.md5(utt.encode()).hexdigest()[:8], 16)


def utt_seed(seed: int, utt: str) -> int:
    """The sampling seed of ``utt`` in a run seeded with ``seed``: ``(seed * 7919 + hash) mod 2^31``."""
    return (seed * 7919 + utt_hash(utt)) % SEED_LIMIT


def utt_rng(utt: str, seed: Optional[int] = None) -> np.random.Generator:
    """The numpy generator of ``utt``: seeded by its hash alone when ``seed`` is None, else by
    the pair ``[seed, hash]``."""
    return np.random.default_rng(utt_hash(utt) if seed is None else [seed, utt_hash(utt)])
