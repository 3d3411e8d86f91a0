"""Test-set metrics of a classifier: accuracy, per-class accuracy, confusion matrix (and its PNG)."""
from pathlib import Path

import numpy as np

from keras_hw2.plots import plt


def confusion_matrix(labels, predictions, num_classes: int) -> np.ndarray:
    """``(num_classes, num_classes)`` int counts; row = true class, column = predicted class.

    Example:
    >>> confusion_matrix([0, 0, 1, 2], [0, 1, 1, 1], 3).tolist()
    [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    """
    matrix = np.zeros((num_classes, num_classes), dtype="int64")
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    return matrix


def classification_report(labels, predictions, class_names) -> dict:
    """Accuracy, per-class accuracy (recall; None for a class absent from `labels`) and the confusion matrix.

    Example:
    >>> classification_report([0, 0, 1, 2], [0, 1, 1, 1], ["a", "b", "c"])["per_class_accuracy"]
    {'a': 0.5, 'b': 1.0, 'c': 0.0}
    """
    matrix = confusion_matrix(labels, predictions, len(class_names))
    totals = matrix.sum(axis=1)
    per_class = {name: (float(matrix[i, i] / totals[i]) if totals[i] else None)
                 for i, name in enumerate(class_names)}
    return {"accuracy": float(np.trace(matrix) / matrix.sum()), "per_class_accuracy": per_class,
            "confusion_matrix": matrix.tolist()}


def plot_confusion_matrix(matrix, class_names, path, title="confusion matrix") -> Path:
    """Save a confusion matrix as an annotated PNG (rows: true class, columns: predicted)."""
    matrix = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
    ax.imshow(matrix, cmap="Blues")
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center",
                color="white" if count > matrix.max() / 2 else "black")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
