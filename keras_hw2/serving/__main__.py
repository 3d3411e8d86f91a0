"""``python -m keras_hw2.serving {config,metadata,predict}``: TF Serving's models.config and a client.

    python -m keras_hw2.serving config [--models-dir saved_models] [--base-path /models] [--all-versions]
    python -m keras_hw2.serving metadata --name p2g [--version 1] [--protocol grpc]
    python -m keras_hw2.serving predict --name cnn_baseline --images a.jpg b.png
    python -m keras_hw2.serving predict --name cnn_baseline --signature serve_image_bytes --images a.jpg
    python -m keras_hw2.serving predict --name p2g --strings "k æ t" "t͡ʃ æ t" --protocol grpc
    python -m keras_hw2.serving predict --name p2g --signature beam_search --strings "k æ t" \\
        --param num_beams=5 --param length_penalty=1.0

`predict`:
1. asks the server for the model's signatures (REST ``.../metadata`` or gRPC
   ``GetModelMetadata``; from a local export only with ``--export-dir``);
2. fills the signature's batched input with ``--images`` (file bytes for an
   encoded-image input, or uint8 pixels decoded by `keras_hw2.cnn.images`) or
   ``--strings`` (sent as given: the P2G graph normalises them), and each
   scalar input with ``--param NAME=VALUE`` parsed as its dtype;
3. checks names, dtypes, shapes and values against the signature and refuses
   a mismatch before sending (``error: ...``, exit status 2);
4. sends the request and prints one line per input, ``label: {"output": value, ...}``.
   A request the server refuses (e.g. ``num_beams=0``) ends with its message and
   exit status 2; an unreachable or failing server with exit status 1.
"""
import argparse
import json
import math
import sys

from keras_hw2 import cli

DEFAULT_SIGNATURE = "serving_default"  # `keras_hw2.serving.signatures.DEFAULT_SIGNATURE`, without importing TensorFlow


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar; building it imports no TensorFlow."""
    parser = cli.ArgumentParser(prog="python -m keras_hw2.serving", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    write = commands.add_parser("config", help="write models.config for every exported model")
    write.add_argument("--models-dir", default="saved_models", help="export root (default saved_models/)")
    write.add_argument("--output", default=None, help="config file to write (default <models-dir>/models.config)")
    write.add_argument("--base-path", default=None,
                       help="path of --models-dir as the server sees it (default: its absolute path)")
    write.add_argument("--all-versions", action="store_true", help="serve every version, not only the highest")

    for name, text in [("metadata", "print a served model's signatures"),
                       ("predict", "send images or strings to a served model and print its outputs")]:
        command = commands.add_parser(name, help=text)
        command.add_argument("--name", required=True, help="served model name, e.g. cnn_baseline or p2g")
        command.add_argument("--version", type=cli.integer("--version", minimum=1), default=None,
                             help="model version (default: the one the server serves)")
        command.add_argument("--protocol", choices=("rest", "grpc"), default="rest",
                             help="REST (port 8501) or gRPC (port 8500, needs the serving extra)")
        command.add_argument("--host", default="localhost")
        command.add_argument("--port", type=cli.integer("--port", minimum=1, maximum=65535), default=None,
                             help="default 8501 (REST) or 8500 (gRPC)")
        command.add_argument("--timeout", type=cli.number("--timeout", 0, low_open=True), default=30.0,
                             help="seconds to wait for the server")
        command.add_argument("--export-dir", default=None,
                             help="read the signatures from this local export (a version directory) "
                                  "instead of asking the server")

    predict = commands.choices["predict"]
    predict.add_argument("--signature", default=DEFAULT_SIGNATURE,
                         help="signature name (default serving_default)")
    predict.add_argument("--input-name", default=None,
                         help="the input --images/--strings fill (default: the only non-scalar one)")
    predict.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                         help="a scalar input, e.g. --param p=0.9 (repeatable)")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", nargs="+", metavar="FILE", help="image files (JPEG, PNG, GIF, BMP)")
    source.add_argument("--strings", nargs="+", metavar="TEXT", help='strings, e.g. phonemes "HH AH0 L OW1"')
    predict.add_argument("--format", choices=("auto", "instances", "inputs"), default="auto",
                         help="REST body: row format (instances), columnar (inputs), or rows unless "
                              "a scalar input needs columns (auto, the default)")
    predict.add_argument("--dry-run", action="store_true", help="print the request instead of sending it")
    return parser


def make_client(args):
    """The REST or gRPC client the arguments ask for."""
    from keras_hw2.serving.client import DEFAULT_PORTS, GrpcClient, RestClient

    port = args.port or DEFAULT_PORTS[args.protocol]
    if args.protocol == "grpc":
        return GrpcClient(args.host, port, args.timeout)
    row_format = {"auto": None, "instances": True, "inputs": False}[getattr(args, "format", "auto")]
    return RestClient(args.host, port, args.timeout, row_format)


def model_signatures(args, client) -> tuple:
    """``({name: SignatureDef}, where they came from)``: the server's metadata, or ``--export-dir``."""
    from keras_hw2.serving import signatures

    if args.export_dir:
        return signatures.read_export(args.export_dir), args.export_dir
    source = f"{args.name}" + (f" version {args.version}" if args.version else "") + f" at {client.address}"
    return client.metadata(args.name, args.version), source


def show_metadata(args, client) -> int:
    """``metadata``: one line per signature, ``name: inputs -> outputs``."""
    from keras_hw2.serving import signatures

    found, source = model_signatures(args, client)
    print(f"{source}:")
    for name in signatures.served_names(found):
        print(f"  {name}: {signatures.describe_signature(found[name])}")
    return 0


def predict(args, client) -> int:
    """``predict``: build and check the inputs, then print the request (``--dry-run``) or the outputs."""
    from keras_hw2.serving import inputs, signatures

    found, source = model_signatures(args, client)
    signature = signatures.choose(found, args.signature, source)
    specs = signatures.tensor_specs(signature.inputs)
    arrays = inputs.param_arrays(args.param, specs)
    spec = inputs.choose_input({k: v for k, v in specs.items() if k not in arrays}, args.input_name)
    if args.images:
        labels, arrays[spec.name] = args.images, inputs.image_array(args.images, spec)
    else:
        labels, arrays[spec.name] = args.strings, inputs.string_array(args.strings, spec)
    inputs.check_inputs(specs, arrays)
    # Encoding the request is the last check (--format), so it comes before anything is printed.
    request = client.describe_request(args.name, args.signature, signature, arrays, args.version)
    print(f"{source}, signature {args.signature}: {signatures.describe_signature(signature)}", file=sys.stderr)
    if args.dry_run:
        print(request)
        return 0
    print(format_rows(labels, client.predict(args.name, args.signature, signature, arrays, args.version)))
    return 0


def format_rows(labels, columns: dict) -> str:
    """One line per instance: ``label: {"output": value, ...}`` (strict JSON: non-finite numbers are null)."""
    rows = [{name: _printable(column[i]) for name, column in sorted(columns.items())} for i in range(len(labels))]
    return "\n".join(f"{label}: {json.dumps(row, ensure_ascii=False, allow_nan=False)}"
                     for label, row in zip(labels, rows))


def _printable(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cli.start_tensorflow()
    from keras_hw2.export import check_model_name
    from keras_hw2.serving import config
    from keras_hw2.serving.client import ServingError

    if args.command == "config":
        output = config.write_config(args.models_dir, args.output, args.base_path, args.all_versions)
        print(output.read_text(), end="")
        print(f"wrote {output}")
        return 0
    check_model_name(args.name)
    client = make_client(args)
    try:
        return {"metadata": show_metadata, "predict": predict}[args.command](args, client)
    except ServingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    cli.entry_point(main)
