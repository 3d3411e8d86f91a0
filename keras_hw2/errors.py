"""The one exception type for bad user input."""


class InputError(ValueError):
    """Bad user input: a file, key, shape or argument that cannot be used.

    The message is a single line that names the file, line, key or shape at
    fault. CLIs print it as `error: <message>` and exit with status 2, before
    any training time is spent and without writing anything.
    """
