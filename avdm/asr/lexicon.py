"""Pronunciation lexicon for phone-token ASR: words as phone sequences, so that words share units.

With phone tokens the GRID letters share their sounds with the other words ("b" with "bin", "blue",
"by"; every E-set letter its vowel with "green", "three", "please"), instead of each being a token
seen a few times in a small training set.  Training spells the transcripts with the first
pronunciation of each word; grammar decoding accepts every pronunciation of a word
(docs/experiments.md, "Grammar-constrained ASR for WER").

A lexicon file is Kaldi's ``lexicon.txt``: one pronunciation a line, ``word phone phone ...``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

from avdm.fileio import atomic_open, read_kv

Lexicon = Dict[str, List[Tuple[str, ...]]]

# The 51 GRID words in ARPAbet-like phones, dialect-neutral where espeak-ng's en-us and en-gb
# voices agree; "z" is "zee" (en-us) or "zed" (British), the first one spelling the transcripts.
_GRID = """
bin b ih n
lay l ey
place p l ey s
set s eh t
blue b l uw
green g r iy n
red r eh d
white w ay t
at ae t
by b ay
in ih n
with w ih dh
a ey
b b iy
c s iy
d d iy
e iy
f eh f
g jh iy
h ey ch
i ay
j jh ey
k k ey
l eh l
m eh m
n eh n
o ow
p p iy
q k y uw
r aa r
s eh s
t t iy
u y uw
v v iy
x eh k s
y w ay
z z iy
z z eh d
zero z ih r ow
one w ah n
two t uw
three th r iy
four f ao r
five f ay v
six s ih k s
seven s eh v ah n
eight ey t
nine n ay n
again ah g eh n
now n aw
please p l iy z
soon s uw n
"""


def parse_lexicon(lines: Sequence[str], where: str = "lexicon") -> Lexicon:
    lex: Lexicon = {}
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2:
            raise ValueError(f"{where}, line {n}: '{line.strip()}' has no phones (expected 'word phone ...')")
        prons = lex.setdefault(parts[0], [])
        if tuple(parts[1:]) not in prons:
            prons.append(tuple(parts[1:]))
    if not lex:
        raise ValueError(f"{where}: no pronunciations")
    return lex


GRID_LEXICON: Lexicon = parse_lexicon(_GRID.splitlines(), "the GRID lexicon")


def read_lexicon(path: Path) -> Lexicon:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no lexicon (a phone-token ASR needs the lexicon it was trained with)")
    return parse_lexicon(path.read_text(encoding="utf-8").splitlines(), str(path))


def write_lexicon(lex: Lexicon, path: Path) -> None:
    with atomic_open(path) as f:
        for word, prons in lex.items():
            for pron in prons:
                f.write(f"{word} {' '.join(pron)}\n")


def phone_transcripts(text_file: Path, out_file: Path, lex: Lexicon) -> Path:
    """Kaldi ``text`` in words -> the same utterances in phones (first pronunciation of each word).

    A word the lexicon lacks is an error naming the file, the utterance and the word(s)."""
    texts = read_kv(text_file, allow_empty_value=True)
    out, missing = [], {}
    for utt, text in texts.items():
        words = text.lower().split()
        unknown = [w for w in words if w not in lex]
        if unknown:
            missing[utt] = unknown
            continue
        out.append(f"{utt} {' '.join(p for w in words for p in lex[w][0])}".rstrip())
    if missing:
        utt, words = next(iter(missing.items()))
        more = f" (and {len(missing) - 1} more utterance(s))" if len(missing) > 1 else ""
        raise ValueError(f"{text_file}: utterance '{utt}' has word(s) {words} that the lexicon cannot "
                         f"spell{more}; phone tokens need every transcript word in the lexicon")
    with atomic_open(out_file) as f:
        f.write("\n".join(out) + "\n")
    return out_file


def lexicon_grammar(slots: Sequence[Sequence[str]], lex: Lexicon, tokens2ids: Callable[[List[str]], List[int]],
                    unk_id: int, blank_id: int = 0) -> Tuple[List[List[str]], List[List[List[int]]]]:
    """A slot grammar in phone-token ids, for ``GrammarDecoder(words, ids)``: every pronunciation of a
    word is an alternative of its slot (so a word may appear more than once in ``words``).

    A grammar word without pronunciation, or with a phone the model has no token for, is an error
    naming every such word."""
    words, ids, no_pron, bad_phone = [], [], [], []
    for slot in slots:
        slot_words, slot_ids = [], []
        for w in slot:
            if w not in lex:
                no_pron.append(w)
                continue
            for pron in lex[w]:
                t = [int(i) for i in tokens2ids(list(pron))]
                if unk_id in t or blank_id in t:
                    bad_phone.append(f"{w} ({' '.join(pron)})")
                slot_words.append(w)
                slot_ids.append(t)
        words.append(slot_words)
        ids.append(slot_ids)
    if no_pron:
        raise ValueError(f"the lexicon has no pronunciation of the grammar word(s) {no_pron}")
    if bad_phone:
        raise ValueError(f"the ASR's token list lacks a phone of {bad_phone}: its phones were learnt from "
                         "transcripts without them; retrain on a corpus that has them, or drop that pronunciation")
    return words, ids
