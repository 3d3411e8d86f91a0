"""Intel scene classifiers (the homework's question 2): data, the two CNNs, training, evaluation, prediction.

Run it with ``python -m keras_hw2.cnn`` (see `keras_hw2.cnn.__main__`). The names
below are imported on first use, so importing this package does not import TensorFlow.
"""
from keras_hw2.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "data": ("CLASS_NAMES", "ImageData", "load_data", "load_split", "make_dataset", "write_synthetic_npz"),
    "evaluation": ("classification_report", "evaluate_model"),
    "images": ("load_image", "load_images"),
    "preset": ("from_preset",),
    "models": ("build_model", "compile_model", "count_trainable_params", "nll_loss"),
    "predict": ("classify", "classify_files", "load_classifier"),
    "serving": ("export_model",),
    "train": ("TrainConfig", "train_and_evaluate"),
})
