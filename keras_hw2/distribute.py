"""Choosing a `tf.distribute` strategy from the command line, and the multi-worker cluster.

``--strategy default`` trains on one device (the GPU when TensorFlow sees one);
``mirrored`` replicates the model over every local GPU (or logical CPU device);
``multiworker`` runs one process per machine (`tf.distribute.MultiWorkerMirroredStrategy`)
with the cluster read from the ``TF_CONFIG`` environment variable, e.g. for the
second of two workers::

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 1}}'

The chief (task ``chief``, or worker 0 when the cluster has no ``chief``) is
the process that keeps the run directory. Every worker waits for the others
at start-up for at most ``KERAS_HW2_WORKER_TIMEOUT`` seconds (default 120),
then is stopped (SIGKILL) after one line naming the addresses it could not reach.
Build the model, optimizer and metrics inside ``strategy.scope()``; the batch
size given on the command line is the global batch, split across replicas.
A multi-worker strategy must be created before TensorFlow runs any other op
in the process; `get_strategy` creates each strategy once per process.
"""
import functools
import json
import os
import subprocess
import sys
from dataclasses import dataclass

import tensorflow as tf

from keras_hw2.errors import InputError

STRATEGIES = ("default", "mirrored", "multiworker")
TIMEOUT_VARIABLE = "KERAS_HW2_WORKER_TIMEOUT"  # seconds a worker waits for the others at start-up
DEFAULT_TIMEOUT_S = 120.0
_TASK_TYPES = ("chief", "worker")  # what MultiWorkerMirroredStrategy runs


@dataclass(frozen=True)
class Cluster:
    """The multi-worker cluster of ``TF_CONFIG``, seen from this process.

    Attributes:
        addresses: every task's ``host:port``, the chief's first.
        address: this process's ``host:port``.
        is_chief: whether this process keeps the run directory.
    """
    addresses: tuple
    address: str
    is_chief: bool

    @property
    def peers(self) -> tuple:
        """The other tasks' addresses."""
        return tuple(a for a in self.addresses if a != self.address)


def read_cluster(environ=None) -> Cluster:
    """Parse and check ``TF_CONFIG``.

    Raises:
        InputError: ``TF_CONFIG`` is missing, not JSON, or does not describe a
            chief/worker cluster holding this task.

    Example:
    >>> config = '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}'
    >>> read_cluster({"TF_CONFIG": config})
    Cluster(addresses=('a:1', 'b:2'), address='b:2', is_chief=False)
    """
    environ = os.environ if environ is None else environ
    text = environ.get("TF_CONFIG")
    example = ('e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}')
    if not text:
        raise InputError(f"--strategy multiworker needs the TF_CONFIG environment variable, {example}; "
                         "tools/distributed_train.py sets it for workers on this machine")
    try:
        tf_config = json.loads(text)
        cluster, task = tf_config["cluster"], tf_config["task"]
        task_type, index = task["type"], task["index"]
        unknown = set(cluster) - set(_TASK_TYPES)
        if unknown or task_type not in _TASK_TYPES or not isinstance(index, int) or isinstance(index, bool):
            raise ValueError("only 'chief' and 'worker' tasks, an integer index")
        addresses = [a for kind in _TASK_TYPES for a in cluster.get(kind, [])]
        if not all(isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses):
            raise ValueError("addresses must be 'host:port' strings")
        address = cluster[task_type][index]
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise InputError(f"TF_CONFIG is not a multi-worker cluster with this task ({type(e).__name__}: {e}); "
                         f"expected {example}. Received: TF_CONFIG={text!r}") from None
    is_chief = task_type == "chief" or ("chief" not in cluster and index == 0)
    return Cluster(tuple(addresses), address, is_chief)


def is_chief(strategy, environ=None) -> bool:
    """False only for a non-chief process of ``--strategy multiworker``."""
    return strategy != "multiworker" or read_cluster(environ).is_chief


def worker_timeout(environ=None) -> float:
    """Seconds a worker waits for the others (``KERAS_HW2_WORKER_TIMEOUT``, default 120)."""
    environ = os.environ if environ is None else environ
    text = environ.get(TIMEOUT_VARIABLE, str(DEFAULT_TIMEOUT_S))
    try:
        timeout_s = float(text)
    except ValueError:
        timeout_s = float("nan")
    if not 0 < timeout_s < float("inf"):
        raise InputError(f"{TIMEOUT_VARIABLE} must be a number of seconds > 0. Received: {TIMEOUT_VARIABLE}={text!r}")
    return timeout_s


@functools.lru_cache(maxsize=None)
def get_strategy(name: str = "default") -> tf.distribute.Strategy:
    """The `tf.distribute.Strategy` called `name` (one of `STRATEGIES`), created once per process.

    Raises:
        InputError: an unknown name; for ``multiworker``, a bad ``TF_CONFIG``
            or ``KERAS_HW2_WORKER_TIMEOUT``.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return _connect(read_cluster(), worker_timeout())
    raise InputError(f"--strategy must be one of {', '.join(STRATEGIES)}. Received: --strategy={name!r}")


# The start-up watchdog, a small separate process: TensorFlow waits for the other workers inside a
# call that holds Python's global lock, so no thread of the waiting process could act. Arguments:
# the worker's pid, the timeout, the worker's address, its peers'. The worker closes the watchdog's
# stdin once every worker answered (or by ending); otherwise, after the timeout, the watchdog prints
# one line naming the peers that accept no connection and kills the worker.
_WATCHDOG = f"""
import os, select, signal, socket, sys
pid, timeout_s, address, peers = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4:]
if select.select([sys.stdin], [], [], timeout_s)[0]:
    sys.exit(0)
def reachable(peer):
    host, _, port = peer.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        return True
    except OSError:
        return False
missing = [peer for peer in peers if not reachable(peer)] or peers
print("error: worker " + address + " could not reach " + ", ".join(missing) + f" within {{timeout_s:g}} s; "
      "start the same command on every host of TF_CONFIG (or raise {TIMEOUT_VARIABLE})", file=sys.stderr, flush=True)
os.kill(pid, signal.SIGKILL)
"""


def _connect(cluster: Cluster, timeout_s: float) -> tf.distribute.Strategy:
    """Create the multi-worker strategy and wait until every worker answers, for at most `timeout_s`.

    TensorFlow waits for the other workers without a limit, inside a call that
    neither Ctrl-C nor SIGTERM interrupts; past `timeout_s` the watchdog process
    (`_WATCHDOG`) prints one line naming the unreachable addresses and kills the worker.
    """
    watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(timeout_s), cluster.address,
                                 *cluster.peers], stdin=subprocess.PIPE)
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        strategy.reduce("SUM", strategy.run(lambda: tf.constant(1)), axis=None)  # every worker is here
    except tf.errors.OpError as e:
        raise InputError(f"worker {cluster.address}: TensorFlow could not join the cluster of TF_CONFIG "
                         f"({e.message.splitlines()[0]}); is the port free?") from None
    finally:
        watchdog.stdin.close()  # the watchdog sees the end of its input and exits
        watchdog.wait()
    return strategy


def _first_replica_values(strategy: tf.distribute.Strategy, values) -> list:
    """Replica 0's `values` (a list of tensors or variables), on every replica of every worker.

    An all-reduce of replica 0's values plus zeros elsewhere (float64, exact for
    float32 numbers and for integers below 2**53).
    """
    @tf.function(autograph=False)
    def gather():
        def first_replica_values():
            context = tf.distribute.get_replica_context()
            first = context.replica_id_in_sync_group == 0
            return [context.all_reduce("SUM", tf.where(first, tf.cast(v, tf.float64), tf.zeros(v.shape, tf.float64)))
                    for v in values]
        return strategy.run(first_replica_values)

    return [strategy.experimental_local_results(value)[0] for value in gather()]


def broadcast_from_first_replica(strategy: tf.distribute.Strategy, variables) -> None:
    """Give every replica of every worker the values that replica 0 (on the chief) holds.

    Resuming a multi-worker run restores the chief's checkpoint on the chief
    only; this hands the values to the other workers, so they need no access
    to the chief's files.

    Args:
        strategy: the strategy the variables were created under.
        variables: the variables to synchronise (numbers of any dtype).
    """
    variables = list(variables)
    for variable, value in zip(variables, _first_replica_values(strategy, variables)):
        variable.assign(tf.cast(value, variable.dtype))


def broadcast_text(strategy: tf.distribute.Strategy, text: str) -> str:
    """The `text` of replica 0 (on the chief), returned on every worker (e.g. the run's history).

    Example:
    >>> broadcast_text(tf.distribute.get_strategy(), "chief's words")
    "chief's words"
    """
    data = list(text.encode("utf-8"))
    length = int(_first_replica_values(strategy, [tf.constant(len(data))])[0])
    data = (data + [0] * length)[:length]
    received = _first_replica_values(strategy, [tf.constant(data, tf.float64, shape=[length])])[0]
    return bytes(int(b) for b in received.numpy()).decode("utf-8")
