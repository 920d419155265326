"""Samplers; importing this package registers them in ``avdm.registry.SAMPLERS``."""
from avdm.sampling.base import AbsSampler, CountingScore  # noqa: F401
from avdm.sampling import posterior, samplers  # noqa: F401
