"""The ``export --format / --quantize`` hooks of ``python -m keras_hw2.cnn`` and ``python -m keras_hw2.p2g``.

`add_arguments` adds the two flags to a task's ``export`` parser (no
TensorFlow imported); the task's ``_export`` hands any export but a plain
SavedModel to `export`, which checks the flags before loading anything, so a
bad flag writes nothing. A LiteRT or ONNX export's default ``--name`` is the
SavedModel's with the format appended (``cnn_batchnorm_litert``,
``cnn_batchnorm_litert_int8``, ``p2g_onnx``): a TF Serving model base then
never finds a version without a SavedModel under a served name. (The speller's
parser gives ``--name`` the default ``p2g``, so ``--name p2g`` also means the
default here.)
"""
import argparse

from keras_hw2 import cli
from keras_hw2.checks import Choice
from keras_hw2.deploy.formats import FORMATS, QUANTIZATIONS, check_format
from keras_hw2.errors import InputError

QUANTIZABLE = {"cnn": ("litert",), "p2g": ()}


def add_arguments(parser: argparse.ArgumentParser, task: str) -> None:
    """``--format`` (default savedmodel) and ``--quantize`` on `task`'s export parser."""
    parser.add_argument("--format", default="savedmodel", type=_choice("--format", FORMATS),
                        help=f"{', '.join(FORMATS)} (default savedmodel: TF Serving's); litert and onnx write "
                             "model.tflite / model.onnx and metadata.json in the same layout")
    takes = " and ".join(QUANTIZABLE[task]) or "no format of this task"
    parser.add_argument("--quantize", type=_choice("--quantize", QUANTIZATIONS),
                        help=f"int8: post-training full-integer quantization, calibrated on the run's training "
                             f"data ({takes})")


def wanted(args) -> bool:
    """Whether `args` ask for more than today's SavedModel export."""
    return args.format != "savedmodel" or args.quantize is not None


def export(args, task: str) -> int:
    """Export `args.run` of `task` as `args.format`; print the version directory (and int8's figures)."""
    check_format(args.format, args.quantize, quantizable=QUANTIZABLE[task])
    from keras_hw2 import checkpoints
    config = checkpoints.run_config(args.run)
    source = checkpoints.checkpoint_path(args.run)
    suffix = f"_{args.format}" + (f"_{args.quantize}" if args.quantize else "")
    if task == "cnn":
        from keras_hw2.cnn.predict import load_classifier
        from keras_hw2.deploy.cnn import export_cnn
        data = _training_data(args.run, config) if args.quantize else None
        model = load_classifier(args.run)
        name = args.name or f"cnn_{(config or {}).get('model', 'model')}{suffix}"

        def write():
            return export_cnn(model, args.format, name, root=args.models_dir, version=args.version,
                              quantize=args.quantize, data=data, source=source)
    else:
        from keras_hw2.deploy.p2g import export_p2g
        from keras_hw2.p2g.speller import load_checkpoint
        model = load_checkpoint(args.run)
        name = args.name if args.name not in (None, "p2g") else f"p2g{suffix}"

        def write():
            return export_p2g(model, args.format, name, root=args.models_dir, version=args.version, source=source)
    written = []
    def write_quietly():  # without the converter's and interpreter's C++ notices
        with cli.native_lines_filtered():
            written.append(write())
        return written[-1]

    cli.export_run(args, write_quietly)  # devices, "exported DIR", unfinished
    if args.quantize:
        from keras_hw2.deploy.formats import read_metadata
        q = read_metadata(written[-1])["quantization"]
        print(f"int8: {q['int8_bytes']:,} bytes ({q['size_ratio']:.2f}x smaller than float's {q['float_bytes']:,}); "
              f"validation accuracy {q['float_val_accuracy']:.4f} float -> {q['int8_val_accuracy']:.4f} int8 "
              f"({q['validation_images']} images; calibrated on {q['representative_images']} training images)")
    return 0


def _training_data(run, config):
    """The run's training data (its ``config.json``'s data, seed and validation share), for int8's calibration."""
    if config is None:
        raise InputError(f"{run}: --quantize int8 needs the run's config.json beside its checkpoint (its training "
                         "data gives the calibration images); pass a run directory")
    from keras_hw2.cnn.data import load_data
    try:
        return load_data(config.get("data"), seed=config.get("seed", 0), val_fraction=config.get("val_fraction", 0.1))
    except InputError as e:
        raise InputError(f"--quantize int8 calibrates on the run's training data (config.json data="
                         f"{config.get('data')!r}): {e}") from None


def _choice(flag: str, options: tuple):
    """An argparse ``type`` accepting one of `options` (the `keras_hw2.checks.Choice` message otherwise)."""
    def parse(text):
        try:
            Choice(options).check(flag, text)
        except InputError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return text
    return parse
