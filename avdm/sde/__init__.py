"""Forward processes; importing this package registers them in ``avdm.registry.SDES``."""
from avdm.sde.abs_sde import AbsSDE, as_time, expand_like, noise_like  # noqa: F401
from avdm.sde import ouve, vp  # noqa: F401
