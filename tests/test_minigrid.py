"""The embedded mini-GRID corpus: grammar, determinism, stream formats, detectable faces."""
import hashlib
import itertools
import subprocess

import numpy as np
import pytest

from avdm.data.grid_grammar import SLOTS, VOCABULARY, name_to_sentence, sentence_to_name
from avdm.ffmpeg_bin import ffmpeg_exe


def test_name_sentence_mapping_covers_the_whole_grammar():
    names = set()
    for words in itertools.product(*SLOTS):
        name = sentence_to_name(words)
        assert name_to_sentence(name) == list(words)
        names.add(name)
    assert len(names) == 4 * 4 * 4 * 25 * 10 * 4
    assert len(VOCABULARY) == 51
    assert name_to_sentence("bbaf2n") == ["bin", "blue", "at", "f", "two", "now"]
    assert name_to_sentence("swiz3n") == ["set", "white", "in", "z", "three", "now"]


@pytest.mark.parametrize("bad", ["bbaw2n", "xbaf2n", "bbaf2", "bbafxn"])
def test_non_grid_names_are_rejected(bad):
    with pytest.raises(ValueError, match="not a GRID utterance name"):
        name_to_sentence(bad)


def test_layout_and_stream_parameters(minigrid):
    mpgs = sorted(minigrid.glob("s*/*.mpg"))
    assert len(mpgs) == 6 and {p.parent.name for p in mpgs} == {"s1", "s2", "s3"}
    for p in mpgs:
        assert (minigrid / "audio_25k" / p.parent.name / f"{p.stem}.wav").is_file()
        align = (minigrid / "align" / p.parent.name / f"{p.stem}.align").read_text().split("\n")
        words = [ln.split()[2] for ln in align if ln.strip() and ln.split()[2] != "sil"]
        assert words == name_to_sentence(p.stem)
    info = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(mpgs[0])], capture_output=True, text=True).stderr
    assert "Video: mpeg1video" in info and "360x288" in info and "25 fps" in info
    assert "Audio: mp2" in info and "44100 Hz" in info and "stereo" in info
    import soundfile as sf

    x, fs = sf.read(str(minigrid / "audio_25k" / mpgs[0].parent.name / f"{mpgs[0].stem}.wav"))
    assert fs == 25000 and len(x) == 75000 and np.abs(x).max() > 0.3
    assert list(minigrid.glob("*_frames.png"))


def test_same_seed_same_bytes(minigrid, tmp_path):
    from avdm.data.minigrid import generate
    from avdm.video.decode import read_frames

    again = tmp_path / "again"
    generate(again, num_speakers=1, utts_per_speaker=2, seed=7, nj=1)
    for wav in sorted((again / "audio_25k" / "s1").glob("*.wav")):
        ref = minigrid / "audio_25k" / "s1" / wav.name
        assert hashlib.md5(wav.read_bytes()).digest() == hashlib.md5(ref.read_bytes()).digest()
        a = read_frames(again / "s1" / f"{wav.stem}.mpg")
        b = read_frames(minigrid / "s1" / f"{wav.stem}.mpg")
        assert np.array_equal(a, b)


def test_a_real_landmark_detector_finds_face_and_mouth(minigrid):
    from avdm.video.decode import read_frames
    from avdm.video.detectors import Dlib68Detector

    for mpg in sorted(minigrid.glob("s*/*.mpg"))[::2]:
        frames = read_frames(mpg)
        track = Dlib68Detector().track(frames)
        assert not track.failed.any()
        # the mouth lies in the lower half of the face, horizontally central
        lm = track.landmarks
        face_centre = lm[:, 27:36].mean(axis=1)
        assert np.all(track.centre[:, 1] > face_centre[:, 1])
        assert np.all(np.abs(track.centre[:, 0] - face_centre[:, 0]) < 0.15 * track.face_size)


def test_mouth_moves_with_the_speech(minigrid):
    """The mouth opening (inner lip distance) varies during speech and rests in the silence."""
    from avdm.video.decode import read_frames
    from avdm.video.detectors import Dlib68Detector

    mpg = sorted(minigrid.glob("s1/*.mpg"))[0]
    lm = Dlib68Detector().track(read_frames(mpg)).landmarks
    opening = np.linalg.norm(lm[:, 66] - lm[:, 62], axis=1)
    align = (minigrid / "align" / "s1" / f"{mpg.stem}.align").read_text().split("\n")
    first = [ln for ln in align if ln.strip()][0].split()
    speech_start = int(first[1]) / 25000 if first[2] == "sil" else 0.0
    k0 = int(speech_start * 25)
    assert opening[k0:].std() > 2 * opening[:max(k0 - 2, 3)].std() + 0.1


def test_breathy_voices_are_reproducible_across_processes():
    """espeak-ng seeds its breath noise (voices f2, f3, f5 of the corpus) from the clock; the
    synthesiser reseeds it, so two fresh processes give the same samples."""
    import sys

    code = ("import hashlib; from avdm.data.espeak import Espeak, Voice; "
            "print(hashlib.md5(Espeak.get().synthesize('bin blue at f two now', Voice('en+f5', 60, 50, 170))"
            ".audio.tobytes()).hexdigest())")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    assert len(runs[0].strip()) == 32 and runs[0] == runs[1]
