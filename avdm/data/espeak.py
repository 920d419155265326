"""espeak-ng speech with phoneme timings, through the library shipped by ``espeakng-loader``.

The synthesiser runs in synchronous mode; its callback receives audio blocks and events.  With
phoneme events enabled each phoneme arrives as an event carrying its mnemonic and its position in
the audio, which drives the mouth animation of the mini-GRID videos.
"""
from __future__ import annotations

import ctypes
import logging
import threading
import zlib
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_POS_CHARACTER = 1
_CHARS_AUTO = 0
_EVENT_WORD = 1
_EVENT_PHONEME = 7
_EVENT_LIST_TERMINATED = 0
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4

logger = logging.getLogger(__name__)


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


@dataclass
class Phoneme:
    symbol: str
    start: float  # seconds
    end: float


@dataclass
class Utterance:
    audio: np.ndarray  # float32 mono
    sample_rate: int
    phonemes: List[Phoneme]
    words: List[Tuple[str, float, float]]  # (word, start, end) in seconds


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice: language+variant name, pitch (0-100), pitch range, rate (words/min)."""

    name: str = "en"
    pitch: int = 50
    pitch_range: int = 50
    rate: int = 170


class Espeak:
    """One espeak-ng instance per process (the library keeps global state).

    Two kinds of state make espeak-ng's output vary, and both are pinned where they can be:
    the voices with breath noise (f2, f3, f5) draw from a random generator the library seeds
    from the clock, so every synthesis reseeds it (from ``seed``, or from the text and voice);
    and the pitch flutter carries its phase from one synthesis to the next within a process, so
    the same calls give the same samples only in the same order in a fresh process.
    """

    _instance: Optional["Espeak"] = None
    _lock = threading.Lock()

    def __init__(self):
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        data = espeakng_loader.get_data_path().encode()
        rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INIT_PHONEME_EVENTS)
        if rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise (data path {data.decode()})")
        self.sample_rate = rate
        self._chunks: List[np.ndarray] = []
        self._events: List[Tuple[int, int, str, int, int]] = []
        self._cb = _CALLBACK(self._callback)  # keep a reference: the library calls it
        self.lib.espeak_SetSynthCallback(self._cb)
        self._set_seed = getattr(self.lib, "espeak_ng_SetRandSeed", None)
        if self._set_seed is None:
            logger.warning("this espeak-ng has no espeak_ng_SetRandSeed: voices with breath noise "
                           "will differ from run to run")
        else:
            self._set_seed.argtypes = [ctypes.c_long]

    @classmethod
    def get(cls) -> "Espeak":
        with cls._lock:
            if cls._instance is None:
                cls._instance = Espeak()
            return cls._instance

    def _callback(self, wav, n, events):
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            symbol = ev.id.string.decode(errors="replace") if ev.type == _EVENT_PHONEME else ""
            self._events.append((ev.type, ev.audio_position, symbol, ev.text_position, ev.length))
            i += 1
        return 0

    def synthesize(self, text: str, voice: Voice = Voice(), seed: Optional[int] = None) -> Utterance:
        """``seed`` drives the breath noise; by default it is derived from the text and voice."""
        if seed is None:
            seed = zlib.crc32(f"{voice}|{text}".encode())
        with self._lock:
            if self._set_seed is not None:
                self._set_seed(int(seed) & 0x7FFFFFFF)
            if self.lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice '{voice.name}'")
            self.lib.espeak_SetParameter(_PARAM_RATE, int(voice.rate), 0)
            self.lib.espeak_SetParameter(_PARAM_PITCH, int(voice.pitch), 0)
            self.lib.espeak_SetParameter(_PARAM_RANGE, int(voice.pitch_range), 0)
            self.lib.espeak_SetParameter(_PARAM_VOLUME, 100, 0)
            self._chunks, self._events = [], []
            buf = ctypes.create_string_buffer(text.encode())
            err = self.lib.espeak_Synth(buf, len(buf), 0, _POS_CHARACTER, 0, _CHARS_AUTO, None, None)
            if err != 0:
                raise RuntimeError(f"espeak-ng synthesis failed (error {err}) for '{text}'")
            self.lib.espeak_Synchronize()
            pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
            events = list(self._events)
        audio = pcm.astype(np.float32) / 32768.0
        dur = len(audio) / self.sample_rate
        return Utterance(audio, self.sample_rate, _phonemes(events, dur), _words(events, text, dur))


def _phonemes(events, duration: float) -> List[Phoneme]:
    ph = [(pos / 1000.0, sym) for typ, pos, sym, _, _ in events if typ == _EVENT_PHONEME and sym.strip()]
    out = []
    for i, (start, sym) in enumerate(ph):
        end = ph[i + 1][0] if i + 1 < len(ph) else duration
        if end > start:
            out.append(Phoneme(sym, start, end))
    return out


def _words(events, text: str, duration: float):
    ws = [(pos / 1000.0, tpos, length) for typ, pos, _, tpos, length in events if typ == _EVENT_WORD]
    out = []
    for i, (start, tpos, length) in enumerate(ws):
        end = ws[i + 1][0] if i + 1 < len(ws) else duration
        word = text[max(tpos - 1, 0):max(tpos - 1, 0) + length]
        out.append((word, start, end))
    return out
