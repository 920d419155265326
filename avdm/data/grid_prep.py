"""Stage 0: Kaldi data dirs from a GRID corpus root (real or mini-GRID) and noisy condition sets."""
from __future__ import annotations

import logging
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from avdm.audio_io import AudioError, load_audio, save_wav
from avdm.data.condition import write_condition
from avdm.data.datadir import write_data_dir
from avdm.data.grid_grammar import name_to_sentence
from avdm.data.mixing import mix
from avdm.data.noise_bank import HELDOUT_TYPES, TRAIN_TYPES, write_noise_bank
from avdm.ffmpeg_bin import ffmpeg_exe
from avdm.fileio import atomic_open, read_kv, write_kv

logger = logging.getLogger(__name__)

_SPK = re.compile(r"^s(\d+)$")
ALIGN_DIRS = ("alignments", "align")


class GridLayoutError(RuntimeError):
    """The given root does not look like the GRID corpus."""


@dataclass
class Utt:
    utt_id: str
    spk: str
    video: Path
    audio: Path  # a wav, or the video itself when the corpus has no audio_25k
    words: List[str]


def _speaker_of(path: Path, root: Path) -> Optional[str]:
    for part in reversed(path.relative_to(root).parts[:-1]):
        if _SPK.match(part):
            return part
    return None


def _spk_key(spk: str):
    m = _SPK.match(spk)
    return (0, int(m.group(1)), spk) if m else (1, 0, spk)


def _align_words(root: Path, spk: str, name: str) -> Optional[List[str]]:
    for d in ALIGN_DIRS:
        for cand in (root / d / spk / f"{name}.align", root / d / spk / "align" / f"{name}.align"):
            if cand.is_file():
                words = [ln.split()[2] for ln in cand.read_text().splitlines() if len(ln.split()) == 3]
                return [w for w in words if w not in ("sil", "sp")]
    return None


def scan_grid(root: Path) -> Tuple[List[Utt], List[Tuple[str, str]]]:
    """Find the utterances under ``root``; returns (utterances, [(utt id, reason skipped)])."""
    root = Path(root)
    if not root.is_dir():
        raise GridLayoutError(f"GRID root {root} is not a directory")
    videos = sorted(p for p in root.rglob("*.mpg") if not any(x.startswith(".") for x in p.parts))
    if not videos:
        raise GridLayoutError(
            f"{root} does not look like the GRID corpus: expected speaker folders s1/ ... s34/ holding "
            f".mpg videos (optionally audio_25k/s<k>/*.wav and alignments/s<k>/*.align); found no .mpg")
    utts, skipped = [], []
    flat_spk = re.sub(r"[^A-Za-z0-9]", "", root.name) or "spk"
    for video in videos:
        spk = _speaker_of(video, root) or flat_spk
        name = video.stem
        utt_id = f"{spk}_{name}"
        try:
            words = name_to_sentence(name)
        except ValueError as e:
            words = _align_words(root, spk, name)
            if words is None:
                skipped.append((utt_id, f"no transcript: {e} and no alignment file"))
                continue
        if not words:
            skipped.append((utt_id, "empty transcript"))
            continue
        audio = video
        audio_dir = root / "audio_25k" / spk
        if audio_dir.is_dir():
            wav = audio_dir / f"{name}.wav"
            if not wav.is_file():
                skipped.append((utt_id, f"missing wav {wav}"))
                continue
            audio = wav
        utts.append(Utt(utt_id, spk, video, audio, words))
    return utts, skipped


def probe_video(path: Path) -> Optional[str]:
    """None when ffmpeg decodes ``path`` without error, else the reason."""
    proc = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-xerror", "-i", str(path),
                           "-f", "null", "-"], capture_output=True, text=True)
    if proc.returncode == 0:
        return None
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return f"unreadable video ({lines[0].strip() if lines else 'ffmpeg exit %d' % proc.returncode})"


def split_speakers(speakers: Sequence[str], dev: Sequence[str] = (), test: Sequence[str] = ()
                   ) -> Dict[str, List[str]]:
    """Speaker-disjoint train/dev/test; defaults: the last ~10% of speakers test, the ~10% before dev."""
    speakers = sorted(set(speakers), key=_spk_key)
    unknown = [s for s in list(dev) + list(test) if s not in speakers]
    if unknown:
        raise ValueError(f"speaker(s) {', '.join(unknown)} not in the corpus ({', '.join(speakers)})")
    if not dev and not test:
        n = len(speakers)
        # at least two speakers per held-out split from 10 on: the competing-talker sets draw the
        # interferer from another speaker of the same split (never a training speaker)
        k = max(2 if n >= 10 else 1, round(0.1 * n))
        test = speakers[n - k:]
        dev = speakers[n - 2 * k:n - k]
    if set(dev) & set(test):
        raise ValueError(f"speaker(s) {', '.join(sorted(set(dev) & set(test)))} in both dev and test")
    train = [s for s in speakers if s not in dev and s not in test]
    return {"train": train, "dev": list(dev), "test": list(test)}


def prepare(grid_root: Path, out: Path, seed: int = 0, snrs: Sequence[float] = (-10, -5, 0, 5),
            dev_speakers: Sequence[str] = (), test_speakers: Sequence[str] = (), nj: int = 2,
            probe: bool = True, noise_files: int = 3, max_test_utts: int = 0,
            talker_snrs: Sequence[float] = (-5, 0), max_dev_cond_utts: int = 0) -> Dict[str, int]:
    out = Path(out)
    utts, skipped = scan_grid(grid_root)
    if probe:
        with ThreadPoolExecutor(max(1, nj)) as pool:
            reasons = list(pool.map(lambda u: probe_video(u.video), utts))
        kept = []
        for u, r in zip(utts, reasons):
            (skipped.append((u.utt_id, r)) if r else kept.append(u))
        utts = kept
    for utt_id, reason in skipped:
        logger.warning("stage 0: skipping %s: %s", utt_id, reason)
    if not utts:
        raise GridLayoutError(f"{grid_root}: no usable utterance ({len(skipped)} skipped)")
    by_spk: Dict[str, List[Utt]] = {}
    for u in utts:
        by_spk.setdefault(u.spk, []).append(u)
    sets: Dict[str, List[Utt]] = {}
    if len(by_spk) >= 3 or dev_speakers or test_speakers:
        split = split_speakers(list(by_spk), dev_speakers, test_speakers)
        for name, spks in split.items():
            sets[name] = [u for s in spks for u in by_spk[s]]
    else:
        logger.warning("stage 0: only %d speaker(s): splitting utterances instead of speakers", len(by_spk))
        ordered = sorted(utts, key=lambda u: u.utt_id)
        rng = np.random.default_rng(seed)
        idx = rng.permutation(len(ordered))
        n_test = max(1, len(ordered) // 10) if len(ordered) >= 3 else 0
        sets = {"test": [ordered[i] for i in idx[:n_test]], "dev": [ordered[i] for i in idx[n_test:2 * n_test]],
                "train": [ordered[i] for i in idx[2 * n_test:]]}
    if max_test_utts and len(sets["test"]) > max_test_utts:
        sets["test"] = _seeded_subset(sets["test"], max_test_utts, seed)
        logger.info("stage 0: test set limited to %d utterances (--max_test_utts)", max_test_utts)
    counts = {}
    for name, members in sets.items():
        if not members:
            raise GridLayoutError(f"set '{name}' is empty: give more speakers or --dev_speakers/--test_speakers")
        write_data_dir(out / name, {
            "wav.scp": {u.utt_id: str(u.audio.resolve()) for u in members},
            "video.scp": {u.utt_id: str(u.video.resolve()) for u in members},
            "text": {u.utt_id: " ".join(u.words) for u in members},
            "utt2spk": {u.utt_id: u.spk for u in members},
        })
        counts[name] = len(members)
    write_kv(out / "skipped", dict(skipped)) if skipped else None
    logger.info("stage 0: %s utterances (%d skipped)",
                ", ".join(f"{k} {v}" for k, v in counts.items()), len(skipped))
    prepare_noise(out, seed, noise_files)
    for name in ("dev", "test"):
        keep = None
        if name == "dev" and max_dev_cond_utts and len(sets["dev"]) > max_dev_cond_utts:
            keep = {u.utt_id for u in _seeded_subset(sets["dev"], max_dev_cond_utts, seed)}
            logger.info("stage 0: dev condition sets limited to %d utterances (--max_dev_cond_utts)",
                        max_dev_cond_utts)
        make_condition_sets(out, name, snrs, seed, talker_snrs=talker_snrs, keep=keep)
    return counts


def _seeded_subset(members: List[Utt], n: int, seed: int) -> List[Utt]:
    """A smaller evaluation set for quick runs: a seeded choice, spread over the speakers."""
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(members), size=n, replace=False))
    return [members[i] for i in pick]


def prepare_noise(out: Path, seed: int, files_per_type: int) -> None:
    """The noise bank: training noise for dynamic mixing, separate recordings for dev/test mixing."""
    bank = write_noise_bank(out / "local" / "noise", files_per_type=files_per_type, seed=seed)
    test_bank = write_noise_bank(out / "local" / "noise_test", files_per_type=2, seed=seed + 1000)
    for split, types, source in (("noise_train", TRAIN_TYPES, bank), ("noise_test_seen", TRAIN_TYPES, test_bank),
                                 ("noise_heldout", HELDOUT_TYPES, test_bank)):
        d = out / split
        d.mkdir(parents=True, exist_ok=True)
        scp = {p.stem: str(p.resolve()) for t in types for p in source[t]}
        write_kv(d / "wav.scp", scp)
        write_kv(d / "utt2noise", {p.stem: t for t in types for p in source[t]})


def _snr_tag(snr: float) -> str:
    return f"{int(snr)}" if float(snr).is_integer() else f"{snr:g}"


def make_condition_sets(out: Path, base: str, snrs: Sequence[float], seed: int,
                        talker_snrs: Sequence[float] = (), keep: Optional[set] = None) -> List[str]:
    """Noisy copies of ``data/<base>`` at each SNR with seen-type and held-out-type noise, and
    competing-talker copies (``<base>_snr<S>_talker``: another speaker of the same set at ``S`` dB,
    both levels measured on active speech).  ``keep``: only these utterances (None: all)."""
    base_dir = out / base
    wav = {k: v for k, v in read_kv(base_dir / "wav.scp").items() if keep is None or k in keep}
    names = []
    for kind, noise_set in (("seen", "noise_test_seen"), ("heldout", "noise_heldout")):
        noise_scp = read_kv(out / noise_set / "wav.scp")
        noise_type = read_kv(out / noise_set / "utt2noise")
        noise_cache: Dict[str, np.ndarray] = {}

        def draw_noise(utt, i, snr, rng):
            key = sorted(noise_scp)[int(rng.integers(len(noise_scp)))]
            if key not in noise_cache:
                noise_cache[key] = load_audio(noise_scp[key])
            return noise_cache[key], noise_type[key], False

        for snr in snrs:
            cond = f"{base}_snr{_snr_tag(snr)}_{kind}"
            _write_condition_set(out, base_dir, cond, kind, wav, snr,
                                 [seed, int(snr * 10) + 1000, 1 if kind == "seen" else 2], draw_noise)
            names.append(cond)
    if talker_snrs:
        names += _talker_sets(out, base_dir, base, wav, talker_snrs, seed)
    with atomic_open(base_dir / "condition_sets") as f:
        f.write("".join(n + "\n" for n in names))
    return names


def _talker_sets(out: Path, base_dir: Path, base: str, wav: Dict[str, str], snrs: Sequence[float],
                 seed: int) -> List[str]:
    """Competing-talker sets: each utterance mixed with an utterance of another speaker of the set."""
    utt2spk = read_kv(base_dir / "utt2spk")
    all_wav = read_kv(base_dir / "wav.scp")  # interferers may come from utterances outside ``wav``
    by_spk: Dict[str, List[str]] = {}
    for utt in sorted(all_wav):
        by_spk.setdefault(utt2spk[utt], []).append(utt)
    if len(by_spk) < 2:
        logger.warning("stage 0: %s has one speaker (%s): no competing-talker sets (they need an interferer "
                       "from another speaker of the same set)", base, ", ".join(by_spk))
        return []
    cache: Dict[str, np.ndarray] = {}

    def draw_talker(utt, i, snr, rng):
        others = [u for s, us in sorted(by_spk.items()) if s != utt2spk[utt] for u in us]
        other = others[int(rng.integers(len(others)))]
        if other not in cache:
            cache[other] = load_audio(all_wav[other])
        return cache[other], f"talker:{other}", True

    names = []
    for snr in snrs:
        cond = f"{base}_snr{_snr_tag(snr)}_talker"
        _write_condition_set(out, base_dir, cond, "talker", wav, snr, [seed, int(snr * 10) + 1000, 3], draw_talker)
        names.append(cond)
    return names


def _write_condition_set(out: Path, base_dir: Path, cond: str, kind: str, wav: Dict[str, str], snr: float,
                         seed_prefix: List[int], draw) -> None:
    """Mix every utterance of ``wav`` with the interferer ``draw(utt, i, snr, rng)`` returns
    (signal, label for utt2noise, whether its level is its active-speech level) at ``snr`` dB; the
    set records its condition (``kind``: seen, heldout or talker; :mod:`avdm.data.condition`)."""
    d = out / cond
    mix_dir = out / "local" / "mix" / cond
    noisy, noise_out, utt2snr, utt2noise, reference = {}, {}, {}, {}, {}
    for i, (utt, path) in enumerate(sorted(wav.items())):
        rng = np.random.default_rng(seed_prefix + [i])
        interferer, label, active = draw(utt, i, snr, rng)
        try:
            clean = load_audio(path)
        except AudioError as e:
            logger.warning("stage 0: %s: %s; left out of %s", utt, e, cond)
            continue
        mixture, scaled, speech = mix(clean, interferer, snr, rng, noise_level="active" if active else "mean")
        save_wav(mix_dir / f"{utt}_noisy.wav", mixture)
        save_wav(mix_dir / f"{utt}_noise.wav", scaled)
        noisy[utt] = str((mix_dir / f"{utt}_noisy.wav").resolve())
        noise_out[utt] = str((mix_dir / f"{utt}_noise.wav").resolve())
        if not np.array_equal(speech, clean):  # scaled so the mixture won't clip (load_audio gives float32)
            save_wav(mix_dir / f"{utt}_clean.wav", speech)
            reference[utt] = str((mix_dir / f"{utt}_clean.wav").resolve())
        utt2snr[utt] = f"{snr:g}"
        utt2noise[utt] = label
    files = {n: {k: v for k, v in read_kv(base_dir / n).items() if k in noisy}
             for n in ("wav.scp", "video.scp", "text", "utt2spk")}
    files["wav.scp"].update(reference)  # the clean speech at its level in the mixture
    files.update({"noisy.scp": noisy, "noise.scp": noise_out, "utt2snr": utt2snr, "utt2noise": utt2noise})
    write_data_dir(d, files)
    write_condition(d, base_dir.name, snr, kind)
