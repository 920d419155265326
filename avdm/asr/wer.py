"""Word error rate by a word-level Levenshtein alignment (substitutions, deletions, insertions)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Sequence

_PUNCT = re.compile(r"[^\w\s']")


def normalize_text(text: str) -> List[str]:
    """Lower-case words with punctuation removed (GRID transcripts are plain lower-case words)."""
    return _PUNCT.sub(" ", text.lower()).split()


@dataclass
class WordErrors:
    sub: int = 0
    dele: int = 0
    ins: int = 0
    ref_words: int = 0

    @property
    def errors(self) -> int:
        return self.sub + self.dele + self.ins

    @property
    def wer(self) -> float:
        """Percent; an empty reference gives 0 without errors and 100 per inserted word otherwise."""
        if self.ref_words == 0:
            return 100.0 * self.errors
        return 100.0 * self.errors / self.ref_words

    def __add__(self, other: "WordErrors") -> "WordErrors":
        return WordErrors(self.sub + other.sub, self.dele + other.dele, self.ins + other.ins,
                          self.ref_words + other.ref_words)


def word_errors(ref: Sequence[str], hyp: Sequence[str]) -> WordErrors:
    """Minimum-edit alignment of two word sequences; ties prefer substitutions (as sclite does)."""
    n, m = len(ref), len(hyp)
    # cost[i][j] = (edits, subs, dels, ins) aligning ref[:i] with hyp[:j]
    prev = [(j, 0, 0, j) for j in range(m + 1)]
    for i in range(1, n + 1):
        cur = [(i, 0, i, 0)]
        for j in range(1, m + 1):
            if ref[i - 1] == hyp[j - 1]:
                best = prev[j - 1]
            else:
                d = prev[j - 1]
                best = (d[0] + 1, d[1] + 1, d[2], d[3])
            d = prev[j]
            if d[0] + 1 < best[0]:
                best = (d[0] + 1, d[1], d[2] + 1, d[3])
            d = cur[j - 1]
            if d[0] + 1 < best[0]:
                best = (d[0] + 1, d[1], d[2], d[3] + 1)
            cur.append(best)
        prev = cur
    _, s, dl, ins = prev[m]
    return WordErrors(s, dl, ins, n)


def corpus_errors(refs: Dict[str, str], hyps: Dict[str, str], keys: Iterable[str] = None) -> Dict[str, WordErrors]:
    """Per-utterance errors of ``hyps`` against ``refs`` (texts); a hypothesis without reference is an error."""
    keys = sorted(hyps) if keys is None else list(keys)
    missing = [k for k in keys if k not in refs]
    if missing:
        raise KeyError(f"utterance '{missing[0]}' has no reference transcript"
                       + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    return {k: word_errors(normalize_text(refs[k]), normalize_text(hyps.get(k, ""))) for k in keys}


def total(errors: Iterable[WordErrors]) -> WordErrors:
    out = WordErrors()
    for e in errors:
        out = out + e
    return out
