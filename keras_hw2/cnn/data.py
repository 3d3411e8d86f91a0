"""Intel scene data: the homework's npz, the Kaggle folder layout, the synthetic demo; tf.data pipelines.

Every loader returns an `ImageData` holding uint8 ``(N, 48, 48, 3)`` images and
int64 ``(N,)`` labels per split (``train``, ``val`` and optionally ``test``),
validated before any training starts: a bad file raises `InputError` with one
line naming the file and the problem.

`load_split(path, split)` reads one split only, for ``evaluate``.

Sources (`load_data(path)`):
- ``None``: the embedded synthetic demo set (`keras_hw2.cnn.synthetic`).
- ``*.npz``: keys ``train_images``, ``train_labels``, ``val_images``,
  ``val_labels``, optional ``test_images``/``test_labels``; images uint8
  ``(N, 48, 48, 3)`` or flattened ``(N, 6912)``; labels ``(N,)`` or ``(N, 1)`` in 0..5;
  an optional ``class_names`` key must then list `CLASS_NAMES` in order.
- a directory in Kaggle's layout: ``seg_train/<class>/*.jpg`` (or the doubled
  ``seg_train/seg_train/<class>``), optional ``seg_test/<class>``, with exactly
  the class folders `CLASS_NAMES`; images are decoded and resized to 48x48 by
  `keras_hw2.cnn.images.load_image` (the one decoder of every path) and a
  stratified, seeded validation split is taken from seg_train. An undecodable
  image file (or a directory named like one) is an error naming it, not silently skipped.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_hw2.cnn import synthetic
from keras_hw2.cnn.augmentation import augment_batches
from keras_hw2.cnn.images import IMAGE_SHAPE, load_image
from keras_hw2.errors import InputError

CLASS_NAMES = ("buildings", "forest", "glacier", "mountain", "sea", "street")
SPLITS = ("train", "val", "test")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")  # what `keras_hw2.cnn.images` decodes
DEMO_SIZES = {"train": 300, "val": 60, "test": 60}  # synthetic images per class and split


@dataclass
class ImageData:
    """Images and labels per split.

    Attributes:
        splits: ``{"train": (images, labels), "val": ..., "test": ...}`` with uint8
            images ``(N, 48, 48, 3)`` and int64 labels ``(N,)``; ``test`` may be absent.
        source: where the data came from, for the start-up message and config.
    """
    splits: dict
    source: str

    def describe(self) -> str:
        sizes = ", ".join(f"{name} {len(labels)}" for name, (_, labels) in self.splits.items())
        return f"data: {self.source} ({sizes} images)"


def load_data(path=None, seed: int = 0, val_fraction: float = 0.1, follow_links: bool = False) -> ImageData:
    """Load the data named by `path` (see the module docstring); None gives the synthetic demo.

    `follow_links`: read images of a folder that are symbolic links to files outside it (`load_folder`).
    """
    if path is None:
        return synthetic_data(DEMO_SIZES, seed)
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_dir():
        return load_folder(path, seed=seed, val_fraction=val_fraction, follow_links=follow_links)
    return load_npz(path)


def synthetic_data(sizes: dict, seed: int = 0) -> ImageData:
    """The generated demo set with `sizes[split]` images per class; each split has its own seed."""
    splits = {}
    for offset, (split, num_per_class) in enumerate(sizes.items()):
        images, labels = synthetic.generate_images(num_per_class, seed=seed * len(SPLITS) + offset)
        order = np.random.default_rng(seed + offset).permutation(len(labels))
        splits[split] = (images[order], labels[order])
    return ImageData(splits, source=f"SYNTHETIC demo images (seed {seed}; pass --data for real data)")


def write_synthetic_npz(path, num_per_class: int, seed: int = 0, with_test: bool = False) -> Path:
    """Write a small synthetic data set in the homework's npz format (for tests and demos).

    Every split holds `num_per_class` images of each class; `with_test` adds a test split.

    Returns:
        The path written.
    """
    sizes = {split: num_per_class for split in (SPLITS if with_test else SPLITS[:2])}
    data = synthetic_data(sizes, seed)
    save_npz(data, path)
    return Path(path)


def save_npz(data: ImageData, path) -> None:
    """Write `data` in the homework's npz format (compressed)."""
    arrays = {}
    for split, (images, labels) in data.splits.items():
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    np.savez_compressed(path, **arrays)


def load_npz(path) -> ImageData:
    """Load and validate a homework npz file (see the module docstring)."""
    arrays = _read_npz(path)
    required = ["train_images", "train_labels", "val_images", "val_labels"]
    missing = [key for key in required if key not in arrays]
    if missing:
        raise InputError(f"{path}: missing key(s) {', '.join(missing)}; "
                         f"expected {', '.join(required)} (and optionally test_images, test_labels)")
    splits = {}
    for split in SPLITS:
        if f"{split}_images" in arrays:
            splits[split] = _validate_split(path, split, arrays[f"{split}_images"], arrays[f"{split}_labels"])
    for split in splits:
        shape, train_shape = arrays[f"{split}_images"].shape[1:], arrays["train_images"].shape[1:]
        if shape != train_shape:
            raise InputError(f"{path}: {split}_images has per-image shape {shape} but train_images has "
                             f"{train_shape}; all splits must use the same layout")
    return ImageData(splits, source=str(path))


def _read_npz(path) -> dict:
    """The arrays of an npz file, with each split's images and labels both present or both absent."""
    try:
        arrays = dict(np.load(path, allow_pickle=False))
    except Exception as e:  # numpy raises several types for a non-npz file
        raise InputError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from None
    for split in SPLITS:
        images, labels = f"{split}_images", f"{split}_labels"
        if (images in arrays) != (labels in arrays):
            raise InputError(f"{path}: missing key(s) {labels if images in arrays else images}; "
                             f"a split needs both {images} and {labels}")
    if "class_names" in arrays:
        check_class_names(path, [str(name) for name in arrays["class_names"].ravel()])
    return arrays


def check_class_names(source, names) -> None:
    """Raise `InputError` unless `names` are `CLASS_NAMES`, the models' classes, in order."""
    names = list(names)
    if names == list(CLASS_NAMES):
        return
    missing = [name for name in CLASS_NAMES if name not in names]
    extra = [name for name in names if name not in CLASS_NAMES]
    problem = "; ".join(part for part in (f"missing {', '.join(missing)}" if missing else "",
                                          f"unexpected {', '.join(extra)}" if extra else "") if part)
    raise InputError(f"{source}: its classes differ from the model's ({problem or 'another order'}): "
                     f"{', '.join(names)}; the model's classes are {', '.join(CLASS_NAMES)}")


def load_split(path, split=None, seed: int = 0, val_fraction: float = 0.1, follow_links: bool = False) -> tuple:
    """One labelled split of an npz file or Kaggle folder, for evaluating a trained model.

    Args:
        path: an npz file (any of its splits may be absent) or a Kaggle-style folder
            (``test`` is seg_test; ``train`` and ``val`` are seg_train split as `load_folder` does).
        split: ``"train"``, ``"val"`` or ``"test"``; None: test if present, else val.
        seed, val_fraction: the validation split of a folder's seg_train.
        follow_links: as in `load_folder`.

    Returns:
        ``(images uint8 (N, 48, 48, 3), labels int64 (N,), split)``.

    Raises:
        InputError: a missing or bad file, a split it does not hold, or classes other than `CLASS_NAMES`.
    """
    path = Path(path)
    if split is not None and split not in SPLITS:
        raise InputError(f"--split must be one of {', '.join(SPLITS)}. Received: --split={split}")
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_dir():
        present = {"train": _find_split_dir(path, "seg_train"), "test": _find_split_dir(path, "seg_test")}
        present["val"] = present["train"]
        available = [name for name in SPLITS if present[name] is not None]
    else:
        arrays = _read_npz(path)
        available = [name for name in SPLITS if f"{name}_images" in arrays]
    if split is None:
        split = next((name for name in ("test", "val") if name in available), None)
        if split is None:
            raise InputError(f"{path}: holds no test or val split (present: {', '.join(available) or 'none'}); "
                             "pass --split to choose one")
    if split not in available:
        raise InputError(f"{path}: holds no {split} split (present: {', '.join(available) or 'none'}). "
                         f"Received: --split={split}")
    if not path.is_dir():
        images, labels = _validate_split(path, split, arrays[f"{split}_images"], arrays[f"{split}_labels"])
    elif split == "test":
        images, labels = _read_class_folders(present["test"], path, follow_links)
    else:
        data = load_folder(path, seed=seed, val_fraction=val_fraction, with_test=False, follow_links=follow_links)
        images, labels = data.splits[split]
    return images, labels, split


def _validate_split(path, split, images, labels):
    """Check one split's arrays; returns them as uint8 (N, 48, 48, 3) and int64 (N,)."""
    key = f"{split}_images"
    if images.dtype != np.uint8:
        raise InputError(f"{path}: {key} has dtype {images.dtype}; expected uint8 pixels 0..255")
    flat = int(np.prod(IMAGE_SHAPE))
    if images.ndim == 2 and images.shape[1] == flat:
        images = images.reshape((-1, *IMAGE_SHAPE))
    elif images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE:
        raise InputError(f"{path}: {key} has shape {images.shape}; expected (N, 48, 48, 3) or (N, {flat})")
    if len(images) == 0:
        raise InputError(f"{path}: {key} holds no images")
    key = f"{split}_labels"
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise InputError(f"{path}: {key} has shape {labels.shape}; expected (N,) or (N, 1)")
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"{path}: {key} has dtype {labels.dtype}; expected integers 0..5")
    if len(labels) != len(images):
        raise InputError(f"{path}: {split}_images has {len(images)} images but {key} has {len(labels)} labels")
    if labels.min() < 0 or labels.max() >= len(CLASS_NAMES):
        raise InputError(f"{path}: {key} holds values outside 0..5 (min {labels.min()}, max {labels.max()})")
    return images, labels.astype("int64")


def load_folder(path, seed: int = 0, val_fraction: float = 0.1, with_test: bool = True,
                follow_links: bool = False) -> ImageData:
    """Load Kaggle's folder layout (see the module docstring) with a stratified validation split.

    `with_test=False` skips seg_test. An image (or class folder) that is a symbolic link to
    something outside `path` is an `InputError` unless `follow_links` (the default of Keras'
    ``image_dataset_from_directory``, ``follow_links=False``; ``--follow-links`` on the CLI).
    """
    if not 0 < val_fraction < 1:
        raise InputError(f"val_fraction must be between 0 and 1. Received: val_fraction={val_fraction}")
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path}: no such directory")
    train_dir = _find_split_dir(path, "seg_train")
    if train_dir is None:
        raise InputError(f"{path}: no seg_train/ folder (expected seg_train/<class>/*.jpg, Kaggle's layout)")
    images, labels = _read_class_folders(train_dir, path, follow_links)
    train, val = _stratified_split(images, labels, val_fraction, seed)
    splits = {"train": train, "val": val}
    test_dir = _find_split_dir(path, "seg_test") if with_test else None
    if test_dir is not None:
        splits["test"] = _read_class_folders(test_dir, path, follow_links)
    return ImageData(splits, source=f"{path} (seg_train split {1 - val_fraction:.0%}/{val_fraction:.0%}, seed {seed})")


def _find_split_dir(path: Path, name: str):
    """`path/name/name` (Kaggle's doubled layout) or `path/name`; None when absent."""
    for candidate in (path / name / name, path / name):
        if candidate.is_dir():
            return candidate
    return None


def _read_class_folders(directory: Path, root: Path, follow_links: bool):
    """Decode `directory/<class>/*` to 48x48 (`load_image`); returns uint8 images and int64 labels sorted by class.

    Without `follow_links`, a file resolving outside the data folder `root` is an `InputError`."""
    check_class_names(directory, sorted(p.name for p in directory.iterdir() if p.is_dir()))
    images, labels = [], []
    bad = []
    for label, name in enumerate(CLASS_NAMES):
        files = [p for p in sorted((directory / name).iterdir()) if p.suffix.lower() in IMAGE_EXTENSIONS]
        if not files:
            raise InputError(f"{directory / name}: empty class folder (no {'/'.join(IMAGE_EXTENSIONS)} images)")
        for file in files:
            if not follow_links:
                _check_inside(file, root)
            try:
                images.append(load_image(file))
            except InputError as e:
                bad.append(str(e))
        labels += [label] * len(files)
    if bad:
        raise InputError(f"{bad[0]} ({len(bad)} unreadable image file(s) in {directory}; remove or replace them)")
    return np.stack(images), np.array(labels, dtype="int64")


def _check_inside(file: Path, root: Path) -> None:
    """Refuse `file` when it resolves (through symbolic links) to a place outside the data folder `root`."""
    target = file.resolve()
    if not target.is_relative_to(Path(root).resolve()):
        raise InputError(f"{file}: a symbolic link to {target}, outside the data folder {root}; links out of a "
                         "data folder are not followed (as Keras' image_dataset_from_directory, follow_links=False): "
                         "pass --follow-links to read it")


def _stratified_split(images, labels, val_fraction, seed):
    """Per class, a seeded permutation; the first round(val_fraction * n) (at least 1) go to validation."""
    rng = np.random.default_rng(seed)
    train_index, val_index = [], []
    for label in range(len(CLASS_NAMES)):
        index = rng.permutation(np.flatnonzero(labels == label))
        num_val = max(1, int(round(val_fraction * len(index)))) if len(index) > 1 else 0
        val_index.append(index[:num_val])
        train_index.append(index[num_val:])
    train_index = rng.permutation(np.concatenate(train_index))
    val_index = rng.permutation(np.concatenate(val_index))
    if len(val_index) == 0:
        raise InputError(f"val_fraction={val_fraction} leaves no validation images; use a larger fraction or more images")
    return (images[train_index], labels[train_index]), (images[val_index], labels[val_index])


def make_dataset(images, labels, batch_size: int, shuffle: bool = False, seed: int = 0,
                 augment: bool = False) -> tf.data.Dataset:
    """A tf.data pipeline: cache → (seeded shuffle, reshuffled every epoch) → batch → (augment) → prefetch.

    Args:
        images: uint8 ``(N, 48, 48, 3)``; they stay uint8 (the model rescales).
        labels: int ``(N,)``.
        batch_size: the global batch size.
        shuffle: shuffle the whole set every epoch (training).
        seed: the shuffle seed (and the augmentation's).
        augment: randomly flip, translate, zoom and change the contrast of the images
            (`keras_hw2.cnn.augmentation`; training batches only).

    Returns:
        A dataset of ``(uint8 (batch_size, 48, 48, 3), int64 (batch_size,))`` batches.
    """
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).cache()
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if augment:
        dataset = augment_batches(dataset, seed)
    return dataset.prefetch(tf.data.AUTOTUNE)
