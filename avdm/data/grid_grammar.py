"""The GRID sentence grammar and its file-name code.

A GRID sentence is ``command colour preposition letter digit adverb``; the utterance name is the
initial of each word, with the digit written as a number (zero as ``z``): ``bbaf2n`` is
"bin blue at f two now".  There are 4 * 4 * 4 * 25 * 10 * 4 = 64,000 sentences and 51 words.
"""
from __future__ import annotations

import random
from typing import List, Sequence

COMMANDS = ("bin", "lay", "place", "set")
COLOURS = ("blue", "green", "red", "white")
PREPOSITIONS = ("at", "by", "in", "with")
LETTERS = tuple(c for c in "abcdefghijklmnopqrstuvxyz")  # no 'w' in GRID
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ADVERBS = ("again", "now", "please", "soon")
SLOTS: Sequence[Sequence[str]] = (COMMANDS, COLOURS, PREPOSITIONS, LETTERS, DIGITS, ADVERBS)
DIGIT_CODES = ("z", "1", "2", "3", "4", "5", "6", "7", "8", "9")

VOCABULARY = sorted({w for slot in SLOTS for w in slot})


def sentence_to_name(words: Sequence[str]) -> str:
    """``["bin", "blue", "at", "f", "two", "now"]`` -> ``"bbaf2n"``."""
    if len(words) != 6:
        raise ValueError(f"a GRID sentence has 6 words, got {len(words)}: {' '.join(words)}")
    for word, slot in zip(words, SLOTS):
        if word not in slot:
            raise ValueError(f"'{word}' is not a GRID word in its position ({'/'.join(slot[:5])}...)")
    digit = DIGIT_CODES[DIGITS.index(words[4])]
    return f"{words[0][0]}{words[1][0]}{words[2][0]}{words[3]}{digit}{words[5][0]}"


def name_to_sentence(name: str) -> List[str]:
    """``"bbaf2n"`` -> ``["bin", "blue", "at", "f", "two", "now"]``; ValueError when not GRID."""
    if len(name) != 6:
        raise ValueError(f"'{name}' is not a GRID utterance name (6 characters expected)")
    out = []
    for i, (code, slot) in enumerate(zip(name.lower(), SLOTS)):
        if i == 3:
            word = code if code in LETTERS else None
        elif i == 4:
            word = DIGITS[DIGIT_CODES.index(code)] if code in DIGIT_CODES else None
        else:
            matches = [w for w in slot if w[0] == code]
            word = matches[0] if len(matches) == 1 else None
        if word is None:
            raise ValueError(f"'{name}' is not a GRID utterance name (position {i + 1}: '{code}')")
        out.append(word)
    return out


def random_sentence(rng: random.Random) -> List[str]:
    return [rng.choice(slot) for slot in SLOTS]


def spoken_form(words: Sequence[str]) -> str:
    """Text for a TTS engine: letters spelt out so they are said as letter names."""
    out = []
    for i, w in enumerate(words):
        out.append(w.upper() if i == 3 else w)
    return " ".join(out)
