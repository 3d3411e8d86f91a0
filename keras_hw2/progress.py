"""Progress bars for long steps (decoding many words, beam search, Hopfield retrieval).

A `keras.utils.Progbar` written to stderr, so that what a command prints on
stdout (results, ``--json``) stays clean. ``verbose`` follows Keras: ``"auto"``
is a live bar on a terminal and one summary line when done otherwise; ``0`` is
silent (``--quiet``); ``1`` and ``2`` are Keras's own modes.
"""
import contextlib
import sys

import keras


class Progress:
    """A progress bar over `target` units of work, on stderr.

    Args:
        target: the number of units (words, retrievals, ...).
        unit_name: what one unit is called, e.g. ``"word"``.
        verbose: ``"auto"``, 0, 1 or 2 (see the module docstring).

    Example:
    >>> progress = Progress(3, unit_name="word", verbose=0)
    >>> progress.add(3)
    """

    def __init__(self, target: int, unit_name: str = "step", verbose="auto"):
        if verbose == "auto":
            verbose = 1 if sys.stderr.isatty() else 2
        self.verbose = verbose
        self.bar = keras.utils.Progbar(target, verbose=verbose, unit_name=unit_name) if verbose else None

    def add(self, n: int) -> None:
        """Count `n` more units done."""
        if self.bar is not None:
            with contextlib.redirect_stdout(sys.stderr):  # Progbar writes to sys.stdout
                self.bar.add(n)
