"""Grammar-constrained CTC decoding: the best sentence of a slot grammar from CTC log-posteriors.

A slot grammar is a fixed sequence of slots, each a choice of one word (GRID: command colour
preposition letter digit adverb, ``avdm.data.grid_grammar.SLOTS``).  Every word is a token-id
sequence of the ASR's token inventory.  The decoding graph is the CTC topology of the
concatenated slots: each word's tokens with optional blanks between them, one optional shared
blank state between two slots (and before the first and after the last), and a choice of word in
every slot.  A Viterbi pass over this graph finds the sentence whose best alignment scores
highest, exactly, in O(frames x graph edges): the 64,000 GRID sentences are never enumerated.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence

import numpy as np

Grammar = Sequence[Sequence[str]]


class TooFewFrames(ValueError):
    """The utterance has fewer frames than any sentence of the grammar needs."""


@dataclass
class GrammarResult:
    words: List[str]      # the chosen word of every slot
    score: float          # log-probability of the best alignment


GRAMMARS = ("grid",)


def grammar_slots(name: str) -> Grammar:
    """The slots of a named grammar (``grid``: ``avdm.data.grid_grammar.SLOTS``)."""
    if name == "grid":
        from avdm.data.grid_grammar import SLOTS

        return SLOTS
    raise ValueError(f"unknown grammar '{name}'; known: {', '.join(GRAMMARS)}")


def tokenize_grammar(slots: Grammar, text2ids: Callable[[str], Sequence[int]], unk_id: int,
                     blank_id: int = 0) -> List[List[List[int]]]:
    """Token ids of every word of every slot; a word the tokenizer cannot spell is an error.

    ``text2ids`` is the ASR's own tokenizer (text -> token ids), so that the words are spelt with the
    tokens the model was trained on.  A word after the first slot is spelt as it follows a word in a
    sentence (a character tokenizer puts its space token before it; sentencepiece spells it alone).
    An unknown (``unk_id``), blank or empty spelling is refused, naming every such word.
    """
    anchor = slots[0][0]
    anchor_ids = [int(i) for i in text2ids(anchor)]
    out, bad = [], []
    for s, slot in enumerate(slots):
        ids_of_slot = []
        for w in slot:
            if s == 0:
                ids = [int(i) for i in text2ids(w)]
            else:
                both = [int(i) for i in text2ids(f"{anchor} {w}")]
                if both[: len(anchor_ids)] != anchor_ids:
                    raise ValueError(f"the tokenizer spells '{anchor}' differently before '{w}': "
                                     "word boundaries are not token boundaries, the grammar cannot be used")
                ids = both[len(anchor_ids):]
            if not ids or unk_id in ids or blank_id in ids:
                bad.append(w)
            ids_of_slot.append(ids)
        out.append(ids_of_slot)
    if bad:
        raise ValueError(f"the ASR's token list cannot spell the grammar word(s) {bad} (unknown tokens): "
                         "its tokens were learnt from transcripts without them; retrain the ASR on a corpus "
                         "that has every grammar word, or decode without the grammar")
    return out


class _Graph:
    """States and predecessor table of the CTC slot graph (built once per grammar)."""

    def __init__(self, slots_ids: Sequence[Sequence[Sequence[int]]], blank_id: int):
        if not slots_ids or any(len(s) == 0 for s in slots_ids):
            raise ValueError("a grammar needs at least one slot and one word in every slot")
        labels: List[int] = []
        preds: List[List[int]] = []
        self.word_of_state: List[tuple] = []  # (slot, word) of a word state; (-1, -1) for slot blanks

        def add(label: int, where: tuple) -> int:
            labels.append(label)
            preds.append([])
            self.word_of_state.append(where)
            return len(labels) - 1

        n_slots = len(slots_ids)
        boundary = [add(blank_id, (-1, -1)) for _ in range(n_slots + 1)]  # blank before slot s / after last
        for b in boundary:
            preds[b].append(b)
        prev_last: List[int] = []       # last-token states of the previous slot's words
        starts: List[int] = [boundary[0]]
        for s, words in enumerate(slots_ids):
            last_states = []
            for w, ids in enumerate(words):
                states = []  # token, blank, token, ..., token
                for k, tok in enumerate(ids):
                    if k > 0:
                        states.append(add(blank_id, (s, w)))
                    states.append(add(tok, (s, w)))
                for i, st in enumerate(states):
                    preds[st].append(st)
                    if i > 0:
                        preds[st].append(states[i - 1])
                    # skip the blank between two tokens unless they are the same token
                    if i >= 2 and i % 2 == 0 and labels[states[i - 2]] != labels[st]:
                        preds[st].append(states[i - 2])
                first = states[0]
                preds[first].append(boundary[s])
                for p in prev_last:  # straight from the previous word's last token, unless repeated
                    if labels[p] != labels[first]:
                        preds[first].append(p)
                if s == 0:
                    starts.append(first)
                preds[boundary[s + 1]].append(states[-1])
                last_states.append(states[-1])
            prev_last = last_states
        self.labels = np.asarray(labels, dtype=np.int64)
        self.n_states = len(labels)
        width = max(len(p) for p in preds)
        # padded predecessor table; index n_states is a -inf sentinel
        self.pred = np.full((self.n_states, width), self.n_states, dtype=np.int64)
        for i, p in enumerate(preds):
            self.pred[i, : len(p)] = p
        self.starts = np.asarray(starts, dtype=np.int64)
        self.finals = np.asarray([boundary[-1]] + prev_last, dtype=np.int64)
        self.n_slots = n_slots


class GrammarDecoder:
    """Best sentence of a slot grammar under CTC log-posteriors (Viterbi over the slot graph).

    ``slots_ids[s][w]`` is the token-id sequence of word ``w`` of slot ``s`` (see
    ``tokenize_grammar``); ``words[s][w]`` its text.
    """

    def __init__(self, words: Grammar, slots_ids: Sequence[Sequence[Sequence[int]]], blank_id: int = 0):
        if [len(s) for s in words] != [len(s) for s in slots_ids]:
            raise ValueError("words and their token ids differ in shape")
        self.words = [list(s) for s in words]
        self.graph = _Graph(slots_ids, blank_id)

    def decode(self, logp: np.ndarray) -> GrammarResult:
        """``logp``: (frames, vocabulary) CTC log-posteriors of one utterance."""
        logp = np.asarray(logp, dtype=np.float64)
        if logp.ndim != 2:
            raise ValueError(f"expected (frames, vocabulary) log-posteriors, got shape {logp.shape}")
        g = self.graph
        if g.labels.max() >= logp.shape[1]:
            raise ValueError(f"the grammar uses token id {int(g.labels.max())} but the posteriors have "
                             f"{logp.shape[1]} tokens: wrong token list for this model")
        n_frames = logp.shape[0]
        if n_frames == 0:
            raise TooFewFrames("0 frames are too few to align any sentence of the grammar")
        emit = logp[:, g.labels]                       # (frames, states)
        score = np.full(g.n_states + 1, -np.inf)
        score[g.starts] = emit[0, g.starts]
        back = np.zeros((n_frames, g.n_states), dtype=np.int64)
        rows = np.arange(g.n_states)
        for t in range(1, n_frames):
            cand = score[g.pred]                       # (states, in-degree)
            arg = cand.argmax(axis=1)
            back[t] = g.pred[rows, arg]
            score[:-1] = cand[rows, arg] + emit[t]
        final_scores = score[g.finals]
        if not np.isfinite(final_scores.max()):
            raise TooFewFrames(f"{n_frames} frames are too few to align any sentence of the grammar")
        state = int(g.finals[final_scores.argmax()])
        best = float(final_scores.max())
        chosen: Dict[int, int] = {}
        for t in range(n_frames - 1, -1, -1):
            s, w = g.word_of_state[state]
            if s >= 0:
                chosen[s] = w
            state = int(back[t, state])
        return GrammarResult([self.words[s][chosen[s]] for s in range(g.n_slots)], best)


def greedy_ctc(logp: np.ndarray, blank_id: int = 0) -> List[int]:
    """Unconstrained best-path CTC decoding: argmax per frame, repeats merged, blanks removed."""
    best = np.asarray(logp).argmax(axis=1)
    out, prev = [], None
    for tok in best.tolist():
        if tok != prev and tok != blank_id:
            out.append(tok)
        prev = tok
    return out
