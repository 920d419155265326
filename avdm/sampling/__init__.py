"""Samplers; importing this package registers them in ``avdm.registry.SAMPLERS``.

The contract every sampler follows is in :mod:`avdm.sampling.base`."""
from avdm.sampling.base import CountingScore, Observation, Sampler  # noqa: F401
from avdm.sampling import posterior, samplers  # noqa: F401
