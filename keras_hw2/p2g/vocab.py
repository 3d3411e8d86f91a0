"""Token vocabularies: PAD=0, SOS=1, EOS=2, UNK=3, then the training symbols in sorted order."""
import tensorflow as tf

PAD, SOS, EOS, UNK = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<sos>", "<eos>", "<unk>")


class Vocabulary:
    """A fixed list of tokens; index i is token i, the four special tokens first.

    Lookups run inside TensorFlow graphs (`tf.lookup.StaticHashTable`, a core
    op), so the same mapping serves tf.data, the CLI and
    the exported SavedModel. A symbol never seen in training maps to UNK.

    Args:
        tokens: every token in index order, starting with `SPECIAL_TOKENS`.

    Example:
    >>> vocab = Vocabulary.from_sequences([["a", "b"], ["b", "c"]])
    >>> vocab.tokens
    ['<pad>', '<sos>', '<eos>', '<unk>', 'a', 'b', 'c']
    """

    def __init__(self, tokens):
        tokens = list(tokens)
        if tuple(tokens[:4]) != SPECIAL_TOKENS:
            raise ValueError(f"a vocabulary must start with {SPECIAL_TOKENS}. Received: tokens={tokens[:4]}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("a vocabulary must not repeat a token. Received: tokens with duplicates")
        self.tokens = tokens
        self._table = None

    @classmethod
    def from_sequences(cls, sequences) -> "Vocabulary":
        """All distinct symbols of `sequences` (iterables of strings), sorted, after the specials."""
        symbols = sorted({s for seq in sequences for s in seq} - set(SPECIAL_TOKENS))
        return cls([*SPECIAL_TOKENS, *symbols])

    @property
    def table(self) -> tf.lookup.StaticHashTable:
        """string -> id lookup table; unknown strings give UNK."""
        if self._table is None:
            with tf.init_scope():  # created eagerly even when first used inside a graph
                self._table = self._make_table()
        return self._table

    def _make_table(self):
        initializer = tf.lookup.KeyValueTensorInitializer(
            tf.constant(self.tokens), tf.range(len(self.tokens), dtype=tf.int32))
        return tf.lookup.StaticHashTable(initializer, default_value=UNK)

    def lookup(self, tokens):
        """Ids of string `tokens` (a tensor or `tf.RaggedTensor`), int32, same shape.

        Example:
        >>> Vocabulary([*SPECIAL_TOKENS, "a", "b"]).lookup(tf.constant(["b", "a", "z"])).numpy().tolist()
        [5, 4, 3]
        """
        if isinstance(tokens, tf.RaggedTensor):
            return tokens.with_flat_values(self.table.lookup(tokens.flat_values))
        return self.table.lookup(tokens)
