"""Train the WER ASR: tokens from the training transcripts, then espnet2 ASRTask
(collect-stats pass for shapes and global MVN statistics, then training).  Resumable.

The config's ``token_type`` picks the tokens: ``bpe`` (default; sentencepiece pieces), ``word``
(one token per word: a closed vocabulary such as GRID's 51 words), ``char``, or ``phn`` (phones:
the transcripts spelt with the GRID lexicon, ``avdm.asr.lexicon``; espnet reads them split by space).

Layout of ``exp_dir`` (an ESPnet ASR experiment dir, usable by Speech2Text or ``espnet pack``):
``bpe/{bpe.model,tokens.txt}`` (or ``tokens/tokens.txt`` for word, char and phn tokens; with phn
also ``tokens/text_<set>``, the phone transcripts, and ``lexicon.txt``, which decoding reads), ``stats/``,
``config.yaml``, ``train.log``, ``valid.loss.ave.pth``.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import List, Sequence

from avdm.fileio import atomic_open, read_kv, require_files
from avdm.launch import run_logged

logger = logging.getLogger(__name__)

BLANK, UNK, SOS_EOS = "<blank>", "<unk>", "<sos/eos>"


def train_sentencepiece(text_file: Path, out_dir: Path, vocab_size: int = 100) -> Path:
    """BPE sentencepiece model on the transcripts of ``text_file`` (Kaldi ``text``) and the ESPnet
    token list (``<blank>``, ``<unk>``, pieces by id, ``<sos/eos>``).  Returns the token list.

    With GRID's 51 words, 100 pieces make nearly every word one token (short CTC targets that a
    small model learns in minutes); a corpus too small for ``vocab_size`` gets the largest it allows.
    """
    import re

    import sentencepiece as spm

    out_dir.mkdir(parents=True, exist_ok=True)
    texts = [t for t in read_kv(text_file, allow_empty_value=True).values() if t.strip()]
    if not texts:
        raise ValueError(f"{text_file}: no transcripts to learn tokens from")
    with atomic_open(out_dir / "train.txt") as f:
        f.write("\n".join(texts) + "\n")
    def train(size: int):
        spm.SentencePieceTrainer.train(
            input=str(out_dir / "train.txt"), model_prefix=str(out_dir / "bpe"), vocab_size=size,
            model_type="bpe", character_coverage=1.0, num_threads=1, bos_id=-1, eos_id=-1, unk_id=0,
            minloglevel=2)

    try:
        train(vocab_size)
    except RuntimeError as e:  # "Vocabulary size is too high (100). Please set it to a value <= 57."
        m = re.search(r"<= *(\d+)", str(e))
        if not m:
            raise
        logger.info("sentencepiece: %d pieces are too many for %s; using %s", vocab_size, text_file, m.group(1))
        train(int(m.group(1)))
    sp = spm.SentencePieceProcessor(model_file=str(out_dir / "bpe.model"))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if not sp.is_unknown(i) and not sp.is_control(i)]
    tokens = out_dir / "tokens.txt"
    with atomic_open(tokens) as f:
        f.write("\n".join([BLANK, UNK] + pieces + [SOS_EOS]) + "\n")
    logger.info("sentencepiece: %d pieces from %d transcripts -> %s", len(pieces), len(texts), out_dir)
    return tokens


TOKEN_TYPES = ("bpe", "word", "char", "phn")
LEXICON = "lexicon.txt"  # beside config.yaml: the pronunciations a phn model was trained with
SPACE = "<space>"  # espnet's CharTokenizer symbol for a space


def train_token_list(text_file: Path, out_dir: Path, token_type: str) -> Path:
    """ESPnet token list of the words (``word``; ``phn``: phone transcripts, split the same way) or
    characters (``char``, the space as ``<space>``) of the transcripts of ``text_file``: ``<blank>``,
    ``<unk>``, the sorted tokens, ``<sos/eos>``."""
    texts = [t for t in read_kv(text_file, allow_empty_value=True).values() if t.strip()]
    if not texts:
        raise ValueError(f"{text_file}: no transcripts to learn tokens from")
    if token_type in ("word", "phn"):
        units = {w for t in texts for w in t.split()}
    elif token_type == "char":
        units = {SPACE if c == " " else c for t in texts for c in " ".join(t.split())}
    else:
        raise ValueError(f"token_type '{token_type}' has no token list of its own; use one of {TOKEN_TYPES}")
    out_dir.mkdir(parents=True, exist_ok=True)
    tokens = out_dir / "tokens.txt"
    with atomic_open(tokens) as f:
        f.write("\n".join([BLANK, UNK] + sorted(units) + [SOS_EOS]) + "\n")
    logger.info("%s tokens: %d from %d transcripts -> %s", token_type, len(units), len(texts), tokens)
    return tokens


def _config(config: Path) -> dict:
    import yaml

    with open(config, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def config_token_type(config: Path) -> str:
    token_type = _config(config).get("token_type", "bpe")
    if token_type not in TOKEN_TYPES:
        raise ValueError(f"{config}: token_type '{token_type}' is not one of {TOKEN_TYPES}")
    return token_type


def _data_args(dump: Path, prefix: str, text: Path = None) -> List[str]:
    """espnet2's data options: the dump's speech (its audio format read by DumpSet) and the transcripts."""
    from avdm.data.dumpset import DumpSet

    return DumpSet(dump).espnet_args(prefix, [("wav.scp", "speech", None)]) + [
        f"--{prefix}_data_path_and_name_and_type", f"{text or dump / 'text'},text,text"]


def model_file(exp_dir: Path) -> Path:
    """The weights decoding uses: n-best average, else best, else the last epoch (as for every espnet2 model)."""
    from avdm.inference.model_io import inference_model_file

    try:
        return inference_model_file(Path(exp_dir))
    except FileNotFoundError:
        raise FileNotFoundError(f"no ASR weights in {exp_dir}: train it with `python -m avdm.bin.train_asr` "
                                "(recipe stage 3 with --skip_asr false)") from None


def train_asr(dump_dir: Path, train_set: str, valid_set: str, exp_dir: Path, config: Path,
              ngpu: int = 0, vocab_size: int = 100, extra: Sequence[str] = ()) -> Path:
    """Train (or resume) the ASR in ``exp_dir``; returns the weights file decoding will use."""
    dump_dir, exp_dir = Path(dump_dir), Path(exp_dir)
    train, valid = dump_dir / train_set, dump_dir / valid_set
    require_files(config)
    require_files(*(d / f for d in (train, valid) for f in ("wav.scp", "text", "utt2num_samples")),
                  stage_hint="stage 2")
    token_type = config_token_type(config)
    token_dir = exp_dir / ("bpe" if token_type == "bpe" else "tokens")
    texts = {"train": train / "text", "valid": valid / "text"}
    if token_type == "phn":  # phone transcripts of both sets, then a word-style list of their phones
        from avdm.asr.lexicon import GRID_LEXICON, phone_transcripts, write_lexicon

        token_dir.mkdir(parents=True, exist_ok=True)
        texts = {k: phone_transcripts(t, token_dir / f"text_{k}", GRID_LEXICON) for k, t in texts.items()}
        write_lexicon(GRID_LEXICON, exp_dir / LEXICON)
    if not (token_dir / "tokens.txt").is_file():
        if token_type == "bpe":
            train_sentencepiece(train / "text", token_dir, vocab_size)
        else:
            train_token_list(texts["train"], token_dir, token_type)
    py = [sys.executable, "-m", "avdm.asr.espnet_main"]
    common = ["--config", str(config), "--ngpu", str(ngpu), "--token_type", token_type,
              "--token_list", str(token_dir / "tokens.txt"), "--cleaner", "none", "--g2p", "none"]
    if token_type == "bpe":
        common += ["--bpemodel", str(token_dir / "bpe.model")]
    stats = exp_dir / "stats"
    if not (stats / "train" / "feats_stats.npz").is_file():
        cmd = py + common + ["--collect_stats", "true", "--output_dir", str(stats), "--normalize", "none",
                             "--train_shape_file", str(train / "utt2num_samples"),
                             "--valid_shape_file", str(valid / "utt2num_samples")]
        cmd += _data_args(train, "train", texts["train"]) + _data_args(valid, "valid", texts["valid"])
        cmd += list(extra)  # extra may shape features
        logger.info("ASR: collecting statistics -> %s", stats)
        if run_logged(cmd, exp_dir / "collect_stats.log") != 0:
            raise RuntimeError(f"ASR collect-stats failed; see {exp_dir / 'collect_stats.log'}")
    cmd = py + common + ["--output_dir", str(exp_dir), "--resume", "true",
                         "--train_shape_file", str(stats / "train" / "speech_shape"),
                         "--valid_shape_file", str(stats / "valid" / "speech_shape")]
    if _config(config).get("normalize", "utterance_mvn") == "global_mvn":  # espnet2's default is utterance_mvn
        cmd += ["--normalize_conf", f"stats_file={stats / 'train' / 'feats_stats.npz'}"]
    cmd += _data_args(train, "train", texts["train"]) + _data_args(valid, "valid", texts["valid"]) + list(extra)
    logger.info("ASR: training %s -> %s (log: %s)", config, exp_dir, exp_dir / "train.log")
    if run_logged(cmd, exp_dir / "train.log") != 0:
        raise RuntimeError(f"ASR training failed; see {exp_dir / 'train.log'}")
    return model_file(exp_dir)
