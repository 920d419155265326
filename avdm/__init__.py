"""avdm: diffusion-based audio-visual speech modeling (lip-to-speech, supervised and unsupervised AVSE)."""
__version__ = "0.1.0"

SAMPLE_RATE = 16000
VIDEO_FPS = 25
SAMPLES_PER_FRAME = SAMPLE_RATE // VIDEO_FPS  # 640
