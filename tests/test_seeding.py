"""Per-utterance seeds (avdm.seeding): pinned values, since stored results were drawn with them."""
import hashlib

import numpy as np

from avdm.seeding import utt_hash, utt_rng, utt_seed


def test_the_hash_is_the_first_32_bits_of_the_md5_of_the_name():
    assert utt_hash("s1_bbaf2n") == 1467732857 == int(hashlib.md5(b"s1_bbaf2n").hexdigest()[:8], 16)


def test_decoding_seeds_are_pinned_and_below_2_to_the_31():
    assert utt_seed(0, "s1_bbaf2n") == 1467732857
    assert utt_seed(3, "s1_bbaf2n") == 1467732857 + 3 * 7919
    assert utt_seed(2 ** 40, "x") == 500491361 < 2 ** 31


def test_numpy_generators_of_an_utterance_are_pinned():
    assert utt_rng("s1_bbaf2n").integers(0, 2 ** 31, 3).tolist() == [61576079, 243962782, 1662149836]
    assert utt_rng("s1_bbaf2n", 7).integers(0, 2 ** 31, 3).tolist() == [50236535, 471709233, 72079427]
    assert not np.array_equal(utt_rng("a").random(4), utt_rng("b").random(4))


def test_every_caller_uses_the_one_implementation():
    import avdm.bench.peer_data as peer_data
    import avdm.inference.decode_config as decode_config
    import avdm.preprocess as preprocess

    assert decode_config.utt_seed is utt_seed and peer_data.utt_rng is utt_rng and preprocess.utt_rng is utt_rng
    pp = preprocess.AVPreprocessor(train=False)
    assert np.array_equal(pp._rng("s1_bbaf2n").random(3), utt_rng("s1_bbaf2n").random(3))
