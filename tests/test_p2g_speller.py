"""keras_hw2.p2g.speller: the XLA-compiled greedy path spells exactly as the uncompiled one."""
import numpy as np
import pytest
import tensorflow as tf

from keras_hw2.p2g.models import Seq2Seq
from keras_hw2.p2g.speller import SOURCE_BUCKET, Speller
from keras_hw2.p2g.vocab import SPECIAL_TOKENS


@pytest.mark.parametrize("use_attention", [True, False])
def test_jit_compiled_greedy_equals_uncompiled(use_attention):
    tf.keras.utils.set_random_seed(0)
    model = Seq2Seq([*SPECIAL_TOKENS, "k", "æ", "t", "s"], [*SPECIAL_TOKENS, "c", "a", "t", "s"], units=8,
                    use_attention=use_attention)
    model((tf.ones((1, 3), tf.int32), tf.ones((1, 2), tf.int32)))  # builds the weights
    words = ["k æ t", "s", "", "t æ k s k æ t s t", "k zz"]  # source lengths 3, 1, 0, 10 (> SOURCE_BUCKET), 2
    assert max(len(w.split()) for w in words) > SOURCE_BUCKET
    plain, compiled = Speller(model), Speller(model, jit_compile=True)
    expected, got = plain.greedy(words), compiled.greedy(words)
    assert got["spellings"].numpy().tolist() == expected["spellings"].numpy().tolist()
    np.testing.assert_allclose(got["log_probs"], expected["log_probs"], rtol=1e-5, atol=1e-5)
    for word in words:  # one word at a time: other batch and bucket shapes
        assert compiled.greedy([word])["spellings"].numpy().tolist() == \
            plain.greedy([word])["spellings"].numpy().tolist()
