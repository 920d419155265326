"""WER arithmetic, and the ASR path: a few training steps on synthetic 'speech', decoding, packing, WER scoring."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avdm.asr.wer import WordErrors, corpus_errors, normalize_text, total, word_errors

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("ref, hyp, expected", [
    ("bin blue at f two now", "bin blue at f two now", (0, 0, 0)),
    ("bin blue at f two now", "bin red at f two now", (1, 0, 0)),
    ("bin blue at f two now", "bin at f two now", (0, 1, 0)),
    ("bin blue at f two now", "bin blue blue at f two now", (0, 0, 1)),
    ("a b c d", "a x c", (1, 1, 0)),
    ("a b c", "", (0, 3, 0)),
    ("", "a b", (0, 0, 2)),
    ("a b c d e f", "b c d e f a", (0, 1, 1)),  # a rotation: 2 edits, not 6 substitutions
])
def test_word_errors(ref, hyp, expected):
    e = word_errors(ref.split(), hyp.split())
    assert (e.sub, e.dele, e.ins) == expected
    assert e.ref_words == len(ref.split())


def test_edit_distance_matches_brute_force_recursion():
    from functools import lru_cache

    rng = np.random.default_rng(0)
    for _ in range(50):
        ref = list(rng.choice(list("abc"), rng.integers(0, 6)))
        hyp = list(rng.choice(list("abcd"), rng.integers(0, 6)))

        @lru_cache(None)
        def d(i, j):
            if i == 0 or j == 0:
                return i + j
            return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (ref[i - 1] != hyp[j - 1]))

        assert word_errors(ref, hyp).errors == d(len(ref), len(hyp))


def test_corpus_wer_and_normalization():
    assert normalize_text("Bin BLUE, at F-two now!") == ["bin", "blue", "at", "f", "two", "now"]
    refs = {"u1": "bin blue at f two now", "u2": "set red by g nine again"}
    hyps = {"u1": "BIN blue at f two now.", "u2": "set red g nine again please"}
    errs = corpus_errors(refs, hyps)
    assert errs["u1"].errors == 0 and errs["u2"].errors == 2
    tot = total(errs.values())
    assert tot.ref_words == 12 and tot.wer == pytest.approx(100 * 2 / 12)
    assert WordErrors(1, 0, 0, 0).wer == 100.0
    with pytest.raises(KeyError, match="utterance 'u3' has no reference transcript"):
        corpus_errors(refs, {"u3": "x"})


# ----------------------------------------------------------------------------- a tiny ASR
WORDS = {"low": 300.0, "mid": 700.0, "high": 1500.0}


def _utterance(words, rng, pitch=WORDS):
    """Each word a 0.25 s tone of its own pitch, with short pauses: a toy language a CTC model can hear."""
    sr, parts = 16000, [np.zeros(1600)]
    for w in words:
        t = np.arange(int(0.25 * sr)) / sr
        parts += [0.3 * np.sin(2 * np.pi * pitch[w] * t) * np.hanning(len(t)), np.zeros(1600)]
    x = np.concatenate(parts)
    return (x + 0.003 * rng.standard_normal(len(x))).astype(np.float32)


def _make_set(root: Path, name: str, n: int, seed: int, pitch=WORDS) -> Path:
    from avdm.audio_io import save_wav

    rng = np.random.default_rng(seed)
    d = root / name
    (d / "wav").mkdir(parents=True)
    scp, text, nums = [], [], []
    for i in range(n):
        words = list(rng.choice(list(pitch), 3))
        x = _utterance(words, rng, pitch)
        utt = f"{name}_{i:02d}"
        save_wav(d / "wav" / f"{utt}.wav", x)
        scp.append(f"{utt} {d}/wav/{utt}.wav")
        text.append(f"{utt} {' '.join(words)}")
        nums.append(f"{utt} {len(x)}")
    for fname, lines in (("wav.scp", scp), ("text", text), ("utt2num_samples", nums)):
        (d / fname).write_text("\n".join(lines) + "\n")
    return d


def _recipe_config() -> str:
    text = (ROOT / "conf" / "asr_ctc_lite.yaml").read_text()
    assert "\ntoken_type: phn " in text  # the recipe's ASR reads phones
    return text


@pytest.fixture(scope="module")
def tiny_asr(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("asr")
    dump = tmp / "dump"
    _make_set(dump, "train", 8, 0)
    _make_set(dump, "dev", 4, 1)
    exp = tmp / "exp" / "asr"
    # the recipe's config with word tokens (the toy words have no phones), shrunk on the command line
    # (espnet2 merges *_conf options)
    conf = tmp / "asr_word.yaml"
    conf.write_text(_recipe_config().replace("token_type: phn", "token_type: word"))
    cmd = [sys.executable, "-m", "avdm.bin.train_asr", "--dump_dir", str(dump), "--train_set", "train",
           "--valid_set", "dev", "--exp_dir", str(exp), "--config", str(conf),
           "--max_epoch", "1", "--batch_size", "4", "--specaug", "none",
           "--encoder_conf", "num_blocks=1", "--encoder_conf", "output_size=32", "--encoder_conf", "linear_units=32",
           "--encoder_conf", "attention_heads=2", "--frontend_conf", "n_mels=20", "--keep_nbest_models", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:] + (exp / "train.log").read_text()[-3000:]
    return dump, exp


TINY_ARGS = ["--max_epoch", "1", "--batch_size", "4", "--specaug", "none", "--encoder_conf", "num_blocks=1",
             "--encoder_conf", "output_size=32", "--encoder_conf", "linear_units=32", "--encoder_conf",
             "attention_heads=2", "--frontend_conf", "n_mels=20", "--keep_nbest_models", "1"]
GRID_TONES = {"bin": 300.0, "lay": 700.0, "set": 1500.0}  # toy speech of three GRID words


@pytest.mark.slow
def test_phone_tokens_train_through_the_lexicon_and_decode_only_with_a_grammar(tmp_path, monkeypatch):
    import avdm.asr.grammar_decode as gd
    from avdm.asr.decode import Transcriber
    from avdm.scoring import load_signal

    dump = tmp_path / "dump"
    _make_set(dump, "train", 8, 0, GRID_TONES)
    _make_set(dump, "dev", 4, 1, GRID_TONES)
    conf = tmp_path / "asr_phn.yaml"
    conf.write_text(_recipe_config())
    exp = tmp_path / "exp" / "asr"
    cmd = [sys.executable, "-m", "avdm.bin.train_asr", "--dump_dir", str(dump), "--exp_dir", str(exp),
           "--config", str(conf)] + TINY_ARGS
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:] + (exp / "train.log").read_text()[-3000:]
    # the phones of bin, lay and set are the tokens; the transcripts went to espnet spelt in them
    assert (exp / "tokens" / "tokens.txt").read_text().split() == [
        "<blank>", "<unk>", "b", "eh", "ey", "ih", "l", "n", "s", "t", "<sos/eos>"]
    first = (dump / "train" / "text").read_text().splitlines()[0].split()
    from avdm.asr.lexicon import GRID_LEXICON

    assert (exp / "tokens" / "text_train").read_text().splitlines()[0].split() == \
        [first[0]] + [p for w in first[1:] for p in GRID_LEXICON[w][0]]
    assert (exp / "lexicon.txt").is_file()

    with pytest.raises(ValueError, match="spells words only through a grammar"):
        Transcriber(exp, {"beam_size": 2})
    # the full GRID grammar needs phones this toy corpus never had
    with pytest.raises(ValueError, match="lacks a phone of"):
        Transcriber(exp, {"grammar": "grid"})
    monkeypatch.setattr(gd, "grammar_slots", lambda name: [list(GRID_TONES)] * 3)
    asr = Transcriber(exp, {"grammar": "grid"})
    for line in (dump / "dev" / "wav.scp").read_text().splitlines():
        words = asr.transcribe(load_signal(line.split()[1])).split()
        assert len(words) == 3 and set(words) <= set(GRID_TONES)


def test_phone_tokens_refuse_a_transcript_word_outside_the_lexicon(tmp_path):
    from avdm.asr.train import train_asr

    dump = tmp_path / "dump"
    _make_set(dump, "train", 2, 0)  # the toy words low / mid / high: not GRID words
    _make_set(dump, "dev", 1, 1)
    conf = tmp_path / "asr_phn.yaml"
    conf.write_text("token_type: phn\n")
    with pytest.raises(ValueError, match=r"train/text: utterance 'train_00' has word\(s\) \[.*\] that the "
                                         r"lexicon cannot spell"):
        train_asr(dump, "train", "dev", tmp_path / "exp", conf)


@pytest.mark.slow
def test_train_decode_pack_and_score(tiny_asr, tmp_path, monkeypatch):
    from avdm.asr.decode import Transcriber, resolve_model
    from avdm.scoring import load_signal

    dump, exp = tiny_asr
    # word tokens: one per word
    assert (exp / "tokens" / "tokens.txt").read_text().split() == ["<blank>", "<unk>", "high", "low", "mid",
                                                                   "<sos/eos>"]
    assert (exp / "stats" / "train" / "feats_stats.npz").is_file()
    model = resolve_model(exp)
    assert model.weights.name in ("valid.loss.ave.pth", "valid.loss.best.pth")
    asr = Transcriber(exp, {"beam_size": 2})
    scp = dict(line.split() for line in (dump / "dev" / "wav.scp").read_text().splitlines())
    hyps = {u: asr.transcribe(load_signal(p)) for u, p in scp.items()}
    assert all(isinstance(h, str) for h in hyps.values())

    # grammar decoding (a 3-slot grammar of the toy words): every hypothesis is a sentence of it
    import avdm.asr.grammar_decode as gd

    monkeypatch.setattr(gd, "grammar_slots", lambda name: [list(WORDS)] * 3)
    constrained = Transcriber(exp, {"grammar": "grid"})
    for p in scp.values():
        words = constrained.transcribe(load_signal(p)).split()
        assert len(words) == 3 and set(words) <= set(WORDS)
    assert constrained.transcribe(np.zeros(1600, np.float32)) == ""  # 0.1 s: too short for 3 words

    # a packed model (espnet2's pack format, paths relative to the recipe dir) loads the same network
    from espnet2.main_funcs.pack_funcs import pack

    from avdm.asr.decode import unpacked_dir

    root = exp.parent.parent
    monkeypatch.chdir(root)
    packed = tmp_path / "asr.zip"
    pack(files={"asr_model_file": str(model.weights.resolve().relative_to(root))},
         yaml_files={"asr_train_config": str(model.config.relative_to(root))},
         option=[], outpath=str(packed))  # word tokens: the token list is in the config
    asr2 = Transcriber(packed, {"beam_size": 2})
    assert asr2.model.config.is_relative_to(unpacked_dir(packed).resolve())
    sd1, sd2 = asr.s2t.asr_model.state_dict(), asr2.s2t.asr_model.state_dict()
    assert sd1.keys() == sd2.keys() and all(bool((sd1[k] == sd2[k]).all()) for k in sd1)
    assert isinstance(asr2.transcribe(load_signal(scp["dev_00"])), str)

    # stage 5 with the ASR: clean-input WER and a 'system' scored in 2 parallel jobs
    sysdir = tmp_path / "exp" / "sys" / "enhance_dev"
    sysdir.mkdir(parents=True)
    (sysdir / "wav.scp").write_text((dump / "dev" / "wav.scp").read_text())
    (sysdir / "utt2nfe").write_text("".join(f"{u} 8\n" for u in scp))
    from avdm.bin.stage_score import main

    assert main(["--ref_dir", str(dump / "dev"), "--inf_dir", str(sysdir), "--asr_model", str(exp)]) == 0
    s = json.loads((sysdir / "scoring" / "scores.json").read_text())
    assert s["wer"]["words"] == 12 and s["wer"]["n"] == 4 and s["nfe"] == 8.0 and s["asr_model"] == str(exp)
    # (hypotheses of a barely trained model flip on rounding between runs: check consistency, not equality)
    written = dict(line.split(maxsplit=1) if " " in line else (line, "")
                   for line in (sysdir / "scoring" / "hyp.txt").read_text().splitlines())
    assert sorted(written) == sorted(hyps)
    errs = corpus_errors(dict(line.split(maxsplit=1) for line in (dump / "dev" / "text").read_text().splitlines()),
                         written)
    assert s["wer"]["mean"] == pytest.approx(total(errs.values()).wer)
    assert s["stoi"]["mean"] > 0.99  # identical signals
    ref_dir = tmp_path / "exp" / "reference" / "dev"
    assert main(["--ref_dir", str(dump / "dev"), "--inf_dir", str(ref_dir), "--clean_input",
                 "--asr_model", str(packed)]) == 0
    s2 = json.loads((ref_dir / "scoring" / "scores.json").read_text())
    assert s2["wer"]["words"] == 12 and "pesq_wb" not in s2 and s2["asr_model"] == str(packed)
    assert s2["system"] == "reference"


def test_missing_asr_model_is_a_clear_error(tmp_path):
    from avdm.asr.decode import resolve_model

    with pytest.raises(FileNotFoundError, match="train one with"):
        resolve_model(tmp_path / "nope")
    (tmp_path / "m").mkdir()
    with pytest.raises(FileNotFoundError, match="no ASR weights"):
        resolve_model(tmp_path / "m")


def test_word_and_char_token_lists(tmp_path):
    from avdm.asr.train import config_token_type, train_token_list

    (tmp_path / "text").write_text("u1 bin blue at a\nu2 set  blue\nu3\n")
    words = train_token_list(tmp_path / "text", tmp_path / "w", "word").read_text().split("\n")
    assert words == ["<blank>", "<unk>", "a", "at", "bin", "blue", "set", "<sos/eos>", ""]
    chars = train_token_list(tmp_path / "text", tmp_path / "c", "char").read_text().split()
    assert chars == ["<blank>", "<unk>", "<space>", "a", "b", "e", "i", "l", "n", "s", "t", "u", "<sos/eos>"]
    (tmp_path / "empty").write_text("u1\n")
    with pytest.raises(ValueError, match="no transcripts"):
        train_token_list(tmp_path / "empty", tmp_path / "e", "word")
    (tmp_path / "a.yaml").write_text("token_type: word\n")
    (tmp_path / "b.yaml").write_text("encoder: conformer\n")
    (tmp_path / "c.yaml").write_text("token_type: hugging_face\n")
    assert config_token_type(tmp_path / "a.yaml") == "word" and config_token_type(tmp_path / "b.yaml") == "bpe"
    with pytest.raises(ValueError, match="token_type .hugging_face. is not one of"):
        config_token_type(tmp_path / "c.yaml")


@pytest.mark.parametrize("normalize, stats_file", [("global_mvn", True), ("utterance_mvn", False), (None, False)])
def test_training_passes_the_statistics_only_to_global_mvn(tmp_path, monkeypatch, normalize, stats_file):
    import avdm.asr.train as tr

    dump = tmp_path / "dump"
    _make_set(dump, "train", 2, 0)
    _make_set(dump, "dev", 1, 1)
    conf = tmp_path / "asr.yaml"
    conf.write_text("token_type: word\n" + (f"normalize: {normalize}\n" if normalize else ""))
    cmds = []
    monkeypatch.setattr(tr, "run_logged", lambda cmd, log: cmds.append(cmd) or 0)
    with pytest.raises(FileNotFoundError, match="no ASR weights"):  # nothing really trained
        tr.train_asr(dump, "train", "dev", tmp_path / "exp", conf)
    collect, train = cmds
    assert "--collect_stats" in collect and "--normalize_conf" not in collect
    assert ("--normalize_conf" in train) == stats_file
    if stats_file:
        assert train[train.index("--normalize_conf") + 1].endswith("stats/train/feats_stats.npz")
