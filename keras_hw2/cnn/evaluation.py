"""Metrics of a classifier on labelled images: accuracy, per-class accuracy, confusion matrix (and its PNG),
and the images it gets wrong.

`evaluate_model` scores a trained CNN on one split (``python -m keras_hw2.cnn evaluate``), listing its
mistakes most confident first (`misclassified`), which `plot_misclassified` draws as a grid;
`classification_report` and `plot_confusion_matrix` also serve training's test report.
"""
from pathlib import Path

import numpy as np

from keras_hw2.plots import plt, save_figure


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
    return save_figure(fig, path)


def misclassified(labels, probabilities) -> list:
    """The images whose most probable class is wrong, the most confident mistake first.

    Args:
        labels: int ``(N,)`` true classes.
        probabilities: ``(N, classes)`` class probabilities (or log-probabilities: the order is the same).

    Returns:
        ``[{"index", "true", "predicted", "probability"}]`` (class indices; `probabilities`' value of the
        predicted class), by decreasing probability, ties by index.

    Example:
    >>> [(m["index"], m["predicted"]) for m in misclassified([0, 1, 1], [[0.9, 0.1], [0.6, 0.4], [0.8, 0.2]])]
    [(2, 0), (1, 0)]
    """
    labels, probabilities = np.asarray(labels), np.asarray(probabilities)
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities[np.arange(len(labels)), predicted]
    wrong = [i for i in np.argsort(-confidence, kind="stable") if predicted[i] != labels[i]]
    return [{"index": int(i), "true": int(labels[i]), "predicted": int(predicted[i]),
             "probability": float(confidence[i])} for i in wrong]


def plot_misclassified(images, mistakes: list, class_names, path, limit: int = 36, title="misclassified") -> Path:
    """Save a grid PNG of the first `limit` of `mistakes` (`misclassified`), each image captioned
    "true → predicted" and the predicted class's probability; a note when there is no mistake.

    Args:
        images: uint8 ``(N, H, W, 3)``, indexed by the mistakes' ``"index"``.
        mistakes: `misclassified`'s list (probabilities, not log-probabilities).
        class_names: the class names, in class-index order.
        path: where the PNG goes.
    """
    shown = mistakes[:limit]
    columns = max(1, min(6, len(shown)))
    rows = max(1, -(-len(shown) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2 * columns, 2.3 * rows + 0.4), dpi=100, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, mistake in zip(axes.flat, shown):
        ax.imshow(images[mistake["index"]])
        ax.set_title(f"{class_names[mistake['true']]} → {class_names[mistake['predicted']]}\n"
                     f"p={mistake['probability']:.2f}", fontsize=8)
    if not shown:
        axes[0, 0].text(0.5, 0.5, "no misclassified images", ha="center", va="center")
    fig.suptitle(f"{title}: {len(shown)} of {len(mistakes)} mistakes, most confident first", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def evaluate_model(model, images, labels, class_names, batch_size: int = 64) -> dict:
    """`classification_report` of `model`'s most probable class for each image.

    Args:
        model: a trained CNN, uint8 ``(batch_size, 48, 48, 3)`` → log-probabilities ``(batch_size, classes)``.
        images: uint8 ``(N, 48, 48, 3)``.
        labels: int ``(N,)`` class indices.
        class_names: the model's classes, in output order.
        batch_size: images per forward pass.

    Returns:
        ``{"images": N, "accuracy", "per_class_accuracy", "confusion_matrix", "misclassified"}``, the last
        `misclassified`'s list (probabilities).
    """
    probabilities = np.exp(model.predict(images, batch_size=batch_size, verbose=0))
    return {"images": int(len(labels)),
            **classification_report(labels, np.argmax(probabilities, axis=1), class_names),
            "misclassified": misclassified(labels, probabilities)}


def format_report(report: dict, class_names) -> str:
    """Accuracy, per-class accuracy and the confusion matrix as text (rows: true, columns: predicted).

    Example:
    >>> print(format_report(classification_report([0, 1, 1], [0, 1, 0], ["a", "b"]), ["a", "b"]))
    accuracy 0.6667 (2 of 3 images)
    per-class accuracy: a 1.000, b 0.500
    confusion matrix (rows: true class, columns: predicted class):
      a b
    a 1 0
    b 1 1
    """
    matrix = np.asarray(report["confusion_matrix"])
    total, correct = int(matrix.sum()), int(np.trace(matrix))
    per_class = ", ".join(f"{name} {value:.3f}" if value is not None else f"{name} -"
                          for name, value in report["per_class_accuracy"].items())
    width = max(len(str(matrix.max())), *(len(name) for name in class_names))
    label_width = max(len(name) for name in class_names)
    lines = [f"accuracy {report['accuracy']:.4f} ({correct} of {total} images)",
             f"per-class accuracy: {per_class}",
             "confusion matrix (rows: true class, columns: predicted class):",
             " " * label_width + "".join(f" {name:>{width}}" for name in class_names)]
    lines += [f"{name:<{label_width}}" + "".join(f" {count:>{width}}" for count in row)
              for name, row in zip(class_names, matrix)]
    return "\n".join(lines)
