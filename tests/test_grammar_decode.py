"""Grammar-constrained CTC decoding (avdm.asr.grammar_decode) on synthetic posteriors: no trained model."""
import itertools

import numpy as np
import pytest

from avdm.asr.grammar_decode import GrammarDecoder, TooFewFrames, greedy_ctc, tokenize_grammar

BLANK = 0


def _posteriors(path, vocab, peak=0.9, rng=None):
    """Log-posteriors whose per-frame argmax is ``path`` (one token id per frame)."""
    rest = (1 - peak) / (vocab - 1)
    p = np.full((len(path), vocab), rest)
    p[np.arange(len(path)), path] = peak
    if rng is not None:
        p *= rng.uniform(0.9, 1.1, p.shape)
        p /= p.sum(1, keepdims=True)
    return np.log(p)


def _ctc_viterbi(logp, labels):
    """Best-alignment log-probability of one token sequence (the textbook CTC recursion, max for sum)."""
    ext = [BLANK]
    for y in labels:
        ext += [y, BLANK]
    n = len(ext)
    a = np.full(n, -np.inf)
    a[0] = logp[0, ext[0]]
    a[1] = logp[0, ext[1]]
    for t in range(1, len(logp)):
        b = a.copy()
        for s in range(n):
            best = a[s]
            if s >= 1:
                best = max(best, a[s - 1])
            if s >= 2 and ext[s] != BLANK and ext[s] != ext[s - 2]:
                best = max(best, a[s - 2])
            b[s] = best + logp[t, ext[s]]
        a = b
    return max(a[-1], a[-2])


def test_recovers_the_exact_sentence_with_blanks_and_repeated_tokens():
    # tokens: 1 "x", 2 "y", 3 "z", 4 "w"
    words = [["xx", "x", "y"], ["xy", "z"], ["x", "w"]]
    ids = [[[1, 1], [1], [2]], [[1, 2], [3]], [[1], [4]]]
    dec = GrammarDecoder(words, ids, BLANK)
    # "xx xy x": tokens 1 1 | 1 2 | 1, each repeat separated by a blank
    path = [0, 1, 1, 0, 1, 0, 0, 1, 2, 2, 0, 1, 1, 0]
    res = dec.decode(_posteriors(path, 5))
    assert res.words == ["xx", "xy", "x"]
    # without the blank between the two x's of "xx", they merge: the sentence is "x xy x"
    assert dec.decode(_posteriors([0, 1, 1, 0, 1, 2, 0, 1, 0], 5)).words == ["x", "xy", "x"]
    # a word straight after another without a blank (different tokens)
    assert dec.decode(_posteriors([2, 2, 3, 4, 4], 5)).words == ["y", "z", "w"]


def test_grammar_corrects_what_greedy_decoding_gets_wrong():
    # tokens: 1 "bin", 2 "lay", 3 "blue", 4 "red", 5 "at", 6 "now" (6 is not in the grammar's 2nd slot)
    words = [["bin", "lay"], ["blue", "red"]]
    ids = [[[1], [2]], [[3], [4]]]
    vocab = 7
    p = np.full((6, vocab), 0.01)
    p[0, BLANK] = p[5, BLANK] = 0.9
    p[1, 1] = 0.8                 # "bin"
    p[2, BLANK] = 0.8
    p[3, 6], p[3, 4] = 0.5, 0.4   # "now" (outside the grammar) narrowly beats "red"
    p[4, BLANK] = 0.8
    logp = np.log(p / p.sum(1, keepdims=True))
    assert greedy_ctc(logp, BLANK) == [1, 6]  # "bin now": not a sentence
    assert GrammarDecoder(words, ids, BLANK).decode(logp).words == ["bin", "red"]


def test_viterbi_is_exact_against_enumerating_every_sentence():
    rng = np.random.default_rng(0)
    words = [["a", "aa", "ba"], ["a", "b", "ab"], ["b", "bb"]]
    spell = {"a": [1], "b": [2], "aa": [1, 1], "ba": [2, 1], "ab": [1, 2], "bb": [2, 2]}
    ids = [[spell[w] for w in slot] for slot in words]
    dec = GrammarDecoder(words, ids, BLANK)
    for trial in range(20):
        logp = np.log(rng.dirichlet(np.ones(3) * 0.5, size=int(rng.integers(6, 14))))
        scores = {s: _ctc_viterbi(logp, [t for w in s for t in spell[w]]) for s in itertools.product(*words)}
        best = max(scores.values())
        res = dec.decode(logp)
        assert res.score == pytest.approx(best, abs=1e-9)
        assert scores[tuple(res.words)] == pytest.approx(best, abs=1e-9)


def test_grid_grammar_one_token_per_word():
    from avdm.data.grid_grammar import SLOTS, VOCABULARY

    token = {w: i + 1 for i, w in enumerate(VOCABULARY)}
    ids = tokenize_grammar(SLOTS, lambda text: [token[w] for w in text.split()], unk_id=-1)
    dec = GrammarDecoder(SLOTS, ids, BLANK)
    sentence = ["set", "white", "with", "q", "seven", "again"]
    path = [0, 0]
    for w in sentence:
        path += [token[w]] * 3 + [0, 0]
    rng = np.random.default_rng(1)
    assert dec.decode(_posteriors(path, len(VOCABULARY) + 1, peak=0.3, rng=rng)).words == sentence


def test_too_few_frames_and_wrong_vocabulary_are_errors():
    dec = GrammarDecoder([["a"], ["b"]], [[[1]], [[1]]], BLANK)  # "a a" needs a blank between: 3 frames
    with pytest.raises(TooFewFrames, match="2 frames are too few"):
        dec.decode(np.log(np.full((2, 3), 1 / 3)))
    assert dec.decode(np.log(np.full((3, 3), 1 / 3))).words == ["a", "b"]
    with pytest.raises(TooFewFrames, match="0 frames are too few"):
        dec.decode(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="token id 1 but the posteriors have 1 tokens"):
        dec.decode(np.zeros((4, 1)))


def test_char_tokens_put_the_space_token_before_later_words():
    chars = {"<space>": 1, "a": 2, "b": 3}

    def text2ids(text):  # as espnet's char tokenizer: one token per character, "<space>" between words
        return [chars["<space>"] if c == " " else chars.get(c, 99) for c in text]

    ids = tokenize_grammar([["ab", "b"], ["a"]], text2ids, unk_id=99)
    assert ids == [[[2, 3], [3]], [[1, 2]]]


def test_words_the_tokenizer_cannot_spell_are_named():
    known = {"bin": 2, "blue": 3}
    with pytest.raises(ValueError, match=r"cannot spell the grammar word\(s\) \['lay', 'red'\]"):
        tokenize_grammar([["bin", "lay"], ["blue", "red"]], lambda t: [known.get(w, 1) for w in t.split()], unk_id=1)


def test_sentencepiece_tokens_of_the_grid_words(tmp_path):
    """The recipe's sentencepiece training: every GRID word is spelt when the corpus has every word;
    a letter never seen in training is unknown, and that is a clear error."""
    import random

    import sentencepiece as spm

    from avdm.asr.train import train_sentencepiece
    from avdm.data.grid_grammar import SLOTS, random_sentence

    def sp_ids(bpe_dir):
        sp = spm.SentencePieceProcessor(model_file=str(bpe_dir / "bpe.model"))
        tokens = (bpe_dir / "tokens.txt").read_text().split()
        index = {t: i for i, t in enumerate(tokens)}
        return lambda text: [index.get(p, 1) for p in sp.encode(text, out_type=str)]

    rng = random.Random(0)
    lines = [f"u{i} {' '.join(random_sentence(rng))}" for i in range(300)]
    lines += [f"v{i} {' '.join(w)}" for i, w in enumerate(zip(*[itertools.islice(itertools.cycle(s), 25)
                                                                for s in SLOTS]))]
    (tmp_path / "text").write_text("\n".join(lines) + "\n")
    train_sentencepiece(tmp_path / "text", tmp_path / "bpe", vocab_size=100)
    ids = tokenize_grammar(SLOTS, sp_ids(tmp_path / "bpe"), unk_id=1)
    assert all(len(w) >= 1 for slot in ids for w in slot)
    # the spellings of the words of one slot differ, so every sentence is decodable
    assert all(len({tuple(w) for w in slot}) == len(slot) for slot in ids)

    no_q = [ln for ln in lines if " q " not in ln]
    (tmp_path / "text_no_q").write_text("\n".join(no_q) + "\n")
    train_sentencepiece(tmp_path / "text_no_q", tmp_path / "bpe_no_q", vocab_size=100)
    with pytest.raises(ValueError, match=r"cannot spell the grammar word\(s\) \['q'\]"):
        tokenize_grammar(SLOTS, sp_ids(tmp_path / "bpe_no_q"), unk_id=1)


def test_decode_conf_accepts_a_known_grammar_only(tmp_path):
    from avdm.asr.decode import load_decode_conf

    (tmp_path / "ok.yaml").write_text("grammar: grid\nbeam_size: 4\n")
    assert load_decode_conf(tmp_path / "ok.yaml")["grammar"] == "grid"
    (tmp_path / "bad.yaml").write_text("grammar: timit\n")
    with pytest.raises(ValueError, match="unknown grammar 'timit'; known: grid"):
        load_decode_conf(tmp_path / "bad.yaml")
