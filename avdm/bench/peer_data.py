"""A fixed noisy copy of a dumped set, for a peer that cannot mix noise on the fly as avdm does.

Every utterance gets one noise of the training noise bank at an SNR drawn uniformly from the
range avdm's conditional models train with, using avdm's own mixing (:func:`avdm.data.mixing.mix`)
and a generator seeded by the utterance name and ``seed``: the copy is the same on every run and
every machine.  The reference written next to the mixture is the speech ``mix`` returns (at
the level it has in the mixture).

Layout of ``out_dir``: ``wav.scp`` (reference), ``noisy.scp``, ``utt2num_samples``, ``utt2snr``,
``utt2noise``, ``audio/{clean,noisy}/<utt>.flac``, ``peer_data.json`` (how it was made: a copy
made with the same parameters is reused).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from tqdm import tqdm

from avdm.fileio import atomic_open, read_kv, require_files, write_kv
from avdm.seeding import utt_rng

logger = logging.getLogger(__name__)


def write_noisy_copy(src_dir, noise_scp, out_dir, snr_range: Sequence[float] = (-5.0, 10.0), seed: int = 0,
                     max_utts: Optional[int] = None) -> Path:
    """Write (or reuse) the noisy copy of ``src_dir`` (a dump dir with ``wav.scp``) in ``out_dir``."""
    from avdm.audio_io import save_wav
    from avdm.data.dumpset import pick
    from avdm.data.mixing import mix
    from avdm.scoring import load_signal

    src, out = Path(src_dir), Path(out_dir)
    require_files(src / "wav.scp", noise_scp, stage_hint="stage 2 of the recipe")
    wavs, noises = read_kv(src / "wav.scp"), read_kv(noise_scp)
    keys = pick(list(wavs), max_utts)
    params = {"src": str(src), "noise_scp": str(noise_scp), "snr_range": [float(s) for s in snr_range],
              "seed": int(seed), "utts": len(keys)}
    stamp = out / "peer_data.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == params and (out / "noisy.scp").is_file():
        logger.info("peer data: reusing %s", out)
        return out
    noise_names = sorted(noises)
    bank = {}
    clean_scp, noisy_scp, lens, snrs, kinds = {}, {}, {}, {}, {}
    for utt in tqdm(keys, desc=f"noisy copy of {src.name}", unit="utt", mininterval=5):
        rng = utt_rng(utt, seed)
        name = noise_names[int(rng.integers(len(noise_names)))]
        snr = float(rng.uniform(*snr_range))
        if name not in bank:
            bank[name] = load_signal(noises[name])
        speech = load_signal(wavs[utt])
        try:
            mixture, _, speech = mix(speech, bank[name], snr, rng)
        except ValueError as e:  # silent speech: no SNR to set
            logger.warning("peer data: skipping %s (%s)", utt, e)
            continue
        for kind, sig, table in (("clean", speech, clean_scp), ("noisy", mixture, noisy_scp)):
            path = out / "audio" / kind / f"{utt}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            save_wav(path, np.clip(sig, -1.0, 1.0))
            table[utt] = str(path)
        lens[utt], snrs[utt], kinds[utt] = len(mixture), f"{snr:.2f}", name
    if not clean_scp:
        raise ValueError(f"{src}: no utterance could be mixed")
    for name, table in (("utt2num_samples", lens), ("utt2snr", snrs), ("utt2noise", kinds),
                        ("noisy.scp", noisy_scp), ("wav.scp", clean_scp)):
        write_kv(out / name, table)
    with atomic_open(stamp) as f:
        json.dump(params, f, indent=1)
    logger.info("peer data: %d noisy utterances -> %s", len(clean_scp), out)
    return out
