"""Decode speech to words with an ESPnet ASR model (espnet2.bin.asr_inference.Speech2Text).

The model is an ESPnet ASR experiment dir (``config.yaml`` + weights, as ``avdm.bin.train_asr``
writes), a packed ESPnet model (``.zip``/``.tar.gz`` from ``espnet2.bin.pack asr``), or a
``config.yaml`` path whose directory holds the weights.

Decoding is espnet's CTC prefix beam search (unconstrained), or with ``grammar: grid`` in the
decoding config the best sentence of that grammar under the model's CTC posteriors
(``avdm.asr.grammar_decode``).  A phone-token model (``token_type: phn``) spells the grammar's words
through the ``lexicon.txt`` it was trained with (``avdm.asr.lexicon``), and needs the grammar.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import yaml

logger = logging.getLogger(__name__)

DEFAULT_DECODE = {"beam_size": 4, "ctc_weight": 1.0, "lm_weight": 0.0, "penalty": 0.0, "nbest": 1}
_ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")


@dataclass
class ASRModel:
    config: Path
    weights: Path
    bpemodel: Optional[Path] = None


def _is_archive(p: Path) -> bool:
    return p.is_file() and p.name.endswith(_ARCHIVE_SUFFIXES)


def unpacked_dir(archive: Path) -> Path:
    name = archive.name
    for s in _ARCHIVE_SUFFIXES:
        if name.endswith(s):
            name = name[: -len(s)]
            break
    return archive.parent / f"{name}_unpacked"


def resolve_model(model, unpack_to: Optional[Path] = None) -> ASRModel:
    """Config, weights and sentencepiece model of ``model`` (dir, config.yaml or packed archive).

    A packed model is unpacked once into ``unpack_to`` (default ``<archive>_unpacked`` beside it);
    its config paths are rewritten to the unpacked files by espnet's ``unpack``.
    """
    from avdm.asr.train import model_file

    model = Path(model)
    if not model.exists():
        raise FileNotFoundError(f"ASR model {model} not found: train one with `python -m avdm.bin.train_asr` "
                                "(recipe: --skip_asr false) or pass a packed ESPnet ASR model")
    if _is_archive(model):
        from espnet2.main_funcs.pack_funcs import unpack

        out = (Path(unpack_to) if unpack_to else unpacked_dir(model)).resolve()
        files = unpack(model, out)
        if "asr_train_config" not in files or "asr_model_file" not in files:
            raise ValueError(f"{model}: not a packed ESPnet ASR model (meta.yaml lists {sorted(files)})")
        config, weights = Path(files["asr_train_config"]), Path(files["asr_model_file"])
    elif model.is_dir():
        config, weights = model / "config.yaml", model_file(model)
    else:
        config, weights = model, model_file(model.parent)
    if not config.is_file():
        raise FileNotFoundError(f"{config}: no ASR config (expected an ESPnet ASR experiment dir)")
    with open(config, encoding="utf-8") as f:
        conf = yaml.safe_load(f) or {}
    bpe = conf.get("bpemodel")
    bpemodel = None
    if bpe and not Path(bpe).is_file():
        # the config names the file relative to where training ran; look beside the config too
        for cand in (config.parent / bpe, config.parent / "bpe" / Path(bpe).name, config.parent / Path(bpe).name):
            if cand.is_file():
                bpemodel = cand
                break
        else:
            raise FileNotFoundError(f"{config}: sentencepiece model {bpe} not found")
    return ASRModel(config, weights, bpemodel)


@contextlib.contextmanager
def _quiet_root(level=logging.WARNING):
    """espnet's beam search logs every hypothesis through the root logger at INFO."""
    root = logging.getLogger()
    old = root.level
    root.setLevel(max(level, old))
    try:
        yield
    finally:
        root.setLevel(old)


class Transcriber:
    """Speech2Text around one model; ``transcribe(x)`` gives the best hypothesis text (of the
    grammar when ``decode_conf`` names one, else of the beam search)."""

    def __init__(self, model, decode_conf: Optional[Dict] = None, device: str = "cpu"):
        from avdm.logging_setup import quiet_offline_noise

        quiet_offline_noise(g2p=True)
        from espnet2.bin.asr_inference import Speech2Text

        self.model = model if isinstance(model, ASRModel) else resolve_model(model)
        conf = dict(DEFAULT_DECODE)
        conf.update(decode_conf or {})
        grammar = conf.pop("grammar", None)
        self.lexicon = self._lexicon()
        if self.lexicon is not None and not grammar:
            raise ValueError(f"{self.model.config}: a phone-token ASR spells words only through a grammar; "
                             "set `grammar: grid` in the ASR decoding config")
        kwargs = dict(asr_train_config=str(self.model.config), asr_model_file=str(self.model.weights),
                      device=device, **conf)
        if self.model.bpemodel is not None:
            kwargs["bpemodel"] = str(self.model.bpemodel)
        with _quiet_root():
            self.s2t = Speech2Text(**kwargs)
        self.grammar = self._grammar_decoder(grammar) if grammar else None
        logger.info("ASR: %s (%s), decoding %s", self.model.config.parent, self.model.weights.name,
                    f"with the {grammar} grammar (CTC Viterbi)" if grammar else conf)

    def _lexicon(self):
        """The pronunciations of a phone-token (``phn``) model, from ``lexicon.txt`` beside its config."""
        with open(self.model.config, encoding="utf-8") as f:
            token_type = (yaml.safe_load(f) or {}).get("token_type")
        if token_type != "phn":
            return None
        from avdm.asr.lexicon import read_lexicon
        from avdm.asr.train import LEXICON

        return read_lexicon(self.model.config.parent / LEXICON)

    def _grammar_decoder(self, name: str):
        from avdm.asr.grammar_decode import GrammarDecoder, grammar_slots, tokenize_grammar

        tok, conv = self.s2t.tokenizer, self.s2t.converter
        if self.lexicon is not None:
            from avdm.asr.lexicon import lexicon_grammar

            try:
                words, ids = lexicon_grammar(grammar_slots(name), self.lexicon, conv.tokens2ids, conv.unk_id,
                                             self.s2t.asr_model.blank_id)
            except ValueError as e:
                raise ValueError(f"{self.model.config}: {e}") from None
            return GrammarDecoder(words, ids, self.s2t.asr_model.blank_id)
        if tok is None:
            raise ValueError(f"{self.model.config}: the ASR has no tokenizer (sentencepiece model missing), "
                             f"so the {name} grammar's words cannot be spelt")
        slots = grammar_slots(name)
        try:
            ids = tokenize_grammar(slots, lambda text: conv.tokens2ids(tok.text2tokens(text)), conv.unk_id,
                                   self.s2t.asr_model.blank_id)
        except ValueError as e:
            raise ValueError(f"{self.model.config}: {e}") from None
        return GrammarDecoder(slots, ids, self.s2t.asr_model.blank_id)

    def ctc_log_probs(self, x: np.ndarray) -> np.ndarray:
        """(frames, tokens) CTC log-posteriors of one utterance."""
        import torch

        model = self.s2t.asr_model
        speech = torch.as_tensor(np.asarray(x, np.float32)).unsqueeze(0).to(self.s2t.device)
        lengths = torch.tensor([speech.shape[1]], device=speech.device)
        with torch.no_grad():
            enc, enc_lens = model.encode(speech, lengths)
            if isinstance(enc, tuple):  # intermediate CTC outputs ride along
                enc = enc[0]
            return model.ctc.log_softmax(enc)[0, : int(enc_lens[0])].cpu().numpy()

    def transcribe(self, x: np.ndarray) -> str:
        import torch

        if self.grammar is not None:
            from avdm.asr.grammar_decode import TooFewFrames

            try:
                return " ".join(self.grammar.decode(self.ctc_log_probs(x)).words)
            except TooFewFrames as e:  # no sentence fits: every reference word is missed, as WER should count it
                logger.warning("ASR: %d samples: %s; empty hypothesis", len(x), e)
                return ""
        with _quiet_root(), torch.no_grad():
            results = self.s2t(torch.as_tensor(np.asarray(x, np.float32)))
        return results[0][0] if results and results[0][0] else ""


def load_decode_conf(path) -> Dict:
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        conf = yaml.safe_load(f) or {}
    allowed = {"beam_size", "ctc_weight", "lm_weight", "penalty", "nbest", "maxlenratio", "minlenratio",
               "normalize_length", "time_sync", "grammar"}
    unknown = sorted(set(conf) - allowed)
    if unknown:
        raise ValueError(f"{path}: unknown ASR decoding option(s) {unknown}; accepted: {sorted(allowed)}")
    if conf.get("grammar") is not None:
        from avdm.asr.grammar_decode import GRAMMARS

        if conf["grammar"] not in GRAMMARS:
            raise ValueError(f"{path}: unknown grammar '{conf['grammar']}'; known: {', '.join(GRAMMARS)}")
    return conf
