"""The project's two exception types: bad input (exit status 2) and a training that could not go on (exit status 3)."""


class InputError(ValueError):
    """Bad user input: a file, key, shape or argument that cannot be used.

    The message is a single line that names the file, line, key or shape at
    fault. CLIs print it as `error: <message>` and exit with status 2, before
    any training time is spent and without writing anything.
    """


class TrainingError(RuntimeError):
    """A training that started but could not go on: the loss became non-finite, or a worker was lost.

    The input was fine and the run directory records how far it got
    (results.json ``"status": "failed"`` for a non-finite loss; the last
    finished epoch to resume from for a lost worker). The message is a single
    line naming the run, the epoch and what to do; CLIs print it as
    `error: <message>` and exit with status 3.
    """
