"""The training preprocessor's dynamic mixing: the target must be the speech the mixture holds."""
import numpy as np

from avdm import SAMPLES_PER_FRAME
from avdm.audio_io import save_wav
from avdm.preprocess import AVPreprocessor


def _clicks(path):
    noise = np.zeros(48000, dtype=np.float32)
    noise[::400] = 0.9  # loud peaks for little power: at low SNR the sum must be scaled not to clip
    save_wav(path, noise)
    return path


def test_mixed_training_target_is_the_speech_at_its_level_in_the_mixture(tmp_path):
    (tmp_path / "noise.scp").write_text(f"n1 {_clicks(tmp_path / 'n1.wav')}\n")
    pre = AVPreprocessor(train=True, segment_frames=10, lip_crop=8, flip_prob=0.0,
                         noise_scp=str(tmp_path / "noise.scp"), snr_range=(-5.0, -5.0))
    speech = (0.6 * np.sin(np.arange(20 * SAMPLES_PER_FRAME) / 5.0)).astype(np.float32)
    lip = np.zeros((20, 8, 8), dtype=np.uint8)
    gains = []
    for _ in range(5):
        out = pre("utt1", {"speech": speech, "lip": lip})
        x, y = out["speech"], out["speech_mix"]
        assert x.shape == y.shape == (10 * SAMPLES_PER_FRAME,) and x.dtype == np.float32
        assert np.abs(y).max() <= 0.99 + 1e-6
        # -5 dB of click noise against the target: the target is the speech inside y, whatever the gain
        noise = y - x
        assert abs(10 * np.log10(np.sum(x ** 2) / np.sum(noise ** 2)) + 5.0) < 0.1
        # and it is a scaled copy of the cropped input segment
        crops = [speech[k * SAMPLES_PER_FRAME:(k + 10) * SAMPLES_PER_FRAME] for k in range(11)]
        seg = max(crops, key=lambda c: float(x @ c) / float(np.linalg.norm(c)))
        gain = float(x @ seg / (seg @ seg))
        np.testing.assert_allclose(x, gain * seg, atol=1e-5)
        gains.append(gain)
    assert max(gains) < 0.5, gains  # the clicks forced the level down, and the target followed
