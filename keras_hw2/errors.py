"""The project's exception types: bad input (exit status 2), a training that could not go on (exit status 3)
and a write that found no room (exit status 4)."""
import errno
import os
from contextlib import contextmanager


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


class ResourceError(OSError):
    """A write that failed for lack of room: a full disk, a quota or a file-size limit (exit status 4).

    The input was fine: nothing finished is lost (every run file is written to a
    temporary name, then renamed) and re-running the same command, once there is
    room, resumes from the last finished epoch. The message is a single line
    naming the file and the cause; CLIs print it as `error: <message>`.
    """


NO_ROOM_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)  # the OSErrors that mean "no room to write"
# the same causes as TensorFlow's C++ file system words them (its OpErrors carry no errno)
NO_ROOM_MESSAGES = tuple(os.strerror(code) for code in NO_ROOM_ERRNOS)


RESUME_HINT = "nothing finished is lost: make room and re-run the same command to resume"


def no_room_cause(e: BaseException):
    """What `e` says about room: ``os.strerror`` of a no-room errno (`NO_ROOM_ERRNOS`), or the one of
    `NO_ROOM_MESSAGES` that a non-`OSError`'s message holds (TensorFlow's, Keras'); None otherwise."""
    if isinstance(e, OSError):
        return os.strerror(e.errno) if e.errno in NO_ROOM_ERRNOS else None
    return next((m for m in NO_ROOM_MESSAGES if m in str(e)), None)


@contextmanager
def room_to_write(path, also=(), hint: str = RESUME_HINT):
    """Within the block, an `OSError` of `NO_ROOM_ERRNOS` while writing `path` becomes a `ResourceError`.

    Args:
        path: the file or directory being written, named in the message.
        also: further exception types (e.g. ``tf.errors.OpError``) that count when
            their message holds one of `NO_ROOM_MESSAGES`.
        hint: what the message tells the user after the cause (what is kept, how to go on).
    """
    try:
        yield
    except (OSError, *also) as e:
        cause = no_room_cause(e)
        if cause is None or isinstance(e, ResourceError):
            raise
        raise ResourceError(f"{path}: {cause} while writing it; {hint}") from None
