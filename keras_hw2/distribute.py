"""Choosing a `tf.distribute` strategy from the command line.

``--strategy default`` trains on one device (the GPU when TensorFlow sees one);
``mirrored`` replicates the model over every local GPU (or logical CPU device);
``multiworker`` (``TF_CONFIG`` clusters) is refused with an explanation until
Keras 3's ``fit`` supports ``MultiWorkerMirroredStrategy``.
Build the model, optimizer and metrics inside ``strategy.scope()``; the batch
size given on the command line is the global batch, split across replicas.
"""
import tensorflow as tf

from keras_hw2.errors import InputError

STRATEGIES = ("default", "mirrored", "multiworker")


def add_strategy_argument(parser) -> None:
    parser.add_argument("--strategy", choices=STRATEGIES, default="default",
                        help="tf.distribute strategy; --batch-size is the global batch (default: default)")


def get_strategy(name: str = "default") -> tf.distribute.Strategy:
    """The `tf.distribute.Strategy` called `name` (one of `STRATEGIES`)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        # tf.distribute.MultiWorkerMirroredStrategy (cluster from TF_CONFIG) is the engine
        # for several machines, but Keras 3's model.fit fails under it with "Attempt to
        # convert a value (PerReplica...)" (keras-team/keras#20585, open with Keras 3.15).
        raise InputError("--strategy multiworker is not available: Keras 3's model.fit does not run "
                         "under MultiWorkerMirroredStrategy (keras-team/keras#20585); use --strategy "
                         "mirrored on one machine, or tools/distributed_sweep.py to spread a sweep "
                         "over several machines")
    raise InputError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
