"""Choosing a `tf.distribute` strategy from the command line.

``--strategy default`` trains on one device (the GPU when TensorFlow sees one);
``mirrored`` replicates the model over every local GPU (or logical CPU device);
``multiworker`` reads the cluster from the ``TF_CONFIG`` environment variable.
Build the model, optimizer and metrics inside ``strategy.scope()``; the batch
size given on the command line is the global batch, split across replicas.
"""
import json
import os

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
        raw = os.environ.get("TF_CONFIG")
        if not raw:
            raise InputError("--strategy multiworker needs the TF_CONFIG environment variable "
                             "(cluster and task; see the README)")
        try:
            cluster = json.loads(raw)["cluster"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise InputError("TF_CONFIG must be JSON with a 'cluster' and a 'task' entry") from None
        if not cluster.get("worker"):
            raise InputError("TF_CONFIG's cluster lists no 'worker' addresses")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise InputError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
