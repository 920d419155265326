"""Generated noise types with names, split into training types and held-out test types.

Each type is a function ``(n_samples, fs, rng) -> float32 array`` registered in
``avdm.registry.NOISE_TYPES``; ``TRAIN_TYPES`` and ``HELDOUT_TYPES`` split them so the test
conditions include noise the models never saw in training.
"""
from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Dict, List

import numpy as np

from avdm.registry import NOISE_TYPES

logger = logging.getLogger(__name__)

TRAIN_TYPES = ("white", "pink", "speech_shaped", "hum", "clicks", "chirps", "narrowband")
HELDOUT_TYPES = ("brown", "babble", "modulated")


def _normalise(x: np.ndarray) -> np.ndarray:
    x = x - x.mean()
    return (0.1 * x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)


LOWEST_AUDIBLE_HZ = 20.0


def _coloured(n: int, fs: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f^exponent from 20 Hz up, and none below.

    The cut matters for the SNR: carried down to the lowest FFT bin of a 12 s file (0.08 Hz), the
    1/f^2 spectrum put 99.6% of brown noise's power below 20 Hz (92% below 1 Hz), a slow drift
    nobody hears, so brown noise mixed "at -5 dB" left the speech almost untouched (noisy ESTOI
    0.98); pink noise had 45% of its power there.  Every recording chain removes it too.
    """
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / fs)
    audible = f >= LOWEST_AUDIBLE_HZ
    spec[~audible] = 0.0
    spec[audible] /= f[audible] ** (exponent / 2)
    return np.fft.irfft(spec, n)


@NOISE_TYPES.register("white")
def white(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Stationary white Gaussian noise."""
    return _normalise(rng.standard_normal(n))


@NOISE_TYPES.register("pink")
def pink(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """1/f noise."""
    return _normalise(_coloured(n, fs, rng, 1.0))


@NOISE_TYPES.register("brown")
def brown(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """1/f^2 (Brownian) noise, rumble-like (held out)."""
    return _normalise(_coloured(n, fs, rng, 2.0))


@NOISE_TYPES.register("speech_shaped")
def speech_shaped(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Noise with a long-term average speech spectrum (peak near 500 Hz, -6 dB/oct above)."""
    from scipy.signal import butter, lfilter  # imported here: scipy.signal costs seconds per process

    b, a = butter(2, [150 / (fs / 2), 800 / (fs / 2)], btype="band")
    x = lfilter(b, a, rng.standard_normal(n)) + 0.15 * _coloured(n, fs, rng, 1.0)
    return _normalise(x)


@NOISE_TYPES.register("hum")
def hum(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Mains hum: 50 or 60 Hz and harmonics with slow drift, plus a little hiss."""
    t = np.arange(n) / fs
    f0 = rng.choice([50.0, 60.0]) * rng.uniform(0.99, 1.01)
    x = sum(rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3))
            for k in range(1, 12))
    return _normalise(x + 0.02 * rng.standard_normal(n))


@NOISE_TYPES.register("clicks")
def clicks(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Impulsive clicks (keyboard-like decaying bursts) at random times over a faint floor."""
    x = 0.01 * rng.standard_normal(n)
    n_clicks = max(1, int(n / fs * rng.uniform(4, 12)))
    decay = np.exp(-np.arange(int(0.015 * fs)) / (0.002 * fs))
    for pos in rng.integers(0, max(1, n - len(decay)), size=n_clicks):
        x[pos:pos + len(decay)] += rng.uniform(0.3, 1.0) * rng.standard_normal(len(decay)) * decay
    return _normalise(x)


@NOISE_TYPES.register("chirps")
def chirps(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Tonal sweeps (alarms, sirens) between 400 Hz and 3 kHz."""
    t = np.arange(n) / fs
    period = rng.uniform(0.5, 2.0)
    lo, hi = rng.uniform(400, 900), rng.uniform(1200, 3000)
    freq = lo + (hi - lo) * (0.5 + 0.5 * np.sin(2 * np.pi * t / period))
    phase = 2 * np.pi * np.cumsum(freq) / fs
    return _normalise(np.sin(phase) + 0.3 * np.sin(2 * phase) + 0.05 * rng.standard_normal(n))


@NOISE_TYPES.register("narrowband")
def narrowband(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Band-limited noise in a random band (machinery, fans)."""
    from scipy.signal import butter, sosfilt

    centre = rng.uniform(300, 4000)
    sos = butter(4, [centre * 0.8 / (fs / 2), min(centre * 1.25, fs / 2 - 100) / (fs / 2)],
                 btype="band", output="sos")
    return _normalise(sosfilt(sos, rng.standard_normal(n)))


@NOISE_TYPES.register("modulated")
def modulated(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Amplitude-modulated pink noise (2-8 Hz envelope, speech-like fluctuation; held out)."""
    t = np.arange(n) / fs
    env = 0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(2, 8) * t + rng.uniform(0, 6.3))
    return _normalise(_coloured(n, fs, rng, 1.0) * env)


@NOISE_TYPES.register("babble")
def babble(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Babble: several espeak-ng talkers saying GRID-like sentences at once (held out).

    espeak-ng keeps state from one synthesis to the next inside a process (the same text and
    voice twice in a row give different samples; re-initialising the library does not reset it),
    so the talkers are synthesised in a fresh process: the result depends on ``rng`` alone.
    """
    import multiprocessing as mp

    seed = int(rng.integers(2 ** 31))
    with mp.get_context("spawn").Pool(processes=1) as pool:
        return pool.apply(_babble_in_this_process, (n, fs, seed))


def _babble_in_this_process(n: int, fs: int, seed: int) -> np.ndarray:
    from avdm.audio_io import resample
    from avdm.data.espeak import Espeak, Voice
    from avdm.data.grid_grammar import random_sentence, spoken_form

    tts = Espeak.get()
    prng = random.Random(seed)
    x = np.zeros(n)
    for _ in range(6):
        voice = Voice(f"en+{prng.choice(['m1', 'm3', 'f2', 'f4', 'm6'])}", prng.randint(20, 80),
                      prng.randint(30, 80), prng.randint(150, 200))
        talker = np.zeros(n)
        pos = prng.randint(0, fs // 2)
        while pos < n:
            u = tts.synthesize(spoken_form(random_sentence(prng)), voice)
            s = resample(u.audio, u.sample_rate, fs)
            s = s / (np.sqrt(np.mean(s ** 2)) + 1e-9)
            end = min(n, pos + len(s))
            talker[pos:end] += s[:end - pos]
            pos = end + prng.randint(0, fs // 5)
        x += talker
    return _normalise(x)


def noise_split(name: str) -> str:
    if name in TRAIN_TYPES:
        return "train"
    if name in HELDOUT_TYPES:
        return "heldout"
    raise ValueError(f"noise type '{name}' is in neither split; known: {', '.join(TRAIN_TYPES + HELDOUT_TYPES)}")


def write_noise_bank(out_dir: Path, fs: int = 16000, files_per_type: int = 3, seconds: float = 12.0,
                     seed: int = 0) -> Dict[str, List[Path]]:
    """Generate ``files_per_type`` files of every type under ``out_dir/<type>/``."""
    from avdm.audio_io import save_wav

    out: Dict[str, List[Path]] = {}
    for name in TRAIN_TYPES + HELDOUT_TYPES:
        fn = NOISE_TYPES.get(name)
        paths = []
        for k in range(files_per_type):
            path = Path(out_dir) / name / f"{name}_{k:02d}.wav"
            if not path.exists():
                rng = np.random.default_rng([seed, k, sum(map(ord, name))])
                x = fn(int(seconds * fs), fs, rng)
                save_wav(path, 0.5 * x / max(1e-9, float(np.abs(x).max())) if np.abs(x).max() > 1 else x, fs)
            paths.append(path)
        out[name] = paths
    return out
