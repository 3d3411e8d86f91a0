"""Throughput benchmark of the CNN scene classifiers; prints (and optionally writes) JSON.

For each model (baseline, batchnorm), batch size (default 8 and 64), `jit_compile`
(off, on) and `steps_per_execution` (default 1 and 16), in one process:
training throughput (images/s of `model.fit`, SGD + NLL, the training pipeline)
and evaluation throughput (images/s of `model.evaluate`). Every setting is
timed after a warm-up epoch that pays for tracing and compilation; the best of
`--repeats` timed epochs is kept. Synthetic images stand in for data (the speed
does not depend on the pixels). Importing `keras_hw2` turns TensorFlow's
oneDNN CPU kernels on unless ``TF_ENABLE_ONEDNN_OPTS`` is set; run with
``TF_ENABLE_ONEDNN_OPTS=0`` to measure without them. The JSON also names the fastest setting per
model and batch size and compares training at batch 8 with the homework's
PyTorch reference on the same 2-core machine.

    flock /tmp/keras_hw2_heavy.lock python tools/bench_cnn.py --output bench_cnn.json
"""
import argparse
import json
import os
import sys
import time

from keras_hw2.cli import run_main
from keras_hw2.cnn.data import make_dataset
from keras_hw2.cnn.models import MODELS, build_model, compile_model
from keras_hw2.cnn.synthetic import generate_images
from keras_hw2.devices import device_report
from keras_hw2.errors import InputError
from keras_hw2.runs import write_json
from keras_hw2.seeding import set_seed

PYTORCH_REFERENCE = {"baseline": 360.0, "batchnorm": 510.0}  # homework's images/s at batch 8, same machine


def _time_epochs(run_epoch, num_images: int, repeats: int) -> float:
    """Images/s of the fastest of `repeats` calls of `run_epoch` (after one warm-up call)."""
    run_epoch()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run_epoch()
        best = min(best, time.perf_counter() - start)
    return num_images / best


def benchmark(batch_sizes=(8, 64), steps_per_execution=(1, 16), num_images: int = 1024, repeats: int = 2) -> dict:
    """Measure every combination (see the module docstring); returns the JSON-ready results."""
    images, labels = generate_images(num_images // len(MODELS) // 3 + 1, seed=0)
    images, labels = images[:num_images], labels[:num_images]
    rows = []
    for model_name, batch_norm in MODELS.items():
        for batch_size in batch_sizes:
            train_ds = make_dataset(images, labels, batch_size, shuffle=True)
            eval_ds = make_dataset(images, labels, batch_size)
            for jit_compile in (False, True):
                for spe in steps_per_execution:
                    set_seed(0)
                    model = compile_model(build_model(batch_norm), lr=0.01, jit_compile=jit_compile,
                                          steps_per_execution=spe)
                    train = _time_epochs(lambda: model.fit(train_ds, epochs=1, shuffle=False, verbose=0),
                                         len(labels), repeats)
                    evaluate = _time_epochs(lambda: model.evaluate(eval_ds, verbose=0), len(labels), repeats)
                    row = {"model": model_name, "batch_size": batch_size, "jit_compile": jit_compile,
                           "steps_per_execution": spe, "train_images_per_s": round(train, 1),
                           "eval_images_per_s": round(evaluate, 1)}
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    rows.append(row)
    fastest = {}
    for model_name in MODELS:
        for batch_size in batch_sizes:
            group = [r for r in rows if r["model"] == model_name and r["batch_size"] == batch_size]
            best = max(group, key=lambda r: r["train_images_per_s"])
            fastest[f"{model_name}@{batch_size}"] = {
                "jit_compile": best["jit_compile"], "steps_per_execution": best["steps_per_execution"],
                "train_images_per_s": best["train_images_per_s"]}
            if batch_size == 8:
                fastest[f"{model_name}@{batch_size}"]["speedup_vs_pytorch_reference"] = round(
                    best["train_images_per_s"] / PYTORCH_REFERENCE[model_name], 2)
    return {"device": device_report(), "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
            "num_images": len(labels), "repeats": repeats,
            "pytorch_reference_train_images_per_s_at_batch_8": PYTORCH_REFERENCE,
            "results": rows, "fastest_training": fastest}


def _parse_ints(text: str, flag: str) -> tuple:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise InputError(f"{flag} must be comma-separated positive integers. Received: {text!r}")
    return values


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/bench_cnn.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", default="8,64")
    parser.add_argument("--steps-per-execution", default="1,16", help="values to compare (default 1,16)")
    parser.add_argument("--num-images", type=int, default=1024, help="images per timed epoch (default 1024)")
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs per setting; the best counts (default 2)")
    parser.add_argument("--output", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.num_images < 64 or args.repeats < 1:
        raise InputError(f"--num-images must be >= 64 and --repeats >= 1. Received: {args.num_images}, {args.repeats}")
    results = benchmark(_parse_ints(args.batch_sizes, "--batch-sizes"),
                        _parse_ints(args.steps_per_execution, "--steps-per-execution"),
                        num_images=args.num_images, repeats=args.repeats)
    print(json.dumps(results, indent=2))
    if args.output:
        write_json(args.output, results)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
