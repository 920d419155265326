"""Video side of avdm: decoding, landmark detectors (a registry) and lip ROI crops."""
from avdm.video import detectors  # noqa: F401  (registers the detectors)
from avdm.video.decode import VideoError, parse_stream_info, probe, read_frames  # noqa: F401
