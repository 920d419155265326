"""Diffusion scorers; importing this package registers them in ``avdm.registry.SCORE_MODELS``."""
from avdm.score.abs_score import AbsScoreModel  # noqa: F401
from avdm.score import frame_transformer, unet  # noqa: F401
