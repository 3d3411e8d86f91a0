"""Intel scene data: the homework's npz, the Kaggle folder layout, the synthetic demo; tf.data pipelines.

Every loader returns an `ImageData` holding uint8 ``(N, 48, 48, 3)`` images and
int64 ``(N,)`` labels per split (``train``, ``val`` and optionally ``test``),
validated before any training starts: a bad file raises `InputError` with one
line naming the file and the problem.

Sources (`load_data(path)`):
- ``None``: the embedded synthetic demo set (`keras_hw2.cnn.synthetic`).
- ``*.npz``: keys ``train_images``, ``train_labels``, ``val_images``,
  ``val_labels``, optional ``test_images``/``test_labels``; images uint8
  ``(N, 48, 48, 3)`` or flattened ``(N, 6912)``; labels ``(N,)`` or ``(N, 1)`` in 0..5.
- a directory in Kaggle's layout: ``seg_train/<class>/*.jpg`` (or the doubled
  ``seg_train/seg_train/<class>``), optional ``seg_test/<class>``; images are
  resized to 48x48 (area interpolation) and a stratified, seeded validation
  split is taken from seg_train. An undecodable image file is an error (it is
  named), not silently skipped.
"""
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_hw2.cnn import synthetic
from keras_hw2.errors import InputError

CLASS_NAMES = ("buildings", "forest", "glacier", "mountain", "sea", "street")
IMAGE_SHAPE = (48, 48, 3)
SPLITS = ("train", "val", "test")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")  # what image_dataset_from_directory reads
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


def load_data(path=None, seed: int = 0, val_fraction: float = 0.1) -> ImageData:
    """Load the data named by `path` (see the module docstring); None gives the synthetic demo."""
    if path is None:
        return synthetic_data(DEMO_SIZES, seed)
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_dir():
        return load_folder(path, seed=seed, val_fraction=val_fraction)
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
    try:
        arrays = dict(np.load(path, allow_pickle=False))
    except Exception as e:  # numpy raises several types for a non-npz file
        raise InputError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from None
    required = ["train_images", "train_labels", "val_images", "val_labels"]
    missing = [key for key in required if key not in arrays]
    if ("test_images" in arrays) != ("test_labels" in arrays):
        missing.append("test_labels" if "test_images" in arrays else "test_images")
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


def load_folder(path, seed: int = 0, val_fraction: float = 0.1) -> ImageData:
    """Load Kaggle's folder layout (see the module docstring) with a stratified validation split."""
    if not 0 < val_fraction < 1:
        raise InputError(f"val_fraction must be between 0 and 1. Received: val_fraction={val_fraction}")
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path}: no such directory")
    train_dir = _find_split_dir(path, "seg_train")
    if train_dir is None:
        raise InputError(f"{path}: no seg_train/ folder (expected seg_train/<class>/*.jpg, Kaggle's layout)")
    images, labels = _read_class_folders(train_dir)
    train, val = _stratified_split(images, labels, val_fraction, seed)
    splits = {"train": train, "val": val}
    test_dir = _find_split_dir(path, "seg_test")
    if test_dir is not None:
        splits["test"] = _read_class_folders(test_dir)
    return ImageData(splits, source=f"{path} (seg_train split {1 - val_fraction:.0%}/{val_fraction:.0%}, seed {seed})")


def _find_split_dir(path: Path, name: str):
    """`path/name/name` (Kaggle's doubled layout) or `path/name`; None when absent."""
    for candidate in (path / name / name, path / name):
        if candidate.is_dir():
            return candidate
    return None


def _read_class_folders(directory: Path):
    """Read `directory/<class>/*` resized to 48x48; returns uint8 images and int64 labels sorted by class."""
    present = {p.name for p in directory.iterdir() if p.is_dir()}
    missing = [name for name in CLASS_NAMES if name not in present]
    extra = sorted(present - set(CLASS_NAMES))
    if missing or extra:
        problem = f"missing class folder(s) {', '.join(missing)}" if missing else f"unexpected folder(s) {', '.join(extra)}"
        raise InputError(f"{directory}: {problem}; expected exactly {', '.join(CLASS_NAMES)}")
    for name in CLASS_NAMES:
        files = [p for p in sorted((directory / name).iterdir()) if p.suffix.lower() in IMAGE_EXTENSIONS]
        if not files:
            raise InputError(f"{directory / name}: empty class folder (no {'/'.join(IMAGE_EXTENSIONS)} images)")
        _check_decodable(files, directory)
    dataset = keras.utils.image_dataset_from_directory(
        str(directory), labels="inferred", label_mode="int", class_names=list(CLASS_NAMES),
        image_size=IMAGE_SHAPE[:2], interpolation="area", batch_size=256, shuffle=False, verbose=False)
    images, labels = [], []
    for batch_images, batch_labels in dataset:
        images.append(np.clip(np.round(batch_images.numpy()), 0, 255).astype("uint8"))
        labels.append(batch_labels.numpy().astype("int64"))
    return np.concatenate(images), np.concatenate(labels)


def _check_decodable(files, directory):
    """Raise `InputError` naming the first file that cannot be decoded as an image."""
    bad = []
    for file in files:
        try:
            tf.io.decode_image(tf.io.read_file(str(file)), channels=3, expand_animations=False)
        except (tf.errors.InvalidArgumentError, tf.errors.UnknownError):
            bad.append(file)
    if bad:
        raise InputError(f"{bad[0]}: cannot be decoded as an image ({len(bad)} undecodable file(s) in "
                         f"{directory / files[0].parent.name}; remove or replace them)")


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


def make_dataset(images, labels, batch_size: int, shuffle: bool = False, seed: int = 0) -> tf.data.Dataset:
    """A tf.data pipeline: cache → (seeded shuffle, reshuffled every epoch) → batch → prefetch.

    Args:
        images: uint8 ``(N, 48, 48, 3)``; they stay uint8 (the model rescales).
        labels: int ``(N,)``.
        batch_size: the global batch size.
        shuffle: shuffle the whole set every epoch (training).
        seed: the shuffle seed.

    Returns:
        A dataset of ``(uint8 (batch_size, 48, 48, 3), int64 (batch_size,))`` batches.
    """
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).cache()
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
