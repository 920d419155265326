"""Phone tokens for the WER ASR: the GRID lexicon, phone transcripts, and grammar decoding through
the lexicon (avdm.asr.lexicon) on a handmade posterior: no trained model."""
import numpy as np
import pytest

from avdm.asr.grammar_decode import GrammarDecoder
from avdm.asr.lexicon import GRID_LEXICON, lexicon_grammar, parse_lexicon, phone_transcripts, read_lexicon, write_lexicon

BLANK = 0


def test_grid_lexicon_spells_every_grid_word_and_tells_the_words_of_a_slot_apart():
    from avdm.data.grid_grammar import SLOTS, VOCABULARY

    assert sorted(GRID_LEXICON) == VOCABULARY
    assert GRID_LEXICON["z"] == [("z", "iy"), ("z", "eh", "d")]  # "zee" spells the transcripts, "zed" also decodes
    assert GRID_LEXICON["b"] == [("b", "iy")] and GRID_LEXICON["bin"] == [("b", "ih", "n")]
    for slot in SLOTS:
        prons = [p for w in slot for p in GRID_LEXICON[w]]
        assert len(set(prons)) == len(prons), slot


def test_phone_transcripts_and_lexicon_file_round_trip(tmp_path):
    (tmp_path / "text").write_text("u1 bin blue at z two now\nu2 SET red by b nine again\n")
    out = phone_transcripts(tmp_path / "text", tmp_path / "text_phn", GRID_LEXICON)
    assert out.read_text().splitlines() == [
        "u1 b ih n b l uw ae t z iy t uw n aw",
        "u2 s eh t r eh d b ay b iy n ay n ah g eh n"]
    write_lexicon(GRID_LEXICON, tmp_path / "lexicon.txt")
    assert read_lexicon(tmp_path / "lexicon.txt") == GRID_LEXICON
    assert "z z eh d" in (tmp_path / "lexicon.txt").read_text().splitlines()


def test_words_the_lexicon_lacks_are_named_with_their_utterance(tmp_path):
    (tmp_path / "text").write_text("u1 bin blue at a two now\nu2 bin blue at a two later\nu3 go home\n")
    with pytest.raises(ValueError, match=r"text: utterance 'u2' has word\(s\) \['later'\] that the lexicon "
                                         r"cannot spell \(and 1 more utterance\(s\)\)"):
        phone_transcripts(tmp_path / "text", tmp_path / "out", GRID_LEXICON)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="line 2: 'bin' has no phones"):
        parse_lexicon(["a ey", "bin"], "lex")
    with pytest.raises(FileNotFoundError, match="no lexicon"):
        read_lexicon(tmp_path / "nope.txt")


def test_grammar_decoding_through_the_lexicon_picks_the_word_by_its_phones():
    # phones: 1 b, 2 iy, 3 ih, 4 n, 5 z, 6 eh, 7 d; grammar: (bin | in) (b | z) ; z = "z iy" or "z eh d"
    phone_id = {"b": 1, "iy": 2, "ih": 3, "n": 4, "z": 5, "eh": 6, "d": 7}
    lex = parse_lexicon(["bin b ih n", "in ih n", "b b iy", "z z iy", "z z eh d"])
    words, ids = lexicon_grammar([["bin", "in"], ["b", "z"]], lex,
                                 lambda phones: [phone_id.get(p, 99) for p in phones], unk_id=99)
    assert words == [["bin", "in"], ["b", "z", "z"]]
    assert ids == [[[1, 3, 4], [3, 4]], [[1, 2], [5, 2], [5, 6, 7]]]
    dec = GrammarDecoder(words, ids, BLANK)

    def post(frames):  # one row of probabilities per frame: {token: p}, the rest spread evenly
        p = np.full((len(frames), 8), 0.02)
        for t, row in enumerate(frames):
            for k, v in row.items():
                p[t, k] = v
        return np.log(p / p.sum(1, keepdims=True))

    # "ih n" then a "b iy" whose b is weak: the grammar still reads "in b" ...
    frames = [{3: .9}, {4: .9}, {0: .9}, {1: .5, 5: .3}, {2: .9}]
    assert dec.decode(post(frames)).words == ["in", "b"]
    # ... "z eh d" is the second pronunciation of z
    res = dec.decode(post([{1: .9}, {3: .9}, {4: .9}, {5: .9}, {6: .9}, {7: .9}]))
    assert res.words == ["bin", "z"]
    # exact score: the best alignment takes the peak of each of the six frames
    assert res.score == pytest.approx(6 * np.log(.9 / (.9 + 7 * .02)))


def test_grammar_words_without_pronunciation_or_phone_token_are_errors():
    lex = parse_lexicon(["bin b ih n", "in ih n"])
    with pytest.raises(ValueError, match=r"no pronunciation of the grammar word\(s\) \['lay'\]"):
        lexicon_grammar([["bin", "lay"]], lex, lambda ph: [1] * len(ph), unk_id=9)
    with pytest.raises(ValueError, match=r"lacks a phone of \['bin \(b ih n\)'\]"):
        lexicon_grammar([["bin", "in"]], lex, lambda ph: [{"ih": 2, "n": 3}.get(p, 9) for p in ph], unk_id=9)

