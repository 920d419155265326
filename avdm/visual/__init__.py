"""Visual encoders; importing this package registers them in ``avdm.registry.VISUAL_ENCODERS``."""
from avdm.visual.abs_visual import AbsVisualEncoder  # noqa: F401
from avdm.visual import light_cnn, lip_envelope, none, resnet18_lip  # noqa: F401
