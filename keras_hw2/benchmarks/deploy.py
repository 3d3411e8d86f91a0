"""Benchmark rows of the CNN's deployment runtimes: one image and a batch of 64 through each.

Runtimes: TensorFlow (the deployable model, `keras_hw2.deploy.cnn.deployable_model`,
as one ``tf.function``, the graph the SavedModel serves), LiteRT float and
int8 (ai-edge-litert's interpreter) and ONNX Runtime, each on every CPU core.
The BatchNorm CNN is exported by `keras_hw2.deploy.cnn.export_cnn`; speed
does not depend on the weights, so an untrained model and synthetic images
(also the int8 calibration set) stand in. Each row's values are images/s of
single timed calls (after one untimed warm-up call); its description gives
the p50 latency of a call. Needs ``pip install '.[deploy]'``; without it the
group prints why and gives no rows.
"""
import os
import sys
import tempfile

from keras_hw2.benchmarks.harness import measure, percentile, timing_row

BATCHES = (1, 64)
CALLS = {1: 200, 64: 20}  # timed calls per row (p50 of these)
QUICK_CALLS = {1: 5, 64: 2}
RUNTIMES = ("tensorflow", "litert", "litert_int8", "onnx")


def deploy_rows(quick: bool = False, threads=None) -> list:
    """One row per runtime and batch size (`BATCHES`): images/s, and the p50 latency in the description."""
    try:
        import ai_edge_litert  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        print(f"deploy rows skipped: {e.name} is not installed (pip install '.[deploy]')", file=sys.stderr)
        return []
    from keras_hw2.benchmarks.cnn import demo_images
    from keras_hw2.cnn.data import ImageData
    from keras_hw2.cnn.models import build_model
    from keras_hw2.deploy.cnn import export_cnn

    model = build_model(batch_norm=True)
    images, labels = demo_images(max(BATCHES) * 2)
    data = ImageData({"train": (images, labels), "val": (images, labels)}, source="synthetic demo images")
    with tempfile.TemporaryDirectory() as root:
        files = {"litert": export_cnn(model, "litert", "litert", root=root) / "model.tflite",
                 "litert_int8": export_cnn(model, "litert", "int8", root=root, quantize="int8", data=data)
                 / "model.tflite",
                 "onnx": export_cnn(model, "onnx", "onnx", root=root) / "model.onnx"}
        return runtime_rows(model, files, images, QUICK_CALLS if quick else CALLS, threads)


def runtime_rows(model, files: dict, images, calls: dict, threads=None) -> list:
    """The rows of `RUNTIMES` x `BATCHES` for `model` and its exported `files` (``{runtime: path}``).

    Args:
        model: the trained or untrained CNN (log-probabilities), run by TensorFlow.
        files: the LiteRT float, LiteRT int8 and ONNX files of `model`.
        images: uint8 ``(N, 48, 48, 3)``, N >= the largest batch.
        calls: ``{batch size: timed calls}``.
        threads: each runtime's CPU threads (default: every core).
    """
    import tensorflow as tf

    from keras_hw2.deploy.cnn import INPUT_SIGNATURE, deployable_model
    from keras_hw2.deploy.runtimes import load

    threads = threads or os.cpu_count()
    deployable = tf.function(deployable_model(model), input_signature=INPUT_SIGNATURE)
    runners = {"tensorflow": lambda batch: deployable(batch)["probabilities"].numpy(),
               **{name: _runner(load(path, num_threads=threads)) for name, path in files.items()}}
    rows = []
    for runtime in RUNTIMES:
        for batch_size in BATCHES:
            batch = images[:batch_size]
            timing = measure(lambda: runners[runtime](batch), calls[batch_size])
            p50_ms = percentile(timing.wall, 50) * 1000
            rows.append(timing_row(
                f"deploy_cnn_{runtime}_batch{batch_size}",
                f"CNN via {runtime}, batch {batch_size} (p50 {p50_ms:.2f} ms)", timing, batch_size, "images/s",
                True, details={"batch_size": batch_size, "p50_ms": p50_ms, "threads": threads,
                               "file_bytes": files[runtime].stat().st_size if runtime in files else None}))
    return rows


def _runner(model):
    """Images -> probabilities through an exported file's runtime wrapper."""
    return lambda batch: model(images=batch)["probabilities"]
