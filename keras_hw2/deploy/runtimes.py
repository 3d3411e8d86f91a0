"""An exported ``.tflite`` or ``.onnx`` file in its own runtime, called with named NumPy arrays.

Neither runtime needs TensorFlow: LiteRT files run in ``ai-edge-litert``'s
interpreter, ONNX files in ONNX Runtime (``pip install '.[deploy]'``). Both
wrappers take the inputs by name and return ``{output name: array}``; a LiteRT
file's batch dimension is resized to each call's inputs.
"""
from pathlib import Path

from keras_hw2.errors import InputError

RUNTIME_PACKAGES = {".tflite": ("ai_edge_litert", "ai-edge-litert"), ".onnx": ("onnxruntime", "onnxruntime")}


class LiteRTModel:
    """A LiteRT file's default signature: ``model(images=array)`` -> ``{"probabilities": array}``.

    Args:
        path: the ``.tflite`` file.
        num_threads: the interpreter's CPU threads (default: LiteRT's choice).
    """

    def __init__(self, path, num_threads=None):
        from ai_edge_litert.interpreter import Interpreter
        self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        self.runner = self.interpreter.get_signature_runner()

    def __call__(self, **inputs) -> dict:
        return self.runner(**inputs)


class OnnxModel:
    """An ONNX file in ONNX Runtime on the CPU: ``model(images=array)`` -> ``{"probabilities": array}``."""

    def __init__(self, path, num_threads=None):
        import onnxruntime
        options = onnxruntime.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.output_names = [output.name for output in self.session.get_outputs()]

    def __call__(self, **inputs) -> dict:
        return dict(zip(self.output_names, self.session.run(self.output_names, inputs)))


def load(path, num_threads=None):
    """The runtime wrapper of `path` by its suffix (`LiteRTModel` or `OnnxModel`).

    Raises:
        InputError: another suffix, or the runtime is not installed.
    """
    path = Path(path)
    if path.suffix not in RUNTIME_PACKAGES:
        raise InputError(f"{path}: not a .tflite or .onnx file")
    module, package = RUNTIME_PACKAGES[path.suffix]
    try:
        __import__(module)
    except ImportError:
        raise InputError(f"{path}: running it needs the {package} package: pip install '.[deploy]'") from None
    return (LiteRTModel if path.suffix == ".tflite" else OnnxModel)(path, num_threads=num_threads)
