"""Train with ``--strategy multiworker`` as N worker processes on this machine.

    python tools/distributed_train.py --workers 2 -- python -m keras_hw2.cnn train --strategy multiworker ...

The command after ``--`` is started N times, each with a ``TF_CONFIG`` naming
a cluster of N workers on free ports of 127.0.0.1 and its own index; worker 0
is the chief, which alone keeps the run directory. The launcher
(`keras_hw2.launch`) echoes the other workers' lines prefixed ``[worker1]``,
writes ``<name>.log`` files with ``--log-dir``, stops every worker as soon as
one fails (or after ``--timeout`` seconds), and finally prints the chief's
output. ``KERAS_HW2_WORKER_TIMEOUT`` (seconds, default 120) bounds how long a
worker waits for the others at start-up. Exit status: 0 when all succeeded,
1 otherwise. On several machines, start the same command on each host with
its own ``TF_CONFIG`` instead (see the README).
"""
import sys

from keras_hw2 import cli
from keras_hw2.errors import InputError
from keras_hw2.launch import free_port, launch, launcher_parser, split_command, tf_config


def main(argv=None) -> int:
    own, command = split_command(sys.argv[1:] if argv is None else argv)
    args = launcher_parser("tools/distributed_train.py", "TRAIN_COMMAND",
                           "Train with --strategy multiworker as N worker processes on this machine.",
                           "number of workers, the chief included", timeout_s=86400.0).parse_args(own)
    if not command:
        raise InputError("no training command given; put it after '--', e.g. -- python -m keras_hw2.cnn train "
                         "--strategy multiworker ...")
    if not any("multiworker" in arg for arg in command):
        raise InputError("the training command must use --strategy multiworker, or the workers train alone")
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(args.workers)]
    print(f"{args.workers} workers at {', '.join(addresses)}; command: {' '.join(command)}", flush=True)
    environments = {f"worker{i}": {"TF_CONFIG": tf_config(addresses, i)} for i in range(args.workers)}
    return launch(command, environments, timeout_s=args.timeout, log_dir=args.log_dir, what="distributed training")


if __name__ == "__main__":
    cli.entry_point(main)
