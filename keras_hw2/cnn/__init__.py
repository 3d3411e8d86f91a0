"""Intel scene classifiers (the homework's question 2): data, the two CNNs, training, serving export.

Run it with ``python -m keras_hw2.cnn`` (see `keras_hw2.cnn.__main__`).
"""
from keras_hw2.cnn.data import CLASS_NAMES, ImageData, load_data, make_dataset, write_synthetic_npz
from keras_hw2.cnn.models import build_model, compile_model, count_trainable_params, nll_loss
from keras_hw2.cnn.serving import export_model
from keras_hw2.cnn.train import TrainConfig, train_and_evaluate

__all__ = ["CLASS_NAMES", "ImageData", "TrainConfig", "build_model", "compile_model", "count_trainable_params",
           "export_model", "load_data", "make_dataset", "nll_loss", "train_and_evaluate", "write_synthetic_npz"]
