"""Run any keras-tuner sweep as one chief plus W workers on this machine.

    python tools/distributed_sweep.py --workers 2 -- python -m tuners.cnn_lr --data d.npz --epochs 1

The command after ``--`` is started W + 1 times with keras-tuner's distributed-mode
environment: ``KERASTUNER_TUNER_ID`` is ``chief`` for the process holding the
oracle and ``tuner0`` .. ``tuner<W-1>`` for the workers running trials, and
``KERASTUNER_ORACLE_IP`` / ``KERASTUNER_ORACLE_PORT`` name a free port on
``--host``. Every worker line is echoed as it comes, prefixed ``[tuner0]``;
with ``--log-dir`` each process also writes ``<id>.log`` there. The launcher
(`keras_hw2.launch`) waits for all of them within ``--timeout`` seconds, stops
every process as soon as one fails (or the time is up), and finally prints the
chief's output, which holds the search summary. Exit status: 0 when all
succeeded, 1 otherwise.
"""
import sys

from keras_hw2 import cli
from keras_hw2.errors import InputError
from keras_hw2.launch import free_port, launch, launcher_parser, split_command
from tuners.distributed import CHIEF_ID, tuner_environment


def main(argv=None) -> int:
    own, command = split_command(sys.argv[1:] if argv is None else argv)
    parser = launcher_parser("tools/distributed_sweep.py", "SWEEP_COMMAND", __doc__.splitlines()[0],
                             "number of workers running trials", timeout_s=3600.0)
    parser.add_argument("--host", default="127.0.0.1", help="address of the chief's oracle (default 127.0.0.1)")
    parser.add_argument("--port", type=cli.integer("--port", minimum=1, maximum=65535), default=None,
                        help="the oracle's port (default: a free one)")
    parser.add_argument("--grace", type=cli.number("--grace", 0), default=60.0,
                        help="seconds workers may run on after the chief finished (default 60)")
    args = parser.parse_args(own)
    if not command:
        raise InputError("no sweep command given; put it after '--', e.g. -- python -m tuners.cnn_lr ...")
    port = free_port(args.host) if args.port is None else args.port
    names = [CHIEF_ID] + [f"tuner{i}" for i in range(args.workers)]
    print(f"chief oracle at {args.host}:{port}; {args.workers} workers; command: {' '.join(command)}", flush=True)
    return launch(command, {name: tuner_environment(name, args.host, port) for name in names},
                  timeout_s=args.timeout, log_dir=args.log_dir, grace_s=args.grace, what="distributed sweep")


if __name__ == "__main__":
    cli.entry_point(main)
