"""Corpus side of avdm: the mini-GRID generator, the noise bank, mixing, Kaldi data dirs."""
from avdm.data import noise_bank  # noqa: F401  (registers the noise types)
