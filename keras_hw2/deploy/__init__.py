"""Deployment beyond TF Serving: LiteRT (``.tflite``) and ONNX exports of both tasks, and an int8 CNN.

- `formats`: the export formats, the files they write and the one conversion
  call (Keras' own ``model.export(format="litert" | "onnx")``) with one-line
  errors naming the op that did not convert;
- `cnn`: the CNN's deployable model (uint8 images in, six probabilities out)
  and its export, float or int8 (`quantize`);
- `quantize`: post-training full-integer quantization with a representative
  set from the run's training data, and the accuracies before and after;
- `p2g`: the speller's greedy decoder on token ids, the part that converts;
- `host_loop`: the small host code around it (tokenise, call, detokenise),
  without TensorFlow;
- `runtimes`: an exported file in its own runtime (ai-edge-litert, ONNX Runtime);
- `command`: the ``export --format/--quantize`` hooks of both task CLIs.

Everything needing the optional runtimes is imported lazily: ``pip install '.[deploy]'``.
"""
